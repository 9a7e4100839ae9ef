use serde::{Deserialize, Serialize};

use super::{Attributes, Label, ModelError, Timestamp, Video};
use crate::{
    geometry::{BBox, Point, Polygon, Polyline, bbox_of, segment_distance},
    id::{LabelId, ShapeId, TrackId, UserId, VideoId},
    mask::Rle,
};

/// The kinds of shape a label may be drawn with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShapeKind {
    Mask,
    Polygon,
    #[serde(rename = "bbox")]
    BBox,
    Polyline,
    Points,
}

impl ShapeKind {
    /// The name used in files and messages (`mask`, `polygon`, `bbox`, `polyline`, `points`).
    pub fn name(self) -> &'static str {
        match self {
            ShapeKind::Mask => "mask",
            ShapeKind::Polygon => "polygon",
            ShapeKind::BBox => "bbox",
            ShapeKind::Polyline => "polyline",
            ShapeKind::Points => "points",
        }
    }

    pub const ALL: [ShapeKind; 5] =
        [ShapeKind::Mask, ShapeKind::Polygon, ShapeKind::BBox, ShapeKind::Polyline, ShapeKind::Points];
}

/// The geometry of one shape on one frame, in frame pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Geometry {
    Mask(Rle),
    Polygon(Polygon),
    #[serde(rename = "bbox")]
    BBox(BBox),
    Polyline(Polyline),
    Points(Vec<Point>),
}

impl Geometry {
    pub fn kind(&self) -> ShapeKind {
        match self {
            Geometry::Mask(_) => ShapeKind::Mask,
            Geometry::Polygon(_) => ShapeKind::Polygon,
            Geometry::BBox(_) => ShapeKind::BBox,
            Geometry::Polyline(_) => ShapeKind::Polyline,
            Geometry::Points(_) => ShapeKind::Points,
        }
    }

    /// Whether `p` (frame pixels) is on the shape: in a set mask pixel, inside
    /// a polygon (not in its holes) or box, or within `tolerance` pixels of a
    /// polyline or keypoint. What a click on the canvas selects.
    pub fn hits(&self, p: Point, tolerance: f64) -> bool {
        match self {
            Geometry::Mask(m) => p.x >= 0.0 && p.y >= 0.0 && m.get(p.x.floor() as u32, p.y.floor() as u32),
            Geometry::Polygon(g) => g.contains(p),
            Geometry::BBox(b) => p.x >= b.x && p.y >= b.y && p.x <= b.x + b.width && p.y <= b.y + b.height,
            Geometry::Polyline(l) => l.points.windows(2).any(|w| segment_distance(p, w[0], w[1]) <= tolerance),
            Geometry::Points(ps) => ps.iter().any(|q| segment_distance(p, *q, *q) <= tolerance),
        }
    }

    /// The tight bounding box, `None` for an empty mask or a degenerate shape.
    pub fn bbox(&self) -> Option<BBox> {
        match self {
            Geometry::Mask(rle) => rle.bbox(),
            Geometry::Polygon(p) => p.bbox(),
            Geometry::BBox(b) => Some(*b),
            Geometry::Polyline(l) => bbox_of(&l.points),
            Geometry::Points(p) => bbox_of(p),
        }
    }
}

/// How a shape came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShapeSource {
    /// Drawn by hand (brush, polygon, box, points tools).
    Manual,
    /// Cut out by SAM from a person's prompts.
    Sam,
    /// Interpolated between two keyframes.
    Interpolated,
    /// Propagated from another frame by a tracker.
    Propagated,
    /// Imported from a dataset file.
    Imported,
}

/// One object followed across frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Track {
    pub id: TrackId,
    pub video_id: VideoId,
    pub label_id: LabelId,
    /// A short number shown in the UI ("car #3"), unique within the video.
    pub number: u32,
    /// Track-scoped attribute values (per-frame ones live on shapes).
    #[serde(default)]
    pub attributes: Attributes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<UserId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Track {
    /// A new track with no attribute values set; the store numbers it
    /// (`number: 0` means "next free number").
    pub fn new(video_id: VideoId, label_id: LabelId, author: Option<UserId>, now: Timestamp) -> Self {
        Self {
            id: TrackId::new(),
            video_id,
            label_id,
            number: 0,
            attributes: Attributes::new(),
            author,
            created_at: now,
            updated_at: now,
        }
    }

    /// Checks the label's track-scoped attributes.
    pub fn validate(&self, label: &Label) -> Result<(), ModelError> {
        if label.id != self.label_id {
            return Err(ModelError::UnknownLabel(self.label_id));
        }
        for name in self.attributes.keys() {
            if label.attribute(name).is_some_and(|a| a.per_frame) {
                return Err(ModelError::InvalidAttributeSpec {
                    attribute: name.clone(),
                    reason: "is a per-frame attribute; set it on the shape, not the track".into(),
                });
            }
        }
        label.check_attributes(&self.attributes)
    }
}

