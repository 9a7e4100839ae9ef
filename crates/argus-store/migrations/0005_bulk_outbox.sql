-- Schema version 5: shape versions on their rows, and bulk outbox rows.

-- A live shape's version (the HLC of the change that wrote it) is kept on
-- its row: a bulk write of 100,000 shapes writes their versions with them
-- rather than 100,000 rows (and index entries) more. `versions` keeps every
-- other record's version, and deleted shapes' tombstones.
ALTER TABLE shapes ADD COLUMN hlc TEXT;
UPDATE shapes SET hlc = v.hlc FROM versions v WHERE v.kind = 'shape' AND v.id = shapes.id AND v.deleted = 0;
DELETE FROM versions WHERE kind = 'shape' AND deleted = 0;

-- A bulk write of new shapes (an import, a propagation run) queues one
-- outbox row per track (entity_kind 'shapes', entity_id the track) instead
-- of one row holding each change whole; the changes are made from the
-- shapes when they are sent (argus-store's sync.rs). Undo entries write runs
-- of shape ids packed. An older Argus could read neither, and this version
-- number keeps it from opening the file.
