-- The ledger intake's withdrawal requests (issue 16): the pool's own id of each request is signed into
-- the request's first status entry as its comment, `intake:<key>`, so a retried Withdrawals.Request
-- finds the request it made instead of making a second. This index makes that lookup one probe, and
-- makes two requests under one key impossible even when two calls race.
CREATE UNIQUE INDEX finances_ws_intake_key ON finances_withdrawal_signatures (comment) WHERE seq = 0 AND comment LIKE 'intake:%';
