// pscli ledger: the pool side's writer, for a first run, tests and demos. Records are signed with the
// role keys found in the state directory's PKI (in production, the pool back end holds its own).
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { requireCurrentSchema } from '../../db/migrate.js';
import { loadSigner, pkiPaths } from '../../esman/pki-files.js';
import { registerCert } from '../../writer/certs.js';
import { SIGNER_ROLES, type SignerRole } from '../../pki/roles.js';
import type { Signer } from '../../pki/signer.js';
import { creditBlock } from '../../writer/blocks.js';
import { addCoin, CoinConflict } from '../../writer/coins.js';
import { addWallet, retireWallet, signWallet, WalletRefused } from '../../writer/wallets.js';
import { requestWithdrawal } from '../../writer/withdrawals.js';
import { validateAddress } from '../../chains/address.js';
import { payservCoins, payservConfigOption } from './payserv-coins.js';
import { getWallet } from '../../store/reads.js';
import { formatAmount } from '../../money/amount.js';
import { action, requireDatabaseChosen, withDb, type Context } from '../context.js';
import { CliError, EXIT } from '../exit.js';
import {
  amountOpt,
  blockHash,
  coinIdOf,
  coinTag,
  creditShares,
  isUniqueViolation,
  positiveInt,
  readStateFile,
  terminalProgress,
  trustOf,
  wholeNumber,
  withLedger,
} from '../ledger-context.js';

/**
 * The role keys a ledger command signs with, checked before any other work: a production state directory has
 * none (its keys are in the store, the pool's back end writes the ledger), and a raw ENOENT would not say so.
 */
function requireSigningKeys(ctx: Context, roles: readonly SignerRole[]): void {
  requireDatabaseChosen(ctx); // the configuration first, as every database command checks it
  const p = pkiPaths(ctx.stateDir);
  for (const role of roles) {
    const key = p.signerKey(role);
    if (!existsSync(key))
      throw new CliError(
        `pscli ledger signs with the state directory's ${role} key (${key}): none here; in production the pool's back end ` +
          `writes the ledger (see README, "The ledger writer (pool side)")`,
        EXIT.USAGE,
      );
    readStateFile(p.signerCert(role), `${role} signing certificate`);
  }
}

/** A role's signer from the state directory, its files checked first (requireSigningKeys). */
function localSigner(ctx: Context, role: SignerRole): Signer {
  requireSigningKeys(ctx, [role]);
  try {
    return loadSigner(ctx.stateDir, role);
  } catch (e) {
    throw new CliError((e as Error).message, EXIT.USAGE);
  }
}

/** Registers the role certificates of the local PKI (idempotent), so their signatures verify. */
async function registerLocalSigners(ctx: Context): Promise<void> {
  requireSigningKeys(ctx, SIGNER_ROLES);
  const trust = trustOf(ctx);
  const certs = SIGNER_ROLES.map((role) => readStateFile(pkiPaths(ctx.stateDir).signerCert(role), `${role} signing certificate`));
  await withDb(ctx, async (db) => {
    await requireCurrentSchema(db);
    for (const pem of certs) await registerCert(db, trust, pem);
  });
}

