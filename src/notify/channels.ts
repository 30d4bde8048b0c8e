import { runCommand } from './command.js';
import { originOf, postJson } from './http.js';
import type { ChannelName } from '../config/alert-kinds.js';
import { textOf, type Notice } from './message.js';

// The HTTP channels and the command: each renders a notice the way its receiver takes it, and throws on
// anything but a delivery (the notifier retries). `target` is what the log may say of where it went.

export interface Channel {
  readonly name: ChannelName;
  /** Where deliveries go, without a token: safe to log. */
  readonly target: string;
  /** Delivers one notice; `signal` bounds it (a timeout, payserv stopping). */
  deliver(n: Notice, signal: AbortSignal): Promise<void>;
}

/** [alerts] command: the notice as JSON on stdin, PAYSERV_ALERT_KIND and PAYSERV_ALERT_REASON in its environment. */
export function commandChannel(argv: readonly string[]): Channel {
  if (!argv.length) throw new Error('alert command: must name a program');
  return {
    name: 'command',
    target: argv[0] as string,
    deliver: (n, signal) => runCommand(argv, JSON.stringify(n), { PAYSERV_ALERT_KIND: n.kind, PAYSERV_ALERT_REASON: n.reason }, signal),
  };
}

/** [alerts] webhook_url: a POST of the notice as JSON ({id, at, kind, reason, details}). */
export function webhookChannel(url: string): Channel {
  return { name: 'webhook', target: originOf(url), deliver: async (n, signal) => void (await postJson(url, JSON.stringify(n), signal)) };
}

/**
 * Telegram's Bot API: POST {api_url}/bot<token>/sendMessage with chat_id and text; the answer's "ok" must be true. Plain
 * text (no parse_mode): nothing in a notice is read as markup, and no link gets a preview.
 */
export function telegramChannel(o: { apiUrl: string; chatId: string; token: string }): Channel {
  const url = `${o.apiUrl.replace(/\/+$/, '')}/bot${o.token}/sendMessage`;
  return {
    name: 'telegram',
    target: `${originOf(o.apiUrl)} chat ${o.chatId}`,
    async deliver(n, signal) {
      const body = JSON.stringify({ chat_id: o.chatId, text: textOf(n), disable_web_page_preview: true });
      const answer = await postJson(url, body, signal);
      let ok: unknown;
      try {
        ok = (JSON.parse(answer) as { ok?: unknown }).ok;
      } catch {
        ok = undefined;
      }
      if (ok !== true) throw new Error('Telegram answered without "ok": true');
    },
  };
}

/** Discord's flag that suppresses a message's embeds (link previews). */
const SUPPRESS_EMBEDS = 1 << 2;

/**
 * The text as a Discord code block: Discord renders nothing inside one (no markdown, no masked links, no live URL), and
 * a backtick in the text becomes U+02CB so no text can close the block.
 */
export const discordContent = (n: Notice): string => `\`\`\`\n${textOf(n).replace(/`/g, '\u02cb')}\n\`\`\``;

/** A Discord webhook (its URL carries its token): POST {content} as a code block; mentions never ping, links never embed. */
export function discordChannel(url: string): Channel {
  return {
    name: 'discord',
    target: originOf(url),
    async deliver(n, signal) {
      const body = { content: discordContent(n), allowed_mentions: { parse: [] }, flags: SUPPRESS_EMBEDS };
      await postJson(url, JSON.stringify(body), signal);
    },
  };
}
