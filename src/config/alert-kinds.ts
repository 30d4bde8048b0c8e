// What payserv tells operators, and where: the event kinds an operator may route ([alerts.events]) and the
// channels they may go to. Alerts (stored in payserv_alerts: something to act on) reach every configured
// channel unless routed otherwise; notices (news, not stored) reach only the channels they are routed to.

export const CHANNELS = ['command', 'webhook', 'telegram', 'discord', 'email'] as const;
export type ChannelName = (typeof CHANNELS)[number];

/** Raised through the alert row (src/payserv/alerts.ts); the README's alerts table says what each means. */
export const ALERT_KINDS = [
  'fail_stop',
  'hook_failed',
  'payment_stuck',
  'node_unhealthy',
  'node_identity',
  'fee_cap',
  'input_missing',
  'payment_reorged',
  'lock_held',
  'hot_wallet_low',
  'hot_wallet_flooded',
  'coin_halted',
  'local_state_lost',
  'rebaseline',
] as const;

/** News, not stored as alerts: a payment recorded sent, payserv waiting for esman manager's key. */
export const NOTICE_KINDS = ['payment_sent', 'waiting_for_key'] as const;
export type NoticeKind = (typeof NOTICE_KINDS)[number];

export const EVENT_KINDS = [...ALERT_KINDS, ...NOTICE_KINDS] as const;

/** [alerts.events]: channels by kind; `default` for the alert kinds not named. */
export type Routes = Partial<Record<(typeof EVENT_KINDS)[number] | 'default', readonly ChannelName[]>>;

const isNotice = (kind: string): boolean => (NOTICE_KINDS as readonly string[]).includes(kind);

/** The channels `kind` goes to: as routed; else an alert goes to `default` (all configured when unset), a notice nowhere. */
export function channelsFor(routes: Routes, configured: readonly ChannelName[], kind: string): ChannelName[] {
  const named = (routes as Record<string, readonly ChannelName[] | undefined>)[kind];
  const chosen = named ?? (isNotice(kind) ? [] : (routes.default ?? configured));
  return chosen.filter((c) => configured.includes(c));
}
