//! Frame composition: what the frame view asks for ([`FrameQuery`], the
//! path and query of its frame URL), and the frame drawn for it: decoded at
//! the size asked for, with its masks, vector shapes (polygons, boxes,
//! polylines, points) and the pending SAM preview composited by argus-render
//! ([`Compositor`]) as raw RGBA.
//!
//! The page asks for `<base>/<video-id>/<n>?sel=<track-id>&hide=<ids>&preview=<rank>&rev=<r>&scale=<s>&ahead=1`
//! over one of the desktop app's frame transports. A frame with nothing to
//! draw over it is scaled by the decoder and sent as is; otherwise
//! argus-render composites the full frame into the scaled output.
//!
//! The SAM preview has a path of its own, `<base>/<video-id>/<n>/preview?preview=<rank>&scale=<s>`
//! ([`render_preview_layer`]): only the candidate's mask, as a transparent
//! layer cropped to it, which the page draws over the frame it already has.
//! A click then moves a few kilobytes, not a composited frame.

use std::str::FromStr;

use argus_core::Rle;
use argus_core::geometry::{BBox, Point, Polygon, Polyline};
use argus_core::id::{TrackId, VideoId};
use argus_core::model::{Geometry, ShapeSource};
use argus_render::{
    MaskScene, MaskStyle, ObjectId, OutputSpec, Overlay, RgbaFrame, RgbaImage, Stroke,
    ViewTransform,
};

use crate::Workspace;
use crate::error::{CommandError, CommandResult};
use crate::videos::DisplayFrame;

/// Fill opacity of interpolated and propagated masks (a person's: 0.4).
pub const DERIVED_OPACITY: f32 = 0.22;

/// Object id of the pending SAM preview in the scene (above every track).
const PREVIEW_OBJECT: ObjectId = ObjectId(u64::MAX);

/// What the frame view asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameQuery {
    pub video: VideoId,
    pub frame: u64,
    /// Highlighted track.
    pub selected: Option<TrackId>,
    /// SAM candidate to overlay, if a prediction is pending on this frame.
    pub preview: Option<usize>,
    /// Tracks not to draw (hidden in the object list).
    pub hidden: Vec<TrackId>,
    /// Output size as a fraction of the display size, in (0, 1]: the frame
    /// view asks for what it shows (half size when the frame is fitted at
    /// 50%), so decoding, compositing and moving pixels cost less.
    pub scale: f64,
    /// The frame view is stepping through the video (`ahead=1`): decode on
    /// its decode-ahead decoder. Other requests (posters) use the shared one.
    pub ahead: bool,
    /// Only the SAM preview's layer (`/<video>/<n>/preview`), not the frame;
    /// `preview` is then required.
    pub layer: bool,
}

impl FrameQuery {
    /// Frame `frame` of `video`, nothing selected, hidden or previewed.
    pub fn new(video: VideoId, frame: u64) -> Self {
        Self {
            video,
            frame,
            selected: None,
            preview: None,
            hidden: Vec::new(),
            scale: 1.0,
            ahead: false,
            layer: false,
        }
    }

    /// The output size for a frame of `width` x `height` display pixels.
    pub fn output_size(&self, width: u32, height: u32) -> (u32, u32) {
        let s = |v: u32| ((f64::from(v) * self.scale).round() as u32).clamp(1, v.max(1));
        (s(width), s(height))
    }

