// What must hold whatever the schedule did. The chain is read directly (anvil, the stand-in in
// process), never through the proxies; which transaction pays which withdrawal comes from the
// harness's own record taken at the write-ahead commit, never from the database the attacker edits.
//
// Always (money): each withdrawal paid at most once on-chain; the hot wallet sends nothing the
// harness did not see signed, and every payment pays its withdrawal's own address its own value; a
// withdrawal ever seen credited back (processed) was never paid; one ever seen sent is paid.
// At the end of a schedule nothing detected (the ledger): nothing still in flight after settling;
// sent exactly when paid on-chain; each account's books balance (credited = sent + available + in
// flight); the operator's checks are clean.
import { anvilRpc } from '../../src/devnet/anvil.js';
import { formatProblem } from '../../src/ledger/problem.js';
import { add, formatAmount, parseAmount, sub, ZERO, type Amount } from '../../src/money/amount.js';
import { payValue } from '../../src/payserv/payments/value.js';
import { verifyAccount } from '../../src/verify/account.js';
import { short } from './faults.js';
import { TAGS, type Tag, type World } from './world.js';

/** A withdrawal as first seen by the harness (what it asked for can never change), and its status now. */
export interface SeenWithdrawal {
  id: number;
  userId: number;
  tag: Tag;
  address: string;
  amount: Amount;
  value: bigint;
  status: string;
}

interface MinedEth {
  ok: boolean;
  to: string;
  value: bigint;
}

/** Statuses that still owe the miner a payment (the debit stands, nothing final). */
const OPEN = new Set(['processing', 'pending', 'approved', 'sending', 'send_retry', 'send_error']);

export class Observer {
  readonly seen = new Map<number, SeenWithdrawal>();
  readonly creditedBack = new Set<number>();
  readonly sentSeen = new Set<number>();
  /** Every ETH transaction of the world found mined, by hash (mined stays mined: anvil does not reorganise). */
  readonly #minedEth = new Map<string, MinedEth>();

  constructor(private readonly world: World) {}

  /** Reads every withdrawal of the harness's miners: new ones are pinned as first seen, final statuses remembered. */
  async observe(): Promise<void> {
    const rows = await this.world.db.query<{
      id: number;
      user_id: number;
      coin_id: number;
      address: string;
      amount: string;
      fee: string;
      status: string;
    }>(
      'SELECT id, user_id, coin_id, address, amount::text, fee::text, status FROM finances_withdrawal_transaction WHERE parent_id IS NULL AND user_id >= 50000 ORDER BY id',
    );
    for (const r of rows) {
      const tag = this.world.tagOf(r.coin_id);
      if (!tag) continue;
      let s = this.seen.get(r.id);
      if (!s) {
        const amount = parseAmount(r.amount);
        s = {
          id: r.id,
          userId: r.user_id,
          tag,
          address: r.address,
          amount,
          value: payValue(this.world.coins[tag], { id: r.id, amount, fee: parseAmount(r.fee) }),
          status: r.status,
        };
        this.seen.set(r.id, s);
      }
      s.status = r.status;
      if (r.status === 'processed') this.creditedBack.add(r.id);
      if (r.status === 'sent') this.sentSeen.add(r.id);
    }
  }

