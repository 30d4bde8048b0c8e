// pscli hotwallet init|address: the hot-wallet key of a coin paid on-chain (Ethereum, Zcash). The key
// stays in its file of a development state directory (production: `esman wallet`, inside the store);
// pscli prints only the address to fund.
import type { Command } from 'commander';
import { familyOf } from '../../chains/address.js';
import { createHotKey, hotKeyPath, hotWalletAddress, loadHotKey } from '../../keys/hot-wallet.js';
import { action, isDevelopmentStateDir, type Context } from '../context.js';
import { CliError, EXIT } from '../exit.js';
import { rotate } from './hotwallet-rotate.js';

const NETWORKS = ['mainnet', 'testnet'] as const;

/** `byTag`: the coin's family must be known from its tag (rotate asks payserv's configuration for the Bitcoin family). */
function options(cmd: Command, byTag = true): { coin: string; network: (typeof NETWORKS)[number] } {
  const o = cmd.opts<{ coin: string; network: string }>();
  const network = NETWORKS.find((n) => n === o.network);
  if (!network) throw new CliError(`--network: expected mainnet or testnet, not ${JSON.stringify(o.network)}`, EXIT.USAGE);
  if (!/^[A-Z0-9]{2,10}$/.test(o.coin))
    throw new CliError(`--coin: expected a coin tag such as ETH, not ${JSON.stringify(o.coin)}`, EXIT.USAGE);
  if (byTag && familyOf(o.coin) === 'manual')
    throw new CliError(`coin ${o.coin} is paid by an operator: payserv holds no hot wallet for it`, EXIT.USAGE);
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
      .requiredOption('--coin <tag>', 'coin tag: ETH, ETC, ZEC')
      .option('--network <net>', 'Zcash network of the address: mainnet or testnet', 'mainnet');
  common(
    hw.command('init').description("create the coin's hot-wallet key in the state directory (never overwritten) and print its address"),
  ).action(
    action(async (ctx, cmd) => {
      const { coin, network } = options(cmd);
      requireDevelopment(ctx, coin);
      const path = await createHotKey(ctx.stateDir, coin).catch((e: Error) => {
        throw new CliError(e.message, EXIT.USAGE);
      });
      const address = hotWalletAddress(coin, await loadHotKey(ctx.stateDir, coin), network);
      ctx.log.info({ coin, address, path }, 'hot wallet created');
      if (ctx.json) ctx.printJson({ coin, address, path });
      else ctx.print(`${coin} hot wallet ${address} (key in ${path}); fund it, then configure [coins.${coin}] in payserv.toml`);
    }),
  );
  common(hw.command('address').description("print the address of the coin's hot wallet")).action(
    action(async (ctx, cmd) => {
      const { coin, network } = options(cmd);
      const key = await loadHotKey(ctx.stateDir, coin).catch((e: Error) => {
        throw new CliError(e.message, EXIT.USAGE);
      });
      const address = hotWalletAddress(coin, key, network);
      if (ctx.json) ctx.printJson({ coin, address, path: hotKeyPath(ctx.stateDir, coin) });
      else ctx.print(address);
    }),
  );
  common(
    hw
      .command('rotate')
      .description('make a new hot-wallet key inside the store (only its address printed); payserv sweeps the old wallet to it')
      .option('--dir <D>', "esman's share files (the store's key is rebuilt from T operators' passphrases)")
      .option('--storage <FILE>', "esman's store file holding Coin.<TAG>.JSON")
      .option('--passphrase-fd <N>', 'read passphrases one per line from this file descriptor (automation)')
      .option('--finish', 'once payserv recorded the sweep final: the new key becomes the hot wallet, the old one is kept retired')
      .option('--payserv-config <FILE>', "payserv's configuration, for a Bitcoin-family coin's network (default STATE/payserv.toml)"),
  ).action(
    action(async (ctx, cmd) => {
      const { coin, network } = options(cmd, false);
      const o = cmd.opts<{ dir?: string; storage?: string; passphraseFd?: string; finish?: boolean; payservConfig?: string }>();
      const fd = o.passphraseFd === undefined ? undefined : Number(o.passphraseFd);
      if (fd !== undefined && !(Number.isSafeInteger(fd) && fd >= 0))
        throw new CliError(`--passphrase-fd: expected a file descriptor number, not ${JSON.stringify(o.passphraseFd)}`, EXIT.USAGE);
      await rotate(ctx, {
        coin,
        network,
        finish: o.finish === true,
        dir: o.dir,
        storage: o.storage,
        passphraseFd: fd,
        payservConfig: o.payservConfig,
      });
    }),
  );
}