    /// Parses the path and query of a frame URL: `/<video>/<n>?sel=..&preview=..`,
    /// or `/<video>/<n>/preview?preview=<rank>` for the preview's layer.
    /// Unknown query keys (such as the cache-busting `rev`) are ignored.
    pub fn parse(path: &str, query: Option<&str>) -> CommandResult<Self> {
        let bad = |why: &str| CommandError::invalid(format!("bad frame request ({why}): {path}"));
        let mut parts = path.trim_start_matches('/').split('/');
        let (Some(video), Some(frame), layer, None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected /<video-id>/<frame> or /<video-id>/<frame>/preview"));
        };
        let layer = match layer {
            None => false,
            Some("preview") => true,
            Some(_) => return Err(bad("expected /<video-id>/<frame> or /<video-id>/<frame>/preview")),
        };
        let video = VideoId::from_str(video).map_err(|_| bad("the video id is not an id"))?;
        let frame = frame
            .parse::<u64>()
            .map_err(|_| bad("the frame is not a number"))?;
        let mut q = Self::new(video, frame);
        // URLSearchParams encodes ',' in `hide` as %2C.
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let value = value.as_ref();
            match key.as_ref() {
                "sel" if !value.is_empty() => {
                    q.selected =
                        Some(TrackId::from_str(value).map_err(|_| bad("sel is not a track id"))?);
                }
                "hide" => {
                    for id in value.split(',').filter(|v| !v.is_empty()) {
                        q.hidden.push(
                            TrackId::from_str(id)
                                .map_err(|_| bad("hide is not a list of track ids"))?,
                        );
                    }
                }
                "scale" if !value.is_empty() => {
                    let scale: f64 = value.parse().map_err(|_| bad("scale is not a number"))?;
                    if !(scale > 0.0 && scale <= 1.0) {
                        return Err(bad("scale must be in (0, 1]"));
                    }
                    q.scale = scale;
                }
                "ahead" => q.ahead = value == "1",
                "preview" if !value.is_empty() => {
                    q.preview = Some(
                        value
                            .parse()
                            .map_err(|_| bad("preview is not a candidate rank"))?,
                    );
                }
                _ => {}
            }
        }
        q.layer = layer;
        if layer && q.preview.is_none() {
            return Err(bad("a preview layer needs preview=<rank>"));
        }
        Ok(q)
    }
}

/// The SAM preview drawn on its own ([`render_preview_layer`]): `image`
/// (straight-alpha RGBA) belongs at (`left`, `top`) of a frame of
/// `width` x `height`, the size the frame view asked for.
#[derive(Debug, Clone)]
pub struct PreviewLayer {
    pub left: u32,
    pub top: u32,
    pub width: u32,
    pub height: u32,
    pub image: RgbaImage,
}

/// How the pending SAM preview is drawn, in the frame and as a layer.
fn preview_style() -> MaskStyle {
    MaskStyle {
        color: [255, 255, 255],
        opacity: 0.5,
        outline_width: 2,
        selected: true,
        ..MaskStyle::default()
    }
}

/// The layer of candidate `query.preview` of the SAM preview pending on
/// `query.frame`, at the size `query.scale` asks for: its mask in the
/// preview's style over transparency, cropped to the mask (a 1x1
/// transparent image for an empty mask). Not found when no prediction is
/// pending there (one was accepted or dropped since).
pub async fn render_preview_layer(ws: &Workspace, query: &FrameQuery) -> CommandResult<PreviewLayer> {
    let video = ws.store().video(query.video).await?;
    video.check_frame(query.frame)?;
    let rank = query
        .preview
        .ok_or_else(|| CommandError::invalid("a preview layer needs preview=<rank>"))?;
    let (dw, dh) = video.display_size();
    let (width, height) = query.output_size(dw, dh);
    let (video_id, frame) = (query.video, query.frame);
    ws.blocking(move |ws| {
        let t0 = std::time::Instant::now();
        let rle = ws.sam().preview_mask(video_id, frame, rank).ok_or_else(|| {
            CommandError::not_found(format!(
                "there is no SAM preview with candidate {rank} on frame {frame}; click on the object again"
            ))
        })?;
        let mut scene = MaskScene::new(width, height)?;
        scene.insert(PREVIEW_OBJECT, rle.resample(height, width)?, preview_style())?;
        let layer = argus_render::cpu::mask_layer(&mut scene)?;
        tracing::debug!(frame, layer_ms = t0.elapsed().as_secs_f64() * 1e3, "SAM preview layer drawn");
        Ok(match layer {
            Some(l) => PreviewLayer { left: l.left, top: l.top, width, height, image: l.image },
            None => PreviewLayer { left: 0, top: 0, width, height, image: RgbaImage::filled(1, 1, [0, 0, 0, 0])? },
        })
    })
    .await
}


/// The adapter argus-render would use, probed once per process (the app's
/// start-up decides WebKit's compositing with it, the compositor its path).
pub fn adapter_probe() -> &'static Result<argus_render::AdapterSummary, String> {
    static PROBE: std::sync::OnceLock<Result<argus_render::AdapterSummary, String>> =
        std::sync::OnceLock::new();
    PROBE.get_or_init(|| argus_render::gpu::probe().map_err(|e| e.to_string()))
}

/// Draws frames with masks: on the GPU through argus-render, or with
/// argus-render's fast CPU path (`cpu::composite_in_place`, the same pixels)
/// when there is no hardware adapter. On a software rasteriser (Mesa
/// lavapipe or llvmpipe) the GPU path shades every pixel on the CPU and costs
/// tens of milliseconds a frame, while the CPU path touches only the pixels
/// under masks, so it is the default there (`ARGUS_RENDER=gpu` forces wgpu,
/// `ARGUS_RENDER=cpu` the CPU path).
pub enum Compositor {
    Gpu(Box<argus_render::Renderer>),
    Cpu { reason: String },
}

