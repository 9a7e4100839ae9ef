//! Hand edits of the annotation workspace: drawn shapes, brush and eraser
//! strokes, holes, copy to the next frame, delete, relabel, and picking the
//! object under the cursor. Each edit is one store command, so one undo
//! step, journalled with its outbox change.

use argus_core::Rle;
use argus_core::geometry::{BBox, Point, Polygon, Polyline};
use argus_core::id::{LabelId, TrackId};
use argus_core::model::{Geometry, Shape, ShapeSource, Timestamp, Track, Video};
use argus_store::{Actor, Command};

use crate::dto::{AcceptTarget, BrushStroke, DrawnShape, Edited, HistoryState, PointPx, ShapeInfo};
use crate::error::{CommandError, CommandResult};
use crate::state::AppState;

/// The most brush positions one stroke may have (the page thins a drag to
/// one position per quarter radius, so a stroke across a 4K frame has a few
/// thousand at most).
pub const MAX_STROKE_POINTS: usize = 20_000;

/// How close (frame pixels) a click must be to a line or keypoint to pick it.
pub const PICK_TOLERANCE: f64 = 6.0;

pub(crate) fn parse_id<T: std::str::FromStr>(what: &str, s: &str) -> CommandResult<T> {
    T::from_str(s).map_err(|_| CommandError::invalid(format!("'{s}' is not a valid {what} id")))
}

fn point(p: &PointPx) -> CommandResult<Point> {
    Point::new(p.x, p.y)
        .map_err(|e| CommandError::invalid(format!("bad point ({}, {}): {e}", p.x, p.y)))
}

fn points(ps: &[PointPx]) -> CommandResult<Vec<Point>> {
    ps.iter().map(point).collect()
}

/// The geometry of a drawn shape, validated by argus-core.
pub fn geometry(drawn: &DrawnShape) -> CommandResult<Geometry> {
    let invalid = |what: &str, e: argus_core::geometry::GeometryError| {
        CommandError::invalid(format!("{what}: {e}"))
    };
    Ok(match drawn {
        DrawnShape::Polygon { exterior, holes } => {
            let holes = holes
                .iter()
                .map(|h| points(h))
                .collect::<CommandResult<Vec<_>>>()?;
            Geometry::Polygon(
                Polygon::new(points(exterior)?, holes).map_err(|e| invalid("polygon", e))?,
            )
        }
        DrawnShape::Bbox { bbox } => Geometry::BBox(
            BBox::new(bbox.x, bbox.y, bbox.width, bbox.height).map_err(|e| invalid("box", e))?,
        ),
        DrawnShape::Polyline { points: ps } => {
            Geometry::Polyline(Polyline::new(points(ps)?).map_err(|e| invalid("polyline", e))?)
        }
        DrawnShape::Points { points: ps } => {
            if ps.is_empty() {
                return Err(CommandError::invalid("points: place at least one point"));
            }
            Geometry::Points(points(ps)?)
        }
    })
}

/// The video, its project's actor (the local user) and the track an edit goes to.
#[derive(Debug)]
pub struct Target {
    pub video: Video,
    pub actor: Actor,
    pub track: Track,
    /// The track does not exist yet: the edit creates it.
    pub is_new: bool,
}

impl Target {
    pub async fn resolve(
        state: &AppState,
        video_id: &str,
        target: &AcceptTarget,
    ) -> CommandResult<Self> {
        let store = state.store();
        let video = store.video(parse_id("video", video_id)?).await?;
        let actor = store.actor(video.project_id, store.local_user()).await?;
        let (track, is_new) = match target {
            AcceptTarget::Track { track_id } => {
                let track = store.track(parse_id::<TrackId>("track", track_id)?).await?;
                if track.video_id != video.id {
                    return Err(CommandError::invalid(
                        "that object belongs to another video",
                    ));
                }
                (track, false)
            }
            AcceptTarget::NewTrack { label_id } => (
                Track::new(
                    video.id,
                    parse_id::<LabelId>("label", label_id)?,
                    Some(actor.user),
                    Timestamp(0),
                ),
                true,
            ),
        };
        Ok(Self {
            video,
            actor,
            track,
            is_new,
        })
    }

