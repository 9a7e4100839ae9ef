//! Review, as the page drives it: open a review of a video, an object or
//! frames; reject with what to fix; reopen; approve; comments pinned to
//! frames; what is refused and why; a verdict undone.

use argus_testkit::{ensure, str_of};
use serde_json::{Value, json};

use crate::util::{TestResult, TestWs, VIDEO_FRAMES};

/// The review `id` among a command's answer's `reviews`.
fn find<'a>(answer: &'a Value, id: &str) -> Result<&'a Value, String> {
    answer["reviews"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["id"] == json!(id)))
        .ok_or_else(|| format!("review {id} is not in {answer}"))
}

fn undo_depth(answer: &Value) -> u64 {
    answer["history"]["undo"].as_u64().unwrap_or(u64::MAX)
}

/// `reviews` of the video, shaped like a command's answer.
fn listed(t: &TestWs, vid: &str) -> Result<Value, String> {
    Ok(json!({ "reviews": t.ok("reviews", json!({ "videoId": vid }))? }))
}

pub fn workflow() -> TestResult {
    let t = TestWs::new()?;
    let (project, video, _) = argus_testkit::project_with_video(t.dir.path(), |cmd, args| t.ok(cmd, args))?;
    let pid = str_of(&project, "id")?;
    let vid = str_of(&video, "id")?;
    let label = project["labels"][0]["id"].as_str().ok_or("label 0")?;
    let drawn = t.ok("draw_shape", json!({ "videoId": vid, "frame": 5, "target": { "to": "new_track", "label_id": label },
        "shape": { "kind": "bbox", "bbox": { "x": 5.0, "y": 5.0, "width": 20.0, "height": 10.0 } } }))?;
    let track = str_of(&drawn, "track_id")?;
    ensure!(t.ok("reviews", json!({ "videoId": vid }))? == json!([]), "a new video has no reviews");

    // Three reviews: the object, a range of frames, the whole video.
    let opened = t.ok("open_review", json!({ "videoId": vid, "scope": { "scope": "track", "track_id": track } }))?;
    let on_track = str_of(&opened, "review_id")?.to_owned();
    let r = find(&opened, &on_track)?;
    ensure!(
        r["state"] == "pending" && r["covers"] == "box #1" && r["first_frame"] == json!(5) && r["reviewer"].is_null(),
        "a review of the object starts pending, named after it, from its first keyframe: {r}"
    );
    ensure!(opened["history"]["summary"] == "open review", "one undo step: {opened}");
    let frames = t.ok("open_review", json!({ "videoId": vid, "scope": { "scope": "frames", "start": 4, "end": 9 } }))?;
    let on_frames = str_of(&frames, "review_id")?.to_owned();
    ensure!(find(&frames, &on_frames)?["covers"] == "frames 4–9", "frames named: {frames}");
    let whole = t.ok("open_review", json!({ "videoId": vid, "scope": { "scope": "video" } }))?;
    ensure!(whole["reviews"].as_array().map(Vec::len) == Some(3), "three reviews, oldest first: {whole}");
    ensure!(whole["reviews"][0]["id"] == json!(on_track) && whole["reviews"][2]["covers"] == "the whole video", "order: {whole}");

    // Rejecting needs a comment; the review stays pending.
    for comment in [json!(null), json!("   ")] {
        let (kind, message) = t.err("decide_review", json!({ "reviewId": on_track, "verdict": "reject", "comment": comment }))?;
        ensure!(kind == "invalid" && message.contains("what to fix"), "reject without a comment: {kind}: {message}");
    }
    // Too long for the thread's copy ("rejected: " + the comment): said with the room there is.
    let max = argus_core::model::Comment::MAX_BODY;
    let (kind, message) = t.err("decide_review", json!({ "reviewId": on_track, "verdict": "reject", "comment": "x".repeat(max - 9) }))?;
    ensure!(kind == "invalid" && message.contains(&format!("keep it under {}", max - 10)), "a comment too long: {kind}: {message}");
    ensure!(find(&listed(&t, vid)?, &on_track)?["state"] == "pending", "still pending");
    let rejected = t.ok("decide_review", json!({ "reviewId": on_track, "verdict": "reject", "comment": "  the box misses the left edge  " }))?;
    let r = find(&rejected, &on_track)?;
    ensure!(
        r["state"] == "rejected" && r["comment"] == "the box misses the left edge" && r["reviewer"] == "you",
        "rejected with the trimmed comment, by the local user: {r}"
    );
    // A rejected review is not approved until it is reopened (resubmitted).
    let (kind, message) = t.err("decide_review", json!({ "reviewId": on_track, "verdict": "approve" }))?;
    ensure!(kind == "invalid" && message.contains("rejected"), "approve a rejected review: {kind}: {message}");

    // The thread: a comment pinned to a frame, one not; bad ones refused.
    t.ok("comment_review", json!({ "reviewId": on_track, "body": "see here", "frame": 5 }))?;
    let thread = t.ok("comment_review", json!({ "reviewId": on_track, "body": "fixed, please look again" }))?;
    let comments = find(&thread, &on_track)?["comments"].as_array().cloned().ok_or("no comments")?;
    ensure!(
        comments.len() == 3
            && comments[0]["body"] == "rejected: the box misses the left edge" && comments[0]["frame"].is_null()
            && comments[1]["body"] == "see here" && comments[1]["frame"] == json!(5) && comments[1]["author"] == "you"
            && comments[2]["frame"].is_null(),
        "the rejection's comment, then two comments, oldest first, the second pinned to frame 5: {comments:?}"
    );
    // The box, three reviews, the rejection (with its thread comment), two comments.
    ensure!(undo_depth(&thread) == 7, "the rejection and its thread comment were one undo step: {thread}");
    let (kind, message) = t.err("comment_review", json!({ "reviewId": on_track, "body": "x", "frame": VIDEO_FRAMES }))?;
    ensure!(kind == "invalid" && message.contains(&VIDEO_FRAMES.to_string()), "a frame past the end: {kind}: {message}");
    let (kind, _) = t.err("comment_review", json!({ "reviewId": on_track, "body": "  " }))?;
    ensure!(kind == "invalid", "an empty comment is refused");

    // Reopened (the fix resubmitted), then approved with a note.
    let reopened = t.ok("decide_review", json!({ "reviewId": on_track, "verdict": "reopen" }))?;
    ensure!(find(&reopened, &on_track)?["state"] == "pending", "reopened: {reopened}");
    let (kind, message) = t.err("decide_review", json!({ "reviewId": on_track, "verdict": "reopen" }))?;
    ensure!(kind == "invalid" && message.contains("already pending"), "reopen a pending review: {kind}: {message}");
    let approved = t.ok("decide_review", json!({ "reviewId": on_track, "verdict": "approve", "comment": "good" }))?;
    let r = find(&approved, &on_track)?;
    ensure!(r["state"] == "approved" && r["comment"] == "good", "approved: {r}");
    ensure!(r["comments"].as_array().and_then(|c| c.last()).is_some_and(|c| c["body"] == "approved: good"), "the note in the thread: {r}");
    let reopened_rejected = find(&reopened, &on_track)?;
    ensure!(
        reopened_rejected["comment"].is_null() && reopened_rejected["comments"][0]["body"] == "rejected: the box misses the left edge",
        "once reopened, what was asked stays in the thread: {reopened_rejected}"
    );
    ensure!(find(&approved, &on_frames)?["state"] == "pending", "the other reviews are untouched: {approved}");

    // A verdict is an edit like any other: undo takes the approval back.
    t.ok("undo", json!({ "projectId": pid }))?;
    let list = listed(&t, vid)?;
    ensure!(find(&list, &on_track)?["state"] == "pending", "undo of the approval: {list}");

    // Bad requests say what is wrong.
    let (kind, message) = t.err("open_review", json!({ "videoId": vid, "scope": { "scope": "frames", "start": 9, "end": 4 } }))?;
    ensure!(kind == "invalid" && message.contains("in order"), "a reversed range: {kind}: {message}");
    let (kind, _) = t.err("open_review", json!({ "videoId": vid, "scope": { "scope": "frames", "start": 0, "end": VIDEO_FRAMES } }))?;
    ensure!(kind == "invalid", "a range past the end is refused");
    let (kind, _) = t.err("open_review", json!({ "videoId": vid, "scope": { "scope": "track", "track_id": argus_core::id::TrackId::new().to_string() } }))?;
    ensure!(kind == "not_found", "an unknown object");
    let (kind, _) = t.err("decide_review", json!({ "reviewId": argus_core::id::ReviewId::new().to_string(), "verdict": "approve" }))?;
    ensure!(kind == "not_found", "an unknown review");
    let (kind, message) = t.err("decide_review", json!({ "reviewId": "nope", "verdict": "approve" }))?;
    ensure!(kind == "invalid" && message.contains("review id"), "a malformed id: {kind}: {message}");
    ensure!(
        t.ok("reviews", json!({ "videoId": vid }))?.as_array().map(Vec::len) == Some(3),
        "nothing refused was stored"
    );
    Ok(())
}
