import { describe, expect, it } from "vitest";
import { render } from "svelte/server";
import LabelsDialog from "../components/LabelsDialog.svelte";
import { createActions } from "./actions";
import type { Api } from "./api";
import type { LabelInfo, LabelsForm } from "./bindings";
import { labelsForm, openWorkspace, shape } from "./fixtures";
import {
  SHAPE_KINDS,
  attributeLocked,
  attributeOf,
  changed,
  draftOf,
  draftProblems,
  initialEditor,
  isStale,
  kindLocked,
  labelsOf,
  loadLabels,
  lockedReason,
  moved,
  newAttribute,
  newLabel,
  optionsOf,
  paletteColour,
  saveBlocked,
  saveDraft,
  withAttributeKind,
  withKind,
  type DraftLabel,
  type LabelsEditor,
} from "./labels";

const CONFLICT = {
  kind: "conflict",
  message: "the labels were changed since you opened them (version 3, now 4): open them again and redo your edit",
};

/** The fixture's draft with `f` applied to it. */
function edited(f: (d: DraftLabel[]) => void, form: LabelsForm = labelsForm()): DraftLabel[] {
  const d = draftOf(form.labels);
  f(d);
  return d;
}

/** A fake of the two label commands: the calls are recorded, the answers are the test's. */
function fakeLabels(save: (projectId: string, version: number, labels: LabelInfo[]) => LabelsForm | Promise<LabelsForm>, schema = () => labelsForm()) {
  const calls: [string, ...unknown[]][] = [];
  const api = {
    labelSchema: async (projectId: string) => (calls.push(["labelSchema", projectId]), schema()),
    saveLabels: async (projectId: string, version: number, labels: LabelInfo[]) => (calls.push(["saveLabels", projectId, version, labels]), save(projectId, version, labels)),
  };
  return { api, calls };
}

