// The shape of every service's configuration file. Strict objects everywhere: a misspelt key must stop
// the service at start, not silently fall back to a default that pays out differently.
import { z } from 'zod';
import { CHANNELS, EVENT_KINDS } from './alert-kinds.js';
import { btcNetworkConfig, PRESETS, resolveNetwork } from './btc-network.js';

export const SERVICES = ['pscli', 'payserv', 'dbgw', 'esman', 'intake'] as const;
export type Service = (typeof SERVICES)[number];

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

// Messages are phrased for the operator who edits the TOML file, not in zod's terms.
export const positiveInt = () => z.int({ error: 'expected a positive integer' }).positive({ error: 'expected a positive integer' });

/** Node's timers count milliseconds in a signed 32-bit integer: past it a timer fires after 1 ms, not late. */
export const TIMER_MS_MAX = 2_147_483_647;

/** A number of milliseconds that feeds a timer (a timeout, a pause, an interval): bounded so the timer cannot overflow. */
export const timerMs = () => positiveInt().max(TIMER_MS_MAX, { error: `at most ${TIMER_MS_MAX} (Node's timers overflow past it)` });

/** The same in seconds. */
export const timerS = () =>
  positiveInt().max(Math.floor(TIMER_MS_MAX / 1000), {
    error: `at most ${Math.floor(TIMER_MS_MAX / 1000)} (Node's timers overflow past it)`,
  });

export const nonEmptyString = () => z.string({ error: 'expected a string' }).min(1, { error: 'expected a non-empty string' });

/** A TOML table: strict, so unknown keys are refused, and named as a table when given a scalar. */
export function table<S extends z.ZodRawShape>(shape: S) {
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'invalid_type' ? 'expected a table' : undefined),
  });
}

const databaseShape = {
  // A URL may carry a password (fine to read, never to log: see redactUrl). Absent = embedded PGlite.
  url: nonEmptyString()
    .refine((u) => /^postgres(ql)?:\/\//.test(u), { error: 'expected a postgres:// or postgresql:// URL' })
    .optional(),
  pool_size: positiveInt().default(10),
  statement_timeout_ms: timerMs().default(60_000),
};
const database = table(databaseShape);

/**
 * pscli's, payserv's and the intake's [database]: without a url they would open an embedded PGlite database and create it
 * when absent; outside the demo's own state directory they do so only when told to, so that a production
 * host missing its DATABASE_URL is refused instead of quietly getting an empty ledger of its own.
 */
const embeddableDatabase = table({ ...databaseShape, embedded: z.boolean({ error: 'expected true or false' }).default(false) });

const log = table({
  // No default here: it depends on the service (see DEFAULT_LOG_LEVEL).
  level: z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }).optional(),
});

/**
 * pscli reports on stdout and its checks mean "clean" by saying nothing, so it logs only warnings by
 * default; the services log every event.
 */
export const DEFAULT_LOG_LEVEL: Record<Service, LogLevel> = { pscli: 'warn', payserv: 'info', dbgw: 'info', esman: 'info', intake: 'info' };

/** Settings every service shares. `prefault` (not `default`) so an absent table still gets its inner defaults. */
export const baseShape = {
  state_dir: nonEmptyString().optional(),
  database: database.prefault({}),
  log: log.prefault({}),
};

/**
 * What each service adds to the base, as extra top-level tables. Later issues fill these in
 * (payserv: [rpc], [coins.ETH], ...); each key here becomes a key of that service's resolved config.
 */
const decimal = () =>
  z
    .string({ error: 'expected a decimal string, e.g. "0.5"' })
    .regex(/^\d{1,30}(\.\d{1,20})?$/, { error: 'expected a decimal string, e.g. "0.5"' });
const port = () =>
  z.int({ error: 'expected a port number' }).min(0, { error: 'expected a port number' }).max(65535, { error: 'expected a port number' });
const host = () => nonEmptyString();

/** Where a service listens (loopback by default: exposing it is a deliberate choice). */
const rpcServerTable = (defaultPort: number, defaultBodyBytesMax = 65_536) =>
  table({
    host: host().default('127.0.0.1'),
    port: port().default(defaultPort),
    body_bytes_max: positiveInt().default(defaultBodyBytesMax),
    request_timeout_ms: timerMs().default(60_000),
    in_flight_max: positiveInt().default(256),
    /** On SIGTERM: how long in-flight calls may take to finish before they are cut. */
    shutdown_grace_ms: timerMs().default(20_000),
  });
const rpcServer = rpcServerTable(7443);

