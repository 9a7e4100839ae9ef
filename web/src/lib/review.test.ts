import { describe, expect, it } from "vitest";
import { render } from "svelte/server";
import ReviewPanel from "../components/ReviewPanel.svelte";
import type { ReviewInfo } from "./bindings";
import { review } from "./fixtures";
import { concerns, coversText, initialReviewForm, scopeOf, stateCounts, verdictBlocked, verdictLine } from "./review";

describe("review logic", () => {
  it("a new review covers the video, the selected object, or a range in order inside the video", () => {
    const form = initialReviewForm();
    expect(scopeOf(form, null, 7, 100)).toEqual({ scope: { scope: "video" } });
    form.scope = "object";
    expect(scopeOf(form, null, 7, 100)).toEqual({ blocked: expect.stringContaining("Select an object") });
    expect(scopeOf(form, "track-a", 7, 100)).toEqual({ scope: { scope: "track", track_id: "track-a" } });
    // The range is in frames as the app shows them (from 1); the scope in the store's (from 0).
    form.scope = "frames";
    expect(scopeOf(form, null, 7, 100)).toEqual({ scope: { scope: "frames", start: 7, end: 7 } });
    form.start = 10;
    expect(scopeOf(form, null, 7, 100)).toEqual({ blocked: "Frame 10 comes after 8: give the range in order." });
    form.end = 101;
    expect(scopeOf(form, null, 7, 100)).toEqual({ blocked: "The video has frames 1–100." });
    form.end = 100;
    expect(scopeOf(form, null, 7, 100)).toEqual({ scope: { scope: "frames", start: 9, end: 99 } });
    form.start = 0;
    expect(scopeOf(form, null, 7, 100)).toEqual({ blocked: "Give the frames as whole numbers from 1." });
    form.start = 2.5;
    expect(scopeOf(form, null, 7, 100)).toEqual({ blocked: "Give the frames as whole numbers from 1." });
  });

  it("a review's frames read as the timeline counts them, from 1; other scopes in the store's words", () => {
    expect(coversText(review("a", { scope: { scope: "frames", start: 0, end: 30 }, covers: "frames 0–30" }))).toBe("frames 1–31");
    expect(coversText(review("b", { scope: { scope: "frames", start: 4, end: 4 }, covers: "frame 4" }))).toBe("frame 5");
    expect(coversText(review("c", { scope: { scope: "video" }, covers: "the whole video" }))).toBe("the whole video");
  });

  it("verdicts follow the review's state, and a rejection needs a comment", () => {
    const pending = review("r1");
    expect(verdictBlocked(pending, "approve", "")).toBeNull();
    expect(verdictBlocked(pending, "reject", "  ")).toBe("Say what to fix in the comment first.");
    expect(verdictBlocked(pending, "reject", "the box is off")).toBeNull();
    expect(verdictBlocked(pending, "reopen", "")).toBe("It is already pending.");
    const rejected = review("r2", { state: "rejected" });
    expect(verdictBlocked(rejected, "approve", "")).toBe("It is rejected: reopen it first.");
    expect(verdictBlocked(rejected, "reject", "again")).toBe("It is rejected: reopen it first.");
    expect(verdictBlocked(rejected, "reopen", "")).toBeNull();
  });

  it("counts, what concerns the frame, and the verdict line", () => {
    const rs = [
      review("a"),
      review("b", { state: "rejected", reviewer: "you", comment: "fix the wheel" }),
      review("c", { state: "approved", reviewer: "Ana", scope: { scope: "frames", start: 10, end: 20 } }),
      review("d", { scope: { scope: "track", track_id: "track-a" } }),
    ];
    expect(stateCounts(rs)).toBe("2 pending · 1 rejected · 1 approved");
    expect(stateCounts([])).toBe("");
    expect(rs.map((r) => concerns(r, 5, ["track-b"]))).toEqual([true, true, false, false]);
    expect(rs.map((r) => concerns(r, 20, ["track-a"]))).toEqual([true, true, true, true]);
    expect(rs.map(verdictLine)).toEqual([null, "rejected by you: fix the wheel", "approved by Ana", null]);
  });
});

describe("ReviewPanel (rendered)", () => {
  const panel = (reviews: ReviewInfo[], open: string | null, comment = "") =>
    render(ReviewPanel, {
      props: {
        reviews,
        form: { ...initialReviewForm(), comment },
        open,
        frame: 12,
        tracksHere: [],
        hasSelection: false,
        onrequest: () => {},
        ondecide: () => {},
        oncomment: () => {},
        onshow: () => {},
        onseek: () => {},
        ontoggle: () => {},
      },
    }).body;

  it("lists the reviews with their state and verdict; none says so", () => {
    expect(panel([], null)).toContain("No reviews of this video yet.");
    const html = panel([review("a"), review("b", { state: "rejected", reviewer: "you", comment: "fix the wheel", covers: "car #2" })], null);
    expect(html).toContain('data-testid="review-counts">1 pending · 1 rejected<');
    expect(html).toMatch(/data-state="rejected"[\s\S]*car #2[\s\S]*rejected by you: fix the wheel/);
    expect(html).not.toContain('data-testid="review-approve"');
  });

  it("the open review's verdict buttons carry why they are disabled, and its thread links frames", () => {
    const r = review("a", { comments: [{ id: "c1", author: "you", body: "look here", frame: 4, created_at: 2 }] });
    const html = panel([r], "a");
    expect(html).toMatch(/<button data-testid="review-approve"(?![^>]*disabled)/);
    expect(html).toMatch(/data-testid="review-reject"[^>]*disabled[^>]*title="Say what to fix in the comment first."/);
    expect(html).toMatch(/data-testid="review-reopen"[^>]*disabled[^>]*title="It is already pending."/);
    expect(html).toMatch(/frame 5<\/button>[\s\S]*look here/); // frame 4 from 0, as the timeline shows it
    expect(panel([r], "a", "the wheel")).toMatch(/<button data-testid="review-reject"(?![^>]*disabled)/);
  });
});
