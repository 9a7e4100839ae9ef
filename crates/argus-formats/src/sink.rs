//! Where a multi-file export writes: a folder on disk in the app and the
//! CLI, a map in memory in tests.

use std::{
    collections::{BTreeMap, HashSet},
    fs,
    io::{self, BufWriter, Write},
    path::{Component, Path, PathBuf},
    sync::{Arc, Mutex},
};

use crate::{Error, Result};

/// The files of a dataset, by relative `/`-separated path. `Send`, so an
/// export that holds one across its awaits can run on any thread.
pub trait Sink: Send {
    /// Creates (or replaces) the file at `path`, with its folders.
    fn file(&mut self, path: &str) -> Result<Box<dyn Write + Send + '_>>;

    /// Writes `bytes` as the file at `path`.
    fn put(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        let mut f = self.file(path)?;
        f.write_all(bytes).map_err(|e| Error::io(format!("writing {path}"), e))?;
        f.flush().map_err(|e| Error::io(format!("writing {path}"), e))
    }
}

/// Refuses paths that could leave the dataset's folder (absolute paths,
/// `..`, empty parts): names come from videos and labels, which users
/// choose.
pub(crate) fn check_relative(path: &str) -> Result<()> {
    let p = Path::new(path);
    let ok = !path.is_empty()
        && !path.contains('\\')
        && p.components().all(|c| matches!(c, Component::Normal(_)))
        && !path.split('/').any(str::is_empty);
    if ok {
        Ok(())
    } else {
        Err(Error::Unsupported { format: "dataset", reason: format!("'{path}' is not a relative path inside the dataset") })
    }
}

/// A file stem from an image's `file_name` (`<video>/<frame>.jpg` ->
/// `<video>_<frame>`) that is safe on every file system and not taken yet
/// (compared without case): letters, digits, `.`, `-` and `_` only, not
/// starting with a dot, at most 120 characters; a collision gets the
/// image id appended. (No white space: VOC's image lists split at it.)
pub(crate) fn unique_stem(taken: &mut HashSet<String>, file_name: &str, id: u64) -> String {
    let without_ext = match file_name.rsplit_once('.') {
        Some((stem, ext)) if !ext.contains('/') && !stem.is_empty() && !stem.ends_with('/') => stem,
        _ => file_name,
    };
    let mut stem: String = without_ext
        .split('/')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_")
        .chars()
        .map(|c| if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .collect();
    if stem.starts_with('.') || stem.starts_with('-') {
        stem.insert(0, '_');
    }
    if stem.is_empty() {
        stem = "image".into();
    }
    if stem.chars().count() > 120 {
        stem = stem.chars().take(120).collect();
    }
    let mut candidate = stem.clone();
    let mut n = 1u64;
    while !taken.insert(candidate.to_lowercase()) {
        candidate = if n == 1 { format!("{stem}_{id}") } else { format!("{stem}_{id}_{n}") };
        n += 1;
    }
    candidate
}

/// Writes into a folder, creating it and its subfolders.
#[derive(Debug)]
pub struct FolderSink {
    root: PathBuf,
}

impl FolderSink {
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| Error::io(format!("creating the folder {}", root.display()), e))?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Sink for FolderSink {
    fn file(&mut self, path: &str) -> Result<Box<dyn Write + Send + '_>> {
        check_relative(path)?;
        let full = self.root.join(path);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(format!("creating the folder {}", parent.display()), e))?;
        }
        let f = fs::File::create(&full).map_err(|e| Error::io(format!("creating {}", full.display()), e))?;
        Ok(Box::new(BufWriter::with_capacity(1 << 16, f)))
    }
}

/// Keeps the files in memory (tests, small exports). Clones share the files.
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl MemorySink {
    pub fn new() -> Self {
        Self::default()
    }

    /// The files written so far.
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        self.files.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// One file's bytes.
    pub fn get(&self, path: &str) -> Option<Vec<u8>> {
        self.files.lock().ok().and_then(|f| f.get(path).cloned())
    }
}

struct MemoryFile {
    path: String,
    buf: Vec<u8>,
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl Write for MemoryFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut files = self.files.lock().map_err(|_| io::Error::other("a writer panicked"))?;
        files.insert(self.path.clone(), self.buf.clone());
        Ok(())
    }
}

impl Drop for MemoryFile {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

impl Sink for MemorySink {
    fn file(&mut self, path: &str) -> Result<Box<dyn Write + Send + '_>> {
        check_relative(path)?;
        Ok(Box::new(MemoryFile { path: path.to_owned(), buf: Vec::new(), files: self.files.clone() }))
    }
}

/// An image of palette indices (a VOC class or instance mask).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedImage {
    pub width: u32,
    pub height: u32,
    /// Row-major, one index per pixel.
    pub pixels: Vec<u8>,
    /// RGB per index; at most 256.
    pub palette: Vec<[u8; 3]>,
}

impl IndexedImage {
    /// Encodes as an 8-bit palette PNG, the form VOC's masks take.
    pub fn to_png(&self) -> Result<Vec<u8>> {
        let bad = |reason: String| Error::Unsupported { format: "PNG", reason };
        if self.pixels.len() as u64 != u64::from(self.width) * u64::from(self.height) || self.palette.is_empty() || self.palette.len() > 256 {
            return Err(bad(format!(
                "{}x{} image with {} pixels and {} palette entries",
                self.width,
                self.height,
                self.pixels.len(),
                self.palette.len()
            )));
        }
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.width, self.height);
            enc.set_color(png::ColorType::Indexed);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_palette(self.palette.iter().flatten().copied().collect::<Vec<u8>>());
            let mut w = enc.write_header().map_err(|e| bad(e.to_string()))?;
            w.write_image_data(&self.pixels).map_err(|e| bad(e.to_string()))?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_dataset_are_refused() {
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a\\b", "./a"] {
            assert!(check_relative(bad).is_err(), "{bad:?}");
        }
        for good in ["a", "a/b.txt", "images/video 1.mp4/000001.jpg"] {
            check_relative(good).expect(good);
        }
    }

    #[test]
    fn memory_sink_keeps_what_was_written() {
        let mut sink = MemorySink::new();
        sink.put("a/b.txt", b"hello").expect("put");
        {
            let mut f = sink.file("c.txt").expect("file");
            f.write_all(b"x").expect("write");
        }
        assert_eq!(sink.get("a/b.txt").as_deref(), Some(&b"hello"[..]));
        assert_eq!(sink.get("c.txt").as_deref(), Some(&b"x"[..]));
        assert!(sink.file("../escape").is_err());
    }

    #[test]
    fn indexed_png_round_trips_through_the_png_decoder() {
        let img = IndexedImage { width: 3, height: 2, pixels: vec![0, 1, 2, 2, 1, 0], palette: vec![[0, 0, 0], [255, 0, 0], [0, 255, 0]] };
        let bytes = img.to_png().expect("png");
        let mut dec = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().expect("header");
        assert_eq!(dec.info().color_type, png::ColorType::Indexed);
        assert_eq!(dec.info().palette.as_deref().map(<[u8]>::len), Some(9));
        let mut buf = vec![0; dec.output_buffer_size().expect("size")];
        dec.next_frame(&mut buf).expect("frame");
        assert_eq!(&buf[..6], &img.pixels[..]);
        assert!(IndexedImage { pixels: vec![0; 5], ..img }.to_png().is_err());
    }
}
