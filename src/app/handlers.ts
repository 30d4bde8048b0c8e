import type { TlsIdentity } from '../pki/roles.js';
import { coinOfParams, idOf, type Method, type ParamsOf } from '../api/payserv.js';
import {
  applyCorrectionCall,
  check,
  coinIdByTag,
  enablePayouts,
  isProcessing,
  listLocks,
  rebaselineCall,
  signAllWallets,
  signCoinById,
  signWalletById,
  status,
  transInfo,
  VERSION,
} from '../payserv/admin.js';
import { autopayFor } from '../autopay/service.js';
import { resolveCoin } from '../autopay/resolve.js';
import { autopayStatus } from '../autopay/status.js';
import { restoreFromJournal } from '../payserv/payments/restore.js';
import { takeBackup } from '../payserv/backup.js';
import { refusal } from '../api/payserv.js';
import type { Payserv } from '../payserv/context.js';
import {
  approveWithdrawal,
  checkWithdrawal,
  declineRequest,
  processWithdrawal,
  resendWithdrawal,
  sendCoin,
  sendWithdrawal,
} from '../payserv/payouts.js';

// From a JSON-RPC method (already allowed for the caller and with validated parameters) to the code
// that does it. One table, so the set of things payserv can be asked to do is read in one place.

export interface CallContext {
  identity: TlsIdentity;
  commonName: string;
  operator?: string;
  via?: 'dashboard';
}

type Handler<M extends Method> = (ps: Payserv, params: ParamsOf<M>, caller: string, ctx: CallContext) => Promise<unknown> | unknown;

const HANDLERS: { [M in Method]: Handler<M> } = {
  'PayServ.Process': (ps, p, c) => processWithdrawal(ps, idOf(p), c),
  'PayServ.Decline': (ps, p, c) => declineRequest(ps, idOf(p), c),
  'PayServ.Approve': (ps, p, c) => approveWithdrawal(ps, idOf(p), c),
  'PayServ.Resend': (ps, p, c) => resendWithdrawal(ps, idOf(p), c),
  'PayServ.Check': (ps, p, c) => checkWithdrawal(ps, idOf(p), c),
  'PayServ.Send': (ps, p, c) => sendWithdrawal(ps, idOf(p), c),
  'PayServ.SendCoin': (ps, p, c) => sendCoin(ps, coinOfParams(p), c),
  'Utils.Enable': (ps, _p, c) => enablePayouts(ps, c),
  'Utils.Disable': (ps, _p, c) => (ps.state.disable(c, `disabled by ${c}`), status(ps)),
  'Utils.Status': (ps) => status(ps),
  'Utils.ListLocks': (ps) => listLocks(ps),
  'Utils.IsProcessing': (ps, p) => isProcessing(ps, idOf(p)),
  'Utils.Version': () => VERSION,
  'Utils.TransInfo': (ps, p) => transInfo(ps, idOf(p)),
  'Check.Balances': (ps) => check(ps, 'balances', {}),
  'Check.Balance': async (ps, p) => check(ps, 'balance', { userId: p.user, coinId: await coinIdByTag(ps, p.coin) }),
  'Check.Coins': (ps) => check(ps, 'coins', {}),
  'Check.Wallets': (ps) => check(ps, 'wallets', {}),
  'Check.ProxyPool': async (ps, p) => check(ps, 'proxypool', { coinId: await coinIdByTag(ps, coinOfParams(p)) }),
  'Check.BalanceErrors': (ps) => check(ps, 'balanceerrors', {}),
  'Coins.Sign': (ps, p) => signCoinById(ps, idOf(p)),
  'Wallets.Sign': (ps, p) => signWalletById(ps, idOf(p)),
  'Wallets.SignAll': (ps) => signAllWallets(ps),
  'Autopay.Run': (ps, p, c) => autopayFor(ps).runNow(coinOfParams(p).toUpperCase(), c),
  'Autopay.Resolve': (ps, p, c) => resolveCoin(ps, coinOfParams(p).toUpperCase(), c),
  'Autopay.Status': (ps) => autopayStatus(ps, autopayFor(ps).last()),
  'Corrections.Apply': (ps, p, c) => applyCorrectionCall(ps, p, c),
  'Journal.Restore': (ps, _p, c) => restoreFromJournal(ps, c),
  'Backup.Take': (ps, _p, c) => {
    if (!ps.backup) throw refusal('backup_failed', 'this payserv has no [backup] settings: backups are taken by a started payserv');
    return takeBackup(ps, ps.backup, c);
  },
  // The person, from their own certificate: the shared pscli identity names nobody and counts for nobody.
  'Utils.Rebaseline': (ps, p, _c, ctx) => rebaselineCall(ps, ctx.operator, p.reason),
};

/**
 * Who asked, as the audit trail and the ledger record it: "pscli (pscli tls)", or for a person "pscli (operator alice)",
 * and "pscli (operator alice via dashboard)" for a call made from the operator dashboard.
 */
export function callerOf(ctx: CallContext): string {
  const via = ctx.via ? ` via ${ctx.via}` : '';
  return ctx.operator ? `${ctx.identity} (operator ${ctx.operator}${via})` : `${ctx.identity} (${ctx.commonName}${via})`;
}

export async function dispatch(ps: Payserv, method: Method, params: unknown, ctx: CallContext): Promise<unknown> {
  const h = HANDLERS[method] as Handler<Method>;
  return h(ps, params as ParamsOf<Method>, callerOf(ctx), ctx);
}
