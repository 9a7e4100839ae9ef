//! Hand edits of the annotation workspace: drawn shapes, brush and eraser
//! strokes, holes, copy to the next frame, delete, relabel, and picking the
//! object under the cursor. Each edit is one store command, so one undo
//! step, journalled with its outbox change.

use argus_core::Rle;
use argus_core::geometry::{BBox, Point, Polygon, Polyline};
use argus_core::id::{LabelId, TrackId, VideoId};
use argus_core::model::{Geometry, Shape, ShapeSource, Timestamp, Track, Video};
use argus_store::{Actor, Command, Store};

use crate::Workspace;
use crate::dto::{
    AcceptTarget, Accepted, BrushStroke, DrawnShape, Edited, HistoryState, PointPx, ShapeInfo,
};
use crate::error::{CommandError, CommandResult};

/// The most brush positions one stroke may have (the page thins a drag to
/// one position per quarter radius, so a stroke across a 4K frame has a few
/// thousand at most).
pub const MAX_STROKE_POINTS: usize = 20_000;

/// How close (frame pixels) a click must be to a line or keypoint to pick it.
pub const PICK_TOLERANCE: f64 = 6.0;

/// `s` as the id of a `what`, or an invalid-input error that says so.
pub fn parse_id<T: std::str::FromStr>(what: &str, s: &str) -> CommandResult<T> {
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
    pub async fn resolve(store: &Store, video_id: &str, target: &AcceptTarget) -> CommandResult<Self> {
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
    pub async fn track(store: &Store, video_id: &str, track_id: &str) -> CommandResult<Self> {
        let target = AcceptTarget::Track {
            track_id: track_id.to_owned(),
        };
        Self::resolve(store, video_id, &target).await
    }

    /// The track's shape on `frame`, or a not-found error that says `why` it was needed.
    pub async fn shape_needed(
        &self,
        store: &Store,
        frame: u64,
        why: &str,
    ) -> CommandResult<Shape> {
        self.shape_on(store, frame).await?.ok_or_else(|| {
            CommandError::not_found(format!("the object has no shape on frame {frame} {why}"))
        })
    }

    /// The track's current shape on `frame`, if any: stored, or
    /// interpolated between keyframes (an edit stores it as a keyframe).
    pub async fn shape_on(&self, store: &Store, frame: u64) -> CommandResult<Option<Shape>> {
        if self.is_new {
            return Ok(None);
        }
        track_shape_on(store, self.video.id, self.track.id, frame).await
    }

    /// Applies `command` on this target; `frame`: report the track's shape there.
    pub async fn apply(
        &self,
        store: &Store,
        command: Command,
        frame: Option<u64>,
    ) -> CommandResult<Edited> {
        apply(
            store,
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
        store: &Store,
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
        self.apply(store, command, Some(frame)).await
    }
}

/// `track`'s shape on `frame` of `video`, stored or interpolated.
async fn track_shape_on(store: &Store, video: VideoId, track: TrackId, frame: u64) -> CommandResult<Option<Shape>> {
    let end = frame.saturating_add(1);
    let shapes = crate::track::derived_shapes(store, &crate::track::MorphCache::default(), video, frame, end).await?;
    Ok(shapes.into_iter().map(|(_, s)| s).find(|s| s.track_id == track))
}

/// Applies `command` and describes the result (`touched`: the track and
/// the frame whose shape to report back, as stored after the command).
pub async fn apply(
    store: &Store,
    video: &Video,
    actor: &Actor,
    command: Command,
    touched: Option<(TrackId, u64)>,
) -> CommandResult<Edited> {
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
    let shape = track_shape_on(store, video.id, track_id, frame).await?;
    Ok(Edited {
        track_id: Some(track_id.to_string()),
        shape: shape.map(|s| ShapeInfo::new(&s, Some(&track), label)),
        history,
    })
}

impl Workspace {
    /// Stores candidate `rank` of the pending SAM preview as a SAM keyframe,
    /// on an existing track or a new one. One undo step.
    pub async fn sam_accept(
        &self,
        video_id: &str,
        frame: u64,
        rank: u32,
        target: &AcceptTarget,
    ) -> CommandResult<Accepted> {
        let target = Target::resolve(self.store(), video_id, target).await?;
        let (mask, iou) = self.sam().take(target.video.id, frame, rank as usize)?;
        let edited = target
            .store(self.store(), frame, Geometry::Mask(mask), ShapeSource::Sam, Some(iou))
            .await?;
        match (edited.track_id, edited.shape) {
            (Some(track_id), Some(shape)) => Ok(Accepted {
                track_id,
                shape,
                history: edited.history,
            }),
            _ => Err(CommandError::internal("the accepted mask was not stored")),
        }
    }

    /// Stores a shape drawn with the polygon, box, polyline or points tool as
    /// a keyframe of an existing track (replacing its shape on this frame) or
    /// of a new one. One undo step.
    pub async fn draw_shape(
        &self,
        video_id: &str,
        frame: u64,
        target: &AcceptTarget,
        shape: &DrawnShape,
    ) -> CommandResult<Edited> {
        let geometry = geometry(shape)?;
        let target = Target::resolve(self.store(), video_id, target).await?;
        target
            .store(self.store(), frame, geometry, ShapeSource::Manual, None)
            .await
    }

    /// Paints (or erases) one brush stroke on the target's mask on this
    /// frame. A polygon or box becomes a mask; erasing everything deletes the
    /// shape. One undo step.
    pub async fn brush_stroke(
        &self,
        video_id: &str,
        frame: u64,
        target: &AcceptTarget,
        stroke: &BrushStroke,
    ) -> CommandResult<Edited> {
        let store = self.store();
        let target = Target::resolve(store, video_id, target).await?;
        target.video.check_frame(frame)?;
        let (width, height) = target.video.display_size();
        let existing = target.shape_on(store, frame).await?;
        match brushed(existing.as_ref().map(|s| &s.geometry), stroke, height, width)? {
            Some(mask) => {
                target
                    .store(store, frame, Geometry::Mask(mask), ShapeSource::Manual, None)
                    .await
            }
            None => {
                let shape_id = existing
                    .map(|s| s.id)
                    .ok_or_else(|| CommandError::internal("erased a shape that was not there"))?;
                target.apply(store, Command::DeleteShape { shape_id }, None).await
            }
        }
    }

    /// Cuts `ring` out of the track's shape on this frame: a hole in a
    /// polygon, or pixels removed from a mask. One undo step.
    pub async fn cut_hole(
        &self,
        video_id: &str,
        frame: u64,
        track_id: &str,
        ring: &[PointPx],
    ) -> CommandResult<Edited> {
        let store = self.store();
        let target = Target::track(store, video_id, track_id).await?;
        let existing = target.shape_needed(store, frame, "to cut a hole into").await?;
        let (width, height) = target.video.display_size();
        let geometry = with_hole(&existing.geometry, ring, height, width)?;
        target
            .store(store, frame, geometry, existing.source, existing.score)
            .await
    }

    /// Copies the track's shape on `frame` to `frame + 1` as a keyframe
    /// (replacing what is there). One undo step.
    pub async fn copy_to_next_frame(
        &self,
        video_id: &str,
        frame: u64,
        track_id: &str,
    ) -> CommandResult<Edited> {
        let store = self.store();
        let target = Target::track(store, video_id, track_id).await?;
        target.video.check_frame(frame)?;
        let next = frame
            .checked_add(1)
            .filter(|n| *n < target.video.frame_count)
            .ok_or_else(|| {
                CommandError::invalid(format!(
                    "frame {frame} is the last frame; there is no next frame to copy to"
                ))
            })?;
        let shape = target.shape_needed(store, frame, "to copy").await?;
        target
            .store(store, next, shape.geometry, ShapeSource::Manual, None)
            .await
    }

    /// Deletes the track's shape on one frame. One undo step.
    pub async fn delete_shape(
        &self,
        video_id: &str,
        frame: u64,
        track_id: &str,
    ) -> CommandResult<Edited> {
        let store = self.store();
        let target = Target::track(store, video_id, track_id).await?;
        let shape = target.shape_needed(store, frame, "to delete").await?;
        if shape.source == ShapeSource::Interpolated {
            return Err(CommandError::invalid(format!(
                "the object's shape on frame {frame} is interpolated between its keyframes, not stored: \
                 delete one of those keyframes, or draw the object here (or mark it outside) to make this frame a keyframe"
            )));
        }
        target
            .apply(store, Command::DeleteShape { shape_id: shape.id }, None)
            .await
    }

    /// Deletes a whole object (the track and its shapes on every frame). One
    /// undo step.
    pub async fn delete_track(&self, video_id: &str, track_id: &str) -> CommandResult<Edited> {
        let store = self.store();
        let target = Target::track(store, video_id, track_id).await?;
        let command = Command::DeleteTrack {
            track_id: target.track.id,
        };
        target.apply(store, command, None).await
    }

    /// Moves an object to another label. One undo step.
    pub async fn change_label(
        &self,
        video_id: &str,
        frame: u64,
        track_id: &str,
        label_id: &str,
    ) -> CommandResult<Edited> {
        let store = self.store();
        let target = Target::track(store, video_id, track_id).await?;
        let command = Command::ChangeLabel {
            track_id: target.track.id,
            label_id: parse_id::<LabelId>("label", label_id)?,
            attributes: None,
        };
        target.apply(store, command, Some(frame)).await
    }

    /// Sets one attribute of an object: on the object, or on its shape on
    /// this frame for a per-frame attribute. The value is checked against the
    /// label. One undo step.
    pub async fn set_attribute(
        &self,
        video_id: &str,
        frame: u64,
        track_id: &str,
        name: &str,
        value: serde_json::Value,
    ) -> CommandResult<Edited> {
        let store = self.store();
        let target = Target::track(store, video_id, track_id).await?;
        let schema = store.schema(target.video.project_id).await?;
        let label = schema.label(target.track.label_id)?;
        let shape = target.shape_on(store, frame).await?;
        let (attributes, per_frame) = set_attribute(
            label,
            &target.track.attributes,
            shape.as_ref().map(|s| &s.attributes),
            name,
            value,
        )?;
        let command = match (per_frame, &shape) {
            // An interpolated shape is not stored: setting its attribute
            // makes it a keyframe with that value.
            (true, Some(s)) if s.source == ShapeSource::Interpolated => Command::SetShape {
                shape: Shape {
                    keyframe: true,
                    source: ShapeSource::Manual,
                    attributes,
                    author: Some(target.actor.user),
                    ..s.clone()
                },
            },
            (true, Some(s)) => Command::SetShapeAttributes {
                shape_id: s.id,
                attributes,
            },
            _ => Command::SetTrackAttributes {
                track_id: target.track.id,
                attributes,
            },
        };
        target.apply(store, command, Some(frame)).await
    }
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
