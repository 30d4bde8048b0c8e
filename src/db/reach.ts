// Whether a database failure is the database being out of reach (a server down, a network cut, a
// connection dropped) rather than a statement it refused: the first is an outage that passes, the
// second an answer. pg reports the first with a Node errno code, a connection SQLSTATE or, for a
// connection it lost mid-use, only a message.

/** Node's codes for a peer that cannot be reached or went away. */
const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
/** SQLSTATE class 08 (connection exception); 57P01-57P03: the server shutting down, crashed, or not accepting connections yet. */
const CONNECTION_SQLSTATE = /^(08...|57P0[1-3])$/;
/** pg's own words for a connection it lost or could not get in time (no code; dbgw passes them on behind the operation's name). */
const LOST = /(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/;

/** This error, or one in its cause chain, says the database could not be reached. */
export function isConnectionError(e: unknown): boolean {
  for (let c = e, depth = 0; c instanceof Error && depth < 8; c = c.cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && (NET_CODES.has(code) || CONNECTION_SQLSTATE.test(code))) return true;
    if (LOST.test(c.message)) return true;
  }
  return false;
}
