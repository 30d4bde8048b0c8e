// Consensus branch ids (DESIGN §6). A signature commits to the branch id, and a transaction signed
// for the wrong one still looks signed but the network rejects it; so payserv signs only for an id in
// this table, taken from the node's getblockchaininfo (consensus.nextblock).

export interface Branch {
  readonly name: string;
  readonly id: number;
  /** Transaction versions valid under this upgrade that payserv can build (v4 from Sapling, v5 from NU5). */
  readonly txVersions: readonly (4 | 5)[];
}

/** In activation order. */
export const BRANCHES: readonly Branch[] = [
  { name: 'Overwinter', id: 0x5ba81b19, txVersions: [] },
  { name: 'Sapling', id: 0x76b809bb, txVersions: [4] },
  { name: 'Blossom', id: 0x2bb40e60, txVersions: [4] },
  { name: 'Heartwood', id: 0xf5b9230b, txVersions: [4] },
  { name: 'Canopy', id: 0xe9ff75a6, txVersions: [4] },
  { name: 'NU5', id: 0xc2d6d0b4, txVersions: [4, 5] },
  { name: 'NU6', id: 0xc8e71055, txVersions: [4, 5] },
  { name: 'NU6.1', id: 0x4dec4df0, txVersions: [4, 5] },
  { name: 'NU6.2', id: 0x5437f330, txVersions: [4, 5] },
  { name: 'NU6.3', id: 0x37a5165b, txVersions: [4, 5] },
];

const BY_ID = new Map(BRANCHES.map((b) => [b.id, b]));
const BY_NAME = new Map(BRANCHES.map((b) => [b.name, b]));

export class UnknownBranchError extends Error {
  override name = 'UnknownBranchError';
  constructor(readonly branchId: number) {
    super(
      `unknown consensus branch id ${branchHex(branchId)}: refusing to sign or verify for it (known: ${BRANCHES.map((b) => `${b.name} ${branchHex(b.id)}`).join(', ')})`,
    );
  }
}

/** As zcashd prints it: 8 lowercase hex digits, 0x-prefixed here. */
export function branchHex(id: number): string {
  return `0x${(id >>> 0).toString(16).padStart(8, '0')}`;
}

export function branchById(id: number): Branch | undefined {
  return BY_ID.get(id);
}

export function branchByName(name: string): Branch | undefined {
  return BY_NAME.get(name);
}

/** The branch for a known id; throws UnknownBranchError for any other. */
export function requireKnownBranch(id: number): Branch {
  const b = BY_ID.get(id);
  if (!b) throw new UnknownBranchError(id);
  return b;
}

/** Parses getblockchaininfo's "consensus.nextblock" (hex without 0x, e.g. "37a5165b") into a known branch. */
export function branchFromRpcHex(hex: string): Branch {
  if (!/^[0-9a-fA-F]{8}$/.test(hex)) throw new Error(`consensus branch id ${JSON.stringify(hex.slice(0, 20))}: not 8 hex digits`);
  return requireKnownBranch(Number.parseInt(hex, 16));
}
