//! Sync conflicts, as the user settles them: a shape edited here and on
//! another device before they synced keeps the newer version, and the
//! other one is recorded (argus-store), never lost. Here each is described
//! (which object, which frame, what each side did and when) and settled:
//! keep the version that is current, or put the other one back as a new
//! edit (one undo step, synced like any edit).

use argus_core::id::{ProjectId, ShapeId};
use argus_core::model::{ChangeOp, Entity, Shape};
use argus_store::Command;
use uuid::Uuid;

use crate::Workspace;
use crate::dto::{ConflictInfo, ConflictKeep, ConflictSide, ConflictsSettled};
use crate::edit::parse_id;
use crate::error::{CommandError, CommandResult, ErrorKind};

fn side(shape: Option<&Shape>, at_ms: u64, here: bool) -> ConflictSide {
    ConflictSide {
        what: match shape {
            Some(s) if s.outside => "marked outside the frame".to_owned(),
            Some(s) => format!("a {}", s.kind().name()),
            None => "deleted".to_owned(),
        },
        at_ms,
        here,
    }
}

impl Workspace {
    /// The project's open conflicts, oldest first.
    pub async fn conflicts(&self, project_id: &str) -> CommandResult<Vec<ConflictInfo>> {
        let id: ProjectId = parse_id("project", project_id)?;
        let store = self.store();
        store.project(id).await?;
        let device = store.device();
        let schema = store.schema(id).await?;
        let mut out = Vec::new();
        for c in store.conflicts(id).await? {
            let shape_id = ShapeId::from_uuid(c.record);
            let other = match &c.other {
                ChangeOp::Upsert { entity: Entity::Shape(s) } => Some(s.clone()),
                _ => None,
            };
            let current = store.shape(shape_id).await?;
            // Which object and frame: from either version (one may be a delete).
            let Some(known) = current.as_ref().or(other.as_ref()) else {
                // Both sides are deletes: nothing differs any more.
                store.resolve_conflict(c.id).await?;
                continue;
            };
            let (object, video_id) = match store.track(known.track_id).await {
                Ok(t) => {
                    let label = schema.label(t.label_id).map(|l| l.name.clone()).unwrap_or_else(|_| "object".into());
                    (format!("{label} #{}", t.number), Some(t.video_id.to_string()))
                }
                Err(_) => ("a deleted object".to_owned(), None),
            };
            out.push(ConflictInfo {
                id: c.id.to_string(),
                object,
                track_id: known.track_id.to_string(),
                video_id,
                frame: known.frame,
                current: side(current.as_ref(), c.current_hlc.wall_ms, c.current_hlc.device == device),
                other: side(other.as_ref(), c.other_hlc.wall_ms, c.other_hlc.device == device),
            });
        }
        Ok(out)
    }

    /// Settles a conflict: keeps the current version, or puts the other one
    /// back (a new edit: one undo step, synced). Answers the conflicts left
    /// and the undo history.
    pub async fn resolve_conflict(&self, project_id: &str, conflict_id: &str, keep: ConflictKeep) -> CommandResult<ConflictsSettled> {
        let id: ProjectId = parse_id("project", project_id)?;
        let conflict: Uuid = parse_id("conflict", conflict_id)?;
        let store = self.store();
        let open = store.conflicts(id).await?;
        let c = open.iter().find(|c| c.id == conflict).ok_or_else(|| {
            CommandError::not_found("that conflict is settled already (another window, or both versions are gone)")
        })?;
        if keep == ConflictKeep::Other {
            let shape_id = ShapeId::from_uuid(c.record);
            let command = match &c.other {
                ChangeOp::Upsert { entity: Entity::Shape(s) } => {
                    store.track(s.track_id).await.map_err(|_| {
                        CommandError::new(ErrorKind::Conflict, "the object was deleted since, so its other version has nowhere to go; keep the current one")
                    })?;
                    Command::SetShape { shape: s.clone() }
                }
                ChangeOp::Delete { .. } => match store.shape(shape_id).await? {
                    Some(_) => Command::DeleteShape { shape_id },
                    None => {
                        store.resolve_conflict(conflict).await?;
                        return self.settled(project_id).await;
                    }
                },
                ChangeOp::Upsert { .. } => return Err(CommandError::internal("a conflict on something other than a shape")),
            };
            let actor = store.actor(id, store.local_user()).await?;
            // Written as this user's edit now: a newer version than both.
            store.apply_in(id, &actor, command).await?;
        }
        store.resolve_conflict(conflict).await?;
        self.settled(project_id).await
    }

    async fn settled(&self, project_id: &str) -> CommandResult<ConflictsSettled> {
        Ok(ConflictsSettled { conflicts: self.conflicts(project_id).await?, history: self.history(project_id).await? })
    }
}
