//! The desktop shell on tauri's mock runtime: every command reachable from
//! the page with the argument names the page sends, errors as typed JSON,
//! progress as events, and the frame transports (`frame://` and the loopback
//! frame server). What the commands do is argus-workspace's, tested there
//! (`crates/argus-workspace/tests/workspace.rs`).

mod util;

use argus_app::frames;
use argus_core::id::{LabelId, ProjectId, ReviewId, TrackId, VideoId};
use argus_testkit::{VIDEO_FRAMES, VIDEO_H, VIDEO_W, ensure, str_of};
use libtest_mimic::{Arguments, Trial};
use serde_json::{Value, json};
use util::{TestApp, TestResult};

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
        Trial::test(
            "version: `argus --version` prints the version and the commit it was built from",
            version,
        ),
        Trial::test(
            "ipc: every command answers the page's arguments, with typed errors and progress events",
            ipc,
        ),
        Trial::test(
            "transfers: export_project and import_annotations through IPC, with progress events and cancel_transfer",
            transfers,
        ),
        Trial::test(
            "frames: the frame:// answer for good and bad requests",
            frame_protocol,
        ),
        Trial::test(
            "frame server: loopback HTTP answers as frame:// does, keep-alive, token, bad requests",
            frame_server,
        ),
        Trial::test(
            "capabilities: the main window is granted exactly the app's commands and listening to events",
            capabilities,
        ),
        Trial::test(
            "log level: a bad --log-level or ARGUS_LOG stops the app with what to use",
            bad_log_level,
        ),
        Trial::test(
            "diagnostics: versions, what SAM and the renderer run on, the log's tail",
            diagnostics,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}

fn capabilities() -> TestResult {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/capabilities");
    let files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{dir}: {e}"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    ensure!(files.len() == 1, "one capability file, the main window's: {files:?}");
    let cap: Value = serde_json::from_str(&std::fs::read_to_string(&files[0]).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    ensure!(cap["windows"] == json!(["main"]), "for the main window only: {}", cap["windows"]);
    ensure!(cap.get("remote").is_none(), "no remote URL is granted anything: {cap}");
    let granted: Vec<String> = cap["permissions"]
        .as_array()
        .ok_or("permissions is a list")?
        .iter()
        .map(|p| p.as_str().map(str::to_owned).ok_or_else(|| format!("a permission with a scope: {p}")))
        .collect::<Result<_, _>>()?;
    // The commands build.rs gave permissions to, read from the handler list.
    let commands: Vec<&str> = argus_app::APP_COMMANDS.split(',').filter(|c| !c.is_empty()).collect();
    ensure!(commands.len() > 20, "the handler list was read: {commands:?}");
    let mut expected: Vec<String> = vec!["core:event:allow-listen".into(), "core:event:allow-unlisten".into()];
    expected.extend(commands.iter().map(|c| format!("allow-{}", c.replace('_', "-"))));
    let (mut a, mut b) = (granted.clone(), expected.clone());
    a.sort();
    b.sort();
    ensure!(
        a == b,
        "granted and expected differ: only granted {:?}, only expected {:?}",
        granted.iter().filter(|g| !expected.contains(g)).collect::<Vec<_>>(),
        expected.iter().filter(|e| !granted.contains(e)).collect::<Vec<_>>()
    );
    // The policy the page runs under.
    let conf: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tauri.conf.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let csp = &conf["app"]["security"]["csp"];
    ensure!(csp["script-src"] == "'self'" && csp["style-src"] == "'self'", "scripts and styles from the app only: {csp}");
    let connect = csp["connect-src"].as_str().ok_or("connect-src is set")?;
    ensure!(
        connect.split_whitespace().all(|s| ["ipc:", "http://ipc.localhost", "http://127.0.0.1:*", "frame:", "http://frame.localhost"].contains(&s)),
        "connections only to the IPC, the frame scheme and loopback: {connect}"
    );
    ensure!(conf["app"]["security"]["capabilities"] == json!(["main-window"]), "only the main window's capability is enabled");
    Ok(())
}

fn bad_log_level() -> TestResult {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_argus"));
        c.args(args).env_remove("RUST_LOG").env_remove("ARGUS_LOG").env("ARGUS_LOG_DIR", std::env::temp_dir());
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().map_err(|e| format!("running argus: {e}"))
    };
    for (args, env, names) in [
        (vec!["--log-level", "loud=="], vec![], "--log-level"),
        (vec![], vec![("ARGUS_LOG", "[[nope")], "ARGUS_LOG"),
    ] {
        let out = run(&args, &env)?;
        let err = String::from_utf8_lossy(&out.stderr);
        ensure!(out.status.code() == Some(2), "exit status 2 for {args:?} {env:?}: {:?} {err}", out.status);
        ensure!(err.contains(names) && err.contains("debug"), "says where the bad level came from and what to use: {err}");
    }
    Ok(())
}

