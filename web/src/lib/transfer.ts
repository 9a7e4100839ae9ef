// The export and import dialogs' logic (components/ExportDialog.svelte,
// ImportDialog.svelte, TransferStatus.svelte): the forms as plain objects,
// the options the shell's export_project / import_annotations take built from
// them, and one transfer's run (progress from the `transfer-progress` events,
// Cancel, the summary or the error). The dialogs make the objects reactive;
// the tests hand them plain ones and a fake API.

import type { Api } from "./api";
import type {
  ExportFormat,
  ExportOptions,
  ImageMode,
  ImportFormat,
  ImportOptions,
  LabelInfo,
  TransferNote,
  TransferProgress,
  TransferSummary,
  VideoSummary,
} from "./bindings";
import { cancelRun, countText, initialRun, plural, progressFraction as runFraction, resetRun, runProgress, startRun, type RunState } from "./run";

/** What the export form offers for one format. */
export interface ExportFormatInfo {
  value: ExportFormat;
  name: string;
  /** The dataset holds the frames as image files: JPEG or PNG, never none. */
  needsImages: boolean;
  /** Frames as image files may be added (COCO, CVAT). */
  optionalImages: boolean;
  /** The frame step, only approved and label renames apply (all but Argus JSON, which is the whole project). */
  filters: boolean;
  /** COCO: masks may be written as polygons. */
  polygons: boolean;
  /** Masks become polygons, simplified by the tolerance (YOLO segmentation; COCO with polygons). */
  tolerance: boolean;
}

export const EXPORT_FORMATS: ExportFormatInfo[] = [
  { value: "coco", name: "COCO (instance segmentation)", needsImages: false, optionalImages: true, filters: true, polygons: true, tolerance: false },
  { value: "yolo_detect", name: "YOLO detection", needsImages: true, optionalImages: false, filters: true, polygons: false, tolerance: false },
  { value: "yolo_segment", name: "YOLO segmentation", needsImages: true, optionalImages: false, filters: true, polygons: false, tolerance: true },
  { value: "cvat", name: "CVAT for video 1.1", needsImages: false, optionalImages: true, filters: true, polygons: false, tolerance: false },
  { value: "voc", name: "Pascal VOC", needsImages: true, optionalImages: false, filters: true, polygons: false, tolerance: false },
  { value: "mot", name: "MOT 1.1 (tracks)", needsImages: true, optionalImages: false, filters: true, polygons: false, tolerance: false },
  { value: "native", name: "Argus JSON (the whole project, lossless)", needsImages: false, optionalImages: false, filters: false, polygons: false, tolerance: false },
];

export function formatInfo(format: ExportFormat): ExportFormatInfo {
  return EXPORT_FORMATS.find((f) => f.value === format) ?? EXPORT_FORMATS[0];
}

/** The export dialog's form. Numbers may be null or NaN while a field is being typed. */
export interface ExportForm {
  format: ExportFormat;
  /** All of the project's videos, or only the one open. */
  videos: "all" | "current";
  frameStep: number | null;
  onlyApproved: boolean;
  /** What was chosen; formats that need images write JPEG for "none" (see `effectiveImages`). */
  images: ImageMode;
  jpegQuality: number | null;
  /** COCO: masks as polygons instead of RLE. */
  polygons: boolean;
  tolerance: number | null;
  /** Label name -> the name in the dataset; empty or the same keeps the name. */
  renames: Record<string, string>;
  /** Labels left out of the dataset (by name). */
  leftOut: string[];
  /** The folder to export into. */
  out: string;
  /** The user typed or chose `out`: a format change leaves it alone. */
  outChosen: boolean;
}

export function initialExportForm(): ExportForm {
  return {
    format: "coco",
    videos: "all",
    frameStep: 1,
    onlyApproved: false,
    images: "none",
    jpegQuality: 92,
    polygons: false,
    tolerance: 0.5,
    renames: {},
    leftOut: [],
    out: "",
    outChosen: false,
  };
}