    /// An existing object (track) of the video.
    pub async fn track(state: &AppState, video_id: &str, track_id: String) -> CommandResult<Self> {
        Self::resolve(state, video_id, &AcceptTarget::Track { track_id }).await
    }

    /// The track's shape on `frame`, or a not-found error that says `why` it was needed.
    pub async fn shape_needed(
        &self,
        state: &AppState,
        frame: u64,
        why: &str,
    ) -> CommandResult<Shape> {
        self.shape_on(state, frame).await?.ok_or_else(|| {
            CommandError::not_found(format!("the object has no shape on frame {frame} {why}"))
        })
    }

    /// The track's current shape on `frame`, if any.
    pub async fn shape_on(&self, state: &AppState, frame: u64) -> CommandResult<Option<Shape>> {
        if self.is_new {
            return Ok(None);
        }
        Ok(state
            .store()
            .frame_shapes(self.video.id, frame)
            .await?
            .into_iter()
            .find(|s| s.track_id == self.track.id))
    }

    /// Applies `command` on this target; `frame`: report the track's shape there.
    pub async fn apply(
        &self,
        state: &AppState,
        command: Command,
        frame: Option<u64>,
    ) -> CommandResult<Edited> {
        apply(
            state,
            &self.video,
            &self.actor,
            command,
            frame.map(|f| (self.track.id, f)),
        )
        .await
    }

    /// Stores `geometry` as the track's keyframe on `frame` (creating the
    /// track if it is new), replacing what was there. One undo step.
    pub async fn store(
        self,
        state: &AppState,
        frame: u64,
        geometry: Geometry,
        source: ShapeSource,
        score: Option<f32>,
    ) -> CommandResult<Edited> {
        self.video.check_frame(frame)?;
        let shape = Shape {
            score,
            author: Some(self.actor.user),
            ..Shape::keyframe(self.track.id, frame, geometry, source, Timestamp(0))
        };
        let command = if self.is_new {
            Command::CreateTrack {
                track: self.track.clone(),
                shapes: vec![shape],
            }
        } else {
            Command::SetShape { shape }
        };
        self.apply(state, command, Some(frame)).await
    }
}

/// Applies `command` and describes the result (`touched`: the track and
/// the frame whose shape to report back, as stored after the command).
pub async fn apply(
    state: &AppState,
    video: &Video,
    actor: &Actor,
    command: Command,
    touched: Option<(TrackId, u64)>,
) -> CommandResult<Edited> {
    let store = state.store();
    let applied = store.apply_in(video.project_id, actor, command).await?;
    let (undo, redo) = store.history_depth(video.project_id).await?;
    let history = HistoryState {
        summary: applied.summary,
        undo,
        redo,
    };
    let Some((track_id, frame)) = touched else {
        return Ok(Edited {
            track_id: None,
            shape: None,
            history,
        });
    };
    let track = store.track(track_id).await?;
    let schema = store.schema(video.project_id).await?;
    let label = schema.label(track.label_id).ok();
    let shape = store
        .frame_shapes(video.id, frame)
        .await?
        .into_iter()
        .find(|s| s.track_id == track_id);
    Ok(Edited {
        track_id: Some(track_id.to_string()),
        shape: shape.map(|s| ShapeInfo::new(&s, Some(&track), label)),
        history,
    })
}

/// The mask a brush stroke leaves on a shape: painting adds to it (a polygon
/// or box becomes a mask), erasing removes from it. `None` when erasing
/// leaves nothing.
pub fn brushed(
    existing: Option<&Geometry>,
    stroke: &BrushStroke,
    height: u32,
    width: u32,
) -> CommandResult<Option<Rle>> {
    if stroke.points.len() > MAX_STROKE_POINTS {
        return Err(CommandError::invalid(format!(
            "a brush stroke of {} points is too long (at most {MAX_STROKE_POINTS}); release the button and go on with a new stroke",
            stroke.points.len()
        )));
    }
    let dab = Rle::from_stroke(height, width, &points(&stroke.points)?, stroke.radius)
        .map_err(|e| CommandError::invalid(e.to_string()))?;
    let base = match existing {
        None => None,
        Some(Geometry::Mask(m)) => Some(m.clone()),
        Some(Geometry::Polygon(p)) => Some(Rle::from_polygon(height, width, p)?),
        Some(Geometry::BBox(b)) => Some(Rle::from_bbox(height, width, b)?),
        Some(g) => {
            return Err(CommandError::invalid(format!(
                "the brush paints masks; this object is a {} (pick a mask, polygon or box object, or none for a new one)",
                kind_name(g)
            )));
        }
    };
    let out = match (base, stroke.erase) {
        (None, true) => {
            return Err(CommandError::invalid(
                "nothing to erase here: select an object with a mask on this frame first",
            ));
        }
        (None, false) => dab,
        (Some(m), false) => m.union(&dab)?,
        (Some(m), true) => m.difference(&dab)?,
    };
    Ok((!out.is_empty()).then_some(out))
}

