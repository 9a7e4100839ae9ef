//! The label editor, as the page drives it: open a project's labels with
//! what its objects use, save an edited list (rename, recolour, a new label,
//! a new attribute that objects then carry), and what is refused and why:
//! a form field that is wrong, a label or kind in use, a stale version.

use argus_testkit::{ensure, str_of};
use serde_json::{Value, json};

use crate::util::{TestResult, TestWs};

fn names(form: &Value) -> Vec<String> {
    form["labels"].as_array().map(|ls| ls.iter().filter_map(|l| l["name"].as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

pub fn edit_and_refusals() -> TestResult {
    let t = TestWs::new()?;
    let (project, video, _) = argus_testkit::project_with_video(t.dir.path(), |cmd, args| t.ok(cmd, args))?;
    let pid = str_of(&project, "id")?;
    let vid = str_of(&video, "id")?;
    let form = t.ok("label_schema", json!({ "projectId": pid }))?;
    ensure!(form["version"] == json!(1) && names(&form) == ["box", "background"], "as created: {form}");
    ensure!(form["usage"] == json!([]) && form["read_only"].is_null(), "nothing drawn yet, and the creator is a lead: {form}");
    let box_id = str_of(&form["labels"][0], "id")?.to_owned();

    let drawn = t.ok("draw_shape", json!({ "videoId": vid, "frame": 3, "target": { "to": "new_track", "label_id": box_id },
        "shape": { "kind": "bbox", "bbox": { "x": 5.0, "y": 5.0, "width": 20.0, "height": 10.0 } } }))?;
    let track = str_of(&drawn, "track_id")?.to_owned();
    let history = t.ok("history", json!({ "projectId": pid }))?;
    let form = t.ok("label_schema", json!({ "projectId": pid }))?;
    ensure!(form["usage"] == json!([{ "label_id": box_id, "objects": 1, "kinds": ["bbox"] }]), "the box is used, by a bbox: {form}");

    // The form's faults are named by label and field; nothing is saved.
    let save = |labels: Value, version: u64| t.call("save_labels", json!({ "projectId": pid, "version": version, "labels": labels }));
    let refused = |labels: Value, version: u64| -> Result<(String, String), String> {
        match save(labels, version) {
            Ok(v) => Err(format!("save_labels should have failed but returned {v}")),
            Err(e) => Ok((e["kind"].as_str().unwrap_or_default().to_owned(), e["message"].as_str().unwrap_or_default().to_owned())),
        }
    };
    let with = |change: &dyn Fn(&mut Value)| {
        let mut labels = form["labels"].clone();
        change(&mut labels);
        labels
    };
    let cases: [(Value, &str, &str); 6] = [
        (json!([]), "invalid", "at least one label"),
        (with(&|l| l[0]["colour"] = json!("red")), "invalid", "label 'box': colour 'red' is not of the form #rrggbb"),
        (with(&|l| l[1]["kinds"] = json!(["circle"])), "invalid", "label 'background': 'circle' is not a shape kind"),
        (
            with(&|l| l[1]["attributes"] = json!([{ "name": "weather", "kind": "enum", "options": [" "], "min": null, "max": null, "step": null, "per_frame": false, "default": "" }])),
            "invalid",
            "attribute 'weather': give it at least one choice",
        ),
        (with(&|l| l[1]["name"] = json!("BOX")), "invalid", "label 'BOX' appears twice"),
        (with(&|l| l[0]["kinds"] = json!(["mask", "polygon"])), "conflict", "'box' has 1 bbox shape: keep bbox allowed"),
    ];
    for (labels, kind, says) in cases {
        let (k, m) = refused(labels.clone(), 1)?;
        ensure!(k == kind && m.contains(says), "{labels}: expected {kind} saying {says:?}, got {k}: {m}");
    }
    let only_background = json!([form["labels"][1].clone()]);
    let (k, m) = refused(only_background, 1)?;
    ensure!(k == "conflict" && m.contains("'box' is used by 1 object: move them to another label or delete them"), "{k}: {m}");
    ensure!(t.ok("label_schema", json!({ "projectId": pid }))? == form, "every refusal saved nothing");

    // Rename and recolour the box, give it a per-object choice, add a label.
    let edited = with(&|l| {
        l[0]["name"] = json!("crate");
        l[0]["colour"] = json!("#112233");
        l[0]["attributes"] = json!([{ "name": "material", "kind": "enum", "options": ["wood", "metal"], "min": null, "max": null,
            "step": null, "per_frame": false, "default": "metal" }]);
        if let Some(ls) = l.as_array_mut() {
            ls.push(json!({ "id": "", "name": "pallet", "colour": "#abcdef", "kinds": ["bbox", "polygon"], "attributes": [] }));
        }
    });
    let saved = save(edited, 1).map_err(|e| format!("save: {e}"))?;
    ensure!(saved["version"] == json!(2) && names(&saved) == ["crate", "background", "pallet"], "saved in order: {saved}");
    ensure!(saved["labels"][0]["id"] == json!(box_id) && saved["labels"][0]["colour"] == "#112233", "the same label, renamed: {saved}");
    let pallet = &saved["labels"][2];
    ensure!(pallet["id"].as_str().is_some_and(|id| !id.is_empty()) && pallet["hotkey"] == json!(3), "the new label has an id and key 3: {saved}");
    let opened = t.ok("open_project", json!({ "projectId": pid }))?;
    ensure!(opened["project"]["labels"] == saved["labels"], "the workspace shows the new labels: {opened}");
    ensure!(t.ok("history", json!({ "projectId": pid }))? == history, "editing labels is not an undo step: {history}");

    // The object takes the new attribute's values.
    t.ok("set_attribute", json!({ "videoId": vid, "frame": 3, "trackId": track, "name": "material", "value": "wood" }))?;
    let shapes = t.ok("frame_shapes", json!({ "videoId": vid, "frame": 3 }))?;
    ensure!(shapes[0]["attributes"]["material"] == "wood", "the value is kept: {shapes}");

    // A save from the form opened before is refused; the newer one stands.
    let (k, m) = refused(form["labels"].clone(), 1)?;
    ensure!(k == "conflict" && m.contains("version 1, now 2") && m.contains("open them again"), "{k}: {m}");
    // Now the material carries values: its choices can grow, not shrink.
    let grown = {
        let mut l = saved["labels"].clone();
        l[0]["attributes"][0]["options"] = json!(["wood", "metal", "plastic"]);
        l
    };
    let saved = save(grown, 2).map_err(|e| format!("save: {e}"))?;
    let mut shrunk = saved["labels"].clone();
    shrunk[0]["attributes"][0]["options"] = json!(["metal", "plastic"]);
    let (k, m) = refused(shrunk, 3)?;
    ensure!(k == "conflict" && m.contains("attribute 'material' of 'crate' would lose its option 'wood'"), "{k}: {m}");
    Ok(())
}
