// pscli hotwallet init|address: the hot-wallet key of a coin paid on-chain (Ethereum, Zcash, and the
// Bitcoin-family coins of payserv's configuration: payserv-coins.ts). The key
// stays in its file of a development state directory (production: `esman wallet`, inside the store);
// pscli prints only the address to fund.
import type { Command } from 'commander';
import { familyOf, type CoinChains } from '../../chains/coin-chain.js';
import { createHotKey, hotKeyPath, hotWalletAddress, loadHotKey } from '../../keys/hot-wallet.js';
import { action, isDevelopmentStateDir, type Context } from '../context.js';
import { CliError, EXIT } from '../exit.js';
import { rotate } from './hotwallet-rotate.js';
import { payservCoins, payservConfigOption } from './payserv-coins.js';

const NETWORKS = ['mainnet', 'testnet'] as const;

function options(cmd: Command, coins: CoinChains = {}): { coin: string; network: (typeof NETWORKS)[number] } {
  const o = cmd.opts<{ coin: string; network: string }>();
  const network = NETWORKS.find((n) => n === o.network);
  if (!network) throw new CliError(`--network: expected mainnet or testnet, not ${JSON.stringify(o.network)}`, EXIT.USAGE);
  if (!/^[A-Z0-9]{2,10}$/.test(o.coin))
    throw new CliError(`--coin: expected a coin tag such as ETH, not ${JSON.stringify(o.coin)}`, EXIT.USAGE);
  if (familyOf(o.coin, coins) === 'manual')
    throw new CliError(
      `coin ${o.coin} is paid by an operator: payserv holds no hot wallet for it (a Bitcoin-family coin: [coins.${o.coin}] chain = "btc" in payserv.toml, see --payserv-config)`,
      EXIT.USAGE,
    );
  return { coin: o.coin, network };
}

/** A plain key file only in a development state directory: README promises no private key is a plain file in production. */
function requireDevelopment(ctx: Context, coin: string): void {
  if (isDevelopmentStateDir(ctx)) return;
  throw new CliError(
    `a hot-wallet key is made inside the key store in production: esman wallet --coin ${coin} --dir D --storage FILE ` +
      `(pscli hotwallet init only in a development state directory: the demo's, or [database] embedded = true in pscli.toml); nothing written`,
    EXIT.USAGE,
  );
}

export function register(program: Command): void {
  const hw = program.command('hotwallet').description('the hot wallets payserv pays from (keys never printed)');
  const common = (c: Command) =>
    c
      .requiredOption('--coin <tag>', "coin tag: ETH, ETC, ZEC, or a Bitcoin-family coin of payserv's configuration")
      .option('--network <net>', 'Zcash network of the address: mainnet or testnet', 'mainnet');
  payservConfigOption(
    common(
      hw.command('init').description("create the coin's hot-wallet key in the state directory (never overwritten) and print its address"),
    ),
  ).action(
    action(async (ctx, cmd) => {
      const coins = await payservCoins(ctx, cmd);
      const { coin, network } = options(cmd, coins);
      requireDevelopment(ctx, coin);
      const path = await createHotKey(ctx.stateDir, coin).catch((e: Error) => {
        throw new CliError(e.message, EXIT.USAGE);
      });
      const address = hotWalletAddress(coin, await loadHotKey(ctx.stateDir, coin), network, coins);
      ctx.log.info({ coin, address, path }, 'hot wallet created');
      if (ctx.json) ctx.printJson({ coin, address, path });
      else ctx.print(`${coin} hot wallet ${address} (key in ${path}); fund it, then configure [coins.${coin}] in payserv.toml`);
    }),
  );
  payservConfigOption(common(hw.command('address').description("print the address of the coin's hot wallet"))).action(
    action(async (ctx, cmd) => {
      const coins = await payservCoins(ctx, cmd);
      const { coin, network } = options(cmd, coins);
      const key = await loadHotKey(ctx.stateDir, coin).catch((e: Error) => {
        throw new CliError(e.message, EXIT.USAGE);
      });
      const address = hotWalletAddress(coin, key, network, coins);
      if (ctx.json) ctx.printJson({ coin, address, path: hotKeyPath(ctx.stateDir, coin) });
      else ctx.print(address);
    }),
  );
  payservConfigOption(
    common(
      hw
        .command('rotate')
        .description('make a new hot-wallet key inside the store (only its address printed); payserv sweeps the old wallet to it')
        .option('--dir <D>', "esman's share files (the store's key is rebuilt from T operators' passphrases)")
        .option('--storage <FILE>', "esman's store file holding Coin.<TAG>.JSON")
        .option('--passphrase-fd <N>', 'read passphrases one per line from this file descriptor (automation)')
        .option('--finish', 'once payserv recorded the sweep final: the new key becomes the hot wallet, the old one is kept retired'),
    ),
  ).action(
    action(async (ctx, cmd) => {
      const coins = await payservCoins(ctx, cmd);
      const { coin, network } = options(cmd, coins);
      const o = cmd.opts<{ dir?: string; storage?: string; passphraseFd?: string; finish?: boolean }>();
      const fd = o.passphraseFd === undefined ? undefined : Number(o.passphraseFd);
      if (fd !== undefined && !(Number.isSafeInteger(fd) && fd >= 0))
        throw new CliError(`--passphrase-fd: expected a file descriptor number, not ${JSON.stringify(o.passphraseFd)}`, EXIT.USAGE);
      await rotate(ctx, { coin, network, finish: o.finish === true, dir: o.dir, storage: o.storage, passphraseFd: fd, coins });
    }),
  );
}