/// `ring` cut out of a polygon (as a hole) or a mask (as pixels).
pub fn with_hole(
    existing: &Geometry,
    ring: &[PointPx],
    height: u32,
    width: u32,
) -> CommandResult<Geometry> {
    let ring = points(ring)?;
    let hole = Polygon::new(ring.clone(), Vec::new())
        .map_err(|e| CommandError::invalid(format!("hole: {e}")))?;
    match existing {
        Geometry::Polygon(p) => {
            let mut holes = p.holes.clone();
            holes.push(ring);
            Ok(Geometry::Polygon(
                Polygon::new(p.exterior.clone(), holes)
                    .map_err(|e| CommandError::invalid(format!("hole: {e}")))?,
            ))
        }
        Geometry::Mask(m) => {
            let cut = m.difference(&Rle::from_polygon(height, width, &hole)?)?;
            if cut.is_empty() {
                return Err(CommandError::invalid(
                    "that hole would remove the whole mask; delete the object instead",
                ));
            }
            Ok(Geometry::Mask(cut))
        }
        g => Err(CommandError::invalid(format!(
            "holes can be cut into polygons and masks, not into a {}",
            kind_name(g)
        ))),
    }
}

fn kind_name(g: &Geometry) -> &'static str {
    g.kind().name()
}

/// Whether `(x, y)` (frame pixels, from the page) is on the shape, with
/// [`PICK_TOLERANCE`] for lines and keypoints; a non-finite point hits nothing.
pub fn hits(geometry: &Geometry, x: f64, y: f64) -> bool {
    Point::new(x, y).is_ok_and(|p| geometry.hits(p, PICK_TOLERANCE))
}

