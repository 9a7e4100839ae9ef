//! Opening the database, the single writer, and undo/redo.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    path::{Path, PathBuf},
    pin::Pin,
    str::FromStr,
    task::Poll,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use argus_core::{
    hlc::{Hlc, HlcClock},
    id::{ChangeId, DeviceId, LabelSchemaId, ProjectId, ShapeId, TrackId, UserId},
    model::{
        AttributeKind, AttributeSpec, Change, ChangeOp, Entity, EntityKind, Label, LabelSchema, Project, Shape, Timestamp, Video,
    },
};
use sqlx::{
    ConnectOptions, Connection, SqliteConnection, SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use base64::{Engine, engine::general_purpose::STANDARD_NO_PAD as BASE64};
use tokio::sync::Mutex;

use crate::{
    Error, Result, backup,
    command::{self, Actor, Command},
    rows,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How commits reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: a commit is on disk before the command returns,
    /// even across a power cut. The default: it is what "saved" means.
    Full,
    /// `synchronous=NORMAL` in WAL mode: survives a crash of the app, but a
    /// power cut can lose the last commits. Faster; for bulk imports.
    Normal,
}

/// Options for [`Store::open_with`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub durability: Durability,
    /// Reader connections for queries (the UI); writes use one more.
    pub readers: u32,
    /// How many rolling backups to keep; 0 disables them.
    pub backups_kept: usize,
    /// Make a new backup on open when the newest is older than this.
    pub backup_interval: Duration,
    /// How many undo steps to keep per project.
    pub undo_depth: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Full,
            readers: 4,
            backups_kept: 5,
            backup_interval: Duration::from_secs(3600),
            undo_depth: 1000,
        }
    }
}

/// What a committed command did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Applied {
    pub project: ProjectId,
    /// Records written or deleted.
    pub changes: usize,
    pub summary: String,
}

/// Ties several edits into one undo step: a propagation run, which writes
/// its shapes in many batches ([`Store::batch_in`]) so readers see its
/// progress and a crash loses at most one batch, and undoes as a whole.
///
/// Opaque and cheap to clone. The entries it marks are kept on disk with
/// it, so what a run committed before a crash still undoes as one step.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UndoGroup(uuid::Uuid);

/// How a commit touches the undo history.
#[derive(Clone, Copy, PartialEq, Eq)]
enum History {
    /// Not undoable (project setup, imports).
    None,
    /// A new edit: push its inverse on the undo stack, clear redo.
    Edit,
    /// Undoing: push the inverse on the redo stack.
    Undo,
    /// Redoing: push the inverse on the undo stack, keep redo.
    Redo,
}

pub(crate) struct Writer {
    pub(crate) conn: SqliteConnection,
    pub(crate) clock: HlcClock,
}

/// The local Argus database. Cheap to share behind an `Arc`; all methods
/// take `&self`.
///
/// Writes go through one connection behind an async mutex, so commands are
/// applied one at a time in arrival order and never fight over SQLite's write
/// lock; queries use a pool of read-only connections, which in WAL mode never
/// wait for the writer. Every command commits before its method returns.
pub struct Store {
    path: PathBuf,
    pub(crate) writer: Mutex<Writer>,
    pub(crate) readers: SqlitePool,
    options: StoreOptions,
    device: DeviceId,
    local_user: UserId,
    /// The changes `pending_changes` made from bulk outbox rows, by id, until
    /// they are marked sent or refused (sync.rs).
    pub(crate) bulk_parts: std::sync::Mutex<HashMap<ChangeId, crate::sync::BulkPart>>,
    /// How the background checkpoint after a large batch connects.
    checkpointer: SqliteConnectOptions,
    /// That checkpoint, while it may still run ([`Store::settled`]).
    checkpoint: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// A batch that writes at least this many records commits without SQLite's
/// automatic checkpoint (copying the WAL into the database file: as much
/// again as the batch wrote, and a sync) and leaves it to a task of its own
/// ([`Store::settled`]). The commit is as durable either way: with
/// `synchronous=FULL` the WAL is on disk before it returns.
const CHECKPOINT_LATER_AT: usize = 2_000;

/// SQLite's own threshold for the automatic checkpoint, in WAL pages.
const AUTOCHECKPOINT_PAGES: u32 = 1_000;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).field("device", &self.device).finish_non_exhaustive()
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub(crate) fn now() -> Timestamp {
    Timestamp(now_ms() as i64)
}

/// SQLite result codes that mean the file is not a sound database.
fn is_corruption(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code();
            // SQLITE_CORRUPT (11) and SQLITE_NOTADB (26), with extended codes.
            code.as_deref().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| matches!(c & 0xff, 11 | 26))
        }
        _ => false,
    }
}

