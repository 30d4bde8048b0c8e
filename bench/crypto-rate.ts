// The raw Ed25519 rates of this machine, in this process, with the key the ledger is signed with:
// node:crypto sign/verify over distinct messages of the length of an encoded credit.
import { randomBytes, verify, type KeyObject } from 'node:crypto';
import type { Signer } from '../src/pki/signer.js';

export interface CryptoRate {
  messageBytes: number;
  verifications: number;
  verifyPerSec: number;
  signatures: number;
  signPerSec: number;
}

export function measureEd25519(signer: Signer, publicKey: KeyObject, messageBytes: number, minMs = 3000, minOps = 10_000): CryptoRate {
  const msgs = Array.from({ length: 1024 }, () => randomBytes(messageBytes));
  // Signing doubles as the warm-up of both paths.
  let t = performance.now();
  let signatures = 0;
  const sigs: Uint8Array[] = [];
  while (signatures < minOps / 2 || performance.now() - t < minMs / 2) {
    const s = signer.sign(msgs[signatures % msgs.length] as Uint8Array);
    if (sigs.length < msgs.length) sigs.push(s);
    signatures++;
  }
  const signPerSec = signatures / ((performance.now() - t) / 1000);
  let ok = 0;
  let verifications = 0;
  t = performance.now();
  while (verifications < minOps || performance.now() - t < minMs) {
    const i = verifications % msgs.length;
    if (verify(null, msgs[i] as Uint8Array, publicKey, sigs[i] as Uint8Array)) ok++;
    verifications++;
  }
  const verifyPerSec = verifications / ((performance.now() - t) / 1000);
  if (ok !== verifications) throw new Error(`raw Ed25519: ${verifications - ok} good signatures failed to verify`);
  return { messageBytes, verifications, verifyPerSec, signatures, signPerSec };
}
