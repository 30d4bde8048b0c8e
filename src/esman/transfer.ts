// Handing the master key to a starting payserv. payserv makes an X25519 key pair for this one request
// and sends the public half; the manager, once an operator allows it, seals the key to it (X25519 →
// HKDF-SHA256 → AES-256-GCM, the whole exchange as associated data). Only that payserv can open it;
// and payserv accepts the key only if it rebuilds the store's key id and opens the store, which no one
// but a holder of the shares can fake. Messages are one line of JSON each.
import { randomBytes } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519';
import { hkdf } from '@noble/hashes/hkdf';
import { sha256 } from '@noble/hashes/sha2';
import { z } from 'zod';
import { NONCE_BYTES, open, seal } from './aead.js';
import { EsmanError, wipe } from './errors.js';
import { MASTER_KEY_BYTES } from './master-key.js';

const LABEL = Buffer.from('esman/transfer/v1');
export const PROTOCOL = 1;
/** A line longer than this is not a key request. */
export const LINE_BYTES_MAX = 4096;

const b64 = (bytes: number) =>
  z
    .string()
    .refine((s) => Buffer.from(s, 'base64').length === bytes && Buffer.from(Buffer.from(s, 'base64').toString('base64')).toString() === s);

export const requestSchema = z.strictObject({ esman: z.literal(PROTOCOL), pub: b64(32), nonce: b64(32) });
export type KeyRequest = z.infer<typeof requestSchema>;

export const replySchema = z.union([
  z.strictObject({ esman: z.literal(PROTOCOL), pub: b64(32), iv: b64(NONCE_BYTES), sealed: z.string().min(1).max(256) }),
  z.strictObject({ esman: z.literal(PROTOCOL), refused: z.string().max(200) }),
]);
export type KeyReply = z.infer<typeof replySchema>;

/** Bounds of payserv's refusal as the manager shows it: a code and a message naming files and items, never a value. */
export const REFUSAL_MESSAGE_MAX = 500;

/**
 * payserv's answer to a key, so that the manager reports what became of it: taken (the store opened and
 * gave every item payserv needs), or refused with payserv's code and message.
 */
export const ackSchema = z.union([
  z.strictObject({ esman: z.literal(PROTOCOL), taken: z.literal(true) }),
  z.strictObject({
    esman: z.literal(PROTOCOL),
    refusedKey: z.strictObject({ code: z.string().regex(/^[a-z_]{1,40}$/), message: z.string().max(REFUSAL_MESSAGE_MAX) }),
  }),
]);
export type KeyAck = z.infer<typeof ackSchema>;

/** The refusal payserv sends back for why `accept` did not take a key. */
export function refusalAck(e: unknown): KeyAck {
  const code = e instanceof EsmanError ? e.code : 'key_refused';
  const message = e instanceof Error ? e.message : String(e);
  return { esman: PROTOCOL, refusedKey: { code, message: message.slice(0, REFUSAL_MESSAGE_MAX) } };
}

export interface PendingRequest {
  request: KeyRequest;
  secret: Uint8Array;
}

export function newRequest(): PendingRequest {
  const secret = x25519.utils.randomPrivateKey();
  return {
    secret,
    request: {
      esman: PROTOCOL,
      pub: Buffer.from(x25519.getPublicKey(secret)).toString('base64'),
      nonce: randomBytes(32).toString('base64'),
    },
  };
}

/** What the manager prints and payserv logs, so an operator can see the request they allow is payserv's. */
export function fingerprint(r: KeyRequest): string {
  const h = Buffer.from(sha256(Buffer.concat([Buffer.from(r.pub, 'base64'), Buffer.from(r.nonce, 'base64')]))).toString('hex');
  return h.slice(0, 16).match(/.{4}/g)!.join('-');
}

function sessionKey(own: Uint8Array, theirs: Uint8Array, r: KeyRequest, mgrPub: Uint8Array): { key: Uint8Array; aad: Buffer } {
  // A low-order public key gives an all-zero secret anyone could compute (noble itself throws on it).
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(own, theirs);
  } catch {
    throw new EsmanError('bad_message', 'the key exchange carries a weak public key');
  }
  if (shared.every((b) => b === 0)) throw new EsmanError('bad_message', 'the key exchange carries a weak public key');
  const reqPub = Buffer.from(r.pub, 'base64');
  const aad = Buffer.concat([LABEL, reqPub, Buffer.from(r.nonce, 'base64'), mgrPub]);
  const key = hkdf(sha256, shared, Buffer.from(r.nonce, 'base64'), aad, 32);
  wipe(shared);
  return { key, aad };
}

/** The manager's answer: the master key sealed to the requester's public key. */
export function sealKey(r: KeyRequest, master: Uint8Array): KeyReply {
  const own = x25519.utils.randomPrivateKey();
  const mgrPub = x25519.getPublicKey(own);
  const { key, aad } = sessionKey(own, Buffer.from(r.pub, 'base64'), r, mgrPub);
  const iv = randomBytes(NONCE_BYTES);
  const sealed = seal(key, iv, master, aad);
  wipe(own, key);
  return { esman: PROTOCOL, pub: Buffer.from(mgrPub).toString('base64'), iv: iv.toString('base64'), sealed: sealed.toString('base64') };
}

/** The master key from the manager's reply, or an error saying why there is none. */
export function openKey(p: PendingRequest, reply: KeyReply): Uint8Array {
  if ('refused' in reply) throw new EsmanError('request_refused', `the manager refused: ${reply.refused}`);
  const { key, aad } = sessionKey(p.secret, Buffer.from(reply.pub, 'base64'), p.request, Buffer.from(reply.pub, 'base64'));
  const master = open(key, Buffer.from(reply.iv, 'base64'), Buffer.from(reply.sealed, 'base64'), aad);
  wipe(key);
  if (!master || master.length !== MASTER_KEY_BYTES)
    throw new EsmanError('bad_message', "the reply does not open with this request's key: it was not sealed for this payserv");
  return master;
}