impl Store {
    /// The newest schema version this build understands.
    pub fn schema_version() -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// Opens (creating if needed) the database at `path` with default options.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, StoreOptions::default()).await
    }

    /// Opens the database: checks it is sound and not from a newer Argus,
    /// migrates it, and makes a rolling backup if the last one is old.
    pub async fn open_with(path: impl AsRef<Path>, options: StoreOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let corrupt = |detail: String| Error::Corrupt { detail, backup: backup::newest(&path), path: path.clone() };
        let sync = match options.durability {
            Durability::Full => SqliteSynchronous::Full,
            Durability::Normal => SqliteSynchronous::Normal,
        };
        let connect = SqliteConnectOptions::new()
            .filename(&path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(sync)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        // The writer keeps up to 32 MiB of pages in memory (SQLite's default
        // is 2 MiB): a bulk command (an import of 100k masks writes ~75 MB
        // in one transaction) otherwise spills index pages into the WAL
        // before the commit and reads them back, often more than once.
        // Statement journals stay in memory too. Pages are taken as used.
        let writer = connect.clone().pragma("cache_size", "-32768").pragma("temp_store", "MEMORY");
        let mut conn = match writer.create_if_missing(true).connect().await {
            Ok(c) => c,
            Err(e) if is_corruption(&e) => return Err(corrupt(e.to_string())),
            Err(e) => return Err(e.into()),
        };
        let check: Result<String, sqlx::Error> = sqlx::query_scalar("PRAGMA quick_check").fetch_one(&mut conn).await;
        match check {
            Ok(s) if s == "ok" => {}
            Ok(s) => return Err(corrupt(s)),
            Err(e) if is_corruption(&e) => return Err(corrupt(e.to_string())),
            Err(e) => return Err(e.into()),
        }
        let has_migrations: Option<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
                .fetch_optional(&mut conn)
                .await?;
        if has_migrations.is_some() {
            let found: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(&mut conn).await?;
            let supported = Self::schema_version();
            if let Some(found) = found.filter(|f| *f > supported) {
                return Err(Error::NewerSchema { found, supported, path });
            }
        }
        MIGRATOR.run(&mut conn).await?;

        let device = match setting(&mut conn, "device_id").await? {
            Some(s) => rows::parse::<DeviceId>(&s, "device_id")?,
            None => {
                let d = DeviceId::new();
                set_setting(&mut conn, "device_id", &d.to_string()).await?;
                d
            }
        };
        let local_user = match setting(&mut conn, "local_user_id").await? {
            Some(s) => rows::parse::<UserId>(&s, "local_user_id")?,
            None => {
                let u = UserId::new();
                set_setting(&mut conn, "local_user_id", &u.to_string()).await?;
                u
            }
        };
        let clock = match setting(&mut conn, "last_hlc").await? {
            Some(s) => HlcClock::resume(rows::parse::<Hlc>(&s, "last_hlc")?),
            None => HlcClock::new(device),
        };
        let readers = SqlitePoolOptions::new()
            .max_connections(options.readers.max(1))
            // A frame query returns ~1,000 rows: let the SQLite worker thread
            // hand them all over without waiting for the reader task to wake
            // up between batches (the default buffer is 50 rows).
            .connect_with(connect.clone().read_only(true).row_buffer_size(4096))
            .await?;
        let store = Self {
            path,
            writer: Mutex::new(Writer { conn, clock }),
            readers,
            options,
            device,
            local_user,
            bulk_parts: Default::default(),
            checkpointer: connect,
            checkpoint: Default::default(),
        };
        store.backup_if_due().await?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This installation's sync node id (made on first open, then kept).
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// The user of this installation before anyone signs in (made on first
    /// open, then kept), so local-only projects have an author.
    pub fn local_user(&self) -> UserId {
        self.local_user
    }

    /// The actor for `user` in `project`: their cached role, or `Lead` when
    /// the project has no cached members (a local-only project).
    pub async fn actor(&self, project: ProjectId, user: UserId) -> Result<Actor> {
        if let Some(role) = self.role(project, user).await? {
            return Ok(Actor { user, role });
        }
        if self.members(project).await?.is_empty() {
            return Ok(Actor { user, role: argus_core::model::Role::Lead });
        }
        Err(Error::NotAMember { user: user.to_string(), project: project.to_string() })
    }

    /// Makes a backup when backups are on and the newest is older than
    /// `backup_interval` (or there is none). Called on open; the app calls it
    /// periodically too. Returns the new backup, if one was made.
    pub async fn backup_if_due(&self) -> Result<Option<PathBuf>> {
        if self.options.backups_kept == 0 {
            return Ok(None);
        }
        let due = backup::newest(&self.path)
            .and_then(|b| b.metadata().ok()?.modified().ok()?.elapsed().ok())
            .is_none_or(|age| age >= self.options.backup_interval);
        if due { self.backup_now().await.map(Some) } else { Ok(None) }
    }

    /// Writes a consistent copy of the database next to it (SQLite
    /// `VACUUM INTO`, safe while the app runs) and keeps the newest
    /// `backups_kept`. Returns the new backup's path.
    pub async fn backup_now(&self) -> Result<PathBuf> {
        let dir = backup::dir(&self.path);
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io { action: "create the backup folder", path: dir.clone(), source })?;
        let target = backup::next_name(&self.path);
        let target_s = target.to_str().ok_or_else(|| Error::Io {
            action: "write a backup",
            path: target.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path is not valid UTF-8"),
        })?;
        {
            let mut w = self.writer.lock().await;
            sqlx::query("VACUUM INTO ?").bind(target_s).execute(&mut w.conn).await?;
        }
        backup::prune(&self.path, self.options.backups_kept.max(1))?;
        Ok(target)
    }

    /// Waits for the checkpoint a large batch left to run after its commit,
    /// if one may still run: from then on the database file holds what the
    /// WAL did. The data is durable before this; it is for measuring the
    /// whole cost of a write, and for a tidy close.
    pub async fn settled(&self) {
        let pending = self.checkpoint.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(handle) = pending
            && let Err(e) = handle.await
        {
            tracing::warn!("the background checkpoint stopped: {e}");
        }
    }

    /// Copies the WAL into the database file on a connection of its own
    /// (SQLite's PASSIVE checkpoint: it waits for no reader or writer, and
    /// what it cannot copy now the writer's next automatic checkpoint
    /// does). Runs after the one before it.
    fn checkpoint_later(&self) {
        let connect = self.checkpointer.clone();
        let mut slot = self.checkpoint.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = slot.take();
        *slot = Some(tokio::spawn(async move {
            if let Some(before) = before {
                let _ = before.await;
            }
            let started = std::time::Instant::now();
            let run = async {
                let mut conn = connect.connect().await?;
                let (busy, log, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&mut conn).await?;
                conn.close().await?;
                Ok::<_, sqlx::Error>((busy, log, copied))
            };
            match run.await {
                Ok((busy, log, copied)) => {
                    tracing::debug!("checkpointed {copied} of {log} WAL pages in {:?} (busy: {busy})", started.elapsed());
                }
                Err(e) => tracing::warn!("checkpointing the database after a large write: {e}; the next write's automatic checkpoint does it"),
            }
        }));
    }

    /// Closes all connections (checkpointing the WAL).
    pub async fn close(self) {
        self.settled().await;
        self.readers.close().await;
        let w = self.writer.into_inner();
        if let Err(e) = w.conn.close().await {
            tracing::warn!("closing the database: {e}");
        }
    }

    /// Creates a project with its label schema. Syncs, but is not undoable.
    pub async fn create_project(&self, name: &str, labels: Vec<Label>) -> Result<(Project, LabelSchema)> {
        let now = now();
        let schema_id = LabelSchemaId::new();
        let project = Project::new(name, schema_id, now)?;
        let schema = LabelSchema::new(schema_id, project.id, 1, labels)?;
        let ops = vec![
            ChangeOp::Upsert { entity: Entity::Project(project.clone()) },
            ChangeOp::Upsert { entity: Entity::LabelSchema(schema.clone()) },
        ];
        let mut w = self.writer.lock().await;
        let Writer { conn, clock } = &mut *w;
        let mut next = clock.clone();
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let existing: Option<String> =
            sqlx::query_scalar("SELECT id FROM projects WHERE name = ?").bind(&project.name).fetch_optional(&mut *tx).await?;
        if let Some(id) = existing {
            return Err(Error::Conflict(format!("a project named '{}' already exists ({id}); pick another name", project.name)));
        }
        record(&mut tx, &mut next, project.id, "create project", ops, None, History::None, self.options.undo_depth, None, None).await?;
        tx.commit().await?;
        *clock = next;
        Ok((project, schema))
    }

    /// Adds a video (already probed and hashed) to its project. The same
    /// content twice in a project is refused. Syncs, not undoable.
    pub async fn add_video(&self, mut video: Video) -> Result<Video> {
        video.validate()?;
        video.created_at = now();
        let mut w = self.writer.lock().await;
        let Writer { conn, clock } = &mut *w;
        let mut next = clock.clone();
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        rows::project(&mut tx, video.project_id).await?;
        let existing: Option<String> = sqlx::query_scalar("SELECT id FROM videos WHERE project_id = ? AND sha256 = ?")
            .bind(video.project_id.to_string())
            .bind(&video.sha256)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(id) = existing {
            return Err(Error::Conflict(format!("this video is already in the project as {id}")));
        }
        let ops = vec![ChangeOp::Upsert { entity: Entity::Video(video.clone()) }];
        record(&mut tx, &mut next, video.project_id, "add video", ops, None, History::None, self.options.undo_depth, None, None).await?;
        tx.commit().await?;
        *clock = next;
        Ok(video)
    }

    /// Adds labels to a project's schema (a new schema version), as a lead
    /// may. Syncs, not undoable (like creating the project).
    pub async fn add_labels(&self, project: ProjectId, actor: &Actor, labels: Vec<Label>) -> Result<LabelSchema> {
        actor.role.require(argus_core::model::Permission::EditSchema)?;
        let mut w = self.writer.lock().await;
        let Writer { conn, clock } = &mut *w;
        let mut next = clock.clone();
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let p = rows::project(&mut tx, project).await?;
        let schema = rows::schema(&mut tx, p.schema_id).await?;
        let mut all = schema.labels().to_vec();
        all.extend(labels);
        let schema = schema.with_labels(all)?;
        let ops = vec![ChangeOp::Upsert { entity: Entity::LabelSchema(schema.clone()) }];
        record(&mut tx, &mut next, project, "add labels", ops, None, History::None, self.options.undo_depth, None, None).await?;
        tx.commit().await?;
        *clock = next;
        Ok(schema)
    }

    /// Replaces a project's labels with `labels` (a new schema version), as
    /// a lead may: add, rename, recolour and reorder labels, allow more shape
    /// kinds, add attributes and enum options. `version` is the schema
    /// version the editor started from: if the schema changed since (another
    /// window, or a sync), nothing is written and the error says so.
    ///
    /// Nothing drawn may become invalid, so what objects already use is kept:
    /// a label with objects cannot be removed, a shape kind its objects are
    /// drawn with cannot be taken away from it, and once a label has objects
    /// (which carry its attributes' values) its attributes cannot be removed
    /// or change type, scope, options or range, only be added or get new
    /// options, a wider range or another default. Each refusal names the
    /// label and what to do. Syncs, not undoable (like creating the project).
    pub async fn set_labels(&self, project: ProjectId, actor: &Actor, version: u32, labels: Vec<Label>) -> Result<LabelSchema> {
        actor.role.require(argus_core::model::Permission::EditSchema)?;
        let mut w = self.writer.lock().await;
        let Writer { conn, clock } = &mut *w;
        let mut next = clock.clone();
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let p = rows::project(&mut tx, project).await?;
        let old = rows::schema(&mut tx, p.schema_id).await?;
        if old.version() != version {
            return Err(Error::Conflict(format!(
                "the labels were changed since you opened them (version {version}, now {}): open them again and redo your edit",
                old.version()
            )));
        }
        let schema = old.with_labels(labels)?;
        if schema.labels() == old.labels() {
            return Err(Error::NothingTo("save: the labels are as they were"));
        }
        for before in old.labels() {
            let objects: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM tracks t JOIN videos v ON v.id = t.video_id WHERE v.project_id = ? AND t.label_id = ?",
            )
            .bind(project.to_string())
            .bind(before.id.to_string())
            .fetch_one(&mut *tx)
            .await?;
            if objects == 0 {
                continue;
            }
            let Ok(after) = schema.label(before.id) else {
                return Err(Error::Conflict(format!(
                    "'{}' is used by {objects} object{}: move them to another label or delete them before removing it",
                    before.name,
                    plural(objects)
                )));
            };
            for kind in before.kinds.iter().filter(|k| !after.kinds.contains(k)) {
                let shapes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM shapes s JOIN tracks t ON t.id = s.track_id WHERE t.label_id = ? AND s.kind = ?")
                    .bind(before.id.to_string())
                    .bind(kind.name())
                    .fetch_one(&mut *tx)
                    .await?;
                if shapes > 0 {
                    return Err(Error::Conflict(format!(
                        "'{}' has {shapes} {} shape{}: keep {} allowed, or delete those shapes first",
                        before.name,
                        kind.name(),
                        plural(shapes),
                        kind.name()
                    )));
                }
            }
            for a in &before.attributes {
                if let Some(why) = attribute_change_refused(a, after.attribute(&a.name)) {
                    return Err(Error::Conflict(format!(
                        "attribute '{}' of '{}' {why}, and {objects} object{} carry its values: add a new attribute instead",
                        a.name,
                        before.name,
                        plural(objects)
                    )));
                }
            }
        }
        let ops = vec![ChangeOp::Upsert { entity: Entity::LabelSchema(schema.clone()) }];
        record(&mut tx, &mut next, project, "edit labels", ops, None, History::None, self.options.undo_depth, None, None).await?;
        tx.commit().await?;
        *clock = next;
        Ok(schema)
    }

    /// Validates and applies one command in one transaction, together with
    /// its undo entry and its outbox changes. When this returns `Ok`, the
    /// edit is on disk.
    pub async fn apply(&self, actor: &Actor, cmd: Command) -> Result<Applied> {
        self.apply_checked(None, actor, cmd).await
    }

    /// Like [`Store::apply`], but refuses (changing nothing) a command that
    /// would edit a project other than `project`: the actor's role was
    /// looked up for that one.
    pub async fn apply_in(&self, project: ProjectId, actor: &Actor, cmd: Command) -> Result<Applied> {
        self.apply_checked(Some(project), actor, cmd).await
    }

    /// Applies `commands` in one transaction as one undo step named
    /// `summary` (an import): all of them or, on the first refusal, none.
    /// Each command is planned after the ones before it are applied, so a
    /// track created early in the batch can take shapes later in it, and
    /// tracks numbered 0 take consecutive free numbers.
    pub async fn apply_batch(&self, project: ProjectId, actor: &Actor, summary: &str, commands: Vec<Command>) -> Result<Applied> {
        let (applied, ()) = self
            .batch(project, actor, summary, async |b: &mut Batch<'_>| {
                for cmd in commands {
                    b.apply(cmd).await?;
                }
                Ok(())
            })
            .await?;
        Ok(applied)
    }

    /// Runs `f` over one open transaction in which it applies commands as
    /// they come ([`Batch::apply`]), so an import streams its records into
    /// the store without holding them; commits them as one undo step named
    /// `summary` when `f` succeeds, and rolls all of them back when it fails
    /// (or is cancelled). Other writers wait until it ends; readers do not.
    pub async fn batch<T>(
        &self,
        project: ProjectId,
        actor: &Actor,
        summary: &str,
        f: impl AsyncFnOnce(&mut Batch<'_>) -> Result<T>,
    ) -> Result<(Applied, T)> {
        self.batch_with(project, actor, summary, None, f).await
    }

    /// A new undo group for [`Store::batch_in`]; nothing is written until
    /// an edit uses it.
    pub fn undo_group(&self) -> UndoGroup {
        UndoGroup(uuid::Uuid::new_v4())
    }

    /// [`Store::batch`], recorded as part of `group`: the group's batches,
    /// each committed on its own, undo (and redo) as one step, named by the
    /// first one's `summary`.
    ///
    /// A step is the run of the group's entries that lie next to each other
    /// on the undo stack. Batches of one group are meant to follow each
    /// other; when another edit (or an undo) came between them, the later
    /// batches start a new step of their own rather than reach under it. A
    /// batch that fails writes nothing (the ones before it stay one step);
    /// one that writes nothing leaves the history alone. Like any edit, a
    /// batch that writes clears the redo stack, so a run should be stopped
    /// before its steps are undone: an undo in the middle of a run takes
    /// what it committed so far, and the run's next batch then drops that
    /// undo's redo.
    pub async fn batch_in<T>(
        &self,
        project: ProjectId,
        actor: &Actor,
        summary: &str,
        group: &UndoGroup,
        f: impl AsyncFnOnce(&mut Batch<'_>) -> Result<T>,
    ) -> Result<(Applied, T)> {
        self.batch_with(project, actor, summary, Some(group), f).await
    }

    async fn batch_with<T>(
        &self,
        project: ProjectId,
        actor: &Actor,
        summary: &str,
        group: Option<&UndoGroup>,
        f: impl AsyncFnOnce(&mut Batch<'_>) -> Result<T>,
    ) -> Result<(Applied, T)> {
        let mut w = self.writer.lock().await;
        let Writer { conn, clock } = &mut *w;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let (value, next, inverse, left, changes) = {
            let mut b = Batch {
                conn: BatchConn::Free(&mut tx),
                next: clock.clone(),
                project,
                actor: *actor,
                inverse: Vec::new(),
                left: Vec::new(),
                changes: 0,
                items: 0,
                now: now(),
                contexts: command::Contexts::default(),
            };
            let value = f(&mut b).await?;
            b.finish().await?;
            let Batch { next, inverse, left, changes, .. } = b;
            (value, next, inverse, left, changes)
        };
        // An empty batch of a group would only add an empty step.
        let history = if group.is_some() && inverse.is_empty() { History::None } else { History::Edit };
        let group = group.map(|g| g.0.to_string());
        push_history(&mut tx, &next, project, summary, inverse, &left, history, self.options.undo_depth, group.as_deref(), None).await?;
        let later = changes >= CHECKPOINT_LATER_AT;
        if later {
            sqlx::query("PRAGMA wal_autocheckpoint = 0").execute(&mut *tx).await?;
        }
        let committed = tx.commit().await;
        if later {
            sqlx::query(&format!("PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")).execute(&mut *conn).await?;
            if committed.is_ok() {
                self.checkpoint_later();
            }
        }
        committed?;
        *clock = next;
        Ok((Applied { project, changes, summary: summary.to_owned() }, value))
    }

    async fn apply_checked(&self, expected: Option<ProjectId>, actor: &Actor, cmd: Command) -> Result<Applied> {
        let summary = cmd.summary();
        let mut w = self.writer.lock().await;
        let Writer { conn, clock } = &mut *w;
        let mut next = clock.clone();
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let mut contexts = command::Contexts::default();
        let plan = command::plan(&mut tx, actor, cmd, now(), &mut contexts).await?;
        if let Some(expected) = expected.filter(|e| *e != plan.project) {
            return Err(Error::Conflict(format!("the command edits project {}, not {expected}", plan.project)));
        }
        let applied =
            record(&mut tx, &mut next, plan.project, &summary, plan.ops, Some(&contexts), History::Edit, self.options.undo_depth, None, None).await?;
        tx.commit().await?;
        *clock = next;
        Ok(applied)
    }

    /// Undoes the project's last edit. `Err(NothingTo)` when there is none.
    pub async fn undo(&self, project: ProjectId) -> Result<Applied> {
        self.step(project, "undo", History::Undo).await
    }

    /// Redoes the last undone edit.
    pub async fn redo(&self, project: ProjectId) -> Result<Applied> {
        self.step(project, "redo", History::Redo).await
    }

    /// Undoes (or redoes) the top step of `stack`: its top entry and, when
    /// that entry is part of an undo group, the entries of the group right
    /// below it, in one transaction, newest first; pushes one entry for the
    /// whole step (of the same group) on the other stack.
    async fn step(&self, project: ProjectId, stack: &'static str, history: History) -> Result<Applied> {
        let mut w = self.writer.lock().await;
        let Writer { conn, clock } = &mut *w;
        let mut next = clock.clone();
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let project_s = project.to_string();
        let top: Option<(i64, Option<String>)> =
            sqlx::query_as("SELECT seq, group_id FROM undo_log WHERE project_id = ? AND stack = ? ORDER BY seq DESC LIMIT 1")
                .bind(&project_s)
                .bind(stack)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((last, group)) = top else {
            return Err(Error::NothingTo(stack));
        };
        // Where the step ends below: for a group, the newest entry of this
        // stack under the top one that is not of the group; else the top
        // entry is the step.
        let below = match &group {
            None => Some(last - 1),
            Some(g) => sqlx::query_scalar(
                "SELECT seq FROM undo_log WHERE project_id = ? AND stack = ? AND seq < ? AND group_id IS NOT ?
                 ORDER BY seq DESC LIMIT 1",
            )
            .bind(&project_s)
            .bind(stack)
            .bind(last)
            .bind(g)
            .fetch_optional(&mut *tx)
            .await?,
        };
        let entries: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(
            "SELECT seq, summary, inverse, expect FROM undo_log WHERE project_id = ? AND stack = ? AND seq > ? AND seq <= ?
             ORDER BY seq DESC",
        )
        .bind(&project_s)
        .bind(stack)
        .bind(below.unwrap_or(i64::MIN))
        .bind(last)
        .fetch_all(&mut *tx)
        .await?;
        // The step is named by its first (oldest) entry.
        let Some((first, summary)) = entries.last().map(|(seq, summary, ..)| (*seq, summary.clone())) else {
            return Err(Error::NothingTo(stack));
        };
        let mut ops: Vec<ChangeOp> = Vec::new();
        for (_, _, inverse, expect) in &entries {
            // A record someone else changed since this edit: undoing it would
            // overwrite their version silently. Refuse; the entries stay.
            let expect: Expect = expect.as_deref().map(decode_expect).transpose()?.unwrap_or_default();
            for (kind, id, hlc) in &expect {
                // Later versions of this device's own are the stack's business.
                if let Some((now, _)) = crate::remote::version(&mut tx, project, *kind, *id).await?
                    && now > *hlc
                    && now.device != self.device
                {
                    return Err(Error::Conflict(format!(
                        "cannot {stack} '{summary}': the {} was changed by someone else since (version {now}); edit it directly instead",
                        kind.as_str().replace('_', " ")
                    )));
                }
            }
            // Each entry's inverse is in replay order; the newest entry first.
            ops.extend(decode_inverse(inverse)?);
        }
        drop(entries);
        // The labels may have been edited since (here or by a sync): what
        // the step brings back must still fit them.
        if let Err(why) = fits_schema(&mut tx, project, &ops).await? {
            return Err(Error::Conflict(format!("cannot {stack} '{summary}': {why}")));
        }
        let popped = Some((first, last));
        let applied = record(&mut tx, &mut next, project, &summary, ops, None, history, self.options.undo_depth, group.as_deref(), popped).await?;
        tx.commit().await?;
        *clock = next;
        Ok(applied)
    }

    /// How many steps can be undone and redone in `project` (the adjacent
    /// entries of one undo group are one step).
    pub async fn history_depth(&self, project: ProjectId) -> Result<(u64, u64)> {
        let (undo, redo): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(stack = 'undo'), 0), COALESCE(SUM(stack = 'redo'), 0) FROM
             (SELECT stack, group_id, LAG(group_id) OVER (PARTITION BY stack ORDER BY seq) AS prev FROM undo_log WHERE project_id = ?)
             WHERE group_id IS NULL OR group_id IS NOT prev",
        )
        .bind(project.to_string())
        .fetch_one(&self.readers)
        .await?;
        Ok((undo.max(0) as u64, redo.max(0) as u64))
    }

    /// Runs SQLite's full integrity check; `Ok(())` when sound.
    pub async fn integrity_check(&self) -> Result<()> {
        let result: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check").fetch_all(&self.readers).await?;
        if result.len() == 1 && result.first().is_some_and(|s| s == "ok") {
            Ok(())
        } else {
            Err(Error::Corrupt { detail: result.join("; "), backup: backup::newest(&self.path), path: self.path.clone() })
        }
    }
}

