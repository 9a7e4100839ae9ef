//! The frame transports' answers: rendered frames for the frame view, over
//! the `frame://` URI scheme or the loopback frame server
//! ([`crate::frame_server`]), as raw RGBA (`application/octet-stream`, size in
//! the `x-frame-width` / `x-frame-height` headers) that the page puts into a
//! canvas with `putImageData`. Raw RGBA costs no encode or decode on either
//! side; the bytes cross the webview boundary once. Zoom and pan are applied
//! by the page on that canvas, so panning never needs a round trip; only a
//! new frame or a mask edit does. The SAM preview comes as a layer of its
//! own (`/<video>/<n>/preview`), cropped to its mask, that the page draws on
//! a canvas over the frame's.
//!
//! What a frame URL asks for and how the frame is drawn is argus-workspace's
//! ([`argus_workspace::frames`]).

use argus_workspace::{ErrorKind, FrameQuery, Workspace, frames};

/// The URI scheme the frame view loads rendered frames from.
pub const SCHEME: &str = "frame";

/// The HTTP answer for a `frame://` request.
pub async fn respond(
    ws: &Workspace,
    path: &str,
    query: Option<&str>,
) -> tauri::http::Response<Vec<u8>> {
    let builder = tauri::http::Response::builder()
        .header("Access-Control-Allow-Origin", "*")
        .header(
            "Access-Control-Expose-Headers",
            "x-frame-width, x-frame-height, x-layer-left, x-layer-top, x-layer-width, x-layer-height",
        );
    // The SAM preview's layer: the crop's size as a frame's, where it goes and
    // the size of the frame it belongs to in x-layer-*.
    let result = match FrameQuery::parse(path, query) {
        Ok(q) if q.layer => frames::render_preview_layer(ws, &q).await.map(|l| {
            let builder = builder
                .header("x-layer-left", l.left.to_string())
                .header("x-layer-top", l.top.to_string())
                .header("x-layer-width", l.width.to_string())
                .header("x-layer-height", l.height.to_string());
            (builder, l.image)
        }),
        Ok(q) => frames::render(ws, &q).await.map(|img| (builder, img)),
        Err(e) => Err(e),
    };
    let response = match result {
        Ok((builder, img)) => builder
            .status(200)
            .header("Content-Type", "application/octet-stream")
            .header("x-frame-width", img.width().to_string())
            .header("x-frame-height", img.height().to_string())
            .body(img.into_vec()),
        Err(e) => {
            let builder = tauri::http::Response::builder().header("Access-Control-Allow-Origin", "*");
            let status = match e.kind {
                ErrorKind::NotFound => 404,
                ErrorKind::Invalid => 400,
                _ => 500,
            };
            let body = serde_json::to_vec(&e).unwrap_or_else(|_| e.message.clone().into_bytes());
            builder
                .status(status)
                .header("Content-Type", "application/json")
                .body(body)
        }
    };
    response.unwrap_or_else(|e| {
        let mut r = tauri::http::Response::new(
            format!("could not build the frame response: {e}").into_bytes(),
        );
        *r.status_mut() = tauri::http::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// The answer while the app is still starting (no state yet).
pub fn not_ready() -> tauri::http::Response<Vec<u8>> {
    let mut r = tauri::http::Response::new(
        b"{\"kind\":\"internal\",\"message\":\"Argus is still starting; try again\"}".to_vec(),
    );
    *r.status_mut() = tauri::http::StatusCode::SERVICE_UNAVAILABLE;
    r
}

