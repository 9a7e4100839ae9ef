//! Model files in the user cache: download with progress, resume and sha256
//! verification, or a clear error naming the file to place by hand.
//!
//! Layout: `<root>/<model id>/<file>`. The root is `ARGUS_MODEL_DIR` when set,
//! else the platform cache directory (`~/.cache/argus/models` on Linux).
//! A partial download lives next to its target as `<file>.part` and is resumed
//! with an HTTP `Range` request. Verified files get a `<file>.sha256` stamp
//! holding the hash and size, so they are not re-hashed at every start.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::manifest::{Manifest, ModelFile};
use crate::{Error, Result};

/// Progress of one file's download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The file being fetched (the archive name for zip members).
    pub file: String,
    /// Bytes on disk so far, resumed bytes included.
    pub downloaded: u64,
    /// Total size, when known.
    pub total: Option<u64>,
}

/// Paths of a model's files once present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPaths {
    pub encoder: PathBuf,
    pub decoder: PathBuf,
}

impl ModelPaths {
    /// The decoder that upscales its masks in the graph, as the reference
    /// pipelines run it: `reference/<decoder file>` beside the model where one
    /// is kept (`make real-model` exports MobileSAM's decoder without the
    /// in-graph upscale, for speed, and keeps the full export there for
    /// comparisons), else the decoder itself.
    pub fn reference_decoder(&self) -> PathBuf {
        self.decoder
            .parent()
            .zip(self.decoder.file_name())
            .map(|(dir, name)| dir.join("reference").join(name))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| self.decoder.clone())
    }
}

/// The on-disk model cache.
#[derive(Debug, Clone)]
pub struct ModelStore {
    root: PathBuf,
}

impl ModelStore {
    /// A store rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `ARGUS_MODEL_DIR`, else the user cache directory.
    pub fn default_location() -> Result<Self> {
        if let Some(dir) = std::env::var_os("ARGUS_MODEL_DIR").filter(|d| !d.is_empty()) {
            return Ok(Self::new(dir));
        }
        let dirs = directories::ProjectDirs::from("", "", "argus").ok_or(Error::NoCacheDir)?;
        Ok(Self::new(dirs.cache_dir().join("models")))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a file of a model lives.
    pub fn path(&self, manifest: &Manifest, file: &ModelFile) -> PathBuf {
        self.root.join(&manifest.id).join(&file.file)
    }

    /// The model's paths if all files are present and verified; otherwise an
    /// error naming the first missing file, where to get it and where to put it.
    pub fn locate(&self, manifest: &Manifest) -> Result<ModelPaths> {
        for f in manifest.files() {
            let path = self.path(manifest, f);
            if !self.verified(f, &path)? {
                return Err(Error::ModelMissing {
                    file: f.file.clone(),
                    url: f.urls.first().cloned().unwrap_or_default(),
                    reason: "not downloaded yet (offline)".to_owned(),
                    path,
                });
            }
        }
        Ok(self.paths(manifest))
    }

    fn paths(&self, manifest: &Manifest) -> ModelPaths {
        ModelPaths {
            encoder: self.path(manifest, &manifest.encoder),
            decoder: self.path(manifest, &manifest.decoder),
        }
    }

    /// Makes every file of the model present: verifies what is there, downloads
    /// what is missing (trying each URL in turn), and returns the paths.
    /// `progress` is called as bytes arrive; returning `false` cancels.
    pub fn ensure(
        &self,
        manifest: &Manifest,
        progress: &mut dyn FnMut(&Progress) -> bool,
    ) -> Result<ModelPaths> {
        let dir = self.root.join(&manifest.id);
        fs::create_dir_all(&dir).map_err(|e| Error::io("creating the model directory", &dir, e))?;
        let mut archives = Vec::new();
        for f in manifest.files() {
            let path = self.path(manifest, f);
            if self.verified(f, &path)? {
                continue;
            }
            let mut last_err = None;
            for url in &f.urls {
                match self.fetch_one(f, url, &dir, &path, progress, &mut archives) {
                    Ok(()) => {
                        last_err = None;
                        break;
                    }
                    Err(e @ (Error::Cancelled | Error::Checksum { .. })) => return Err(e),
                    Err(e) => {
                        tracing::warn!("download of {} from {url} failed: {e}", f.file);
                        last_err = Some((url.clone(), e));
                    }
                }
            }
            if let Some((url, e)) = last_err {
                return Err(match e {
                    e @ Error::BadUrl(_) => e,
                    e => Error::ModelMissing {
                        file: f.file.clone(),
                        url,
                        reason: e.to_string(),
                        path,
                    },
                });
            }
        }
        for a in archives {
            // all members are extracted; the archive itself is not needed any more
            let _ = fs::remove_file(&a);
        }
        Ok(self.paths(manifest))
    }

    fn fetch_one(
        &self,
        f: &ModelFile,
        url: &str,
        dir: &Path,
        path: &Path,
        progress: &mut dyn FnMut(&Progress) -> bool,
        archives: &mut Vec<PathBuf>,
    ) -> Result<()> {
        let name = url
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty())
            .unwrap_or(&f.file)
            .to_owned();
        match &f.archive_member {
            None => {
                download(url, path, &f.file, f.size, progress)?;
            }
            Some(member) => {
                let safe: String = name
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let archive = dir.join(format!("{safe}.download"));
                download(url, &archive, &safe, None, progress)?;
                if let Err(e) = extract_member(&archive, member, path) {
                    // a damaged archive must not be reused by the next attempt
                    let _ = fs::remove_file(&archive);
                    return Err(e);
                }
                if !archives.contains(&archive) {
                    archives.push(archive);
                }
            }
        }
        self.check_and_stamp(f, path)
    }

