-- The analysts' contract (SPEC section 6). Every column carries a comment so that
-- `.schema` in sqlite3 documents the database. Times are UTC text 'YYYY-MM-DD HH:MM:SS'.

CREATE TABLE customer_groups (
    id                INTEGER PRIMARY KEY, -- xtrakit's group id
    business_code     INTEGER,             -- the record's business_code, else the code of the scope that fetched it (NULL for the unfiltered scope)
    group_name        TEXT,                -- group_name as sent (NULL when the API sent null)
    group_description TEXT,                -- group_description as sent (NULL when the API sent null)
    created_at        TEXT,                -- API created_at, UTC 'YYYY-MM-DD HH:MM:SS'; NULL if missing or unreadable (raw value in raw_json)
    updated_at        TEXT,                -- API updated_at, UTC 'YYYY-MM-DD HH:MM:SS'; NULL if missing or unreadable (raw value in raw_json)
    raw_json          TEXT NOT NULL,       -- the record's JSON exactly as the API sent it, unknown fields included
    first_seen_at     TEXT NOT NULL,       -- when xtrakit-sync first stored this group (UTC)
    last_changed_at   TEXT NOT NULL,       -- when xtrakit-sync last inserted, updated, deleted or restored this row (UTC)
    deleted_at        TEXT                 -- when a full sync found the group gone (UTC); NULL while the group is live
);
CREATE INDEX customer_groups_by_updated_at ON customer_groups (updated_at);
CREATE INDEX customer_groups_by_business_code ON customer_groups (business_code, id);

CREATE TABLE sync_runs (
    id               INTEGER PRIMARY KEY, -- run id, referenced by sync_log and customer_group_history
    started_at       TEXT NOT NULL,       -- when the run started (UTC)
    finished_at      TEXT,                -- when the run ended (UTC); NULL while running
    trigger          TEXT NOT NULL CHECK (trigger IN ('schedule', 'startup', 'once')), -- what started the run
    mode             TEXT NOT NULL CHECK (mode IN ('incremental', 'full')), -- incremental (updated_at filter) or full (no filter, deletions reconciled)
    business_code    INTEGER,             -- the scope's business code; NULL for the unfiltered scope
    status           TEXT NOT NULL CHECK (status IN ('running', 'success', 'failed', 'auth_failed', 'interrupted')), -- how the run ended
    watermark_before TEXT,                -- the scope's watermark when the run started
    watermark_after  TEXT,                -- the scope's watermark after the run (moves only on success)
    pages            INTEGER NOT NULL DEFAULT 0, -- responses received and written
    received         INTEGER NOT NULL DEFAULT 0, -- records received, rejected and duplicate ones included
    inserted         INTEGER NOT NULL DEFAULT 0, -- groups stored for the first time
    updated          INTEGER NOT NULL DEFAULT 0, -- groups whose record changed
    unchanged        INTEGER NOT NULL DEFAULT 0, -- groups received identical to the stored record (no write)
    rejected         INTEGER NOT NULL DEFAULT 0, -- records that could not be stored (kept in sync_log)
    deleted          INTEGER NOT NULL DEFAULT 0, -- groups marked deleted by this full run
    restored         INTEGER NOT NULL DEFAULT 0, -- deleted groups that reappeared
    http_status      INTEGER,             -- HTTP (or body) status of the failing response, if any
    error            TEXT,                -- why the run did not succeed, in words
    duration_ms      INTEGER              -- wall time of the run in milliseconds
);
CREATE INDEX sync_runs_by_scope ON sync_runs (business_code, id);
CREATE INDEX sync_runs_by_status ON sync_runs (status);

CREATE TABLE customer_group_history (
    history_id  INTEGER PRIMARY KEY,                            -- history row id, in order of recording
    group_id    INTEGER NOT NULL REFERENCES customer_groups (id), -- the group that changed
    sync_run_id INTEGER REFERENCES sync_runs (id),              -- the run that saw the change
    change      TEXT NOT NULL CHECK (change IN ('insert', 'update', 'delete', 'restore')), -- what happened to the row
    recorded_at TEXT NOT NULL,                                  -- when xtrakit-sync recorded the change (UTC)
    updated_at  TEXT,                                           -- the record's updated_at at that change (UTC)
    raw_json    TEXT                                            -- the record's JSON at that change (for delete: the last version seen)
);
CREATE INDEX customer_group_history_by_group ON customer_group_history (group_id, history_id);

CREATE TABLE sync_log (
    id          INTEGER PRIMARY KEY,            -- event id, in order of logging
    sync_run_id INTEGER REFERENCES sync_runs (id), -- the run the event belongs to; NULL for events outside a run (e.g. skipped_tick)
    at          TEXT NOT NULL,                  -- when the event happened (UTC)
    level       TEXT NOT NULL CHECK (level IN ('info', 'warn', 'error')), -- severity
    event       TEXT NOT NULL,                  -- auth_failure, retry, http_error, network_error, bad_response, rejected_record, bad_timestamp, duplicate_id, deletion_guard, filter_not_honoured, count_mismatch, skipped_tick, ...
    http_status INTEGER,                        -- HTTP (or body) status involved, if any
    message     TEXT,                           -- what happened, in words (for auth_failure: the API's error text)
    detail      TEXT                            -- JSON with the particulars (never the API key: only its fingerprint)
);
CREATE INDEX sync_log_by_run ON sync_log (sync_run_id);
CREATE INDEX sync_log_by_event ON sync_log (event, at);

CREATE TABLE sync_state (
    scope             TEXT PRIMARY KEY, -- 'all' for the unfiltered scope, 'business_code=N' otherwise
    business_code     INTEGER,          -- the scope's business code; NULL for the unfiltered scope
    watermark         TEXT,             -- greatest updated_at committed by a successful run, capped at that run's start (UTC)
    last_success_at   TEXT,             -- when the scope's last successful run finished (UTC)
    last_full_sync_at TEXT              -- when a successful full run last verified the whole scope (UTC)
);

CREATE VIEW active_customer_groups AS
    SELECT * FROM customer_groups WHERE deleted_at IS NULL;

CREATE VIEW auth_failures AS
    SELECT id, sync_run_id, at, http_status, message,
           json_extract(detail, '$.key_fingerprint') AS key_fingerprint,
           json_extract(detail, '$.url') AS url,
           detail
    FROM sync_log
    WHERE event = 'auth_failure';

CREATE VIEW latest_sync_runs AS
    SELECT r.*
    FROM sync_runs AS r
    WHERE r.id = (SELECT max(r2.id) FROM sync_runs AS r2 WHERE r2.business_code IS r.business_code);
