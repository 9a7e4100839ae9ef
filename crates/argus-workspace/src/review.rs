//! Review: a reviewer opens a review of a video, an object or a range of
//! frames, steps through it, approves it or rejects it with a comment that
//! says what to fix, and the annotator reopens it once fixed. Comments form
//! a thread, each optionally pinned to a frame. Every step is one store
//! command (one undo step, synced like any edit), checked by argus-core's
//! review rules: a rejection needs a comment, only a pending review is
//! decided, and only members whose role may review do so.

use std::collections::HashMap;

use argus_core::id::{ReviewId, TrackId, UserId, VideoId};
use argus_core::model::{Comment, Review, ReviewScope, ReviewState, Timestamp, Video};
use argus_store::{Command, ReviewFilter, Store};

use crate::Workspace;
use crate::dto::{HistoryState, ReviewComment, ReviewInfo, ReviewScopeInfo, ReviewVerdict, Reviewed};
use crate::edit::parse_id;
use crate::error::{CommandError, CommandResult};

/// Names of the people in a project's reviews: the local user is "you",
/// members by their display name, anyone else by the start of their id.
struct People {
    me: UserId,
    names: HashMap<UserId, String>,
}

impl People {
    async fn of(store: &Store, video: &Video) -> CommandResult<Self> {
        let names = store
            .members(video.project_id)
            .await?
            .into_iter()
            .filter(|m| !m.display_name.trim().is_empty())
            .map(|m| (m.user_id, m.display_name))
            .collect();
        Ok(Self { me: store.local_user(), names })
    }

    fn name(&self, user: UserId) -> String {
        if user == self.me {
            return "you".into();
        }
        self.names.get(&user).cloned().unwrap_or_else(|| {
            let id = user.to_string();
            format!("user {}", &id[..id.len().min(8)])
        })
    }
}

fn state_name(state: ReviewState) -> &'static str {
    match state {
        ReviewState::Pending => "pending",
        ReviewState::Approved => "approved",
        ReviewState::Rejected => "rejected",
    }
}

/// The reviews of `video`, oldest first, each with its thread.
async fn video_reviews(store: &Store, video: &Video) -> CommandResult<Vec<ReviewInfo>> {
    let filter = ReviewFilter { video: Some(video.id), ..ReviewFilter::default() };
    let reviews = store.review_queue(video.project_id, &filter).await?;
    if reviews.is_empty() {
        return Ok(Vec::new());
    }
    let people = People::of(store, video).await?;
    let schema = store.schema(video.project_id).await?;
    let tracks: HashMap<TrackId, String> = store
        .tracks(video.id)
        .await?
        .into_iter()
        .map(|t| {
            let label = schema.label(t.label_id).map(|l| l.name.clone()).unwrap_or_else(|_| "object".into());
            (t.id, format!("{label} #{}", t.number))
        })
        .collect();
    let mut out = Vec::with_capacity(reviews.len());
    for review in reviews {
        let (scope, covers, first_frame) = match review.scope {
            ReviewScope::Video => (ReviewScopeInfo::Video, "the whole video".to_owned(), 0),
            ReviewScope::Track { track_id } => {
                let first = store.keyframes(track_id).await?.first().copied().unwrap_or(0);
                let name = tracks.get(&track_id).cloned().unwrap_or_else(|| "a deleted object".into());
                (ReviewScopeInfo::Track { track_id: track_id.to_string() }, name, first)
            }
            ReviewScope::Frames { start, end } => {
                let covers = if start == end { format!("frame {start}") } else { format!("frames {start}–{end}") };
                (ReviewScopeInfo::Frames { start, end }, covers, start)
            }
        };
        let comments = store
            .comments(review.id)
            .await?
            .into_iter()
            .map(|c| ReviewComment {
                id: c.id.to_string(),
                author: people.name(c.author),
                body: c.body,
                frame: c.frame,
                created_at: c.created_at.0,
            })
            .collect();
        out.push(ReviewInfo {
            id: review.id.to_string(),
            video_id: review.video_id.to_string(),
            scope,
            covers,
            first_frame,
            state: state_name(review.state).into(),
            reviewer: review.reviewer.map(|u| people.name(u)),
            comment: review.comment,
            created_at: review.created_at.0,
            updated_at: review.updated_at.0,
            comments,
        });
    }
    Ok(out)
}

impl Workspace {
    /// The reviews of a video, oldest first, with their threads.
    pub async fn reviews(&self, video_id: &str) -> CommandResult<Vec<ReviewInfo>> {
        let store = self.store();
        let video = store.video(parse_id::<VideoId>("video", video_id)?).await?;
        video_reviews(store, &video).await
    }

