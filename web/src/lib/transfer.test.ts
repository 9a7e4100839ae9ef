import { describe, expect, it } from "vitest";
import { render } from "svelte/server";
import TransferStatus from "../components/TransferStatus.svelte";
import type { TransferSummary } from "./bindings";
import { deferred, label, videoSummary } from "./fixtures";
import {
  EXPORT_FORMATS,
  NOTES_SHOWN,
  cancelTransfer,
  effectiveImages,
  exportOptions,
  exportProblem,
  guessImportFormat,
  importOptions,
  importProblem,
  initialExportForm,
  initialImportForm,
  initialTransfer,
  noteGroups,
  progressFraction,
  progressText,
  resetTransfer,
  runTransfer,
  summaryText,
  transferProgress,
  type ExportForm,
  type TransferState,
} from "./transfer";

const labels = [label(0), label(1), label(2)];
const current = videoSummary("video-7");

function form(more: Partial<ExportForm> = {}): ExportForm {
  return { ...initialExportForm(), out: "/home/u/Documents/Sample-coco", ...more };
}

function summary(more: Partial<TransferSummary> = {}): TransferSummary {
  return { path: "/out/Sample-coco", images: 12, annotations: 40, tracks: 3, skipped: [], changed: [], ...more };
}

describe("export form -> ExportOptions", () => {
  it("the defaults: COCO of every video, every frame, RLE masks, no images", () => {
    expect(exportOptions(form(), labels, current)).toEqual({
      format: "coco",
      videos: [],
      frameStep: 1,
      onlyApproved: false,
      labelMap: {},
      images: "none",
      jpegQuality: 92,
      polygons: false,
      tolerance: 0.5,
    });
  });

  it("the open video only, a frame step, approved only, polygons, PNG", () => {
    const o = exportOptions(
      form({ videos: "current", frameStep: 5, onlyApproved: true, polygons: true, tolerance: 1.5, images: "png" }),
      labels,
      current,
    );
    expect(o).toMatchObject({ videos: ["video-7"], frameStep: 5, onlyApproved: true, polygons: true, tolerance: 1.5, images: "png" });
  });

  it("label renames (empty or the same name keeps it) and labels left out (mapped to \"\")", () => {
    const o = exportOptions(
      form({ renames: { "label 0": " person ", "label 1": "", "label 2": "label 2" }, leftOut: ["label 1"] }),
      labels,
      current,
    );
    expect(o.labelMap).toEqual({ "label 0": "person", "label 1": "" });
    // two labels renamed onto one name merge (the shell numbers one category for both)
    expect(exportOptions(form({ renames: { "label 0": "thing", "label 2": "thing" } }), labels, current).labelMap).toEqual({
      "label 0": "thing",
      "label 2": "thing",
    });
  });

  it("YOLO, VOC and MOT always write images: JPEG unless PNG is chosen", () => {
    for (const f of EXPORT_FORMATS.filter((f) => f.needsImages)) {
      expect(["yolo_detect", "yolo_segment", "voc", "mot"]).toContain(f.value);
      expect(effectiveImages({ format: f.value, images: "none" })).toBe("jpeg");
      expect(exportOptions(form({ format: f.value, images: "none" }), labels, current).images).toBe("jpeg");
      expect(exportOptions(form({ format: f.value, images: "png" }), labels, current).images).toBe("png");
    }
    expect(effectiveImages({ format: "cvat", images: "none" })).toBe("none");
    expect(effectiveImages({ format: "cvat", images: "jpeg" })).toBe("jpeg");
  });

  it("Argus JSON is the whole project: no filters, renames, images or polygons", () => {
    const o = exportOptions(
      form({ format: "native", frameStep: 4, onlyApproved: true, images: "png", polygons: true, leftOut: ["label 0"] }),
      labels,
      current,
    );
    expect(o).toMatchObject({ format: "native", frameStep: 1, onlyApproved: false, labelMap: {}, images: "none", polygons: false });
  });

  it("polygons are COCO's only; numbers are clamped and rounded", () => {
    expect(exportOptions(form({ format: "yolo_segment", polygons: true }), labels, current).polygons).toBe(false);
    const o = exportOptions(form({ frameStep: 2.6, jpegQuality: 250, tolerance: -1, images: "jpeg" }), labels, current);
    expect(o).toMatchObject({ frameStep: 3, jpegQuality: 100, tolerance: 0 });
  });
});

