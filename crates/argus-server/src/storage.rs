//! Object storage: any S3-compatible store, chosen by configuration alone
//! (the embedded store for one machine, AWS S3, Supabase Storage's S3
//! endpoint, Garage, MinIO, Ceph RGW).
//!
//! Videos never pass through the server: it presigns URLs (SigV4 query
//! signatures, rusty-s3) that are valid for one key and one method for a
//! short time, and the desktop talks to the store directly. The server itself
//! only creates, lists, completes and aborts multipart uploads, checks an
//! object's size with HEAD (never reading it back) and deletes objects.

pub mod copy;
pub mod embedded;

use std::{collections::BTreeMap, time::Duration};

use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use serde::Serialize;
use url::Url;

use crate::error::ConfigError;

/// Where objects go.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub endpoint: Url,
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    /// Path-style (`endpoint/bucket/key`) rather than virtual-hosted
    /// (`bucket.endpoint/key`) addressing.
    pub path_style: bool,
    /// Allow plain HTTP to a host other than loopback.
    pub allow_insecure: bool,
    /// Ask for server-side encryption (`x-amz-server-side-encryption: AES256`).
    pub sse: bool,
    /// How long presigned URLs live.
    pub presign_ttl: Duration,
}

impl StorageConfig {
    /// `ARGUS_S3_*` (and the AWS credential variables): `None` when no
    /// endpoint is configured.
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Option<Self>, ConfigError> {
        let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        let Some(endpoint) = get("ARGUS_S3_ENDPOINT") else { return Ok(None) };
        let endpoint: Url = endpoint
            .parse()
            .map_err(|_| ConfigError::Invalid(format!("ARGUS_S3_ENDPOINT={endpoint} is not a URL like https://s3.eu-west-1.amazonaws.com")))?;
        let flag = |k: &str, default: bool| -> Result<bool, ConfigError> {
            match get(k).as_deref().map(str::to_ascii_lowercase).as_deref() {
                None => Ok(default),
                Some("1" | "true" | "yes" | "on") => Ok(true),
                Some("0" | "false" | "no" | "off") => Ok(false),
                Some(v) => Err(ConfigError::Invalid(format!("{k}={v} is not a boolean; use true or false"))),
            }
        };
        let ttl = presign_ttl_from_env(env)?.unwrap_or(Duration::from_secs(15 * 60));
        let c = Self {
            endpoint,
            region: get("ARGUS_S3_REGION").or(get("AWS_REGION")).unwrap_or_else(|| "us-east-1".into()),
            bucket: get("ARGUS_S3_BUCKET").ok_or_else(|| ConfigError::Invalid("ARGUS_S3_BUCKET is not set".into()))?,
            access_key: get("ARGUS_S3_ACCESS_KEY_ID")
                .or(get("AWS_ACCESS_KEY_ID"))
                .ok_or_else(|| ConfigError::Invalid("ARGUS_S3_ACCESS_KEY_ID (or AWS_ACCESS_KEY_ID) is not set".into()))?,
            secret_key: get("ARGUS_S3_SECRET_ACCESS_KEY")
                .or(get("AWS_SECRET_ACCESS_KEY"))
                .ok_or_else(|| ConfigError::Invalid("ARGUS_S3_SECRET_ACCESS_KEY (or AWS_SECRET_ACCESS_KEY) is not set".into()))?,
            path_style: flag("ARGUS_S3_FORCE_PATH_STYLE", true)?,
            allow_insecure: flag("ARGUS_S3_ALLOW_HTTP", false)?,
            sse: flag("ARGUS_S3_SSE", true)?,
            presign_ttl: ttl,
        };
        Ok(Some(c))
    }
}

