-- Retention deletes a sync_runs row only when no history row points at it: this index makes
-- that check a lookup instead of a scan of the whole history.
CREATE INDEX customer_group_history_by_run ON customer_group_history (sync_run_id);