describe("export form problems", () => {
  it("a folder, a whole frame step, a label to export, sane numbers", () => {
    expect(exportProblem(form(), labels, current)).toBeNull();
    expect(exportProblem(form({ out: "  " }), labels, current)).toMatch(/folder/);
    for (const frameStep of [0, 1.5, null, Number.NaN]) expect(exportProblem(form({ frameStep }), labels, current)).toMatch(/frame step/);
    expect(exportProblem(form({ leftOut: labels.map((l) => l.name) }), labels, current)).toMatch(/Every label/);
    expect(exportProblem(form({ format: "voc", jpegQuality: 0 }), labels, current)).toMatch(/JPEG quality/);
    // the quality does not matter when no JPEG is written
    expect(exportProblem(form({ jpegQuality: 0 }), labels, current)).toBeNull();
    expect(exportProblem(form({ polygons: true, tolerance: -2 }), labels, current)).toMatch(/tolerance/);
    expect(exportProblem(form({ format: "yolo_segment", tolerance: null }), labels, current)).toMatch(/tolerance/);
    expect(exportProblem(form({ videos: "current" }), labels, null)).toMatch(/No video/);
    // Argus JSON ignores the frame step
    expect(exportProblem(form({ format: "native", frameStep: 0 }), labels, current)).toBeNull();
  });
});

describe("import form -> ImportOptions", () => {
  it("the format from the name unless chosen, the video, new labels", () => {
    expect(importOptions(initialImportForm())).toEqual({ format: null, video: null, createLabels: false });
    expect(importOptions({ path: "/d/x.xml", format: "cvat", video: "video-7", createLabels: true })).toEqual({
      format: "cvat",
      video: "video-7",
      createLabels: true,
    });
    expect(importProblem(initialImportForm())).toMatch(/Choose/);
    expect(importProblem({ ...initialImportForm(), path: "/d/annotations.json" })).toBeNull();
  });

  it("guesses the format from the file name as the shell does", () => {
    expect(guessImportFormat("/d/annotations.json")).toBe("coco");
    expect(guessImportFormat("/d/project.argus.jsonl")).toBe("native");
    expect(guessImportFormat("C:\\d\\annotations.XML")).toBe("cvat");
    expect(guessImportFormat("/d/seq/gt/gt.txt")).toBe("mot");
    expect(guessImportFormat("/d/yolo/data.yaml")).toBe("yolo");
    expect(guessImportFormat("/d/folder/")).toBeNull();
    expect(guessImportFormat("")).toBeNull();
  });
});

describe("a transfer's run", () => {
  it("progress while it runs, then the summary; late progress is dropped", async () => {
    const t = initialTransfer();
    const d = deferred<TransferSummary>();
    const run = runTransfer(t, () => d.promise);
    expect(t.phase).toBe("running");
    transferProgress(t, { stage: "frames", done: 16, total: 64 });
    expect(t.progress).toEqual({ stage: "frames", done: 16, total: 64 });
    d.resolve(summary());
    expect(await run).toEqual(summary());
    expect(t).toMatchObject({ phase: "done", summary: summary(), error: "" });
    transferProgress(t, { stage: "frames", done: 64, total: 64 });
    expect(t.progress?.done).toBe(16);
    resetTransfer(t);
    expect(t).toEqual(initialTransfer());
  });

  it("a failure shows the CommandError's message", async () => {
    const t = initialTransfer();
    const s = await runTransfer(t, () => Promise.reject({ kind: "invalid", message: "the label map names 'x'" }));
    expect(s).toBeNull();
    expect(t).toMatchObject({ phase: "failed", error: "the label map names 'x'", summary: null });
  });

  it("Cancel asks the shell once; the command then fails as cancelled", async () => {
    const t: TransferState = initialTransfer();
    const calls: string[] = [];
    const d = deferred<TransferSummary>();
    const api = { cancelTransfer: async () => (calls.push("cancel_transfer"), true) };
    await cancelTransfer(t, api);
    expect(calls).toEqual([]); // nothing runs yet
    const run = runTransfer(t, () => d.promise);
    const first = cancelTransfer(t, api);
    expect(t.cancelling).toBe(true);
    await cancelTransfer(t, api);
    await first;
    expect(calls).toEqual(["cancel_transfer"]);
    d.reject({ kind: "cancelled", message: "cancelled" });
    expect(await run).toBeNull();
    expect(t).toMatchObject({ phase: "cancelled", cancelling: false, error: "" });
  });

  it("a failing cancel is shown, and Cancel can be pressed again", async () => {
    const t = initialTransfer();
    const d = deferred<TransferSummary>();
    runTransfer(t, () => d.promise);
    await cancelTransfer(t, { cancelTransfer: () => Promise.reject({ kind: "internal", message: "no IPC" }) });
    expect(t).toMatchObject({ phase: "running", cancelling: false, error: "no IPC" });
    d.resolve(summary());
  });
});