/** The intake's [alerts] (a forged block): a command (argv, no shell; the alert as JSON on stdin) and/or a webhook. */
const intakeAlerts = table({
  command: z.array(nonEmptyString(), { error: 'expected an array of strings (argv)' }).min(1).optional(),
  webhook_url: nonEmptyString()
    .refine((u) => /^https?:\/\//.test(u), { error: 'expected an http:// or https:// URL' })
    .refine((u) => !hasUserInfo(u), { error: 'carries a user or password: configuration never holds a secret' })
    .optional(),
  timeout_ms: timerMs().default(5_000),
});

// A channel's secret is named, never given: `<what>_item`, a store item (with [keys] store), or
// `<what>_file`, a file readable by payserv's user only (relative to the state directory); exactly one,
// which payserv checks at start (src/app/notify.ts), so that the example file can show both.

const httpUrl = () => nonEmptyString().refine((u) => /^https?:\/\//.test(u), { error: 'expected an http:// or https:// URL' });

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1)$/;
const urlHost = (u: string): string | null => {
  try {
    return new URL(u).hostname.replace(/^\[(.*)\]$/, '$1');
  } catch {
    return null;
  }
};
const hasUserInfo = (u: string): boolean => {
  try {
    const url = new URL(u);
    return url.username !== '' || url.password !== '';
  } catch {
    return false;
  }
};

/** A webhook's URL in the config file: never a user or password in it (configuration never holds a secret). */
const webhookUrl = () =>
  httpUrl()
    .refine((u) => urlHost(u) !== null, { error: 'expected a URL' })
    .refine((u) => !hasUserInfo(u), { error: 'carries a user or password: configuration never holds a secret' });

/** An address or id that goes into a header or a request as is: one line, no control characters. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
const CONTROL = /[\u0000-\u001f\u007f]/;
const oneLine = () => nonEmptyString().refine((v) => !CONTROL.test(v), { error: 'must be one line without control characters' });

const telegram = table({
  /** The Bot API's base URL (tests point it at a local receiver): https, as the bot token is in its path, unless on this host. */
  api_url: webhookUrl()
    .refine((u) => u.startsWith('https://') || LOOPBACK.test(urlHost(u) ?? ''), {
      error: 'must be https:// (the bot token travels in its path) unless the host is this one (127.0.0.1, localhost, ::1)',
    })
    .default('https://api.telegram.org'),
  /** The chat (a group's id such as "-1001234567890", or "@channel"). */
  chat_id: oneLine(),
  token_item: nonEmptyString().optional(),
  token_file: nonEmptyString().optional(),
});

/** The webhook's URL carries its token: it is the secret. */
const discord = table({ url_item: nonEmptyString().optional(), url_file: nonEmptyString().optional() });

const email = table({
  host: oneLine(),
  port: port().default(587),
  tls: z.enum(['starttls', 'implicit', 'none'], { error: 'expected "starttls", "implicit" or "none"' }).default('starttls'),
  from: oneLine(),
  to: z.array(oneLine(), { error: 'expected an array of addresses' }).min(1, { error: 'expected at least one address' }),
  user: oneLine().optional(),
  password_item: nonEmptyString().optional(),
  password_file: nonEmptyString().optional(),
  /** A private CA's certificate (PEM file, relative to the state directory) for the server's. */
  ca_file: nonEmptyString().optional(),
}).superRefine((t, ctx) => {
  if (t.tls === 'none' && !LOOPBACK.test(t.host))
    ctx.addIssue({ code: 'custom', message: `tls = "none" only for a relay on this host (127.0.0.1, localhost, ::1), not ${t.host}` });
});

const channelList = () =>
  z.array(z.enum(CHANNELS, { error: `expected channel names: ${CHANNELS.join(', ')}` }), { error: 'expected an array of channel names' });

/** [alerts.events]: which channels each kind goes to; `default` for the alert kinds not named (unset: every configured channel). */
const events = table(
  Object.fromEntries(['default', ...EVENT_KINDS].map((k) => [k, channelList().optional()])) as Record<
    'default' | (typeof EVENT_KINDS)[number],
    z.ZodOptional<ReturnType<typeof channelList>>
  >,
);

/**
 * Who is told, and of what (src/payserv/alerts.ts, src/notify): a command (argv, no shell; the notice as
 * JSON on stdin), a webhook, Telegram, Discord, e-mail; each notice queued and delivered in the
 * background with retries, never in a payment's way.
 */
const alerts = table({
  command: z.array(nonEmptyString(), { error: 'expected an array of strings (argv)' }).min(1).optional(),
  webhook_url: webhookUrl().optional(),
  /** Bound on one delivery (a command run, an HTTP request, an SMTP session). */
  timeout_ms: timerMs().default(5_000),
  /** Deliveries tried per notice and channel; then it is given up (a hook_failed alert). */
  attempts_max: positiveInt().max(100, { error: 'at most 100' }).default(5),
  /** The pause after a failed delivery, doubled after each next failure, at most backoff_max_ms. */
  backoff_ms: timerMs().default(2_000),
  backoff_max_ms: timerMs().default(300_000),
  /** Notices waiting per channel at most; past it the others make room for an urgent one and are told as one "N more" notice. */
  queue_max: positiveInt().max(100_000, { error: 'at most 100000' }).default(1_000),
  /** On stop: how long queued notices may take to go out. */
  drain_ms: timerMs().default(5_000),
  telegram: telegram.optional(),
  discord: discord.optional(),
  email: email.optional(),
  events: events.prefault({}),
  /** Per coin tag, in the coin's unit: a hot wallet holding less is alerted (hot_wallet_low). */
  hot_wallet_low: z
    .record(z.string().regex(/^[A-Z0-9]{2,10}$/, { error: 'expected a coin tag such as ETH' }), decimal(), {
      error: 'expected a table of coin tags',
    })
    .default({}),
}).superRefine((t, ctx) => {
  const configured = CHANNELS.filter((c) => (c === 'command' ? t.command : c === 'webhook' ? t.webhook_url : t[c]) !== undefined);
  for (const [kind, list] of Object.entries(t.events))
    for (const c of list ?? [])
      if (!configured.includes(c))
        ctx.addIssue({ code: 'custom', path: ['events', kind], message: `names ${c}, which is not configured in [alerts]` });
  // payserv waits for the key before the store is open: a channel whose secret is in the store cannot tell of it.
  for (const c of t.events.waiting_for_key ?? []) {
    const item =
      c === 'telegram'
        ? t.telegram?.token_item
        : c === 'discord'
          ? t.discord?.url_item
          : c === 'email'
            ? t.email?.password_item
            : undefined;
    if (item !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['events', 'waiting_for_key'],
        message: `names ${c}, whose secret is in the store (not open while payserv waits for the key): give it a *_file instead`,
      });
  }
});

