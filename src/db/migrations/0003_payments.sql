-- On-chain payments (issue 4). The write-ahead rule: a transaction's signed bytes, its hash, what it
-- pays and what it may cost are committed here, and its withdrawals moved to `sending` (a status entry
-- signed by payserv that names the hash), before the transaction is broadcast. A retry or a restart
-- rebroadcasts these same bytes.
--
-- None of this is signed: the authority is the withdrawal's signed status history, which names every
-- hash sent for it. payserv re-derives everything else (nonce, inputs, outputs, fees) from the stored
-- bytes, after checking they hash to a signed hash, so an edited row here cannot make it pay anything.

CREATE TABLE payserv_chain_txs (
  hash           TEXT PRIMARY KEY CHECK (hash ~ '^(0x)?[0-9a-f]{64}$'),
  coin_id        INTEGER NOT NULL REFERENCES coins_coin(id),
  -- Every attempt of one payment (a fee bump is a new attempt) carries the first attempt's hash.
  payment        TEXT NOT NULL,
  withdrawal_ids BIGINT[] NOT NULL CHECK (cardinality(withdrawal_ids) > 0),
  raw            TEXT NOT NULL CHECK (raw ~ '^(0x)?[0-9a-f]+$'),
  -- The most this attempt can cost, in the coin's base units (wei, zatoshi).
  max_fee        NUMERIC(78,0) NOT NULL CHECK (max_fee >= 0),
  -- Ethereum: the sender's nonce; Zcash: NULL (its inputs are in payserv_utxo_reservations).
  nonce          NUMERIC(20,0),
  created_at     TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
  broadcast_at   TIMESTAMPTZ(3),
  last_error     TEXT
);
CREATE INDEX payserv_chain_txs_payment ON payserv_chain_txs (payment);

-- Per (chain, sending address): the next nonce payserv may use. Also mirrored in the state directory
-- (STATE/nonces/): a database copy behind the local one was rolled back.
CREATE TABLE payserv_nonces (
  chain       TEXT NOT NULL,
  address     TEXT NOT NULL,
  next_nonce  NUMERIC(20,0) NOT NULL CHECK (next_nonce >= 0),
  updated_at  TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
  PRIMARY KEY (chain, address)
);

-- Zcash inputs spent by a payment, reserved until it is mined (spent) or provably never will be
-- (released). A node's own UTXO locks vanish when it restarts; these do not.
CREATE TABLE payserv_utxo_reservations (
  coin_id      INTEGER NOT NULL REFERENCES coins_coin(id),
  txid         TEXT NOT NULL CHECK (txid ~ '^[0-9a-f]{64}$'),
  vout         INTEGER NOT NULL CHECK (vout >= 0),
  value        NUMERIC(78,0) NOT NULL CHECK (value >= 0),
  spent_by     TEXT NOT NULL,
  reserved_at  TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
  released_at  TIMESTAMPTZ(3),
  release_why  TEXT,
  PRIMARY KEY (coin_id, txid, vout)
);
CREATE INDEX payserv_utxo_reservations_spent_by ON payserv_utxo_reservations (spent_by);
