use serde::{Deserialize, Serialize};

use super::{ModelError, Timestamp, check_name};
use crate::{
    id::{ProjectId, VideoId},
    time::Rational,
};

/// Display rotation from container metadata, clockwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(try_from = "i32", into = "i32")]
pub enum Rotation {
    #[default]
    R0,
    R90,
    R180,
    R270,
}

impl Rotation {
    pub fn degrees(self) -> i32 {
        match self {
            Rotation::R0 => 0,
            Rotation::R90 => 90,
            Rotation::R180 => 180,
            Rotation::R270 => 270,
        }
    }

    /// From any multiple of 90 degrees, positive or negative (FFmpeg's
    /// display matrix gives e.g. -90 for a phone video).
    pub fn from_degrees(deg: i32) -> Result<Self, ModelError> {
        match deg.rem_euclid(360) {
            0 if deg % 90 == 0 => Ok(Rotation::R0),
            90 => Ok(Rotation::R90),
            180 => Ok(Rotation::R180),
            270 => Ok(Rotation::R270),
            _ => Err(ModelError::InvalidRotation(deg)),
        }
    }

    pub fn swaps_axes(self) -> bool {
        matches!(self, Rotation::R90 | Rotation::R270)
    }
}

impl TryFrom<i32> for Rotation {
    type Error = ModelError;
    fn try_from(d: i32) -> Result<Self, Self::Error> {
        Self::from_degrees(d)
    }
}

impl From<Rotation> for i32 {
    fn from(r: Rotation) -> Self {
        r.degrees()
    }
}

/// A video in a project: identified by its content hash, so the same file
/// renamed or moved is still the same video, and a different file at the
/// same path is not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Video {
    pub id: VideoId,
    pub project_id: ProjectId,
    pub name: String,
    /// Lowercase hex sha256 of the file's bytes.
    pub sha256: String,
    /// Coded size, before rotation.
    pub width: u32,
    pub height: u32,
    /// Frames per second (nominal; variable-rate videos are indexed by
    /// `argus-media`'s packet index).
    pub frame_rate: Rational,
    pub frame_count: u64,
    /// Duration in seconds.
    pub duration: Rational,
    pub codec: String,
    #[serde(default)]
    pub rotation: Rotation,
    /// Where the file is on this machine, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_path: Option<String>,
    /// Its key in the project's object storage, once uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_key: Option<String>,
    /// Where its file stands on the team's server.
    #[serde(default)]
    pub remote: RemoteState,
    pub created_at: Timestamp,
}

/// Where a video's file stands on the team's server: the server's
/// `status` (and `failure`) of its video record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RemoteState {
    /// Only on this machine: not uploaded, or no server at all.
    #[default]
    Local,
    /// Announced to the server; its bytes are on their way.
    Uploading,
    /// Uploaded; a worker is checking and probing it.
    Processing,
    /// Checked and probed: others can open it.
    Ready,
    /// The server could not use the upload, and says why.
    Failed { reason: String },
}

impl RemoteState {
    /// From the server's `status` and `failure` fields.
    pub fn from_status(status: &str, failure: Option<&str>) -> Result<Self, ModelError> {
        Ok(match status {
            "local" => RemoteState::Local,
            "uploading" => RemoteState::Uploading,
            "processing" => RemoteState::Processing,
            "ready" => RemoteState::Ready,
            "failed" => RemoteState::Failed { reason: failure.unwrap_or("no reason was given").to_owned() },
            other => return Err(ModelError::InvalidVideoStatus(other.to_owned())),
        })
    }

    pub fn status(&self) -> &'static str {
        match self {
            RemoteState::Local => "local",
            RemoteState::Uploading => "uploading",
            RemoteState::Processing => "processing",
            RemoteState::Ready => "ready",
            RemoteState::Failed { .. } => "failed",
        }
    }

    pub fn failure(&self) -> Option<&str> {
        match self {
            RemoteState::Failed { reason } => Some(reason),
            _ => None,
        }
    }
}

