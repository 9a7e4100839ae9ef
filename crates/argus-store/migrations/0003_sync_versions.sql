-- Schema version 3: what sync's conflict policy needs.

-- The current version of every record: the HLC of the change that wrote it,
-- and whether that change deleted it (a tombstone, so an older upsert that
-- arrives later cannot bring the record back). Members are keyed by project
-- and user, so the project is part of the key.
CREATE TABLE versions (
    project_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    hlc        TEXT NOT NULL,
    deleted    INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    PRIMARY KEY (project_id, kind, id)
) STRICT;

-- What this device already knew: the newest queued change per record.
INSERT INTO versions (project_id, kind, id, hlc, deleted)
SELECT o.project_id, o.entity_kind, o.entity_id, o.hlc, json_extract(o.change, '$.op.action') = 'delete'
FROM outbox o
WHERE o.seq = (SELECT MAX(o2.seq) FROM outbox o2
               WHERE o2.project_id = o.project_id AND o2.entity_kind = o.entity_kind AND o2.entity_id = o.entity_id);

-- Records edited on two devices since they last synced: both versions are
-- kept (the later one is current) until the user picks.
CREATE TABLE conflicts (
    id          TEXT PRIMARY KEY NOT NULL,
    project_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    -- The version that lost (JSON ChangeOp: an upsert, or a delete), and its HLC.
    other       TEXT NOT NULL,
    other_hlc   TEXT NOT NULL,
    current_hlc TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    resolved_at INTEGER
) STRICT;
CREATE INDEX conflicts_open ON conflicts (project_id, resolved_at);

-- For each undo/redo entry, the versions its edit left: undoing it when a
-- record has a newer version from someone else since is refused, not a
-- silent overwrite.
ALTER TABLE undo_log ADD COLUMN expect TEXT;

-- Changes the server refused (a role that may not make them, a label
-- deleted meanwhile...): out of the outbox, so it never stalls, and listed
-- for the user with the reason.
CREATE TABLE rejected (
    change_id  TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL,
    change     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX rejected_project ON rejected (project_id, created_at);
