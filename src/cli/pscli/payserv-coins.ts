// payserv's [coins.TAG] tables as pscli reads them: a Bitcoin-family coin's network and wallet type are
// payserv's configuration, never its tag (src/chains/coin-chain.ts). From --payserv-config, else the
// payserv.toml of pscli's state directory when there is one (one directory in development), else none:
// a Bitcoin-family coin is then unknown to pscli (its hot wallet refused, its addresses checked as text).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { coinChain, type CoinChains } from '../../chains/coin-chain.js';
import type { Context } from '../context.js';
import { CliError, EXIT } from '../exit.js';

export function payservConfigOption(cmd: Command): Command {
  return cmd.option(
    '--payserv-config <FILE>',
    "payserv's configuration, read for its [coins.TAG] tables (a Bitcoin-family coin's network); default: the state directory's payserv.toml, when there",
  );
}

export async function payservCoins(ctx: Context, cmd: Command): Promise<CoinChains> {
  const given = cmd.opts<{ payservConfig?: string }>().payservConfig;
  const path = given ?? join(ctx.stateDir, 'payserv.toml');
  if (given === undefined && !existsSync(path)) return {};
  const { loadConfig } = await import('../../config/load.js');
  try {
    const { coins } = await loadConfig('payserv', path, { env: ctx.io.env });
    // A coin configured on another chain than its tag's (ETH as "btc") is named here.
    for (const tag of Object.keys(coins)) coinChain(tag, coins);
    return coins;
  } catch (e) {
    throw new CliError(`${given === undefined ? '' : '--payserv-config '}${path}: ${(e as Error).message}`, EXIT.USAGE);
  }
}
