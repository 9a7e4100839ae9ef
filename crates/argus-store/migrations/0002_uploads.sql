-- Schema version 2: resumable uploads, and videos' state on the server.

-- Resumable uploads of video files to the server (argus-client's uploader).
-- Local to this machine: never synced. One row per file being uploaded,
-- keyed by the server and the server's video id; the file's identity
-- (path, length, modification time, SHA-256) decides whether a resume may
-- reuse what was sent or must start over.
CREATE TABLE uploads (
    server      TEXT NOT NULL,
    video_id    TEXT NOT NULL,
    project_id  TEXT NOT NULL,
    path        TEXT NOT NULL,
    file_len    INTEGER NOT NULL CHECK (file_len >= 0),
    mtime_ns    INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    -- 0 for a single PUT.
    part_size   INTEGER NOT NULL CHECK (part_size >= 0),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (server, video_id)
) STRICT;
CREATE INDEX uploads_by_path ON uploads (server, project_id, path);

-- Each part the store acknowledged, with the ETag it answered.
CREATE TABLE upload_parts (
    server      TEXT NOT NULL,
    video_id    TEXT NOT NULL,
    part_number INTEGER NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
    etag        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    PRIMARY KEY (server, video_id, part_number),
    FOREIGN KEY (server, video_id) REFERENCES uploads (server, video_id) ON DELETE CASCADE
) STRICT;

-- Where each video's file stands on the team's server
-- (argus_core::model::RemoteState): local, uploading, processing, ready or
-- failed with the server's reason.
ALTER TABLE videos ADD COLUMN remote_status TEXT NOT NULL DEFAULT 'local'
    CHECK (remote_status IN ('local', 'uploading', 'processing', 'ready', 'failed'));
ALTER TABLE videos ADD COLUMN remote_failure TEXT;
