// The original's REPLY line, shared by pscli and the demo; no imports, so pscli's start-up does not load the contract (zod).

/** A refusal's REPLY line as pscli prints it: `REPLY: [ERROR] code: why`. */
export function refusalLine(r: { reply: string; code: string; message?: string | undefined }): string {
  return `REPLY: [${r.reply}] ${r.code}${r.message ? `: ${r.message}` : ''}`;
}

/** Any reply on one line, as the demo shows it: a refusal with its code (refusalLine), else the reply and any message. */
export function replyLine(r: { reply: string; code?: string | undefined; message?: string | undefined }): string {
  if ((r.reply === 'ERROR' || r.reply === 'DECLINED') && r.code) return refusalLine({ ...r, code: r.code });
  return `REPLY: [${r.reply}]${r.message ? ` ${r.message}` : ''}`;
}
