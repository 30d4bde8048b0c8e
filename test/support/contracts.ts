// Tiny hand-assembled contracts for payment tests: a recipient that refuses every transfer (a payment whose
// transaction is mined with status 0, which is a failed payment, not a paid one), and one that accepts.
// No compiler needed; PUSH1 0 rather than PUSH0 so they deploy on pre-Shanghai chains (ETC) too.
import { createPublicClient, createWalletClient, http, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

/**
 * Creation code of the rejecter. Its runtime code is 4 bytes that revert whatever the call:
 *
 *   runtime (at creation offset 0x0b):
 *     60 00   PUSH1 0x00
 *     80      DUP1
 *     fd      REVERT          ; revert(0, 0): no data, every call and every plain transfer fails
 *
 *   creation (copies the runtime into memory and returns it):
 *     60 04   PUSH1 0x04      ; runtime size
 *     80      DUP1            ; size, size
 *     60 0b   PUSH1 0x0b      ; runtime offset in this code
 *     60 00   PUSH1 0x00      ; memory destination
 *     39      CODECOPY        ; mem[0..4) = code[0x0b..0x0f)
 *     60 00   PUSH1 0x00      ; memory offset (size is still on the stack)
 *     f3      RETURN          ; return mem[0..4): the runtime code
 */
export const REJECTER_CREATION_CODE: Hex = '0x600480600b6000396000f3600080fd';
export const REJECTER_RUNTIME_CODE: Hex = '0x600080fd';

/**
 * Creation code of the accepter: the same creation preamble with a 1-byte runtime that accepts any value.
 *
 *   runtime:  00  STOP
 *   creation: 60 01 80 60 0b 60 00 39 60 00 f3   (as above, size 1)
 */
export const ACCEPTER_CREATION_CODE: Hex = '0x600180600b6000396000f300';
export const ACCEPTER_RUNTIME_CODE: Hex = '0x00';

/**
 * Creation code of the riser: a recipient that accepts value and loops as many times as its storage
 * slot 0 says, so its cost rises when that slot does (anvil_setStorageAt) between the estimate and the
 * mining: a payment with the bare estimate runs out of gas, one with a margin is mined.
 *
 *   runtime (18 bytes, at creation offset 0x0b):
 *     00: 60 00   PUSH1 0
 *     02: 54      SLOAD           ; n = slot 0
 *     03: 5b      JUMPDEST        ; loop: [n]
 *     04: 80      DUP1            ; [n n]
 *     05: 15      ISZERO          ; [n n==0]
 *     06: 60 10   PUSH1 0x10
 *     08: 57      JUMPI           ; n == 0: to end
 *     09: 60 01   PUSH1 1         ; [n 1]
 *     0b: 90      SWAP1           ; [1 n]
 *     0c: 03      SUB             ; [n-1]
 *     0d: 60 03   PUSH1 0x03
 *     0f: 56      JUMP            ; to loop
 *     10: 5b      JUMPDEST        ; end
 *     11: 00      STOP
 *
 *   creation: 60 12 80 60 0b 60 00 39 60 00 f3   (as above, size 0x12)
 */
export const RISER_RUNTIME_CODE: Hex = '0x6000545b8015601057600190036003565b00';
export const RISER_CREATION_CODE: Hex = `0x601280600b6000396000f3${RISER_RUNTIME_CODE.slice(2)}`;

/** Deploys the riser (see RISER_CREATION_CODE); its slot 0 starts at 0. */
export function deployRiser(url: string, deployerKey: Hex): Promise<Address> {
  return deploy(url, deployerKey, RISER_CREATION_CODE, RISER_RUNTIME_CODE);
}

/** Gas for the deployment: 53,000 for a creation, a few hundred to run the preamble and store the code. */
const DEPLOY_GAS = 100_000n;
const RECEIPT_TIMEOUT_MS = 30_000;

/** Deploys the rejecter from `deployerKey` (funded; the node must mine: automine or interval) and returns its address. */
export function deployRejecter(url: string, deployerKey: Hex): Promise<Address> {
  return deploy(url, deployerKey, REJECTER_CREATION_CODE, REJECTER_RUNTIME_CODE);
}

/** Deploys the accepter (a contract recipient that takes value); a plain EOA address does as well. */
export function deployAccepter(url: string, deployerKey: Hex): Promise<Address> {
  return deploy(url, deployerKey, ACCEPTER_CREATION_CODE, ACCEPTER_RUNTIME_CODE);
}

async function deploy(url: string, deployerKey: Hex, creation: Hex, runtime: Hex): Promise<Address> {
  const transport = http(url, { retryCount: 0 });
  const account = privateKeyToAccount(deployerKey);
  const pub = createPublicClient({ transport });
  const wallet = createWalletClient({ account, transport });
  const hash = await wallet.deployContract({ abi: [], bytecode: creation, chain: null, gas: DEPLOY_GAS });
  const receipt = await pub.waitForTransactionReceipt({ hash, timeout: RECEIPT_TIMEOUT_MS, pollingInterval: 50 });
  if (receipt.status !== 'success' || !receipt.contractAddress) throw new Error(`deploy: ${hash} failed (status ${receipt.status})`);
  const code = await pub.getCode({ address: receipt.contractAddress });
  if (code !== runtime) throw new Error(`deploy: ${receipt.contractAddress} holds ${code}, expected ${runtime}`);
  return receipt.contractAddress;
}
