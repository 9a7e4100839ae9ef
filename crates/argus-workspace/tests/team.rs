//! The team side as the page drives it, against a real argus-server
//! (PostgreSQL, the embedded S3-compatible store) over HTTP: signing in (a
//! bad address, a wrong password, an unreachable server, no keyring, a kept
//! session picked up at the next start), publishing a local project with
//! its video file, bringing it to a second machine, downloading the file
//! when it is wanted, edits syncing both ways, and signing out.

use std::sync::Arc;

use argus_client::{EncryptedFileStore, SessionStore};
use argus_server::testkit::TestServer;
use argus_testkit::{ensure, str_of};
use argus_workspace::account::SessionKeeper;
use serde_json::{Value, json};

use crate::util::{TestResult, TestWs};

/// Why the team trials cannot run here, if they cannot.
pub fn unavailable() -> Option<String> {
    argus_server::testkit::admin_url().err()
}

/// Sessions kept in an encrypted file in `dir` (a stand-in for the OS
/// keyring, which argus-client's own tests cover against a real Secret
/// Service).
fn file_keeper(dir: std::path::PathBuf) -> SessionKeeper {
    Arc::new(move |_server: &str| -> argus_client::Result<Box<dyn SessionStore>> {
        Ok(Box::new(EncryptedFileStore::new(dir.join("session.bin"), "a test passphrase")?))
    })
}

fn form(server: &str, email: &str, password: &str, keep: bool) -> Value {
    json!({ "form": { "server": server, "anon_key": null, "email": email, "password": password, "keep": keep } })
}

fn kind_of(t: &TestWs, cmd: &str, args: Value) -> Result<(String, String), String> {
    t.err(cmd, args)
}

fn draw_box(t: &TestWs, video: &str, frame: u64, label: &str) -> Result<Value, String> {
    t.ok(
        "draw_shape",
        json!({ "videoId": video, "frame": frame, "target": { "to": "new_track", "label_id": label },
                "shape": { "kind": "bbox", "bbox": { "x": 4.0, "y": 4.0, "width": 16.0, "height": 12.0 } } }),
    )
}

fn shapes_on(t: &TestWs, video: &str, frame: u64) -> Result<usize, String> {
    Ok(t.ok("frame_shapes", json!({ "videoId": video, "frame": frame }))?.as_array().map_or(0, Vec::len))
}

