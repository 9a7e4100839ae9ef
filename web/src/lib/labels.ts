// The label editor (components/LabelsDialog.svelte): a draft of the project's labels the
// dialog edits, what the project's objects use and so cannot be taken away, what is wrong
// with the draft before it is sent, and the load and save of the form. The store enforces
// the same rules (argus-store's set_labels); this side says so before the user tries.

import { errorMessage, type Api } from "./api";
import type { AttributeInfo, LabelInfo, LabelsForm, LabelUsage } from "./bindings";

/** The shape kinds a label may be drawn with, in the order the dialog shows them. */
export const SHAPE_KINDS = ["mask", "polygon", "bbox", "polyline", "points"] as const;

/** The attribute types, with the words the dialog (and the store's messages) use for them. */
export const ATTRIBUTE_KINDS = [
  { value: "bool", name: "yes/no" },
  { value: "enum", name: "choice" },
  { value: "text", name: "text" },
  { value: "number", name: "number" },
] as const;

/** The longest label or attribute name the store takes. */
export const MAX_NAME = 100;

/** One attribute as the dialog edits it. */
export interface DraftAttribute {
  name: string;
  /** `bool`, `enum`, `text` or `number`. */
  kind: string;
  /** An enum's choices as typed: comma-separated. */
  options: string;
  min: number | null;
  max: number | null;
  /** Empty: 1. */
  step: number | null;
  per_frame: boolean;
  /** Of the kind's type; null where a number field was cleared (then the lowest value). */
  default: boolean | number | string | null;
  /** Its name in the saved labels; null for one added in this edit. */
  saved: string | null;
}

/** One label as the dialog edits it: a copy of its LabelInfo (less the hotkey, which follows
 *  the order) with a key for the list that stays while its name changes. */
export interface DraftLabel {
  key: string;
  /** Empty for a label added in this edit (the store gives it an id). */
  id: string;
  name: string;
  colour: string;
  kinds: string[];
  attributes: DraftAttribute[];
}

let nextKey = 0;
const freshKey = () => `new-${++nextKey}`;

/** "1 object", "3 objects". */
export function objects(n: number): string {
  return `${n} object${n === 1 ? "" : "s"}`;
}

/** The number key that picks the label at `index` (after a save), if any. */
export function hotkeyAt(index: number): number | null {
  return index < 9 ? index + 1 : null;
}

/** An enum's choices from the typed text: comma-separated, trimmed, empty ones dropped. */
export function optionsOf(text: string): string[] {
  return text
    .split(",")
    .map((o) => o.trim())
    .filter(Boolean);
}

export function attributeDraft(a: AttributeInfo): DraftAttribute {
  return {
    name: a.name,
    kind: a.kind,
    options: a.options.join(", "),
    min: a.min,
    max: a.max,
    step: a.step,
    per_frame: a.per_frame,
    default: a.default,
    saved: a.name,
  };
}

/** The draft of saved labels (a deep copy: editing it leaves the form as it was). */
export function draftOf(labels: LabelInfo[]): DraftLabel[] {
  return labels.map((l) => ({
    key: l.id || freshKey(),
    id: l.id,
    name: l.name,
    colour: l.colour,
    kinds: [...l.kinds],
    attributes: l.attributes.map(attributeDraft),
  }));
}

/** The attribute the draft describes, as the store reads it: the default of the kind's type
 *  (an enum's first choice, a number's lowest value when none fits), the step 1 when empty. */
export function attributeOf(a: DraftAttribute): AttributeInfo {
  const base = { name: a.name.trim(), kind: a.kind, options: [] as string[], min: null, max: null, step: null, per_frame: a.per_frame };
  switch (a.kind) {
    case "bool":
      return { ...base, default: a.default === true };
    case "enum": {
      const options = optionsOf(a.options);
      const d = typeof a.default === "string" ? a.default.trim() : "";
      return { ...base, options, default: options.includes(d) ? d : (options[0] ?? "") };
    }
    case "number": {
      const d = typeof a.default === "number" && Number.isFinite(a.default) ? a.default : (a.min ?? 0);
      return { ...base, min: a.min, max: a.max, step: a.step ?? 1, default: d };
    }
    default:
      return { ...base, default: typeof a.default === "string" ? a.default : "" };
  }
}

/** What Save sends: the draft's labels in their order (hotkeys follow it). */
export function labelsOf(draft: DraftLabel[]): LabelInfo[] {
  return draft.map((l, i) => ({
    id: l.id,
    name: l.name.trim(),
    colour: l.colour.toLowerCase(),
    hotkey: hotkeyAt(i),
    kinds: [...l.kinds],
    attributes: l.attributes.map(attributeOf),
  }));
}

