// payserv's notifier from [alerts]: the channels, their secrets, the routes and the retry bounds. A
// channel whose secret is a file starts with payserv (and can tell that it waits for the key); one whose
// secret is a store item joins once the store is open (storeChannels). Secret values go only to their
// channel and to the notifier's redaction list: never to a log line, an error message or a notice.
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, type Config } from '../config/load.js';
import type { Logger } from '../log/index.js';
import { parseAmount, type Amount } from '../money/amount.js';
import { commandChannel, discordChannel, telegramChannel, webhookChannel, type Channel } from '../notify/channels.js';
import { emailChannel } from '../notify/email.js';
import { Notifier } from '../notify/notifier.js';

type Alerts = Config<'payserv'>['alerts'];
type SecretChannel = 'telegram' | 'discord' | 'email';

/** Shorter secrets could not be told apart from ordinary words when notices are cleaned of them. */
const SECRET_CHARS_MIN = 6;
const SECRET_BYTES_MAX = 4096;

/** Where each secret channel names its secret: the config key's stem (token_item / token_file, ...). */
const SECRET_OF: Record<SecretChannel, 'token' | 'url' | 'password'> = { telegram: 'token', discord: 'url', email: 'password' };

interface SecretName {
  channel: SecretChannel;
  key: string;
  item?: string | undefined;
  file?: string | undefined;
}

/** The secrets [alerts] names, by channel (e-mail without a user needs none). */
function secretNames(a: Alerts): SecretName[] {
  const out: SecretName[] = [];
  for (const channel of ['telegram', 'discord', 'email'] as const) {
    const t = a[channel] as Record<string, string | undefined> | undefined;
    if (!t) continue;
    if (channel === 'email' && !t.user) {
      if (t.password_item !== undefined || t.password_file !== undefined)
        throw new ConfigError('[alerts.email]: a password without a user: set user, or drop the password');
      continue;
    }
    const stem = SECRET_OF[channel];
    const [item, file] = [t[`${stem}_item`], t[`${stem}_file`]];
    if ((item === undefined) === (file === undefined))
      throw new ConfigError(`[alerts.${channel}]: expected exactly one of ${stem}_item (a store item) and ${stem}_file`);
    out.push({ channel, key: stem, item, file });
  }
  return out;
}

/** The store items [alerts] needs: checked by name before the key is asked for, read when the store opens. */
export function notifyItems(config: Config<'payserv'>): string[] {
  return secretNames(config.alerts).flatMap((s) => (s.item ? [s.item] : []));
}

/** A secret as read (a file's or an item's bytes): trimmed, bounded, long enough. Errors name where, never the value. */
export function secretText(bytes: Uint8Array, where: string): string {
  if (bytes.length > SECRET_BYTES_MAX) throw new ConfigError(`${where}: more than ${SECRET_BYTES_MAX} bytes: not a token or password`);
  const text = Buffer.from(bytes).toString('utf8').trim();
  if (text.length < SECRET_CHARS_MIN || /[\r\n]/.test(text))
    throw new ConfigError(`${where}: expected one line of at least ${SECRET_CHARS_MIN} characters`);
  return text;
}