pub(crate) async fn setting(conn: &mut SqliteConnection, key: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = ?").bind(key).fetch_optional(&mut *conn).await?)
}

pub(crate) async fn set_setting(conn: &mut SqliteConnection, key: &str, value: &str) -> Result<()> {
    sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        .bind(key)
        .bind(value)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// An open batch of [`Store::batch`]: commands applied here are written at
/// once inside its transaction and undone together.
pub struct Batch<'t> {
    conn: BatchConn<'t>,
    next: HlcClock,
    project: ProjectId,
    actor: Actor,
    inverse: Vec<ChangeOp>,
    left: Expect,
    changes: usize,
    items: usize,
    now: Timestamp,
    contexts: command::Contexts,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("project", &self.project).field("items", &self.items).finish_non_exhaustive()
    }
}

/// The write a batch's command left running, with the command's place.
type InFlight<'t> = Pin<Box<dyn Future<Output = (Result<()>, &'t mut SqliteConnection)> + Send + 't>>;

/// A batch's connection: free, or lent to the write of an earlier command
/// that SQLite's thread is still executing.
enum BatchConn<'t> {
    Free(&'t mut SqliteConnection),
    Writing { index: usize, what: String, write: InFlight<'t> },
    /// Only while it changes hands, or after the write holding it was dropped.
    Lost,
}

impl<'t> BatchConn<'t> {
    /// The connection, once the write in flight (if any) is done; that
    /// write's error is its command's.
    async fn ready(&mut self) -> Result<&mut SqliteConnection> {
        match std::mem::replace(self, BatchConn::Lost) {
            BatchConn::Writing { index, what, write } => {
                let (written, conn) = write.await;
                *self = BatchConn::Free(conn);
                written.map_err(|e| e.in_batch(index, &what))?;
            }
            other => *self = other,
        }
        match self {
            BatchConn::Free(conn) => Ok(&mut **conn),
            _ => Err(Error::Conflict("the batch lost its connection to a write that did not finish; run it again".into())),
        }
    }

    /// Starts `write` once the one before it is done, and sends its first
    /// statement to SQLite's thread, which executes it while the caller
    /// goes on (planning the next command, reading the next records).
    async fn start(&mut self, index: usize, what: String, write: ShapeWrite) -> Result<()> {
        self.ready().await?;
        let BatchConn::Free(conn) = std::mem::replace(self, BatchConn::Lost) else {
            return Err(Error::Conflict("the batch lost its connection; run it again".into()));
        };
        let mut write: InFlight<'t> = Box::pin(async move {
            let written = write.execute(&mut *conn).await;
            (written, conn)
        });
        match std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await {
            Poll::Ready((written, conn)) => {
                *self = BatchConn::Free(conn);
                written.map_err(|e| e.in_batch(index, &what))
            }
            Poll::Pending => {
                *self = BatchConn::Writing { index, what, write };
                Ok(())
            }
        }
    }
}