    /// Whether `path` exists and matches the manifest (using the stamp when fresh).
    fn verified(&self, f: &ModelFile, path: &Path) -> Result<bool> {
        let Ok(meta) = fs::metadata(path) else {
            return Ok(false);
        };
        let stamp = stamp_path(path);
        if let Ok(text) = fs::read_to_string(&stamp) {
            let mut parts = text.split_whitespace();
            let (hash, size) = (
                parts.next(),
                parts.next().and_then(|s| s.parse::<u64>().ok()),
            );
            if size == Some(meta.len())
                && hash.is_some_and(|h| f.sha256.as_deref().is_none_or(|want| want == h))
            {
                return Ok(true);
            }
        }
        match self.check_and_stamp(f, path) {
            Ok(()) => Ok(true),
            Err(Error::Checksum { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Hashes `path`; on mismatch deletes it and fails; on success writes the stamp.
    fn check_and_stamp(&self, f: &ModelFile, path: &Path) -> Result<()> {
        let actual = sha256_file(path)?;
        if let Some(expected) = &f.sha256
            && *expected != actual
        {
            let _ = fs::remove_file(path);
            let _ = fs::remove_file(stamp_path(path));
            return Err(Error::Checksum {
                file: f.file.clone(),
                expected: expected.clone(),
                actual,
                path: path.to_path_buf(),
            });
        }
        if f.sha256.is_none() {
            tracing::warn!(
                "{} has no pinned sha256 in its manifest; got {actual}",
                f.file
            );
        }
        let len = fs::metadata(path)
            .map_err(|e| Error::io("reading file metadata", path, e))?
            .len();
        let stamp = stamp_path(path);
        fs::write(&stamp, format!("{actual} {len}\n"))
            .map_err(|e| Error::io("writing the checksum stamp", &stamp, e))
    }
}

fn stamp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

fn part_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// Lower-case hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        File::open(path).map_err(|e| Error::io("opening the file to hash it", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io("reading the file to hash it", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Downloads `url` to `dest`, resuming `dest.part` when it exists.
fn download(
    url: &str,
    dest: &Path,
    label: &str,
    size_hint: Option<u64>,
    progress: &mut dyn FnMut(&Progress) -> bool,
) -> Result<()> {
    if dest.is_file() {
        return Ok(());
    }
    let part = part_path(dest);
    let have = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let (mut reader, offset, total): (Box<dyn Read>, u64, Option<u64>) =
        if url.starts_with("file://") {
            let src = file_url_path(url)?;
            let mut file =
                File::open(&src).map_err(|e| Error::io("opening the download source", &src, e))?;
            let total = file
                .metadata()
                .map_err(|e| Error::io("reading the download source", &src, e))?
                .len();
            let offset = if have <= total { have } else { 0 };
            file.seek(SeekFrom::Start(offset))
                .map_err(|e| Error::io("seeking the download source", &src, e))?;
            (Box::new(file), offset, Some(total))
        } else if url.starts_with("http://") || url.starts_with("https://") {
            http_get(url, have)?
        } else {
            return Err(Error::BadUrl(url.to_owned()));
        };
    if let (Some(t), Some(expected)) = (total, size_hint)
        && t != expected
    {
        return Err(Error::Http {
            reason: format!(
                "the server offers {t} bytes where the manifest expects {expected}; it is not the model file (check the URL)"
            ),
            url: url.to_owned(),
        });
    }
    let total = total.or(size_hint);
    let mut out = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(offset == 0)
        .open(&part)
        .map_err(|e| Error::io("opening the partial download", &part, e))?;
    out.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io("seeking the partial download", &part, e))?;
    let mut done = offset;
    let mut buf = vec![0u8; 256 * 1024];
    if !progress(&Progress {
        file: label.to_owned(),
        downloaded: done,
        total,
    }) {
        return Err(Error::Cancelled);
    }
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Error::Http {
                    reason: format!("{e} after {done} bytes (the download resumes from there)"),
                    url: url.to_owned(),
                });
            }
        };
        done = done.saturating_add(n as u64);
        // A server that sends more than the file has (or never stops) must
        // not fill the disk.
        if let Some(t) = total
            && done > t
        {
            drop(out);
            let _ = fs::remove_file(&part);
            return Err(Error::Http {
                reason: format!("the server sent more than the file's {t} bytes; the partial download was removed"),
                url: url.to_owned(),
            });
        }
        out.write_all(&buf[..n])
            .map_err(|e| Error::io("writing the download", &part, e))?;
        if !progress(&Progress {
            file: label.to_owned(),
            downloaded: done,
            total,
        }) {
            return Err(Error::Cancelled);
        }
    }
    out.sync_all()
        .map_err(|e| Error::io("flushing the download", &part, e))?;
    drop(out);
    if let Some(t) = total
        && done != t
    {
        return Err(Error::Http {
            reason: format!("got {done} of {t} bytes (the download resumes from there)"),
            url: url.to_owned(),
        });
    }
    fs::rename(&part, dest)
        .map_err(|e| Error::io("moving the finished download into place", dest, e))
}

