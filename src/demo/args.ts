/** The demo's size: defaults show a pool of a few thousand miners in about a minute. */
export interface DemoArgs {
  users: number;
  blocks: number;
  withdrawals: number;
  coins: string[];
  /** Where the operators' passphrases come from (one per line); unset: generated. */
  passphraseFd?: number;
}

const USAGE = 'usage: npm run demo -- [--users N] [--blocks N] [--withdrawals N] [--passphrase-fd N]';

export function parseDemoArgs(argv: string[]): DemoArgs | string {
  const a: DemoArgs = { users: 2000, blocks: 25, withdrawals: 200, coins: ['ETH', 'ZEC'] };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    const n = Number(v);
    if (!v || !Number.isSafeInteger(n) || n < (k === '--passphrase-fd' ? 0 : 1)) return `${k}: expected a positive integer. ${USAGE}`;
    if (k === '--users') a.users = n;
    else if (k === '--blocks') a.blocks = n;
    else if (k === '--withdrawals') a.withdrawals = n;
    else if (k === '--passphrase-fd') a.passphraseFd = n;
    else return `unknown option ${k}. ${USAGE}`;
  }
  return a;
}
