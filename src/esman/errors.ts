/** Every refusal of the key store: the message names the file and what is wrong, never a secret. */
export class EsmanError extends Error {
  override name = 'EsmanError';
}

/** Why a file or socket operation failed, as an operator can act on it: the errno code (ENOENT), else the message. */
export const reasonOf = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** Best effort: JavaScript cannot promise a secret leaves no copy, but buffers we own are zeroed once used. */
export function wipe(...buffers: Array<Uint8Array | undefined>): void {
  for (const b of buffers) b?.fill(0);
}