/** The `i`-th palette colour, the store's for new labels (golden-angle hue steps). */
export function paletteColour(i: number): string {
  const h = (i * 137.507764) % 360;
  const [s, v] = [0.65, 0.95];
  const c = v * s;
  const x = c * (1 - Math.abs(((h / 60) % 2) - 1));
  const sector = Math.floor(h / 60);
  const [r, g, b] =
    sector === 0 ? [c, x, 0] : sector === 1 ? [x, c, 0] : sector === 2 ? [0, c, x] : sector === 3 ? [0, x, c] : sector === 4 ? [x, 0, c] : [c, 0, x];
  const m = v - c;
  const hex = (f: number) => Math.min(255, Math.max(0, Math.round((f + m) * 255))).toString(16).padStart(2, "0");
  return `#${hex(r)}${hex(g)}${hex(b)}`;
}

/** A new label after `existing`: the next palette colour none of them has, named "label N"
 *  with the first N from their count + 1 that no label is named (case-insensitively);
 *  drawable with every shape kind, without attributes. */
export function newLabel(existing: { name: string; colour: string }[]): DraftLabel {
  const colours = new Set(existing.map((l) => l.colour.toLowerCase()));
  const names = new Set(existing.map((l) => l.name.trim().toLowerCase()));
  let colour = paletteColour(existing.length);
  for (let i = existing.length; i < existing.length + 64; i++) {
    if (!colours.has(paletteColour(i))) {
      colour = paletteColour(i);
      break;
    }
  }
  let n = existing.length + 1;
  while (names.has(`label ${n}`)) n++;
  return { key: freshKey(), id: "", name: `label ${n}`, colour, kinds: [...SHAPE_KINDS], attributes: [] };
}

/** A new yes/no attribute named "attribute N", unique among `existing`. */
export function newAttribute(existing: { name: string }[]): DraftAttribute {
  const names = new Set(existing.map((a) => a.name.trim()));
  let n = existing.length + 1;
  while (names.has(`attribute ${n}`)) n++;
  return { name: `attribute ${n}`, kind: "bool", options: "", min: null, max: null, step: null, per_frame: false, default: false, saved: null };
}

/** The attribute as another type: a default of that type (an enum's first choice, a number's
 *  lowest value, 0..1 when it has no range yet); its choices and range are kept for a way back. */
export function withAttributeKind(a: DraftAttribute, kind: string): DraftAttribute {
  const next = { ...a, kind };
  switch (kind) {
    case "bool":
      return { ...next, default: false };
    case "enum":
      return { ...next, default: optionsOf(a.options)[0] ?? "" };
    case "number": {
      const min = a.min ?? 0;
      return { ...next, min, max: a.max ?? Math.max(1, min), default: min };
    }
    default:
      return { ...next, default: "" };
  }
}

/** The kinds with `kind` allowed or not; an allowed one goes to its place in SHAPE_KINDS. */
export function withKind(kinds: string[], kind: string, on: boolean): string[] {
  if (!on) return kinds.filter((k) => k !== kind);
  if (kinds.includes(kind)) return kinds;
  return [...SHAPE_KINDS.filter((k) => k === kind || kinds.includes(k)), ...kinds.filter((k) => !(SHAPE_KINDS as readonly string[]).includes(k))];
}

/** The list with the item at `index` moved `by` places (as far as it goes). */
export function moved<T>(list: T[], index: number, by: number): T[] {
  const to = Math.max(0, Math.min(list.length - 1, index + by));
  if (index < 0 || index >= list.length || to === index) return list;
  const next = [...list];
  const [item] = next.splice(index, 1);
  next.splice(to, 0, item);
  return next;
}

/** What the project's objects use of a label; null when none is of it (or it is new). */
export function usageOf(form: LabelsForm | null, labelId: string): LabelUsage | null {
  if (!form || !labelId) return null;
  return form.usage.find((u) => u.label_id === labelId && u.objects > 0) ?? null;
}

/** Why the label cannot be removed ("used by 3 objects: ..."), or null when it can. */
export function lockedReason(form: LabelsForm | null, labelId: string): string | null {
  const u = usageOf(form, labelId);
  return u ? `used by ${objects(u.objects)}: move them to another label or delete them before removing it` : null;
}

/** Why `kind` must stay allowed for the label (its objects have shapes of that kind), or null. */
export function kindLocked(form: LabelsForm | null, labelId: string, kind: string): string | null {
  const u = usageOf(form, labelId);
  return u?.kinds.includes(kind) ? `its objects have ${kind} shapes: delete those shapes before disallowing ${kind}` : null;
}

