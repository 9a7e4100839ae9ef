//! The frame request: the path and query of a frame URL (from the webview,
//! or anything that reaches the loopback frame server), and the output size
//! computed from the display size and the requested scale.
//!
//! Input bytes: a tag byte (bit 0: there is a query), a width and a height
//! (`u32` each), the bits of an `f64` scale, then the path, a 0 byte, and the
//! query (both lossy UTF-8).

use argus_workspace::FrameQuery;

use crate::bytes::{Reader, Writer};

/// One fuzz input.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub width: u32,
    pub height: u32,
    /// Any `f64`, NaN included: `output_size` is also checked on a query
    /// with this scale, whatever `parse` allows.
    pub scale: f64,
    pub path: String,
    pub query: Option<String>,
}

impl Input {
    pub fn from_bytes(data: &[u8]) -> Self {
        let mut r = Reader::new(data);
        let tag = r.u8();
        let width = r.u32();
        let height = r.u32();
        let scale = f64::from_bits(r.u64());
        let rest = r.rest();
        let (path, query) = match rest.iter().position(|b| *b == 0) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        Self {
            width,
            height,
            scale,
            path: String::from_utf8_lossy(path).into_owned(),
            query: (tag & 1 != 0).then(|| String::from_utf8_lossy(query).into_owned()),
        }
    }

    /// The bytes [`Self::from_bytes`] reads back as `self` (for a path
    /// without a 0 byte).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u8(u8::from(self.query.is_some()))
            .u32(self.width)
            .u32(self.height)
            .u64(self.scale.to_bits())
            .bytes(self.path.as_bytes());
        if let Some(q) = &self.query {
            w.u8(0).bytes(q.as_bytes());
        }
        w.out
    }
}

/// The URL the frame view would send for `q` (its path and query).
pub fn to_url(q: &FrameQuery) -> (String, String) {
    let mut parts = vec![format!("scale={}", q.scale)];
    if let Some(sel) = q.selected {
        parts.push(format!("sel={sel}"));
    }
    if !q.hidden.is_empty() {
        let ids: Vec<String> = q.hidden.iter().map(ToString::to_string).collect();
        parts.push(format!("hide={}", ids.join("%2C")));
    }
    if let Some(p) = q.preview {
        parts.push(format!("preview={p}"));
    }
    if q.ahead {
        parts.push("ahead=1".to_owned());
    }
    (format!("/{}/{}", q.video, q.frame), parts.join("&"))
}

/// Checks `output_size` for one query and size.
fn check_output_size(q: &FrameQuery, width: u32, height: u32) {
    let (w, h) = q.output_size(width, height);
    assert!(
        (1..=width.max(1)).contains(&w) && (1..=height.max(1)).contains(&h),
        "output {w}x{h} for {width}x{height} at scale {}",
        q.scale
    );
    if q.scale == 1.0 {
        assert_eq!((w, h), (width.max(1), height.max(1)), "scale 1 keeps the size");
    }
}

/// The fuzz body.
pub fn frame_request(data: &[u8]) {
    let input = Input::from_bytes(data);
    let parsed = crate::alloc::bounded("FrameQuery::parse", data.len(), || {
        FrameQuery::parse(&input.path, input.query.as_deref())
    });
    // any scale, even one parse would refuse, gives a usable size
    let video = argus_core::id::VideoId::from_uuid(uuid::Uuid::nil());
    let any = FrameQuery {
        scale: input.scale,
        ..FrameQuery::new(video, 0)
    };
    check_output_size(&any, input.width, input.height);
    let Ok(q) = parsed else {
        return;
    };
    assert!(q.scale > 0.0 && q.scale <= 1.0, "parsed scale {}", q.scale);
    check_output_size(&q, input.width, input.height);
    // the request written back as the frame view writes it means the same
    let (path, query) = to_url(&q);
    match FrameQuery::parse(&path, Some(&query)) {
        Ok(again) => assert_eq!(again, q, "{path}?{query}"),
        Err(e) => panic!("{path}?{query} does not parse back: {e}"),
    }
}

/// Seed inputs: requests the frame view sends, and malformed ones.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let video = "01890a5d-ac96-774b-bcce-b302099a8057";
    let t1 = "01890a5d-ac96-774b-bcce-b302099a8058";
    let t2 = "01890a5d-ac96-774b-bcce-b302099a8059";
    let input = |w: u32, h: u32, scale: f64, path: String, query: Option<String>| Input {
        width: w,
        height: h,
        scale,
        path,
        query,
    };
    let cases = vec![
        ("plain", input(1920, 1080, 1.0, format!("/{video}/0"), None)),
        (
            "full",
            input(
                1920,
                1080,
                0.5,
                format!("/{video}/42"),
                Some(format!("sel={t1}&hide={t1}%2C{t2}&preview=1&rev=7&scale=0.5&ahead=1")),
            ),
        ),
        ("hide-commas", input(640, 480, 0.25, format!("/{video}/3"), Some(format!("hide={t1},{t2},&scale=0.3333")))),
        ("tiny-scale", input(1, 1, 1e-300, format!("/{video}/1"), Some("scale=1e-300".into()))),
        ("zero-size", input(0, 0, f64::NAN, format!("/{video}/1"), Some("scale=1".into()))),
        ("huge-size", input(u32::MAX, u32::MAX, f64::INFINITY, format!("/{video}/18446744073709551615"), Some("scale=0.9999999999999999".into()))),
        ("bad-scale", input(100, 100, -1.0, format!("/{video}/1"), Some("scale=NaN&scale=inf&scale=-0".into()))),
        ("bad-ids", input(100, 100, 0.5, "/not-an-id/x".into(), Some("sel=zz&hide=%zz&preview=-1".into()))),
        ("extra-segments", input(100, 100, 0.5, format!("//{video}/1/2"), Some("&&==&".into()))),
        ("percent-escapes", input(7, 3, 0.5, format!("/{video}/5"), Some("sel=%30%31&scale=%30.5&preview=%FF".into()))),
    ];
    cases.into_iter().map(|(n, i)| (n.to_owned(), i.to_bytes())).collect()
}