impl Batch<'_> {
    /// Validates and applies one command of the batch. A refused command
    /// fails the batch ([`Error::Batch`] names it); the caller may also
    /// check what it sends first and leave out what would be refused.
    ///
    /// New shapes on a track the batch created (an import's) are planned
    /// from what the batch knows, and their write runs on SQLite's thread
    /// while the caller prepares the next command; a write that fails
    /// fails the batch at the next command or at the end, naming its own.
    pub async fn apply(&mut self, cmd: Command) -> Result<()> {
        let what = cmd.summary();
        let index = self.items;
        self.items += 1;
        let plan = match command::plan_known(&self.actor, cmd, self.now, &mut self.contexts) {
            Ok(plan) => plan,
            Err(cmd) => {
                let conn = self.conn.ready().await?;
                command::plan(conn, &self.actor, cmd, self.now, &mut self.contexts).await
            }
        }
        .map_err(|e| e.in_batch(index, &what))?;
        if plan.project != self.project {
            return Err(Error::Conflict(format!("item {} ({what}) edits project {}, not {}", index + 1, plan.project, self.project)));
        }
        self.changes += plan.ops.len();
        if let Some(write) = self.known_shape_write(&plan.ops)? {
            return self.conn.start(index, what, write).await;
        }
        let conn = self.conn.ready().await?;
        write_ops(conn, &mut self.next, self.project, &plan.ops, Some(&self.contexts), &mut self.inverse, &mut self.left).await
    }

    /// The write of `ops` when it needs nothing read: a run of new shapes
    /// (planned as such) on tracks whose videos planning saw.
    fn known_shape_write(&mut self, ops: &[ChangeOp]) -> Result<Option<ShapeWrite>> {
        if !self.contexts.new_shapes || ops.len() < 2 || shape_run(ops) != ops.len() {
            return Ok(None);
        }
        let shapes = run_shapes(ops);
        let mut videos = HashMap::new();
        for s in &shapes {
            match self.contexts.video_of(s.track_id) {
                Some(v) => videos.entry(s.track_id).or_insert_with(|| v.to_string()),
                None => return Ok(None),
            };
        }
        let ids: Vec<String> = shapes.iter().map(|s| s.id.to_string()).collect();
        let (inverse, left) = (&mut self.inverse, &mut self.left);
        ShapeWrite::new(&mut self.next, self.project, ops, &ids, Replaced::default(), &videos, false, now_ms(), inverse, left).map(Some)
    }

    /// Waits for the write in flight, if any; its error is the batch's.
    async fn finish(&mut self) -> Result<()> {
        self.conn.ready().await.map(|_| ())
    }

    /// Records written so far.
    pub fn changes(&self) -> usize {
        self.changes
    }
}

