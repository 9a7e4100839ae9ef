// The review panel's logic (components/ReviewPanel.svelte): what a new
// review covers, which verdicts a review's state allows and why the others
// are disabled, the counts shown in the heading, and which reviews concern
// the frame on screen. The rules themselves are argus-core's (the store
// refuses anything else); these keep the buttons honest.

import type { ReviewInfo, ReviewScopeInfo, ReviewVerdict } from "./bindings";
import { shownFrame } from "./track";

/** What "Request review" covers. */
export type ScopeChoice = "video" | "object" | "frames";

/** The review form: its scope and, for frames, the range (inclusive), in frames as the app shows
 *  them (counted from 1, as the timeline does). */
export interface ReviewForm {
  scope: ScopeChoice;
  start: number | null;
  end: number | null;
  /** The verdict's comment, or the next thread comment. */
  comment: string;
  /** Pin the next thread comment to the frame on screen. */
  pin: boolean;
}

export function initialReviewForm(): ReviewForm {
  return { scope: "video", start: null, end: null, comment: "", pin: true };
}

/**
 * The scope to open, or why it cannot be opened yet. `frame` (the frame on
 * screen, from 0 as the store counts) fills an empty range end; `frameCount`
 * bounds it. The form's range counts from 1, as the app shows frames.
 */
export function scopeOf(
  form: ReviewForm,
  selectedTrack: string | null,
  frame: number,
  frameCount: number,
): { scope: ReviewScopeInfo } | { blocked: string } {
  switch (form.scope) {
    case "video":
      return { scope: { scope: "video" } };
    case "object":
      return selectedTrack
        ? { scope: { scope: "track", track_id: selectedTrack } }
        : { blocked: "Select an object first (click it in the list, or Ctrl+click it on the frame)." };
    case "frames": {
      const start = form.start ?? shownFrame(frame);
      const end = form.end ?? shownFrame(frame);
      if (!Number.isInteger(start) || !Number.isInteger(end) || start < 1 || end < 1) {
        return { blocked: "Give the frames as whole numbers from 1." };
      }
      if (start > end) return { blocked: `Frame ${start} comes after ${end}: give the range in order.` };
      if (end > frameCount) return { blocked: `The video has frames 1–${frameCount}.` };
      return { scope: { scope: "frames", start: start - 1, end: end - 1 } };
    }
  }
}

/** What a review covers, in words, with its frames counted from 1 as the app shows them (the
 *  store's own words count from 0, as the CLI does). */
export function coversText(review: ReviewInfo): string {
  const s = review.scope;
  if (s.scope !== "frames") return review.covers;
  return s.start === s.end ? `frame ${shownFrame(s.start)}` : `frames ${shownFrame(s.start)}–${shownFrame(s.end)}`;
}

/** Why `verdict` cannot be given to `review` now, or null when it can. */
export function verdictBlocked(review: ReviewInfo, verdict: ReviewVerdict, comment: string): string | null {
  switch (verdict) {
    case "approve":
      return review.state === "pending" ? null : `It is ${review.state}: reopen it first.`;
    case "reject":
      if (review.state !== "pending") return `It is ${review.state}: reopen it first.`;
      return comment.trim() ? null : "Say what to fix in the comment first.";
    case "reopen":
      return review.state === "pending" ? "It is already pending." : null;
  }
}

/** "2 pending · 1 rejected", leaving out the states with none. */
export function stateCounts(reviews: ReviewInfo[]): string {
  const order = ["pending", "rejected", "approved"];
  const counts = new Map<string, number>();
  for (const r of reviews) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
  return order
    .filter((s) => counts.get(s))
    .map((s) => `${counts.get(s)} ${s}`)
    .join(" · ");
}

/** Whether `review` concerns `frame` (its range) or one of `tracks` (the objects on it). */
export function concerns(review: ReviewInfo, frame: number, tracks: string[]): boolean {
  const s = review.scope;
  switch (s.scope) {
    case "video":
      return true;
    case "track":
      return tracks.includes(s.track_id);
    case "frames":
      return frame >= s.start && frame <= s.end;
  }
}

/** The verdict line under a decided review: "rejected by you: the box misses the edge". */
export function verdictLine(review: ReviewInfo): string | null {
  if (review.state === "pending" && !review.comment) return null;
  const who = review.reviewer ? ` by ${review.reviewer}` : "";
  return `${review.state}${who}${review.comment ? `: ${review.comment}` : ""}`;
}