pub fn publish_open_sync_sign_out() -> TestResult {
    let a = TestWs::new()?;
    let srv = a.block_on(TestServer::start(|_| {})).map_err(|e| e.to_string())?;
    let owner = a.block_on(srv.owner_with_project("lead@example.com")).map_err(|e| e.to_string())?;
    let url = srv.url.clone();
    let sessions = a.dir.path().join("sessions");
    a.ws.keep_sessions_with(file_keeper(sessions.clone()));

    // Signed out at first; what is wrong with a sign-in is said before and after asking.
    let first = a.ok("account", json!({}))?;
    ensure!(first["user"].is_null() && first["server"].is_null() && first["problem"].is_null(), "a new data folder is signed out: {first}");
    let (kind, msg) = kind_of(&a, "sign_in", form("argus.example.com", "lead@example.com", "password-1", false))?;
    ensure!(kind == "invalid" && msg.contains("https://"), "an address without a scheme: {kind}: {msg}");
    let (kind, msg) = kind_of(&a, "sign_in", form(&url, "lead@example.com", "wrong-password", false))?;
    ensure!(kind == "sign_in" && msg.contains("refused the sign-in"), "a wrong password: {kind}: {msg}");
    let (kind, msg) = kind_of(&a, "sign_in", form("http://127.0.0.1:9", "lead@example.com", "password-1", false))?;
    ensure!(kind == "offline" && msg.contains("could not reach"), "an unreachable server: {kind}: {msg}");
    ensure!(a.ok("account", json!({}))?["user"].is_null(), "a failed sign-in signs nobody in");

    let signed = a.ok("sign_in", form(&format!("  {url}/ "), " lead@example.com ", "password-1", true))?;
    ensure!(signed["user"]["email"] == "lead@example.com" && signed["server"] == json!(url), "signed in, the address tidied: {signed}");
    ensure!(signed["kept"].as_str().is_some_and(|k| k.contains("encrypted")), "the session is kept where the keeper says: {signed}");
    let teams = a.ok("teams", json!({}))?;
    ensure!(teams.as_array().is_some_and(|ts| ts.iter().any(|t| t["id"] == json!(owner.team) && t["role"] == "owner")), "the owner's team: {teams}");

    // A local project: not on the server, so "sync now" says to publish it.
    let (project, video, clip) = argus_testkit::project_with_video(a.dir.path(), |cmd, args| a.ok(cmd, args))?;
    let (pid, vid) = (str_of(&project, "id")?.to_owned(), str_of(&video, "id")?.to_owned());
    let label = project["labels"][0]["id"].as_str().ok_or("label 0")?.to_owned();
    draw_box(&a, &vid, 3, &label)?;
    let local = a.ok("sync_status", json!({ "projectId": pid, "nudge": true }))?;
    ensure!(local["on_server"] == false && local["active"] == false && local["signed_in"] == true, "a local project: {local}");
    let (kind, msg) = kind_of(&a, "sync_now", json!({ "projectId": pid }))?;
    ensure!(kind == "invalid" && msg.contains("publish it to a team first"), "{kind}: {msg}");
    let (kind, _) = kind_of(&a, "publish_project", json!({ "projectId": pid, "teamId": "not a team", "videos": true }))?;
    ensure!(kind == "invalid", "a malformed team id is refused before anything is sent");

    // Publish with the video file: progress as it goes up, then the project syncs.
    let progress = a.listen(argus_workspace::dto::REMOTE_PROGRESS_EVENT);
    let published = a.ok("publish_project", json!({ "projectId": pid, "teamId": owner.team, "videos": true }))?;
    ensure!(published["created"] == true && published["pushed"].as_u64() >= Some(3), "published: {published}");
    ensure!(published["videos"][0]["outcome"] == "uploaded" && published["videos"][0]["id"] == json!(vid), "the file went up: {published}");
    ensure!(published["sync"]["on_server"] == true && published["sync"]["pending"] == 0, "nothing left to send: {published}");
    ensure!(published["sync"]["conflicts"] == 0 && published["sync"]["refused"] == json!([]), "publishing conflicts with nothing: {published}");
    let stages: Vec<Value> = progress.lock().iter().map(|p| p["stage"].clone()).collect();
    ensure!(stages.contains(&json!("sending")) && progress.lock().iter().all(|p| p["video"] == video["name"]), "upload progress: {stages:?}");
    let listed = a.ok("server_projects", json!({}))?;
    let mine = listed.as_array().and_then(|ps| ps.iter().find(|p| p["id"] == json!(pid))).ok_or(format!("the published project is listed: {listed}"))?;
    ensure!(mine["here"] == true && mine["team"] == json!(format!("team of lead@example.com")) && mine["role"] == "lead", "{mine}");
    let status = a.ok("sync_status", json!({ "projectId": pid, "nudge": false }))?;
    ensure!(status["active"] == true && status["on_server"] == true, "the open project syncs in the background: {status}");
    let opened = a.ok("open_project", json!({ "projectId": pid }))?;
    ensure!(opened["videos"][0]["server"] == "processing" && opened["videos"][0]["here"] == true, "the video is on the server now: {opened}");

    // A second machine: signed in for this run only, brings the project here.
    let b = TestWs::new()?;
    let signed_b = b.ok("sign_in", form(&url, "lead@example.com", "password-1", false))?;
    ensure!(signed_b["kept"].as_str().is_some_and(|k| k.contains("not kept")), "{signed_b}");
    let listed_b = b.ok("server_projects", json!({}))?;
    ensure!(listed_b.as_array().is_some_and(|ps| ps.iter().any(|p| p["id"] == json!(pid) && p["here"] == false)), "{listed_b}");
    let brought = b.ok("open_server_project", json!({ "projectId": pid, "videos": false }))?;
    ensure!(brought["id"] == json!(pid) && brought["name"] == project["name"] && brought["labels"].as_array().map(Vec::len) == Some(2), "{brought}");
    let detail_b = b.ok("open_project", json!({ "projectId": pid }))?;
    ensure!(detail_b["videos"][0]["here"] == false && detail_b["videos"][0]["server"] == "processing", "the file is not here yet: {detail_b}");
    ensure!(shapes_on(&b, &vid, 3)? == 1, "the annotations came with the project");
    let fetched = b.ok("fetch_video", json!({ "videoId": vid }))?;
    ensure!(fetched["here"] == true, "downloaded: {fetched}");
    let got = b.block_on(b.ws.store().video(vid.parse().map_err(|_| "video id")?)).map_err(|e| e.to_string())?;
    let path = got.local_path.ok_or("no local path after the download")?;
    ensure!(std::path::Path::new(&path).starts_with(b.dir.path()), "into the data folder: {path}");
    ensure!(std::fs::read(&path).map_err(|e| e.to_string())? == std::fs::read(&clip).map_err(|e| e.to_string())?, "the same bytes");

    // Edits go both ways.
    draw_box(&b, &vid, 4, &label)?;
    let pushed = b.ok("sync_now", json!({ "projectId": pid }))?;
    ensure!(pushed["pending"] == 0 && pushed["last_error"].is_null() && pushed["last_sync_ms"].is_u64(), "B's edit went up: {pushed}");
    let pulled = a.ok("sync_now", json!({ "projectId": pid }))?;
    ensure!(pulled["last_error"].is_null(), "{pulled}");
    ensure!(shapes_on(&a, &vid, 4)? == 1, "A has B's box after a sync");

    // The next start of A's data folder picks up the kept session.
    let c = TestWs::new()?;
    std::fs::copy(a.dir.path().join("data").join("account.json"), c.dir.path().join("data").join("account.json")).map_err(|e| e.to_string())?;
    c.ws.keep_sessions_with(file_keeper(sessions));
    let restored = c.ok("account", json!({}))?;
    ensure!(restored["user"]["email"] == "lead@example.com" && restored["server"] == json!(url), "a kept session is picked up: {restored}");
    ensure!(c.ok("teams", json!({}))?.as_array().is_some_and(|t| !t.is_empty()), "and works");

    // Sign out: the server is told, the address stays, sync asks to sign in.
    let out = a.ok("sign_out", json!({ "everywhere": false }))?;
    ensure!(out["server_told"] == true && out["account"]["user"].is_null() && out["account"]["server"] == json!(url), "{out}");
    let (kind, msg) = kind_of(&a, "sync_now", json!({ "projectId": pid }))?;
    ensure!(kind == "sign_in" && msg.contains("sign in"), "{kind}: {msg}");
    let after = a.ok("sync_status", json!({ "projectId": pid, "nudge": true }))?;
    ensure!(after["signed_in"] == false && after["active"] == false && after["on_server"] == true, "{after}");
    let (kind, _) = kind_of(&a, "sign_out", json!({ "everywhere": false }))?;
    ensure!(kind == "nothing_to_do", "signing out twice");
    let (kind, _) = kind_of(&a, "teams", json!({}))?;
    ensure!(kind == "sign_in", "signed out, the server's lists ask to sign in");
    a.block_on(srv.stop());
    Ok(())
}

