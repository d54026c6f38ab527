-- Receipts: the key a proplet signs unattested receipts with (announced as identityKey), and the
-- outcome of the manager's receipt check for each run.
ALTER TABLE proplets ADD COLUMN identity_key JSONB;
ALTER TABLE runs ADD COLUMN receipt_check JSONB;
