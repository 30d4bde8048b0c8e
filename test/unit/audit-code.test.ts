// The refusal code in the audit trail, without a database: which outcome keeps which code, and how the
// code enters a row's hash (a row without one hashes as rows did before codes were recorded).
import { describe, expect, it } from 'vitest';
import { layerError, RPC, RpcError } from '../../src/api/jsonrpc.js';
import { refusal, REFUSAL_CODES } from '../../src/api/payserv.js';
import { auditCodeOf, auditHash, type AuditRow } from '../../src/payserv/audit.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('audit: refusal codes', () => {
  it('keeps the code of an ERROR or DECLINED reply, and none for other replies', () => {
    expect(auditCodeOf({ result: { reply: 'ERROR', code: 'wrong_status', id: 7 } })).toBe('wrong_status');
    expect(auditCodeOf({ result: { reply: 'DECLINED', code: 'below_fee', id: 7 } })).toBe('below_fee');
    // PENDING's policy is no refusal; a reply without a code, or a result that is no reply, has none.
    expect(auditCodeOf({ result: { reply: 'PENDING', code: 'policy', id: 7 } })).toBeUndefined();
    expect(auditCodeOf({ result: { reply: 'SENT', id: 7 } })).toBeUndefined();
    expect(auditCodeOf({ result: null })).toBeUndefined();
    expect(auditCodeOf({ result: [{ reply: 'ERROR', code: 'busy' }] })).toBeUndefined();
    // A word that is no refusal code is not recorded as one.
    expect(auditCodeOf({ result: { reply: 'ERROR', code: 'Not A Code' } })).toBeUndefined();
  });

  it("keeps an RPC error's data.code, the RPC layer's included; anything else thrown is internal", () => {
    expect(auditCodeOf({ error: refusal('unknown_coin', 'unknown coin NOPE') })).toBe('unknown_coin');
    expect(auditCodeOf({ error: layerError(RPC.INVALID_PARAMS, 'bad_params', 'bad', { issues: [] }) })).toBe('bad_params');
    expect(auditCodeOf({ error: new RpcError(RPC.BUSY, 'busy', { retryAfterMs: 5 }) })).toBeUndefined();
    expect(auditCodeOf({ error: new RpcError(RPC.BUSY, 'busy', { code: 'toString' }) })).toBeUndefined();
    expect(auditCodeOf({ error: new Error('boom') })).toBe('internal');
    expect(auditCodeOf({ error: 'a thrown string' })).toBe('internal');
  });

  it('lists every code of the RPC layer among the refusal codes', () => {
    for (const code of ['bad_request', 'unknown_method', 'forbidden', 'bad_params', 'shutting_down', 'overloaded', 'timeout', 'internal'])
      expect(Object.keys(REFUSAL_CODES), code).toContain(code);
  });

  it('hashes a row without a code as before codes were recorded, and the code when there is one', () => {
    const row: Omit<AuditRow, 'hash'> = {
      id: 7,
      at: new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 678)),
      client: 'backend CN=pool',
      method: 'PayServ.Approve',
      target: '42',
      reply: 'ERROR',
      durationMs: 12,
      prevHash: new Uint8Array(32).fill(9),
    };
    // Computed by the encoding before the code existed: older rows must still verify.
    const before = 'd052397063f61cb052a5f89dd0d0300245b6700a650c9f1b96902558467cd6c8';
    expect(hex(auditHash(row))).toBe(before);
    expect(hex(auditHash({ ...row, code: null }))).toBe(before);
    const coded = hex(auditHash({ ...row, code: 'wrong_status' }));
    expect(coded).not.toBe(before);
    expect(hex(auditHash({ ...row, code: 'busy' }))).not.toBe(coded);
    // The code is its own field: moved into the reply, it hashes otherwise.
    expect(hex(auditHash({ ...row, reply: 'ERRORwrong_status' }))).not.toBe(coded);
  });
});
