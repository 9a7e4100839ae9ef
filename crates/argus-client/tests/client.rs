//! argus-client against a real argus-server (PostgreSQL, the embedded S3
//! store) over real HTTP.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
};

use argus_client::{
    Api, Auth, EncryptedFileStore, Error, KeyringStore, NoStore, Progress, Scope, SessionStore, SignUp, StaticToken, UploadOptions, Uploader,
    upload::Presigned,
};
use argus_server::{
    ensure,
    testkit::{BoxError, TestResult, TestServer, XorShift, exec_as_owner, query_text},
};
use argus_store::Store;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};


const MIB: usize = 1024 * 1024;

/// A signed-in owner with a team and a project on `srv`.
struct Fixture {
    api: Api,
    project: String,
    dir: tempfile::TempDir,
    store: Arc<Store>,
}

async fn fixture(srv: &TestServer, email: &str) -> Result<Fixture, BoxError> {
    let owner = srv.owner_with_project(email).await?;
    let api = Api::new(&srv.url, Arc::new(StaticToken(Some(owner.token))))?;
    let dir = tempfile::tempdir()?;
    let store = Arc::new(Store::open(dir.path().join("local.db")).await?);
    Ok(Fixture { api, project: owner.project, dir, store })
}

fn write_file(dir: &Path, name: &str, len: usize, seed: u8) -> std::io::Result<PathBuf> {
    let path = dir.join(name);
    let mut data = vec![0u8; len];
    XorShift::new(0x9e37_79b9 ^ u64::from(seed)).fill(&mut data);
    std::fs::write(&path, &data)?;
    Ok(path)
}

fn sha_of(path: &Path) -> std::io::Result<String> {
    Ok(hex::encode(Sha256::digest(std::fs::read(path)?)))
}

