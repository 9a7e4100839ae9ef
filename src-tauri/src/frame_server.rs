//! A loopback HTTP server for rendered frames: the fast way into the webview.
//!
//! The `frame://` custom scheme works everywhere, but WebKitGTK pulls a
//! custom scheme's answer through the app's main loop 8 KiB at a time
//! (`WebKitURISchemeRequest`'s read buffer), one IPC message to the web
//! process per piece: 256 round trips for a half-size 1080p frame, which on a
//! busy two-core machine costs tens of milliseconds a step. Over HTTP the
//! bytes go through WebKit's network process instead, which reads the socket
//! in large pieces off the UI thread.
//!
//! The server listens on 127.0.0.1 only, on a port the OS picks, and answers
//! only paths under a random per-launch token (`http://127.0.0.1:<port>/<token>/`),
//! so other local users and web pages cannot read the project's frames. It is
//! hyper's HTTP/1.1 server on the app's tokio runtime, with a bound on open
//! connections: `GET` (and `HEAD`/`OPTIONS`), keep-alive. The answers are
//! exactly those of the `frame://` scheme ([`crate::frames::respond`]).
//!
//! `ARGUS_FRAME_TRANSPORT=scheme` turns it off (the page then uses `frame://`);
//! `make bench ONLY=app` measures both.

use std::{convert::Infallible, net::Ipv4Addr, sync::Arc, time::Duration};

use http_body_util::Full;
use hyper::{
    Request, Response,
    body::{Body, Bytes},
    header::HeaderValue,
    service::service_fn,
};
use hyper_util::rt::{TokioIo, TokioTimer};

use argus_workspace::Workspace;

/// How long an idle keep-alive connection may take to send its next request.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Connections served at once (the webview opens a handful); more wait.
const MAX_CONNECTIONS: usize = 64;

/// A running frame server.
#[derive(Debug, Clone)]
pub struct FrameServer {
    /// `http://127.0.0.1:<port>/<token>/`: the page appends `<video-id>/<frame>?...`.
    pub base: String,
}

/// The app's frame server, started once on first use; `None` inside when it
/// is turned off or could not start (the page then uses `frame://`).
#[derive(Debug, Default)]
pub struct FrameServerCell(std::sync::OnceLock<Option<FrameServer>>);

impl FrameServerCell {
    /// The server's base URL, starting it on the first call.
    pub fn base(&self, state: &Workspace) -> Option<String> {
        self.0
            .get_or_init(|| {
                if disabled_by_env() {
                    return None;
                }
                start(state.clone())
                    .map_err(|e| {
                        tracing::warn!(
                            "no loopback frame server ({e}); frames go through the frame:// scheme"
                        );
                    })
                    .ok()
            })
            .as_ref()
            .map(|s| s.base.clone())
    }
}

/// Whether the environment asks for the `frame://` scheme instead.
pub fn disabled_by_env() -> bool {
    std::env::var("ARGUS_FRAME_TRANSPORT").is_ok_and(|v| v.trim().eq_ignore_ascii_case("scheme"))
}

/// Binds a port on 127.0.0.1 and serves frames from `state` on the app's
/// async runtime.
pub fn start(state: Workspace) -> std::io::Result<FrameServer> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let token = uuid::Uuid::new_v4().simple().to_string();
    let prefix: Arc<str> = format!("/{token}/").into();
    let base = format!("http://127.0.0.1:{port}{prefix}");
    tauri::async_runtime::spawn(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("frame server: {e}");
                return;
            }
        };
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else { return };
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::debug!("frame server: accept failed: {e}");
                    continue;
                }
            };
            // Frames are one large write after a small request: no Nagle delays.
            let _ = stream.set_nodelay(true);
            let (state, prefix) = (state.clone(), prefix.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let (state, prefix) = (state.clone(), prefix.clone());
                    async move { Ok::<_, Infallible>(serve(&state, &prefix, req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(IDLE_TIMEOUT)
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service);
                // A page that gives up on a frame (a newer one was asked
                // for) closes its connection: that ends only this one.
                if let Err(e) = conn.await {
                    tracing::debug!("frame server: connection ended: {e}");
                }
                drop(permit);
            });
        }
    });
    Ok(FrameServer { base })
}

/// The answer to one request, with the headers every answer carries.
async fn serve(state: &Workspace, prefix: &str, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let started = std::time::Instant::now();
    let close = req.headers().get(hyper::header::CONNECTION).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let has_body = req.body().size_hint().lower() > 0 || req.headers().contains_key(hyper::header::TRANSFER_ENCODING);
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let answer = if has_body {
        // Nothing here takes a body; not reading it, the connection ends.
        let mut r = plain(400, "request bodies are not accepted");
        r.headers_mut().insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
        r
    } else {
        answer(state, prefix, &method, uri.path(), uri.query()).await
    };
    let (mut parts, body) = answer.into_parts();
    let h = &mut parts.headers;
    // The page's Resource Timing shows where a frame's time went
    // (`make bench ONLY=app` reports it).
    if let Ok(v) = HeaderValue::from_str(&format!("render;dur={:.1}", started.elapsed().as_secs_f64() * 1e3)) {
        h.insert("Server-Timing", v);
    }
    h.insert(hyper::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("Timing-Allow-Origin", HeaderValue::from_static("*"));
    // HEAD answers the GET's length without its body.
    h.insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    if !close && !h.contains_key(hyper::header::CONNECTION) {
        h.insert(hyper::header::CONNECTION, HeaderValue::from_static("keep-alive"));
    }
    Response::from_parts(parts, Full::new(Bytes::from(body)))
}

/// The answer to one request.
async fn answer(state: &Workspace, prefix: &str, method: &hyper::Method, path: &str, query: Option<&str>) -> tauri::http::Response<Vec<u8>> {
    // Unknown paths (no or a wrong token) look like nothing is here.
    let Some(rest) = path.strip_prefix(prefix) else {
        return plain(404, "not found");
    };
    match method.as_str() {
        "GET" | "HEAD" => crate::frames::respond(state, &format!("/{rest}"), query).await,
        "OPTIONS" => {
            let mut r = plain(204, "");
            r.headers_mut().insert("Access-Control-Allow-Methods", tauri::http::HeaderValue::from_static("GET, HEAD, OPTIONS"));
            r
        }
        _ => plain(405, "only GET, HEAD and OPTIONS are served"),
    }
}

/// A short text answer, readable to the page (CORS allowed).
fn plain(status: u16, text: &str) -> tauri::http::Response<Vec<u8>> {
    let mut r = tauri::http::Response::new(text.as_bytes().to_vec());
    *r.status_mut() = tauri::http::StatusCode::from_u16(status).unwrap_or(tauri::http::StatusCode::BAD_REQUEST);
    let h = r.headers_mut();
    h.insert("Content-Type", tauri::http::HeaderValue::from_static("text/plain; charset=utf-8"));
    h.insert("Access-Control-Allow-Origin", tauri::http::HeaderValue::from_static("*"));
    r
}