  /** How many mined transactions pay each withdrawal; problems with what the hot wallets sent. */
  async paid(): Promise<{ count: Map<number, number>; problems: string[] }> {
    const count = new Map<number, number>();
    const problems: string[] = [];
    const bump = (id: number) => count.set(id, (count.get(id) ?? 0) + 1);
    const w = this.world;

    // Ethereum: each known transaction's receipt; the hot wallet's mined nonce count must be all of them.
    for (const s of w.signed.values()) {
      if (s.tag !== 'ETH' || this.#minedEth.has(s.hash)) continue;
      const receipt = (await anvilRpc(w.anvilUrl, 'eth_getTransactionReceipt', [s.hash])) as { status: string } | null;
      if (!receipt) continue;
      const tx = (await anvilRpc(w.anvilUrl, 'eth_getTransactionByHash', [s.hash])) as { to: string; value: string };
      this.#minedEth.set(s.hash, { ok: receipt.status === '0x1', to: tx.to.toLowerCase(), value: BigInt(tx.value) });
    }
    const nonce = Number(BigInt((await anvilRpc(w.anvilUrl, 'eth_getTransactionCount', [w.hot.ETH, 'latest'])) as string));
    if (nonce !== this.#minedEth.size) {
      problems.push(
        `ETH hot wallet has ${nonce} mined transactions, the harness saw ${this.#minedEth.size} of them signed by payserv: it sent something unrecorded`,
      );
    }
    for (const [hash, m] of this.#minedEth) {
      if (!m.ok) continue;
      const ids = w.signed.get(hash)?.withdrawals ?? [];
      const mine = ids.map((id) => this.seen.get(id)).find((x) => x && x.address.toLowerCase() === m.to && x.value === m.value);
      if (!mine)
        problems.push(`ETH ${short(hash)} paid ${m.value} wei to ${m.to}, which is none of withdrawals ${ids.join(', ')} as asked`);
      else bump(mine.id);
    }

    // Zcash: every transaction the node took is one the harness saw signed; mined outputs to each withdrawal's address.
    for (const r of w.zcash.received()) {
      if (!w.signed.has(r.txid)) problems.push(`the ZEC node took ${short(r.txid)}, which the harness never saw payserv sign`);
    }
    const addresses = new Set([...this.seen.values()].filter((s) => s.tag === 'ZEC').map((s) => s.address));
    for (const address of addresses) {
      for (const o of w.zcash.outputsTo(address)) {
        if (o.height === null) continue;
        const ids = w.signed.get(o.txid)?.withdrawals ?? [];
        const mine = ids.map((id) => this.seen.get(id)).find((x) => x && x.address === address && x.value === o.value);
        if (!mine)
          problems.push(
            `ZEC ${short(o.txid)} paid ${o.value} zatoshi to ${address}, which is none of withdrawals ${ids.join(', ')} as asked`,
          );
        else bump(mine.id);
      }
    }
    return { count, problems };
  }

  /** The money invariants, in any state (tampered, failed-stop, mid-schedule). */
  async money(): Promise<string[]> {
    const { count, problems } = await this.paid();
    for (const s of this.seen.values()) {
      const n = count.get(s.id) ?? 0;
      if (n > 1) problems.push(`withdrawal ${s.id} (${s.tag}) PAID ${n} TIMES on-chain`);
      if (n > 0 && this.creditedBack.has(s.id))
        problems.push(`withdrawal ${s.id} (${s.tag}) was credited back (processed) and is paid on-chain`);
      if (n === 0 && this.sentSeen.has(s.id))
        problems.push(`withdrawal ${s.id} (${s.tag}) was recorded sent and is not paid on-chain: lost`);
    }
    return problems;
  }

  /** The chain's balances against what the paid withdrawals explain (an address paid by no withdrawal, the attacker's). */
  async balances(attacker: Record<Tag, string>): Promise<string[]> {
    const { count } = await this.paid();
    const expect = new Map<string, bigint>();
    for (const s of this.seen.values()) {
      const k = `${s.tag}:${s.tag === 'ETH' ? s.address.toLowerCase() : s.address}`;
      expect.set(k, (expect.get(k) ?? 0n) + BigInt(count.get(s.id) ?? 0) * s.value);
    }
    for (const tag of TAGS) expect.set(`${tag}:${tag === 'ETH' ? attacker.ETH.toLowerCase() : attacker[tag]}`, 0n);
    const out: string[] = [];
    for (const [k, want] of expect) {
      const [tag, address] = k.split(':') as [Tag, string];
      const got =
        tag === 'ETH'
          ? BigInt((await anvilRpc(this.world.anvilUrl, 'eth_getBalance', [address, 'latest'])) as string)
          : this.world.zcash.paidTo(address);
      if (got !== want) out.push(`${tag} address ${address} holds ${got}, the paid withdrawals to it explain ${want}`);
    }
    return out;
  }

  /** The ledger against the chain and the books, once settled with nothing detected. */
  async ledger(): Promise<string[]> {
    await this.observe();
    const { count, problems } = await this.paid();
    for (const s of this.seen.values()) {
      const n = count.get(s.id) ?? 0;
      if (s.status === 'sending') problems.push(`withdrawal ${s.id} (${s.tag}) is still sending after settling`);
      else if ((s.status === 'sent') !== (n === 1))
        problems.push(`withdrawal ${s.id} (${s.tag}) is ${s.status} and paid ${n} time(s) on-chain`);
    }
    const view = await this.world.view();
    for (const [key, credited] of this.world.credited) {
      const [user, tag] = key.split(':') as [string, Tag];
      const userId = Number(user);
      const a = await verifyAccount(view, userId, this.world.coins[tag].id, 'full');
      if (a.problems.length) {
        problems.push(`account ${key} does not verify: ${a.problems.slice(0, 2).map(formatProblem).join('; ')}`);
        continue;
      }
      const mine = [...this.seen.values()].filter((s) => s.userId === userId && s.tag === tag);
      const sent = mine.filter((s) => s.status === 'sent').reduce((x, s) => add(x, s.amount), ZERO);
      const inFlight = mine.filter((s) => OPEN.has(s.status)).reduce((x, s) => add(x, s.amount), ZERO);
      const available = sub(a.creditTotal, a.debitTotal);
      if (a.creditTotal !== credited)
        problems.push(`account ${key}: credits ${formatAmount(a.creditTotal)}, the pool credited ${formatAmount(credited)}`);
      const books = add(add(sent, available), inFlight);
      if (books !== credited) {
        problems.push(
          `account ${key}: sent ${formatAmount(sent)} + available ${formatAmount(available)} + in flight ${formatAmount(inFlight)} = ${formatAmount(books)}, credited ${formatAmount(credited)}: lost or made up`,
        );
      }
    }
    problems.push(...(await this.world.checks()).map((p) => `operator's checks: ${formatProblem(p)}`));
    return problems;
  }
}