/// Whether the tracks and shapes `ops` write fit the project's labels as
/// they are now (`Err`: why not, and what to do).
async fn fits_schema(tx: &mut SqliteConnection, project: ProjectId, ops: &[ChangeOp]) -> Result<std::result::Result<(), String>> {
    let mut schema = None;
    // The tracks the step writes, whatever their order among its ops: the
    // step is applied whole, so its shapes end up under those labels.
    let mut labels: std::collections::HashMap<TrackId, argus_core::id::LabelId> = ops
        .iter()
        .filter_map(|op| match op {
            ChangeOp::Upsert { entity: Entity::Track(t) } => Some((t.id, t.label_id)),
            _ => None,
        })
        .collect();
    for op in ops {
        let ChangeOp::Upsert { entity } = op else { continue };
        let (track, label) = match entity {
            Entity::Track(t) => (t.id, t.label_id),
            Entity::Shape(s) => match labels.get(&s.track_id) {
                Some(l) => (s.track_id, *l),
                None => {
                    let found: Option<String> =
                        sqlx::query_scalar("SELECT label_id FROM tracks WHERE id = ?").bind(s.track_id.to_string()).fetch_optional(&mut *tx).await?;
                    // A shape of a track the step does not bring back cannot be written anyway.
                    let Some(found) = found else { continue };
                    let l = rows::parse(&found, "label id")?;
                    labels.insert(s.track_id, l);
                    (s.track_id, l)
                }
            },
            _ => continue,
        };
        if schema.is_none() {
            let p = rows::project(&mut *tx, project).await?;
            schema = Some(rows::schema(&mut *tx, p.schema_id).await?);
        }
        let Some(schema) = &schema else { continue };
        let Ok(label) = schema.label(label) else {
            return Ok(Err(format!(
                "it would bring back object {track} of a label removed since; add that label again first"
            )));
        };
        let checked = match entity {
            Entity::Track(t) => label.check_attributes(&t.attributes),
            Entity::Shape(s) => label.check_kind(s.kind()).and_then(|()| label.check_attributes(&s.attributes)),
            _ => Ok(()),
        };
        if let Err(e) = checked {
            return Ok(Err(format!("the labels were edited since and what it brings back no longer fits them ({e}); change the labels back first")));
        }
    }
    Ok(Ok(()))
}

