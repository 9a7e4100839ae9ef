-- Schema version 4: undo groups that span transactions.

-- A propagation run writes its shapes in many batches, one transaction
-- each, and undoes as one step: its entries carry the run's group id. The
-- entries of one group that lie next to each other on a stack are one undo
-- (or redo) step; an entry without a group is a step of its own, as every
-- entry written before this version is.
ALTER TABLE undo_log ADD COLUMN group_id TEXT;

-- The stacks' steps are read on every edit (to trim the history to its
-- depth): keep that to the index, never the entries' inverses.
DROP INDEX undo_log_stack;
CREATE INDEX undo_log_stack ON undo_log(project_id, stack, seq, group_id);