impl std::fmt::Debug for Compositor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Compositor {
    /// The GPU renderer on a hardware adapter, else the CPU path (see the type).
    pub fn new() -> Self {
        let choice = std::env::var("ARGUS_RENDER").unwrap_or_default();
        if choice.eq_ignore_ascii_case("cpu") {
            return Self::Cpu {
                reason: "ARGUS_RENDER=cpu".into(),
            };
        }
        let forced_gpu = choice.eq_ignore_ascii_case("gpu");
        // The start-up probe already knows a software rasteriser: no device for it.
        if let Ok(adapter) = adapter_probe()
            && adapter.is_cpu
            && !forced_gpu
        {
            return Self::software(&adapter.name);
        }
        match argus_render::Renderer::new_headless() {
            Ok(r) if r.adapter().is_cpu && !forced_gpu => Self::software(&r.adapter().name),
            Ok(r) => Self::Gpu(Box::new(r)),
            Err(e) => {
                tracing::warn!("no GPU renderer, drawing on the CPU: {e}");
                Self::Cpu {
                    reason: e.to_string(),
                }
            }
        }
    }

    fn software(adapter: &str) -> Self {
        Self::Cpu {
            reason: format!(
                "{adapter} is a software rasteriser, slower than compositing on the CPU; ARGUS_RENDER=gpu uses it anyway"
            ),
        }
    }

    /// One line for the About box and logs.
    pub fn describe(&self) -> String {
        match self {
            Self::Gpu(r) => format!("GPU: {}", r.adapter().name),
            Self::Cpu { reason } => format!("CPU ({reason})"),
        }
    }

    /// Draws the scene and overlays over `frame`, at the frame's size (the
    /// frame, masks and overlays are already at the size the view asked for).
    pub(crate) fn composite(
        &mut self,
        frame: DisplayFrame,
        scene: &mut MaskScene,
        overlays: &[Overlay],
    ) -> CommandResult<RgbaImage> {
        if let Self::Gpu(r) = self {
            let input = RgbaFrame::packed(frame.width, frame.height, &frame.rgba);
            let out = OutputSpec::new(frame.width, frame.height);
            let drawn = r
                .upload_frame(&argus_render::FrameInput::Rgba(input))
                .and_then(|()| r.render(scene, overlays, &ViewTransform::IDENTITY, &out));
            match drawn {
                Ok(img) => return Ok(img),
                Err(e) => tracing::warn!("GPU render failed, using the CPU for this frame: {e}"),
            }
        }
        let mut img = RgbaImage::from_vec(frame.width, frame.height, frame.rgba)?;
        argus_render::cpu::composite_in_place(&mut img, scene, overlays)?;
        Ok(img)
    }
}

impl Default for Compositor {
    fn default() -> Self {
        Self::new()
    }
}

fn rgb(colour: &argus_core::model::Colour) -> [u8; 3] {
    [colour.r, colour.g, colour.b]
}