fn plural(n: i64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Why an attribute's edit could break the values objects already carry
/// (`None`: it cannot).
fn attribute_change_refused(before: &AttributeSpec, after: Option<&AttributeSpec>) -> Option<String> {
    let Some(after) = after else { return Some("would be removed".into()) };
    if before.per_frame != after.per_frame {
        let scope = |per_frame: bool| if per_frame { "per frame" } else { "per object" };
        return Some(format!("would change from {} to {}", scope(before.per_frame), scope(after.per_frame)));
    }
    match (&before.kind, &after.kind) {
        (AttributeKind::Bool { .. }, AttributeKind::Bool { .. }) | (AttributeKind::Text { .. }, AttributeKind::Text { .. }) => None,
        (AttributeKind::Enum { options: old, .. }, AttributeKind::Enum { options: new, .. }) => {
            old.iter().find(|o| !new.contains(o)).map(|o| format!("would lose its option '{o}'"))
        }
        (AttributeKind::Number { min, max, .. }, AttributeKind::Number { min: new_min, max: new_max, .. }) => {
            (new_min > min || new_max < max).then(|| format!("would narrow its range {min}..{max} to {new_min}..{new_max}"))
        }
        (old, new) => Some(format!("would change type from {} to {}", kind_name(old), kind_name(new))),
    }
}

fn kind_name(k: &AttributeKind) -> &'static str {
    match k {
        AttributeKind::Bool { .. } => "yes/no",
        AttributeKind::Enum { .. } => "choice",
        AttributeKind::Text { .. } => "text",
        AttributeKind::Number { .. } => "number",
    }
}

/// Applies `ops` inside the caller's transaction, with their outbox rows and
/// undo entry (of `group`, if any). `popped` is the first and last seq of the
/// undo/redo step being replayed, removed in the same transaction. The
/// caller commits, then keeps the advanced clock.
#[allow(clippy::too_many_arguments)] // one internal call shape, four callers
async fn record(
    tx: &mut SqliteConnection,
    clock: &mut HlcClock,
    project: ProjectId,
    summary: &str,
    ops: Vec<ChangeOp>,
    planned: Option<&command::Contexts>,
    history: History,
    depth: u32,
    group: Option<&str>,
    popped: Option<(i64, i64)>,
) -> Result<Applied> {
    let mut inverse = Vec::with_capacity(ops.len());
    let mut left = Vec::with_capacity(ops.len());
    write_ops(tx, clock, project, &ops, planned, &mut inverse, &mut left).await?;
    push_history(tx, clock, project, summary, inverse, &left, history, depth, group, popped).await?;
    Ok(Applied { project, changes: ops.len(), summary: summary.to_owned() })
}

/// What undoing an edit must find unchanged: each record's kind, id and the
/// version the edit wrote.
type Expect = Vec<(EntityKind, uuid::Uuid, Hlc)>;

/// Runs shorter than this are written one item each in an undo entry.
const RUN_MIN: usize = 8;

/// One item of an undo entry's JSON: an op, or a run of shape deletes (the
/// inverse of created shapes: an import's, a propagation's) as their ids
/// packed 16 bytes each, base64.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum InverseItem {
    Op(Box<ChangeOp>),
    DeleteShapes { delete_shapes: String },
}

/// An undo entry's ops as JSON; what [`decode_inverse`] reads back.
fn encode_inverse(ops: &[ChangeOp]) -> Result<String> {
    let mut items = Vec::new();
    let mut i = 0;
    while i < ops.len() {
        let run = ops[i..].iter().take_while(|op| matches!(op, ChangeOp::Delete { kind: EntityKind::Shape, .. })).count();
        if run >= RUN_MIN {
            let mut bytes = Vec::with_capacity(run * 16);
            for op in &ops[i..i + run] {
                if let ChangeOp::Delete { id, .. } = op {
                    bytes.extend_from_slice(id.as_bytes());
                }
            }
            items.push(InverseItem::DeleteShapes { delete_shapes: BASE64.encode(bytes) });
            i += run;
        } else {
            items.push(InverseItem::Op(Box::new(ops[i].clone())));
            i += 1;
        }
    }
    Ok(serde_json::to_string(&items)?)
}

fn decode_inverse(json: &str) -> Result<Vec<ChangeOp>> {
    let items: Vec<InverseItem> = serde_json::from_str(json)?;
    let mut ops = Vec::with_capacity(items.len());
    for item in items {
        match item {
            InverseItem::Op(op) => ops.push(*op),
            InverseItem::DeleteShapes { delete_shapes } => {
                let bytes = BASE64.decode(delete_shapes).map_err(|e| Error::decode(format!("an undo entry's shape ids: {e}")))?;
                let mut r = crate::codec::VarintReader::new(&bytes);
                while !r.is_empty() {
                    ops.push(ChangeOp::Delete { kind: EntityKind::Shape, id: r.uuid()? });
                }
            }
        }
    }
    Ok(ops)
}

/// One item of an undo entry's expected versions: a record's, or a run of
/// shapes' versions of one device (ids and HLCs packed: 16 bytes of id,
/// then the wall time's change from the one before and the counter, as
/// varints), base64.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum ExpectItem {
    One(EntityKind, uuid::Uuid, Hlc),
    Shapes { shapes: String, device: DeviceId },
}

fn encode_expect(left: &Expect) -> Result<String> {
    let mut items = Vec::new();
    let mut i = 0;
    while i < left.len() {
        let (kind, _, hlc) = left[i];
        let run = if kind == EntityKind::Shape {
            left[i..].iter().take_while(|(k, _, h)| *k == EntityKind::Shape && h.device == hlc.device).count()
        } else {
            0
        };
        if run >= RUN_MIN {
            let mut bytes = Vec::with_capacity(run * 22);
            let mut wall = 0u64;
            for (_, id, h) in &left[i..i + run] {
                bytes.extend_from_slice(id.as_bytes());
                crate::codec::put_varint(&mut bytes, h.wall_ms as i64 - wall as i64);
                crate::codec::put_varint(&mut bytes, i64::from(h.counter));
                wall = h.wall_ms;
            }
            items.push(ExpectItem::Shapes { shapes: BASE64.encode(bytes), device: hlc.device });
            i += run;
        } else {
            items.push(ExpectItem::One(left[i].0, left[i].1, left[i].2));
            i += 1;
        }
    }
    Ok(serde_json::to_string(&items)?)
}

fn decode_expect(json: &str) -> Result<Expect> {
    let items: Vec<ExpectItem> = serde_json::from_str(json)?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            ExpectItem::One(kind, id, hlc) => out.push((kind, id, hlc)),
            ExpectItem::Shapes { shapes, device } => {
                let bytes = BASE64.decode(shapes).map_err(|e| Error::decode(format!("an undo entry's versions: {e}")))?;
                let mut r = crate::codec::VarintReader::new(&bytes);
                let mut wall = 0i64;
                while !r.is_empty() {
                    let id = r.uuid()?;
                    wall = wall.checked_add(r.varint()?).ok_or_else(|| Error::decode("an undo entry's wall time is out of range"))?;
                    let counter = u32::try_from(r.varint()?).map_err(|e| Error::decode(format!("an undo entry's counter: {e}")))?;
                    let wall_ms = u64::try_from(wall).map_err(|e| Error::decode(format!("an undo entry's wall time: {e}")))?;
                    out.push((EntityKind::Shape, id, Hlc { wall_ms, counter, device }));
                }
            }
        }
    }
    Ok(out)
}

