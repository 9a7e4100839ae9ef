//! Argus's native JSON: the whole project, lossless.
//!
//! JSON Lines: a header line (format, version, the project and its label
//! schema), then one record per line (`{"video": ...}`, `{"track": ...}`,
//! `{"shape": ...}`, `{"review": ...}`, `{"comment": ...}`), each exactly
//! argus-core's serde form, and an end line that counts them. One record a
//! line is what lets both sides stream: the writer never holds more than a
//! record, the reader hands each out as it parses it, and an error names
//! its line. The end line is what tells a complete file from a truncated
//! one, which JSON Lines alone cannot.
//!
//! What is local to one machine (a video's path on disk, its upload state)
//! is left out: the file describes the project, not a machine.

use std::io::{BufRead, Write};

use argus_core::model::{Comment, LabelSchema, Project, RemoteState, Review, Shape, Track, Video};
use serde::{Deserialize, Serialize};

use crate::{Error, Progress, Result};

const FORMAT: &str = "Argus JSON";

/// The format's name in the header line.
pub const MAGIC: &str = "argus-project";
/// The version this crate writes and reads.
pub const VERSION: u32 = 1;

/// The first line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub project: Project,
    pub schema: LabelSchema,
}

/// One line after the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    Video(Video),
    Track(Track),
    Shape(Shape),
    Review(Review),
    Comment(Comment),
    /// The last line: how many records came before it.
    End { records: u64 },
}

/// Writes a project, one record a line.
#[derive(Debug)]
pub struct NativeWriter<W: Write> {
    out: W,
    records: u64,
}

impl<W: Write> NativeWriter<W> {
    pub fn new(mut out: W, project: &Project, schema: &LabelSchema) -> Result<Self> {
        let header = Header { format: MAGIC.into(), version: VERSION, project: project.clone(), schema: schema.clone() };
        line(&mut out, &header)?;
        Ok(Self { out, records: 0 })
    }

    /// Writes one record (not `End`: [`finish`](Self::finish) does).
    pub fn write(&mut self, record: &Record) -> Result<()> {
        match record {
            Record::End { .. } => return Err(Error::Unsupported { format: FORMAT, reason: "the end line is written by finish".into() }),
            Record::Video(v) if v.local_path.is_some() || v.remote != RemoteState::Local => {
                let v = Video { local_path: None, remote: RemoteState::Local, ..v.clone() };
                line(&mut self.out, &Record::Video(v))?;
            }
            r => line(&mut self.out, r)?,
        }
        self.records += 1;
        Ok(())
    }

    /// Writes the end line and returns the writer and the record count.
    pub fn finish(mut self) -> Result<(W, u64)> {
        line(&mut self.out, &Record::End { records: self.records })?;
        self.out.flush().map_err(|e| Error::io("writing the project file", e))?;
        Ok((self.out, self.records))
    }
}

fn line<W: Write, T: Serialize>(out: &mut W, value: &T) -> Result<()> {
    let io = |e| Error::io("writing the project file", e);
    serde_json::to_writer(&mut *out, value).map_err(|e| io(std::io::Error::other(e)))?;
    out.write_all(b"\n").map_err(io)
}

/// Reads a project file: returns the header after handing each record to
/// `f` in file order. A line that does not parse, a record after the end
/// line, or a missing end line (a truncated file) is an error with the line
/// number.
pub fn read<R: BufRead>(mut input: R, progress: &mut dyn Progress, mut f: impl FnMut(&Header, Record) -> Result<()>) -> Result<Header> {
    let mut buf = String::new();
    let mut n = 0u64;
    let mut next = |buf: &mut String| -> Result<bool> {
        buf.clear();
        n += 1;
        let read = input.read_line(buf).map_err(|e| Error::io(format!("reading line {n} of the project file"), e))?;
        Ok(read > 0)
    };
    let at = |line: u64, e: &serde_json::Error| Error::Syntax {
        format: FORMAT,
        at: format!("line {line}, column {}", e.column()),
        reason: Error::json(FORMAT, e).to_string().rsplit_once(": ").map_or_else(|| e.to_string(), |(_, r)| r.to_owned()),
    };
    if !next(&mut buf)? {
        return Err(Error::Invalid { format: FORMAT, at: "line 1".into(), reason: "the file is empty".into() });
    }
    let header: Header = serde_json::from_str(&buf).map_err(|e| at(1, &e))?;
    if header.format != MAGIC {
        return Err(Error::Invalid { format: FORMAT, at: "line 1".into(), reason: format!("format is '{}', not '{MAGIC}'", header.format) });
    }
    if header.version > VERSION {
        return Err(Error::Invalid {
            format: FORMAT,
            at: "line 1".into(),
            reason: format!("version {} is newer than this Argus reads ({VERSION}); update Argus", header.version),
        });
    }
    let mut records = 0u64;
    let mut line_no = 1u64;
    loop {
        if !next(&mut buf)? {
            return Err(Error::Invalid {
                format: FORMAT,
                at: format!("line {}", line_no + 1),
                reason: "the file ends without its end line; it is truncated".into(),
            });
        }
        line_no += 1;
        if buf.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(&buf).map_err(|e| at(line_no, &e))?;
        if let Record::End { records: expected } = record {
            if expected != records {
                return Err(Error::Invalid {
                    format: FORMAT,
                    at: format!("line {line_no}"),
                    reason: format!("the end line counts {expected} records but {records} came before it"),
                });
            }
            while next(&mut buf)? {
                line_no += 1;
                if !buf.trim().is_empty() {
                    return Err(Error::Invalid { format: FORMAT, at: format!("line {line_no}"), reason: "data after the end line".into() });
                }
            }
            return Ok(header);
        }
        f(&header, record)?;
        records += 1;
        if records.is_multiple_of(1024) && !progress.tick(records, 0) {
            return Err(Error::Cancelled);
        }
    }
}