/// Renders `query`: decodes the frame, composites its masks (and the SAM
/// preview), returns RGBA at display size.
pub async fn render(ws: &Workspace, query: &FrameQuery) -> CommandResult<RgbaImage> {
    let t_start = std::time::Instant::now();
    let store = ws.store();
    let video = store.video(query.video).await?;
    video.check_frame(query.frame)?;
    let shapes = ws.frame_shapes_derived(video.id, query.frame).await?;
    let tracks = store.tracks(video.id).await?;
    let schema = store.schema(video.project_id).await?;
    let mut masks: Vec<(ObjectId, Rle, MaskStyle)> = Vec::new();
    let mut overlays: Vec<Overlay> = Vec::new();
    for shape in shapes {
        if query.hidden.contains(&shape.track_id) {
            continue;
        }
        let Some((index, track)) = tracks
            .iter()
            .enumerate()
            .find(|(_, t)| t.id == shape.track_id)
        else {
            continue;
        };
        let colour = schema
            .label(track.label_id)
            .map(|l| rgb(&l.colour))
            .unwrap_or([255, 64, 64]);
        let selected = query.selected == Some(track.id);
        // Interpolated and propagated shapes (made by the tool, not a
        // person) are drawn apart: a lighter fill and a thinner line.
        let derived = matches!(shape.source, ShapeSource::Interpolated | ShapeSource::Propagated);
        let stroke = Stroke {
            color: [colour[0], colour[1], colour[2], if derived { 190 } else { 255 }],
            width: match (selected, derived) {
                (true, _) => 3.5,
                (false, false) => 2.0,
                (false, true) => 1.25,
            },
        };
        match shape.geometry {
            Geometry::Mask(rle) => {
                let style = MaskStyle {
                    color: colour,
                    selected,
                    opacity: if derived { DERIVED_OPACITY } else { MaskStyle::default().opacity },
                    ..MaskStyle::default()
                };
                masks.push((ObjectId(index as u64), rle, style));
            }
            Geometry::Polygon(polygon) => {
                overlays.push(Overlay::FilledPolygon {
                    polygon: polygon.clone(),
                    fill: [
                        colour[0],
                        colour[1],
                        colour[2],
                        match (selected, derived) {
                            (true, _) => 110,
                            (false, false) => 70,
                            (false, true) => 40,
                        },
                    ],
                });
                overlays.push(Overlay::Polygon { polygon, stroke });
            }
            Geometry::BBox(bbox) => overlays.push(Overlay::Box { bbox, stroke }),
            Geometry::Polyline(polyline) => overlays.push(Overlay::Polyline { polyline, stroke }),
            Geometry::Points(points) => overlays.push(Overlay::Points {
                points,
                radius: if selected { 5.0 } else { 4.0 },
                color: stroke.color,
            }),
        }
    }
    if query.ahead {
        ws.sam().view_moved(query.video, query.frame);
    }
    let preview_rank = query.preview;
    let video_id = query.video;
    let frame_index = query.frame;
    let ahead = query.ahead;
    let (dw, dh) = video.display_size();
    let out_size = query.output_size(dw, dh);
    let t_queries = t_start.elapsed();
    if masks.is_empty() && overlays.is_empty() && preview_rank.is_none() {
        // Nothing to draw over the frame: the decoder scales it, no compositing.
        return ws
            .blocking(move |ws| {
                let t0 = std::time::Instant::now();
                let frame = ws.videos().frame_for(&video, frame_index, out_size, ahead)?;
                tracing::debug!(
                    frame = frame_index,
                    queries_ms = t_queries.as_secs_f64() * 1e3,
                    decode_ms = t0.elapsed().as_secs_f64() * 1e3,
                    "frame served without overlays"
                );
                Ok(RgbaImage::from_vec(frame.width, frame.height, frame.rgba)?)
            })
            .await;
    }
    // Everything at the output size: the decoder scales the frame, masks are
    // resampled on their runs and overlays scaled, so compositing, read-back
    // and the transfer to the page shrink with the view.
    let (sx, sy) = (
        f64::from(out_size.0) / f64::from(dw.max(1)),
        f64::from(out_size.1) / f64::from(dh.max(1)),
    );
    let overlays: Vec<Overlay> = if out_size == (dw, dh) {
        overlays
    } else {
        overlays
            .into_iter()
            .map(|o| scale_overlay(o, sx, sy))
            .collect()
    };
    ws.blocking(move |ws| {
            let t0 = std::time::Instant::now();
            // The SAM preview's mask is built here the first time a candidate
            // is shown (a click builds only the best one), off the async runtime.
            let preview =
                preview_rank.and_then(|rank| ws.sam().preview_mask(video_id, frame_index, rank));
            if let Some(rle) = preview {
                masks.push((PREVIEW_OBJECT, rle, preview_style()));
            }
            let frame = ws.videos().frame_for(&video, frame_index, out_size, ahead)?;
            let t_decode = t0.elapsed();
            let mut scene = MaskScene::new(frame.width, frame.height)?;
            for (id, rle, style) in masks {
                scene.insert(id, rle.resample(frame.height, frame.width)?, style)?;
            }
            scene.prepare();
            let out = ws.composite(frame, &mut scene, &overlays);
            tracing::debug!(
                frame = frame_index,
                queries_ms = t_queries.as_secs_f64() * 1e3,
                decode_ms = t_decode.as_secs_f64() * 1e3,
                composite_ms = (t0.elapsed() - t_decode).as_secs_f64() * 1e3,
                "frame rendered"
            );
            out
        })
        .await
}