/// One track's shape on one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    pub id: ShapeId,
    pub track_id: TrackId,
    pub frame: u64,
    pub geometry: Geometry,
    /// Keyframes anchor interpolation and propagation.
    pub keyframe: bool,
    pub source: ShapeSource,
    /// The object is hidden behind something on this frame.
    #[serde(default)]
    pub occluded: bool,
    /// The object has left the frame (ends a segment of the track).
    #[serde(default)]
    pub outside: bool,
    /// Per-frame attribute values.
    #[serde(default)]
    pub attributes: Attributes,
    /// SAM's predicted IoU or a tracker's confidence, when a model made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<UserId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Shape {
    /// A new keyframe of `track` on `frame`, visible, with no per-frame
    /// attribute values and no score. Its id is derived from the track and
    /// frame, so it is the same on every device.
    pub fn keyframe(track_id: TrackId, frame: u64, geometry: Geometry, source: ShapeSource, now: Timestamp) -> Self {
        Self {
            id: ShapeId::for_track_frame(track_id, frame),
            track_id,
            frame,
            geometry,
            keyframe: true,
            source,
            occluded: false,
            outside: false,
            attributes: Attributes::new(),
            score: None,
            author: None,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn kind(&self) -> ShapeKind {
        self.geometry.kind()
    }

    /// Checks the shape against its video and its track's label: the frame
    /// exists, a mask has the frame's display size, the label allows this
    /// kind, and the per-frame attributes fit.
    pub fn validate(&self, video: &Video, label: &Label) -> Result<(), ModelError> {
        video.check_frame(self.frame)?;
        label.check_kind(self.kind())?;
        if let Geometry::Mask(rle) = &self.geometry {
            let (width, height) = video.display_size();
            if (rle.width(), rle.height()) != (width, height) {
                return Err(ModelError::MaskSizeMismatch {
                    mask_width: rle.width(),
                    mask_height: rle.height(),
                    width,
                    height,
                });
            }
        }
        for name in self.attributes.keys() {
            if label.attribute(name).is_some_and(|a| !a.per_frame) {
                return Err(ModelError::InvalidAttributeSpec {
                    attribute: name.clone(),
                    reason: "is a track attribute; set it on the track, not the shape".into(),
                });
            }
        }
        label.check_attributes(&self.attributes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_match_serde() {
        for k in ShapeKind::ALL {
            assert_eq!(serde_json::to_value(k).expect("json"), serde_json::Value::String(k.name().into()));
        }
    }

    #[test]
    fn hit_testing_follows_each_kind() {
        let pt = |x: f64, y: f64| Point::new(x, y).expect("finite");
        let square = |x: f64, side: f64| vec![pt(x, x), pt(x + side, x), pt(x + side, x + side), pt(x, x + side)];
        let holed = Geometry::Polygon(Polygon::new(square(0.0, 20.0), vec![square(5.0, 10.0)]).expect("polygon"));
        assert!(holed.hits(pt(2.0, 2.0), 0.0));
        assert!(!holed.hits(pt(10.0, 10.0), 0.0), "the hole is not the shape");
        assert!(!holed.hits(pt(30.0, 2.0), 0.0));
        let mask = Geometry::Mask(Rle::from_bbox(10, 10, &BBox::new(2.0, 3.0, 4.0, 2.0).expect("box")).expect("mask"));
        assert!(mask.hits(pt(2.5, 3.5), 0.0) && mask.hits(pt(5.9, 4.9), 0.0));
        assert!(!mask.hits(pt(6.0, 3.5), 0.0) && !mask.hits(pt(-0.5, 3.5), 0.0) && !mask.hits(pt(50.0, 3.5), 0.0));
        let line = Geometry::Polyline(Polyline::new(vec![pt(0.0, 0.0), pt(100.0, 0.0)]).expect("line"));
        assert!(line.hits(pt(50.0, 4.0), 6.0) && !line.hits(pt(50.0, 10.0), 6.0));
        let points = Geometry::Points(vec![pt(10.0, 10.0)]);
        assert!(points.hits(pt(13.0, 13.0), 6.0) && !points.hits(pt(20.0, 20.0), 6.0));
        let bbox = Geometry::BBox(BBox::new(1.0, 1.0, 4.0, 4.0).expect("box"));
        assert!(bbox.hits(pt(5.0, 5.0), 0.0) && !bbox.hits(pt(5.1, 5.0), 0.0));
    }
    use crate::model::{AttributeKind, AttributeSpec, AttributeValue, Colour, video::tests::sample as sample_video};

    fn shape(frame: u64, geometry: Geometry) -> Shape {
        Shape { score: Some(0.93), ..Shape::keyframe(TrackId::new(), frame, geometry, ShapeSource::Sam, Timestamp(1)) }
    }

    #[test]
    fn shapes_are_validated_against_video_and_label() {
        let video = sample_video();
        let label = Label::new("car", Colour::palette(0))
            .with_kinds(&[ShapeKind::Mask, ShapeKind::BBox])
            .with_attribute(AttributeSpec {
                name: "occluded".into(),
                kind: AttributeKind::Bool { default: false },
                per_frame: true,
            })
            .with_attribute(AttributeSpec {
                name: "make".into(),
                kind: AttributeKind::Text { default: String::new() },
                per_frame: false,
            });
        let full = Rle::new(1080, 1920, vec![0, 1920 * 1080]).expect("valid");
        shape(0, Geometry::Mask(full.clone())).validate(&video, &label).expect("valid");
        let small = Rle::new(10, 10, vec![100]).expect("valid");
        assert!(matches!(
            shape(0, Geometry::Mask(small)).validate(&video, &label),
            Err(ModelError::MaskSizeMismatch { .. })
        ));
        assert!(matches!(
            shape(300, Geometry::Mask(full)).validate(&video, &label),
            Err(ModelError::FrameOutOfRange { .. })
        ));
        let poly = BBox::new(1.0, 1.0, 5.0, 5.0).expect("valid").to_polygon();
        assert!(matches!(
            shape(0, Geometry::Polygon(poly)).validate(&video, &label),
            Err(ModelError::ShapeKindNotAllowed { .. })
        ));
        let mut s = shape(0, Geometry::BBox(BBox::new(1.0, 2.0, 3.0, 4.0).expect("valid")));
        s.attributes.insert("make".into(), AttributeValue::Text("vw".into()));
        assert!(s.validate(&video, &label).is_err(), "track attributes are refused on shapes");
        s.attributes.clear();
        s.attributes.insert("occluded".into(), AttributeValue::Bool(true));
        s.validate(&video, &label).expect("per-frame attribute on a shape");
        assert_eq!(s.geometry.bbox(), BBox::new(1.0, 2.0, 3.0, 4.0).ok());
    }

    #[test]
    fn geometry_json_is_tagged_by_kind() {
        let g = Geometry::BBox(BBox::new(1.0, 2.0, 3.0, 4.0).expect("valid"));
        let json = serde_json::to_string(&g).expect("json");
        assert_eq!(json, r#"{"kind":"bbox","data":[1.0,2.0,3.0,4.0]}"#);
        assert_eq!(serde_json::from_str::<Geometry>(&json).expect("back"), g);
        assert!(serde_json::from_str::<Geometry>(r#"{"kind":"bbox","data":[1,2,-3,4]}"#).is_err());
        let s = shape(3, Geometry::Points(vec![Point::new(1.0, 1.0).expect("valid")]));
        let back: Shape = serde_json::from_str(&serde_json::to_string(&s).expect("json")).expect("back");
        assert_eq!(back, s);
    }

    #[test]
    fn track_attributes_are_checked() {
        let label = Label::new("car", Colour::palette(0)).with_attribute(AttributeSpec {
            name: "occluded".into(),
            kind: AttributeKind::Bool { default: false },
            per_frame: true,
        });
        let mut t = Track::new(VideoId::new(), label.id, None, Timestamp(0));
        t.validate(&label).expect("valid");
        t.attributes.insert("occluded".into(), AttributeValue::Bool(true));
        assert!(t.validate(&label).is_err(), "per-frame attributes are refused on tracks");
        t.attributes.clear();
        t.label_id = LabelId::new();
        assert!(matches!(t.validate(&label), Err(ModelError::UnknownLabel(_))));
    }
}