/// `ARGUS_S3_PRESIGN_TTL`, seconds (S3 allows 1 s to 7 days).
pub fn presign_ttl_from_env(env: &BTreeMap<String, String>) -> Result<Option<Duration>, ConfigError> {
    match env.get("ARGUS_S3_PRESIGN_TTL").filter(|v| !v.is_empty()) {
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=7 * 24 * 3600).contains(s))
            .map(|s| Some(Duration::from_secs(s)))
            .ok_or_else(|| ConfigError::Invalid(format!("ARGUS_S3_PRESIGN_TTL={v}: seconds, 1 to 604800 (S3's limit)"))),
        None => Ok(None),
    }
}

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object storage refused {what}: HTTP {status}: {body}")]
    Refused { what: &'static str, status: u16, body: String },
    #[error("object storage is unreachable ({what}): {detail}")]
    Unreachable { what: &'static str, detail: String },
    #[error("object storage answered {what} with something unexpected: {0}", what = .1)]
    BadAnswer(String, &'static str),
}

/// A presigned request: what the client must send, exactly.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Presigned {
    pub method: String,
    pub url: String,
    /// Headers that were signed and must be sent as they are.
    pub headers: BTreeMap<String, String>,
}

/// One uploaded part, as the store lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Part {
    pub number: u16,
    pub etag: String,
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct Storage {
    bucket: Bucket,
    creds: Credentials,
    sse: bool,
    pub ttl: Duration,
    agent: ureq::Agent,
}

fn is_loopback(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl Storage {
    pub fn new(c: &StorageConfig) -> Result<Self, ConfigError> {
        if c.endpoint.scheme() == "http" && !is_loopback(&c.endpoint) && !c.allow_insecure {
            return Err(ConfigError::Invalid(format!(
                "ARGUS_S3_ENDPOINT={} is plain HTTP to another machine: use https, or set ARGUS_S3_ALLOW_HTTP=true on a trusted network",
                c.endpoint
            )));
        }
        let style = if c.path_style { UrlStyle::Path } else { UrlStyle::VirtualHost };
        let bucket = Bucket::new(c.endpoint.clone(), style, c.bucket.clone(), c.region.clone())
            .map_err(|e| ConfigError::Invalid(format!("bucket {} at {}: {e}", c.bucket, c.endpoint)))?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Self { bucket, creds: Credentials::new(c.access_key.clone(), c.secret_key.clone()), sse: c.sse, ttl: c.presign_ttl, agent })
    }

    /// The key prefix of a video's file and its derived files. Ids are
    /// written without dashes: the embedded store (s3s-fs) names a multipart
    /// upload's metadata file after the base64 of the key, and the file system
    /// allows 255 bytes per name.
    pub fn video_prefix(team: uuid::Uuid, project: uuid::Uuid, video: uuid::Uuid) -> String {
        format!("teams/{}/projects/{}/videos/{}/", team.simple(), project.simple(), video.simple())
    }

    fn sse_header(&self, headers: &mut BTreeMap<String, String>) {
        if self.sse {
            headers.insert("x-amz-server-side-encryption".into(), "AES256".into());
        }
    }

    /// A single PUT of the whole object.
    pub fn presign_put(&self, key: &str, content_type: &str) -> Presigned {
        let mut action = self.bucket.put_object(Some(&self.creds), key);
        let mut headers = BTreeMap::new();
        headers.insert("content-type".to_owned(), content_type.to_owned());
        self.sse_header(&mut headers);
        for (k, v) in &headers {
            action.headers_mut().insert(k.clone(), v.clone());
        }
        Presigned { method: "PUT".into(), url: action.sign(self.ttl).to_string(), headers }
    }

    /// One part of a multipart upload (parts carry no SSE header: it is set
    /// when the upload is created).
    pub fn presign_part(&self, key: &str, upload_id: &str, number: u16) -> Presigned {
        let action = self.bucket.upload_part(Some(&self.creds), key, number, upload_id);
        Presigned { method: "PUT".into(), url: action.sign(self.ttl).to_string(), headers: BTreeMap::new() }
    }

    /// A GET of the object (clients may send `Range`).
    pub fn presign_get(&self, key: &str, download_name: Option<&str>) -> Presigned {
        let mut action = self.bucket.get_object(Some(&self.creds), key);
        if let Some(name) = download_name {
            let safe: String = name.chars().filter(|c| !c.is_control() && *c != '"' && *c != '\\').collect();
            action.query_mut().insert("response-content-disposition", format!("attachment; filename=\"{safe}\""));
        }
        Presigned { method: "GET".into(), url: action.sign(self.ttl).to_string(), headers: BTreeMap::new() }
    }

    /// Runs one signed request on the blocking pool.
    async fn call(&self, what: &'static str, method: &'static str, url: Url, headers: Vec<(String, String)>, body: Option<Vec<u8>>) -> Result<(u16, Vec<(String, String)>, String), StorageError> {
        let agent = self.agent.clone();
        tokio::task::spawn_blocking(move || {
            let mut b = http::Request::builder().method(method).uri(url.as_str());
            for (k, v) in &headers {
                b = b.header(k, v);
            }
            let req = b.body(body.unwrap_or_default()).map_err(|e| StorageError::Unreachable { what, detail: e.to_string() })?;
            let mut resp = agent.run(req).map_err(|e| StorageError::Unreachable { what, detail: e.to_string() })?;
            let status = resp.status().as_u16();
            let hdrs = resp
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                .collect();
            let text = resp.body_mut().read_to_string().unwrap_or_default();
            Ok((status, hdrs, text))
        })
        .await
        .map_err(|e| StorageError::Unreachable { what, detail: e.to_string() })?
    }

    fn ok(what: &'static str, (status, h, body): (u16, Vec<(String, String)>, String)) -> Result<(Vec<(String, String)>, String), StorageError> {
        if (200..300).contains(&status) {
            Ok((h, body))
        } else {
            Err(StorageError::Refused { what, status, body: body.chars().take(500).collect() })
        }
    }

    pub async fn create_multipart(&self, key: &str, content_type: &str) -> Result<String, StorageError> {
        // Signed by hand rather than with rusty-s3's CreateMultipartUpload,
        // which sends `?uploads=1`: AWS takes it, moto's server answers 500.
        // `?uploads=` is what boto3 and the AWS SDKs send.
        let mut headers: Vec<(&str, &str)> = vec![("content-type", content_type)];
        if self.sse {
            headers.push(("x-amz-server-side-encryption", "AES256"));
        }
        let url = rusty_s3::signing::sign(
            &jiff::Timestamp::now(),
            rusty_s3::Method::Post,
            self.bucket.object_url(key),
            self.creds.key(),
            self.creds.secret(),
            self.creds.token(),
            self.bucket.region(),
            60,
            std::iter::once(("uploads", "")),
            headers.iter().copied(),
        );
        let headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let (_, body) = Self::ok("CreateMultipartUpload", self.call("CreateMultipartUpload", "POST", url, headers, None).await?)?;
        let parsed = rusty_s3::actions::CreateMultipartUpload::parse_response(&body)
            .map_err(|e| StorageError::BadAnswer(e.to_string(), "CreateMultipartUpload"))?;
        Ok(parsed.upload_id().to_owned())
    }

    /// Every part the store holds for an upload (paging through ListParts).
    pub async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Vec<Part>, StorageError> {
        let mut out = Vec::new();
        let mut marker: Option<u16> = None;
        loop {
            let mut action = self.bucket.list_parts(Some(&self.creds), key, upload_id);
            if let Some(m) = marker {
                action.set_part_number_marker(m);
            }
            let url = action.sign(Duration::from_secs(60));
            let (_, body) = Self::ok("ListParts", self.call("ListParts", "GET", url, vec![], None).await?)?;
            let page = rusty_s3::actions::ListParts::parse_response(&body).map_err(|e| StorageError::BadAnswer(e.to_string(), "ListParts"))?;
            out.extend(page.parts.iter().map(|p| Part { number: p.number, etag: p.etag.trim_matches('"').to_owned(), size: p.size }));
            match page.next_part_number_marker {
                Some(m) if marker != Some(m) && !page.parts.is_empty() => marker = Some(m),
                _ => break,
            }
        }
        out.sort_by_key(|p| p.number);
        out.dedup_by_key(|p| p.number);
        Ok(out)
    }

    /// Completes an upload with its parts' ETags in part order (parts 1..=n).
    pub async fn complete_multipart(&self, key: &str, upload_id: &str, etags: &[String]) -> Result<(), StorageError> {
        let quoted: Vec<String> = etags.iter().map(|e| format!("\"{}\"", e.trim_matches('"'))).collect();
        let action = self.bucket.complete_multipart_upload(Some(&self.creds), key, upload_id, quoted.iter().map(String::as_str));
        let url = action.sign(Duration::from_secs(60));
        let body = action.body();
        let (_, text) = Self::ok("CompleteMultipartUpload", self.call("CompleteMultipartUpload", "POST", url, vec![], Some(body.into_bytes())).await?)?;
        // S3 may answer 200 with an <Error> body.
        if text.contains("<Error>") {
            return Err(StorageError::Refused { what: "CompleteMultipartUpload", status: 200, body: text.chars().take(500).collect() });
        }
        Ok(())
    }

    pub async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StorageError> {
        let url = self.bucket.abort_multipart_upload(Some(&self.creds), key, upload_id).sign(Duration::from_secs(60));
        let r = self.call("AbortMultipartUpload", "DELETE", url, vec![], None).await?;
        if r.0 == 404 {
            return Ok(()); // already gone
        }
        Self::ok("AbortMultipartUpload", r).map(|_| ())
    }

    /// The object's size, or `None` when it does not exist. Never reads it.
    pub async fn head(&self, key: &str) -> Result<Option<u64>, StorageError> {
        Ok(self.head_meta(key).await?.map(|(size, _)| size))
    }

    /// Writes a small object (posters, timeline strips).
    pub async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StorageError> {
        let p = self.presign_put(key, content_type);
        let url: Url = p.url.parse().map_err(|_| StorageError::BadAnswer("bad URL".into(), "PutObject"))?;
        Self::ok("PutObject", self.call("PutObject", "PUT", url, p.headers.into_iter().collect(), Some(bytes)).await?).map(|_| ())
    }

    /// Every object under `prefix`: key and size (paging with continuation tokens).
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut list = self.bucket.list_objects_v2(Some(&self.creds));
            list.with_prefix(prefix);
            list.with_max_keys(1000);
            if let Some(t) = &token {
                list.with_continuation_token(t.clone());
            }
            let url = list.sign(Duration::from_secs(60));
            let (_, body) = Self::ok("ListObjectsV2", self.call("ListObjectsV2", "GET", url, vec![], None).await?)?;
            let page = rusty_s3::actions::ListObjectsV2::parse_response(&body).map_err(|e| StorageError::BadAnswer(e.to_string(), "ListObjectsV2"))?;
            out.extend(page.contents.iter().map(|o| (o.key.clone(), o.size.unwrap_or(0))));
            match page.next_continuation_token {
                Some(t) if !page.contents.is_empty() => token = Some(t),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The object's size and its `x-amz-meta-*` headers, or `None`.
    pub async fn head_meta(&self, key: &str) -> Result<Option<(u64, BTreeMap<String, String>)>, StorageError> {
        let url = self.bucket.head_object(Some(&self.creds), key).sign(Duration::from_secs(60));
        let r = self.call("HeadObject", "HEAD", url, vec![], None).await?;
        if r.0 == 404 {
            return Ok(None);
        }
        let (h, _) = Self::ok("HeadObject", r)?;
        let size = h
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| StorageError::BadAnswer("no content-length".into(), "HeadObject"))?;
        let meta = h
            .into_iter()
            .filter_map(|(k, v)| k.to_ascii_lowercase().strip_prefix("x-amz-meta-").map(|m| (m.to_owned(), v)))
            .collect();
        Ok(Some((size, meta)))
    }

    /// Streams an object into `file`, returning its sha256 and length.
    pub async fn get_to_file(&self, key: &str, file: &std::path::Path) -> Result<(String, u64), StorageError> {
        use sha2::Digest;
        use std::io::{Read, Write};
        let url = self.bucket.get_object(Some(&self.creds), key).sign(self.ttl);
        let agent = self.agent.clone();
        let path = file.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let err = |d: String| StorageError::Unreachable { what: "GetObject", detail: d };
            let mut resp = agent.get(url.as_str()).call().map_err(|e| err(e.to_string()))?;
            if resp.status().as_u16() != 200 {
                return Err(StorageError::Refused { what: "GetObject", status: resp.status().as_u16(), body: String::new() });
            }
            let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
            let mut out = std::fs::File::create(&path).map_err(|e| err(e.to_string()))?;
            let mut hash = sha2::Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut n_total = 0u64;
            loop {
                let n = reader.read(&mut buf).map_err(|e| err(e.to_string()))?;
                if n == 0 {
                    break;
                }
                hash.update(&buf[..n]);
                out.write_all(&buf[..n]).map_err(|e| err(e.to_string()))?;
                n_total += n as u64;
            }
            Ok((hex::encode(hash.finalize()), n_total))
        })
        .await
        .map_err(|e| StorageError::Unreachable { what: "GetObject", detail: e.to_string() })?
    }

    /// Uploads `file` to `key` in one PUT with `x-amz-meta-*` headers.
    pub async fn put_file(&self, key: &str, file: &std::path::Path, meta: &[(&str, &str)]) -> Result<(), StorageError> {
        let mut action = self.bucket.put_object(Some(&self.creds), key);
        let mut headers: Vec<(String, String)> = meta.iter().map(|(k, v)| (format!("x-amz-meta-{k}"), v.to_string())).collect();
        if self.sse {
            headers.push(("x-amz-server-side-encryption".into(), "AES256".into()));
        }
        for (k, v) in &headers {
            action.headers_mut().insert(k.clone(), v.clone());
        }
        let url = action.sign(self.ttl);
        let agent = self.agent.clone();
        let path = file.to_path_buf();
        let r = tokio::task::spawn_blocking(move || {
            let err = |d: String| StorageError::Unreachable { what: "PutObject", detail: d };
            let f = std::fs::File::open(&path).map_err(|e| err(e.to_string()))?;
            let len = f.metadata().map_err(|e| err(e.to_string()))?.len();
            let mut req = agent.put(url.as_str()).header("content-length", &len.to_string());
            for (k, v) in &headers {
                req = req.header(k, v);
            }
            let resp = req.send(ureq::SendBody::from_reader(&mut std::io::BufReader::new(f))).map_err(|e| err(e.to_string()))?;
            Ok::<_, StorageError>(resp.status().as_u16())
        })
        .await
        .map_err(|e| StorageError::Unreachable { what: "PutObject", detail: e.to_string() })??;
        if (200..300).contains(&r) { Ok(()) } else { Err(StorageError::Refused { what: "PutObject", status: r, body: String::new() }) }
    }

    /// Deletes every object under `prefix`, returning how many.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, StorageError> {
        let keys = self.list(prefix).await?;
        for (key, _) in &keys {
            let url = self.bucket.delete_object(Some(&self.creds), key).sign(Duration::from_secs(60));
            let r = self.call("DeleteObject", "DELETE", url, vec![], None).await?;
            if r.0 != 404 {
                Self::ok("DeleteObject", r)?;
            }
        }
        Ok(keys.len())
    }
}

