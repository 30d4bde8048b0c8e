-- The refusal code of an audited call (issue 15): the stable word of an ERROR or DECLINED reply, or of
-- an RPC error's data.code (README "Refusal codes"), so the trail says why a call was refused, not
-- only that it was. NULL for calls that were not refused, and for every row written before this column.
--
-- Hashed with its row when present (src/payserv/audit.ts): a row without a code hashes as before, so
-- the chain written before this migration still verifies, and a code added, changed or removed later
-- breaks its row's hash.
ALTER TABLE payserv_audit ADD COLUMN code TEXT CHECK (code IS NULL OR (code ~ '^[a-z]+(_[a-z]+)*$' AND char_length(code) <= 64));
