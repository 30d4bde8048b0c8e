import type { ServiceState } from '../payserv/state.js';

// What /health answers a load balancer or systemd: one of four states, 200 only when payouts run.

export const HEALTH_STATES = ['ready', 'locked', 'disabled', 'fail_stopped'] as const;
export type HealthState = (typeof HEALTH_STATES)[number];

export interface Health {
  status: HealthState;
  /** 200 ready, 503 otherwise: what a load balancer reads. */
  http: 200 | 503;
  /** Why payouts are refused (null when ready). */
  reason: string | null;
  /** Since when in this state (null while locked: nothing has started yet). */
  since: string | null;
}

/** `state` null: payserv is waiting for the key (esman manager's operator). */
export function healthOf(state: ServiceState | null): Health {
  if (!state) return { status: 'locked', http: 503, reason: 'payserv is waiting for its key from esman manager', since: null };
  const s = state.status();
  const status: HealthState = s.enabled ? 'ready' : state.failStopped ? 'fail_stopped' : 'disabled';
  return { status, http: status === 'ready' ? 200 : 503, reason: s.reason, since: s.since.toISOString() };
}