describe("progress and summary text", () => {
  it("done / total with a percentage; a count when the total is unknown", () => {
    expect(progressText(null)).toBe("starting…");
    expect(progressText({ stage: "frames", done: 32, total: 120 })).toBe("frames 32 / 120 (26%)");
    expect(progressText({ stage: "annotations", done: 2048, total: 0 })).toBe("annotations 2048");
    expect(progressFraction({ stage: "frames", done: 32, total: 128 })).toBe(0.25);
    expect(progressFraction({ stage: "frames", done: 300, total: 128 })).toBe(1);
    expect(progressFraction({ stage: "records", done: 5, total: 0 })).toBeNull();
    expect(progressFraction(null)).toBeNull();
  });

  it("counts and the non-empty lists", () => {
    expect(summaryText(summary(), "export")).toBe("Exported 12 images, 40 annotations and 3 tracks to /out/Sample-coco.");
    expect(summaryText(summary({ images: 1, annotations: 1, tracks: 1 }), "export")).toBe(
      "Exported 1 image, 1 annotation and 1 track to /out/Sample-coco.",
    );
    expect(summaryText(summary({ path: "/d/a.json" }), "import")).toBe("Imported 40 annotations in 3 tracks from /d/a.json (one undo step).");
    expect(noteGroups(summary(), "export")).toEqual([]);
    const s = summary({ changed: [{ at: "image 3", reason: "mask as polygons" }], skipped: [{ at: "line 9", reason: "unknown label" }] });
    expect(noteGroups(s, "export").map((g) => [g.key, g.title, g.notes.length])).toEqual([
      ["changed", "Changed to fit the format", 1],
      ["skipped", "Left out", 1],
    ]);
  });
});

describe("TransferStatus (rendered)", () => {
  const html = (t: TransferState, kind: "export" | "import" = "export") =>
    render(TransferStatus, { props: { kind, t, oncancel: () => {} } }).body;

  it("a running transfer: the bar filled to done / total, the text and Cancel", () => {
    const t = { ...initialTransfer(), phase: "running" as const, progress: { stage: "frames", done: 16, total: 64 } };
    const out = html(t);
    expect(out).toContain('data-testid="transfer-progress"');
    expect(out).toContain('data-done="16"');
    expect(out).toContain('data-total="64"');
    expect(out).toContain("width: 25.0%");
    expect(out).toContain("frames 16 / 64 (25%)");
    expect(out).toMatch(/data-testid="transfer-cancel"[^>]*>Cancel</);
    expect(html({ ...t, cancelling: true })).toMatch(/data-testid="transfer-cancel"[^>]*disabled[^>]*>Cancelling…</);
  });

  it("the summary: counts, then what was changed or left out, collapsed, at most NOTES_SHOWN each", () => {
    const skipped = Array.from({ length: NOTES_SHOWN + 5 }, (_, i) => ({ at: `record ${i}`, reason: "unknown label 'dog'" }));
    const t = { ...initialTransfer(), phase: "done" as const, summary: summary({ skipped, changed: [{ at: "image 2", reason: "hole dropped" }] }) };
    const out = html(t);
    expect(out).toContain('data-testid="transfer-summary"');
    expect(out).toContain('data-images="12"');
    expect(out).toContain("Exported 12 images, 40 annotations and 3 tracks to /out/Sample-coco.");
    expect(out).toMatch(/<details data-testid="transfer-changed"[^>]*><summary[^>]*>Changed to fit the format \(1\)<\/summary>/);
    expect(out).not.toMatch(/<details[^>]* open/);
    expect(out).toContain("image 2: hole dropped");
    expect(out).toContain(`Left out (${NOTES_SHOWN + 5})`);
    expect(out).toContain(`record ${NOTES_SHOWN - 1}: unknown label`);
    expect(out).not.toContain(`record ${NOTES_SHOWN}:`);
    expect(out).toContain("… and 5 more");
    expect(out).not.toContain("transfer-progress");
  });

  it("an error, or a cancelled run with what it left", () => {
    expect(html({ ...initialTransfer(), phase: "failed", error: "no such video" })).toMatch(/data-testid="transfer-error"[^>]*>no such video</);
    expect(html({ ...initialTransfer(), phase: "cancelled" })).toContain("incomplete dataset");
    expect(html({ ...initialTransfer(), phase: "cancelled" }, "import")).toContain("Nothing was imported");
    expect(html(initialTransfer()).replace(/<!--[^>]*-->/g, "").trim()).toBe("");
  });
});
