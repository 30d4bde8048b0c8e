// esman's commands, in the original's shape (esman -init -number 3 -threshold 2 -directory D, …) with long options.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { EsmanError, reasonOf, wipe } from '../../esman/errors.js';
import { checkExportable, checkItemName, coinItem, encodeCoinItem } from '../../esman/items.js';
import { checkItemValue, checkNewItems } from '../../esman/item-check.js';
import { DEFAULT_SCRYPT, describeScrypt, SCRYPT_BOUNDS, type ScryptParams } from '../../esman/kdf.js';
import { loopbackEndpoint } from '../../esman/loopback.js';
import { KEY_REQUEST_PROMPT, startManager } from '../../esman/manager.js';
import { hex, keyIdOf, newMasterKey } from '../../esman/master-key.js';
import { refuseShareDir, writeShares } from '../../esman/shares.js';
import { checkSplit } from '../../esman/shamir.js';
import { KeyStore, readIndex } from '../../esman/store-file.js';
import { fileExists, writeNewFile } from '../../esman/export.js';
import { LineReader, newPassphrases, passphrases, type Passphrases } from './input.js';
import { refuseAbsent, refuseExisting, unlock, withStore } from './unlock.js';
import { deleteItem, readPayserv, type DeleteOpts } from './delete-wallet.js';
import { hotWalletContent, hotWalletTag, refuseReplaceHotWallet } from '../../esman/wallet-delete.js';

export interface EsmanIo {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

const int = (name: string) => (v: string) => {
  if (!/^\d{1,9}$/.test(v)) throw new InvalidArgumentError(`${name} ${JSON.stringify(v)}: expected a whole number`);
  return Number(v);
};

interface Common {
  dir: string;
  storage: string;
  passphraseFd?: number;
}

function kdfOf(cost: number | undefined): ScryptParams {
  const k = { ...DEFAULT_SCRYPT, ...(cost === undefined ? {} : { log2N: cost }) };
  const [lo, hi] = SCRYPT_BOUNDS.log2N;
  if (k.log2N < lo || k.log2N > hi)
    throw new EsmanError(
      'bad_option',
      `--kdf-cost ${k.log2N}: expected ${lo}..${hi} (log2 of scrypt's N; default ${DEFAULT_SCRYPT.log2N})`,
    );
  return k;
}

interface SplitOpts {
  shares: number;
  threshold: number;
  kdfCost?: number;
}

/** Everything about a new set of shares that can be refused before a passphrase is asked: the split, the cost, the directory. */
async function checkNewShares(dir: string, o: SplitOpts): Promise<void> {
  checkSplit(o.shares, o.threshold);
  kdfOf(o.kdfCost);
  await refuseShareDir(resolve(dir));
}

async function newShares(dir: string, master: Uint8Array, o: SplitOpts, input: Passphrases, say: (s: string) => void): Promise<void> {
  const kdf = kdfOf(o.kdfCost);
  const passes = await newPassphrases(input, o.shares);
  try {
    say(
      `splitting master key ${hex(keyIdOf(master)).slice(0, 16)} into ${o.shares} shares, ${o.threshold} needed; each sealed with AES-256-GCM under ${describeScrypt(kdf)}`,
    );
    const paths = await writeShares(resolve(dir), master, { shares: o.shares, threshold: o.threshold, kdf }, (i) =>
      Promise.resolve(passes[i - 1]!),
    );
    say(`wrote ${paths.join(', ')}: give each to its operator`);
  } finally {
    wipe(...passes);
  }
}

/** Files of `dir` as items named after them: the way an operator brings TLS pairs, signing keys, Coin.<TAG>.JSON, DB.JSON. */
function itemsFrom(dir: string): Array<[string, Buffer]> {
  let files: string[];
  try {
    files = readdirSync(dir)
      .sort()
      .filter((n) => statSync(join(dir, n)).isFile());
  } catch (e) {
    throw new EsmanError('unreadable', `--from ${dir} cannot be read: ${reasonOf(e)}`);
  }
  if (!files.length) throw new EsmanError('bad_option', `--from ${dir} holds no files to store`);
  for (const n of files) checkItemName(n);
  return files.map((n) => [n, readFileSync(join(dir, n))]);
}

/** A hot-wallet key (by its name or its content) is never overwritten by `add --replace` with another key. */
function refuseHotWallet(store: KeyStore, name: string, next: Uint8Array): void {
  const old = store.get(name);
  try {
    if (hotWalletTag(name) !== null || hotWalletContent(old) !== null) refuseReplaceHotWallet(name, old, next);
  } finally {
    wipe(old);
  }
}

function readItemFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new EsmanError('unreadable', `${path} cannot be read: ${reasonOf(e)}`);
  }
}