/// The object the server stored for `video`, read back through its download URL.
async fn stored_sha(api: &Api, video: &str) -> Result<String, BoxError> {
    let dl: Presigned = api.get(&format!("/api/v1/videos/{video}/download")).await?;
    let bytes = api.http().get(&dl.url).send().await?.error_for_status()?.bytes().await?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

fn opts() -> UploadOptions {
    UploadOptions { concurrency: 4, ..UploadOptions::default() }
}

async fn small_file_goes_up_in_one_put() -> TestResult {
    let srv = TestServer::start(|_| {}).await?;
    let f = fixture(&srv, "small@example.com").await?;
    let path = write_file(f.dir.path(), "clip.mp4", 300_000, 1)?;
    let out = Uploader::new(f.api.clone(), f.store.clone(), opts()).upload(&f.project, &path).await?;
    ensure!(out.video.status == "processing" && out.parts_sent == 1 && !out.resumed, "{out:?}");
    ensure!(out.video.content_type == "video/mp4" && out.video.name == "clip.mp4", "{:?}", out.video);
    ensure!(stored_sha(&f.api, &out.video.id).await? == sha_of(&path)?, "the stored object differs from the file");
    ensure!(f.store.uploads(f.api.base()).await?.is_empty(), "a finished upload stayed in the local store");
    srv.stop().await;
    Ok(())
}

async fn multipart_upload_in_parallel_with_progress() -> TestResult {
    let srv = TestServer::start(|_| {}).await?;
    let f = fixture(&srv, "multi@example.com").await?;
    let path = write_file(f.dir.path(), "long.mkv", 37 * MIB + 12_345, 2)?;
    let seen = Arc::new(parking_lot::Mutex::new(Vec::<Progress>::new()));
    let s2 = seen.clone();
    let up = Uploader::new(f.api.clone(), f.store.clone(), opts()).on_progress(move |p| s2.lock().push(p.clone()));
    let out = up.upload(&f.project, &path).await?;
    // 8 MiB parts: 5 of them.
    ensure!(out.video.status == "processing" && out.parts_sent == 5 && out.parts_reused == 0 && out.bytes_sent == 37 * MIB as u64 + 12_345, "{out:?}");
    ensure!(stored_sha(&f.api, &out.video.id).await? == sha_of(&path)?, "the stored object differs from the file");
    let seen = seen.lock().clone();
    let sends: Vec<(u64, u32)> = seen.iter().filter_map(|p| if let Progress::Sending { done, parts_done, .. } = p { Some((*done, *parts_done)) } else { None }).collect();
    ensure!(sends.len() == 6 && sends[0] == (0, 0) && sends.last() == Some(&(37 * MIB as u64 + 12_345, 5)), "progress: {sends:?}");
    ensure!(sends.windows(2).all(|w| w[0].1 < w[1].1), "parts done must only grow: {sends:?}");
    ensure!(matches!(seen.first(), Some(Progress::Hashing { .. })) && seen.last() == Some(&Progress::Completing), "{seen:?}");
    srv.stop().await;
    Ok(())
}

/// The store's upload id for `video` (to read the embedded store's counters).
async fn upload_id(srv: &TestServer, video: &str) -> Result<String, BoxError> {
    let sql = format!("select upload_id from argus.videos where id = '{}'", uuid::Uuid::parse_str(video)?);
    query_text(&srv.db, &sql).await?.ok_or_else(|| "no upload id".into())
}

async fn an_interrupted_upload_resumes_without_resending_parts() -> TestResult {
    let srv = TestServer::start(|_| {}).await?;
    let f = fixture(&srv, "resume@example.com").await?;
    let path = write_file(f.dir.path(), "big.mp4", 80 * MIB, 3)?;
    // First run: stop once three parts are in.
    let first = Uploader::new(f.api.clone(), f.store.clone(), UploadOptions { concurrency: 2, ..opts() });
    let stop = first.cancel_flag();
    let first = first.on_progress(move |p| {
        if let Progress::Sending { parts_done, .. } = p
            && *parts_done >= 3
        {
            stop.store(true, Ordering::Relaxed);
        }
    });
    let err = first.upload(&f.project, &path).await.err().ok_or("the first run was not interrupted")?;
    ensure!(matches!(err, Error::Cancelled), "{err}");
    let recs = f.store.uploads(f.api.base()).await?;
    ensure!(recs.len() == 1, "the interrupted upload is not recorded: {recs:?}");
    let video = recs[0].video_id.clone();
    let recorded = f.store.upload_parts(f.api.base(), &video).await?.len();
    ensure!((3..10).contains(&recorded), "{recorded} parts recorded");
    let up = upload_id(&srv, &video).await?;
    let before = srv.store.part_writes(&up);
    // Second run, a new uploader on a reopened store (as after a restart).
    drop(f.store);
    let store = Arc::new(Store::open(f.dir.path().join("local.db")).await?);
    let out = Uploader::new(f.api.clone(), store.clone(), opts()).upload(&f.project, &path).await?;
    ensure!(out.resumed && out.video.id == video && out.video.status == "processing", "{out:?}");
    ensure!(out.parts_reused as usize == before.len() && out.parts_sent as usize == 10 - before.len(), "{out:?}, store held {before:?}");
    let after = srv.store.part_writes(&up);
    ensure!(after.len() == 10 && after.values().all(|&c| c == 1), "every part must be stored exactly once: {after:?}");
    ensure!(stored_sha(&f.api, &video).await? == sha_of(&path)?, "the stored object differs from the file");
    ensure!(store.uploads(f.api.base()).await?.is_empty(), "the finished upload stayed recorded");
    srv.stop().await;
    Ok(())
}

async fn a_changed_file_starts_over_cleanly() -> TestResult {
    let srv = TestServer::start(|_| {}).await?;
    let f = fixture(&srv, "changed@example.com").await?;
    let path = write_file(f.dir.path(), "v.mp4", 40 * MIB, 4)?;
    let first = Uploader::new(f.api.clone(), f.store.clone(), UploadOptions { concurrency: 1, ..opts() });
    let stop = first.cancel_flag();
    let first = first.on_progress(move |p| {
        if matches!(p, Progress::Sending { parts_done: 2.., .. }) {
            stop.store(true, Ordering::Relaxed);
        }
    });
    ensure!(first.upload(&f.project, &path).await.is_err(), "not interrupted");
    let old = f.store.uploads(f.api.base()).await?[0].video_id.clone();
    // The same length, other content, a later modification time.
    std::thread::sleep(std::time::Duration::from_millis(20));
    write_file(f.dir.path(), "v.mp4", 40 * MIB, 5)?;
    let out = Uploader::new(f.api.clone(), f.store.clone(), opts()).upload(&f.project, &path).await?;
    ensure!(out.restarted && !out.resumed && out.video.id != old && out.parts_reused == 0 && out.parts_sent == 5, "{out:?}");
    ensure!(out.video.sha256 == sha_of(&path)? && stored_sha(&f.api, &out.video.id).await? == out.video.sha256, "the new upload is not the new file");
    let gone = f.api.get::<Value>(&format!("/api/v1/videos/{old}")).await;
    ensure!(matches!(gone, Err(Error::Http { status: 404, .. })), "the abandoned upload is still on the server: {gone:?}");
    srv.stop().await;
    Ok(())
}

async fn refusals_are_typed_and_leave_nothing_behind() -> TestResult {
    let srv = TestServer::start(|_| {}).await?;
    let f = fixture(&srv, "quota@example.com").await?;
    exec_as_owner(&srv.db, "update argus.teams set max_file_bytes = 1000").await?;
    let path = write_file(f.dir.path(), "toolarge.mp4", 5000, 6)?;
    let err = Uploader::new(f.api.clone(), f.store.clone(), opts()).upload(&f.project, &path).await.err().ok_or("accepted over quota")?;
    ensure!(matches!(&err, Error::Http { status: 413, message, .. } if message.contains("largest allowed")), "{err}");
    ensure!(f.store.uploads(f.api.base()).await?.is_empty(), "a refused upload was recorded");
    let empty = write_file(f.dir.path(), "empty.mp4", 0, 0)?;
    let err = Uploader::new(f.api.clone(), f.store.clone(), opts()).upload(&f.project, &empty).await.err().ok_or("accepted an empty file")?;
    ensure!(matches!(err, Error::Invalid(_)), "{err}");
    let err = Uploader::new(f.api.clone(), f.store.clone(), opts()).upload(&f.project, &f.dir.path().join("missing.mp4")).await.err().ok_or("accepted a missing file")?;
    ensure!(matches!(err, Error::File { .. }), "{err}");
    let bad = Api::new(&srv.url, Arc::new(StaticToken(Some("not-a-token".into()))))?;
    let err = Uploader::new(bad, f.store.clone(), opts()).upload(&f.project, &path).await.err().ok_or("accepted a bad token")?;
    ensure!(matches!(err, Error::Unauthorized { .. }), "{err}");
    // Nobody listening: a network error, after the retries.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let down = Api::new(&format!("http://127.0.0.1:{port}"), Arc::new(StaticToken(None)))?.with_backoff(argus_client::Backoff { attempts: 2, ..Default::default() });
    let err = down.get::<Value>("/api/v1/projects").await.err().ok_or("an answer from nowhere")?;
    ensure!(matches!(err, Error::Network { .. }) && err.to_string().contains("check the connection"), "{err}");
    srv.stop().await;
    Ok(())
}


/// A proxy that fails traffic at random, per connection: answers 503 at
/// once, cuts the request while it arrives, cuts the answer half-way
/// (truncated), or delays it; the rest passes. Every connection is closed
/// after a short while, so a client's pooled connections keep rolling the
/// dice.
///
/// With `byte_limits`, a passing connection also carries a limited number
/// of bytes each way, so a kept-alive connection is cut inside a later
/// request or answer (for JSON calls; a large upload would never pass).
async fn flaky_proxy(target: std::net::SocketAddr, seed: u64, failures: Arc<AtomicU32>, byte_limits: bool) -> std::io::Result<std::net::SocketAddr> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let rng = Arc::new(parking_lot::Mutex::new(XorShift::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)));
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let (roll, cut) = {
                let mut r = rng.lock();
                (r.next_u64() % 10, 64 + r.next_u64() % 2048)
            };
            let failures = failures.clone();
            tokio::spawn(async move {
                match roll {
                    0 => {
                        let mut buf = [0u8; 1024];
                        let _ = client.read(&mut buf).await;
                        failures.fetch_add(1, Ordering::Relaxed);
                        let _ = client.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                    }
                    1 => {
                        let mut buf = vec![0u8; 64 * 1024];
                        let _ = client.read(&mut buf).await;
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    2 => {
                        // The request gets through; the answer is cut short.
                        let Ok(server) = tokio::net::TcpStream::connect(target).await else { return };
                        let (mut cr, mut cw) = client.into_split();
                        let (mut sr, mut sw) = server.into_split();
                        tokio::spawn(async move {
                            let _ = tokio::io::copy(&mut cr, &mut sw).await;
                        });
                        let _ = tokio::io::copy(&mut (&mut sr).take(cut), &mut cw).await;
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        if roll == 3 {
                            tokio::time::sleep(std::time::Duration::from_millis(cut % 300)).await;
                        }
                        // Through, on a connection that lives a while and
                        // carries a limited number of bytes each way: a
                        // kept-alive connection is cut in the middle of a
                        // later request or answer.
                        let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                            return;
                        };
                        let (mut cr, mut cw) = client.into_split();
                        let (mut sr, mut sw) = server.into_split();
                        let (up_limit, down_limit) =
                            if byte_limits { (4 * 1024 + cut * 131 % (96 * 1024), 4 * 1024 + cut * 257 % (96 * 1024)) } else { (u64::MAX, u64::MAX) };
                        let up_failures = failures.clone();
                        let up = tokio::spawn(async move {
                            if let Ok(n) = tokio::io::copy(&mut (&mut cr).take(up_limit), &mut sw).await
                                && n >= up_limit
                            {
                                up_failures.fetch_add(1, Ordering::Relaxed);
                            }
                        });
                        let life = std::time::Duration::from_millis(300 + cut * 7 % 1700);
                        if let Ok(Ok(n)) = tokio::time::timeout(life, tokio::io::copy(&mut (&mut sr).take(down_limit), &mut cw)).await
                            && n >= down_limit
                        {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                        up.abort();
                    }
                }
            });
        }
    });
    Ok(addr)
}


