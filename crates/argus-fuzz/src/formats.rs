//! Dataset files an import reads (argus-formats' parsers): a COCO JSON, a
//! CVAT XML, YOLO label files and `data.yaml`, MOT `gt.txt` and
//! `seqinfo.ini`, and Argus's native JSON Lines, written by any tool,
//! damaged, or planted.
//!
//! Input bytes: the file itself. Properties: the parser never panics, makes
//! no single allocation out of proportion to the file ([`crate::alloc`]),
//! and what it hands out is well-formed: masks of the size their image
//! says, finite coordinates, every record's place named when it is skipped.

use argus_core::model::Geometry;
use argus_formats::{Annotation, Category, Image, NoProgress, Report, coco, cvat, mot, native, voc, yolo};

fn check(a: &Annotation, width: u32, height: u32) {
    match &a.geometry {
        Geometry::Mask(m) => assert!(
            (m.width(), m.height()) == (width, height),
            "a {}x{} mask on a {width}x{height} image",
            m.width(),
            m.height()
        ),
        g => {
            if let Some(b) = g.bbox() {
                assert!([b.x, b.y, b.width, b.height].iter().all(|v| v.is_finite()), "a non-finite box {b:?}");
            }
        }
    }
}

fn check_report(r: &Report) {
    for s in r.skipped.iter().chain(&r.changed) {
        assert!(!s.at.is_empty() && !s.reason.is_empty(), "a note without its place or reason: {s:?}");
    }
}

/// A COCO file through [`coco::read`].
pub fn coco_json(data: &[u8]) {
    let r = crate::alloc::bounded("coco::read", data.len(), || {
        coco::read(|| Ok(data), &mut NoProgress, |index, a| {
            let image = index.image(a.image_id).expect("an annotation of a listed image");
            check(&a, image.width, image.height);
            Ok(())
        })
    });
    if let Ok((_, report)) = r {
        check_report(&report);
    }
}

/// A CVAT XML through [`cvat::CvatReader`].
pub fn cvat_xml(data: &[u8]) {
    let r = crate::alloc::bounded("cvat", data.len(), || -> argus_formats::Result<Report> {
        let reader = cvat::CvatReader::new(data)?;
        let size = reader.meta().task.original_size;
        let frames = reader.meta().task.size;
        reader.read_tracks(&mut NoProgress, |t| {
            for s in &t.shapes {
                assert!(s.frame < frames, "a shape on frame {} of {frames}", s.frame);
                if let (Some((w, h)), Geometry::Mask(_)) = (size, &s.geometry) {
                    check(&Annotation { geometry: s.geometry.clone(), ..blank() }, w, h);
                }
            }
            Ok(())
        })
    });
    if let Ok(report) = r {
        check_report(&report);
    }
}

/// `data.yaml` then a label file (the bytes split at the first NUL; the
/// same bytes as both without one).
pub fn yolo_labels(data: &[u8]) {
    let (yaml, labels) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let categories = crate::alloc::bounded("parse_data_yaml", yaml.len(), || {
        std::str::from_utf8(yaml).ok().and_then(|t| yolo::parse_data_yaml(t).ok()).map(|d| d.categories())
    })
    .unwrap_or_else(|| vec![Category { id: 0, name: "a".into(), colour: None, attributes: Vec::new() }]);
    let Ok(text) = std::str::from_utf8(labels) else { return };
    let image = Image { id: 1, file_name: "a.jpg".into(), width: 640, height: 480, video: None };
    let mut report = Report::default();
    let mut next = 1;
    let anns = crate::alloc::bounded("read_label_file", labels.len(), || {
        yolo::read_label_file(text, "labels/train/a.txt", &image, &categories, &mut next, &mut report)
    });
    for a in &anns {
        check(a, 640, 480);
        assert!(categories.iter().any(|c| c.id == a.category_id), "class {} is not in the names", a.category_id);
    }
    check_report(&report);
}