/// The path of a `file://` URL: `file:///abs/path`, `file://localhost/abs/path`,
/// or `file:///C:/path` on Windows, with `%XX` escapes decoded.
fn file_url_path(url: &str) -> Result<PathBuf> {
    // The `url` crate: %-decoding, `localhost`, and drive letters on Windows.
    url::Url::parse(url)
        .ok()
        .filter(|u| u.scheme() == "file")
        .and_then(|u| u.to_file_path().ok())
        .ok_or_else(|| Error::BadUrl(format!("{url} (a file URL needs an absolute path on this machine)")))
}

/// GETs `url` from byte `from`; returns the body, the offset it starts at and the total size.
fn http_get(url: &str, from: u64) -> Result<(Box<dyn Read>, u64, Option<u64>)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_body(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut req = agent.get(url);
    if from > 0 {
        req = req.header("Range", format!("bytes={from}-"));
    }
    let http_err = |reason: String| Error::Http {
        reason,
        url: url.to_owned(),
    };
    let resp = req.call().map_err(|e| http_err(e.to_string()))?;
    let status = resp.status().as_u16();
    let len = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match status {
        206 => {
            // Content-Range: bytes START-END/TOTAL
            let range = resp
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let start = range
                .strip_prefix("bytes ")
                .and_then(|r| r.split('-').next())
                .and_then(|s| s.parse::<u64>().ok());
            let total = range.rsplit('/').next().and_then(|t| t.parse::<u64>().ok());
            if start != Some(from) {
                return Err(http_err(format!(
                    "server answered the range request with {range:?}"
                )));
            }
            Ok((
                Box::new(resp.into_body().into_reader()),
                from,
                // A length the offset would overflow is no size at all.
                total.or(len.and_then(|l| l.checked_add(from))),
            ))
        }
        200 => Ok((Box::new(resp.into_body().into_reader()), 0, len)),
        416 if from > 0 => Err(http_err(
            "the partial download is larger than the file on the server; delete the .part file"
                .to_owned(),
        )),
        s => Err(http_err(format!("HTTP status {s}"))),
    }
}

/// Extracts `member` of the zip `archive` to `dest` (atomically).
fn extract_member(archive: &Path, member: &str, dest: &Path) -> Result<()> {
    let file =
        File::open(archive).map_err(|e| Error::io("opening the downloaded archive", archive, e))?;
    let corrupt = |reason: String| Error::ModelLoad {
        reason: format!("bad zip archive: {reason}"),
        path: archive.to_path_buf(),
    };
    let mut zip = zip::ZipArchive::new(file).map_err(|e| corrupt(e.to_string()))?;
    // members may sit in a folder inside the archive; match on the last path component too
    let index = (0..zip.len())
        .find(|&i| {
            zip.name_for_index(i)
                .and_then(|n| n.ok())
                .is_some_and(|n| n == member || n.rsplit('/').next() == Some(member))
        })
        .ok_or_else(|| corrupt(format!("it has no member {member}")))?;
    let mut entry = zip.by_index(index).map_err(|e| corrupt(e.to_string()))?;
    let tmp = part_path(dest);
    let mut out =
        File::create(&tmp).map_err(|e| Error::io("creating the extracted file", &tmp, e))?;
    io::copy(&mut entry, &mut out)
        .map_err(|e| Error::io("extracting from the archive", &tmp, e))?;
    out.sync_all()
        .map_err(|e| Error::io("flushing the extracted file", &tmp, e))?;
    fs::rename(&tmp, dest).map_err(|e| Error::io("moving the extracted file into place", dest, e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    #[test]
    fn file_urls_are_decoded() {
        assert_eq!(
            file_url_path("file:///tmp/a%20b.onnx").unwrap(),
            PathBuf::from("/tmp/a b.onnx")
        );
        assert_eq!(
            file_url_path("file://localhost/tmp/x").unwrap(),
            PathBuf::from("/tmp/x")
        );
        assert!(matches!(file_url_path("file://relative/x"), Err(Error::BadUrl(_))));
        assert_eq!(file_url_path("file:///100%").unwrap(), PathBuf::from("/100%"));
    }
}