/** How frames are written for `form`'s format: never for Argus JSON; JPEG unless PNG was
 *  chosen for the formats that need image files; as chosen otherwise. */
export function effectiveImages(form: Pick<ExportForm, "format" | "images">): ImageMode {
  const f = formatInfo(form.format);
  if (f.needsImages) return form.images === "png" ? "png" : "jpeg";
  if (!f.optionalImages) return "none";
  return form.images;
}

/** The export's label map: renamed labels to their new names, left-out labels to "". */
export function labelMap(form: Pick<ExportForm, "renames" | "leftOut">, labels: LabelInfo[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (const l of labels) {
    if (form.leftOut.includes(l.name)) {
      map[l.name] = "";
      continue;
    }
    const to = (form.renames[l.name] ?? "").trim();
    if (to && to !== l.name) map[l.name] = to;
  }
  return map;
}

const isNumber = (n: number | null): n is number => typeof n === "number" && Number.isFinite(n);

/** What is wrong with the form, or null when it can be started. */
export function exportProblem(form: ExportForm, labels: LabelInfo[], current: VideoSummary | null): string | null {
  const f = formatInfo(form.format);
  if (!form.out.trim()) return "Choose the folder to export into.";
  if (form.videos === "current" && !current) return "No video is open: export all videos.";
  if (f.filters) {
    if (!isNumber(form.frameStep) || form.frameStep < 1 || !Number.isInteger(form.frameStep)) return "The frame step is a whole number, 1 or more.";
    if (labels.length > 0 && labels.every((l) => form.leftOut.includes(l.name))) return "Every label is left out: nothing would be exported.";
  }
  const images = effectiveImages(form);
  if (images === "jpeg" && (!isNumber(form.jpegQuality) || form.jpegQuality < 1 || form.jpegQuality > 100)) return "The JPEG quality is 1 to 100.";
  if (usesTolerance(form) && (!isNumber(form.tolerance) || form.tolerance < 0)) return "The polygon tolerance is 0 or more pixels.";
  return null;
}

/** Whether the polygon tolerance applies to `form`. */
export function usesTolerance(form: Pick<ExportForm, "format" | "polygons">): boolean {
  const f = formatInfo(form.format);
  return f.tolerance || (f.polygons && form.polygons);
}

/** The options export_project takes, from the form (see `exportProblem` for what must hold). */
export function exportOptions(form: ExportForm, labels: LabelInfo[], current: VideoSummary | null): ExportOptions {
  const f = formatInfo(form.format);
  return {
    format: form.format,
    videos: form.videos === "current" && current ? [current.id] : [],
    frameStep: f.filters && isNumber(form.frameStep) ? Math.max(1, Math.round(form.frameStep)) : 1,
    onlyApproved: f.filters && form.onlyApproved,
    labelMap: f.filters ? labelMap(form, labels) : {},
    images: effectiveImages(form),
    jpegQuality: isNumber(form.jpegQuality) ? Math.min(100, Math.max(1, Math.round(form.jpegQuality))) : 92,
    polygons: f.polygons && form.polygons,
    tolerance: isNumber(form.tolerance) ? Math.max(0, form.tolerance) : 0.5,
  };
}

/** The import dialog's form. */
export interface ImportForm {
  /** A dataset file (annotations.json, annotations.xml, data.yaml, gt.txt, project.argus.jsonl) or its folder. */
  path: string;
  format: ImportFormat | "auto";
  /** Add labels the project lacks instead of leaving their annotations out. */
  createLabels: boolean;
  /** The video (id) the dataset's frames belong to; "" for what the dataset names (or the only video). */
  video: string;
}

export function initialImportForm(): ImportForm {
  return { path: "", format: "auto", createLabels: false, video: "" };
}

export const IMPORT_FORMATS: { value: ImportFormat; name: string }[] = [
  { value: "coco", name: "COCO (annotations/instances_*.json)" },
  { value: "cvat", name: "CVAT for video / images (XML)" },
  { value: "yolo", name: "YOLO (data.yaml and labels/)" },
  { value: "mot", name: "MOT 1.1 (gt/gt.txt)" },
  { value: "voc", name: "Pascal VOC (Annotations/ and JPEGImages/, as a still-image video)" },
  { value: "native", name: "Argus JSON (project.argus.jsonl)" },
];

/** The format the shell will find from a file name (as argus-workspace's ImportFormat::detect
 *  does for files; a folder is looked into there), or null when the name does not tell. */
export function guessImportFormat(path: string): ImportFormat | null {
  const name = (path.trim().split(/[\\/]/).filter(Boolean).pop() ?? "").toLowerCase();
  if (name.endsWith(".jsonl")) return "native";
  if (name.endsWith(".json")) return "coco";
  if (name.endsWith(".xml")) return "cvat";
  if (name === "gt.txt") return "mot";
  if (name === "data.yaml" || name === "data.yml") return "yolo";
  return null;
}

export function importOptions(form: ImportForm): ImportOptions {
  return {
    format: form.format === "auto" ? null : form.format,
    video: form.video || null,
    createLabels: form.createLabels,
  };
}

export function importProblem(form: ImportForm): string | null {
  return form.path.trim() ? null : "Choose the dataset file or folder to import.";
}

/** One export's or import's run, as the dialog shows it (see ./run.ts); `idle` is the form. */
export type TransferState = RunState<TransferProgress, TransferSummary>;

export const initialTransfer = (): TransferState => initialRun();

/** Runs `work` (the export or import command) as `t`'s run: the summary when it ends,
 *  the error's message when it fails, "cancelled" when it was cancelled. */
export const runTransfer = (t: TransferState, work: () => Promise<TransferSummary>) => startRun(t, work);

/** A `transfer-progress` event: kept while a run is going (a late one after the end is dropped). */
export const transferProgress = (t: TransferState, p: TransferProgress) => runProgress(t, p);

/** Cancel: asks the shell to stop the running transfer; its command then fails as cancelled. */
export const cancelTransfer = (t: TransferState, api: Pick<Api, "cancelTransfer">) => cancelRun(t, () => api.cancelTransfer());

/** Back to the form (after a run, to change something and start again). */
export const resetTransfer = (t: TransferState) => resetRun(t);

/** The progress bar's fill, 0 to 1; null while the total is unknown (an import counts up). */
export const progressFraction = (p: TransferProgress | null) => runFraction(p);

/** The line under the progress bar: "frames 32 / 120 (27%)", "annotations 2048", "starting…". */
export function progressText(p: TransferProgress | null): string {
  return p ? `${p.stage} ${countText(p)}` : "starting…";
}

/** The summary's first line. */
export function summaryText(s: TransferSummary, kind: "export" | "import"): string {
  if (kind === "export") {
    return `Exported ${plural(s.images, "image")}, ${plural(s.annotations, "annotation")} and ${plural(s.tracks, "track")} to ${s.path}.`;
  }
  return `Imported ${plural(s.annotations, "annotation")} in ${plural(s.tracks, "track")} from ${s.path} (one undo step).`;
}

/** The summary's collapsible lists, only those with something in them. */
export interface NoteGroup {
  key: "changed" | "skipped";
  title: string;
  notes: TransferNote[];
}

export function noteGroups(s: TransferSummary, kind: "export" | "import"): NoteGroup[] {
  const groups: NoteGroup[] = [
    { key: "changed", title: kind === "export" ? "Changed to fit the format" : "Changed", notes: s.changed },
    { key: "skipped", title: "Left out", notes: s.skipped },
  ];
  return groups.filter((g) => g.notes.length > 0);
}

/** At most this many notes of a list are shown (the rest are counted). */
export const NOTES_SHOWN = 200;

/** One note as a line: "where: why". */
export function noteLine(n: TransferNote): string {
  return n.at ? `${n.at}: ${n.reason}` : n.reason;
}

/** What a cancelled run leaves behind. */
export function cancelledText(kind: "export" | "import"): string {
  return kind === "export"
    ? "Cancelled. The folder holds what was written so far, an incomplete dataset."
    : "Cancelled. Nothing was imported.";
}