/** Why an attribute cannot be removed, renamed, or change type or scope: it is one the label
 *  had when the editor opened (`isExistingAttr`), and objects of the label carry its values.
 *  Null when it can. Such an enum can still get more choices, such a number a wider range. */
export function attributeLocked(form: LabelsForm | null, labelId: string, attrName: string, isExistingAttr: boolean): string | null {
  if (!isExistingAttr) return null;
  const u = usageOf(form, labelId);
  const label = form?.labels.find((l) => l.id === labelId);
  if (!u || !label?.attributes.some((a) => a.name === attrName)) return null;
  return `${objects(u.objects)} carry its values: it cannot be removed, renamed, or change type or scope (add a new attribute instead); a choice can only get more options, a number a wider range`;
}

const COLOUR = /^#[0-9a-fA-F]{6}$/;

/** What is wrong with the draft, in words, first things first; empty when it can be saved.
 *  With the `form` it was opened from, also what it would take away from the objects. */
export function draftProblems(draft: DraftLabel[], form: LabelsForm | null = null): string[] {
  const problems: string[] = [];
  if (draft.length === 0) problems.push("a project needs at least one label");
  const seen = new Set<string>();
  draft.forEach((l, i) => {
    const name = l.name.trim();
    const named = name ? `label '${name}'` : `label ${i + 1}`;
    if (!name) problems.push(`label ${i + 1} has no name`);
    else if (name.length > MAX_NAME) problems.push(`${named}: the name is longer than ${MAX_NAME} characters`);
    else if (seen.has(name.toLowerCase())) problems.push(`two labels are named '${name}' (names differ in more than case)`);
    seen.add(name.toLowerCase());
    if (!COLOUR.test(l.colour)) problems.push(`${named}: colour '${l.colour}' is not of the form #rrggbb`);
    if (l.kinds.length === 0) problems.push(`${named}: allow at least one shape kind`);
    for (const k of l.kinds) if (!(SHAPE_KINDS as readonly string[]).includes(k)) problems.push(`${named}: '${k}' is not a shape kind`);
    for (const k of SHAPE_KINDS) if (!l.kinds.includes(k) && kindLocked(form, l.id, k)) problems.push(`${named}: its objects have ${k} shapes, so ${k} stays allowed`);
    const attrs = new Set<string>();
    for (const a of l.attributes) problems.push(...attributeProblems(named, a, attrs));
    problems.push(...takenAway(form, l, named));
  });
  return problems;
}

function attributeProblems(named: string, a: DraftAttribute, seen: Set<string>): string[] {
  const name = a.name.trim();
  if (!name) return [`${named}: an attribute has no name`];
  const at = `${named}, attribute '${name}'`;
  const problems: string[] = [];
  if (name.length > MAX_NAME) problems.push(`${at}: the name is longer than ${MAX_NAME} characters`);
  if (seen.has(name)) problems.push(`${named}: two attributes are named '${name}'`);
  seen.add(name);
  if (a.kind === "enum") {
    const options = optionsOf(a.options);
    if (options.length === 0) problems.push(`${at}: give it at least one choice`);
    const dup = options.find((o, i) => options.indexOf(o) !== i);
    if (dup !== undefined) problems.push(`${at}: the choice '${dup}' appears twice`);
  } else if (a.kind === "number") {
    const { min, max, step } = a;
    if (min === null || max === null) problems.push(`${at}: give its lowest and highest value`);
    else if (!Number.isFinite(min) || !Number.isFinite(max)) problems.push(`${at}: its lowest and highest value must be numbers`);
    else if (min > max) problems.push(`${at}: its lowest value ${min} is above its highest ${max}`);
    else {
      const d = attributeOf(a).default as number;
      if (d < min || d > max) problems.push(`${at}: its default ${d} is outside ${min}..${max}`);
    }
    if (step !== null && (!Number.isFinite(step) || step < 0)) problems.push(`${at}: its step must be a number of 0 or more`);
  } else if (a.kind !== "bool" && a.kind !== "text") {
    problems.push(`${at}: '${a.kind}' is not an attribute type`);
  }
  return problems;
}

