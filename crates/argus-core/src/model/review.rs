use serde::{Deserialize, Serialize};

use super::{ModelError, Timestamp};
use crate::id::{CommentId, ReviewId, TrackId, UserId, VideoId};

/// Where a review stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Waiting for a reviewer (new work, or work sent back and fixed).
    Pending,
    Approved,
    /// Sent back to the annotator with a comment saying what to fix.
    Rejected,
}

impl ReviewState {
    /// Allowed moves: a reviewer decides a pending review; rejected work is
    /// resubmitted (back to pending); an approval can be reopened.
    pub fn can_become(self, to: ReviewState) -> bool {
        matches!(
            (self, to),
            (ReviewState::Pending, ReviewState::Approved | ReviewState::Rejected)
                | (ReviewState::Rejected, ReviewState::Pending)
                | (ReviewState::Approved, ReviewState::Pending)
        )
    }
}

/// What a review covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum ReviewScope {
    Video,
    Track { track_id: TrackId },
    /// Frames `start..=end` of the video.
    Frames { start: u64, end: u64 },
}

/// A review of part of a video's annotations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub id: ReviewId,
    pub video_id: VideoId,
    pub scope: ReviewScope,
    pub state: ReviewState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewer: Option<UserId>,
    /// The reviewer's verdict comment (required when rejecting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Review {
    pub fn new(video_id: VideoId, scope: ReviewScope, now: Timestamp) -> Result<Self, ModelError> {
        if let ReviewScope::Frames { start, end } = scope
            && start > end
        {
            return Err(ModelError::InvalidFrameRange { start, end });
        }
        Ok(Self {
            id: ReviewId::new(),
            video_id,
            scope,
            state: ReviewState::Pending,
            reviewer: None,
            comment: None,
            created_at: now,
            updated_at: now,
        })
    }

    /// Moves the review to `to`, checking the transition. A rejection must
    /// say what to fix.
    pub fn transition(
        &mut self,
        to: ReviewState,
        reviewer: UserId,
        comment: Option<String>,
        now: Timestamp,
    ) -> Result<(), ModelError> {
        if !self.state.can_become(to) {
            return Err(ModelError::InvalidReviewTransition { from: self.state, to });
        }
        let comment = comment.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
        if to == ReviewState::Rejected && comment.is_none() {
            return Err(ModelError::RejectionNeedsComment);
        }
        self.state = to;
        self.reviewer = Some(reviewer);
        self.comment = comment;
        self.updated_at = now;
        Ok(())
    }

    /// Whether the review covers `frame` of `track`.
    pub fn covers(&self, track: TrackId, frame: u64) -> bool {
        match self.scope {
            ReviewScope::Video => true,
            ReviewScope::Track { track_id } => track_id == track,
            ReviewScope::Frames { start, end } => (start..=end).contains(&frame),
        }
    }
}

/// A comment in a review's thread, optionally pinned to a frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: CommentId,
    pub review_id: ReviewId,
    pub author: UserId,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<u64>,
    pub created_at: Timestamp,
}

impl Comment {
    pub const MAX_BODY: usize = 10_000;

    pub fn new(review_id: ReviewId, author: UserId, body: &str, frame: Option<u64>, now: Timestamp) -> Result<Self, ModelError> {
        super::check_name("comment", body, Self::MAX_BODY)?;
        Ok(Self { id: CommentId::new(), review_id, author, body: body.trim().to_owned(), frame, created_at: now })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn review_workflow() {
        let reviewer = UserId::new();
        let mut r = Review::new(VideoId::new(), ReviewScope::Frames { start: 10, end: 20 }, Timestamp(0)).expect("valid");
        assert!(r.covers(TrackId::new(), 15) && !r.covers(TrackId::new(), 21));
        assert_eq!(r.transition(ReviewState::Rejected, reviewer, Some("  ".into()), Timestamp(1)), Err(ModelError::RejectionNeedsComment));
        assert_eq!(r.state, ReviewState::Pending, "a refused transition changes nothing");
        r.transition(ReviewState::Rejected, reviewer, Some("mask misses the mirror".into()), Timestamp(2)).expect("reject");
        assert!(matches!(
            r.transition(ReviewState::Approved, reviewer, None, Timestamp(3)),
            Err(ModelError::InvalidReviewTransition { .. })
        ));
        r.transition(ReviewState::Pending, reviewer, None, Timestamp(4)).expect("resubmit");
        r.transition(ReviewState::Approved, reviewer, None, Timestamp(5)).expect("approve");
        assert_eq!((r.state, r.updated_at), (ReviewState::Approved, Timestamp(5)));
        assert!(Review::new(VideoId::new(), ReviewScope::Frames { start: 5, end: 4 }, Timestamp(0)).is_err());
        assert!(Comment::new(r.id, reviewer, "", None, Timestamp(0)).is_err());
        let json = serde_json::to_string(&r).expect("json");
        assert_eq!(serde_json::from_str::<Review>(&json).expect("back"), r);
    }
}