async fn transient_store_failures_are_retried() -> TestResult {
    let failures = Arc::new(AtomicU32::new(0));
    let proxy_of = Arc::new(parking_lot::Mutex::new(None));
    // The server presigns for the proxy; the proxy forwards to the embedded store.
    let srv = {
        let failures = failures.clone();
        let cell = proxy_of.clone();
        let dir = tempfile::tempdir()?;
        let real = argus_server::storage::embedded::EmbeddedStore::start(&dir.path().join("objects"), 0, "argus", "test-access", "test-secret-key").await?;
        let proxy = flaky_proxy(real.addr, 7, failures, false).await?;
        *cell.lock() = Some((real, dir));
        TestServer::start(move |c| {
            if let Some(s) = c.storage.as_mut() {
                s.endpoint = format!("http://{proxy}").parse().unwrap_or_else(|_| s.endpoint.clone());
            }
        })
        .await?
    };
    let f = fixture(&srv, "flaky@example.com").await?;
    let path = write_file(f.dir.path(), "flaky.mp4", 50 * MIB, 8)?;
    let up = Uploader::new(f.api.clone(), f.store.clone(), UploadOptions { backoff_base: std::time::Duration::from_millis(10), attempts: 12, ..opts() });
    let out = up.upload(&f.project, &path).await?;
    ensure!(out.video.status == "processing" && out.parts_sent == 7, "{out:?}");
    ensure!(failures.load(Ordering::Relaxed) > 0, "the proxy never failed a request; the test proves nothing");
    // Read it back from the real store.
    let (real, _dir) = proxy_of.lock().take().ok_or("no store")?;
    let storage = argus_server::storage::Storage::new(&real.config)?;
    let key = query_text(&srv.db, &format!("select object_key from argus.videos where id = '{}'", uuid::Uuid::parse_str(&out.video.id)?)).await?.ok_or("no object key")?;
    let tmp = f.dir.path().join("readback");
    let (sha, _) = storage.get_to_file(&key, &tmp).await?;
    ensure!(sha == sha_of(&path)?, "the object differs from the file");
    srv.stop().await;
    Ok(())
}

mod auth {
    use super::*;

    // ---------------------------------------------------------------- sign-in

    pub fn file_store(dir: &Path) -> Result<Box<dyn SessionStore>, BoxError> {
        Ok(Box::new(EncryptedFileStore::new(dir.join("session.json"), "correct horse battery")?))
    }

    pub async fn sign_in_refresh_and_sign_out() -> TestResult {
        let srv = TestServer::start(|c| c.auth.jwt_exp = std::time::Duration::from_secs(4)).await?;
        let dir = tempfile::tempdir()?;
        let auth = Arc::new(Auth::new(&srv.url, None, file_store(dir.path())?)?.with_margin(std::time::Duration::from_secs(2)));
        let SignUp::SignedIn(user) = auth.sign_up("lead@example.com", "password-1").await? else {
            return Err("sign-up did not sign in (autoconfirm is on)".into());
        };
        ensure!(user.email.as_deref() == Some("lead@example.com"), "{user:?}");
        let api = Api::new(&srv.url, auth.clone())?;
        let team: Value = api.post("/api/v1/teams", &json!({"name": "T"})).await?;
        ensure!(team["role"] == "owner", "{team}");
        // Proactive refresh: within the margin the next call renews first.
        let first = auth.session().await.ok_or("no session")?;
        tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
        let teams: Value = api.get("/api/v1/teams").await?;
        let second = auth.session().await.ok_or("no session")?;
        ensure!(teams.as_array().map(Vec::len) == Some(1), "{teams}");
        ensure!(second.access_token != first.access_token && second.refresh_token != first.refresh_token, "the token was not refreshed ahead of expiry");
        // The rotated session was kept: a new client (a restart) picks it up.
        let again = Auth::new(&srv.url, None, file_store(dir.path())?)?;
        ensure!(again.session().await.map(|s| s.refresh_token) == Some(second.refresh_token.clone()), "the file does not hold the rotated session");
        drop(again);
        // Sign-out ends it on the server and here.
        ensure!(auth.sign_out(Scope::Local).await?, "the server was not told");
        ensure!(auth.session().await.is_none(), "still signed in");
        ensure!(!dir.path().join("session.json").exists(), "the session file survived sign-out");
        let err = api.get::<Value>("/api/v1/teams").await.err().ok_or("a call after sign-out went through")?;
        ensure!(matches!(err, Error::SignInRequired { .. }), "{err}");
        srv.stop().await;
        Ok(())
    }

    pub async fn a_refused_token_is_renewed_and_a_revoked_session_asks_to_sign_in() -> TestResult {
        let srv = TestServer::start(|_| {}).await?;
        let dir = tempfile::tempdir()?;
        let a = Arc::new(Auth::new(&srv.url, None, file_store(dir.path())?)?);
        a.sign_up("two@example.com", "password-1").await?;
        // A session whose access token the server refuses (signed with another
        // key) but whose refresh token is good: the call renews and goes through.
        let mut s = a.session().await.ok_or("no session")?;
        s.access_token = argus_server::testkit::sign(&json!({"sub": s.user.id, "role": "authenticated", "exp": 4_000_000_000i64}))
            .chars()
            .rev()
            .collect();
        let store = file_store(dir.path())?;
        store.save(&serde_json::to_string(&s)?)?;
        let b = Arc::new(Auth::new(&srv.url, None, file_store(dir.path())?)?);
        let api = Api::new(&srv.url, b.clone())?;
        let teams: Value = api.get("/api/v1/teams").await?;
        ensure!(teams.is_array(), "{teams}");
        ensure!(b.session().await.is_some_and(|n| n.access_token != s.access_token), "the refused token was not replaced");
        // Another device signs the user out everywhere: this one's refresh token
        // is revoked, so the next renewal asks to sign in again.
        let other = Auth::new(&srv.url, None, Box::new(NoStore))?;
        other.sign_in("two@example.com", "password-1").await?;
        ensure!(other.sign_out(Scope::Global).await?, "global sign-out failed");
        let err = b.refresh().await.err().ok_or("a revoked refresh token still works")?;
        ensure!(matches!(err, Error::SignInRequired { .. }), "{err}");
        ensure!(b.session().await.is_none() && !dir.path().join("session.json").exists(), "the dead session was kept");
        // Wrong password: a typed refusal.
        let err = other.sign_in("two@example.com", "wrong-password").await.err().ok_or("signed in with a wrong password")?;
        ensure!(matches!(&err, Error::Http { status: 400, code: Some(c), .. } if c == "invalid_credentials"), "{err}");
        srv.stop().await;
        Ok(())
    }