fn diagnostics() -> TestResult {
    let t = TestApp::new()?;
    let d = t.ok("diagnostics", json!({}))?;
    ensure!(d["version"] == json!(argus_app::version_line()), "the version line: {d}");
    ensure!(str_of(&d, "ffmpeg")?.starts_with("FFmpeg "), "FFmpeg's version: {d}");
    ensure!(str_of(&d, "sam")? == "no model loaded", "no SAM model yet: {d}");
    ensure!(!str_of(&d, "onnx_runtime")?.is_empty() && !str_of(&d, "adapter")?.is_empty(), "{d}");
    ensure!(str_of(&d, "webview")?.starts_with("WebKitGTK") || !cfg!(target_os = "linux"), "{d}");
    ensure!(d["log_tail"].is_array(), "the log's tail: {d}");
    t.ok("page_log", json!({ "level": "warn", "message": "from the page" }))?;
    Ok(())
}

fn version() -> TestResult {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_argus"))
        .arg("--version")
        .output()
        .map_err(|e| format!("running argus --version: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "exit status {:?}: {text}", out.status);
    ensure!(
        text.trim() == argus_app::version_line(),
        "prints the version line: {text:?}"
    );
    ensure!(
        text.starts_with(&format!("argus {} (commit ", env!("CARGO_PKG_VERSION"))),
        "the package version: {text:?}"
    );
    // built from a git checkout (as the suite runs), the commit is HEAD's
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if let Some(head) = head {
        ensure!(
            text.contains(&format!("(commit {head})")),
            "names HEAD {head}: {text:?}"
        );
    }
    Ok(())
}

/// A project with two labels and the generated video imported.
fn project_with_video(t: &TestApp) -> Result<(Value, Value), String> {
    let (project, video, _) = argus_testkit::project_with_video(t.dir.path(), |cmd, args| t.ok(cmd, args))?;
    Ok((project, video))
}

fn ipc() -> TestResult {
    let t = TestApp::new()?;
    let events = std::sync::Arc::new(parking_lot::Mutex::new(Vec::<Value>::new()));
    let sink = events.clone();
    tauri::Listener::listen_any(&t.app, argus_workspace::dto::IMPORT_PROGRESS_EVENT, move |e| {
        if let Ok(v) = serde_json::from_str::<Value>(e.payload()) {
            sink.lock().push(v);
        }
    });
    let (project, video) = project_with_video(&t)?;
    let stages: Vec<String> = events
        .lock()
        .iter()
        .filter_map(|e| e["stage"].as_str().map(str::to_owned))
        .collect();
    ensure!(
        stages == ["indexing", "storing", "done"],
        "import progress reaches the page as events: {stages:?}"
    );
    let pid = str_of(&project, "id")?;
    let vid = str_of(&video, "id")?;
    let label = project["labels"][0]["id"].as_str().ok_or("a label")?;
    ensure!(
        t.ok("list_projects", json!({}))?.as_array().is_some_and(|l| l.len() == 1),
        "list_projects"
    );
    ensure!(t.ok("open_project", json!({ "projectId": pid }))?["videos"][0] == video, "open_project");
    ensure!(t.ok("history", json!({ "projectId": pid }))?["undo"] == 0, "history");
    let info = t.ok("app_info", json!({}))?;
    ensure!(info["database"].as_str().is_some_and(|d| d.ends_with("argus.db")), "app_info: {info}");
    let drawn = t.ok(
        "draw_shape",
        json!({ "videoId": vid, "frame": 2, "target": { "to": "new_track", "label_id": label },
                "shape": { "kind": "bbox", "bbox": { "x": 1.0, "y": 1.0, "width": 9.0, "height": 9.0 } } }),
    )?;
    let track = str_of(&drawn, "track_id")?;
    ensure!(t.ok("frame_shapes", json!({ "videoId": vid, "frame": 2 }))?.as_array().is_some_and(|l| l.len() == 1), "the drawn box");
    ensure!(t.ok("timeline", json!({ "videoId": vid }))?["frames"][0]["frame"] == 2, "timeline");
    ensure!(
        t.ok("pick_object", json!({ "videoId": vid, "frame": 2, "x": 5.0, "y": 5.0, "hidden": null }))? == json!(track),
        "pick_object"
    );
    ensure!(t.ok("list_sam_models", json!({}))?.as_array().is_some_and(|l| !l.is_empty()), "list_sam_models");
    t.ok("sam_clear", json!({}))?;
    let opened = t.ok("open_review", json!({ "videoId": vid, "scope": { "scope": "frames", "start": 1, "end": 3 } }))?;
    let review = str_of(&opened, "review_id")?;
    ensure!(opened["reviews"][0]["covers"] == "frames 1–3" && opened["reviews"][0]["state"] == "pending", "open_review: {opened}");
    let rejected = t.ok("decide_review", json!({ "reviewId": review, "verdict": "reject", "comment": "box too small" }))?;
    ensure!(rejected["reviews"][0]["state"] == "rejected" && rejected["reviews"][0]["comment"] == "box too small", "decide_review: {rejected}");
    let commented = t.ok("comment_review", json!({ "reviewId": review, "body": "here", "frame": 2 }))?;
    let thread = &commented["reviews"][0]["comments"];
    ensure!(
        thread[0]["body"] == "rejected: box too small" && thread[1]["body"] == "here" && thread[1]["frame"] == 2,
        "comment_review: the rejection's comment, then the one pinned to frame 2: {commented}"
    );
    ensure!(t.ok("reviews", json!({ "videoId": vid }))? == commented["reviews"], "reviews lists what the last step answered");
    // The label editor: what the drawn box uses, and a rename saved.
    let labels = t.ok("label_schema", json!({ "projectId": pid }))?;
    ensure!(
        labels["version"] == 1 && labels["read_only"].is_null() && labels["usage"] == json!([{ "label_id": label, "objects": 1, "kinds": ["bbox"] }]),
        "label_schema: {labels}"
    );
    let mut edited = labels["labels"].clone();
    edited[0]["name"] = json!("crate");
    let saved = t.ok("save_labels", json!({ "projectId": pid, "version": 1, "labels": edited }))?;
    ensure!(saved["version"] == 2 && saved["labels"][0]["name"] == "crate" && saved["labels"][0]["id"] == label, "save_labels: {saved}");
    // The team side, signed out (a server is argus-workspace's team trial).
    let account = t.ok("account", json!({}))?;
    ensure!(account["user"].is_null() && account["server"].is_null() && account["problem"].is_null(), "account: {account}");
    let sync = t.ok("sync_status", json!({ "projectId": pid, "nudge": true }))?;
    ensure!(sync["on_server"] == false && sync["signed_in"] == false && sync["active"] == false && sync["pending"].as_u64() >= Some(1), "sync_status: {sync}");
    ensure!(t.ok("open_project", json!({ "projectId": pid }))?["videos"][0]["here"] == true, "an imported video's file is here");
    ensure!(t.ok("conflicts", json!({ "projectId": pid }))? == json!([]), "a local project has no conflicts");

    // Every other command, with the page's argument names, fails only for
    // the reason given (an unknown object or no SAM model), as a typed error:
    // a misnamed argument would fail in Tauri with an untyped message.
    let unknown_track = TrackId::new().to_string();
    let unknown_video = VideoId::new().to_string();
    let target = json!({ "to": "track", "track_id": unknown_track });
    let cases: Vec<(&str, Value, &str)> = vec![
        ("create_project", json!({ "name": "  ", "labels": ["a"] }), "invalid"),
        ("open_project", json!({ "projectId": ProjectId::new().to_string() }), "not_found"),
        ("import_video", json!({ "projectId": pid, "path": t.dir.path().join("nope.mp4") }), "not_found"),
        ("redo", json!({ "projectId": pid }), "nothing_to_do"),
        ("undo", json!({ "projectId": "zzz" }), "invalid"),
        ("load_sam_model", json!({ "manifestPath": t.dir.path().join("missing.toml") }), "sam"),
        ("sam_predict", json!({ "videoId": vid, "frame": 0, "prompt": { "points": [{ "x": 1.0, "y": 1.0, "positive": true }] } }), "sam"),
        ("sam_candidate", json!({ "videoId": vid, "frame": 0, "rank": 0 }), "sam"),
        ("sam_prefetch", json!({ "videoId": unknown_video, "frame": 0, "start": true }), "not_found"),
        ("sam_accept", json!({ "videoId": vid, "frame": 0, "rank": 0, "target": { "to": "new_track", "label_id": LabelId::new().to_string() } }), "sam"),
        ("brush_stroke", json!({ "videoId": vid, "frame": 0, "target": target, "stroke": { "points": [{ "x": 1.0, "y": 1.0 }], "radius": 2.0 } }), "not_found"),
        ("cut_hole", json!({ "videoId": vid, "frame": 0, "trackId": unknown_track, "ring": [] }), "not_found"),
        ("copy_to_next_frame", json!({ "videoId": vid, "frame": 0, "trackId": unknown_track }), "not_found"),
        ("delete_shape", json!({ "videoId": vid, "frame": 0, "trackId": unknown_track }), "not_found"),
        ("delete_track", json!({ "videoId": vid, "trackId": unknown_track }), "not_found"),
        ("change_label", json!({ "videoId": vid, "frame": 0, "trackId": unknown_track, "labelId": label }), "not_found"),
        ("set_attribute", json!({ "videoId": vid, "frame": 0, "trackId": unknown_track, "name": "x", "value": true }), "not_found"),
        ("frame_shapes", json!({ "videoId": vid, "frame": VIDEO_FRAMES }), "invalid"),
        ("reviews", json!({ "videoId": unknown_video }), "not_found"),
        ("open_review", json!({ "videoId": vid, "scope": { "scope": "track", "track_id": unknown_track } }), "not_found"),
        ("open_review", json!({ "videoId": vid, "scope": { "scope": "frames", "start": 3, "end": 1 } }), "invalid"),
        ("decide_review", json!({ "reviewId": ReviewId::new().to_string(), "verdict": "approve" }), "not_found"),
        ("comment_review", json!({ "reviewId": "zzz", "body": "x" }), "invalid"),
        ("sign_in", json!({ "form": { "server": "http://127.0.0.1:9", "anon_key": null, "email": "a@example.com", "password": "pw", "keep": false } }), "offline"),
        ("sign_in", json!({ "form": { "server": "example.com", "anon_key": null, "email": "a@example.com", "password": "pw", "keep": false } }), "invalid"),
        ("sign_out", json!({ "everywhere": false }), "nothing_to_do"),
        ("teams", json!({}), "sign_in"),
        ("server_projects", json!({}), "sign_in"),
        ("publish_project", json!({ "projectId": pid, "teamId": ProjectId::new().to_string(), "videos": true }), "sign_in"),
        ("publish_project", json!({ "projectId": pid, "teamId": "", "videos": false }), "invalid"),
        ("open_server_project", json!({ "projectId": ProjectId::new().to_string(), "videos": false }), "sign_in"),
        ("fetch_video", json!({ "videoId": vid }), "sign_in"),
        ("sync_now", json!({ "projectId": pid }), "sign_in"),
        ("sync_status", json!({ "projectId": "zzz", "nudge": false }), "invalid"),
        ("project_people", json!({ "projectId": pid }), "sign_in"),
        ("add_person", json!({ "projectId": pid, "email": "a@example.com", "role": "annotator" }), "sign_in"),
        ("add_person", json!({ "projectId": pid, "email": "a@example.com", "role": "boss" }), "invalid"),
        ("set_person_role", json!({ "projectId": pid, "userId": TrackId::new().to_string(), "role": "lead" }), "sign_in"),
        ("remove_person", json!({ "projectId": pid, "userId": "zzz" }), "invalid"),
        ("revoke_invitation", json!({ "projectId": pid, "invitationId": TrackId::new().to_string() }), "sign_in"),
        ("my_invitations", json!({}), "sign_in"),
        ("accept_invitation", json!({ "invitationId": "zzz" }), "invalid"),
        ("conflicts", json!({ "projectId": "zzz" }), "invalid"),
        ("resolve_conflict", json!({ "projectId": pid, "conflictId": TrackId::new().to_string(), "keep": "other" }), "not_found"),
        ("label_schema", json!({ "projectId": ProjectId::new().to_string() }), "not_found"),
        ("save_labels", json!({ "projectId": pid, "version": 1, "labels": saved["labels"] }), "conflict"),
    ];
    for (cmd, args, want) in cases {
        let (kind, message) = t.err(cmd, args.clone())?;
        ensure!(kind == want, "{cmd} {args}: expected {want}, got {kind}: {message}");
    }
    Ok(())
}

fn transfers() -> TestResult {
    use argus_app::commands::{TRANSFER_PROGRESS_EVENT, TransferCell};
    use tauri::Manager;
    let t = TestApp::new()?;
    let (project, video) = project_with_video(&t)?;
    let pid = str_of(&project, "id")?;
    let vid = str_of(&video, "id")?;
    let label = project["labels"][0]["id"].as_str().ok_or("a label")?;
    for frame in [2, 5] {
        t.ok(
            "draw_shape",
            json!({ "videoId": vid, "frame": frame, "target": { "to": "new_track", "label_id": label },
                    "shape": { "kind": "bbox", "bbox": { "x": 10.0, "y": 10.0, "width": 30.0, "height": 20.0 } } }),
        )?;
    }
    // Progress events, and what the app state says while the transfer runs
    // (listeners run as the event is sent, inside the command).
    let events = std::sync::Arc::new(parking_lot::Mutex::new(Vec::<(Value, bool)>::new()));
    let cancel_at_first = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (sink, cancel_flag, handle) = (events.clone(), cancel_at_first.clone(), t.app.handle().clone());
    tauri::Listener::listen_any(&t.app, TRANSFER_PROGRESS_EVENT, move |e| {
        let cell = handle.state::<TransferCell>();
        let running = cell.is_running();
        if cancel_flag.swap(false, std::sync::atomic::Ordering::SeqCst) {
            cell.cancel();
        }
        if let Ok(v) = serde_json::from_str::<Value>(e.payload()) {
            sink.lock().push((v, running));
        }
    });

    // COCO into a folder: one image per annotated frame, the file written.
    let out = t.dir.path().join("export").join("boxes-coco");
    let s = t.ok("export_project", json!({ "projectId": pid, "out": out, "options": { "format": "coco" } }))?;
    ensure!(s["images"] == 2 && s["annotations"] == 2 && s["tracks"] == 2, "the COCO summary: {s}");
    ensure!(s["path"] == json!(out.display().to_string()), "the summary names the folder: {s}");
    ensure!(s["skipped"] == json!([]) && s["changed"] == json!([]), "nothing left out or changed: {s}");
    // datumaro's layout (annotations/instances_default.json), or one file at the top
    let coco_file = ["annotations/instances_default.json", "annotations.json"]
        .iter()
        .map(|f| out.join(f))
        .find(|f| f.is_file())
        .ok_or_else(|| format!("no COCO annotations file in {}", out.display()))?;
    let coco: Value = serde_json::from_str(&std::fs::read_to_string(&coco_file).map_err(|e| format!("{}: {e}", coco_file.display()))?)
        .map_err(|e| e.to_string())?;
    ensure!(coco["annotations"].as_array().is_some_and(|a| a.len() == 2), "annotations.json has both boxes");
    {
        let seen = events.lock();
        let last = &seen.last().ok_or("no transfer-progress event")?.0;
        ensure!(last["stage"] == "frames" && last["done"] == 2 && last["total"] == 2, "progress reaches done == total: {last}");
        ensure!(seen.iter().all(|(_, running)| *running), "a transfer is running while it reports progress");
    }
    ensure!(t.ok("cancel_transfer", json!({}))? == json!(false), "nothing to cancel once it ended");

    // Options as the page builds them: every option named, images written.
    let yolo = t.dir.path().join("export").join("boxes-yolo");
    let options = json!({ "format": "yolo_detect", "videos": [vid], "frameStep": 1, "onlyApproved": false,
        "labelMap": { "box": "thing" }, "images": "png", "jpegQuality": 90, "polygons": false, "tolerance": 0.5 });
    let s = t.ok("export_project", json!({ "projectId": pid, "out": yolo, "options": options }))?;
    ensure!(s["images"] == 2 && s["annotations"] == 2, "the YOLO summary: {s}");
    let yaml = std::fs::read_to_string(yolo.join("data.yaml")).map_err(|e| format!("data.yaml: {e}"))?;
    ensure!(yaml.contains("thing"), "the label is renamed: {yaml}");

    // Import the COCO file back: two more objects, one undo step.
    let undo_before = t.ok("history", json!({ "projectId": pid }))?["undo"].as_u64().ok_or("undo depth")?;
    let s = t.ok("import_annotations", json!({ "projectId": pid, "path": coco_file, "options": {} }))?;
    ensure!(s["annotations"] == 2 && s["tracks"] == 2 && s["skipped"] == json!([]), "the import summary: {s}");
    ensure!(t.ok("frame_shapes", json!({ "videoId": vid, "frame": 2 }))?.as_array().is_some_and(|l| l.len() == 2), "frame 2 has its box twice");
    let undo = t.ok("history", json!({ "projectId": pid }))?["undo"].as_u64().ok_or("undo depth")?;
    ensure!(undo == undo_before + 1, "the import is one undo step: {undo_before} -> {undo}");
    // The page's import options: the format and the video named.
    let s = t.ok(
        "import_annotations",
        json!({ "projectId": pid, "path": coco_file, "options": { "format": "coco", "video": null, "createLabels": true } }),
    )?;
    ensure!(s["annotations"] == 2, "{s}");

    // Cancelled: a second video, so the export checks for a cancel after the
    // first one's progress; the cell is free again afterwards.
    let second = argus_testkit::make_video_of(t.dir.path(), 12)?;
    t.ok("import_video", json!({ "projectId": pid, "path": second }))?;
    cancel_at_first.store(true, std::sync::atomic::Ordering::SeqCst);
    let (kind, message) = t.err("export_project", json!({ "projectId": pid, "out": t.dir.path().join("cancelled"), "options": { "format": "native" } }))?;
    ensure!(kind == "cancelled", "a cancelled export fails as cancelled: {kind}: {message}");
    let native = t.dir.path().join("export").join("boxes-argus");
    let s = t.ok("export_project", json!({ "projectId": pid, "out": native, "options": { "format": "native" } }))?;
    ensure!(s["tracks"] == 6, "a new transfer runs after a cancelled one (2 drawn + 4 imported tracks): {s}");

    // Typed errors for what the page may send wrong.
    for (cmd, args, want) in [
        ("export_project", json!({ "projectId": pid, "out": " ", "options": {} }), "invalid"),
        ("export_project", json!({ "projectId": pid, "out": out, "options": { "frameStep": 0 } }), "invalid"),
        ("export_project", json!({ "projectId": pid, "out": out, "options": { "labelMap": { "nope": "x" } } }), "invalid"),
        ("export_project", json!({ "projectId": ProjectId::new().to_string(), "out": out, "options": {} }), "not_found"),
        ("import_annotations", json!({ "projectId": pid, "path": t.dir.path().join("none.json"), "options": {} }), "not_found"),
        ("import_annotations", json!({ "projectId": pid, "path": t.dir.path().join("what.bin"), "options": {} }), "invalid"),
        ("import_annotations", json!({ "projectId": pid, "path": "", "options": {} }), "invalid"),
    ] {
        let (kind, message) = t.err(cmd, args.clone())?;
        ensure!(kind == want, "{cmd} {args}: expected {want}, got {kind}: {message}");
    }

    // The default destination: <project>-<format> in Documents or home, a
    // fresh name when that exists.
    let folder = t.ok("default_export_folder", json!({ "projectName": "My boxes", "format": "yolo_segment" }))?;
    let folder = folder.as_str().ok_or("a path")?;
    ensure!(folder.ends_with("My_boxes-yolo-segment") || folder.contains("My_boxes-yolo-segment-"), "{folder}");
    let base = t.dir.path().join("dest");
    std::fs::create_dir_all(base.join("p-coco")).map_err(|e| e.to_string())?;
    ensure!(
        argus_app::commands::unused_folder(&base, std::path::Path::new("p-coco")) == base.join("p-coco-2").display().to_string(),
        "an existing folder is not reused"
    );
    ensure!(
        argus_app::commands::unused_folder(&base, std::path::Path::new("p-cvat")) == base.join("p-cvat").display().to_string(),
        "a free name is kept"
    );
    Ok(())
}

fn frame_protocol() -> TestResult {
    let t = TestApp::new()?;
    let (_, video) = project_with_video(&t)?;
    let id = str_of(&video, "id")?;
    let state = t.ws();
    let ok =
        tauri::async_runtime::block_on(frames::respond(&state, &format!("/{id}/3"), Some("rev=1")));
    ensure!(ok.status() == 200, "status {}", ok.status());
    let header = |name: &str| {
        ok.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    ensure!(
        header("x-frame-width").as_deref() == Some("160")
            && header("x-frame-height").as_deref() == Some("120"),
        "size headers"
    );
    ensure!(
        ok.body().len() == (VIDEO_W * VIDEO_H * 4) as usize,
        "raw RGBA body of {} bytes",
        ok.body().len()
    );

    // Scaled down; a mask drawn on the frame shows at its scaled place.
    let get = |q: &str| {
        tauri::async_runtime::block_on(frames::respond(&state, &format!("/{id}/3"), Some(q)))
    };
    let half = get("scale=0.5");
    ensure!(
        half.status() == 200 && half.body().len() == (80 * 60 * 4) as usize,
        "half-size raw body: {}",
        half.body().len()
    );
    ensure!(
        half.headers()
            .get("x-frame-width")
            .is_some_and(|v| v == "80"),
        "half-size headers"
    );
    let labels = t.ok("list_projects", json!({}))?;
    let label = labels[0]["labels"][0]["id"]
        .as_str()
        .ok_or("label")?
        .to_owned();
    t.ok(
        "brush_stroke",
        json!({ "videoId": id, "frame": 3, "target": { "to": "new_track", "label_id": label },
        "stroke": { "points": [{ "x": 130.0, "y": 90.0 }], "radius": 12.0 } }),
    )?;
    let masked = get("scale=0.5&rev=2");
    let px_at = |r: &tauri::http::Response<Vec<u8>>, x: usize, y: usize| -> Vec<u8> {
        r.body()
            .get((y * 80 + x) * 4..(y * 80 + x) * 4 + 3)
            .map(<[u8]>::to_vec)
            .unwrap_or_default()
    };
    ensure!(
        px_at(&masked, 65, 45) != px_at(&half, 65, 45),
        "the mask is drawn at half scale (65, 45)"
    );
    ensure!(
        px_at(&masked, 10, 10) == px_at(&half, 10, 10),
        "and nowhere else (10, 10)"
    );

    // The frame view's decode-ahead decoder gives the same pixels as the
    // shared one, stepping forward, back and jumping.
    for n in [0u64, 1, 2, 3, 7, 6, 2, VIDEO_FRAMES - 1, 5] {
        let at = |q: &str| {
            tauri::async_runtime::block_on(frames::respond(&state, &format!("/{id}/{n}"), Some(q)))
        };
        let (ahead, shared) = (at("ahead=1&scale=0.5"), at("scale=0.5"));
        ensure!(
            ahead.status() == 200 && ahead.body() == shared.body(),
            "frame {n}: decode-ahead answer differs ({} vs {})",
            ahead.status(),
            shared.status()
        );
    }

    let bad = tauri::async_runtime::block_on(frames::respond(&state, "/not-an-id/3", None));
    ensure!(bad.status() == 400, "bad id is 400, got {}", bad.status());
    let e: Value = serde_json::from_slice(bad.body()).map_err(|e| e.to_string())?;
    ensure!(e["kind"] == "invalid", "JSON CommandError body: {e}");
    let past = tauri::async_runtime::block_on(frames::respond(
        &state,
        &format!("/{id}/{VIDEO_FRAMES}"),
        None,
    ));
    ensure!(
        past.status() == 400,
        "frame past the end is 400, got {}",
        past.status()
    );
    let unknown = tauri::async_runtime::block_on(frames::respond(
        &state,
        &format!("/{}/0", VideoId::new()),
        None,
    ));
    ensure!(
        unknown.status() == 404,
        "unknown video is 404, got {}",
        unknown.status()
    );
    Ok(())
}

/// An HTTP answer: status, lower-cased headers, body.
type HttpAnswer = (u16, std::collections::HashMap<String, String>, Vec<u8>);

/// One HTTP/1.1 exchange on `conn`.
fn http_get(conn: &mut std::net::TcpStream, request: &str) -> Result<HttpAnswer, String> {
    use std::io::{BufRead, Read, Write};
    conn.write_all(request.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut reader = std::io::BufReader::new(conn);
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(|e| format!("status line: {e}"))?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {line:?}"))?;
    let mut headers = std::collections::HashMap::new();
    loop {
        line.clear();
        reader
            .read_line(&mut line)
            .map_err(|e| format!("header: {e}"))?;
        let h = line.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| format!("bad header {h:?}"))?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .ok_or("no Content-Length")?;
    let mut body = vec![0; len];
    reader
        .read_exact(&mut body)
        .map_err(|e| format!("body of {len} bytes for {:?}: {e}", request.lines().next()))?;
    Ok((status, headers, body))
}

fn frame_server() -> TestResult {
    use std::io::{Read, Write};
    let t = TestApp::new()?;
    let (_, video) = project_with_video(&t)?;
    let id = str_of(&video, "id")?;
    let info = t.ok("app_info", json!({}))?;
    let base = str_of(&info, "frame_base")?.to_owned();
    let rest = base
        .strip_prefix("http://127.0.0.1:")
        .ok_or_else(|| format!("a loopback base: {base}"))?;
    let (port, token) = rest.split_once('/').ok_or("base has a token")?;
    let token = token.trim_end_matches('/');
    ensure!(token.len() == 32, "a 128-bit token: {token}");
    let addr = format!("127.0.0.1:{port}");
    let connect = || {
        let c = std::net::TcpStream::connect(&addr).map_err(|e| format!("connect: {e}"))?;
        c.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(c)
    };
    let get = |path: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: tauri://localhost\r\n\r\n")
    };

    // The same bytes as the frame:// scheme, twice on one connection.
    let mut conn = connect()?;
    let direct = tauri::async_runtime::block_on(frames::respond(
        &t.ws(),
        &format!("/{id}/3"),
        Some("scale=0.5"),
    ));
    for round in 0..2 {
        let (status, headers, body) =
            http_get(&mut conn, &get(&format!("/{token}/{id}/3?scale=0.5")))?;
        ensure!(status == 200, "round {round}: status {status}");
        ensure!(
            headers.get("x-frame-width").map(String::as_str) == Some("80")
                && headers.get("x-frame-height").map(String::as_str) == Some("60"),
            "size headers: {headers:?}"
        );
        ensure!(
            headers
                .get("access-control-allow-origin")
                .map(String::as_str)
                == Some("*")
                && headers
                    .get("access-control-expose-headers")
                    .is_some_and(|v| v.contains("x-frame-width")),
            "the page may read it: {headers:?}"
        );
        ensure!(
            headers.get("connection").map(String::as_str) == Some("keep-alive"),
            "kept alive: {headers:?}"
        );
        ensure!(
            body == direct.body().as_slice(),
            "round {round}: same pixels as frame://"
        );
    }
    // Errors come as the scheme's JSON CommandError.
    let (status, _, body) = http_get(&mut conn, &get(&format!("/{token}/{id}/{VIDEO_FRAMES}")))?;
    ensure!(status == 400, "frame past the end is 400, got {status}");
    let e: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    ensure!(e["kind"] == "invalid", "JSON CommandError body: {e}");
    // No token or the wrong one: nothing here.
    for path in [format!("/{id}/3"), format!("/{}/{id}/3", "0".repeat(32))] {
        let (status, _, _) = http_get(&mut conn, &get(&path))?;
        ensure!(status == 404, "{path}: 404, got {status}");
    }
    let (status, _, _) = http_get(
        &mut conn,
        &format!("POST /{token}/{id}/3 HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
    )?;
    ensure!(status == 405, "POST is 405, got {status}");
    // HEAD: the headers of the GET, no body.
    let mut head = connect()?;
    head.write_all(
        format!("HEAD /{token}/{id}/3 HTTP/1.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    head.read_to_string(&mut answer)
        .map_err(|e| e.to_string())?;
    ensure!(
        answer.starts_with("HTTP/1.1 200")
            && answer
                .to_ascii_lowercase()
                .contains(&format!("content-length: {}", VIDEO_W * VIDEO_H * 4))
            && answer.ends_with("\r\n\r\n"),
        "HEAD answers headers only: {answer:?}"
    );

    // Garbage gets a 400 and the connection is closed.
    let mut junk = connect()?;
    let (status, headers, _) = http_get(&mut junk, "HELLO\r\n\r\n")?;
    ensure!(status == 400, "junk is 400, got {status}");
    ensure!(
        headers.get("connection").map(String::as_str) == Some("close"),
        "closed: {headers:?}"
    );
    let mut rest = Vec::new();
    let _ = junk.read_to_end(&mut rest);
    ensure!(rest.is_empty(), "nothing after the 400");

    // A client that leaves mid-answer (the page aborting a superseded
    // frame) does not stop the server.
    let mut leaver = connect()?;
    leaver
        .write_all(get(&format!("/{token}/{id}/5")).as_bytes())
        .map_err(|e| e.to_string())?;
    drop(leaver);
    let (status, _, body) = http_get(&mut connect()?, &get(&format!("/{token}/{id}/4")))?;
    ensure!(
        status == 200 && body.len() == (VIDEO_W * VIDEO_H * 4) as usize,
        "still serving: {status}, {} bytes",
        body.len()
    );
    Ok(())
}
