// The demo's second half: payserv as the pool runs it, driven over mutual-TLS JSON-RPC by the pool's
// admin back end and by an operator's pscli, with an attack that stops payouts.
import { readFileSync } from 'node:fs';
import { loadConfig } from '../config/load.js';
import type { Db } from '../db/db.js';
import { createLogger } from '../log/index.js';
import type { PayoutResult } from '../payserv/api.js';
import { collectAuditProblems } from '../payserv/audit.js';
import { startPayserv } from '../payserv/service.js';
import { pkiPaths } from '../pki/files.js';
import type { TlsIdentity } from '../pki/roles.js';
import { RpcClient } from '../rpc/client.js';
import { RpcError } from '../rpc/jsonrpc.js';

type Out = (s?: string) => void;

function clientFor(stateDir: string, identity: TlsIdentity, port: number): RpcClient {
  const p = pkiPaths(stateDir);
  return new RpcClient({
    host: '127.0.0.1', port, timeoutMs: 60_000,
    tls: { certPem: readFileSync(p.tlsCert(identity), 'utf8'), keyPem: readFileSync(p.tlsKey(identity), 'utf8'), caPem: readFileSync(p.root, 'utf8') },
  });
}

export async function demoOverRpc(db: Db, stateDir: string, out: Out): Promise<boolean> {
  const config = await loadConfig('payserv', undefined, { stateDir, env: {} });
  // An automatic-approval rule for ETH only, so both outcomes show: small ETH withdrawals are approved, the rest wait.
  config.policy = { ETH: { amount_max: '0.05', user_daily_max: '0.1', coin_daily_max: '10', wallet_age_hours_min: 0 } };
  config.rpc.port = 0;
  const logs: string[] = [];
  const running = await startPayserv(config, createLogger('payserv', 'info', { write: (s: string) => void logs.push(s) }), db);
  const backend = clientFor(stateDir, 'backend', running.server.port);
  const pscli = clientFor(stateDir, 'pscli', running.server.port);
  try {
    out(`8. payserv listening on 127.0.0.1:${running.server.port} (TLS 1.3, client certificates of the project's CA only); payouts start disabled:`);
    // 20 requests of each coin: ETH has an approval rule, ZEC none, so both outcomes show.
    const first = (await db.query<{ id: number }>(
      `SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY coin_id ORDER BY id) AS n FROM finances_withdrawal_transaction WHERE status = 'processing') r
       WHERE n <= 20 ORDER BY id`)).map((r) => r.id);
    const refused = await backend.call<PayoutResult>('PayServ.Process', [first[0] as number]);
    out(`   back end → PayServ.Process(${first[0]}): REPLY: [${refused.reply}] ${refused.message ?? ''}`);
    const check = await pscli.call<{ clean: boolean }>('Check.BalanceErrors');
    await pscli.call('Utils.Enable');
    out(`   operator → Check.BalanceErrors: ${check.clean ? 'clean' : 'PROBLEMS'}; Utils.Enable: payouts enabled`);
    const forbidden = await backend.call('Utils.Disable').then(() => 'allowed?!', (e: RpcError) => `refused (${e.code}: ${e.message})`);
    out(`   back end → Utils.Disable: ${forbidden}`);

    const tally = new Map<string, number>();
    const pending: number[] = [];
    for (const id of first) {
      const r = await backend.call<PayoutResult>('PayServ.Process', [id]);
      tally.set(r.reply, (tally.get(r.reply) ?? 0) + 1);
      if (r.reply === 'PENDING') pending.push(id);
    }
    out(`9. back end → PayServ.Process on ${first.length} requests: ${[...tally].map(([k, v]) => `${v} ${k}`).join(', ')}`);
    let sent = 0;
    for (const id of pending.slice(0, 10)) {
      const a = await pscli.call<PayoutResult>('PayServ.Approve', [id]);
      const s = a.reply === 'APPROVED' ? await pscli.call<PayoutResult>('PayServ.Send', [id]) : a;
      if (s.reply === 'SENT') sent++;
    }
    out(`   manager → PayServ.Approve then (paid by hand) PayServ.Send on ${Math.min(10, pending.length)} pending: ${sent} SENT`);

    // The attack: one credit of a user with an open request is raised in place (triggers dropped first).
    const [victim] = await db.query<{ id: number; user_id: number; coin_id: number; credit: number }>(
      `SELECT w.id, w.user_id, w.coin_id, (SELECT max(c.id) FROM finances_user_balance_transaction c WHERE c.user_id = w.user_id AND c.coin_id = w.coin_id) AS credit
       FROM finances_withdrawal_transaction w WHERE w.status = 'processing' ORDER BY w.id LIMIT 1`);
    if (victim) {
      const raise = `ALTER TABLE finances_user_balance_transaction DISABLE TRIGGER USER;
        UPDATE finances_user_balance_transaction SET amount = amount + 1000 WHERE id = ${victim.credit};
        ALTER TABLE finances_user_balance_transaction ENABLE TRIGGER USER;`;
      await db.exec(raise);
      const r = await backend.call<PayoutResult>('PayServ.Process', [victim.id]);
      const s = await pscli.call<{ enabled: boolean; reason: string }>('Utils.Status');
      out(`10. attacker adds 1000 to credit ${victim.credit} of user ${victim.user_id}; back end → PayServ.Process(${victim.id}): REPLY: [${r.reply}]`);
      out(`    payserv is now ${s.enabled ? 'ENABLED?!' : 'DISABLED'}: ${s.reason}`);
      const after = pending[10] ? await pscli.call<PayoutResult>('PayServ.Approve', [pending[10]]) : null;
      if (after) out(`    any other payout meanwhile, e.g. PayServ.Approve(${pending[10]}): REPLY: [${after.reply}]`);
      await db.exec(raise.replace('amount + 1000', 'amount - 1000'));
      const clean = await pscli.call<{ clean: boolean }>('Check.BalanceErrors');
      await pscli.call('Utils.Enable');
      out(`    the operator restores the row, the checks are ${clean.clean ? 'clean' : 'NOT clean'}, and enables payouts again`);
    }
    await running.stop();
    const audit = await collectAuditProblems(db, stateDir);
    const [{ n }] = (await db.query<{ n: number }>('SELECT count(*)::bigint AS n FROM payserv_audit')) as [{ n: number }];
    out(`11. audit trail: ${n} calls recorded in a hash chain, ${audit.length ? `${audit.length} PROBLEMS` : 'verified (pscli audit verify)'}`);
    return audit.length === 0;
  } finally {
    backend.close();
    pscli.close();
    await running.stop().catch(() => undefined);
  }
}

