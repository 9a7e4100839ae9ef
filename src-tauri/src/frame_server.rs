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
//! so other local users and web pages cannot read the project's frames. It
//! speaks just enough HTTP/1.1 for `fetch`: `GET` (and `HEAD`/`OPTIONS`),
//! keep-alive, `Content-Length` bodies. The answers are exactly those of the
//! `frame://` scheme ([`crate::frames::respond`]).
//!
//! `ARGUS_FRAME_TRANSPORT=scheme` turns it off (the page then uses `frame://`);
//! `make bench ONLY=app` measures both.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::Duration;

use crate::state::AppState;

/// The longest request head accepted (request line and headers).
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// How long an idle keep-alive connection stays open.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

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
    pub fn base(&self, state: &AppState) -> Option<String> {
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

/// Binds a port on 127.0.0.1 and serves frames from `state` on background
/// threads (one per connection; the webview opens a handful).
pub fn start(state: AppState) -> std::io::Result<FrameServer> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let port = listener.local_addr()?.port();
    let token = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("/{token}/");
    let base = format!("http://127.0.0.1:{port}{prefix}");
    std::thread::Builder::new()
        .name("frame-server".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(stream) => {
                        let state = state.clone();
                        let prefix = prefix.clone();
                        let spawned = std::thread::Builder::new()
                            .name("frame-conn".into())
                            .spawn(move || serve_connection(stream, &state, &prefix));
                        if let Err(e) = spawned {
                            tracing::warn!("frame server: no thread for a connection: {e}");
                        }
                    }
                    Err(e) => tracing::debug!("frame server: accept failed: {e}"),
                }
            }
        })?;
    Ok(FrameServer { base })
}

/// One parsed request head.
#[derive(Debug, PartialEq)]
struct Head {
    method: String,
    target: String,
    keep_alive: bool,
    content_length: usize,
}