impl Video {
    /// Checks the metadata: a name, a real sha256, a non-zero size and rate.
    pub fn validate(&self) -> Result<(), ModelError> {
        check_name("video name", &self.name, 500)?;
        check_sha256(&self.sha256)?;
        if self.width == 0 || self.height == 0 {
            return Err(ModelError::InvalidVideoSize { width: self.width, height: self.height });
        }
        if !self.frame_rate.is_positive() {
            return Err(ModelError::InvalidFrameRate(self.frame_rate));
        }
        Ok(())
    }

    /// The size frames are shown (and annotated) at: width and height swap
    /// for 90 and 270 degree rotations.
    pub fn display_size(&self) -> (u32, u32) {
        if self.rotation.swaps_axes() { (self.height, self.width) } else { (self.width, self.height) }
    }

    pub fn check_frame(&self, frame: u64) -> Result<(), ModelError> {
        if frame >= self.frame_count {
            return Err(ModelError::FrameOutOfRange { frame, frame_count: self.frame_count });
        }
        Ok(())
    }
}

/// `Ok` for 64 lowercase hex digits.
pub fn check_sha256(s: &str) -> Result<(), ModelError> {
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(ModelError::InvalidSha256(s.to_owned()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Video {
        Video {
            id: VideoId::new(),
            project_id: ProjectId::new(),
            name: "street.mp4".into(),
            sha256: "a".repeat(64),
            width: 1920,
            height: 1080,
            frame_rate: Rational::new(30000, 1001).expect("valid"),
            frame_count: 300,
            duration: Rational::new(10010, 1000).expect("valid"),
            codec: "h264".into(),
            rotation: Rotation::R0,
            local_path: None,
            object_key: None,
            remote: RemoteState::Local,
            created_at: Timestamp(0),
        }
    }

    #[test]
    fn remote_state_round_trips_the_server_status() {
        for st in ["local", "uploading", "processing", "ready", "failed"] {
            let s = RemoteState::from_status(st, Some("bad file")).expect("known status");
            assert_eq!(s.status(), st);
            assert_eq!(s.failure(), (st == "failed").then_some("bad file"));
        }
        assert!(matches!(RemoteState::from_status("gone", None), Err(ModelError::InvalidVideoStatus(_))));
        let json = serde_json::to_value(RemoteState::Failed { reason: "x".into() }).expect("json");
        assert_eq!(json, serde_json::json!({"status": "failed", "reason": "x"}));
        // Older records without the field read as local.
        let mut v = serde_json::to_value(sample()).expect("json");
        v.as_object_mut().expect("object").remove("remote");
        assert_eq!(serde_json::from_value::<Video>(v).expect("video").remote, RemoteState::Local);
    }

    #[test]
    fn validates_and_rotates() {
        let mut v = sample();
        v.validate().expect("valid");
        assert_eq!(v.display_size(), (1920, 1080));
        v.rotation = Rotation::from_degrees(-90).expect("valid");
        assert_eq!(v.rotation, Rotation::R270);
        assert_eq!(v.display_size(), (1080, 1920));
        assert!(Rotation::from_degrees(45).is_err());
        assert!(serde_json::from_str::<Rotation>("45").is_err());
        assert!(v.check_frame(299).is_ok());
        assert!(matches!(v.check_frame(300), Err(ModelError::FrameOutOfRange { .. })));
        v.sha256 = "xyz".into();
        assert!(matches!(v.validate(), Err(ModelError::InvalidSha256(_))));
        let mut v = sample();
        v.width = 0;
        assert!(v.validate().is_err());
        let mut v = sample();
        v.frame_rate = Rational::new(-30, 1).expect("valid rational");
        assert!(matches!(v.validate(), Err(ModelError::InvalidFrameRate(_))));
        let json = serde_json::to_string(&sample()).expect("json");
        assert!(serde_json::from_str::<Video>(&json).is_ok());
    }
}
