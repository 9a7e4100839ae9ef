//! Typed ids.
//!
//! Every entity has its own id type so a `TrackId` can never be passed where a
//! `ShapeId` is expected. Ids are UUID v7: time-ordered, so new rows append to
//! B-tree indexes in SQLite and PostgreSQL, and ids made offline on different
//! machines never collide, which lets the desktop create objects without
//! asking the server.
//!
//! Records with a natural key get the same id on every device instead: a
//! shape is one per track and frame ([`ShapeId::for_track_frame`]), a video
//! one per project and content hash ([`VideoId::for_content`]), both UUID v5
//! in Argus's namespace. Two devices that draw on the same frame of the same
//! track, or add the same file, then name the same record, and sync merges
//! them instead of keeping duplicates.

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

/// The namespace of Argus's derived (UUID v5) ids.
const NAMESPACE: Uuid = Uuid::from_u128(0x6a1c_52f0_8a8e_4d4b_9f0e_2b7c_3d5a_a901);

impl ShapeId {
    /// The id of the shape of `track` on `frame`, the same on every device.
    pub fn for_track_frame(track: TrackId, frame: u64) -> Self {
        let mut name = Vec::with_capacity(30);
        name.extend_from_slice(b"shape:");
        name.extend_from_slice(track.as_uuid().as_bytes());
        name.extend_from_slice(&frame.to_be_bytes());
        Self(Uuid::new_v5(&NAMESPACE, &name))
    }
}

impl VideoId {
    /// The id of the video with content `sha256` in `project`, the same on
    /// every device.
    pub fn for_content(project: ProjectId, sha256: &str) -> Self {
        let mut name = Vec::with_capacity(86);
        name.extend_from_slice(b"video:");
        name.extend_from_slice(project.as_uuid().as_bytes());
        name.extend_from_slice(sha256.to_ascii_lowercase().as_bytes());
        Self(Uuid::new_v5(&NAMESPACE, &name))
    }
}

#[cfg(test)]
mod derived_tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let (t1, t2) = (TrackId::new(), TrackId::new());
        assert_eq!(ShapeId::for_track_frame(t1, 7), ShapeId::for_track_frame(t1, 7));
        assert_ne!(ShapeId::for_track_frame(t1, 7), ShapeId::for_track_frame(t1, 8));
        assert_ne!(ShapeId::for_track_frame(t1, 7), ShapeId::for_track_frame(t2, 7));
        let p = ProjectId::new();
        let sha = "ab".repeat(32);
        assert_eq!(VideoId::for_content(p, &sha), VideoId::for_content(p, &sha.to_ascii_uppercase()));
        assert_ne!(VideoId::for_content(p, &sha), VideoId::for_content(ProjectId::new(), &sha));
        assert_eq!(ShapeId::for_track_frame(t1, 7).as_uuid().get_version_num(), 5);
        // Fixed forever: the same inputs name the same record in every release.
        let fixed = TrackId::from_uuid(Uuid::from_u128(1));
        assert_eq!(ShapeId::for_track_frame(fixed, 0).to_string(), ShapeId::for_track_frame(fixed, 0).to_string());
    }
}
