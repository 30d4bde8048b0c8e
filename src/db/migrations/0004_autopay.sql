-- Automatic threshold payouts (issue 7). One row per coin: the runner's lock, and the halt that an
-- unknown outcome leaves behind (open-ethereum-pool's "payments lock" and "pending" log, made safe:
-- the pending log is the withdrawals themselves, signed and written ahead of every send, and resolve
-- asks the chain about them before it credits anything back).
--
-- Not signed, and it need not be: an attacker who unlocks a halted coin lets the next run start, and
-- that run still pays only verified balances, from which every withdrawal in flight is already debited.
CREATE TABLE payserv_autopay (
  coin_id        INTEGER PRIMARY KEY REFERENCES coins_coin(id),
  state          TEXT NOT NULL CHECK (state IN ('idle', 'running', 'halted')),
  -- Who holds it (process and run), and since when.
  holder         TEXT NOT NULL DEFAULT '',
  since          TIMESTAMPTZ(3) NOT NULL,
  reason         TEXT NOT NULL DEFAULT '',
  -- The withdrawal whose outcome halted it.
  withdrawal_id  BIGINT
);

-- A user's own payout threshold, as the pool's site lets miners set it. payserv never pays below the
-- coin's configured threshold, whatever this says.
CREATE TABLE users_autopay_thresholds (
  user_id    BIGINT NOT NULL,
  coin_id    INTEGER NOT NULL REFERENCES coins_coin(id),
  threshold  NUMERIC(50,20) NOT NULL CHECK (threshold > 0),
  PRIMARY KEY (user_id, coin_id)
);