/// No keyring: keeping the session is refused with what to do instead, and a
/// session kept before cannot be picked up (the account says why).
pub fn without_a_keyring() -> TestResult {
    let t = TestWs::new()?;
    let none: SessionKeeper = Arc::new(|_| Err(argus_client::Error::KeyringUnavailable("no D-Bus session bus".into())));
    t.ws.keep_sessions_with(none);
    // Refused before the server is asked (nothing listens there).
    let (kind, msg) = kind_of(&t, "sign_in", form("http://127.0.0.1:9", "a@example.com", "pw", true))?;
    ensure!(kind == "sign_in" && msg.contains("no usable system keyring") && msg.contains("Keep me signed in"), "{kind}: {msg}");
    std::fs::write(
        t.dir.path().join("data").join("account.json"),
        json!({ "server": "http://127.0.0.1:9", "anon_key": null, "keep": true }).to_string(),
    )
    .map_err(|e| e.to_string())?;
    let fresh = TestWs::new()?;
    std::fs::copy(t.dir.path().join("data").join("account.json"), fresh.dir.path().join("data").join("account.json")).map_err(|e| e.to_string())?;
    fresh.ws.keep_sessions_with(Arc::new(|_| Err(argus_client::Error::KeyringUnavailable("no D-Bus session bus".into()))));
    let a = fresh.ok("account", json!({}))?;
    ensure!(a["user"].is_null() && a["server"] == "http://127.0.0.1:9", "{a}");
    ensure!(a["problem"].as_str().is_some_and(|p| p.contains("signed out") && p.contains("keyring")), "why: {a}");
    // A damaged settings file reads as signed out, not as a failure.
    let damaged = TestWs::new()?;
    std::fs::write(damaged.dir.path().join("data").join("account.json"), b"{ not json").map_err(|e| e.to_string())?;
    let d = damaged.ok("account", json!({}))?;
    ensure!(d["user"].is_null() && d["server"].is_null(), "{d}");
    Ok(())
}

