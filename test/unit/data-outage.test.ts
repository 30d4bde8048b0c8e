// Which failures of payserv's data access are an outage (wait, retry, answer database_unavailable) and
// which are answers (a statement refused, a deployment fault): the line src/app/outage.ts draws.
import { describe, expect, it } from 'vitest';
import { RPC, RpcError } from '../../src/api/jsonrpc.js';
import { isDataOutage } from '../../src/app/outage.js';
import { DbError } from '../../src/db/db.js';
import { isConnectionError } from '../../src/db/reach.js';
import { DbgwDbError } from '../../src/dbgw/data.js';
import { RpcTransportError } from '../../src/rpc/client.js';

const coded = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('data outage', () => {
  it('a server down, a connection lost or refused, dbgw not reached or without its database: an outage', () => {
    const refused = coded('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED');
    expect(isConnectionError(new Error('cannot connect to PostgreSQL at postgres://u:***@h/db: refused', { cause: refused }))).toBe(true);
    expect(isConnectionError(coded('terminating connection due to administrator command', '57P01'))).toBe(true);
    expect(isConnectionError(coded('connection failure', '08006'))).toBe(true);
    expect(isConnectionError(new Error('Connection terminated unexpectedly'))).toBe(true);
    // dbgw passes the driver's code on as the SQLSTATE, and a lost connection's words behind the operation's name.
    expect(isDataOutage(new DbgwDbError('operation ledger.coins: Connection terminated unexpectedly', undefined))).toBe(true);
    expect(isDataOutage(new DbgwDbError('operation ledger.coins: connect ECONNREFUSED', 'ECONNREFUSED'))).toBe(true);
    const transport = new RpcTransportError('Dbgw.Query to 127.0.0.1:7445: connection refused', false, { cause: refused });
    expect(isDataOutage(new DbError('ledger.coins through dbgw at 127.0.0.1:7445: connection refused', { cause: transport }))).toBe(true);
    expect(isDataOutage(new DbError('begin session through dbgw', { cause: new RpcError(RPC.NOT_CONNECTED, 'no database') }))).toBe(true);
  });

  it('a statement refused, a TLS refusal or an unexpected failure: not an outage', () => {
    expect(isDataOutage(coded('duplicate key value violates unique constraint', '23505'))).toBe(false);
    expect(isDataOutage(new DbgwDbError('operation payouts.mark: deadlock detected', '40P01'))).toBe(false);
    expect(isDataOutage(new DbError('x', { cause: new RpcError(RPC.DB_ERROR, 'operation x: syntax error') }))).toBe(false);
    const tls = new RpcTransportError('Dbgw.Version: certificate refused', false, {
      cause: coded('bad cert', 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'),
    });
    expect(isDataOutage(tls)).toBe(false);
    expect(isDataOutage(new TypeError('x is undefined'))).toBe(false);
    expect(isDataOutage('a string')).toBe(false);
  });
});