export function register(program: Command): void {
  const ledger = program
    .command('ledger')
    .description("the pool side's ledger writer (signed coins, wallets, blocks, withdrawal requests)");

  ledger
    .command('seed')
    .description('build a realistic signed ledger: coins, reviewed wallets, mined blocks, withdrawal requests')
    .option('--users <n>', 'miners', '1000')
    .option('--blocks <n>', 'blocks per coin', '20')
    .option('--withdrawals <n>', 'withdrawal requests per coin', '100')
    .option('--coins <list>', 'coin tags, comma-separated', 'ETH,ZEC')
    .option('--seed <n>', 'seed of the simulation', '1')
    .action(
      action(async (ctx, cmd) => {
        const o = cmd.opts<{ users: string; blocks: string; withdrawals: string; coins: string; seed: string }>();
        const coins = o.coins
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
          .map((c) => coinTag('--coins', c));
        if (!coins.length) throw new CliError(`--coins: bad coin list ${JSON.stringify(o.coins)}`, EXIT.USAGE);
        const opts = {
          users: positiveInt('--users', o.users),
          blocks: positiveInt('--blocks', o.blocks),
          withdrawals: wholeNumber('--withdrawals', o.withdrawals),
          coins,
          seed: positiveInt('--seed', o.seed),
          corrections: 3,
        };
        const signers = {
          admin: localSigner(ctx, 'admin'),
          autopay: localSigner(ctx, 'autopay'),
          payserv: localSigner(ctx, 'payserv'),
        };
        await registerLocalSigners(ctx);
        const progress = terminalProgress(ctx);
        const { seedLedger } = await import('../../writer/seed.js'); // viem: not at pscli's start-up
        const report = await withDb(ctx, (db) => seedLedger(db, signers, { ...opts, onProgress: progress }));
        progress.end();
        ctx.log.info(report, 'ledger seeded');
        if (ctx.json) ctx.printJson(report);
        else
          ctx.print(
            `seeded ${report.coins.join(', ')}: ${report.users} users, ${report.wallets} wallets, ${report.blocks} blocks, ${report.credits} credits, ${report.withdrawals} withdrawals (${report.declined} declined), ${report.corrections} corrections`,
          );
      }),
    );

  ledger
    .command('coin')
    .description('register a coin, signed by admin (a tag registered with other values is refused)')
    .requiredOption('--tag <tag>')
    .requiredOption('--name <name>')
    .option('--network <net>', 'mainnet or testnet', 'mainnet')
    .option('--decimals <n>', 'on-chain decimals', '8')
    .option('--confirmations <n>', '', '10')
    .option('--fee <amount>', 'withdrawal fee', '0')
    .option('--min <amount>', 'minimum withdrawal', '0')
    .requiredOption('--fee-user <id>', "the pool's own user, credited with block fees")
    .action(
      action(async (ctx, cmd) => {
        const o = cmd.opts<Record<string, string>>();
        if (o.network !== 'mainnet' && o.network !== 'testnet') throw new CliError('--network must be mainnet or testnet', EXIT.USAGE);
        const name = String(o.name).trim();
        if (!name || name.length > 100)
          throw new CliError(`--name: expected the coin's name (1 to 100 characters), got ${JSON.stringify(o.name)}`, EXIT.USAGE);
        const spec = {
          tag: coinTag('--tag', o.tag),
          name,
          network: o.network as 'mainnet' | 'testnet',
          decimals: wholeNumber('--decimals', o.decimals, 20),
          confirmations: wholeNumber('--confirmations', o.confirmations, 2_147_483_647),
          withdrawalFee: amountOpt('--fee', o.fee),
          minWithdrawal: amountOpt('--min', o.min),
          feeUserId: positiveInt('--fee-user', o.feeUser),
        };
        if (spec.withdrawalFee < 0n || spec.minWithdrawal < 0n)
          throw new CliError(`--${spec.withdrawalFee < 0n ? 'fee' : 'min'}: must not be negative`, EXIT.USAGE);
        const admin = localSigner(ctx, 'admin');
        await registerLocalSigners(ctx);
        const { coin, added } = await withDb(ctx, (db) =>
          addCoin(db, admin, spec).catch((e: unknown) => {
            throw e instanceof CoinConflict ? new CliError(`[${e.code}] ${e.message}`, EXIT.PROBLEMS) : e;
          }),
        );
        const said = added ? 'registered and signed' : 'already registered: nothing changed';
        ctx.print(ctx.json ? JSON.stringify({ id: coin.id, tag: coin.tag, added }) : `coin ${coin.tag} id ${coin.id} ${said}`);
      }),
    );

  const walletCmd = ledger
    .command('wallet')
    .description('add a wallet as the pool site does and sign it after review')
    .requiredOption('--user <id>')
    .requiredOption('--coin <tag|id>')
    .requiredOption('--address <address>');
  payservConfigOption(walletCmd).action(
    action(async (ctx, cmd) => {
      const o = cmd.opts<Record<string, string>>();
      const userId = positiveInt('--user', o.user);
      const admin = localSigner(ctx, 'admin');
      const coins = await payservCoins(ctx, cmd);
      const w = await withLedger(ctx, async (db, view) => {
        const coinId = coinIdOf(view, o.coin);
        const bad = validateAddress(view.coins.get(coinId) as never, String(o.address), coins);
        if (bad) throw new CliError(`--address: ${bad}`, EXIT.USAGE);
        const added = await addWallet(db, { userId, coinId, address: String(o.address) });
        return signWallet(db, admin, added.id);
      });
      ctx.print(ctx.json ? JSON.stringify({ id: w.id }) : `wallet ${w.id} added and signed`);
    }),
  );

  ledger
    .command('wallet-delete')
    .description('delete (or deactivate) a wallet for the pool, signed by admin: one-way, payserv never pays it again')
    .requiredOption('--wallet <id>')
    .option('--inactive', 'deactivate instead of delete')
    .action(
      action(async (ctx, cmd) => {
        const o = cmd.opts<{ wallet: string; inactive?: boolean }>();
        const id = positiveInt('--wallet', o.wallet);
        const how = o.inactive ? 'inactive' : 'deleted';
        const admin = localSigner(ctx, 'admin');
        const w = await withLedger(ctx, async (db, view) => {
          const found = await getWallet(db, id);
          if (!found) throw new CliError(`unknown wallet ${id}`, EXIT.USAGE);
          const coin = view.coins.get(found.coinId)?.tag ?? String(found.coinId);
          const done = await retireWallet(db, admin, id, how, new Date(), view.book).catch((e: Error) => {
            // The id was just found: refused only when it changed meanwhile (try again) or its signature does not verify (the checks).
            throw e instanceof WalletRefused ? new CliError(e.message, e.code === 'unknown_wallet' ? EXIT.USAGE : EXIT.RUNTIME) : e;
          });
          return { ...done, coin };
        });
        ctx.log.warn({ wallet: w.id, user: w.userId, coin: w.coin, address: w.address, how }, 'wallet retired and signed');
        ctx.print(
          ctx.json
            ? JSON.stringify({ id: w.id, user: w.userId, coin: w.coin, address: w.address, active: w.active, deleted: w.deleted })
            : `wallet ${w.id} (user ${w.userId}, ${w.coin} ${w.address}) ${how} and signed`,
        );
      }),
    );

  ledger
    .command('block')
    .description('credit a mined block: pool income, miner credits (USER=AMOUNT) and the pool fee, in one transaction')
    .requiredOption('--coin <tag|id>')
    .requiredOption('--hash <hash>')
    .requiredOption('--credit <user=amount...>')
    .option('--pool-fee <amount>', '', '0')
    .action(
      action(async (ctx, cmd) => {
        const o = cmd.opts<{ coin: string; hash: string; credit: string[]; poolFee: string }>();
        const shares = creditShares(o.credit);
        const hash = blockHash('--hash', o.hash);
        const poolFee = amountOpt('--pool-fee', o.poolFee);
        if (poolFee < 0n) throw new CliError('--pool-fee: must not be negative', EXIT.USAGE);
        const admin = localSigner(ctx, 'admin');
        const r = await withLedger(ctx, (db, view) => {
          const coin = view.coins.get(coinIdOf(view, o.coin));
          // The fee user's one credit is the pool fee: as a miner too it would be credited twice for one block.
          const fee = shares.find((x) => x.userId === coin?.feeUserId);
          if (fee)
            throw new CliError(
              `--credit ${fee.userId}=…: user ${fee.userId} is ${coin?.tag}'s fee user, credited by --pool-fee, never as a miner`,
              EXIT.USAGE,
            );
          return creditBlock(db, admin, coin as never, { blockHash: hash, shares, poolFee }).catch((e: unknown) => {
            throw isUniqueViolation(e)
              ? new CliError(`block ${hash} already credited for ${coin?.tag ?? o.coin}: nothing changed`, EXIT.PROBLEMS)
              : e;
          });
        });
        ctx.print(
          ctx.json
            ? JSON.stringify({ income_id: r.income.id, credit_ids: r.credits.map((c) => c.id) })
            : `block ${hash}: income ${r.income.id}, ${r.credits.length} credits`,
        );
      }),
    );

  ledger
    .command('request')
    .description('create a withdrawal request to a reviewed wallet, signed by autopay')
    .requiredOption('--wallet <id>')
    .requiredOption('--amount <amount>')
    .action(
      action(async (ctx, cmd) => {
        const o = cmd.opts<{ wallet: string; amount: string }>();
        const walletId = positiveInt('--wallet', o.wallet);
        const amount = amountOpt('--amount', o.amount);
        if (amount <= 0n) throw new CliError(`--amount: must be more than 0, got ${o.amount}`, EXIT.USAGE);
        const autopay = localSigner(ctx, 'autopay');
        const w = await withLedger(ctx, async (db, view) => {
          const wallet = await getWallet(db, walletId);
          if (!wallet) throw new CliError(`unknown wallet ${o.wallet}`, EXIT.USAGE);
          const coin = view.coins.get(wallet.coinId);
          if (!coin) throw new CliError(`wallet ${wallet.id} has an unknown coin`, EXIT.USAGE);
          // The request carries the coin's fee out of its amount: one smaller than the fee pays nothing.
          if (amount < coin.withdrawalFee)
            throw new CliError(
              `--amount: ${o.amount} is below ${coin.tag}'s withdrawal fee ${formatAmount(coin.withdrawalFee)}`,
              EXIT.USAGE,
            );
          return db.transaction((tx) =>
            requestWithdrawal(tx, autopay, {
              userId: wallet.userId,
              coinId: wallet.coinId,
              walletId: wallet.id,
              address: wallet.address,
              amount,
              fee: coin.withdrawalFee,
            }),
          );
        });
        ctx.print(ctx.json ? JSON.stringify({ id: w.id, status: w.status }) : `withdrawal ${w.id} requested (${w.status})`);
      }),
    );
}