    pub async fn the_session_file_is_encrypted_and_refuses_a_wrong_passphrase() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("s").join("session.json");
        let store = EncryptedFileStore::new(&path, "correct horse battery")?;
        ensure!(store.load()?.is_none(), "an absent file is no session");
        store.save("{\"refresh_token\":\"SECRET-REFRESH\"}")?;
        ensure!(store.load()?.as_deref() == Some("{\"refresh_token\":\"SECRET-REFRESH\"}"), "round trip");
        let raw = std::fs::read_to_string(&path)?;
        ensure!(!raw.contains("SECRET-REFRESH") && raw.contains("argus-session-v1"), "the token is readable in the file: {raw}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
            ensure!(mode == 0o600, "the session file is {mode:o}, not 600");
        }
        let files: Vec<_> = std::fs::read_dir(path.parent().ok_or("no dir")?)?.collect();
        ensure!(files.len() == 1, "something was written beside the session file: {files:?}");
        let err = EncryptedFileStore::new(&path, "wrong horse battery")?.load().err().ok_or("a wrong passphrase opened the file")?;
        ensure!(matches!(err, Error::WrongPassphrase), "{err}");
        ensure!(matches!(EncryptedFileStore::new(&path, "short"), Err(Error::Invalid(_))), "a short passphrase was accepted");
        std::fs::write(&path, "{\"format\": \"argus-session-v1\", \"m\": 99999999, \"t\": 1, \"p\": 1, \"salt\": \"\", \"nonce\": \"\", \"ciphertext\": \"\"}")?;
        ensure!(matches!(store.load(), Err(Error::SessionFile { .. })), "a tampered file was not refused");
        std::fs::write(&path, "not json")?;
        ensure!(matches!(store.load(), Err(Error::SessionFile { .. })), "a damaged file was not refused");
        store.clear()?;
        ensure!(!path.exists(), "clear left the file");
        Ok(())
    }

    /// Without a D-Bus session there is no keyring, and that is said, not
    /// papered over with a store that keeps nothing.
    pub async fn no_keyring_is_reported_not_hidden() -> TestResult {
        let out = std::process::Command::new(std::env::current_exe()?)
            .args(["--exact", "auth::keyring_child_without_dbus", "--nocapture"])
            .env("ARGUS_KEYRING_CHILD", "no-dbus")
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/argus-test-bus")
            .env_remove("DISPLAY")
            .output()?;
        ensure!(out.status.success(), "child: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        ensure!(String::from_utf8_lossy(&out.stdout).contains("1 passed"), "the child test did not run: {}", String::from_utf8_lossy(&out.stdout));
        Ok(())
    }

    pub async fn keyring_child_without_dbus() -> TestResult {
        let err = KeyringStore::open("http://argus.test").err().ok_or("a keyring answered without a D-Bus session")?;
        ensure!(matches!(err, Error::KeyringUnavailable(_)) && err.to_string().contains("passphrase-encrypted file"), "{err}");
        Ok(())
    }

    /// The Secret Service path, against gnome-keyring on a private D-Bus
    /// session (`dbus-run-session`), in a child process with its own HOME.
    pub async fn the_session_is_kept_in_a_real_secret_service() -> TestResult {
        let have = |b: &str| std::process::Command::new("sh").args(["-c", &format!("command -v {b}")]).output().is_ok_and(|o| o.status.success());
        if !(have("dbus-run-session") && have("gnome-keyring-daemon")) {
            return Err("dbus-run-session and gnome-keyring-daemon are needed (apt: dbus gnome-keyring; scripts/bootstrap installs them)".into());
        }
        let home = tempfile::tempdir()?;
        let exe = std::env::current_exe()?;
        let script = "echo -n test-unlock | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; exec \"$0\" --exact auth::keyring_child_in_secret_service --nocapture";
        let out = std::process::Command::new("dbus-run-session")
            .args(["--", "sh", "-c", script])
            .arg(&exe)
            .env("ARGUS_KEYRING_CHILD", "secret-service")
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_RUNTIME_DIR", home.path())
            .output()?;
        ensure!(out.status.success(), "child: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        ensure!(String::from_utf8_lossy(&out.stdout).contains("1 passed"), "the child test did not run: {}", String::from_utf8_lossy(&out.stdout));
        Ok(())
    }

    pub async fn keyring_child_in_secret_service() -> TestResult {
        let server = "http://argus.test:54321";
        let store = KeyringStore::open(server)?;
        store.clear()?;
        ensure!(store.load()?.is_none(), "a fresh keyring has a session");
        let session = json!({"access_token": "a.b.c", "refresh_token": "refresh-123", "expires_at": 4_000_000_000i64,
                             "user": {"id": "00000000-0000-0000-0000-000000000001", "email": "k@example.com"}});
        store.save(&session.to_string())?;
        // A new store object (another start of the app) reads it back.
        let auth = Auth::new(server, None, Box::new(KeyringStore::open(server)?))?;
        let user = auth.user().await.ok_or("the keyring's session was not picked up")?;
        ensure!(user.email.as_deref() == Some("k@example.com"), "{user:?}");
        ensure!(KeyringStore::open("http://other.test")?.load()?.is_none(), "sessions are per server");
        ensure!(auth.sign_out(Scope::Local).await.is_ok(), "sign-out failed");
        ensure!(KeyringStore::open(server)?.load()?.is_none(), "sign-out left the session in the keyring");
        Ok(())
    }
}

mod sync {
    use argus_client::Syncer;
    use argus_core::{
        geometry::BBox,
        id::{ProjectId, TrackId, UserId},
        model::{Colour, Geometry, Label, Review, ReviewScope, Role, Shape, ShapeKind, ShapeSource, Timestamp, Track, Video},
    };
    use argus_store::{Actor, Command};

    use super::*;

    fn boxed(track: TrackId, frame: u64, x: f64) -> Shape {
        Shape::keyframe(track, frame, Geometry::BBox(BBox { x, y: 5.0, width: 20.0, height: 10.0 }), ShapeSource::Manual, Timestamp(1))
    }

    /// Every track (id, number) and shape (id, geometry) of `video`, sorted.
    async fn state(store: &Store, video: argus_core::id::VideoId, frames: u64) -> Result<(Vec<(String, u32)>, Vec<(String, String)>), BoxError> {
        let mut tracks: Vec<(String, u32)> = store.tracks(video).await?.into_iter().map(|t| (t.id.to_string(), t.number)).collect();
        tracks.sort();
        let mut shapes = Vec::new();
        for f in 0..frames {
            for s in store.frame_shapes(video, f).await? {
                shapes.push((s.id.to_string(), serde_json::to_string(&s.geometry)?));
            }
        }
        shapes.sort();
        Ok((tracks, shapes))
    }

    async fn sign_in(srv: &TestServer, email: &str) -> Result<(Arc<Auth>, String), BoxError> {
        let auth = Arc::new(Auth::new(&srv.url, None, Box::new(NoStore))?);
        let user = match auth.sign_up(email, "password-1").await? {
            SignUp::SignedIn(u) => u,
            other => return Err(format!("{other:?}").into()),
        };
        Ok((auth, user.id))
    }

    /// A local project with one video, put on the server with its id.
    async fn local_project(store: &Store, api: &Api) -> Result<(argus_core::model::Project, Label, Video), BoxError> {
        let labels = vec![Label::new("car", Colour::palette(0)).with_kinds(&[ShapeKind::BBox])];
        let (project, schema) = store.create_project("Street", labels).await?;
        let sha = format!("{:0>64}", project.id.to_string().replace('-', ""));
        let video = store.add_video(argus_server::testkit::sample_video(project.id, &sha, 640, 360, 100_000)).await?;
        let team: Value = api.post("/api/v1/teams", &json!({"name": "Team"})).await?;
        let team = team["id"].as_str().ok_or("no team")?.to_owned();
        let _: Value = api.post(&format!("/api/v1/teams/{team}/projects"), &json!({"id": project.id, "name": "Street", "label_schema": {"labels": schema.labels()}})).await?;
        Ok((project, schema.labels()[0].clone(), video))
    }

    /// Syncs until a round completes with nothing left to send (the network
    /// fails at random, so rounds fail too).
    async fn sync_until_done(syncer: &Syncer, store: &Store, project: ProjectId) -> Result<u32, BoxError> {
        for round in 1..=300u32 {
            if let Ok(r) = syncer.sync(project).await {
                ensure!(r.refused.is_empty() && r.skipped.is_empty(), "{r:?}");
                if store.pending_count(project).await? == 0 {
                    return Ok(round);
                }
            }
        }
        Err("sync did not finish in 300 rounds".into())
    }

    /// Fault injection: a proxy between clients and server drops
    /// connections, delays, truncates answers and answers 503 at random
    /// while changes sync. Afterwards both sides hold exactly the same
    /// changes, none lost and none twice. `ARGUS_SYNC_SEEDS` and
    /// `ARGUS_SYNC_CHANGES` scale it (`make soak`: 20 x 10,000).
    pub async fn sync_survives_a_faulty_network() -> TestResult {
        let seeds: u64 = std::env::var("ARGUS_SYNC_SEEDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
        let shapes: u64 = std::env::var("ARGUS_SYNC_CHANGES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
        let srv = TestServer::start(|_| {}).await?;
        let (auth, _) = sign_in(&srv, "faults@example.com").await?;
        let direct = Api::new(&srv.url, auth.clone())?;
        let server_addr: std::net::SocketAddr = srv.url.trim_start_matches("http://").parse()?;
        let failures = Arc::new(AtomicU32::new(0));
        let quick = argus_client::Backoff { base: std::time::Duration::from_millis(5), max: std::time::Duration::from_millis(100), attempts: 4 };
        for seed in 0..seeds {
            let proxy = flaky_proxy(server_addr, seed + 1, failures.clone(), true).await?;
            let flaky = Api::new(&format!("http://{proxy}"), auth.clone())?.with_backoff(quick);
            let dir = tempfile::tempdir()?;
            let a = Arc::new(Store::open(dir.path().join("a.db")).await?);
            let b = Arc::new(Store::open(dir.path().join("b.db")).await?);
            let (project, label, video) = local_project(&a, &direct).await?;
            let lead = Actor { user: UserId::new(), role: Role::Lead };
            let per_track = 100.min(shapes);
            for t in 0..shapes.div_ceil(per_track) {
                let track = Track::new(video.id, label.id, None, Timestamp(1));
                let n = per_track.min(shapes - t * per_track);
                let list: Vec<Shape> = (0..n).map(|f| boxed(track.id, f * 3 + seed, (f % 500) as f64)).collect();
                a.apply(&lead, Command::CreateTrack { track, shapes: list }).await?;
            }
            let t0 = std::time::Instant::now();
            let mut sa = Syncer::new(flaky.clone(), a.clone());
            sa.batch = 200;
            let rounds_a = sync_until_done(&sa, &a, project.id).await?;
            let t1 = t0.elapsed();
            let mut sb = Syncer::new(flaky.clone(), b.clone());
            sb.page = 300;
            // B: pull until a round completes (nothing to send).
            let rounds_b = sync_until_done(&sb, &b, project.id).await?;
            eprintln!("seed {seed}: push {:?} in {rounds_a} rounds, pull {:?} in {rounds_b} rounds", t1, t0.elapsed() - t1);
            // A last clean round on B brings anything a failed round left.
            let tail = Syncer::new(direct.clone(), b.clone()).sync(project.id).await?;
            ensure!(tail.pulled == 0, "seed {seed}: a completed pull left {} changes behind", tail.pulled);
            let (ta, sa_state) = state(&a, video.id, shapes * 3 + seed + 1).await?;
            let (tb, sb_state) = state(&b, video.id, shapes * 3 + seed + 1).await?;
            ensure!(sa_state.len() as u64 == shapes && sa_state == sb_state && ta == tb, "seed {seed}: the devices differ ({} vs {} shapes)", sa_state.len(), sb_state.len());
            let counts = query_text(&srv.db, &format!("select count(*) || '/' || count(distinct change_id) from argus.changes where project_id = '{}'", project.id)).await?.unwrap_or_default();
            let (all, distinct) = counts.split_once('/').ok_or("counts")?;
            let expected = shapes + shapes.div_ceil(per_track) + 3; // shapes, tracks, project, schema, video
            ensure!(all == distinct && all == expected.to_string(), "seed {seed}: the server holds {all} changes ({distinct} distinct), expected {expected}");
        }
        eprintln!("faulty network: {} connections failed over {seeds} seeds", failures.load(Ordering::Relaxed));
        ensure!(
            failures.load(Ordering::Relaxed) >= 2 * seeds as u32,
            "the proxy failed only {} connections; the test proves little",
            failures.load(Ordering::Relaxed)
        );
        srv.stop().await;
        Ok(())
    }

    /// An annotator's edit to approved work puts the review back in review
    /// (the server does it; the annotator may not touch review state).
    pub async fn an_annotators_edit_reopens_an_approved_review() -> TestResult {
        let srv = TestServer::start(|_| {}).await?;
        let (lead_auth, _) = sign_in(&srv, "lead2@example.com").await?;
        let (ann_auth, ann_id) = sign_in(&srv, "ann2@example.com").await?;
        let lead_api = Api::new(&srv.url, lead_auth)?;
        let dir = tempfile::tempdir()?;
        let a = Arc::new(Store::open(dir.path().join("a.db")).await?);
        let b = Arc::new(Store::open(dir.path().join("b.db")).await?);
        let (project, label, video) = local_project(&a, &lead_api).await?;
        let _: Value = lead_api
            .call(reqwest::Method::PUT, &format!("/api/v1/projects/{}/members/{ann_id}", project.id), Some(&json!({"role": "annotator"})), false)
            .await?
            .ok_or("no answer")?;
        let lead = Actor { user: UserId::new(), role: Role::Lead };
        let t = Track::new(video.id, label.id, None, Timestamp(1));
        a.apply(&lead, Command::CreateTrack { track: t.clone(), shapes: vec![boxed(t.id, 0, 1.0)] }).await?;
        let review = Review::new(video.id, ReviewScope::Video, Timestamp(2))?;
        a.apply(&lead, Command::CreateReview { review: review.clone() }).await?;
        a.apply(&lead, Command::Approve { review_id: review.id, comment: None }).await?;
        let sa = Syncer::new(lead_api.clone(), a.clone());
        let sb = Syncer::new(Api::new(&srv.url, ann_auth)?, b.clone());
        sa.sync(project.id).await?;
        sb.sync(project.id).await?;
        ensure!(b.review(review.id).await?.state == argus_core::model::ReviewState::Approved, "the approval did not arrive");
        let ann = Actor { user: UserId::from_uuid(uuid::Uuid::parse_str(&ann_id)?), role: Role::Annotator };
        b.apply(&ann, Command::SetShape { shape: boxed(t.id, 0, 80.0) }).await?;
        let r = sb.sync(project.id).await?;
        ensure!(r.refused.is_empty(), "{r:?}");
        for (who, store, syncer) in [("annotator", &b, &sb), ("lead", &a, &sa)] {
            syncer.sync(project.id).await?;
            let state = store.review(review.id).await?.state;
            ensure!(state == argus_core::model::ReviewState::Pending, "{who} sees the review {state:?} after an annotator's edit");
        }
        // A reviewer's (the lead's) own edit leaves the decision alone.
        a.apply(&lead, Command::Approve { review_id: review.id, comment: None }).await?;
        a.apply(&lead, Command::SetShape { shape: boxed(t.id, 0, 90.0) }).await?;
        sa.sync(project.id).await?;
        ensure!(a.review(review.id).await?.state == argus_core::model::ReviewState::Approved, "a reviewer's edit reopened the review");
        srv.stop().await;
        Ok(())
    }

    /// A proxy that can be switched off (connections refused at once).
    async fn switch_proxy(target: std::net::SocketAddr, up: Arc<std::sync::atomic::AtomicBool>) -> std::io::Result<std::net::SocketAddr> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up.load(Ordering::Relaxed) {
                    continue; // dropped: the connection closes
                }
                tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::time::timeout(std::time::Duration::from_millis(300), tokio::io::copy_bidirectional(&mut client, &mut server)).await;
                    }
                });
            }
        });
        Ok(addr)
    }

    async fn wait_for(bg: &argus_client::BackgroundSync, what: &str, ok: impl Fn(&argus_client::SyncStatus) -> bool) -> TestResult {
        let mut rx = bg.subscribe();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        bg.sync_now();
        loop {
            if ok(&rx.borrow()) {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, rx.changed()).await.is_err() {
                return Err(format!("waited 30 s for {what}; status: {:?}", bg.status()).into());
            }
        }
    }

    /// Background sync: rounds after edits, offline while the server is
    /// out of reach (the edits wait in the outbox), online again after;
    /// access tokens that expire meanwhile are renewed; a revoked session
    /// asks to sign in again and keeps what is pending.
    pub async fn background_sync_goes_offline_and_back_and_survives_the_session() -> TestResult {
        let srv = TestServer::start(|c| c.auth.jwt_exp = std::time::Duration::from_secs(3)).await?;
        let auth = Arc::new(Auth::new(&srv.url, None, Box::new(NoStore))?.with_margin(std::time::Duration::from_secs(1)));
        auth.sign_up("bg@example.com", "password-1").await?;
        let direct = Api::new(&srv.url, auth.clone())?;
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let proxy = switch_proxy(srv.url.trim_start_matches("http://").parse()?, up.clone()).await?;
        let api = Api::new(&format!("http://{proxy}"), auth.clone())?.with_backoff(argus_client::Backoff { attempts: 2, ..Default::default() });
        let dir = tempfile::tempdir()?;
        let store = Arc::new(Store::open(dir.path().join("bg.db")).await?);
        let (project, label, video) = local_project(&store, &direct).await?;
        let bg = argus_client::BackgroundSync::spawn(Syncer::new(api, store.clone()), project.id, std::time::Duration::from_millis(300));
        wait_for(&bg, "the first round", |s| s.online && s.pending == 0 && s.last_sync_ms.is_some()).await?;

        up.store(false, Ordering::Relaxed);
        wait_for(&bg, "offline", |s| !s.online && s.last_error.as_deref().is_some_and(|e| e.contains("could not reach"))).await?;
        let lead = Actor { user: UserId::new(), role: Role::Lead };
        let t = Track::new(video.id, label.id, None, Timestamp(1));
        store.apply(&lead, Command::CreateTrack { track: t.clone(), shapes: vec![boxed(t.id, 0, 1.0)] }).await?;
        wait_for(&bg, "the edits waiting offline", |s| !s.online && s.pending == 2).await?;
        // Past the access token's lifetime while offline.
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        up.store(true, Ordering::Relaxed);
        wait_for(&bg, "online again", |s| s.online && s.pending == 0 && s.last_error.is_none()).await?;
        let server_has = query_text(&srv.db, &format!("select count(*)::text from argus.changes where record_id = '{}'", t.id)).await?;
        ensure!(server_has.as_deref() == Some("1"), "the track did not reach the server: {server_has:?}");

        // Signed out everywhere from another machine: the next refresh fails.
        let other = Auth::new(&srv.url, None, Box::new(NoStore))?;
        other.sign_in("bg@example.com", "password-1").await?;
        other.sign_out(Scope::Global).await?;
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        wait_for(&bg, "sign in again", |s| !s.signed_in && s.last_error.as_deref().is_some_and(|e| e.contains("sign in again"))).await?;
        store.apply(&lead, Command::SetShape { shape: boxed(t.id, 0, 50.0) }).await?;
        wait_for(&bg, "the edit kept while signed out", |s| !s.signed_in && s.pending == 1).await?;
        ensure!(store.pending_count(project.id).await? == 1, "the pending change left the outbox");
        ensure!(bg.status().rounds < 1000, "background sync spins: {:?}", bg.status());
        srv.stop().await;
        Ok(())
    }

    /// Two devices (a lead and an annotator) edit one project offline, sync,
    /// and converge, with conflicts exactly where both edited the same shape.
    pub async fn two_devices_converge_with_conflicts_where_expected() -> TestResult {
        let srv = TestServer::start(|_| {}).await?;
        let (lead_auth, lead_id) = sign_in(&srv, "lead@example.com").await?;
        let (ann_auth, ann_id) = sign_in(&srv, "annotator@example.com").await?;
        let lead_api = Api::new(&srv.url, lead_auth.clone())?;
        let ann_api = Api::new(&srv.url, ann_auth.clone())?;
        let dir = tempfile::tempdir()?;
        let a = Arc::new(Store::open(dir.path().join("a.db")).await?);
        let b = Arc::new(Store::open(dir.path().join("b.db")).await?);

        // The lead made the project offline; pushing it keeps its id.
        let labels = vec![Label::new("car", Colour::palette(0)).with_kinds(&[ShapeKind::BBox])];
        let (project, schema) = a.create_project("Street", labels).await?;
        let label = schema.labels()[0].clone();
        let mut video = argus_server::testkit::sample_video(project.id, &"c".repeat(64), 640, 360, 50);
        video.local_path = Some("/lead/videos/street.mp4".into());
        let video = a.add_video(video).await?;
        let team: Value = lead_api.post("/api/v1/teams", &json!({"name": "Team"})).await?;
        let team = team["id"].as_str().ok_or("no team")?.to_owned();
        let created: Value = lead_api
            .post(&format!("/api/v1/teams/{team}/projects"), &json!({"id": project.id, "name": "Street", "label_schema": {"labels": schema.labels()}}))
            .await?;
        ensure!(created["id"] == project.id.to_string(), "the server did not keep the project's id: {created}");
        let _: Value = lead_api
            .call(reqwest::Method::PUT, &format!("/api/v1/projects/{}/members/{ann_id}", project.id), Some(&json!({"role": "annotator"})), false)
            .await?
            .ok_or("no answer")?;

        // Edits made before signing in carry the machine's local user ...
        let lead = Actor { user: a.local_user(), role: Role::Lead };
        let t1 = Track::new(video.id, label.id, Some(a.local_user()), Timestamp(1));
        let shapes: Vec<Shape> = (0..6).map(|f| boxed(t1.id, f, 10.0)).collect();
        a.apply(&lead, Command::CreateTrack { track: t1.clone(), shapes }).await?;
        let lead_user = UserId::from_uuid(uuid::Uuid::parse_str(&lead_id)?);
        let sa = Syncer::new(lead_api.clone(), a.clone()).as_user(lead_user);
        let sb = Syncer::new(ann_api.clone(), b.clone());
        let r = sa.sync(project.id).await?;
        ensure!(r.refused.is_empty() && r.pushed >= 10, "{r:?}");
        // The annotator's machine starts empty: the pull brings it all.
        let r = sb.sync(project.id).await?;
        ensure!(r.skipped.is_empty() && r.pulled >= 10, "{r:?}");
        ensure!(state(&a, video.id, 50).await? == state(&b, video.id, 50).await?, "the first pull does not match");
        // ... which becomes the signed-in user as they are pushed.
        ensure!(b.track(t1.id).await?.author == Some(lead_user), "the pushed track's author is {:?}, not the signed-in lead", b.track(t1.id).await?.author);
        let here = b.video(video.id).await?;
        ensure!(here.local_path.is_none(), "another machine's local path came along: {:?}", here.local_path);

        // Offline, on both machines.
        let ann = Actor { user: UserId::from_uuid(uuid::Uuid::parse_str(&ann_id)?), role: Role::Annotator };
        a.apply(&lead, Command::SetShape { shape: boxed(t1.id, 1, 100.0) }).await?; // both edit frame 1
        a.apply(&lead, Command::DeleteShape { shape_id: boxed(t1.id, 3, 0.0).id }).await?; // lead deletes frame 3 ...
        let t_lead = Track::new(video.id, label.id, None, Timestamp(2));
        a.apply(&lead, Command::CreateTrack { track: t_lead.clone(), shapes: vec![boxed(t_lead.id, 7, 1.0)] }).await?;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        b.apply(&ann, Command::SetShape { shape: boxed(t1.id, 1, 200.0) }).await?;
        b.apply(&ann, Command::SetShape { shape: boxed(t1.id, 2, 300.0) }).await?; // only here
        b.apply(&ann, Command::SetShape { shape: boxed(t1.id, 3, 400.0) }).await?; // ... the annotator edits it later
        let t_ann = Track::new(video.id, label.id, None, Timestamp(2));
        b.apply(&ann, Command::CreateTrack { track: t_ann.clone(), shapes: vec![boxed(t_ann.id, 8, 2.0)] }).await?;
        // A review decision the annotator may not make (a stale local role).
        let review = Review::new(video.id, ReviewScope::Video, Timestamp(3))?;
        let stale_role = Actor { user: ann.user, role: Role::Lead };
        b.apply(&stale_role, Command::CreateReview { review: review.clone() }).await?;
        ensure!(a.tracks(video.id).await?.iter().any(|t| t.id == t_lead.id) && b.tracks(video.id).await?.iter().any(|t| t.id == t_ann.id), "tracks");

        // Sync: lead, annotator, lead again.
        let ra = sa.sync(project.id).await?;
        let rb = sb.sync(project.id).await?;
        let ra2 = sa.sync(project.id).await?;
        ensure!(ra.refused.is_empty() && ra2.refused.is_empty(), "{ra:?} {ra2:?}");
        ensure!(rb.refused.len() == 1 && rb.refused[0].1.contains("may not review"), "the annotator's review was not refused: {rb:?}");
        let rejected = b.rejected_changes(project.id).await?;
        ensure!(rejected.len() == 1 && b.pending_count(project.id).await? == 0, "the refused change left the outbox: {rejected:?}");
        ensure!(b.review(review.id).await.is_err(), "the refused review is still there");

        let (ta, sa_state) = state(&a, video.id, 50).await?;
        let (tb, sb_state) = state(&b, video.id, 50).await?;
        ensure!(sa_state == sb_state, "shapes differ:\n{sa_state:?}\n{sb_state:?}");
        ensure!(ta == tb, "tracks differ: {ta:?} vs {tb:?}");
        let numbers: std::collections::HashSet<u32> = ta.iter().map(|t| t.1).collect();
        ensure!(numbers.len() == ta.len(), "two tracks share a number: {ta:?}");
        // Frame 3: the annotator's edit is newer than the delete, so it stays.
        ensure!(b.frame_shapes(video.id, 3).await?.len() == 1 && a.frame_shapes(video.id, 3).await?.len() == 1, "the newer edit lost to an older delete");
        ensure!(a.frame_shapes(video.id, 2).await?[0].geometry == boxed(t1.id, 2, 300.0).geometry, "an edit made on one side only did not arrive");
        // Conflicts exactly on the shapes both edited: frames 1 and 3.
        let want: std::collections::BTreeSet<String> = [1u64, 3].iter().map(|f| argus_core::id::ShapeId::for_track_frame(t1.id, *f).to_string()).collect();
        for (name, store) in [("lead", &a), ("annotator", &b)] {
            let got: std::collections::BTreeSet<String> = store.conflicts(project.id).await?.iter().map(|c| c.record.to_string()).collect();
            ensure!(got == want, "{name}'s conflicts are {got:?}, expected {want:?}");
        }
        // A second round changes nothing.
        let again = sb.sync(project.id).await?;
        ensure!(again.pushed == 0 && again.pulled == 0, "{again:?}");
        // Pulls come gzip-compressed to a client that accepts it.
        let token = lead_auth.session().await.ok_or("no session")?.access_token;
        let raw = reqwest::Client::builder().no_gzip().build()?;
        let resp = raw
            .get(format!("{}/api/v1/projects/{}/sync/pull?since=0", srv.url, project.id))
            .bearer_auth(&token)
            .header("accept-encoding", "gzip")
            .send()
            .await?;
        ensure!(resp.headers().get("content-encoding").is_some_and(|v| v == "gzip"), "the pull was not compressed: {:?}", resp.headers());
        let _ = ProjectId::new();
        srv.stop().await;
        Ok(())
    }
}

