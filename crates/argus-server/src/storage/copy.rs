//! `argus-server storage copy --from A --to B`: copies every object between
//! two stores (a laptop's embedded store to S3, Supabase Storage to AWS, ...),
//! verifies each copy's sha256 by reading it back, and resumes: an object
//! already copied and verified (same size, and the sha256 recorded in its
//! `x-amz-meta-argus-sha256`) is skipped.

use serde::Deserialize;

use super::{Storage, StorageConfig, StorageError};
use crate::error::ConfigError;

/// A store as a TOML file (`storage copy`'s `--from` and `--to`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreFile {
    pub endpoint: String,
    #[serde(default = "default_region")]
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(default = "yes")]
    pub path_style: bool,
    #[serde(default)]
    pub allow_http: bool,
    #[serde(default)]
    pub sse: bool,
}

fn default_region() -> String {
    "us-east-1".into()
}

fn yes() -> bool {
    true
}

impl StoreFile {
    pub fn load(path: &std::path::Path) -> Result<StorageConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid(format!("cannot read {}: {e}", path.display())))?;
        let f: StoreFile = toml::from_str(&text).map_err(|e| ConfigError::Invalid(format!("{} is not a store description: {e}", path.display())))?;
        Ok(StorageConfig {
            endpoint: f.endpoint.parse().map_err(|_| ConfigError::Invalid(format!("{}: endpoint is not a URL", path.display())))?,
            region: f.region,
            bucket: f.bucket,
            access_key: f.access_key_id,
            secret_key: f.secret_access_key,
            path_style: f.path_style,
            allow_insecure: f.allow_http,
            sse: f.sse,
            presign_ttl: std::time::Duration::from_secs(3600),
        })
    }
}

/// What a copy did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub copied: usize,
    pub skipped: usize,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{key}: the copy's sha256 is {got}, the source's {want}; run the copy again")]
    Mismatch { key: String, want: String, got: String },
    #[error("scratch file: {0}")]
    Io(#[from] std::io::Error),
}

/// The metadata key holding a verified copy's sha256.
pub const SHA_META: &str = "argus-sha256";

/// Copies every object under `prefix` from `from` to `to`, calling
/// `progress(key, copied)` for each object.
pub async fn copy_all(from: &Storage, to: &Storage, prefix: &str, mut progress: impl FnMut(&str, bool)) -> Result<CopyReport, CopyError> {
    let scratch = tempfile::tempdir()?;
    let mut report = CopyReport::default();
    for (key, size) in from.list(prefix).await? {
        if let Some((dsize, meta)) = to.head_meta(&key).await?
            && dsize == size
            && meta.contains_key(SHA_META)
        {
            report.skipped += 1;
            progress(&key, false);
            continue;
        }
        let tmp = scratch.path().join("object");
        let (sha, len) = from.get_to_file(&key, &tmp).await?;
        to.put_file(&key, &tmp, &[(SHA_META, &sha)]).await?;
        let (back, _) = to.get_to_file(&key, &tmp).await?;
        if back != sha {
            return Err(CopyError::Mismatch { key, want: sha, got: back });
        }
        report.copied += 1;
        report.bytes += len;
        progress(&key, true);
    }
    Ok(report)
}
