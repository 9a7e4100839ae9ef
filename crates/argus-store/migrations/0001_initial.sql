-- Argus local store, schema version 1.
-- Ids are UUID text; times are Unix milliseconds; HLCs are their fixed-width
-- text form, which sorts like the timestamps.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE projects (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    schema_id   TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE label_schemas (
    id         TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    -- The labels as JSON (argus_core::model::Label), validated on write and read.
    labels     TEXT NOT NULL
) STRICT;
CREATE INDEX label_schemas_project ON label_schemas(project_id);

-- Users and their roles as last seen from the server (a cache; the server decides).
CREATE TABLE users (
    id           TEXT PRIMARY KEY NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    email        TEXT,
    updated_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE members (
    project_id   TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('annotator', 'reviewer', 'lead')),
    display_name TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (project_id, user_id)
) STRICT;

CREATE TABLE videos (
    id          TEXT PRIMARY KEY NOT NULL,
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    rate_num    INTEGER NOT NULL,
    rate_den    INTEGER NOT NULL,
    frame_count INTEGER NOT NULL,
    dur_num     INTEGER NOT NULL,
    dur_den     INTEGER NOT NULL,
    codec       TEXT NOT NULL,
    rotation    INTEGER NOT NULL,
    local_path  TEXT,
    object_key  TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (project_id, sha256)
) STRICT;

CREATE TABLE tracks (
    id         TEXT PRIMARY KEY NOT NULL,
    video_id   TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    label_id   TEXT NOT NULL,
    number     INTEGER NOT NULL,
    attributes TEXT NOT NULL,
    author     TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (video_id, number)
) STRICT;

-- One row per track and frame. `data` is the whole shape in the compact
-- binary form of codec.rs (mask runs as delta + zigzag + LEB128 varints,
-- other geometry as JSON): the frame query reads one column per shape. The
-- other columns are the ones queries index or filter on.
CREATE TABLE shapes (
    id       TEXT PRIMARY KEY NOT NULL,
    track_id TEXT NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    video_id TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    frame    INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    keyframe INTEGER NOT NULL,
    data     BLOB NOT NULL,
    UNIQUE (track_id, frame)
) STRICT;
CREATE INDEX shapes_video_frame ON shapes(video_id, frame);

CREATE TABLE reviews (
    id          TEXT PRIMARY KEY NOT NULL,
    video_id    TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    scope       TEXT NOT NULL CHECK (scope IN ('video', 'track', 'frames')),
    track_id    TEXT,
    frame_start INTEGER,
    frame_end   INTEGER,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected')),
    reviewer    TEXT,
    comment     TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX reviews_video_state ON reviews(video_id, state);

CREATE TABLE comments (
    id         TEXT PRIMARY KEY NOT NULL,
    review_id  TEXT NOT NULL REFERENCES reviews(id) ON DELETE CASCADE,
    author     TEXT NOT NULL,
    body       TEXT NOT NULL,
    frame      INTEGER,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX comments_review ON comments(review_id);

-- Undo and redo stacks, per project: each entry is the inverse of one
-- command as JSON (a list of argus_core::model::ChangeOp).
CREATE TABLE undo_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    stack      TEXT NOT NULL CHECK (stack IN ('undo', 'redo')),
    summary    TEXT NOT NULL,
    inverse    TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX undo_log_stack ON undo_log(project_id, stack, seq);

-- Sync: every local change, in order, until the server has acknowledged it.
CREATE TABLE outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    change_id   TEXT NOT NULL UNIQUE,
    project_id  TEXT NOT NULL,
    hlc         TEXT NOT NULL,
    entity_kind TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    change      TEXT NOT NULL,
    sent_at     INTEGER
) STRICT;
CREATE INDEX outbox_pending ON outbox(project_id, sent_at, seq);

-- Sync: how far this device has pulled each project's changes.
CREATE TABLE sync_cursors (
    project_id TEXT PRIMARY KEY NOT NULL,
    cursor     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- Index of model outputs cached on disk (SAM image embeddings etc.).
CREATE TABLE model_cache (
    video_id   TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    model      TEXT NOT NULL,
    frame      INTEGER NOT NULL,
    path       TEXT NOT NULL,
    bytes      INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER NOT NULL,
    PRIMARY KEY (video_id, model, frame)
) STRICT;
CREATE INDEX model_cache_used ON model_cache(used_at);
