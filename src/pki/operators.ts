// Operators: the people who run pscli, each with a client certificate of their own (CN=name, OU=operator),
// so that the audit trail says who made a call. payserv grants an operator what it grants the shared
// pscli identity; the name only tells people apart.
import type { TlsIdentity } from './roles.js';

/** The subject OU of an operator's certificate. */
export const OPERATOR_OU = 'operator';
/** The identity whose rights an operator has (the ACL knows identities, not people). */
export const OPERATOR_ACTS_AS: TlsIdentity = 'pscli';

// Lower-case letters, digits, '.', '_' and '-', starting with a letter: safe as a file name, a DN value and a log word.
const OPERATOR_NAME = /^[a-z][a-z0-9._-]{0,31}$/;

/** Why `name` cannot name an operator, or null when it can. */
export function operatorNameProblem(name: string): string | null {
  if (OPERATOR_NAME.test(name)) return null;
  return `operator name ${JSON.stringify(name.slice(0, 40))}: expected a lower-case letter, then up to 31 lower-case letters, digits, '.', '_' or '-' (e.g. alice)`;
}