mod project {
    use argus_client::{Projects, Syncer, Videos};
    use argus_core::{
        geometry::BBox,
        model::{Colour, Geometry, Label, RemoteState, Role, Shape, ShapeKind, ShapeSource, Timestamp, Track},
    };
    use argus_store::{Actor, Command};

    use super::*;

    /// A server with a signed-in owner, and a local store with a project
    /// (label "car", boxes) that is not on the server yet.
    struct Lead {
        srv: TestServer,
        owner: argus_server::testkit::Owner,
        api: Api,
        dir: tempfile::TempDir,
        a: Arc<Store>,
        project: argus_core::model::Project,
        schema: argus_core::model::LabelSchema,
    }

    async fn lead(email: &str) -> Result<Lead, BoxError> {
        let srv = TestServer::start(|_| {}).await?;
        let owner = srv.owner_with_project(email).await?;
        let api = Api::new(&srv.url, Arc::new(StaticToken(Some(owner.token.clone()))))?;
        let dir = tempfile::tempdir()?;
        let a = Arc::new(Store::open(dir.path().join("a.db")).await?);
        let labels = vec![Label::new("car", Colour::palette(0)).with_kinds(&[ShapeKind::BBox])];
        let (project, schema) = a.create_project("Street", labels).await?;
        Ok(Lead { srv, owner, api, dir, a, project, schema })
    }

