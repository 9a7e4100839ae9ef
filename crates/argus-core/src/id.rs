//! Typed ids.
//!
//! Every entity has its own id type so a `TrackId` can never be passed where a
//! `ShapeId` is expected. Ids are UUID v7: time-ordered, so new rows append to
//! B-tree indexes in SQLite and PostgreSQL, and ids made offline on different
//! machines never collide, which lets the desktop create objects without
//! asking the server.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered (UUID v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    )*};
}

typed_id! {
    /// A team: owns projects, storage quotas and members.
    TeamId,
    /// An invitation to join a team or a project.
    InvitationId,
    /// A project: videos, a label schema, members.
    ProjectId,
    /// A label schema (a versioned set of labels).
    LabelSchemaId,
    /// One label of a schema.
    LabelId,
    /// A video in a project.
    VideoId,
    /// One object followed across frames.
    TrackId,
    /// One shape of a track on one frame.
    ShapeId,
    /// A review decision.
    ReviewId,
    /// A comment in a review thread.
    CommentId,
    /// A user account (the auth server's `sub`).
    UserId,
    /// One locally recorded change (outbox entry), unique across clients.
    ChangeId,
    /// One installation of the desktop app (a sync node).
    DeviceId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_ordered_and_round_trip() {
        let a = TrackId::new();
        let b = TrackId::new();
        assert_ne!(a, b);
        assert!(a < b, "v7 ids made later sort later");
        assert_eq!(a.as_uuid().get_version_num(), 7);
        let s = a.to_string();
        assert_eq!(s.parse::<TrackId>().expect("parse"), a);
        let json = serde_json::to_string(&a).expect("serialise");
        assert_eq!(json, format!("\"{s}\""));
        assert_eq!(serde_json::from_str::<TrackId>(&json).expect("deserialise"), a);
        assert!("not-a-uuid".parse::<TrackId>().is_err());
    }
}
