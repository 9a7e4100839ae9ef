//! Changes as the outbox records them and sync exchanges them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Comment, LabelSchema, Member, Project, Review, Shape, Track, Video};
use crate::{
    hlc::Hlc,
    id::{ChangeId, ProjectId},
};

/// Every kind of record that syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Project,
    LabelSchema,
    Member,
    Video,
    Track,
    Shape,
    Review,
    Comment,
}

impl EntityKind {
    pub const ALL: [EntityKind; 8] = [
        EntityKind::Project,
        EntityKind::LabelSchema,
        EntityKind::Member,
        EntityKind::Video,
        EntityKind::Track,
        EntityKind::Shape,
        EntityKind::Review,
        EntityKind::Comment,
    ];

    /// The snake_case name, as serde writes it and the sync tables store it.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Project => "project",
            EntityKind::LabelSchema => "label_schema",
            EntityKind::Member => "member",
            EntityKind::Video => "video",
            EntityKind::Track => "track",
            EntityKind::Shape => "shape",
            EntityKind::Review => "review",
            EntityKind::Comment => "comment",
        }
    }
}

/// The kind named by [`EntityKind::as_str`].
impl std::str::FromStr for EntityKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntityKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| format!("{s:?} is not a kind of record"))
    }
}

/// A whole record, as written by an upsert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "record", rename_all = "snake_case")]
pub enum Entity {
    Project(Project),
    LabelSchema(LabelSchema),
    Member(Member),
    Video(Video),
    Track(Track),
    Shape(Shape),
    Review(Review),
    Comment(Comment),
}

impl Entity {
    pub fn kind(&self) -> EntityKind {
        match self {
            Entity::Project(_) => EntityKind::Project,
            Entity::LabelSchema(_) => EntityKind::LabelSchema,
            Entity::Member(_) => EntityKind::Member,
            Entity::Video(_) => EntityKind::Video,
            Entity::Track(_) => EntityKind::Track,
            Entity::Shape(_) => EntityKind::Shape,
            Entity::Review(_) => EntityKind::Review,
            Entity::Comment(_) => EntityKind::Comment,
        }
    }

    /// Replaces the user `from` with `to` wherever the record names an
    /// author or reviewer: a device's local user (edits made before the
    /// first sign-in) becomes the signed-in user on the first push. `true`
    /// when something changed.
    pub fn map_user(&mut self, from: crate::id::UserId, to: crate::id::UserId) -> bool {
        let swap = |u: &mut Option<crate::id::UserId>| {
            if *u == Some(from) {
                *u = Some(to);
                true
            } else {
                false
            }
        };
        match self {
            Entity::Track(t) => swap(&mut t.author),
            Entity::Shape(s) => swap(&mut s.author),
            Entity::Review(r) => swap(&mut r.reviewer),
            Entity::Comment(c) if c.author == from => {
                c.author = to;
                true
            }
            _ => false,
        }
    }

    /// The record's id (for a member: the user's id; members are keyed by
    /// project and user).
    pub fn id(&self) -> Uuid {
        match self {
            Entity::Project(p) => *p.id.as_uuid(),
            Entity::LabelSchema(s) => *s.id().as_uuid(),
            Entity::Member(m) => *m.user_id.as_uuid(),
            Entity::Video(v) => *v.id.as_uuid(),
            Entity::Track(t) => *t.id.as_uuid(),
            Entity::Shape(s) => *s.id.as_uuid(),
            Entity::Review(r) => *r.id.as_uuid(),
            Entity::Comment(c) => *c.id.as_uuid(),
        }
    }
}

/// What a change does to one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
// Nearly every change is an upsert: boxing it would cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub enum ChangeOp {
    /// Create or replace the whole record.
    Upsert { entity: Entity },
    /// Delete the record (a tombstone, so the delete syncs too).
    Delete { kind: EntityKind, id: Uuid },
}

impl ChangeOp {
    /// The permission a member needs to make this change (the server checks
    /// it on every pushed change; its SQL twin is `argus.change_permission`).
    pub fn permission(&self) -> super::Permission {
        use super::Permission as P;
        let (kind, _) = self.target();
        match kind {
            EntityKind::Project if matches!(self, ChangeOp::Delete { .. }) => P::DeleteProject,
            EntityKind::Project | EntityKind::LabelSchema => P::EditSchema,
            EntityKind::Member => P::ManageMembers,
            EntityKind::Video => P::UploadVideos,
            EntityKind::Review => P::Review,
            EntityKind::Comment => P::Comment,
            EntityKind::Track | EntityKind::Shape => P::EditAnnotations,
        }
    }

    pub fn target(&self) -> (EntityKind, Uuid) {
        match self {
            ChangeOp::Upsert { entity } => (entity.kind(), entity.id()),
            ChangeOp::Delete { kind, id } => (*kind, *id),
        }
    }
}

/// One change made on one device: its client-generated id makes sending it
/// twice harmless, and its HLC orders it against everyone else's changes
/// (last writer wins per record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub id: ChangeId,
    pub hlc: Hlc,
    /// The HLC of the version of the record this change was made on (`None`:
    /// the record did not exist here). A change whose base is not the
    /// record's current version was made without seeing it: an edit on both
    /// sides since the last sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Hlc>,
    pub project_id: ProjectId,
    pub op: ChangeOp,
}

impl Change {
    /// Whether `self` wins over `other` for the same record: the later HLC.
    pub fn supersedes(&self, other: &Change) -> bool {
        self.hlc > other.hlc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        hlc::HlcClock,
        id::{DeviceId, LabelSchemaId},
        model::Timestamp,
    };

    #[test]
    fn entity_kind_names_match_serde() {
        use EntityKind::*;
        let every = [Project, LabelSchema, Member, Video, Track, Shape, Review, Comment];
        assert_eq!(EntityKind::ALL, every);
        for k in every {
            assert_eq!(serde_json::to_value(k).expect("json"), serde_json::Value::String(k.as_str().into()));
            assert_eq!(k.as_str().parse::<EntityKind>(), Ok(k));
        }
        assert!("shapes".parse::<EntityKind>().is_err());
    }

    #[test]
    fn changes_round_trip_and_order_by_hlc() {
        let project = Project::new("Street scenes", LabelSchemaId::new(), Timestamp(5)).expect("valid");
        let mut clock = HlcClock::new(DeviceId::new());
        let a = Change {
            id: ChangeId::new(),
            hlc: clock.tick(100).expect("tick"),
            base: None,
            project_id: project.id,
            op: ChangeOp::Upsert { entity: Entity::Project(project.clone()) },
        };
        let b = Change {
            id: ChangeId::new(),
            hlc: clock.tick(100).expect("tick"),
            base: None,
            project_id: project.id,
            op: ChangeOp::Delete { kind: EntityKind::Project, id: *project.id.as_uuid() },
        };
        assert_eq!(a.op.target(), b.op.target());
        assert!(b.supersedes(&a) && !a.supersedes(&b));
        let json = serde_json::to_string(&a).expect("json");
        assert!(json.contains(r#""action":"upsert""#) && json.contains(r#""kind":"project""#), "{json}");
        assert_eq!(serde_json::from_str::<Change>(&json).expect("back"), a);
        let json = serde_json::to_string(&b).expect("json");
        assert_eq!(serde_json::from_str::<Change>(&json).expect("back"), b);
    }
}