/// `seqinfo.ini` then `gt.txt` (split at the first NUL, as for YOLO).
pub fn mot_gt(data: &[u8]) {
    let (ini, gt) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let _ = crate::alloc::bounded("parse_seqinfo", ini.len(), || std::str::from_utf8(ini).ok().map(mot::parse_seqinfo));
    let categories = mot::mot_default_labels();
    let mut report = Report::default();
    let mut next = 1;
    let _ = crate::alloc::bounded("read_gt", gt.len(), || {
        mot::read_gt(gt, "gt/gt.txt", &categories, &mut next, &mut report, &mut NoProgress, &mut |a| {
            check(&a, u32::MAX, u32::MAX);
            Ok(())
        })
    });
    check_report(&report);
}

/// A VOC annotation file through [`voc::read_annotation`], and the same
/// bytes as a `labelmap.txt`.
pub fn voc_xml(data: &[u8]) {
    let mut report = Report::default();
    let r = crate::alloc::bounded("voc::read_annotation", data.len(), || voc::read_annotation(data, "Annotations/a.xml", &mut report));
    if let Ok(img) = r {
        for (name, a) in &img.objects {
            assert!(!name.is_empty(), "an object without a name");
            let b = a.geometry.bbox().expect("a box");
            assert!(b.x >= 0.0 && b.y >= 0.0 && b.x + b.width <= f64::from(img.width) + 1e-6 && b.y + b.height <= f64::from(img.height) + 1e-6, "{b:?} outside {}x{}", img.width, img.height);
        }
    }
    check_report(&report);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = voc::read_labelmap(text);
    }
}

/// A native project file through [`native::read`].
pub fn native_jsonl(data: &[u8]) {
    let _ = crate::alloc::bounded("native::read", data.len(), || {
        native::read(data, &mut NoProgress, |h, r| {
            if let native::Record::Shape(s) = &r {
                // argus-core's serde checked the mask; the shape is usable.
                let _ = s.geometry.bbox();
            }
            let _ = h;
            Ok(())
        })
    });
}

/// A small project as the native writer writes it, with fixed ids (seeds
/// must be the same bytes every time).
fn native_project() -> Vec<u8> {
    use argus_core::{
        geometry::BBox,
        id::{LabelId, LabelSchemaId, ProjectId, TrackId, VideoId},
        mask::Rle,
        model::{Colour, Label, LabelSchema, Project, Shape, ShapeSource, Timestamp, Track, Video},
        time::Rational,
    };
    let id = |n: u128| uuid::Uuid::from_u128(n);
    let schema_id = LabelSchemaId::from_uuid(id(1));
    let Ok(mut project) = Project::new("seed", schema_id, Timestamp(1)) else { return Vec::new() };
    project.id = ProjectId::from_uuid(id(2));
    let mut label = Label::new("car", Colour::rgb(200, 30, 30));
    label.id = LabelId::from_uuid(id(3));
    let Ok(schema) = LabelSchema::new(schema_id, project.id, 1, vec![label.clone()]) else { return Vec::new() };
    let (Ok(rate), Ok(duration)) = (Rational::new(25, 1), Rational::new(2, 5)) else { return Vec::new() };
    let video = Video {
        id: VideoId::from_uuid(id(4)),
        project_id: project.id,
        name: "a.mp4".into(),
        sha256: "ab".repeat(32),
        width: 8,
        height: 6,
        frame_rate: rate,
        frame_count: 10,
        duration,
        codec: "h264".into(),
        rotation: Default::default(),
        local_path: None,
        object_key: None,
        remote: Default::default(),
        created_at: Timestamp(1),
    };
    let mut track = Track::new(video.id, label.id, None, Timestamp(1));
    track.id = TrackId::from_uuid(id(5));
    track.number = 1;
    let Ok(b) = BBox::new(1.0, 1.0, 3.0, 2.0) else { return Vec::new() };
    let Ok(mask) = Rle::from_bbox(6, 8, &b) else { return Vec::new() };
    let shapes = [Shape::keyframe(track.id, 0, Geometry::Mask(mask), ShapeSource::Sam, Timestamp(1)), Shape::keyframe(track.id, 3, Geometry::BBox(b), ShapeSource::Manual, Timestamp(1))];
    let write = || -> argus_formats::Result<Vec<u8>> {
        let mut w = native::NativeWriter::new(Vec::new(), &project, &schema)?;
        w.write(&native::Record::Video(video.clone()))?;
        w.write(&native::Record::Track(track.clone()))?;
        for s in &shapes {
            w.write(&native::Record::Shape(s.clone()))?;
        }
        Ok(w.finish()?.0)
    };
    write().unwrap_or_default()
}