/// The part size for a file of `size` bytes: 8 MiB, or more when 10,000
/// parts (S3's limit) would not hold the file; whole MiB.
pub fn part_size(size: u64) -> u64 {
    const MIB: u64 = 1024 * 1024;
    let min = 8 * MIB;
    let needed = size.div_ceil(10_000).div_ceil(MIB) * MIB;
    min.max(needed)
}

/// Files up to this size go up in one PUT; larger ones in parts.
pub const SINGLE_PUT_MAX: u64 = 16 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes_respect_s3_limits() {
        const MIB: u64 = 1024 * 1024;
        assert_eq!(part_size(100 * MIB), 8 * MIB);
        assert_eq!(part_size(2048 * MIB), 8 * MIB);
        let huge = 200 * 1024 * MIB; // 200 GiB
        let p = part_size(huge);
        assert!(huge.div_ceil(p) <= 10_000 && p.is_multiple_of(MIB) && p >= 5 * MIB);
        assert!(p < 5 * 1024 * MIB, "parts stay under S3's 5 GiB");
    }

    #[test]
    fn plain_http_elsewhere_is_refused() {
        let c = |e: &str, allow: bool| StorageConfig {
            endpoint: e.parse().expect("url"),
            region: "us-east-1".into(),
            bucket: "b".into(),
            access_key: "k".into(),
            secret_key: "s".into(),
            path_style: true,
            allow_insecure: allow,
            sse: false,
            presign_ttl: Duration::from_secs(60),
        };
        assert!(Storage::new(&c("http://127.0.0.1:9000", false)).is_ok());
        assert!(Storage::new(&c("https://s3.example.com", false)).is_ok());
        let err = Storage::new(&c("http://s3.example.com", false)).expect_err("refused").to_string();
        assert!(err.contains("ARGUS_S3_ALLOW_HTTP"), "{err}");
        assert!(Storage::new(&c("http://s3.example.com", true)).is_ok());
    }

    #[test]
    fn presigned_urls_sign_one_key_and_method_and_the_sse_header() {
        let mut cfg = StorageConfig {
            endpoint: "https://s3.eu-west-1.amazonaws.com".parse().expect("url"),
            region: "eu-west-1".into(),
            bucket: "argus".into(),
            access_key: "AKIAEXAMPLE".into(),
            secret_key: "secret".into(),
            path_style: false,
            allow_insecure: false,
            sse: true,
            presign_ttl: Duration::from_secs(900),
        };
        let s = Storage::new(&cfg).expect("storage");
        let p = s.presign_put("teams/a/projects/b/videos/c/original", "video/mp4");
        assert!(p.url.starts_with("https://argus.s3.eu-west-1.amazonaws.com/teams/a/projects/b/videos/c/original?"), "{}", p.url);
        assert!(p.url.contains("X-Amz-Expires=900"));
        assert!(p.url.contains("x-amz-server-side-encryption"), "SSE is signed: {}", p.url);
        assert_eq!(p.headers.get("x-amz-server-side-encryption").map(String::as_str), Some("AES256"));
        cfg.sse = false;
        cfg.path_style = true;
        let s = Storage::new(&cfg).expect("storage");
        let g = s.presign_get("k", Some("a\"b.mp4"));
        assert!(g.url.starts_with("https://s3.eu-west-1.amazonaws.com/argus/k?"), "{}", g.url);
        assert!(!g.url.contains("a%22b"), "quotes are dropped from the file name");
    }
}
