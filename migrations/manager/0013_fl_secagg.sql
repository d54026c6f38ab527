-- Secure aggregation in federated rounds (docs/fl.md "Secure aggregation"): a round whose
-- participants' updates are held on the proplets is "aggregating" while the manager runs the SecAgg
-- steps with them. `secagg_session` is the SecAgg round id of the session a manager claimed for it
-- (a conditional UPDATE: two managers never run one round's session twice); `secagg` records how
-- the session went (survivors, dropouts, every refused message with its reason), never an update.
ALTER TABLE fl_rounds DROP CONSTRAINT fl_rounds_state_check;
ALTER TABLE fl_rounds ADD CONSTRAINT fl_rounds_state_check CHECK (state IN ('opening', 'training', 'aggregating', 'completed', 'failed'));
ALTER TABLE fl_rounds ADD COLUMN secagg_session TEXT;
ALTER TABLE fl_rounds ADD COLUMN secagg JSONB;
