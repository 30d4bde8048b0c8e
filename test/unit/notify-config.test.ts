// [alerts] as payserv reads it: the channels, their secrets named (never given), the routes per kind,
// the retry bounds and the hot-wallet levels; each mistake refused at start naming the key. And the pure
// rules under the notifier: routing, backoff, the rendered text and the redaction of secrets.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { channelsFor } from '../../src/config/alert-kinds.js';
import { redact, textOf } from '../../src/notify/message.js';
import { backoffAfter } from '../../src/notify/notifier.js';
import { startNotifier } from '../../src/app/notify.js';
import { createLogger } from '../../src/log/index.js';
import { tmpStateDir } from '../support/tmp.js';

async function load(text: string) {
  const dir = await tmpStateDir();
  const file = join(dir, 'payserv.toml');
  await writeFile(file, text);
  return { file, config: () => loadConfig('payserv', file, { env: { HOME: dir } }) };
}

async function refused(text: string): Promise<string> {
  const { file, config } = await load(text);
  const e = await config().then(
    () => expect.fail('expected a ConfigError'),
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ConfigError);
  return (e as Error).message.replace(`config ${file}: `, '');
}

describe('[alerts] configuration', () => {
  it('defaults: no channel, bounded retries and queue, no routes, no hot-wallet levels', async () => {
    const a = (await (await load('')).config()).alerts;
    expect(a).toEqual({
      timeout_ms: 5_000,
      attempts_max: 5,
      backoff_ms: 2_000,
      backoff_max_ms: 300_000,
      queue_max: 1_000,
      drain_ms: 5_000,
      events: {},
      hot_wallet_low: {},
    });
  });

  it('reads every channel, the routes and the levels', async () => {
    const a = (
      await (
        await load(`[alerts]
command = ["/usr/local/bin/page", "--now"]
webhook_url = "https://hooks.example/payserv"
attempts_max = 3
[alerts.telegram]
chat_id = "-1001"
token_item = "NOTIFY.TELEGRAM"
[alerts.discord]
url_file = "discord.url"
[alerts.email]
host = "smtp.example"
from = "payserv@pool.example"
to = ["ops@pool.example"]
user = "payserv"
password_item = "NOTIFY.SMTP"
[alerts.events]
default = ["command", "email"]
payment_sent = ["telegram", "discord"]
waiting_for_key = ["discord"]
[alerts.hot_wallet_low]
ETH = "0.5"
ZEC = "12.25"
`)
      ).config()
    ).alerts;
    expect(a.telegram).toEqual({ api_url: 'https://api.telegram.org', chat_id: '-1001', token_item: 'NOTIFY.TELEGRAM' });
    expect(a.email).toMatchObject({ port: 587, tls: 'starttls', password_item: 'NOTIFY.SMTP' });
    expect(a.events).toEqual({ default: ['command', 'email'], payment_sent: ['telegram', 'discord'], waiting_for_key: ['discord'] });
    expect(a.hot_wallet_low).toEqual({ ETH: '0.5', ZEC: '12.25' });
  });

  it('refuses each mistake, naming the key', async () => {
    expect(await refused('[alerts.events]\npayment_snet = ["webhook"]\n')).toBe('unknown key "alerts.events.payment_snet"');
    expect(await refused('[alerts.events]\npayment_sent = ["webhook"]\n')).toMatch(
      /alerts\.events\.payment_sent: names webhook, which is not configured in \[alerts\]/,
    );
    expect(await refused('[alerts]\nwebhook_url = "https://h.example"\n[alerts.events]\nfail_stop = ["slack"]\n')).toMatch(
      /alerts\.events\.fail_stop\[0\]: expected channel names: command, webhook, telegram, discord, email/,
    );
    expect(await refused('[alerts.telegram]\nchat_id = "1"\ntoken = "123:abc"\n')).toMatch(/^unknown key "alerts\.telegram\.token"/);
    expect(await refused('[alerts.discord]\nurl_item = "D"\n[alerts.events]\nwaiting_for_key = ["discord"]\n')).toMatch(
      /alerts\.events\.waiting_for_key: names discord, whose secret is in the store/,
    );
    expect(await refused('[alerts.email]\nhost = "smtp.example"\ntls = "none"\nfrom = "a@b"\nto = ["c@d"]\n')).toMatch(
      /alerts\.email: tls = "none" only for a relay on this host/,
    );
    expect(await refused('[alerts.email]\nhost = "smtp.example"\nfrom = "a@b"\nto = []\n')).toMatch(
      /alerts\.email\.to: expected at least one address/,
    );
    expect(await refused('[alerts.hot_wallet_low]\nETH = 0.5\n')).toMatch(/alerts\.hot_wallet_low\.ETH: expected a decimal string/);
    expect(await refused('[alerts]\nattempts_max = 0\n')).toMatch(/alerts\.attempts_max: expected a positive integer/);
  });
});

