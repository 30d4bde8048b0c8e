-- Payments in flight are picked by their last SIGNED status entry, not only by the row's status column, which
-- anyone with write access to the database can set (issue 17, round 4: a stuck payment hidden by one UPDATE).
-- This index holds only the in-flight entries, so that reading them is an index scan, not one of the whole table.
CREATE INDEX finances_ws_in_flight ON finances_withdrawal_signatures (withdrawal_id, seq) WHERE status IN ('sending', 'send_retry');
