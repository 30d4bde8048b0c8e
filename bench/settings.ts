// Scale and options of a bench run, from the environment (argv may override for convenience).

export interface BenchSettings {
  /** Credits in the ledger of the full check (BENCH_CREDITS). */
  credits: number;
  /** Credits per account in that ledger (BENCH_CREDITS_PER_ACCOUNT). */
  creditsPerAccount: number;
  /** Miner credits per block when building it (BENCH_BLOCK), at most the number of accounts. */
  blockSize: number;
  /** History of the large single account (BENCH_BIG, default BENCH_CREDITS). */
  bigHistory: number;
  /** History of the small account (BENCH_SMALL). */
  smallHistory: number;
  /** Other users credited in each block of the single-account history (BENCH_BIG_OTHERS). */
  bigOthers: number;
  /** Blocks appended per transaction when building the single-account history (BENCH_BIG_TX_BLOCKS). */
  blocksPerTx: number;
  /** New credits after the checkpoint (BENCH_NEW_CREDITS). */
  newCredits: number;
  /** Timed repetitions of each incremental verification (BENCH_REPS). */
  reps: number;
  /** Wall-clock budget for building the large history, in seconds (BENCH_BIG_BUDGET_S); past it the history stops where it is. */
  bigBudgetSeconds: number;
  /** Also time the full check's parts: the same rows streamed without verification, and verified in memory (BENCH_DECOMPOSE=0: skip). */
  decompose: boolean;
  /** Run the Process throughput section (BENCH_PROCESS=0: skip). */
  process: boolean;
  /** Users (each a reviewed ETH wallet with credits) in the Process ledger (BENCH_PROCESS_USERS). */
  processUsers: number;
  /** PayServ.Process calls timed in each of the one-at-a-time and concurrent runs (BENCH_PROCESS_CALLS). */
  processCalls: number;
  /** Run the Ethereum payouts section on anvil (BENCH_PAY_ETH=0: skip). */
  payEth: boolean;
  /** Withdrawals paid through Approve → Check there, and plain transfers sent twice for comparison (BENCH_PAY_ETH_WITHDRAWALS). */
  payEthWithdrawals: number;
  /** Run the Zcash SendCoin batch section (BENCH_PAY_ZCASH=0: skip). */
  payZcash: boolean;
  /** Outputs of the batch (BENCH_PAY_ZCASH_OUTPUTS): payserv's batch_max default is 500. */
  payZcashOutputs: number;
  /** P2PKH inputs of the in-process batch (BENCH_PAY_ZCASH_INPUTS), and the hot wallet's funding outputs end to end. */
  payZcashInputs: number;
  /** Timed build + sign repetitions of each version (BENCH_PAY_ZCASH_REPS). */
  payZcashReps: number;
  /** Also the same batch end to end through SendCoin on the node stand-in (BENCH_PAY_ZCASH_SENDCOIN=0: skip). */
  payZcashSendCoin: boolean;
  /** Run the Bitcoin-family SendCoin section on litecoind beside the node's sendmany (BENCH_PAY_BTC=0: skip). */
  payBtc: boolean;
  /** Outputs of that batch and of the sendmany (BENCH_PAY_BTC_OUTPUTS). */
  payBtcOutputs: number;
  /** Run the esman key store section: scrypt per share, unlock, loopback hand-over, store save (BENCH_ESMAN=0: skip). */
  esman: boolean;
  /** Run the dbgw section: cost per call and per streamed row through dbgw against in process (BENCH_DBGW=0: skip). */
  dbgw: boolean;
  /** Credits written for it and streamed on each side (BENCH_DBGW_ROWS). */
  dbgwRows: number;
  /** LEDGER.credit calls timed on each side, one at a time and again 8 at a time (BENCH_DBGW_CALLS). */
  dbgwCalls: number;
  /** Run the adversarial harness and payment journal section (BENCH_SIM=0: skip). */
  sim: boolean;
  /** Schedules of the harness run there, seeds 1..N (BENCH_SIM_SCHEDULES). */
  simSchedules: number;
  /** Operations per schedule (BENCH_SIM_STEPS). */
  simSteps: number;
  /** PaymentJournal.recordAttempt calls timed (BENCH_JOURNAL_RECORDS). */
  journalRecords: number;
  /** ETH payments Approved there, every other one without the journal's record (BENCH_JOURNAL_PAYMENTS). */
  journalPayments: number;
  /** Time the start-up of `pscli --help` (BENCH_STARTUP=0: skip). */
  startup: boolean;
  /** Fresh pscli processes timed (BENCH_STARTUP_RUNS). */
  startupRuns: number;
  /** The intake and the oep mirror (BENCH_INTAKE=0: skip). */
  intake: boolean;
  /** Blocks.Credit calls timed (BENCH_INTAKE_BLOCKS), each of intakeCredits credits (BENCH_INTAKE_CREDITS). */
  intakeBlocks: number;
  intakeCredits: number;
  /** oep logins mirrored (BENCH_MIRROR_ACCOUNTS), each with mirrorWithdrawals sent withdrawals (BENCH_MIRROR_WITHDRAWALS). */
  mirrorAccounts: number;
  mirrorWithdrawals: number;
  /** Backup.Take's dump and pscli restore's load (BENCH_BACKUP=0: skip), of backupRows credits (BENCH_BACKUP_ROWS). */
  backup: boolean;
  backupRows: number;
  /** PostgreSQL server to create the bench database on (DATABASE_URL); absent: embedded PGlite. */
  databaseUrl: string | undefined;
}