/** Automatic approval by Process, per coin tag; a coin without a table is never approved automatically. */
const coinPolicy = table({
  amount_max: decimal(),
  user_daily_max: decimal(),
  coin_daily_max: decimal(),
  wallet_age_hours_min: z.number({ error: 'expected a number of hours' }).min(0, { error: 'expected a number of hours' }),
});

const keys = table({
  /** Whether payserv loads the admin signer, to sign coins and wallets after an operator's review (Coins.Sign, Wallets.Sign). */
  admin: z.boolean({ error: 'expected true or false' }).default(false),
  /**
   * The encrypted key store (esman), relative to the state directory. Set: payserv asks esman manager for
   * the key at start and takes every key from the store. Unset: keys from plain files under the state
   * directory (development and tests only; payserv warns).
   */
  store: nonEmptyString().optional(),
  /** Where esman manager listens: loopback only. */
  manager: nonEmptyString().default('127.0.0.1:7444'),
  /** Pause between requests while no manager answers or an operator refuses. */
  retry_ms: timerMs().default(2_000),
  /** How long one request waits for the operator's "y". */
  answer_timeout_ms: timerMs().default(600_000),
});

/** A whole number of base units (wei, zatoshi) as a decimal string: money never crosses a boundary as a float. */
const baseUnits = () =>
  z
    .string({ error: 'expected a whole number of base units as a decimal string, e.g. "200000000000"' })
    .regex(/^\d{1,30}$/, { error: 'expected a whole number of base units as a decimal string, e.g. "200000000000"' });
