-- Sent payments watched to finality (issue 14, item 3). A withdrawal recorded `sent` was confirmed
-- with the coin's confirmations, but a reorg deeper than those can still undo its transaction. Each
-- transaction that made a withdrawal `sent` gets a row here, written in the same database transaction
-- as that status; payserv's monitor asks the chain about every row not yet final until its block is
-- `finality_depth` deep, follows it when a reorg mines it again elsewhere, and alerts and fails-stop
-- when it is gone from the chain. A failure proof is watched the same way (issue 14's outsider test):
-- the transaction it rests on (our attempt mined with status 0, or another transaction that used our
-- nonce) must stay so until final, else the proof was undone and payserv fails-stop.
--
-- Not signed: the authority is the withdrawals' signed histories. A row the database attacker edits
-- is input like any other (checked on read; a "gone" row is checked against the signed histories
-- before anything is raised); a row deleted only stops its watching.

CREATE TABLE payserv_sent_watch (
  hash            TEXT PRIMARY KEY CHECK (hash ~ '^(0x)?[0-9a-f]{64}$'),
  coin_id         INTEGER NOT NULL REFERENCES coins_coin(id),
  -- The withdrawals this transaction paid and that were recorded sent by it (a batch: each as its Check came).
  withdrawal_ids  BIGINT[] NOT NULL CHECK (cardinality(withdrawal_ids) > 0),
  -- Where the chain last placed it: from the verdict that recorded it sent, then from each watch.
  block_number    BIGINT NOT NULL CHECK (block_number >= 0),
  block_hash      TEXT NOT NULL CHECK (block_hash ~ '^(0x)?[0-9a-f]{64}$'),
  sent_at         TIMESTAMPTZ(3) NOT NULL,
  -- Set once its block is finality_depth deep: no longer watched.
  final_at        TIMESTAMPTZ(3),
  checked_at      TIMESTAMPTZ(3),
  last_result     TEXT,
  -- What the chain must keep saying: success (a sent payment), reverted (our attempt, a send_error's
  -- proof), mined (another transaction that used our nonce, a send_error's proof, whatever its status).
  expect          TEXT NOT NULL DEFAULT 'success' CHECK (expect IN ('success', 'reverted', 'mined'))
);
CREATE INDEX payserv_sent_watch_unfinal ON payserv_sent_watch (hash) WHERE final_at IS NULL;