const ENV: Record<
  keyof Omit<
    BenchSettings,
    | 'databaseUrl'
    | 'decompose'
    | 'process'
    | 'payEth'
    | 'payZcash'
    | 'payZcashSendCoin'
    | 'payBtc'
    | 'esman'
    | 'dbgw'
    | 'sim'
    | 'startup'
    | 'intake'
    | 'backup'
  >,
  string
> = {
  credits: 'BENCH_CREDITS',
  creditsPerAccount: 'BENCH_CREDITS_PER_ACCOUNT',
  blockSize: 'BENCH_BLOCK',
  bigHistory: 'BENCH_BIG',
  smallHistory: 'BENCH_SMALL',
  bigOthers: 'BENCH_BIG_OTHERS',
  blocksPerTx: 'BENCH_BIG_TX_BLOCKS',
  newCredits: 'BENCH_NEW_CREDITS',
  reps: 'BENCH_REPS',
  bigBudgetSeconds: 'BENCH_BIG_BUDGET_S',
  processUsers: 'BENCH_PROCESS_USERS',
  processCalls: 'BENCH_PROCESS_CALLS',
  payEthWithdrawals: 'BENCH_PAY_ETH_WITHDRAWALS',
  payZcashOutputs: 'BENCH_PAY_ZCASH_OUTPUTS',
  payZcashInputs: 'BENCH_PAY_ZCASH_INPUTS',
  payZcashReps: 'BENCH_PAY_ZCASH_REPS',
  payBtcOutputs: 'BENCH_PAY_BTC_OUTPUTS',
  dbgwRows: 'BENCH_DBGW_ROWS',
  dbgwCalls: 'BENCH_DBGW_CALLS',
  simSchedules: 'BENCH_SIM_SCHEDULES',
  simSteps: 'BENCH_SIM_STEPS',
  journalRecords: 'BENCH_JOURNAL_RECORDS',
  journalPayments: 'BENCH_JOURNAL_PAYMENTS',
  startupRuns: 'BENCH_STARTUP_RUNS',
  intakeBlocks: 'BENCH_INTAKE_BLOCKS',
  intakeCredits: 'BENCH_INTAKE_CREDITS',
  mirrorAccounts: 'BENCH_MIRROR_ACCOUNTS',
  mirrorWithdrawals: 'BENCH_MIRROR_WITHDRAWALS',
  backupRows: 'BENCH_BACKUP_ROWS',
};
/** The backup section: the rows are written by SQL in seconds; past this the dump file is gigabytes. */
const BACKUP_ROWS_MAX = 10_000_000;

