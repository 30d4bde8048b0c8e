// Validating a method's params against a service's contract (payserv: METHODS in src/api/payserv.ts;
// dbgw: src/api/dbgw.ts), and turning zod's issues into one line that names the parameter: the pool's
// back end is written by other people, and "Invalid input" alone would send them reading our source.
import type { z } from 'zod';
import { ACL, METHODS, type Method } from '../api/payserv.js';
import type { TlsIdentity } from '../pki/roles.js';
import { layerError, RPC, type RpcError } from '../api/jsonrpc.js';

/** A service's methods: their params' schemas, and which client identity may call which. */
export interface RpcContract<M extends string> {
  methods: Record<M, z.ZodType>;
  allowed(identity: TlsIdentity, method: M): boolean;
}

export const PAYSERV_CONTRACT: RpcContract<Method> = { methods: METHODS, allowed: (identity, method) => ACL[identity](method) };

/** One problem with the params, as sent in the error's data. Never the value itself: the caller has it. */
export interface ParamIssue {
  /** Where, as `params`, `params.id` or `params[0]`. */
  path: string;
  message: string;
}

export function isMethod<M extends string>(contract: RpcContract<M>, name: string): name is M {
  return Object.hasOwn(contract.methods, name);
}

/** The validated params (what the schema outputs), or the -32602 error to answer with. */
export function validateParams<M extends string>(
  contract: RpcContract<M>,
  method: M,
  params: unknown,
): { ok: true; params: unknown } | { ok: false; error: RpcError } {
  const r = contract.methods[method].safeParse(params);
  if (r.success) return { ok: true, params: r.data };
  const issues = describeIssues(r.error.issues, params);
  const message = `invalid params for ${method}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`;
  return { ok: false, error: layerError(RPC.INVALID_PARAMS, 'bad_params', message, { issues }) };
}

function pathText(path: readonly PropertyKey[]): string {
  let s = 'params';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : `.${String(p)}`;
  return s;
}

/** zod's names for what a caller writing JSON calls an array or an object. */
const JSON_KINDS: Record<string, string> = { tuple: 'an array', array: 'an array', object: 'an object' };

function kindOf(x: unknown): string {
  if (x === undefined) return 'nothing';
  if (x === null) return 'null';
  return Array.isArray(x) ? 'an array' : `a ${typeof x}`;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const p of path) v = typeof v === 'object' && v !== null ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  return v;
}

/** An issue that only says "this branch expects another shape" (an array where an object was sent, say). */
const isShapeMismatch = (i: z.core.$ZodIssue) => i.path.length === 0 && i.code === 'invalid_type';

function flatten(issues: readonly z.core.$ZodIssue[], input: unknown): ParamIssue[] {
  const out: ParamIssue[] = [];
  for (const issue of issues) {
    if (issue.code === 'invalid_union') {
      // Every method takes positional ([id]) or named ({id}) params, a union of two shapes. Report the
      // branch whose shape the caller chose; if none fits, say which shapes would.
      const fitting = issue.errors.filter((branch) => !branch.every(isShapeMismatch));
      if (fitting.length === 0) {
        const expected = issue.errors
          .flatMap((b) => b.map((i) => (i.code === 'invalid_type' ? (JSON_KINDS[i.expected] ?? i.expected) : null)))
          .filter((e) => e !== null);
        out.push({
          path: pathText(issue.path),
          message: `expected ${[...new Set(expected)].join(' or ')}, received ${kindOf(valueAt(input, issue.path))}`,
        });
      } else {
        // Union branches report paths relative to the union itself.
        for (const branch of fitting) {
          for (const i of flatten(branch, valueAt(input, issue.path)))
            out.push(issue.path.length ? { ...i, path: pathText(issue.path) + i.path.slice('params'.length) } : i);
        }
      }
      continue;
    }
    if (issue.code === 'unrecognized_keys') {
      out.push({
        path: pathText(issue.path),
        message: `unknown ${issue.keys.length > 1 ? 'keys' : 'key'} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`,
      });
      continue;
    }
    out.push({ path: pathText(issue.path), message: issue.message });
  }
  return out;
}

/** zod can report several issues for one path (2^60 is both above the safe range and above the max): the first says it. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], input: unknown): ParamIssue[] {
  const seen = new Set<string>();
  return flatten(issues, input).filter((i) => (seen.has(i.path) ? false : (seen.add(i.path), true)));
}