/// The attributes after setting `name` to `value` (the object's own, or this
/// frame's for a per-frame attribute), and whether it is per frame.
pub fn set_attribute(
    label: &argus_core::model::Label,
    track_attributes: &argus_core::model::Attributes,
    shape_attributes: Option<&argus_core::model::Attributes>,
    name: &str,
    value: serde_json::Value,
) -> CommandResult<(argus_core::model::Attributes, bool)> {
    let spec = label.attribute(name).ok_or_else(|| {
        CommandError::invalid(format!("label '{}' has no attribute '{name}'", label.name))
    })?;
    let value: argus_core::model::AttributeValue = serde_json::from_value(value).map_err(|_| {
        CommandError::invalid(format!("'{name}' takes a boolean, a number or a text"))
    })?;
    let mut attributes = if spec.per_frame {
        shape_attributes.cloned().ok_or_else(|| {
            CommandError::not_found(format!(
                "'{name}' is set per frame, and the object has no shape on this frame; draw it here first"
            ))
        })?
    } else {
        track_attributes.clone()
    };
    attributes.insert(name.to_owned(), value);
    label.check_attributes(&attributes)?;
    Ok((attributes, spec.per_frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: f64, y: f64) -> PointPx {
        PointPx { x, y }
    }

    #[test]
    fn drawn_shapes_are_validated() {
        let ok = DrawnShape::Polygon {
            exterior: vec![p(0.0, 0.0), p(10.0, 0.0), p(10.0, 10.0)],
            holes: vec![],
        };
        assert!(matches!(geometry(&ok), Ok(Geometry::Polygon(_))));
        for bad in [
            DrawnShape::Polygon {
                exterior: vec![p(0.0, 0.0), p(1.0, 1.0)],
                holes: vec![],
            },
            DrawnShape::Polyline {
                points: vec![p(1.0, 1.0)],
            },
            DrawnShape::Points { points: vec![] },
            DrawnShape::Points {
                points: vec![p(f64::NAN, 1.0)],
            },
            DrawnShape::Bbox {
                bbox: crate::dto::BoxPx {
                    x: 0.0,
                    y: 0.0,
                    width: -1.0,
                    height: 2.0,
                },
            },
        ] {
            let e = geometry(&bad).expect_err(&format!("{bad:?}"));
            assert_eq!(e.kind, crate::ErrorKind::Invalid, "{bad:?}: {e:?}");
        }
    }

    #[test]
    fn brush_paints_erases_and_converts() {
        let stroke = |erase| BrushStroke {
            points: vec![p(10.0, 10.0), p(30.0, 10.0)],
            radius: 3.0,
            erase,
        };
        let painted = brushed(None, &stroke(false), 40, 40)
            .expect("paint")
            .expect("some");
        assert!(painted.area() > 100);
        let erased = brushed(
            Some(&Geometry::Mask(painted.clone())),
            &stroke(true),
            40,
            40,
        )
        .expect("erase");
        assert_eq!(erased, None, "erasing the same stroke leaves nothing");
        let bbox = BBox::new(0.0, 0.0, 40.0, 5.0).expect("box");
        let grown = brushed(Some(&Geometry::BBox(bbox)), &stroke(false), 40, 40)
            .expect("paint")
            .expect("some");
        assert_eq!(
            grown.area(),
            painted
                .union(&Rle::from_bbox(40, 40, &bbox).expect("r"))
                .expect("u")
                .area()
        );
        assert!(
            brushed(None, &stroke(true), 40, 40).is_err(),
            "nothing to erase"
        );
        let long = BrushStroke {
            points: vec![p(1.0, 1.0); MAX_STROKE_POINTS + 1],
            radius: 2.0,
            erase: false,
        };
        assert_eq!(
            brushed(None, &long, 40, 40).expect_err("too long").kind,
            crate::ErrorKind::Invalid
        );
        let line = Geometry::Polyline(
            Polyline::new(vec![
                Point::new(0.0, 0.0).expect("p"),
                Point::new(5.0, 5.0).expect("p"),
            ])
            .expect("l"),
        );
        assert!(
            brushed(Some(&line), &stroke(false), 40, 40).is_err(),
            "the brush does not paint lines"
        );
    }

    #[test]
    fn holes_go_into_polygons_and_masks() {
        let outer = Polygon::new(
            vec![
                Point::new(0.0, 0.0).expect("p"),
                Point::new(20.0, 0.0).expect("p"),
                Point::new(20.0, 20.0).expect("p"),
                Point::new(0.0, 20.0).expect("p"),
            ],
            vec![],
        )
        .expect("polygon");
        let ring = [p(5.0, 5.0), p(15.0, 5.0), p(15.0, 15.0), p(5.0, 15.0)];
        let Geometry::Polygon(with) =
            with_hole(&Geometry::Polygon(outer.clone()), &ring, 30, 30).expect("hole")
        else {
            panic!("still a polygon");
        };
        assert_eq!(with.holes.len(), 1);
        assert!(hits(&Geometry::Polygon(with.clone()), 2.0, 2.0));
        assert!(
            !hits(&Geometry::Polygon(with), 10.0, 10.0),
            "the hole is not part of the shape"
        );
        let mask = Rle::from_polygon(30, 30, &outer).expect("mask");
        let Geometry::Mask(cut) = with_hole(&Geometry::Mask(mask), &ring, 30, 30).expect("hole")
        else {
            panic!("still a mask");
        };
        assert_eq!(cut.area(), 400 - 100);
        assert!(hits(&Geometry::Mask(cut.clone()), 1.5, 1.5));
        assert!(!hits(&Geometry::Mask(cut), 10.0, 10.0));
    }

    #[test]
    fn picking_lines_and_points_has_a_tolerance() {
        let line = Geometry::Polyline(
            Polyline::new(vec![
                Point::new(0.0, 0.0).expect("p"),
                Point::new(100.0, 0.0).expect("p"),
            ])
            .expect("l"),
        );
        assert!(hits(&line, 50.0, 4.0));
        assert!(!hits(&line, 50.0, 10.0));
        let pts = Geometry::Points(vec![Point::new(10.0, 10.0).expect("p")]);
        assert!(hits(&pts, 13.0, 13.0));
        assert!(!hits(&pts, 20.0, 20.0));
    }
}