/// Why a request could not be read.
#[derive(Debug, PartialEq)]
enum HeadError {
    /// The peer closed the connection (cleanly, between requests).
    Closed,
    /// Not HTTP/1.x, too long or malformed: answered with 400, then closed.
    Bad(&'static str),
}

fn read_head(reader: &mut impl BufRead) -> Result<Head, HeadError> {
    let mut line = String::new();
    let mut total = 0usize;
    let mut read_line = |line: &mut String| -> Result<usize, HeadError> {
        line.clear();
        let limit = (MAX_HEAD_BYTES - total.min(MAX_HEAD_BYTES)) as u64;
        let n = std::io::Read::take(&mut *reader, limit)
            .read_line(line)
            .map_err(|_| HeadError::Closed)?;
        total += n;
        if n > 0 && !line.ends_with('\n') {
            return Err(HeadError::Bad("the request head is too long"));
        }
        Ok(n)
    };
    // Tolerate blank lines before the request line (RFC 9112 §2.2).
    loop {
        if read_line(&mut line)? == 0 {
            return Err(HeadError::Closed);
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_ascii_whitespace();
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Bad(
            "the request line is not 'METHOD target HTTP/1.x'",
        ));
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(HeadError::Bad("only HTTP/1.0 and HTTP/1.1 are spoken here")),
    };
    let mut head = Head {
        method: method.to_owned(),
        target: target.to_owned(),
        keep_alive: http11,
        content_length: 0,
    };
    loop {
        if read_line(&mut line)? == 0 {
            return Err(HeadError::Bad("the request head ended early"));
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            return Ok(head);
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(HeadError::Bad("a header line has no ':'"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.contains("close") {
                head.keep_alive = false;
            } else if v.contains("keep-alive") {
                head.keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            head.content_length = value
                .parse()
                .map_err(|_| HeadError::Bad("Content-Length is not a number"))?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HeadError::Bad("request bodies are not accepted"));
        }
    }
}

fn serve_connection(stream: TcpStream, state: &AppState, prefix: &str) {
    // Frames are one large write after a small request: no Nagle delays.
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut writer = std::io::BufWriter::with_capacity(64 * 1024, write_half);
    let mut reader = BufReader::new(stream);
    loop {
        let head = match read_head(&mut reader) {
            Ok(h) => h,
            Err(HeadError::Closed) => return,
            Err(HeadError::Bad(why)) => {
                let _ = write_response(&mut writer, &plain(400, why), true, true);
                close_after_error(reader.get_ref());
                return;
            }
        };
        if head.content_length > 0 {
            let _ = write_response(
                &mut writer,
                &plain(400, "request bodies are not accepted"),
                true,
                true,
            );
            close_after_error(reader.get_ref());
            return;
        }
        let started = std::time::Instant::now();
        let mut response = answer(state, prefix, &head);
        // The page's Resource Timing shows where a frame's time went
        // (`make bench ONLY=app` reports it).
        if let Ok(v) = tauri::http::HeaderValue::from_str(&format!(
            "render;dur={:.1}",
            started.elapsed().as_secs_f64() * 1e3
        )) {
            response.headers_mut().insert("Server-Timing", v);
        }
        let with_body = head.method != "HEAD";
        if write_response(&mut writer, &response, with_body, !head.keep_alive).is_err()
            || !head.keep_alive
        {
            // The page gave up on this frame (a newer one was asked for) or
            // the connection is done.
            return;
        }
    }
}

/// Ends a connection after an error answer without losing it: closing a
/// socket with unread request bytes makes the OS reset the connection, which
/// can discard the answer before the client reads it. So the write side is
/// shut first and what the client still sends is drained (briefly).
fn close_after_error(stream: &TcpStream) {
    use std::io::Read;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(250)));
    let mut sink = [0u8; 4096];
    let mut left: usize = 64 * 1024;
    let mut s = stream;
    while left > 0 {
        match s.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// The answer to one request.
fn answer(state: &AppState, prefix: &str, head: &Head) -> tauri::http::Response<Vec<u8>> {
    let (path, query) = match head.target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (head.target.as_str(), None),
    };
    // Unknown paths (no or a wrong token) look like nothing is here.
    let Some(rest) = path.strip_prefix(prefix) else {
        return plain(404, "not found");
    };
    match head.method.as_str() {
        "GET" | "HEAD" => tauri::async_runtime::block_on(crate::frames::respond(
            state,
            &format!("/{rest}"),
            query,
        )),
        "OPTIONS" => {
            let mut r = plain(204, "");
            r.headers_mut().insert(
                "Access-Control-Allow-Methods",
                tauri::http::HeaderValue::from_static("GET, HEAD, OPTIONS"),
            );
            r
        }
        _ => plain(405, "only GET, HEAD and OPTIONS are served"),
    }
}

/// A short text answer, readable to the page (CORS allowed).
fn plain(status: u16, text: &str) -> tauri::http::Response<Vec<u8>> {
    let mut r = tauri::http::Response::new(text.as_bytes().to_vec());
    *r.status_mut() =
        tauri::http::StatusCode::from_u16(status).unwrap_or(tauri::http::StatusCode::BAD_REQUEST);
    let h = r.headers_mut();
    h.insert(
        "Content-Type",
        tauri::http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        "Access-Control-Allow-Origin",
        tauri::http::HeaderValue::from_static("*"),
    );
    r
}

/// Headers every answer carries.
fn common_headers(w: &mut impl Write) -> std::io::Result<()> {
    w.write_all(b"Cache-Control: no-store\r\nTiming-Allow-Origin: *\r\n")
}

fn write_response(
    w: &mut impl Write,
    r: &tauri::http::Response<Vec<u8>>,
    with_body: bool,
    close: bool,
) -> std::io::Result<()> {
    let status = r.status();
    write!(
        w,
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )?;
    for (name, value) in r.headers() {
        if name == "content-length" || name == "connection" {
            continue;
        }
        w.write_all(name.as_str().as_bytes())?;
        w.write_all(b": ")?;
        w.write_all(value.as_bytes())?;
        w.write_all(b"\r\n")?;
    }
    common_headers(w)?;
    write!(
        w,
        "Content-Length: {}\r\nConnection: {}\r\n\r\n",
        r.body().len(),
        if close { "close" } else { "keep-alive" }
    )?;
    if with_body {
        w.write_all(r.body())?;
    }
    w.flush()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Head, HeadError> {
        read_head(&mut std::io::Cursor::new(text.as_bytes().to_vec()))
    }

    #[test]
    fn request_heads_parse() {
        let h = head("GET /t/v/1?scale=0.5 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n").unwrap();
        assert_eq!(
            h,
            Head {
                method: "GET".into(),
                target: "/t/v/1?scale=0.5".into(),
                keep_alive: true,
                content_length: 0
            }
        );
        assert!(
            !head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
                .unwrap()
                .keep_alive
        );
        assert!(!head("GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
        assert!(
            head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
                .unwrap()
                .keep_alive
        );
        assert_eq!(head("\r\nGET / HTTP/1.1\r\n\r\n").unwrap().target, "/");
        assert_eq!(head(""), Err(HeadError::Closed));
        for bad in [
            "GET /\r\n\r\n",
            "GET / HTTP/2\r\n\r\n",
            "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\n",
        ] {
            assert!(matches!(head(bad), Err(HeadError::Bad(_))), "{bad:?}");
        }
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_HEAD_BYTES));
        assert_eq!(
            head(&long),
            Err(HeadError::Bad("the request head is too long"))
        );
    }
}