    fn projects(api: &Api, store: &Arc<Store>) -> Projects {
        Projects::new(api.clone(), store.clone(), Syncer::new(api.clone(), store.clone())).upload_options(opts())
    }

    /// A lead pushes a local project with its video file; other machines
    /// clone it with the annotations and only the files they ask for, and a
    /// download that stopped half-way resumes (checked against the video's
    /// SHA-256).
    pub async fn a_project_moves_to_the_server_and_onto_new_machines() -> TestResult {
        let Lead { srv, owner, api, dir, a, project, schema } = lead("lead@example.com").await?;
        let file = write_file(dir.path(), "street.mp4", 12 * MIB + 4321, 7)?;
        let sha = sha_of(&file)?;
        let mut video = argus_server::testkit::sample_video(project.id, &sha, 640, 360, 50);
        video.name = "street.mp4".into();
        video.local_path = Some(file.to_string_lossy().into_owned());
        let video = a.add_video(video).await?;
        let lead = Actor { user: a.local_user(), role: Role::Lead };
        let track = Track::new(video.id, schema.labels()[0].id, None, Timestamp(1));
        let shape = Shape::keyframe(track.id, 3, Geometry::BBox(BBox { x: 1.0, y: 2.0, width: 30.0, height: 20.0 }), ShapeSource::Manual, Timestamp(1));
        a.apply(&lead, Command::CreateTrack { track: track.clone(), shapes: vec![shape.clone()] }).await?;

        let pushed = projects(&api, &a).push(&owner.team, project.id).await?;
        ensure!(pushed.created && pushed.sync.pushed > 0, "{pushed:?}");
        ensure!(pushed.videos.len() == 1 && pushed.videos[0].outcome == "uploaded", "{:?}", pushed.videos);
        ensure!(a.video(video.id).await?.remote == RemoteState::Processing, "{:?}", a.video(video.id).await?.remote);
        // The uploaded file is the synced video: the same id, the same bytes.
        ensure!(stored_sha(&api, &video.id.to_string()).await? == sha, "the stored object differs");
        // Pushing again sends nothing twice.
        let again = projects(&api, &a).push(&owner.team, project.id).await?;
        ensure!(!again.created && again.sync.pushed == 0 && again.videos[0].outcome == "already_there", "{again:?}");

        // A new machine: annotations and the video's state, no file.
        let b = Arc::new(Store::open(dir.path().join("b.db")).await?);
        let files_b = dir.path().join("videos-b");
        let cloned = projects(&api, &b).clone_project(project.id, &Videos::None, &files_b).await?;
        ensure!(cloned.fetched.is_empty() && cloned.videos == vec![(video.id, RemoteState::Processing)], "{cloned:?}");
        let there = b.video(video.id).await?;
        ensure!(there.local_path.is_none() && there.remote == RemoteState::Processing, "{there:?}");
        ensure!(b.frame_shapes(video.id, 3).await?.len() == 1, "the annotations did not come");

        // A download that stopped after 5 MiB resumes from there.
        std::fs::create_dir_all(&files_b)?;
        let bytes = std::fs::read(&file)?;
        let partial = files_b.join(format!(".{}.part", video.id));
        std::fs::write(&partial, &bytes[..5 * MIB])?;
        let got = projects(&api, &b).fetch_video(video.id, &files_b).await?;
        ensure!(sha_of(&got)? == sha && !partial.exists(), "{}", got.display());
        ensure!(b.video(video.id).await?.local_path.as_deref() == Some(&*got.to_string_lossy()), "the path was not recorded");
        // Already here: nothing to do.
        ensure!(projects(&api, &b).fetch_video(video.id, &files_b).await? == got, "fetched twice");

        // A partial file that is not the video's start is caught by the
        // hash (the rest was appended to it), removed, and fetched again.
        let c = Arc::new(Store::open(dir.path().join("c.db")).await?);
        let files_c = dir.path().join("videos-c");
        projects(&api, &c).clone_project(project.id, &Videos::None, &files_c).await?;
        std::fs::create_dir_all(&files_c)?;
        let partial = files_c.join(format!(".{}.part", video.id));
        std::fs::write(&partial, vec![0u8; 5 * MIB])?;
        match projects(&api, &c).fetch_video(video.id, &files_c).await {
            Err(Error::Invalid(m)) if m.contains("SHA-256") => {}
            other => {
                return Err(format!("a corrupt partial download was accepted: {other:?}").into());
            }
        }
        ensure!(!partial.exists() && c.video(video.id).await?.local_path.is_none(), "the bad download was kept");
        let got = projects(&api, &c).fetch_video(video.id, &files_c).await?;
        ensure!(sha_of(&got)? == sha, "the second fetch is wrong");

        // Selective: `All` downloads every file the server holds.
        let d = Arc::new(Store::open(dir.path().join("d.db")).await?);
        let cloned = projects(&api, &d).clone_project(project.id, &Videos::All, &dir.path().join("videos-d")).await?;
        ensure!(cloned.fetched.len() == 1 && sha_of(&cloned.fetched[0].1)? == sha, "{cloned:?}");
        // A video with no file anywhere is reported, not fatal.
        match projects(&api, &d).clone_project(argus_core::id::ProjectId::new(), &Videos::None, &files_c).await {
            Err(Error::Http { status: 404, .. }) | Err(Error::Invalid(_)) => {}
            other => return Err(format!("cloning an unknown project: {other:?}").into()),
        }
        srv.stop().await;
        Ok(())
    }