/// A lead manages who works on a server project from the app: members with
/// roles, adding by e-mail (an account is added at once, anyone else is
/// mailed an invitation), changing a role, removing, revoking; a member who
/// may not manage sees the members only; an invitee accepts from the app.
pub fn members_and_invitations() -> TestResult {
    let a = TestWs::new()?;
    let srv = a.block_on(TestServer::start(|_| {})).map_err(|e| e.to_string())?;
    let boss = a.block_on(srv.owner_with_project("boss@example.com")).map_err(|e| e.to_string())?;
    a.block_on(srv.owner_with_project("ann@example.com")).map_err(|e| e.to_string())?;
    let url = srv.url.clone();
    // The lead's project, published from their app (so it has synced data to bring elsewhere).
    let (project, _, _) = argus_testkit::project_with_video(a.dir.path(), |cmd, args| a.ok(cmd, args))?;
    let pid = str_of(&project, "id")?.to_owned();
    let (kind, _) = kind_of(&a, "project_people", json!({ "projectId": pid }))?;
    ensure!(kind == "sign_in", "signed out, members ask to sign in first");
    a.ok("sign_in", form(&url, "boss@example.com", "password-1", false))?;
    a.ok("publish_project", json!({ "projectId": pid, "teamId": boss.team, "videos": false }))?;

    let people = a.ok("project_people", json!({ "projectId": pid }))?;
    ensure!(people["can_manage"] == true && people["invitations"] == json!([]), "the creator manages: {people}");
    ensure!(
        people["members"] == json!([{ "user_id": boss.user_id, "email": "boss@example.com", "display_name": people["members"][0]["display_name"], "role": "lead", "you": true, "team_owner": true }]),
        "the team's owner leads it: {people}"
    );
    let (kind, msg) = kind_of(&a, "project_people", json!({ "projectId": argus_core::id::ProjectId::new().to_string() }))?;
    ensure!(kind == "not_found" && msg.contains("publish it first"), "a project not on the server: {kind}: {msg}");

    // Someone with an account is added at once; the address is tidied.
    let added = a.ok("add_person", json!({ "projectId": pid, "email": " Ann@Example.com ", "role": "annotator" }))?;
    ensure!(added["invited"] == false && added["message"] == "ann@example.com is now an annotator", "{added}");
    let ann = added["people"]["members"].as_array().and_then(|ms| ms.iter().find(|m| m["email"] == "ann@example.com")).ok_or(format!("ann listed: {added}"))?;
    ensure!(ann["role"] == "annotator" && ann["you"] == false, "{ann}");
    let ann_id = str_of(ann, "user_id")?.to_owned();
    // Anyone else gets an invitation by mail; a second one is refused.
    let invited = a.ok("add_person", json!({ "projectId": pid, "email": "new@example.com", "role": "reviewer" }))?;
    ensure!(invited["invited"] == true && invited["message"].as_str().is_some_and(|m| m.contains("has no account yet") && m.contains("reviewer")), "{invited}");
    let open = &invited["people"]["invitations"];
    ensure!(open.as_array().map(Vec::len) == Some(1) && open[0]["email"] == "new@example.com" && open[0]["role"] == "reviewer", "{invited}");
    ensure!(srv.last_mail_to("new@example.com").is_some(), "the server mailed the invitation");
    let (kind, msg) = kind_of(&a, "add_person", json!({ "projectId": pid, "email": "new@example.com", "role": "reviewer" }))?;
    ensure!(kind == "conflict" && msg.contains("already has an open invitation"), "{kind}: {msg}");
    for (email, role, says) in [("not-an-address", "annotator", "not an e-mail address"), ("x@example.com", "boss", "not a project role")] {
        let (kind, msg) = kind_of(&a, "add_person", json!({ "projectId": pid, "email": email, "role": role }))?;
        ensure!(kind == "invalid" && msg.contains(says), "{email} as {role}: {kind}: {msg}");
    }

    // A role changed; the member sees the members but may not manage them.
    let changed = a.ok("set_person_role", json!({ "projectId": pid, "userId": ann_id, "role": "reviewer" }))?;
    ensure!(changed["members"].as_array().is_some_and(|ms| ms.iter().any(|m| m["user_id"] == json!(ann_id) && m["role"] == "reviewer")), "{changed}");
    let b = TestWs::new()?;
    b.ok("sign_in", form(&url, "ann@example.com", "password-1", false))?;
    let seen = b.ok("project_people", json!({ "projectId": pid }))?;
    ensure!(seen["can_manage"] == false && seen["invitations"] == json!([]) && seen["members"].as_array().map(Vec::len) == Some(2), "{seen}");
    let (kind, _) = kind_of(&b, "set_person_role", json!({ "projectId": pid, "userId": ann_id, "role": "lead" }))?;
    ensure!(kind == "server", "a reviewer may not make themselves lead: {kind}");

    // Revoke, invite again, and the invitee accepts from their app.
    let invitation = str_of(&open[0], "id")?.to_owned();
    let revoked = a.ok("revoke_invitation", json!({ "projectId": pid, "invitationId": invitation }))?;
    ensure!(revoked["invitations"] == json!([]), "{revoked}");
    let (kind, _) = kind_of(&a, "revoke_invitation", json!({ "projectId": pid, "invitationId": invitation }))?;
    ensure!(kind == "not_found", "revoked twice");
    a.ok("add_person", json!({ "projectId": pid, "email": "new@example.com", "role": "reviewer" }))?;
    a.block_on(srv.owner_with_project("new@example.com")).map_err(|e| e.to_string())?;
    let c = TestWs::new()?;
    c.ok("sign_in", form(&url, "new@example.com", "password-1", false))?;
    let mine = c.ok("my_invitations", json!({}))?;
    ensure!(
        mine.as_array().map(Vec::len) == Some(1)
            && mine[0]["team"] == "team of boss@example.com"
            && mine[0]["project"] == project["name"]
            && mine[0]["project_id"] == json!(pid)
            && mine[0]["role"] == "reviewer"
            && mine[0]["invited_by"] == "boss@example.com",
        "{mine}"
    );
    let left = c.ok("accept_invitation", json!({ "invitationId": str_of(&mine[0], "id")? }))?;
    ensure!(left == json!([]), "{left}");
    let listed = c.ok("server_projects", json!({}))?;
    ensure!(listed.as_array().is_some_and(|ps| ps.iter().any(|p| p["id"] == json!(pid) && p["role"] == "reviewer")), "the project is on their list: {listed}");
    let (kind, _) = kind_of(&c, "accept_invitation", json!({ "invitationId": "zzz" }))?;
    ensure!(kind == "invalid", "a malformed id is refused before anything is sent");
    // Brought here, the project's labels are the server's role's to edit: a reviewer may not.
    c.ok("open_server_project", json!({ "projectId": pid, "videos": false }))?;
    let form = c.ok("label_schema", json!({ "projectId": pid }))?;
    ensure!(form["read_only"].as_str().is_some_and(|r| r.contains("you are a reviewer here")), "{form}");
    let mut labels = form["labels"].clone();
    labels[0]["name"] = json!("lorry");
    let (kind, msg) = kind_of(&c, "save_labels", json!({ "projectId": pid, "version": form["version"], "labels": labels }))?;
    ensure!(kind == "invalid" && msg.contains("only the project's leads may edit its labels"), "a reviewer's label edit is refused here: {kind}: {msg}");
    ensure!(c.ok("label_schema", json!({ "projectId": pid }))?["labels"] == form["labels"], "and nothing changed");

    // Removed: no longer a member, no longer on the list.
    let removed = a.ok("remove_person", json!({ "projectId": pid, "userId": ann_id }))?;
    ensure!(removed["members"].as_array().is_some_and(|ms| ms.len() == 2 && ms.iter().all(|m| m["user_id"] != json!(ann_id))), "{removed}");
    let (kind, _) = kind_of(&b, "project_people", json!({ "projectId": pid }))?;
    ensure!(kind == "not_found", "a removed member no longer sees the project");
    a.block_on(srv.stop());
    Ok(())
}