    /// Opens a review (pending) of the whole video, one of its objects, or
    /// a range of its frames. One undo step.
    pub async fn open_review(&self, video_id: &str, scope: &ReviewScopeInfo) -> CommandResult<Reviewed> {
        let store = self.store();
        let video = store.video(parse_id::<VideoId>("video", video_id)?).await?;
        let scope = match scope {
            ReviewScopeInfo::Video => ReviewScope::Video,
            ReviewScopeInfo::Track { track_id } => ReviewScope::Track { track_id: parse_id("track", track_id)? },
            &ReviewScopeInfo::Frames { start, end } => {
                if start > end {
                    return Err(CommandError::invalid(format!(
                        "frames {start}–{end}: the first frame comes after the last; give the range in order"
                    )));
                }
                ReviewScope::Frames { start, end }
            }
        };
        let review = Review::new(video.id, scope, Timestamp(0))?;
        let id = review.id;
        apply(store, &video, id, vec![Command::CreateReview { review }]).await
    }

    /// A reviewer's verdict: approve a pending review, reject it with a
    /// comment saying what to fix, or reopen it (rejected work fixed, or an
    /// approval taken back). One undo step.
    pub async fn decide_review(&self, review_id: &str, verdict: ReviewVerdict, comment: Option<&str>) -> CommandResult<Reviewed> {
        let store = self.store();
        let review = store.review(parse_id::<ReviewId>("review", review_id)?).await?;
        let video = store.video(review.video_id).await?;
        let comment = comment.map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned);
        let to = match verdict {
            ReviewVerdict::Approve => ReviewState::Approved,
            ReviewVerdict::Reject => ReviewState::Rejected,
            ReviewVerdict::Reopen => ReviewState::Pending,
        };
        // The comment goes into the thread behind "<state>: ", so that copy's
        // bound is the one that speaks.
        let prefix = format!("{}: ", state_name(to));
        let room = Comment::MAX_BODY - prefix.chars().count();
        if let Some(c) = &comment
            && c.chars().count() > room
        {
            return Err(CommandError::invalid(format!("the comment has {} characters; keep it under {room}", c.chars().count())));
        }
        if !review.state.can_become(to) {
            let now = state_name(review.state);
            return Err(CommandError::invalid(match verdict {
                ReviewVerdict::Reopen => format!("the review is already {now}"),
                _ => format!("the review is {now}, so it cannot be {} now: reopen it first", state_name(to)),
            }));
        }
        let command = match verdict {
            ReviewVerdict::Approve => Command::Approve { review_id: review.id, comment: comment.clone() },
            ReviewVerdict::Reject => {
                let Some(comment) = comment.clone() else {
                    return Err(CommandError::invalid("say what to fix: a rejection needs a comment"));
                };
                Command::Reject { review_id: review.id, comment }
            }
            ReviewVerdict::Reopen => Command::Reopen { review_id: review.id },
        };
        // A verdict's comment also goes into the thread, so that what was
        // asked stays there once the review is reopened (the verdict holds
        // only the last one). Both in one undo step.
        let mut commands = vec![command];
        if let Some(c) = comment {
            let body = format!("{prefix}{c}");
            commands.push(Command::AddComment { comment: Comment::new(review.id, store.local_user(), &body, None, Timestamp(0))? });
        }
        apply(store, &video, review.id, commands).await
    }

    /// Adds a comment to a review's thread, pinned to `frame` if given. One
    /// undo step.
    pub async fn comment_review(&self, review_id: &str, body: &str, frame: Option<u64>) -> CommandResult<Reviewed> {
        let store = self.store();
        let review = store.review(parse_id::<ReviewId>("review", review_id)?).await?;
        let video = store.video(review.video_id).await?;
        if let Some(f) = frame {
            video.check_frame(f)?;
        }
        let comment = Comment::new(review.id, store.local_user(), body, frame, Timestamp(0))?;
        apply(store, &video, review.id, vec![Command::AddComment { comment }]).await
    }
}

/// Applies a review step's commands as the local user, as one undo step
/// named after the first, and answers with the video's reviews.
async fn apply(store: &Store, video: &Video, review: ReviewId, commands: Vec<Command>) -> CommandResult<Reviewed> {
    let actor = store.actor(video.project_id, store.local_user()).await?;
    let summary = commands.first().map(Command::summary).unwrap_or_default();
    // A refusal is the refused command's own error (not "item 1 of the batch").
    let applied = store.apply_batch(video.project_id, &actor, &summary, commands).await.map_err(|e| match e {
        argus_store::Error::Batch { source, .. } => *source,
        e => e,
    })?;
    let (undo, redo) = store.history_depth(video.project_id).await?;
    Ok(Reviewed {
        review_id: review.to_string(),
        reviews: video_reviews(store, video).await?,
        history: HistoryState { summary: applied.summary, undo, redo },
    })
}