#[cfg(test)]
mod tests {
    use argus_core::{
        geometry::BBox,
        id::LabelSchemaId,
        mask::Rle,
        model::{Colour, Geometry, Label, ShapeSource, Timestamp},
        time::Rational,
    };

    use super::*;
    use crate::NoProgress;

    fn project() -> (Project, LabelSchema, Vec<Record>) {
        let schema_id = LabelSchemaId::new();
        let project = Project::new("p", schema_id, Timestamp(1)).expect("project");
        let label = Label::new("car \"fast\"", Colour::palette(1));
        let schema = LabelSchema::new(schema_id, project.id, 3, vec![label.clone()]).expect("schema");
        let video = Video {
            id: argus_core::id::VideoId::new(),
            project_id: project.id,
            name: "a.mp4".into(),
            sha256: "0".repeat(64),
            width: 8,
            height: 6,
            frame_rate: Rational::new(30000, 1001).expect("rate"),
            frame_count: 10,
            duration: Rational::new(1001, 3000).expect("duration"),
            codec: "h264".into(),
            rotation: Default::default(),
            local_path: Some("/home/me/a.mp4".into()),
            object_key: None,
            remote: RemoteState::Uploading,
            created_at: Timestamp(2),
        };
        let track = Track::new(video.id, label.id, None, Timestamp(3));
        let mask = Rle::from_bbox(6, 8, &BBox::new(1.0, 1.0, 3.0, 2.0).expect("box")).expect("mask");
        let mut shape = Shape::keyframe(track.id, 4, Geometry::Mask(mask), ShapeSource::Sam, Timestamp(4));
        shape.score = Some(0.875);
        let records = vec![Record::Video(video), Record::Track(track), Record::Shape(shape)];
        (project, schema, records)
    }

    fn write(project: &Project, schema: &LabelSchema, records: &[Record]) -> Vec<u8> {
        let mut w = NativeWriter::new(Vec::new(), project, schema).expect("header");
        for r in records {
            w.write(r).expect("record");
        }
        w.finish().expect("finish").0
    }

    fn read_all(bytes: &[u8]) -> Result<(Header, Vec<Record>)> {
        let mut out = Vec::new();
        let header = read(bytes, &mut NoProgress, |_, r| {
            out.push(r);
            Ok(())
        })?;
        Ok((header, out))
    }

    #[test]
    fn a_project_round_trips_without_its_machine_local_state() {
        let (project, schema, records) = project();
        let bytes = write(&project, &schema, &records);
        assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 5, "header, 3 records, end");
        let (header, back) = read_all(&bytes).expect("read");
        assert_eq!((header.project, header.schema), (project, schema));
        let Record::Video(v) = &back[0] else { panic!("{:?}", back[0]) };
        assert_eq!((v.local_path.as_deref(), &v.remote), (None, &RemoteState::Local));
        assert_eq!(&back[1..], &records[1..]);
    }

    #[test]
    fn truncated_and_malformed_files_name_their_line() {
        let (project, schema, records) = project();
        let bytes = write(&project, &schema, &records);
        let text = String::from_utf8(bytes).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        let without_end = lines[..4].join("\n") + "\n";
        assert!(read_all(without_end.as_bytes()).expect_err("truncated").to_string().contains("line 5: the file ends without its end line"));
        let cut = &text[..text.len() - 30];
        let msg = read_all(cut.as_bytes()).expect_err("cut").to_string();
        assert!(msg.contains("line 5") || msg.contains("truncated"), "{msg}");
        let bad_rle = text.replacen("\"size\":[6,8]", "\"size\":[6,9]", 1);
        let msg = read_all(bad_rle.as_bytes()).expect_err("rle").to_string();
        assert!(msg.contains("line 4") && msg.contains("RLE counts sum"), "{msg}");
        let miscounted = text.replace("{\"end\":{\"records\":3}}", "{\"end\":{\"records\":4}}");
        assert!(read_all(miscounted.as_bytes()).expect_err("count").to_string().contains("counts 4 records but 3"));
        let after = format!("{text}{{\"track\":1}}\n");
        assert!(read_all(after.as_bytes()).expect_err("after").to_string().contains("after the end line"));
        assert!(read_all(b"").expect_err("empty").to_string().contains("empty"));
        let other = text.replacen(MAGIC, "something-else", 1);
        assert!(read_all(other.as_bytes()).expect_err("magic").to_string().contains("not 'argus-project'"));
        let newer = text.replacen("\"version\":1", "\"version\":99", 1);
        assert!(read_all(newer.as_bytes()).expect_err("newer").to_string().contains("update Argus"));
        let mut w = NativeWriter::new(Vec::new(), &project, &schema).expect("header");
        assert!(w.write(&Record::End { records: 0 }).is_err());
    }
}