describe("the draft", () => {
  it("copies the form's labels and gives them back as they were", () => {
    const form = labelsForm();
    const draft = draftOf(form.labels);
    expect(draft.map((l) => l.key)).toEqual(["label-car", "label-person"]);
    expect(draft[0].attributes[1]).toMatchObject({ name: "paint", options: "red, blue", saved: "paint" });
    expect(labelsOf(draft)).toEqual(form.labels);
    expect(changed(form, draft)).toBe(false);
    // A deep copy: editing the draft leaves the form alone.
    draft[0].name = "truck";
    draft[0].kinds.push("points");
    draft[0].attributes[0].name = "hidden";
    expect(form.labels[0]).toMatchObject({ name: "car", kinds: ["mask", "polygon", "bbox"] });
    expect(form.labels[0].attributes[0].name).toBe("occluded");
  });

  it("sends trimmed names, lower-case colours, hotkeys by order and defaults of each attribute's type", () => {
    const d = edited((d) => {
      d[0].name = "  auto ";
      d[0].colour = "#F2A43C";
      [d[0], d[1]] = [d[1], d[0]];
    });
    const sent = labelsOf(d);
    expect(sent.map((l) => [l.name, l.colour, l.hotkey])).toEqual([
      ["person", "#3c8cf2", 1],
      ["auto", "#f2a43c", 2],
    ]);
    const base = { name: " a ", options: "", min: null, max: null, step: null, per_frame: false, saved: null };
    expect(attributeOf({ ...base, kind: "bool", default: null })).toEqual({ name: "a", kind: "bool", options: [], min: null, max: null, step: null, per_frame: false, default: false });
    expect(attributeOf({ ...base, kind: "enum", options: " x, ,y ,", default: "z" })).toMatchObject({ options: ["x", "y"], default: "x" });
    expect(attributeOf({ ...base, kind: "enum", options: "x, y", default: " y" })).toMatchObject({ default: "y" });
    expect(attributeOf({ ...base, kind: "number", min: 2, max: 5, default: null })).toMatchObject({ min: 2, max: 5, step: 1, default: 2 });
    expect(attributeOf({ ...base, kind: "number", min: 2, max: 5, step: 0.5, default: 3 })).toMatchObject({ step: 0.5, default: 3 });
    expect(attributeOf({ ...base, kind: "text", options: "x", min: 1, default: 4 })).toMatchObject({ options: [], min: null, default: "" });
    expect(optionsOf(" a,b ,, c ")).toEqual(["a", "b", "c"]);
  });

  it("knows whether anything changed (the kinds as a set, colours in any case)", () => {
    const form = labelsForm();
    expect(changed(form, edited((d) => (d[0].kinds = ["bbox", "mask", "polygon"])))).toBe(false);
    expect(changed(form, edited((d) => (d[0].colour = "#F2A43C")))).toBe(false);
    expect(changed(form, edited((d) => (d[0].name = " car ")))).toBe(false);
    expect(changed(form, edited((d) => (d[0].attributes[1].options = "red,blue")))).toBe(false);
    expect(changed(form, edited((d) => (d[0].name = "Car")))).toBe(true);
    expect(changed(form, edited((d) => d.reverse()))).toBe(true);
    expect(changed(form, edited((d) => d.push(newLabel(d))))).toBe(true);
    expect(changed(form, edited((d) => (d[0].attributes[2].max = 200)))).toBe(true);
    expect(changed(form, edited((d) => (d[0].attributes[1].default = "blue")))).toBe(true);
    expect(changed(null, [])).toBe(false);
  });

  it("a new label gets the next free name and a palette colour no label has", () => {
    expect(paletteColour(0)).toBe("#f25555");
    for (let i = 0; i < 20; i++) expect(paletteColour(i)).toMatch(/^#[0-9a-f]{6}$/);
    const two = draftOf(labelsForm().labels);
    const l = newLabel(two);
    expect(l).toMatchObject({ id: "", name: "label 3", colour: paletteColour(2), kinds: [...SHAPE_KINDS], attributes: [] });
    // A taken name or colour is skipped.
    const taken = newLabel([{ name: "Label 2", colour: paletteColour(1) }]);
    expect(taken.name).toBe("label 3");
    expect(taken.colour).toBe(paletteColour(2));
    expect(newLabel([]).name).toBe("label 1");
    expect(newLabel(two).key).not.toBe(l.key);
  });

  it("a new attribute is a yes/no with a free name; another type brings that type's default", () => {
    const a = newAttribute([{ name: "attribute 2" }, { name: "x" }]);
    expect(a).toEqual({ name: "attribute 3", kind: "bool", options: "", min: null, max: null, step: null, per_frame: false, default: false, saved: null });
    expect(withAttributeKind(a, "number")).toMatchObject({ kind: "number", min: 0, max: 1, default: 0 });
    expect(withAttributeKind({ ...a, min: 5, max: 9 }, "number")).toMatchObject({ min: 5, max: 9, default: 5 });
    expect(withAttributeKind({ ...a, options: "red, blue" }, "enum")).toMatchObject({ kind: "enum", default: "red" });
    expect(withAttributeKind(a, "text")).toMatchObject({ kind: "text", default: "" });
    expect(withAttributeKind({ ...a, kind: "text", default: "x" }, "bool")).toMatchObject({ kind: "bool", default: false });
  });

  it("kinds keep their order; labels move as far as the list goes", () => {
    expect(withKind(["polygon", "mask"], "bbox", true)).toEqual(["mask", "polygon", "bbox"]);
    expect(withKind(["polygon", "mask"], "mask", true)).toEqual(["polygon", "mask"]);
    expect(withKind(["polygon", "mask"], "polygon", false)).toEqual(["mask"]);
    expect(moved(["a", "b", "c"], 2, -1)).toEqual(["a", "c", "b"]);
    expect(moved(["a", "b", "c"], 0, 1)).toEqual(["b", "a", "c"]);
    expect(moved(["a", "b", "c"], 0, -1)).toEqual(["a", "b", "c"]);
    expect(moved(["a", "b", "c"], 1, 5)).toEqual(["a", "c", "b"]);
  });
});

describe("what the objects use", () => {
  const form = labelsForm();

  it("a used label cannot be removed, nor the kinds its objects are drawn with", () => {
    expect(lockedReason(form, "label-car")).toBe("used by 4 objects: move them to another label or delete them before removing it");
    expect(lockedReason(labelsForm({ usage: [{ label_id: "label-car", objects: 1, kinds: ["mask"] }] }), "label-car")).toMatch(/^used by 1 object:/);
    expect(lockedReason(form, "label-person")).toBeNull();
    expect(lockedReason(form, "")).toBeNull();
    expect(lockedReason(null, "label-car")).toBeNull();
    expect(kindLocked(form, "label-car", "mask")).toContain("its objects have mask shapes");
    expect(kindLocked(form, "label-car", "bbox")).toBeNull();
    expect(kindLocked(form, "label-person", "mask")).toBeNull();
  });

  it("a used label's existing attributes are fixed; new ones and an unused label's are free", () => {
    expect(attributeLocked(form, "label-car", "occluded", true)).toMatch(/^4 objects carry its values: it cannot be removed/);
    expect(attributeLocked(form, "label-car", "occluded", false)).toBeNull();
    expect(attributeLocked(form, "label-car", "wheels", true)).toBeNull();
    expect(attributeLocked(labelsForm({ usage: [] }), "label-car", "occluded", true)).toBeNull();
  });

  it("the draft may not take from a used label what its objects carry", () => {
    const problems = (f: (d: DraftLabel[]) => void) => draftProblems(edited(f), form);
    expect(problems(() => {})).toEqual([]);
    expect(problems((d) => (d[0].kinds = ["polygon", "bbox"]))).toEqual(["label 'car': its objects have mask shapes, so mask stays allowed"]);
    expect(problems((d) => d[0].attributes.splice(0, 1))).toEqual(["label 'car', attribute 'occluded' cannot be removed: 4 objects carry its values"]);
    expect(problems((d) => (d[0].attributes[0].name = "hidden"))).toEqual(["label 'car', attribute 'occluded' cannot be renamed: 4 objects carry its values"]);
    expect(problems((d) => (d[0].attributes[0] = withAttributeKind(d[0].attributes[0], "text")))).toEqual([
      "label 'car', attribute 'occluded' cannot change type: 4 objects carry its values",
    ]);
    expect(problems((d) => (d[0].attributes[0].per_frame = false))).toEqual(["label 'car', attribute 'occluded' cannot change scope: 4 objects carry its values"]);
    expect(problems((d) => (d[0].attributes[1].options = "red, green"))).toEqual(["label 'car', attribute 'paint' cannot lose its choice 'blue': 4 objects carry its values"]);
    expect(problems((d) => (d[0].attributes[2].max = 50))).toEqual(["label 'car', attribute 'speed': its range 0..100 can only be widened: 4 objects carry its values"]);
    // What only adds is fine: a choice, a wider range, a new attribute, another name or colour.
    expect(
      problems((d) => {
        d[0].attributes[1].options = "red, blue, green";
        d[0].attributes[2].min = -10;
        d[0].attributes[2].max = 300;
        d[0].attributes.push(newAttribute(d[0].attributes));
        d[0].name = "auto";
        d[0].colour = "#000000";
        d[0].kinds.push("points");
      }),
    ).toEqual([]);
    // An unused label may lose anything.
    const free = labelsForm({ usage: [] });
    expect(draftProblems(edited((d) => ((d[0].attributes = []), (d[0].kinds = ["points"])), free), free)).toEqual([]);
  });
});

describe("draft problems", () => {
  const problems = (f: (d: DraftLabel[]) => void) => draftProblems(edited(f));

  it("names: empty, too long, the same in another case", () => {
    expect(problems(() => {})).toEqual([]);
    expect(problems((d) => (d[1].name = "  "))).toEqual(["label 2 has no name"]);
    expect(problems((d) => (d[1].name = "x".repeat(101)))[0]).toContain("the name is longer than 100 characters");
    expect(problems((d) => (d[1].name = " Car"))).toEqual(["two labels are named 'Car' (names differ in more than case)"]);
    expect(draftProblems([])).toEqual(["a project needs at least one label"]);
  });

  it("colours and kinds", () => {
    expect(problems((d) => (d[1].colour = "blue"))).toEqual(["label 'person': colour 'blue' is not of the form #rrggbb"]);
    expect(problems((d) => (d[1].colour = "#12345"))).toHaveLength(1);
    expect(problems((d) => (d[1].kinds = []))).toEqual(["label 'person': allow at least one shape kind"]);
    expect(problems((d) => (d[1].kinds = ["circle"]))).toEqual(["label 'person': 'circle' is not a shape kind"]);
  });

  it("attributes: names, choices and ranges", () => {
    const withAttr = (more: Partial<DraftLabel["attributes"][number]>) =>
      problems((d) => d[1].attributes.push({ ...newAttribute([]), name: "a", ...more }));
    expect(withAttr({ name: " " })).toEqual(["label 'person': an attribute has no name"]);
    expect(problems((d) => d[1].attributes.push({ ...newAttribute([]), name: "a" }, { ...newAttribute([]), name: "a " }))).toEqual([
      "label 'person': two attributes are named 'a'",
    ]);
    expect(withAttr({ kind: "enum", options: " , " })).toEqual(["label 'person', attribute 'a': give it at least one choice"]);
    expect(withAttr({ kind: "enum", options: "x, y, x" })).toEqual(["label 'person', attribute 'a': the choice 'x' appears twice"]);
    expect(withAttr({ kind: "enum", options: "x", default: "" })).toEqual([]);
    expect(withAttr({ kind: "number", min: null, max: 3 })).toEqual(["label 'person', attribute 'a': give its lowest and highest value"]);
    expect(withAttr({ kind: "number", min: 1, max: null })).toEqual(["label 'person', attribute 'a': give its lowest and highest value"]);
    expect(withAttr({ kind: "number", min: 4, max: 3 })).toEqual(["label 'person', attribute 'a': its lowest value 4 is above its highest 3"]);
    expect(withAttr({ kind: "number", min: 0, max: 3, default: 7 })).toEqual(["label 'person', attribute 'a': its default 7 is outside 0..3"]);
    expect(withAttr({ kind: "number", min: 0, max: 3, step: -1, default: null })).toEqual(["label 'person', attribute 'a': its step must be a number of 0 or more"]);
    expect(withAttr({ kind: "number", min: 0, max: 0, step: null, default: null })).toEqual([]);
    expect(withAttr({ kind: "colour" })).toEqual(["label 'person', attribute 'a': 'colour' is not an attribute type"]);
  });
});

describe("load and save", () => {
  it("reads the form and starts the draft from it", async () => {
    const ed = initialEditor();
    expect(saveBlocked(ed)).toBe("the labels are not read yet");
    const { api, calls } = fakeLabels(() => labelsForm());
    await loadLabels(ed, api, "project-1");
    expect(calls).toEqual([["labelSchema", "project-1"]]);
    expect(ed.form).toEqual(labelsForm());
    expect(ed.draft.map((l) => l.name)).toEqual(["car", "person"]);
    expect(ed.busy).toBe("");
    expect(saveBlocked(ed)).toBe("nothing changed yet");
  });

  it("a failed read says why", async () => {
    const ed = initialEditor();
    await loadLabels(ed, fakeLabels(() => labelsForm(), () => Promise.reject({ kind: "not_found", message: "no such project" }) as never).api, "project-9");
    expect(ed.form).toBeNull();
    expect(ed.error).toBe("no such project");
  });

  it("sends the draft against the form's version; the draft starts over from the saved form", async () => {
    const ed = initialEditor(labelsForm());
    ed.draft[1].name = "pedestrian";
    ed.draft.push(newLabel(ed.draft));
    expect(saveBlocked(ed)).toBeNull();
    const after = labelsForm({ version: 4 });
    const { api, calls } = fakeLabels((_, __, labels) => ({ ...after, labels: labels.map((l, i) => ({ ...l, id: l.id || `label-new-${i}` })) }));
    const saved = await saveDraft(ed, api, "project-1");
    expect(calls).toHaveLength(1);
    const [name, projectId, version, labels] = calls[0] as [string, string, number, LabelInfo[]];
    expect([name, projectId, version]).toEqual(["saveLabels", "project-1", 3]);
    expect(labels.map((l) => [l.id, l.name, l.hotkey])).toEqual([
      ["label-car", "car", 1],
      ["label-person", "pedestrian", 2],
      ["", "label 3", 3],
    ]);
    expect(saved?.version).toBe(4);
    expect(ed.form).toBe(saved);
    expect(ed.draft.map((l) => l.id)).toEqual(["label-car", "label-person", "label-new-2"]);
    expect(changed(ed.form, ed.draft)).toBe(false);
    expect(ed.error).toBe("");
  });

  it("labels changed elsewhere: the error says so and only a reload helps", async () => {
    const ed = initialEditor(labelsForm());
    ed.draft[0].name = "auto";
    expect(await saveDraft(ed, fakeLabels(() => Promise.reject(CONFLICT)).api, "project-1")).toBeNull();
    expect(ed.stale).toBe(true);
    expect(ed.error).toBe(CONFLICT.message);
    expect(saveBlocked(ed)).toBe("the labels were changed elsewhere: reload them first");
    // The draft stays until the reload, which reads the labels as they are now.
    expect(ed.draft[0].name).toBe("auto");
    await loadLabels(ed, fakeLabels(() => labelsForm(), () => labelsForm({ version: 4 })).api, "project-1");
    expect(ed).toMatchObject({ stale: false, error: "", busy: "" });
    expect(ed.form?.version).toBe(4);
    expect(ed.draft[0].name).toBe("car");
  });

  it("a refusal of what objects carry is no reason to reload; nothing to do is a note", async () => {
    expect(isStale(CONFLICT)).toBe(true);
    expect(isStale({ kind: "conflict", message: "'car' is used by 4 objects: move them" })).toBe(false);
    expect(isStale({ kind: "invalid", message: "open them again" })).toBe(false);
    expect(isStale("conflict")).toBe(false);
    const ed = initialEditor(labelsForm());
    ed.draft[0].name = "auto";
    await saveDraft(ed, fakeLabels(() => Promise.reject({ kind: "conflict", message: "'car' is used by 4 objects" })).api, "project-1");
    expect(ed).toMatchObject({ stale: false, error: "'car' is used by 4 objects", note: "" });
    await saveDraft(ed, fakeLabels(() => Promise.reject({ kind: "nothing_to_do", message: "nothing to do" })).api, "project-1");
    expect(ed).toMatchObject({ stale: false, error: "", note: "nothing to save: the labels are as they were" });
  });

  it("nothing is sent while the draft has a problem, nothing changed, or the user may not edit", async () => {
    const { api, calls } = fakeLabels(() => labelsForm());
    const bad = initialEditor(labelsForm());
    bad.draft[1].name = "";
    expect(saveBlocked(bad)).toBe("label 2 has no name");
    expect(await saveDraft(bad, api, "project-1")).toBeNull();
    expect(await saveDraft(initialEditor(labelsForm()), api, "project-1")).toBeNull();
    const ro = initialEditor(labelsForm({ read_only: "only the project's leads may edit its labels (you are annotator here)" }));
    ro.draft[0].name = "auto";
    expect(saveBlocked(ro)).toContain("only the project's leads");
    expect(await saveDraft(ro, api, "project-1")).toBeNull();
    expect(calls).toEqual([]);
  });

  it("after a save the open project's labels are the saved ones, the current label kept", async () => {
    const ws = openWorkspace(10);
    ws.projects = [ws.detail!.project];
    ws.detail!.project.labels = labelsForm().labels;
    ws.labelIndex = 1;
    const ed = initialEditor(labelsForm());
    [ed.draft[0], ed.draft[1]] = [ed.draft[1], ed.draft[0]];
    ed.draft[0].colour = "#00ff00";
    const saved = await saveDraft(ed, fakeLabels((_, __, labels) => labelsForm({ version: 4, labels })).api, "project-1");
    const fresh = [shape("track-a", 10, { colour: "#00ff00" })];
    const api = {
      frameShapes: async () => fresh,
      timeline: async () => ({ frame_count: 100, frames: [], tracks: [] }),
    } as unknown as Api;
    const actions = createActions(api, ws);
    const revision = ws.revision;
    await actions.labelsSaved(saved!);
    expect(ws.detail!.project.labels.map((l) => [l.name, l.colour, l.hotkey])).toEqual([
      ["person", "#00ff00", 1],
      ["car", "#f2a43c", 2],
    ]);
    expect(ws.projects[0].labels).toBe(saved!.labels);
    // "person" was the current label, now first.
    expect(ws.labelIndex).toBe(0);
    expect(ws.revision).toBe(revision + 1);
    expect(ws.shapes).toEqual(fresh);
    expect(ws.status).toBe("labels saved (2 labels)");
    // Another project's form changes nothing.
    await actions.labelsSaved(labelsForm({ project_id: "project-2", labels: [] }));
    expect(ws.detail!.project.labels).toHaveLength(2);
  });
});

describe("LabelsDialog (rendered)", () => {
  const dialog = (editor: LabelsEditor) => render(LabelsDialog, { props: { projectId: "project-1", editor, onsaved: () => {}, onclose: () => {} } }).body;
  /** The rendered row of the label named `name`. */
  const row = (html: string, name: string) => html.match(new RegExp(`<li[^>]*data-testid="label-row" data-label="${name}"[\\s\\S]*?</li>`))?.[0] ?? "";
  const tag = (html: string, testid: string) => html.match(new RegExp(`<[a-z]+[^>]*data-testid="${testid}"[^>]*>`))?.[0] ?? "";

  it("shows a row per label with its name, colour, kinds and the number key", () => {
    const html = dialog(initialEditor(labelsForm()));
    expect(html).toContain('data-testid="labels-dialog"');
    expect(html.match(/data-testid="label-row"/g)).toHaveLength(2);
    expect(tag(row(html, "car"), "label-name")).toContain('value="car"');
    expect(tag(row(html, "person"), "label-name")).toContain('value="person"');
    expect(tag(row(html, "car"), "label-colour")).toContain('value="#f2a43c"');
    expect(tag(row(html, "person"), "label-kind-polygon")).toMatch(/checked/);
    expect(tag(row(html, "person"), "label-kind-bbox")).not.toMatch(/checked/);
    expect(html).toContain('data-testid="label-add"');
    expect(row(html, "car")).toContain("Attributes (3)");
  });

  it("a used label is locked: its remove says why, its used kinds and existing attributes are fixed", () => {
    const html = dialog(initialEditor(labelsForm()));
    const car = row(html, "car");
    expect(car).toContain('data-used="true"');
    expect(car).toContain("used by 4 objects");
    const remove = tag(car, "label-remove");
    expect(remove).toMatch(/disabled/);
    expect(remove).toContain('title="used by 4 objects: move them to another label or delete them before removing it"');
    expect(tag(car, "label-kind-mask")).toMatch(/disabled/);
    expect(tag(car, "label-kind-bbox")).not.toMatch(/disabled/);
    expect(tag(car, "attribute-remove")).toMatch(/disabled=""[^>]*title="4 objects carry its values/);
    expect(tag(car, "attribute-kind")).toMatch(/disabled/);
    const person = row(html, "person");
    expect(person).toContain('data-used="false"');
    expect(tag(person, "label-remove")).not.toMatch(/disabled/);
    expect(tag(person, "label-kind-mask")).not.toMatch(/disabled/);
  });

  it("Save is disabled with the first problem as its title, or because nothing changed", () => {
    expect(tag(dialog(initialEditor(labelsForm())), "labels-save")).toMatch(/disabled=""[^>]*title="nothing changed yet"/);
    const ed = initialEditor(labelsForm());
    ed.draft[1].name = "CAR";
    const html = dialog(ed);
    expect(tag(html, "labels-save")).toMatch(/disabled=""[^>]*title="two labels are named 'CAR'/);
    expect(html).toContain('data-testid="labels-problem">two labels are named \'CAR\'');
    ed.draft[1].name = "pedestrian";
    const ok = tag(dialog(ed), "labels-save");
    expect(ok).not.toMatch(/disabled/);
    expect(ok).toContain('title="save the labels"');
  });

  it("a conflict shows the error and Reload", async () => {
    const ed = initialEditor(labelsForm());
    ed.draft[0].name = "auto";
    expect(dialog(ed)).not.toContain('data-testid="labels-reload"');
    await saveDraft(ed, fakeLabels(() => Promise.reject(CONFLICT)).api, "project-1");
    const html = dialog(ed);
    expect(html).toContain('data-testid="labels-reload"');
    expect(html).toContain(`data-testid="labels-error">${CONFLICT.message}`);
    expect(tag(html, "labels-save")).toMatch(/disabled=""[^>]*title="the labels were changed elsewhere: reload them first"/);
  });

  it("read-only: the reason, the form disabled, only Close", () => {
    const why = "only the project's leads may edit its labels (you are annotator here)";
    const html = dialog(initialEditor(labelsForm({ read_only: why })));
    expect(html).toContain('data-read-only="true"');
    expect(html).toContain(`data-testid="labels-read-only">only the project's leads`);
    expect(html).toMatch(/<fieldset disabled/);
    expect(html).toContain('data-testid="labels-close"');
    expect(html).not.toContain('data-testid="labels-save"');
    expect(html).not.toContain('data-testid="labels-cancel"');
  });

  it("before the form is read: no rows", () => {
    const html = dialog(initialEditor());
    expect(html).not.toContain('data-testid="label-row"');
    expect(tag(html, "labels-save")).toMatch(/disabled/);
  });
});