fn blank() -> Annotation {
    Annotation {
        id: 0,
        image_id: 0,
        category_id: 0,
        track: None,
        geometry: Geometry::Points(Vec::new()),
        crowd: false,
        occluded: false,
        outside: false,
        keyframe: true,
        source: argus_core::model::ShapeSource::Imported,
        score: None,
        attributes: Default::default(),
    }
}

/// Seeds: files the writers make, and the malformed cases the tests pin.
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    match target {
        "coco_json" => vec![
            ("minimal".into(), br#"{"images":[{"id":1,"file_name":"a.jpg","width":4,"height":3}],"categories":[{"id":1,"name":"a"}],"annotations":[{"id":1,"image_id":1,"category_id":1,"segmentation":{"size":[3,4],"counts":"12"},"bbox":[0,0,1,1],"iscrowd":0},{"id":2,"image_id":1,"category_id":1,"segmentation":[[0,0,3,0,3,2]],"bbox":[0,0,3,2]},{"id":3,"image_id":1,"category_id":1,"segmentation":{"size":[3,4],"counts":[2,3,7]},"iscrowd":1}]}"#.to_vec()),
            ("categories-last".into(), br#"{"annotations":[{"id":1,"image_id":1,"category_id":1,"bbox":[0,0,1,1]}],"images":[{"id":1,"width":2,"height":2}],"categories":[{"id":1,"name":"a"}]}"#.to_vec()),
            ("huge-image".into(), br#"{"images":[{"id":1,"width":4000000000,"height":4000000000}],"categories":[{"id":1,"name":"a"}],"annotations":[{"id":1,"image_id":1,"category_id":1,"segmentation":[[0,0,9,0,9,9],[20,20,30,20,30,30]]}]}"#.to_vec()),
        ],
        "cvat_xml" => vec![
            ("track".into(), br#"<?xml version="1.0" encoding="utf-8"?><annotations><version>1.1</version><meta><task><size>10</size><original_size><width>8</width><height>6</height></original_size><labels><label><name>car</name></label></labels></task></meta><track id="0" label="car" source="manual"><box frame="0" xtl="1" ytl="1" xbr="4" ybr="4" outside="0" occluded="0" keyframe="1"/><mask frame="1" outside="0" occluded="0" keyframe="1" rle="3, 2, 1, 2" left="1" top="1" width="4" height="2"/><polygon frame="2" outside="0" occluded="0" keyframe="1" points="1,1;5,1;5,5"/></track></annotations>"#.to_vec()),
            ("billion-laughs".into(), br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><annotations>&lol2;</annotations>"#.to_vec()),
        ],
        "yolo_labels" => vec![
            ("segment".into(), b"names:\n  0: car\n  1: person\n\x000 0.1 0.1 0.5 0.1 0.5 0.5\n1 0.5 0.5 0.2 0.2\n".to_vec()),
            ("bad-lines".into(), b"names: [a]\n\x000 nan 0.1 0.1 0.1\n7 0.5 0.5 0.1 0.1\n0 0.5\n".to_vec()),
        ],
        "mot_gt" => vec![
            ("sequence".into(), b"[Sequence]\nname=a\nimDir=img1\nframeRate=30\nseqLength=10\nimWidth=640\nimHeight=480\nimExt=.jpg\n\x001,1,10,20,30,40,1,1,1.0\n2,1,11,20,30,40,1,1,0.0\n3,-1,5,5,5,5,0,2,1\n".to_vec()),
        ],
        "voc_xml" => vec![
            ("annotation".into(), b"<annotation><folder>VOC</folder><filename>a.jpg</filename><size><width>40</width><height>30</height><depth>3</depth></size><object><name>car &amp; co</name><occluded>1</occluded><difficult>0</difficult><bndbox><xmin>3</xmin><ymin>4</ymin><xmax>12</xmax><ymax>8</ymax></bndbox></object></annotation>".to_vec()),
            ("entities".into(), b"<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x \"xx\">]><annotation>&x;</annotation>".to_vec()),
        ],
        "native_jsonl" => vec![("project".into(), native_project()), ("header-only".into(), b"{\"format\":\"argus-project\",\"version\":1}\n".to_vec())],
        _ => Vec::new(),
    }
}