/// Applies `ops` with their outbox rows, appending each op's inverse to
/// `inverse` (in apply order) and its new version to `left`.
///
/// A run of shape upserts (a bulk command: an import, propagated masks) is
/// written a run at a time: the versions and records it replaces read with
/// one query per 500 shapes, and the shapes, versions and outbox rows
/// inserted many rows per statement; what that writes is what writing
/// them one by one writes.
async fn write_ops(
    tx: &mut SqliteConnection,
    clock: &mut HlcClock,
    project: ProjectId,
    ops: &[ChangeOp],
    planned: Option<&command::Contexts>,
    inverse: &mut Vec<ChangeOp>,
    left: &mut Expect,
) -> Result<()> {
    let now_ms = now_ms();
    let project_s = project.to_string();
    let mut i = 0;
    while i < ops.len() {
        let run = shape_run(&ops[i..]);
        if run > 1 {
            write_shapes(tx, clock, project, &project_s, &ops[i..i + run], planned, now_ms, inverse, left).await?;
            i += run;
            continue;
        }
        let op = &ops[i];
        i += 1;
        let (kind, id) = op.target();
        let base = crate::remote::version(&mut *tx, project, kind, id).await?.map(|(h, _)| h);
        inverse.push(rows::apply_op(&mut *tx, project, op).await?);
        let change = Change { id: ChangeId::new(), hlc: clock.tick(now_ms)?, base, project_id: project, op: op.clone() };
        crate::remote::set_version(&mut *tx, project, kind, id, &change.hlc, matches!(op, ChangeOp::Delete { .. })).await?;
        left.push((kind, id, change.hlc));
        sqlx::query("INSERT INTO outbox (change_id, project_id, hlc, entity_kind, entity_id, change) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(change.id.to_string())
            .bind(&project_s)
            .bind(change.hlc.to_string())
            .bind(kind.as_str())
            .bind(id.to_string())
            .bind(serde_json::to_string(&change)?)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// How many ops from the first are upserts of distinct shapes (each op of
/// such a run leaves the others' records alone, so their reads can come
/// first and their writes together).
fn shape_run(ops: &[ChangeOp]) -> usize {
    let mut seen = HashSet::new();
    ops.iter()
        .take_while(|op| match op {
            ChangeOp::Upsert { entity: Entity::Shape(s) } => seen.insert(s.id),
            _ => false,
        })
        .count()
}

/// Rows per multi-row statement: under SQLite's 32,766 variables.
const ROWS_PER_STATEMENT: usize = 500;

/// The shapes a run of upserts carries ([`shape_run`]).
fn run_shapes(ops: &[ChangeOp]) -> Vec<&Shape> {
    ops.iter()
        .filter_map(|op| match op {
            ChangeOp::Upsert { entity: Entity::Shape(s) } => Some(s),
            _ => None,
        })
        .collect()
}

/// Writes a run of upserts of distinct shapes ([`shape_run`]).
#[allow(clippy::too_many_arguments)] // write_ops' own arguments
async fn write_shapes(
    tx: &mut SqliteConnection,
    clock: &mut HlcClock,
    project: ProjectId,
    project_s: &str,
    ops: &[ChangeOp],
    planned: Option<&command::Contexts>,
    now_ms: u64,
    inverse: &mut Vec<ChangeOp>,
    left: &mut Expect,
) -> Result<()> {
    let shapes = run_shapes(ops);
    debug_assert_eq!(shapes.len(), ops.len());
    let ids: Vec<String> = shapes.iter().map(|s| s.id.to_string()).collect();
    // What the run replaces: versions (the changes' bases: a live shape's on
    // its row, a deleted one's tombstone in `versions`) and records (the
    // inverses).
    let kind = EntityKind::Shape.as_str();
    let mut replaced = Replaced::default();
    // New shapes of a track the batch created (planning knew): nothing to read.
    let new_shapes = planned.is_some_and(|c| c.new_shapes);
    let lookups = if new_shapes { &ids[..0] } else { &ids[..] };
    for chunk in lookups.chunks(ROWS_PER_STATEMENT) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT id, hlc FROM versions WHERE project_id = ");
        q.push_bind(project_s).push(" AND kind = ").push_bind(kind).push(" AND id IN (");
        let mut list = q.separated(", ");
        for id in chunk {
            list.push_bind(id.as_str());
        }
        q.push(")");
        let found: Vec<(String, String)> = q.build_query_as().fetch_all(&mut *tx).await?;
        for (id, hlc) in found {
            let hlc = rows::parse(&hlc, "version hlc")?;
            replaced.tombstones.push(id.clone());
            replaced.bases.insert(id, hlc);
        }
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT id, data, hlc FROM shapes WHERE id IN (");
        let mut list = q.separated(", ");
        for id in chunk {
            list.push_bind(id.as_str());
        }
        q.push(")");
        for row in q.build().fetch_all(&mut *tx).await? {
            use sqlx::Row;
            let shape = rows::shape_from_row(&row)?;
            if let Some(hlc) = row.try_get::<Option<String>, _>("hlc")? {
                replaced.bases.insert(row.try_get("id")?, rows::parse(&hlc, "shape hlc")?);
            }
            replaced.before.insert(shape.id, shape);
        }
    }
    // Each shape's track's video (usually one track a run): as planning
    // saw it, or read here.
    let mut videos: HashMap<TrackId, String> = HashMap::new();
    for s in &shapes {
        if videos.contains_key(&s.track_id) {
            continue;
        }
        let v: String = match planned.and_then(|c| c.video_of(s.track_id)) {
            Some(v) => v.to_string(),
            None => sqlx::query_scalar("SELECT video_id FROM tracks WHERE id = ?")
                .bind(s.track_id.to_string())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| Error::not_found("track", s.track_id))?,
        };
        videos.insert(s.track_id, v);
    }
    let write = ShapeWrite::new(clock, project, ops, &ids, replaced, &videos, !new_shapes, now_ms, inverse, left)?;
    write.execute(tx).await
}

/// What a run of shape upserts replaces, as read before it is written.
#[derive(Default)]
struct Replaced {
    /// The versions the changes are based on, by shape id.
    bases: HashMap<String, Hlc>,
    /// Deleted shapes that live again: their tombstones go.
    tombstones: Vec<String>,
    /// The records the run overwrites (for the inverses).
    before: HashMap<ShapeId, Shape>,
}

/// An outbox row: change id, HLC, entity kind, entity id, the change (JSON).
type OutboxRow = (String, String, &'static str, String, String);

/// All a run of shape upserts writes, worked out (versions, outbox rows,
/// inverses, the encoded shapes) and ready to execute.
struct ShapeWrite {
    project: ProjectId,
    shapes: Vec<rows::EncodedShape>,
    /// Upsert (a shape may be there) or plain insert (none can be).
    replace: bool,
    tombstones: Vec<String>,
    outbox: Vec<OutboxRow>,
}

impl ShapeWrite {
    #[allow(clippy::too_many_arguments)] // write_shapes' own arguments
    fn new(
        clock: &mut HlcClock,
        project: ProjectId,
        ops: &[ChangeOp],
        ids: &[String],
        replaced: Replaced,
        videos: &HashMap<TrackId, String>,
        replace: bool,
        now_ms: u64,
        inverse: &mut Vec<ChangeOp>,
        left: &mut Expect,
    ) -> Result<Self> {
        let Replaced { bases, tombstones, mut before } = replaced;
        let shapes = run_shapes(ops);
        let kind = EntityKind::Shape.as_str();
        // The version each shape gets. New shapes (no version here, not even a
        // tombstone) of one track take consecutive HLCs and, when there are at
        // least BULK_MIN of them, one bulk outbox row (sync.rs) instead of a row
        // each: nothing else of this device's is written at those HLCs on that
        // track, so the row's range names exactly them.
        let mut hlcs: Vec<Option<Hlc>> = vec![None; shapes.len()];
        let mut groups: Vec<(TrackId, Vec<usize>)> = Vec::new();
        for (i, id_s) in ids.iter().enumerate() {
            if bases.contains_key(id_s) {
                continue;
            }
            let track = shapes[i].track_id;
            match groups.iter_mut().find(|(t, _)| *t == track) {
                Some((_, members)) => members.push(i),
                None => groups.push((track, vec![i])),
            }
        }
        // The bulk rows first: their HLCs came first.
        let mut outbox = Vec::with_capacity(shapes.len());
        for (track, members) in groups.iter().filter(|(_, m)| m.len() >= BULK_MIN) {
            for &i in members {
                hlcs[i] = Some(clock.tick(now_ms)?);
            }
            let (Some(&first), Some(&last)) = (members.first(), members.last()) else { continue };
            let (Some(from), Some(to)) = (hlcs[first], hlcs[last]) else { continue };
            let bulk = crate::sync::BulkShapes { id: ChangeId::new(), track: *track, from, to, sent: None };
            outbox.push((bulk.id.to_string(), from.to_string(), crate::sync::BULK_KIND, track.to_string(), serde_json::to_string(&bulk)?));
        }
        for (((op, s), id_s), hlc) in ops.iter().zip(&shapes).zip(ids).zip(hlcs.iter_mut()) {
            let id = *s.id.as_uuid();
            inverse.push(match before.remove(&s.id) {
                Some(b) => ChangeOp::Upsert { entity: Entity::Shape(b) },
                None => ChangeOp::Delete { kind: EntityKind::Shape, id },
            });
            let h = match *hlc {
                Some(h) => h,
                None => {
                    let change = Change { id: ChangeId::new(), hlc: clock.tick(now_ms)?, base: bases.get(id_s).copied(), project_id: project, op: op.clone() };
                    outbox.push((change.id.to_string(), change.hlc.to_string(), kind, id_s.clone(), serde_json::to_string(&change)?));
                    change.hlc
                }
            };
            *hlc = Some(h);
            left.push((EntityKind::Shape, id, h));
        }
        // The shapes with their versions, each on its track's video.
        let mut rows_in = Vec::with_capacity(shapes.len());
        for (s, hlc) in shapes.iter().zip(hlcs) {
            let video = videos.get(&s.track_id).ok_or_else(|| Error::not_found("track", s.track_id))?;
            rows_in.push((*s, video.clone(), hlc));
        }
        Ok(Self { project, shapes: rows::encode_shapes(&rows_in)?, replace, tombstones, outbox })
    }

    /// Writes it: the shapes (new records inserted, not upserted: were one
    /// there after all, the batch fails rather than overwrite it; a shape
    /// that lives again loses its tombstone), then the outbox rows.
    async fn execute(self, tx: &mut SqliteConnection) -> Result<()> {
        let project_s = self.project.to_string();
        let project_s = project_s.as_str();
        rows::insert_shapes(&mut *tx, &self.shapes, self.replace).await?;
        crate::remote::clear_tombstones(&mut *tx, self.project, self.tombstones.into_iter()).await?;
        for chunk in self.outbox.chunks(ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("INSERT INTO outbox (change_id, project_id, hlc, entity_kind, entity_id, change) ");
            q.push_values(chunk, |mut b, (change_id, hlc, kind, id, json)| {
                b.push_bind(change_id.as_str()).push_bind(project_s).push_bind(hlc.as_str()).push_bind(*kind).push_bind(id.as_str()).push_bind(json.as_str());
            });
            q.build().execute(&mut *tx).await?;
        }
        Ok(())
    }
}

/// The fewest new shapes of one track that a run queues as one bulk row.
const BULK_MIN: usize = 8;

/// Pushes the undo (or redo) entry of what was just written: `inverse` in
/// apply order (undo replays it backwards), marked with `group` if any.
/// `popped` is the first and last seq of the step being replayed (on the
/// undo stack for an undo, the redo stack for a redo), removed in the same
/// transaction.
/// Then trims the stack to `depth` steps, never half a group.
#[allow(clippy::too_many_arguments)] // one internal call shape, two callers
async fn push_history(
    tx: &mut SqliteConnection,
    clock: &HlcClock,
    project: ProjectId,
    summary: &str,
    mut inverse: Vec<ChangeOp>,
    left: &Expect,
    history: History,
    depth: u32,
    group: Option<&str>,
    popped: Option<(i64, i64)>,
) -> Result<()> {
    let now_ms = now_ms();
    let project_s = project.to_string();
    let wrote = !left.is_empty();
    inverse.reverse();
    if let Some((first, last)) = popped {
        let from = if history == History::Redo { "redo" } else { "undo" };
        sqlx::query("DELETE FROM undo_log WHERE project_id = ? AND stack = ? AND seq >= ? AND seq <= ?")
            .bind(&project_s)
            .bind(from)
            .bind(first)
            .bind(last)
            .execute(&mut *tx)
            .await?;
    }
    let push = match history {
        History::None => None,
        History::Edit => {
            sqlx::query("DELETE FROM undo_log WHERE project_id = ? AND stack = 'redo'").bind(&project_s).execute(&mut *tx).await?;
            Some("undo")
        }
        History::Undo => Some("redo"),
        History::Redo => Some("undo"),
    };
    if let Some(stack) = push {
        sqlx::query(
            "INSERT INTO undo_log (project_id, stack, summary, inverse, expect, created_at, group_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&project_s)
        .bind(stack)
        .bind(summary)
        .bind(encode_inverse(&inverse)?)
        .bind(encode_expect(left)?)
        .bind(now_ms as i64)
        .bind(group)
        .execute(&mut *tx)
        .await?;
        trim_history(tx, &project_s, stack, depth).await?;
    }
    if wrote {
        set_setting(&mut *tx, "last_hlc", &clock.last().to_string()).await?;
    }
    Ok(())
}

/// Keeps the newest `depth` steps of a project's stack: the entries below
/// the first entry of the `depth`-th step from the top go. A step starts at
/// an entry without a group or of another group than the one below it. Only
/// the index is read (seq and group), never the entries' inverses.
async fn trim_history(tx: &mut SqliteConnection, project: &str, stack: &str, depth: u32) -> Result<()> {
    let depth = i64::from(depth.max(1));
    // No more entries than steps to keep: nothing to trim (most edits).
    let over: Option<i64> = sqlx::query_scalar("SELECT seq FROM undo_log WHERE project_id = ? AND stack = ? ORDER BY seq DESC LIMIT 1 OFFSET ?")
        .bind(project)
        .bind(stack)
        .bind(depth)
        .fetch_optional(&mut *tx)
        .await?;
    if over.is_none() {
        return Ok(());
    }
    sqlx::query(
        "DELETE FROM undo_log WHERE project_id = ?1 AND stack = ?2 AND seq <
         (SELECT seq FROM
          (SELECT seq, group_id, LAG(group_id) OVER (ORDER BY seq) AS prev FROM undo_log WHERE project_id = ?1 AND stack = ?2)
          WHERE group_id IS NULL OR group_id IS NOT prev ORDER BY seq DESC LIMIT 1 OFFSET ?3)",
    )
    .bind(project)
    .bind(stack)
    .bind(depth - 1)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

impl FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "full" => Ok(Durability::Full),
            "normal" => Ok(Durability::Normal),
            other => Err(format!("unknown durability '{other}'; use full or normal")),
        }
    }
}