    /// What the local user made before the first sign-in becomes the
    /// signed-in user's, locally as on the server.
    pub async fn work_from_before_sign_in_is_the_users() -> TestResult {
        let Lead { srv, owner, api, dir, a, project, schema } = lead("first@example.com").await?;
        let video = a.add_video(argus_server::testkit::sample_video(project.id, &"c".repeat(64), 640, 360, 10)).await?;
        let local = a.local_user();
        let lead = Actor { user: local, role: Role::Lead };
        let mut track = Track::new(video.id, schema.labels()[0].id, Some(local), Timestamp(1));
        track.author = Some(local);
        let mut shape = Shape::keyframe(track.id, 0, Geometry::BBox(BBox { x: 1.0, y: 1.0, width: 5.0, height: 5.0 }), ShapeSource::Manual, Timestamp(1));
        shape.author = Some(local);
        a.apply(&lead, Command::CreateTrack { track: track.clone(), shapes: vec![shape] }).await?;
        let me: argus_core::id::UserId = owner.user_id.parse()?;
        let p = Projects::new(api.clone(), a.clone(), Syncer::new(api.clone(), a.clone()).as_user(me));
        p.push_annotations(&owner.team, project.id).await?;
        ensure!(a.track(track.id).await?.author == Some(me), "the local track keeps the local author");
        ensure!(a.frame_shapes(video.id, 0).await?[0].author == Some(me), "the local shape keeps the local author");
        // And a fresh machine reads the same.
        let b = Arc::new(Store::open(dir.path().join("b.db")).await?);
        Syncer::new(api.clone(), b.clone()).sync(project.id).await?;
        ensure!(b.track(track.id).await?.author == Some(me) && b.frame_shapes(video.id, 0).await?[0].author == Some(me), "the server holds another author");
        srv.stop().await;
        Ok(())
    }
}