/** Bounds of the payment sections' sizes: past them the run would not fit its purpose (a few minutes) or a transaction's limits. */
export const PAY_ETH_WITHDRAWALS_MAX = 10_000;
/** SendCoin takes at most 2,000 withdrawals per call, and payserv's batch_max is at most 2,000. */
export const PAY_ZCASH_OUTPUTS_MAX = 2000;
/** A standard transaction's weight (400,000) holds about 2,300 P2WPKH outputs. */
export const PAY_BTC_OUTPUTS_MAX = 2000;
/** 100 signed P2PKH inputs are ~15 kB of the 100,000-byte standard transaction. */
export const PAY_ZCASH_INPUTS_MAX = 100;
const PAY_ZCASH_REPS_MAX = 1000;
/** The harness section: a schedule is seconds, a payment on anvil tens of milliseconds; past these it is no longer a bench run. */
const SIM_SCHEDULES_MAX = 1000;
const SIM_STEPS_MAX = 1000;
const JOURNAL_RECORDS_MAX = 1_000_000;
const JOURNAL_PAYMENTS_MAX = 2000;
const STARTUP_RUNS_MAX = 1000;
/** The intake section: past these it is no longer a bench run of under a minute or two. */
const INTAKE_BLOCKS_MAX = 10_000;
const INTAKE_CREDITS_MAX = 2000;
const MIRROR_ACCOUNTS_MAX = 100_000;
const MIRROR_WITHDRAWALS_MAX = 1000;

/** The dbgw section's PostgreSQL server when DATABASE_URL is unset (dbgw serves PostgreSQL only). */
export const DBGW_DEFAULT_SERVER = 'postgres://postgres@127.0.0.1:5432/postgres';

/** Process requests beyond the timed ones: warm-up calls (the first builds the coin's checkpoint). */
export const PROCESS_WARMUP_CALLS = 5;

export const USAGE = `usage: npm run bench [-- --credits=N]
environment:
  BENCH_CREDITS              credits in the full-check ledger (default 1000000)
  BENCH_CREDITS_PER_ACCOUNT  credits per account (default 100)
  BENCH_BLOCK                miner credits per block (default 5000)
  BENCH_BIG                  history of the large account (default BENCH_CREDITS)
  BENCH_SMALL                history of the small account (default 1000)
  BENCH_BIG_OTHERS           other users credited in each block of that history (default 0)
  BENCH_BIG_TX_BLOCKS        blocks per transaction when building it (default 5000)
  BENCH_NEW_CREDITS          credits after the checkpoint (default 10)
  BENCH_REPS                 repetitions of each incremental verification (default 25)
  BENCH_BIG_BUDGET_S         time budget for building the large history (default 600)
  BENCH_DECOMPOSE            1: also time reading and verifying separately (default 1)
  BENCH_PROCESS              1: time payserv's PayServ.Process over mutual TLS (default 1)
  BENCH_PROCESS_USERS        users (reviewed ETH wallet + credits) in that ledger (default 100000)
  BENCH_PROCESS_CALLS        Process calls timed one at a time, and again 8 at a time (default 2000);
                             2 x BENCH_PROCESS_CALLS + ${PROCESS_WARMUP_CALLS} requests are made, each by a distinct user
  BENCH_PAY_ETH              1: Ethereum payouts on anvil, Approve -> Check, beside raw eth_sendRawTransaction (default 1)
  BENCH_PAY_ETH_WITHDRAWALS  withdrawals paid there, and plain transfers sent before and after (default 200, at most ${PAY_ETH_WITHDRAWALS_MAX})
  BENCH_PAY_ZCASH            1: a Zcash SendCoin batch, built and signed in process, v4 and v5 (default 1)
  BENCH_PAY_ZCASH_OUTPUTS    outputs of the batch (default 500, at most ${PAY_ZCASH_OUTPUTS_MAX})
  BENCH_PAY_ZCASH_INPUTS     P2PKH inputs it spends (default 20, at most ${PAY_ZCASH_INPUTS_MAX})
  BENCH_PAY_ZCASH_REPS       timed build + sign repetitions of each version (default 5)
  BENCH_PAY_ZCASH_SENDCOIN   1: also the batch end to end, SendCoin on the node stand-in (default 1)
  BENCH_PAY_BTC              1: a Bitcoin-family SendCoin on litecoind regtest beside the node's sendmany (default 1; skipped without litecoind)
  BENCH_PAY_BTC_OUTPUTS      outputs of both (default 500, at most ${PAY_BTC_OUTPUTS_MAX})
  BENCH_ESMAN                1: esman key store: scrypt per share (log2N 16, 17, 18), unlock of a (3,2) set,
                             the loopback key hand-over, store save (default 1; about 15-30 s)
  BENCH_DBGW                 1: dbgw against in process, per call and per streamed row, on a PostgreSQL database
                             of its own (DATABASE_URL, else ${DBGW_DEFAULT_SERVER}; skipped if none there) (default 1)
  BENCH_DBGW_ROWS            credits written for it and streamed on each side (default 1000000)
  BENCH_DBGW_CALLS           LEDGER.credit calls timed on each side, one at a time and again 8 at a time (default 2000)
  BENCH_SIM                  1: the adversarial harness (test/sim): schedules per second, and the payment journal's
                             cost per record (fsync included) and per Approve -> broadcast against none (default 1)
  BENCH_SIM_SCHEDULES        schedules run, seeds 1..N, each a world of its own (default 10, at most ${SIM_SCHEDULES_MAX})
  BENCH_SIM_STEPS            operations per schedule (default 24, at most ${SIM_STEPS_MAX})
  BENCH_JOURNAL_RECORDS      PaymentJournal.recordAttempt calls timed (default 500, at most ${JOURNAL_RECORDS_MAX})
  BENCH_JOURNAL_PAYMENTS     ETH withdrawals Approved, every other one without the journal's record (default 40, at most ${JOURNAL_PAYMENTS_MAX})
  BENCH_STARTUP              1: start-up of pscli --help, fresh processes one after another (default 1)
  BENCH_STARTUP_RUNS         pscli processes timed, median and p95 (default 20, at most ${STARTUP_RUNS_MAX})
  BENCH_INTAKE               1: Blocks.Credit through the intake (blocks checked on an anvil of its own), and one
                             oep mirror interval at start-up and in the steady state, into the local Redis (default 1)
  BENCH_INTAKE_BLOCKS        Blocks.Credit calls timed, one after the other (default 10, at most ${INTAKE_BLOCKS_MAX})
  BENCH_INTAKE_CREDITS       credits per block (default 500, at most ${INTAKE_CREDITS_MAX})
  BENCH_MIRROR_ACCOUNTS      oep logins mirrored (default 50, at most ${MIRROR_ACCOUNTS_MAX})
  BENCH_MIRROR_WITHDRAWALS   sent withdrawals of each login (default 4, at most ${MIRROR_WITHDRAWALS_MAX})
  BENCH_BACKUP               1: Backup.Take's database dump and pscli restore's load, rows/s and peak memory (default 1)
  BENCH_BACKUP_ROWS          credits in the backed-up ledger (default 200000, at most \${BACKUP_ROWS_MAX})
  DATABASE_URL               PostgreSQL server: a fresh payserv_bench_<random> database is created and dropped there
                             (and payserv_bench_dbgw_<random> for the dbgw section)
`;