/** What the draft of a used label takes from the attributes its objects carry. */
function takenAway(form: LabelsForm | null, l: DraftLabel, named: string): string[] {
  const u = usageOf(form, l.id);
  const before = form?.labels.find((x) => x.id === l.id);
  if (!u || !before) return [];
  const carry = `${objects(u.objects)} carry its values`;
  const problems: string[] = [];
  for (const old of before.attributes) {
    const now = l.attributes.find((a) => a.saved === old.name);
    const at = `${named}, attribute '${old.name}'`;
    if (!now) {
      problems.push(`${at} cannot be removed: ${carry}`);
      continue;
    }
    if (now.name.trim() !== old.name) problems.push(`${at} cannot be renamed: ${carry}`);
    if (now.kind !== old.kind) problems.push(`${at} cannot change type: ${carry}`);
    else if (now.per_frame !== old.per_frame) problems.push(`${at} cannot change scope: ${carry}`);
    else if (old.kind === "enum") {
      const options = optionsOf(now.options);
      const lost = old.options.find((o) => !options.includes(o));
      if (lost !== undefined) problems.push(`${at} cannot lose its choice '${lost}': ${carry}`);
    } else if (old.kind === "number" && old.min !== null && old.max !== null && now.min !== null && now.max !== null) {
      if (now.min > old.min || now.max < old.max) problems.push(`${at}: its range ${old.min}..${old.max} can only be widened: ${carry}`);
    }
  }
  return problems;
}

/** A label as compared for `changed`: the kinds as a set, the hotkey left out. */
function canonical(l: LabelInfo) {
  const attr = (a: AttributeInfo) => {
    const c = attributeOf(attributeDraft(a));
    return [c.name, c.kind, c.options, c.min, c.max, c.step, c.per_frame, c.default];
  };
  return [l.id, l.name.trim(), l.colour.toLowerCase(), [...l.kinds].sort(), l.attributes.map(attr)];
}

/** Whether the draft differs from the labels the form holds. */
export function changed(form: LabelsForm | null, draft: DraftLabel[]): boolean {
  if (!form) return false;
  return JSON.stringify(form.labels.map(canonical)) !== JSON.stringify(labelsOf(draft).map(canonical));
}

/** The dialog's state: the form as read, its draft, and the outcome of the last load or save. */
export interface LabelsEditor {
  form: LabelsForm | null;
  draft: DraftLabel[];
  busy: "" | "loading" | "saving";
  error: string;
  /** The labels were changed elsewhere since the form was read: only a reload helps. */
  stale: boolean;
  /** A note that is no failure (nothing to save). */
  note: string;
}

export function initialEditor(form: LabelsForm | null = null): LabelsEditor {
  return { form, draft: form ? draftOf(form.labels) : [], busy: "", error: "", stale: false, note: "" };
}

/** Whether a save was refused because the labels changed since the form was read. */
export function isStale(e: unknown): boolean {
  if (!e || typeof e !== "object") return false;
  const { kind, message } = e as { kind?: string; message?: string };
  return kind === "conflict" && typeof message === "string" && message.includes("open them again");
}

/** Why Save is disabled, or null when the draft can be sent. */
export function saveBlocked(ed: LabelsEditor): string | null {
  if (!ed.form) return "the labels are not read yet";
  if (ed.form.read_only) return ed.form.read_only;
  if (ed.busy) return `${ed.busy}…`;
  if (ed.stale) return "the labels were changed elsewhere: reload them first";
  const problems = draftProblems(ed.draft, ed.form);
  if (problems.length > 0) return problems[0];
  if (!changed(ed.form, ed.draft)) return "nothing changed yet";
  return null;
}

/** Reads the form (again): the draft starts over from it. */
export async function loadLabels(ed: LabelsEditor, api: Pick<Api, "labelSchema">, projectId: string): Promise<void> {
  ed.busy = "loading";
  ed.error = "";
  ed.note = "";
  try {
    const form = await api.labelSchema(projectId);
    Object.assign(ed, initialEditor(form));
  } catch (e) {
    ed.error = errorMessage(e);
  } finally {
    ed.busy = "";
  }
}

/** Saves the draft against the form's version; answers the form after the save (the draft
 *  starts over from it), or null when it was not saved (the reason is in `error` or `note`;
 *  `stale` when the labels changed elsewhere meanwhile). */
export async function saveDraft(ed: LabelsEditor, api: Pick<Api, "saveLabels">, projectId: string): Promise<LabelsForm | null> {
  const form = ed.form;
  if (!form || saveBlocked(ed)) return null;
  ed.busy = "saving";
  ed.error = "";
  ed.note = "";
  try {
    const saved = await api.saveLabels(projectId, form.version, labelsOf(ed.draft));
    Object.assign(ed, initialEditor(saved));
    return saved;
  } catch (e) {
    if (e && typeof e === "object" && (e as { kind?: string }).kind === "nothing_to_do") ed.note = "nothing to save: the labels are as they were";
    else {
      ed.error = errorMessage(e);
      ed.stale = isStale(e);
    }
    return null;
  } finally {
    ed.busy = "";
  }
}