const nodeUrl = () => nonEmptyString().refine((u) => /^https?:\/\//.test(u), { error: 'expected an http:// or https:// URL' });

/** What every chain driver shares. `auto = false`: the coin is paid by an operator, like a coin without a driver. */
const chainShape = {
  node_url: nodeUrl(),
  auto: z.boolean({ error: 'expected true or false' }).default(true),
  /** Overrides the signed coin record's confirmations. */
  confirmations: z.int({ error: 'expected a whole number' }).min(0, { error: 'expected a whole number' }).optional(),
  /** Payouts wait while the node has fewer peers (open-ethereum-pool's requirePeers). */
  min_peers: z.int({ error: 'expected a whole number' }).min(0, { error: 'expected a whole number' }).default(3),
  rpc_timeout_ms: timerMs().default(10_000),
  /**
   * The chain's genesis block hash, checked in every verdict. Unset: the first one the node shows is
   * pinned on the payserv host (state_dir/chains/<TAG>-<chain>.json) and every later answer must match it.
   */
  genesis_hash: nonEmptyString()
    .regex(/^(0x)?[0-9a-fA-F]{64}$/, { error: 'expected a block hash: 64 hex digits' })
    .optional(),
  /** A sent payment is watched until its block is this deep; one that disappears before is alerted and stops payouts. */
  finality_depth: positiveInt().max(100_000, { error: 'at most 100000' }).default(64),
  /** The store item holding the hot-wallet key (default Coin.<TAG>.JSON), when [keys] store is set. */
  key_item: nonEmptyString().optional(),
  /** Without a store: the key file, relative to the state directory (default wallets/<TAG>.key; development only). */
  key_file: nonEmptyString().optional(),
};

const evmCoin = table({
  chain: z.literal('evm'),
  ...chainShape,
  /** Checked against the node at start. */
  chain_id: positiveInt(),
  /** false: legacy transactions (chains without EIP-1559, such as ETC). */
  eip1559: z.boolean({ error: 'expected true or false' }).default(true),
  /** Above this the payment waits (send_retry). Legacy chains: the gas price cap. */
  max_fee_per_gas: baseUnits().default('200000000000'),
  max_priority_fee_per_gas: baseUnits().default('3000000000'),
  gas_limit_max: positiveInt().default(100_000),
  /** Added to the gas estimate for a recipient with code (a contract whose cost may rise before the payment is mined), in percent; within gas_limit_max. */
  gas_limit_margin_percent: z
    .int({ error: 'expected a whole number of percent' })
    .min(0, { error: 'expected a whole number of percent' })
    .max(500, { error: 'at most 500' })
    .default(25),
  /** A transaction not mined within this time is replaced: same nonce, at least +10% on both fees. */
  replace_after_s: timerS().default(300),
});

/**
 * The most outputs of a UTXO hot wallet a read keeps, the largest worth spending (outputs worth no more than their
 * input's fee are never spent: at the floor fee rate on the Bitcoin family, ZIP-317's marginal fee on Zcash); the others
 * wait, alerted (hot_wallet_flooded).
 */
const utxoMax = () => positiveInt().max(300_000, { error: 'at most 300000' }).default(50_000);

const zcashCoin = table({
  chain: z.literal('zcash'),
  ...chainShape,
  /** Checked against the node's chain at start; addresses of the other network are refused. */
  network: z.enum(['mainnet', 'testnet'], { error: 'expected "mainnet" or "testnet"' }).default('mainnet'),
  /** 4: Sapling-format v4 (ZIP-243); 5: v5 (ZIP-244). */
  tx_version: z.union([z.literal(4), z.literal(5)], { error: 'expected 4 or 5' }).default(4),
  /** The most outputs in one transaction (SendCoin); the original used 500. */
  batch_max: positiveInt().max(2000, { error: 'at most 2000' }).default(500),
  /** Blocks until an unmined transaction expires (zcashd's default: 40). */
  expiry_delta: positiveInt().max(10_000, { error: 'at most 10000' }).default(40),
  /** The most a transaction may pay in fees, in zatoshi: ZIP-317 is charged, never more than this. */
  fee_max: baseUnits().default('5000000'),
  utxo_max: utxoMax(),
  /**
   * A store item {"user", "password"} for the node's RPC (zcashd's rpcuser/rpcpassword), so that
   * node_url carries no credentials. Needs [keys] store.
   */
  node_auth_item: nonEmptyString().optional(),
});

/** A fee rate in base units per vbyte, as a decimal string. */
const feeRate = () =>
  z
    .string({ error: 'expected a fee rate in base units per vbyte as a decimal string, e.g. "10"' })
    .regex(/^[1-9]\d{0,11}$/, { error: 'expected a fee rate in base units per vbyte as a decimal string, e.g. "10"' });

/** A Bitcoin-family coin (Litecoin, Bitcoin, Dogecoin, Bitcoin Cash): [coins.TAG.network] preset = "LTC-mainnet", with overrides. */
/** [coins.TAG.network] of a Bitcoin-family coin, resolved at load: payserv's and the intake's, the same table. */
const btcNetwork = btcNetworkConfig.superRefine((cfg, ctx) => {
  // Only a table whose fields all parsed is resolved (refinements run after field errors too).
  if (!Object.hasOwn(PRESETS, cfg.preset)) return;
  try {
    resolveNetwork(cfg);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

const btcCoin = table({
  chain: z.literal('btc'),
  ...chainShape,
  network: btcNetwork,
  /** The hot wallet's script: P2WPKH (native segwit) where the chain has segwit, else P2PKH. */
  wallet_type: z.enum(['p2wpkh', 'p2pkh'], { error: 'expected "p2wpkh" or "p2pkh"' }).default('p2wpkh'),
  /** The most outputs in one transaction (SendCoin, autopay). */
  batch_max: positiveInt().max(2000, { error: 'at most 2000' }).default(500),
  /** Fee rate floor: never less, whatever the node estimates (base units per vbyte). */
  fee_rate_min: feeRate().default('1'),
  /** Fee rate ceiling: a payment whose estimate is above it waits (send_retry). */
  fee_rate_max: feeRate().default('100'),
  /** estimatesmartfee's confirmation target. */
  fee_target_blocks: positiveInt().max(1008, { error: 'at most 1008' }).default(6),
  /**
   * Where the fee rate comes from: "estimatesmartfee" (Bitcoin Core 0.15+, Litecoin), "estimatefee" (Bitcoin Cash Node:
   * the lowest rate its mempool takes now), "floor" (fee_rate_min always, no node asked). Unset: "estimatefee" for a BCH
   * preset, else "estimatesmartfee".
   */
  fee_estimate: z
    .enum(['estimatesmartfee', 'estimatefee', 'floor'], { error: 'expected "estimatesmartfee", "estimatefee" or "floor"' })
    .optional(),
  /** How many blocks below the tip a failure proof searches for a transaction spending one of a payment's inputs. */
  spender_scan_blocks: positiveInt().max(100_000, { error: 'at most 100000' }).default(2016),
  utxo_max: utxoMax(),
  /**
   * How deep an output of the hot wallet must be before a payment spends it (unset: the coin's confirmations). A payment
   * spending an output whose funding transaction a reorg undoes can never be mined, and nothing proves it failed.
   */
  input_confirmations: positiveInt().max(100_000, { error: 'at most 100000' }).optional(),
  /**
   * How a payment stuck in the mempool is bumped: "rbf" replaces it (BIP125: same inputs and outputs, the
   * change smaller), "none" lets it wait. Litecoin and Dogecoin nodes refuse replacement by default.
   */
  fee_bump: z.enum(['rbf', 'none'], { error: 'expected "rbf" or "none"' }).default('none'),
  /** A payment not mined by then is stale: with fee_bump = "rbf", replaced at a higher fee (within fee_rate_max). */
  replace_after_s: timerS().default(1800),
  /** A store item {"user", "password"} for the node's RPC (rpcuser/rpcpassword), so that node_url carries no credentials. Needs [keys] store. */
  node_auth_item: nonEmptyString().optional(),
}).superRefine((c, ctx) => {
  // Refinements run on a table whose fields failed too: only fields that parsed are compared.
  const net = c.network as Partial<typeof c.network> | undefined;
  const base = typeof net?.preset === 'string' && Object.hasOwn(PRESETS, net.preset) ? PRESETS[net.preset] : null;
  const segwit = net?.segwit ?? base?.segwit ?? true;
  if (c.wallet_type === 'p2wpkh' && !segwit)
    ctx.addIssue({ code: 'custom', path: ['wallet_type'], message: `${String(net?.preset)} has no segwit: wallet_type must be "p2pkh"` });
  // Never deeper than the blocks a failure proof reads (the chain payserv looks at for a payment's inputs).
  if (
    typeof c.input_confirmations === 'number' &&
    typeof c.spender_scan_blocks === 'number' &&
    c.input_confirmations > c.spender_scan_blocks
  )
    ctx.addIssue({
      code: 'custom',
      path: ['input_confirmations'],
      message: `input_confirmations ${c.input_confirmations} is above spender_scan_blocks ${c.spender_scan_blocks}`,
    });
  const rate = /^[1-9]\d{0,11}$/;
  if (rate.test(String(c.fee_rate_min)) && rate.test(String(c.fee_rate_max)) && BigInt(c.fee_rate_min) > BigInt(c.fee_rate_max))
    ctx.addIssue({
      code: 'custom',
      path: ['fee_rate_min'],
      message: `fee_rate_min ${c.fee_rate_min} is above fee_rate_max ${c.fee_rate_max}`,
    });
  // The network's own floor is paid whatever the estimate: above the ceiling, every payment would pay more than allowed.
  const floor = typeof net?.min_fee_rate === 'string' && /^\d{1,12}$/.test(net.min_fee_rate) ? BigInt(net.min_fee_rate) : base?.minFeeRate;
  if (floor !== undefined && rate.test(String(c.fee_rate_max)) && floor > BigInt(c.fee_rate_max))
    ctx.addIssue({
      code: 'custom',
      path: ['fee_rate_max'],
      message: `the network's min_fee_rate ${floor} is above fee_rate_max ${c.fee_rate_max}: every payment would pay above the ceiling`,
    });
});

const coinChain = z.discriminatedUnion('chain', [evmCoin, zcashCoin, btcCoin], { error: 'expected chain = "evm", "zcash" or "btc"' });

/** dbgw's open transactions and sessions: one whose caller goes quiet this long is rolled back and its connection dropped (its locks with it). */
const dbgwSessions = table({
  idle_ms: timerMs().default(30_000),
});

/** How payserv reaches dbgw: with this table payserv never connects to the database itself. */
const dbgwClient = table({
  host: host().default('127.0.0.1'),
  port: port().default(7445),
  timeout_ms: timerMs().default(60_000),
});

/** Automatic threshold payouts (src/autopay): open-ethereum-pool's payouts settings, per coin with a chain driver. */
const autopay = table({
  enabled: z.boolean().default(false),
  /** Seconds between runs (the original's "interval"). */
  interval_s: timerS().default(3600),
  /** The node must have at least this many peers (the original's "requirePeers"). */
  require_peers: z.int().min(0).default(1),
  /** Users paid per coin per run at most (largest balances first); the rest wait for the next run. */
  max_per_run: positiveInt().default(100),
  coins: z
    .record(z.string().regex(/^[A-Z0-9]{2,10}$/, { error: 'expected a coin tag such as ETH' }), table({ threshold: decimal() }), {
      error: 'expected a table of coin tags',
    })
    .default({}),
});

/**
 * payserv's advisory locks (src/payserv/lock-watch.ts): a lock held longer than this, by this payserv or
 * by another database session, is reported (Utils.ListLocks, pscli status) and alerted (lock_held).
 * Longer than any call or autopay run should take; payouts stay enabled either way.
 */
const locks = table({
  held_max_ms: timerMs().default(300_000),
});

/**
 * Backup.Take (src/payserv/backup.ts): how long the backup waits for calls and runs in progress to end
 * (then it gives up, changing nothing), and how long it may hold new ones waiting at most (then it
 * releases them and the backup is discarded). Backups are written under `dir` (relative: to the state directory).
 */
const backup = table({
  dir: nonEmptyString().default('backups'),
  wait_ms: timerMs().default(15_000),
  hold_ms: timerMs().default(40_000),
});

/**
 * `pscli rebaseline` (src/payserv/rebaseline.ts): after the host's local state was lost, fresh local state is
 * written only once this many distinct operators (each by their own certificate) confirmed the same verified ledger.
 * At least 2: one person alone never vouches for the database.
 */
const rebaseline = table({
  confirmations: positiveInt()
    .min(2, { error: 'at least 2 (one operator alone never rebaselines)' })
    .max(100, { error: 'at most 100' })
    .default(2),
});

/**
 * payserv's monitor (src/payserv/monitor.ts): observation, whether payouts are enabled or not. Every
 * interval: withdrawals in flight too long, nodes failing their health check too long, sent payments
 * watched to their coin's finality_depth. Each alert once per episode.
 */
const monitor = table({
  /** Seconds between the monitor's ticks. */
  interval_s: positiveInt().max(86_400, { error: 'at most 86400' }).default(60),
  /** A withdrawal in sending or send_retry longer than this is alerted (payment_stuck). */
  stuck_after_s: timerS().default(3_600),
  /** A coin's node failing its health check longer than this is alerted (node_unhealthy). */
  node_unhealthy_after_s: timerS().default(600),
});

/** "host:port" with a numeric port; an IPv6 host in brackets ("[::1]:9446"). */
const LISTEN = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/**
 * payserv's metrics and health listener (src/metrics): plain HTTP, read-only, loopback by default. Unset
 * listen: no listener (a port is opened only when asked, like exposing [rpc]).
 */
const listenAddress = (example: number) =>
  nonEmptyString()
    .refine((l) => LISTEN.test(l) && Number(LISTEN.exec(l)?.[2]) <= 65535, {
      error: `expected host:port, e.g. "127.0.0.1:${example}" (an IPv6 host in brackets: "[::1]:${example}")`,
    })
    .transform((l) => {
      const m = LISTEN.exec(l) as RegExpExecArray;
      return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port: Number(m[2]) };
    });

const metrics = table({
  listen: listenAddress(9446).optional(),
  /** A scrape's database queries and hot-wallet reads together, at most: past it the unanswered metrics are absent. */
  scrape_timeout_ms: positiveInt().max(60_000, { error: 'at most 60000' }).default(5_000),
});

/** The ledger intake's keys: like payserv's [keys], without the admin switch (the intake always signs as admin and autopay). */
const intakeKeys = table({
  /** esman's store, relative to the state directory; unset: plain files of a development state directory (the intake warns). */
  store: nonEmptyString().optional(),
  manager: nonEmptyString().default('127.0.0.1:7444'),
  retry_ms: timerMs().default(2_000),
  answer_timeout_ms: timerMs().default(600_000),
});

/** The writer's bound on credits per block (src/writer/credits.ts CREDITS_PER_BLOCK_MAX; a unit test keeps the two equal). */
export const WRITER_CREDITS_PER_BLOCK_MAX = 20_000;

const intakeLimits = table({
  /** The most credits one Blocks.Credit may carry (the pool fee's credit not counted). */
  credits_per_block_max: positiveInt()
    .max(WRITER_CREDITS_PER_BLOCK_MAX, { error: `at most ${WRITER_CREDITS_PER_BLOCK_MAX} (the writer's bound)` })
    .default(10_000),
});

/** "auto": Wallets.Register signs the wallet at once (the pool reviewed it); "manual": an operator's Wallets.Sign does. */
const walletReview = table({
  review: z.enum(['auto', 'manual'], { error: 'expected "auto" or "manual"' }).default('manual'),
});

/**
 * The first block height whose reward the intake credits. Below it the pool's own payer paid (or a block is re-listed
 * to be paid twice): required, so that switching a pool to payserv always says where payserv's part begins.
 */
const firstHeight = () =>
  z
    .number({ error: 'expected the first block height payserv pays (a whole number: the chain height at the switch, 0 for a new pool)' })
    .int({ error: 'expected a whole number' })
    .min(0, { error: 'expected a whole number' })
    .max(Number.MAX_SAFE_INTEGER);

/** A coin whose blocks the intake credits: the node it asks about each block before signing its credits. */
const intakeEthCoin = table({
  chain: z.literal('eth'),
  first_height: firstHeight(),
  node_url: nodeUrl(),
  chain_id: positiveInt(),
  /** The address the pool mines to: a block mined to another is refused. */
  pool_address: nonEmptyString().regex(/^0x[0-9a-fA-F]{40}$/, { error: 'expected an address: 0x and 40 hex digits' }),
  /** The chain's issuance per block in coin units (decimal string): "2" for ETC's era, "0" after the merge. */
  issuance: decimal(),
  timeout_ms: timerMs().default(10_000),
});

/** A Zcash coin: its coinbase must pay pool_address (a transparent address of `network`) at least the income. */
const intakeZcashCoin = table({
  chain: z.literal('zcash'),
  first_height: firstHeight(),
  node_url: nodeUrl(),
  network: z.enum(['mainnet', 'testnet'], { error: 'expected "mainnet" or "testnet"' }).default('mainnet'),
  pool_address: nonEmptyString(),
  /** The chain's genesis block hash: a node on another chain knows nothing. */
  genesis_hash: nonEmptyString()
    .regex(/^[0-9a-fA-F]{64}$/, { error: 'expected a block hash: 64 hex digits' })
    .optional(),
  /** A store item {"user", "password"} for the node's RPC, so that node_url carries no credentials. Needs [keys] store. */
  node_auth_item: nonEmptyString().optional(),
  timeout_ms: timerMs().default(10_000),
});

/**
 * A Bitcoin-family coin: its network (payserv's [coins.TAG.network], the same table), so that its wallets'
 * addresses are checked as payserv's driver checks them. No reward check: its blocks are refused no_reward_check.
 */
const intakeBtcCoin = table({
  chain: z.literal('btc'),
  network: btcNetwork,
});

const intakeCoin = z.discriminatedUnion('chain', [intakeEthCoin, intakeZcashCoin, intakeBtcCoin], {
  error: 'expected chain = "eth", "zcash" or "btc"',
});

/** The MiningCore adapter (src/pools/miningcore/adapter.ts): one MiningCore pool whose blocks and payments it mirrors. */
const miningcoreAdapter = table({
  /** MiningCore's PostgreSQL; in production the store's MININGCORE.JSON gives it (name it in one place only). */
  database_url: nonEmptyString()
    .regex(/^postgres(ql)?:\/\//, { error: 'expected a postgres:// URL' })
    .optional(),
  /** The pool's id in MiningCore's config (pools[].id): its rows' poolid. */
  pool_id: nonEmptyString(),
  /** The ledger coin its blocks are credited in (a registered tag with a [coins.TAG] reward check). */
  coin: z.string().regex(/^[A-Z0-9]{2,10}$/, { error: 'expected a coin tag such as ETH' }),
  interval_s: positiveInt().max(86_400, { error: 'at most 86400' }).default(60),
  /** MiningCore's reward recipient address(es) of the pool fee: their credits are each block's pool fee. */
  fee_address: z.array(nonEmptyString(), { error: 'expected an array of addresses' }).default([]),
  /** Blocks with a smaller id are never imported (those MiningCore credited and paid itself). */
  from_block_id: z.int({ error: 'expected an integer' }).min(0, { error: 'expected 0 or more' }).default(0),
  /** MiningCore's paymentProcessing.minimumPayment, set so high no balance reaches it: miners' thresholds are raised to it. */
  minimum_payment: decimal(),
});

/** The open-ethereum-pool adapter (src/pools/oep): imports the unlocker's matured credits, mirrors payserv's payments into the pool's Redis. */
const oepPool = table({
  /** The pool's Redis (its "redis" settings); a password may be in the URL (never logged). */
  redis_url: nonEmptyString().refine((u) => /^rediss?:\/\//.test(u), { error: 'expected a redis:// or rediss:// URL' }),
  /** The pool's "coin" setting: the prefix of every key ("eth" in config.example.json). */
  prefix: nonEmptyString().regex(/^[A-Za-z0-9_.-]{1,32}$/, { error: 'expected the pool\'s "coin" setting, e.g. "eth"' }),
  /** The ledger's coin tag the blocks are credited in. */
  coin: z.string().regex(/^[A-Z0-9]{2,10}$/, { error: 'expected a coin tag such as ETH' }),
  /** Bounded like MiningCore's: past 2^31 ms Node's timer would fire every millisecond. */
  interval_s: positiveInt().max(86_400, { error: 'at most 86400' }).default(60),
  /** The unlocker's poolFeeAddress: its credit of each block is the block's pool fee. */
  pool_fee_address: nonEmptyString().regex(/^0x[0-9a-fA-F]{40}$/, { error: 'expected an address: 0x and 40 hex digits' }),
  /** The first matured block (height) to import: blocks below it were paid by the pool's own payouts. */
  from_height: z.int({ error: 'expected a whole number' }).min(0, { error: 'expected a whole number' }).default(0),
  /** Matured blocks read per Redis page. */
  page_size: positiveInt().max(10_000, { error: 'at most 10000' }).default(500),
  /** A Redis command not answered within this long fails the interval (retried next one). */
  timeout_ms: timerMs().default(10_000),
});

/** A link to a block explorer with `{name}` where the value goes: https, and the placeholder exactly once. */
const explorerLink = (name: string) =>
  nonEmptyString().refine(
    (u) => /^https:\/\/\S+$/.test(u) && u.split(`{${name}}`).length === 2 && !/[{}]/.test(u.replace(`{${name}}`, '')),
    {
      error: `expected an https:// URL with {${name}} in it once, e.g. "https://etherscan.io/${name === 'hash' ? 'tx' : 'address'}/{${name}}"`,
    },
  );

/** One pool of the miners' API (src/miners): its MiningCore pool id is the table's key. */
const minersPool = table({
  /** The ledger coin its miners are paid in. */
  coin: z.string().regex(/^[A-Z0-9]{2,10}$/, { error: 'expected a coin tag such as ETH' }),
  /** How an address in the URL names a ledger user: "miningcore" derives it as the MiningCore adapter does; "id": it is the user id. */
  users: z.enum(['miningcore', 'id'], { error: 'expected "miningcore" or "id"' }).default('miningcore'),
  tx_link: explorerLink('hash').optional(),
  address_link: explorerLink('address').optional(),
});

/** The miners' API: read-only, for the pool back end's identity, served beside the intake's JSON-RPC. */
const minersApi = table({
  pools: z
    .record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'expected a pool id of A-Z a-z 0-9 _ -' }), minersPool, {
      error: 'expected a table of pool ids',
    })
    .default({}),
});

/**
 * payserv's operator dashboard (src/dashboard): HTML over mutual TLS for operators' certificates only, on a
 * listener of its own. Unset listen: no listener. Read-only unless actions = true.
 */
const dashboard = table({
  listen: listenAddress(9447).optional(),
  /** Approve a pending withdrawal and enable payouts from the page (after a confirmation); false: read-only. */
  actions: z.boolean({ error: 'expected true or false' }).default(false),
  /** Rows of each list on the page, at most (pending, in flight, recent payments, audit trail). */
  rows: positiveInt().max(500, { error: 'at most 500' }).default(50),
  /** Block explorer links by coin tag, as the miners' API's tx_link and address_link. */
  coins: z
    .record(
      z.string().regex(/^[A-Z0-9]{2,10}$/, { error: 'expected a coin tag such as ETH' }),
      table({ tx_link: explorerLink('hash').optional(), address_link: explorerLink('address').optional() }),
      { error: 'expected a table of coin tags' },
    )
    .default({}),
});

/** How pscli reaches payserv. */
const rpcClient = table({
  host: host().default('127.0.0.1'),
  port: port().default(7443),
  timeout_ms: timerMs().default(120_000),
});

export const serviceShapes = {
  pscli: { database: embeddableDatabase.prefault({}), payserv: rpcClient.prefault({}), dbgw: dbgwClient.optional() },
  payserv: {
    database: embeddableDatabase.prefault({}),
    rpc: rpcServer.prefault({}),
    alerts: alerts.prefault({}),
    keys: keys.prefault({}),
    policy: z
      .record(z.string().regex(/^[A-Z0-9]{2,10}$/, { error: 'expected a coin tag such as ETH' }), coinPolicy, {
        error: 'expected a table of coin tags',
      })
      .default({}),
    /** Coins paid on-chain automatically, by tag; any other coin is paid by an operator. */
    coins: z
      .record(z.string().regex(/^[A-Z0-9]{2,10}$/, { error: 'expected a coin tag such as ETH' }), coinChain, {
        error: 'expected a table of coin tags',
      })
      .default({}),
    dbgw: dbgwClient.optional(),
    autopay: autopay.prefault({}),
    locks: locks.prefault({}),
    backup: backup.prefault({}),
    rebaseline: rebaseline.prefault({}),
    monitor: monitor.prefault({}),
    metrics: metrics.prefault({}),
    dashboard: dashboard.prefault({}),
  },
  /** dbgw: where it listens; [database] url only for a deployment that gives dbgw its own credentials. */
  // Writes carry signatures and certificates, and a page of rows comes back: larger bodies than payserv's API.
  dbgw: { rpc: rpcServerTable(7445, 4 * 1024 * 1024).prefault({}), sessions: dbgwSessions.prefault({}) },
  esman: {},
  /** The ledger intake (src/intake): the pool back end's way to write the signed ledger. */
  intake: {
    database: embeddableDatabase.prefault({}),
    // A block of 10000 credits is about 500 KB of JSON.
    rpc: rpcServerTable(7446, 1024 * 1024).prefault({}),
    alerts: intakeAlerts.prefault({}),
    keys: intakeKeys.prefault({}),
    intake: intakeLimits.prefault({}),
    wallets: walletReview.prefault({}),
    coins: z
      .record(z.string().regex(/^[A-Z0-9]{2,10}$/, { error: 'expected a coin tag such as ETH' }), intakeCoin, {
        error: 'expected a table of coin tags',
      })
      .default({}),
    pools: table({ miningcore: miningcoreAdapter.optional(), oep: oepPool.optional() }).prefault({}),
    miners: minersApi.prefault({}),
  },
} satisfies Record<Service, z.ZodRawShape>;

export type ServiceShapes = typeof serviceShapes;

/** One schema per service, spelt out so each service's configuration keeps its own static type. */
const SCHEMAS = {
  pscli: table({ ...baseShape, ...serviceShapes.pscli }),
  payserv: table({ ...baseShape, ...serviceShapes.payserv }),
  dbgw: table({ ...baseShape, ...serviceShapes.dbgw }),
  esman: table({ ...baseShape, ...serviceShapes.esman }),
  intake: table({ ...baseShape, ...serviceShapes.intake }).superRefine((t, ctx) => {
    // A pool adapter's coin without its reward check would have every block refused no_reward_check, for ever.
    for (const [name, pool] of Object.entries(t.pools)) {
      if (!pool) continue;
      const coin = Object.hasOwn(t.coins, pool.coin) ? t.coins[pool.coin] : undefined;
      if (!coin || coin.chain === 'btc')
        ctx.addIssue({
          code: 'custom',
          path: ['pools', name, 'coin'],
          message: coin
            ? `names ${pool.coin}, a Bitcoin-family coin: the intake has no reward check for it, its blocks could never be checked`
            : `names ${pool.coin}, which has no [coins.${pool.coin}] table: its blocks could never be checked`,
        });
    }
  }),
};

export function fileSchema<S extends Service>(service: S): (typeof SCHEMAS)[S] {
  return SCHEMAS[service];
}

/** The base tables every service's file has, as parsed. */
export type BaseFileConfig = z.output<ReturnType<typeof table<typeof baseShape>>>;

/** The parsed file, before environment overrides and path resolution. */
export type FileConfig<S extends Service> = z.output<(typeof SCHEMAS)[S]>;