function int(name: string, raw: string | undefined, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (raw === undefined || raw === '') return def;
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new Error(
      `${name} must be an integer >= ${min}${max < Number.MAX_SAFE_INTEGER ? ` and <= ${max}` : ''}, got ${JSON.stringify(raw)}`,
    );
  }
  return n;
}

export function loadSettings(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchSettings {
  const over: Partial<Record<string, string>> = {};
  for (const a of argv) {
    const m = /^--([a-z-]+)=(.*)$/.exec(a);
    const key = m ? Object.keys(ENV).find((k) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`) === m[1]) : undefined;
    if (!m || !key) throw new Error(`unknown argument ${JSON.stringify(a)}\n${USAGE}`);
    over[ENV[key as keyof typeof ENV]] = m[2];
  }
  const get = (k: keyof typeof ENV) => over[ENV[k]] ?? env[ENV[k]];
  const credits = int(ENV.credits, get('credits'), 1_000_000, 1);
  const creditsPerAccount = Math.min(credits, int(ENV.creditsPerAccount, get('creditsPerAccount'), 100, 1));
  const processOn = (over.BENCH_PROCESS ?? env.BENCH_PROCESS ?? '1') !== '0';
  const processUsers = int(ENV.processUsers, get('processUsers'), 100_000, 1);
  const processCalls = int(ENV.processCalls, get('processCalls'), 2000, 1);
  if (processOn && processUsers < 2 * processCalls + PROCESS_WARMUP_CALLS) {
    throw new Error(
      `BENCH_PROCESS_USERS (${processUsers}) must be at least 2 x BENCH_PROCESS_CALLS + ${PROCESS_WARMUP_CALLS} (${2 * processCalls + PROCESS_WARMUP_CALLS}): every request is by a distinct user`,
    );
  }
  return {
    credits,
    creditsPerAccount,
    blockSize: int(ENV.blockSize, get('blockSize'), 5000, 1),
    bigHistory: int(ENV.bigHistory, get('bigHistory'), credits, 1),
    smallHistory: int(ENV.smallHistory, get('smallHistory'), 1000, 1),
    bigOthers: int(ENV.bigOthers, get('bigOthers'), 0, 0),
    blocksPerTx: int(ENV.blocksPerTx, get('blocksPerTx'), 5000, 1),
    newCredits: int(ENV.newCredits, get('newCredits'), 10, 1),
    reps: int(ENV.reps, get('reps'), 25, 1),
    bigBudgetSeconds: int(ENV.bigBudgetSeconds, get('bigBudgetSeconds'), 600, 1),
    decompose: (over.BENCH_DECOMPOSE ?? env.BENCH_DECOMPOSE ?? '1') !== '0',
    process: processOn,
    processUsers,
    processCalls,
    payEth: (over.BENCH_PAY_ETH ?? env.BENCH_PAY_ETH ?? '1') !== '0',
    payEthWithdrawals: int(ENV.payEthWithdrawals, get('payEthWithdrawals'), 200, 1, PAY_ETH_WITHDRAWALS_MAX),
    payZcash: (over.BENCH_PAY_ZCASH ?? env.BENCH_PAY_ZCASH ?? '1') !== '0',
    payZcashOutputs: int(ENV.payZcashOutputs, get('payZcashOutputs'), 500, 1, PAY_ZCASH_OUTPUTS_MAX),
    payZcashInputs: int(ENV.payZcashInputs, get('payZcashInputs'), 20, 1, PAY_ZCASH_INPUTS_MAX),
    payZcashReps: int(ENV.payZcashReps, get('payZcashReps'), 5, 1, PAY_ZCASH_REPS_MAX),
    payZcashSendCoin: (over.BENCH_PAY_ZCASH_SENDCOIN ?? env.BENCH_PAY_ZCASH_SENDCOIN ?? '1') !== '0',
    payBtc: (over.BENCH_PAY_BTC ?? env.BENCH_PAY_BTC ?? '1') !== '0',
    payBtcOutputs: int(ENV.payBtcOutputs, get('payBtcOutputs'), 500, 1, PAY_BTC_OUTPUTS_MAX),
    esman: (over.BENCH_ESMAN ?? env.BENCH_ESMAN ?? '1') !== '0',
    dbgw: (over.BENCH_DBGW ?? env.BENCH_DBGW ?? '1') !== '0',
    dbgwRows: int(ENV.dbgwRows, get('dbgwRows'), 1_000_000, 1),
    dbgwCalls: int(ENV.dbgwCalls, get('dbgwCalls'), 2000, 1),
    sim: (over.BENCH_SIM ?? env.BENCH_SIM ?? '1') !== '0',
    simSchedules: int(ENV.simSchedules, get('simSchedules'), 10, 1, SIM_SCHEDULES_MAX),
    simSteps: int(ENV.simSteps, get('simSteps'), 24, 1, SIM_STEPS_MAX),
    journalRecords: int(ENV.journalRecords, get('journalRecords'), 500, 1, JOURNAL_RECORDS_MAX),
    journalPayments: int(ENV.journalPayments, get('journalPayments'), 40, 2, JOURNAL_PAYMENTS_MAX),
    startup: (over.BENCH_STARTUP ?? env.BENCH_STARTUP ?? '1') !== '0',
    startupRuns: int(ENV.startupRuns, get('startupRuns'), 20, 1, STARTUP_RUNS_MAX),
    intake: (over.BENCH_INTAKE ?? env.BENCH_INTAKE ?? '1') !== '0',
    intakeBlocks: int(ENV.intakeBlocks, get('intakeBlocks'), 10, 1, INTAKE_BLOCKS_MAX),
    intakeCredits: int(ENV.intakeCredits, get('intakeCredits'), 500, 1, INTAKE_CREDITS_MAX),
    mirrorAccounts: int(ENV.mirrorAccounts, get('mirrorAccounts'), 50, 1, MIRROR_ACCOUNTS_MAX),
    mirrorWithdrawals: int(ENV.mirrorWithdrawals, get('mirrorWithdrawals'), 4, 1, MIRROR_WITHDRAWALS_MAX),
    backup: (over.BENCH_BACKUP ?? env.BENCH_BACKUP ?? '1') !== '0',
    backupRows: int(ENV.backupRows, get('backupRows'), 200_000, 1, BACKUP_ROWS_MAX),
    databaseUrl: env.DATABASE_URL || undefined,
  };
}
