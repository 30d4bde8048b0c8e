// JSON-RPC 2.0 as payserv speaks it: the wire types, the error codes, and the parsing of one request
// and one response. No I/O here, so the server and the client agree on the envelope by construction.
//
// Deliberately narrower than the specification, because every method here moves or reports money and
// its caller must see the outcome:
//  - one request per HTTP request: a batch is refused (-32600), so one body is one method, one ACL
//    decision, one log line;
//  - no notifications: a request without "id" is refused (-32600), since a payout run for a caller
//    that asked not to hear back could only be found again through the ledger;
//  - no unknown members in the envelope: a misspelt "parmas" must not silently mean "no params".

/** The error codes payserv returns: the standard ones and three of its own (-32000 to -32099 is the server range). */
export const RPC = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /** The caller's identity may not call this method (ACL in src/api/payserv.ts). */
  FORBIDDEN: -32001,
  /** The server is shutting down: nothing was run; try again on the next instance. */
  SHUTTING_DOWN: -32002,
  /** Too many requests in flight: nothing was run; try again later. */
  BUSY: -32003,
  /** dbgw has no database yet (payserv hands it the parameters once its key store is open): nothing was run. */
  NOT_CONNECTED: -32004,
  /** dbgw: the database refused the operation (its message and SQLSTATE in the error); a transaction it was in must be rolled back. */
  DB_ERROR: -32005,
} as const;

/**
 * The stable word in `error.data.code` of every error the RPC layer itself answers (listed with payserv's
 * refusal codes, README "Refusal codes"): callers branch on it, not on the message or the number, which
 * the standard shares between causes (-32603 is both a failure and a timeout whose outcome is unknown).
 */
export type RpcLayerCode =
  'bad_request' | 'unknown_method' | 'forbidden' | 'bad_params' | 'shutting_down' | 'overloaded' | 'timeout' | 'internal';

/** An error of the RPC layer: its JSON-RPC number, and its word in `data.code` beside any other data. */
export function layerError(rpcCode: number, code: RpcLayerCode, message: string, data: Record<string, unknown> = {}): RpcError {
  return new RpcError(rpcCode, message, { code, ...data });
}

/** The message every unexpected failure is reported with: the real one, which may hold a stack, a path or a secret, goes to the log only. */
export const INTERNAL_MESSAGE = 'internal error (see the server log)';

/** A JSON-RPC id: null is allowed by the specification (for callers that cannot tell requests apart). */
export type RpcId = string | number | null;

/** Longest string id accepted: ids are logged, so they must stay short. */
export const RPC_ID_MAX_CHARS = 128;

export interface RpcRequest {
  jsonrpc: '2.0';
  method: string;
  /** Absent params are undefined: the method's schema decides whether that is allowed. */
  params: unknown[] | Record<string, unknown> | undefined;
  id: RpcId;
}

export interface RpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export type RpcResponse = { jsonrpc: '2.0'; id: RpcId; result: unknown } | { jsonrpc: '2.0'; id: RpcId; error: RpcErrorObject };

/**
 * The error a handler throws to choose what the caller sees. Anything else a handler throws becomes
 * -32603 with a generic message. `data` is sent as is: put nothing secret in it.
 */
export class RpcError extends Error {
  override readonly name = 'RpcError';

  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }

  toJSON(): RpcErrorObject {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }
}

/** A refusal's stable code (`error.data.code`), or null for anything else. */
export function refusalCodeOf(e: unknown): string | null {
  if (!(e instanceof RpcError)) return null;
  const code = (e.data as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : null;
}

export function isRpcId(x: unknown): x is RpcId {
  if (x === null) return true;
  if (typeof x === 'string') return x.length <= RPC_ID_MAX_CHARS;
  // Fractions and integers beyond 2^53 would not round-trip through every JSON parser, so the reply could not be matched.
  return typeof x === 'number' && Number.isSafeInteger(x);
}

const isPlainObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

const REQUEST_MEMBERS = new Set(['jsonrpc', 'method', 'params', 'id']);

/** A request that could not be accepted, with the id to answer it with (null when the id itself was unreadable). */
export interface RefusedRequest {
  error: RpcError;
  id: RpcId;
}

export type ParsedRequest = { ok: true; request: RpcRequest } | ({ ok: false } & RefusedRequest);

const refuse = (code: number, message: string, id: RpcId = null): ParsedRequest => ({
  ok: false,
  error: layerError(code, 'bad_request', message),
  id,
});

/**
 * Parses one HTTP body into one request. Invalid UTF-8 counts as a parse error, like invalid JSON.
 * The id is read first, so that a request refused for another reason is still answered with its id.
 */
export function parseRequest(body: Uint8Array): ParsedRequest {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    // JSON.parse's message quotes the body: do not echo it.
    return refuse(RPC.PARSE_ERROR, 'parse error: the body is not valid JSON in UTF-8');
  }
  if (Array.isArray(value))
    return refuse(RPC.INVALID_REQUEST, 'invalid request: batches are not supported; send one request per HTTP request');
  if (!isPlainObject(value)) return refuse(RPC.INVALID_REQUEST, 'invalid request: expected a JSON object');
  if (!('id' in value)) return refuse(RPC.INVALID_REQUEST, 'invalid request: "id" is required (notifications are not supported)');
  if (!isRpcId(value.id)) {
    return refuse(
      RPC.INVALID_REQUEST,
      `invalid request: "id" must be a string of at most ${RPC_ID_MAX_CHARS} characters, a safe integer or null`,
    );
  }
  const id = value.id;
  if (value.jsonrpc !== '2.0') return refuse(RPC.INVALID_REQUEST, 'invalid request: "jsonrpc" must be "2.0"', id);
  if (typeof value.method !== 'string' || value.method === '')
    return refuse(RPC.INVALID_REQUEST, 'invalid request: "method" must be a non-empty string', id);
  const params = value.params;
  if (params !== undefined && !Array.isArray(params) && !isPlainObject(params)) {
    return refuse(RPC.INVALID_REQUEST, 'invalid request: "params" must be an array or an object when present', id);
  }
  const extra = Object.keys(value).filter((k) => !REQUEST_MEMBERS.has(k));
  if (extra.length > 0) return refuse(RPC.INVALID_REQUEST, `invalid request: unknown member ${JSON.stringify(extra[0]).slice(0, 40)}`, id);
  return { ok: true, request: { jsonrpc: '2.0', method: value.method, params, id } };
}

export function resultResponse(id: RpcId, result: unknown): RpcResponse {
  // undefined would make JSON.stringify drop "result", which the specification requires.
  return { jsonrpc: '2.0', id, result: result === undefined ? null : result };
}

export function errorResponse(id: RpcId, error: RpcError): RpcResponse {
  return { jsonrpc: '2.0', id, error: error.toJSON() };
}

/**
 * Reads a response on the client side. Returns null when the body is not a JSON-RPC 2.0 response at
 * all (a proxy's HTML page, say), so the caller reports the transport, not the method, as broken.
 */
export function parseResponse(text: string): RpcResponse | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isPlainObject(value) || value.jsonrpc !== '2.0' || !('id' in value) || !isRpcId(value.id)) return null;
  const id = value.id;
  if ('error' in value) {
    const e = value.error;
    if (!isPlainObject(e) || !Number.isSafeInteger(e.code) || typeof e.message !== 'string') return null;
    const error: RpcErrorObject = { code: e.code as number, message: e.message };
    if (e.data !== undefined) error.data = e.data;
    return { jsonrpc: '2.0', id, error };
  }
  if (!('result' in value)) return null;
  return { jsonrpc: '2.0', id, result: value.result };
}