function readSecretFile(config: Config<'payserv'>, s: SecretName): string {
  const path = resolve(config.stateDir, s.file as string);
  const where = `[alerts.${s.channel}] ${s.key}_file ${path}`;
  let bytes: Buffer;
  try {
    const st = statSync(path);
    if ((st.mode & 0o077) !== 0)
      throw new ConfigError(`${where} is readable by others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it`);
    bytes = readFileSync(path);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`${where} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return secretText(bytes, where);
}

function channelWith(a: Alerts, config: Config<'payserv'>, channel: SecretChannel, secret: string | undefined): Channel {
  if (channel === 'telegram') {
    const t = a.telegram as NonNullable<Alerts['telegram']>;
    return telegramChannel({ apiUrl: t.api_url, chatId: t.chat_id, token: secret as string });
  }
  if (channel === 'discord') {
    if (!/^https?:\/\//.test(secret as string))
      throw new ConfigError('[alerts.discord]: the webhook URL in its secret is not an http(s) URL');
    return discordChannel(secret as string);
  }
  const e = a.email as NonNullable<Alerts['email']>;
  let caPem: string | undefined;
  if (e.ca_file) {
    const path = resolve(config.stateDir, e.ca_file);
    try {
      caPem = readFileSync(path, 'utf8');
    } catch (x) {
      throw new ConfigError(`[alerts.email] ca_file ${path} cannot be read: ${(x as NodeJS.ErrnoException).code ?? (x as Error).message}`);
    }
  }
  return emailChannel({
    host: e.host,
    port: e.port,
    tls: e.tls,
    from: e.from,
    to: e.to,
    user: e.user,
    password: secret,
    caPem,
    timeoutMs: a.timeout_ms,
  });
}

/** The values a notice must never carry, known before the store opens. */
function knownSecrets(config: Config<'payserv'>): string[] {
  return config.database.url ? [config.database.url] : [];
}

/** A secret and the parts of it that could appear alone (a webhook URL's path carries its token). */
function secretForms(value: string): string[] {
  try {
    const u = new URL(value);
    return [value, u.pathname, ...u.pathname.split('/').filter((p) => p.length >= 20)];
  } catch {
    return [value];
  }
}

/** The notifier at start: the command, the webhook, and every channel whose secret is a file. */
export function startNotifier(config: Config<'payserv'>, log: Logger): Notifier {
  const a = config.alerts;
  const channels: Channel[] = [];
  const secrets = knownSecrets(config);
  if (a.command) channels.push(commandChannel(a.command));
  if (a.webhook_url) channels.push(webhookChannel(a.webhook_url));
  const names = secretNames(a);
  for (const channel of ['telegram', 'discord', 'email'] as const) {
    if (!a[channel]) continue;
    const s = names.find((n) => n.channel === channel);
    if (s?.item) continue; // joins when the store opens
    const secret = s ? readSecretFile(config, s) : undefined;
    if (secret) secrets.push(...secretForms(secret));
    channels.push(channelWith(a, config, channel, secret));
  }
  const notifier = new Notifier({
    log,
    channels,
    routes: a.events,
    retry: { attemptsMax: a.attempts_max, backoffMs: a.backoff_ms, backoffMaxMs: a.backoff_max_ms },
    timeoutMs: a.timeout_ms,
    queueMax: a.queue_max,
    secrets,
  });
  log.info({ component: 'notify', channels: notifier.channels, waiting_for_store: notifyItems(config).length }, 'notifier started');
  return notifier;
}

/** Once the store is open: the channels whose secret is a store item (`items`: item name → value), and the database URL it gave. */
export function storeChannels(
  notifier: Notifier,
  config: Config<'payserv'>,
  items: ReadonlyMap<string, string>,
  databaseUrl?: string,
): void {
  if (databaseUrl) notifier.addSecrets([databaseUrl]);
  for (const s of secretNames(config.alerts)) {
    if (!s.item) continue;
    const secret = items.get(s.item);
    if (secret === undefined) throw new ConfigError(`[alerts.${s.channel}] ${s.key}_item ${s.item} was not read from the store`);
    notifier.addSecrets(secretForms(secret));
    notifier.addChannel(channelWith(config.alerts, config, s.channel, secret));
  }
}

/** payserv is about to wait for esman manager's key: told to the channels routed (never one whose secret is in the store). */
export function noticeWaitingForKey(notifier: Notifier, config: Config<'payserv'>): void {
  const store = resolve(config.stateDir, config.keys.store ?? '');
  notifier.send({
    id: null,
    at: new Date().toISOString(),
    kind: 'waiting_for_key',
    reason: `payserv started and waits for the key of ${store}: an operator approves its request in esman manager (${config.keys.manager})`,
    details: { store, manager: config.keys.manager },
  });
}

/** [alerts.hot_wallet_low] as amounts; only coins payserv pays on-chain ([coins.*]) have a hot wallet. */
export function hotWalletLevels(config: Config<'payserv'>): Map<string, Amount> {
  return new Map(
    Object.entries(config.alerts.hot_wallet_low).map(([tag, level]) => {
      if (!config.coins[tag])
        throw new ConfigError(
          `[alerts.hot_wallet_low] ${tag}: ${tag} has no [coins.${tag}] chain settings, so payserv holds no hot wallet of it`,
        );
      return [tag, parseAmount(level, `alerts.hot_wallet_low.${tag}`)];
    }),
  );
}