export function register(program: Command, io: EsmanIo): void {
  const say = (s: string) => void io.stdout.write(`${s}\n`);
  const input = (o: { passphraseFd?: number }) => passphrases(o.passphraseFd, io.stdin, io.stderr as never);
  const shared = (c: Command, withStorage = true) => {
    c.requiredOption('--dir <D>', 'directory of the share files 1.ss, 2.ss, …');
    if (withStorage) c.requiredOption('--storage <FILE>', 'the encrypted store file');
    return c.option(
      '--passphrase-fd <N>',
      'read passphrases one per line from this file descriptor (automation) instead of the terminal',
      int('--passphrase-fd'),
    );
  };
  const split = (c: Command) =>
    c
      .requiredOption('--shares <N>', 'number of shares (operators)', int('--shares'))
      .requiredOption('--threshold <T>', 'shares needed to rebuild the key', int('--threshold'))
      .option(
        '--kdf-cost <log2N>',
        `scrypt cost as log2 of N (${SCRYPT_BOUNDS.log2N[0]}..${SCRYPT_BOUNDS.log2N[1]}; default ${DEFAULT_SCRYPT.log2N}: 128 MiB per share)`,
        int('--kdf-cost'),
      );

  split(
    shared(program.command('init'), false).description('make a new master key and split it into passphrase-sealed shares D/1.ss … D/N.ss'),
  ).action(async (o: Common & SplitOpts) => {
    await checkNewShares(o.dir, o);
    const master = newMasterKey();
    try {
      await newShares(o.dir, master, o, input(o), say);
    } finally {
      wipe(master);
    }
  });

  shared(program.command('create'))
    .description('create the store from the files of a directory (each file an item named after it)')
    .requiredOption('--from <DIR>', 'directory of item files (keep it on tmpfs; remove it afterwards)')
    .action(async (o: Common & { from: string }) => {
      refuseExisting(existsSync(o.storage), o.storage);
      const items = itemsFrom(o.from);
      // Before any passphrase and any write: a bad item would otherwise surface only at payserv's start, after the key ceremony.
      try {
        checkNewItems(items);
      } catch (e) {
        wipe(...items.map(([, v]) => v));
        throw e;
      }
      const pass = input(o);
      const u = await unlock(o.dir, pass, say);
      const store = KeyStore.empty(o.storage);
      try {
        await pass.end();
        for (const [name, value] of items) store.set(name, value);
        await store.save(u.master);
        say(`created ${o.storage} with ${items.length} items under key ${u.keyId.slice(0, 16)}`);
      } finally {
        store.close();
        wipe(u.master, ...items.map(([, v]) => v));
      }
    });

  program
    .command('list')
    .description('names and sizes of the items (never their values); needs no key')
    .requiredOption('--storage <FILE>', 'the encrypted store file')
    .action(async (o: { storage: string }) => {
      const { keyId, items } = await readIndex(o.storage);
      say(`${o.storage}: ${items.length} items, key ${keyId.slice(0, 16)}`);
      for (const i of items) say(`${i.name}\t${i.size} bytes`);
    });

  shared(program.command('add'))
    .description('add an item from a file (an existing item is replaced only with --replace)')
    .argument('<NAME>')
    .argument('<FILE>')
    .option('--replace', 'replace an item of that name (never a hot-wallet key)')
    .action(async (name: string, file: string, o: Common & { replace?: boolean }) => {
      checkItemName(name);
      const value = readItemFile(file);
      try {
        checkItemValue(name, value);
      } catch (e) {
        wipe(value);
        throw e;
      }
      try {
        await withStore(o.dir, o.storage, input(o), say, async (store, master) => {
          if (store.has(name) && !o.replace)
            throw new EsmanError('exists', `${o.storage} already has ${name}: add --replace to replace it`);
          if (store.has(name)) refuseHotWallet(store, name, value);
          store.set(name, value);
          await store.save(master);
        });
      } finally {
        wipe(value);
      }
      say(`added ${name} (${value.length} bytes) to ${o.storage}`);
    });

  shared(program.command('delete'))
    .description(
      'delete an item; a hot wallet (Coin.<TAG>.JSON, a key_item, or any item holding a coin key) only once its node says it is empty and its name is typed back',
    )
    .argument('<NAME>')
    .option('--node-url <URL>', "hot wallet: the coin's node, asked for the address's balance (with --chain-id for ETH and ETC)")
    .option('--chain-id <N>', 'hot wallet of ETH or ETC with --node-url: the chain the node must be on', int('--chain-id'))
    .option('--config <FILE>', "hot wallet: payserv's configuration, whose [coins.TAG] names the node, its chain and the key_item")
    .option('--network <net>', "hot wallet of Zcash with --node-url: mainnet or testnet (default: the stored address's, else mainnet)")
    .option('--yes', 'hot wallet: no typed confirmation (scripts); the balance is checked all the same')
    .action(async (name: string, o: DeleteOpts) => {
      checkItemName(name);
      // Made when asked, after the passphrases: a reader made before would take the keys typed for them as lines.
      const askLine = (prompt: string) => (io.stderr.write(prompt), new LineReader(io.stdin).next());
      try {
        await deleteItem(name, o, input(o), askLine, say);
      } finally {
        // stdin may stay open (a terminal): nothing more is read from it.
        io.stdin.destroy();
      }
      say(`deleted ${name} from ${o.storage}`);
    });

  shared(program.command('export'))
    .description(
      'write a TLS item of dbgw, pscli or the back end to a new file (0600) where that service reads it; the value is never printed',
    )
    .argument('<NAME>', 'e.g. dbgw.TLS.KEY')
    .requiredOption('--to <FILE>', 'the file to create (an existing file is refused), e.g. /var/lib/dbgw/pki/tls/dbgw.key')
    .action(async (name: string, o: Common & { to: string }) => {
      if (o.to === '-') throw new EsmanError('bad_option', '--to -: a key is never written to stdout; name the file to create');
      await refuseAbsent(o.storage, name);
      checkExportable(name);
      if (existsSync(o.to)) throw fileExists(o.to);
      let size = 0;
      await withStore(o.dir, o.storage, input(o), say, async (store) => {
        const value = store.get(name);
        size = value.length;
        try {
          await writeNewFile(o.to, value);
        } finally {
          wipe(value);
        }
      });
      say(`exported ${name} (${size} bytes) to ${o.to} (mode 0600)`);
    });

  shared(program.command('wallet'))
    .description("generate a coin's hot-wallet key inside the store (item Coin.<TAG>.JSON) and print the address to fund")
    .requiredOption('--coin <TAG>', 'ETH, ETC, ZEC, or a Bitcoin-family coin of --config')
    .option('--network <net>', 'Zcash network: mainnet or testnet', 'mainnet')
    .option('--config <FILE>', 'payserv\'s configuration: a Bitcoin-family coin\'s [coins.TAG] chain = "btc", network and wallet_type')
    .action(async (o: Common & { coin: string; network: string; config?: string }) => {
      // Loaded here only: the chain code (viem) would cost every other esman command seconds at start.
      const [{ familyOf }, { hotWalletAddress }] = await Promise.all([
        import('../../chains/coin-chain.js'),
        import('../../keys/hot-wallet.js'),
      ]);
      if (!/^[A-Z0-9]{2,10}$/.test(o.coin)) throw new EsmanError('bad_option', `--coin ${o.coin}: expected a coin tag such as ETH`);
      if (o.network !== 'mainnet' && o.network !== 'testnet')
        throw new EsmanError('bad_option', `--network ${o.network}: expected mainnet or testnet`);
      const coins = o.config === undefined ? {} : (await readPayserv(o.config)).coins;
      if (familyOf(o.coin, coins) === 'manual')
        throw new EsmanError(
          'bad_option',
          `--coin ${o.coin}: payserv holds hot wallets for ETH, ETC, ZEC and the Bitcoin-family coins of its configuration ` +
            `([coins.${o.coin}] chain = "btc" in the payserv.toml given with --config)`,
        );
      const key = new Uint8Array(randomBytes(32));
      const address = hotWalletAddress(o.coin, key, o.network, coins);
      await withStore(o.dir, o.storage, input(o), say, async (store, master) => {
        if (store.has(coinItem(o.coin)))
          throw new EsmanError('exists', `${o.storage} already has ${coinItem(o.coin)}: a hot-wallet key is never replaced here`);
        const value = encodeCoinItem({ coin: o.coin, privateKey: key, address });
        store.set(coinItem(o.coin), value);
        wipe(value);
        await store.save(master);
      });
      wipe(key);
      say(`${coinItem(o.coin)}: hot wallet ${address} (fund this address)`);
    });

  split(shared(program.command('rekey')))
    .description('new master key and new shares for the same items; the old shares stop working')
    .requiredOption('--new-dir <D2>', 'where the new shares go (must hold none)')
    .action(async (o: Common & SplitOpts & { newDir: string }) => {
      // Before any passphrase or KDF work: where the new shares go.
      if (resolve(o.newDir) === resolve(o.dir))
        throw new EsmanError(
          'exists',
          `--new-dir ${o.newDir} is --dir: the new shares go to another directory, the old ones stay until it worked`,
        );
      await checkNewShares(o.newDir, o);
      const pass = input(o);
      await withStore(
        o.dir,
        o.storage,
        pass,
        say,
        async (store) => {
          const master = newMasterKey();
          try {
            // New shares first: until the store is rewritten the old key still opens it, so a crash loses nothing.
            await newShares(o.newDir, master, o, pass, say);
            await store.save(master);
            say(`${o.storage} resealed under key ${hex(keyIdOf(master)).slice(0, 16)}; the shares in ${o.dir} no longer open it`);
          } finally {
            wipe(master);
          }
        },
        true,
      );
    });

  shared(program.command('manager'))
    .description('rebuild the key and hand it to a starting payserv on loopback, each time an operator types "y"')
    .option('--listen <host:port>', 'loopback address to listen on', '127.0.0.1:7444')
    .option('--count <N>', 'keys to hand out before exiting', int('--count'), 1)
    .action(async (o: Common & { listen: string; count: number }) => {
      loopbackEndpoint(o.listen, '--listen');
      if (o.count < 1) throw new EsmanError('bad_option', '--count: expected at least 1');
      if (o.passphraseFd === 0)
        throw new EsmanError(
          'bad_option',
          '--passphrase-fd 0: stdin carries the answers to key requests; give the passphrases on another descriptor (e.g. --passphrase-fd 3 3<FILE)',
        );
      try {
        await serveKeys(o, io, say);
      } finally {
        // stdin may stay open (a terminal): nothing more is read from it.
        io.stdin.destroy();
      }
    });
}

/** `esman manager`'s work: the store opened once, then the key handed to each request an operator allows, until payserv took `count`. */
async function serveKeys(o: Common & { listen: string; count: number }, io: EsmanIo, say: (s: string) => void): Promise<void> {
  const { host, port } = loopbackEndpoint(o.listen, '--listen');
  await withStore(o.dir, o.storage, passphrases(o.passphraseFd, io.stdin, io.stderr as never), say, async (store, master) => {
    say(`${o.storage} opens with this key: ${store.list().length} items`);
    const answers = new LineReader(io.stdin);
    const m = await startManager({
      master,
      host,
      port,
      count: o.count,
      say,
      async ask(peer) {
        io.stdout.write(KEY_REQUEST_PROMPT(peer));
        return (await answers.next())?.trim() === 'y';
      },
    });
    say(`listening on ${m.host}:${m.port} for ${o.count} key request(s)`);
    // A key payserv refused rejects here, with payserv's code and message: the command fails (exit 1).
    await m.done;
    say('done: the key is wiped from memory');
  });
}