/// An overlay in a frame scaled by `(sx, sy)` (line widths are in output
/// pixels already and stay).
fn scale_overlay(o: Overlay, sx: f64, sy: f64) -> Overlay {
    let p = |q: &Point| Point::new(q.x * sx, q.y * sy).unwrap_or(*q);
    let ring = |r: &[Point]| r.iter().map(p).collect::<Vec<_>>();
    let polygon = |g: &Polygon| Polygon {
        exterior: ring(&g.exterior),
        holes: g.holes.iter().map(|h| ring(h)).collect(),
    };
    match o {
        Overlay::Polygon { polygon: g, stroke } => Overlay::Polygon {
            polygon: polygon(&g),
            stroke,
        },
        Overlay::FilledPolygon { polygon: g, fill } => Overlay::FilledPolygon {
            polygon: polygon(&g),
            fill,
        },
        Overlay::Box { bbox, stroke } => Overlay::Box {
            bbox: BBox::new(bbox.x * sx, bbox.y * sy, bbox.width * sx, bbox.height * sy)
                .unwrap_or(bbox),
            stroke,
        },
        Overlay::Points {
            points,
            radius,
            color,
        } => Overlay::Points {
            points: ring(&points),
            radius,
            color,
        },
        Overlay::Polyline { polyline, stroke } => Overlay::Polyline {
            polyline: Polyline {
                points: ring(&polyline.points),
            },
            stroke,
        },
        Overlay::BrushCursor {
            center,
            radius,
            stroke,
        } => Overlay::BrushCursor {
            center: p(&center),
            radius: radius * sx,
            stroke,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_urls_parse() {
        let v = VideoId::new();
        let t = TrackId::new();
        let q = FrameQuery::parse(
            &format!("/{v}/12"),
            Some(&format!("sel={t}&preview=1&rev=7")),
        )
        .expect("parses");
        assert_eq!(
            q,
            FrameQuery {
                video: v,
                frame: 12,
                selected: Some(t),
                preview: Some(1),
                hidden: Vec::new(),
                scale: 1.0,
                ahead: false,
                layer: false,
            }
        );
        // The SAM preview's layer: its own path, the rank required.
        let q = FrameQuery::parse(&format!("/{v}/12/preview"), Some("preview=2&scale=0.5")).expect("parses");
        assert!(q.layer && q.preview == Some(2) && q.scale == 0.5);
        assert!(FrameQuery::parse(&format!("/{v}/12/preview"), None).is_err());
        assert!(FrameQuery::parse(&format!("/{v}/12/preview"), Some("preview=")).is_err());
        assert!(
            FrameQuery::parse(&format!("/{v}/1"), Some("ahead=1"))
                .expect("parses")
                .ahead
        );
        let q = FrameQuery::parse(&format!("/{v}/0"), None).expect("parses");
        assert_eq!((q.frame, q.selected, q.preview), (0, None, None));
        for bad in [
            format!("/{v}"),
            format!("/{v}/x"),
            format!("/{v}/1/2"),
            format!("/{v}/1/preview/2"),
            "/nope/1".to_string(),
        ] {
            let e = FrameQuery::parse(&bad, None).expect_err(&bad);
            assert_eq!(e.kind, crate::ErrorKind::Invalid, "{bad}");
        }
        assert!(FrameQuery::parse(&format!("/{v}/1"), Some("sel=zzz")).is_err());
        let h = TrackId::new();
        let q =
            FrameQuery::parse(&format!("/{v}/1"), Some(&format!("hide={t},{h}"))).expect("parses");
        assert_eq!(q.hidden, vec![t, h]);
        assert!(FrameQuery::parse(&format!("/{v}/1"), Some("hide=zzz")).is_err());
        // As URLSearchParams writes it.
        let q = FrameQuery::parse(&format!("/{v}/1"), Some(&format!("hide={t}%2C{h}")))
            .expect("parses");
        assert_eq!(q.hidden, vec![t, h]);
        // A selection that is not UTF-8 after decoding is refused.
        assert!(FrameQuery::parse(&format!("/{v}/1"), Some("sel=%ff")).is_err());
        // `+` is a space in form encoding.
        assert!(FrameQuery::parse(&format!("/{v}/1"), Some("rev=a+b&ahead=1")).expect("parses").ahead);
        let q = FrameQuery::parse(&format!("/{v}/1"), Some("scale=0.5")).expect("parses");
        assert_eq!(q.output_size(1920, 1080), (960, 540));
        assert_eq!(q.output_size(1, 1), (1, 1));
        for bad in ["scale=0", "scale=1.5", "scale=-1", "scale=x", "scale=NaN"] {
            assert!(
                FrameQuery::parse(&format!("/{v}/1"), Some(bad)).is_err(),
                "{bad}"
            );
        }
        assert!(FrameQuery::parse(&format!("/{v}/1"), Some("preview=-1")).is_err());
    }
}