describe('[alerts] secrets, checked at start', () => {
  /** The ConfigError startNotifier throws for a file the schema accepts. */
  async function atStart(text: string): Promise<string> {
    const config = await (await load(text)).config();
    let e: unknown;
    try {
      startNotifier(config, createLogger('payserv', 'silent'));
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }

  it('each secret named exactly once; a password only with a user', async () => {
    expect(await atStart('[alerts.telegram]\nchat_id = "1"\n')).toBe(
      '[alerts.telegram]: expected exactly one of token_item (a store item) and token_file',
    );
    expect(await atStart('[alerts.telegram]\nchat_id = "1"\ntoken_item = "A"\ntoken_file = "b"\n')).toMatch(/exactly one of token_item/);
    expect(await atStart('[alerts.discord]\n')).toMatch(/\[alerts\.discord\]: expected exactly one of url_item/);
    expect(await atStart('[alerts.email]\nhost = "smtp.example"\nfrom = "a@b"\nto = ["c@d"]\nuser = "u"\n')).toMatch(
      /exactly one of password_item/,
    );
    expect(await atStart('[alerts.email]\nhost = "smtp.example"\nfrom = "a@b"\nto = ["c@d"]\npassword_file = "p"\n')).toMatch(
      /a password without a user/,
    );
    expect(await atStart('[alerts.telegram]\nchat_id = "1"\ntoken_file = "missing.token"\n')).toMatch(
      /\[alerts\.telegram\] token_file .*missing\.token cannot be read: ENOENT/,
    );
  });
});

describe('the notifier rules', () => {
  it('routes: a named kind as named; other alerts to default or every channel; notices only where named', () => {
    const all = ['command', 'webhook', 'telegram'] as const;
    expect(channelsFor({}, all, 'fail_stop')).toEqual(['command', 'webhook', 'telegram']);
    expect(channelsFor({}, all, 'payment_sent')).toEqual([]);
    expect(channelsFor({}, all, 'some_future_alert')).toEqual(['command', 'webhook', 'telegram']);
    expect(channelsFor({ default: ['webhook'] }, all, 'fail_stop')).toEqual(['webhook']);
    expect(channelsFor({ default: ['webhook'], fail_stop: ['telegram', 'command'] }, all, 'fail_stop')).toEqual(['telegram', 'command']);
    expect(channelsFor({ payment_sent: ['telegram'] }, all, 'payment_sent')).toEqual(['telegram']);
    // A channel whose secret has not arrived yet (a store item before the store opens) gets nothing.
    expect(channelsFor({ fail_stop: ['email'] }, all, 'fail_stop')).toEqual([]);
  });

  it('backoff doubles from backoff_ms and stops at backoff_max_ms', () => {
    const r = { attemptsMax: 10, backoffMs: 2_000, backoffMaxMs: 10_000 };
    expect([1, 2, 3, 4, 5, 1000].map((n) => backoffAfter(n, r))).toEqual([2_000, 4_000, 8_000, 10_000, 10_000, 10_000]);
  });

  it('the text: kind, row id, reason, then scalar details, cut to fit a chat message', () => {
    const n = {
      id: 5,
      at: '2026-12-04T20:00:00.000Z',
      kind: 'payment_stuck',
      reason: 'withdrawal 7 stuck',
      details: { withdrawal: 7, tx: '0xab', nested: { a: 1 } },
    };
    expect(textOf(n)).toBe('payserv payment_stuck #5 at 2026-12-04T20:00:00.000Z\nwithdrawal 7 stuck\n\nwithdrawal: 7\ntx: 0xab');
    expect(textOf({ ...n, reason: 'x'.repeat(5000) })).toHaveLength(1900);
  });

  it('redacts every known secret and passwords in URLs', () => {
    expect(redact('token 123456:ABCDEF in https://api.example/bot123456:ABCDEF/x', ['123456:ABCDEF'])).toBe(
      'token *** in https://api.example/bot***/x',
    );
    expect(redact('connect postgres://payserv:hunter2@db/pool failed', [])).toBe('connect postgres://payserv:***@db/pool failed');
    expect(redact('short abc stays', ['abc'])).toBe('short abc stays');
  });
});