fn main() {
    // The keyring tests re-run this binary in a prepared environment.
    match std::env::var("ARGUS_KEYRING_CHILD").as_deref() {
        Ok("no-dbus") => argus_server::testkit::run_local(argus_server::tests![auth::keyring_child_without_dbus]),
        Ok("secret-service") => argus_server::testkit::run_local(argus_server::tests![auth::keyring_child_in_secret_service]),
        _ => {}
    }
    argus_server::testkit::run(argus_server::tests![
        auth::sign_in_refresh_and_sign_out,
        auth::a_refused_token_is_renewed_and_a_revoked_session_asks_to_sign_in,
        auth::the_session_file_is_encrypted_and_refuses_a_wrong_passphrase,
        auth::no_keyring_is_reported_not_hidden,
        auth::the_session_is_kept_in_a_real_secret_service,
        sync::two_devices_converge_with_conflicts_where_expected,
        sync::sync_survives_a_faulty_network,
        sync::background_sync_goes_offline_and_back_and_survives_the_session,
        sync::an_annotators_edit_reopens_an_approved_review,
        project::a_project_moves_to_the_server_and_onto_new_machines,
        project::work_from_before_sign_in_is_the_users,
        small_file_goes_up_in_one_put,
        multipart_upload_in_parallel_with_progress,
        an_interrupted_upload_resumes_without_resending_parts,
        a_changed_file_starts_over_cleanly,
        refusals_are_typed_and_leave_nothing_behind,
        transient_store_failures_are_retried,
    ]);
}
