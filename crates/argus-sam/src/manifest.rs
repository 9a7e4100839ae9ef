//! Model manifests: what a SAM model is, which contract it follows, where its
//! files come from and how its input is prepared.
//!
//! A manifest is a small TOML file (see `crates/argus-sam/models/*.toml`, which
//! are compiled in and returned by [`builtin_manifests`]). Nothing here touches
//! the network or ONNX Runtime, so manifests are cheap to list in a UI.

use serde::Deserialize;

use crate::{Error, Result};

/// The I/O contract a pair of ONNX files follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Contract {
    /// segment-anything's ONNX export (also MobileSAM, SAM-HQ, EfficientSAM-style
    /// exports): encoder `image -> image_embeddings [1,256,64,64]`; decoder
    /// `image_embeddings, point_coords, point_labels, mask_input, has_mask_input,
    /// orig_im_size -> masks, iou_predictions, low_res_masks`.
    Sam,
    /// The SAM 2 image contract: encoder `image -> image_embed, high_res_feats_0,
    /// high_res_feats_1`; decoder takes those plus the point/mask inputs.
    Sam2,
}

impl Contract {
    /// A short name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sam => "SAM",
            Self::Sam2 => "SAM 2 image",
        }
    }

    /// Names of the encoder outputs, in the order the decoder takes them.
    pub fn embedding_names(self) -> &'static [&'static str] {
        match self {
            Self::Sam => &["image_embeddings"],
            Self::Sam2 => &["image_embed", "high_res_feats_0", "high_res_feats_1"],
        }
    }

    /// Expected shapes of the encoder outputs (same order as [`Self::embedding_names`]).
    pub fn embedding_shapes(self) -> &'static [[i64; 4]] {
        match self {
            Self::Sam => &[[1, 256, 64, 64]],
            Self::Sam2 => &[[1, 256, 64, 64], [1, 32, 256, 256], [1, 64, 128, 128]],
        }
    }
}

/// How a frame is fitted into the square model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    /// Scale so the longest side is `input_size`, keep the aspect ratio, pad the
    /// bottom/right with zeros (segment-anything's `ResizeLongestSide`).
    LongestSide,
    /// Stretch to `input_size x input_size` (SAM 2's image transform).
    Stretch,
}

/// Memory layout of the encoder input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputLayout {
    /// `[1, 3, S, S]` float, normalised with `pixel_mean`/`pixel_std`, padded.
    Nchw,
    /// `[H, W, 3]` float raw 0..255 pixels after the resize, the model does the
    /// normalisation and padding itself (samexporter's `--use-preprocess`).
    /// If the model declares fixed H/W larger than the resized frame, the
    /// bottom/right is padded with zeros.
    HwcRaw,
}

/// One file of a model.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// File name inside the model's cache directory.
    pub file: String,
    /// Lower-case hex sha256 of the file. `None` when the publisher gives none:
    /// the file is then accepted after download and its hash logged (unpinned).
    #[serde(default)]
    pub sha256: Option<String>,
    /// Download locations tried in order (`file://`, `http://`, `https://`).
    pub urls: Vec<String>,
    /// When the URL is a zip archive: the member to extract.
    #[serde(default)]
    pub archive_member: Option<String>,
    /// Name of the encoder's input; by default `image`, or the encoder's only input.
    #[serde(default)]
    pub input: Option<String>,
    /// Expected size in bytes, for progress when the server does not say.
    #[serde(default)]
    pub size: Option<u64>,
}

/// A model manifest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Stable id, used in cache keys and paths (`[a-z0-9._-]`).
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Model family (sam, mobile_sam, sam_hq, efficient_sam, sam2.1, test...).
    pub family: String,
    /// I/O contract.
    pub contract: Contract,
    /// Square model input side (1024 for all SAM models).
    pub input_size: u32,
    /// How the frame is fitted into the input.
    pub resize: ResizeMode,
    /// Encoder input layout; when absent it is read from the encoder's input
    /// rank (4 = NCHW, 3 = HWC raw pixels).
    #[serde(default)]
    pub layout: Option<InputLayout>,
    /// Per-channel (RGB) mean on the 0..255 scale.
    pub pixel_mean: [f32; 3],
    /// Per-channel (RGB) standard deviation on the 0..255 scale.
    pub pixel_std: [f32; 3],
    /// Licence of the weights.
    pub licence: String,
    /// Where the model comes from.
    #[serde(default)]
    pub homepage: Option<String>,
    /// The image encoder.
    pub encoder: ModelFile,
    /// The prompt decoder.
    pub decoder: ModelFile,
    /// Extra files the encoder needs next to it (ONNX external data).
    #[serde(default)]
    pub extra: Vec<ModelFile>,
}

impl Manifest {
    /// Parses and validates a manifest. `name` is used in error messages.
    pub fn parse(text: &str, name: &str) -> Result<Self> {
        let manifest: Self = toml::from_str(text).map_err(|e| Error::Manifest {
            name: name.to_owned(),
            reason: e.to_string(),
        })?;
        manifest.validate(name)?;
        Ok(manifest)
    }

    /// Reads and parses a manifest file.
    pub fn from_path(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io("reading the manifest", path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// All files of the model, encoder first.
    pub fn files(&self) -> impl Iterator<Item = &ModelFile> {
        [&self.encoder, &self.decoder]
            .into_iter()
            .chain(self.extra.iter())
    }

    fn validate(&self, name: &str) -> Result<()> {
        let bad = |reason: String| {
            Err(Error::Manifest {
                name: name.to_owned(),
                reason,
            })
        };
        if self.id.is_empty()
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        {
            return bad(format!(
                "id {:?} must be non-empty and use only a-z, 0-9, '.', '_' and '-'",
                self.id
            ));
        }
        if self.input_size == 0 || self.input_size > 4096 {
            return bad(format!(
                "input_size {} must be in 1..=4096",
                self.input_size
            ));
        }
        if self.pixel_std.iter().any(|s| !s.is_finite() || *s <= 0.0)
            || self.pixel_mean.iter().any(|m| !m.is_finite())
        {
            return bad("pixel_std must be positive and pixel_mean finite".to_owned());
        }
        for f in self.files() {
            if f.file.is_empty() || f.file.contains(['/', '\\']) || f.file.starts_with('.') {
                return bad(format!("file name {:?} must be a plain file name", f.file));
            }
            if f.urls.is_empty() {
                return bad(format!("file {} has no download URL", f.file));
            }
            if let Some(sha) = &f.sha256
                && (sha.len() != 64
                    || !sha
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()))
            {
                return bad(format!(
                    "sha256 of {} must be 64 lower-case hex digits",
                    f.file
                ));
            }
        }
        Ok(())
    }
}

/// The manifests shipped with Argus (compiled in from `models/*.toml`).
pub fn builtin_manifests() -> Vec<Manifest> {
    BUILTIN
        .iter()
        .filter_map(|(name, text)| match Manifest::parse(text, name) {
            Ok(m) => Some(m),
            Err(e) => {
                // Cannot happen for the shipped files (a unit test parses them all).
                tracing::error!("built-in manifest {name} is invalid: {e}");
                None
            }
        })
        .collect()
}

/// Finds a built-in manifest by id.
pub fn builtin_manifest(id: &str) -> Result<Manifest> {
    let all = builtin_manifests();
    let known = all
        .iter()
        .map(|m| m.id.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    all.iter()
        .find(|m| m.id == id)
        .cloned()
        .ok_or_else(|| Error::UnknownModel(id.to_owned(), known))
}

const BUILTIN: &[(&str, &str)] = &[
    (
        "models/sam-vit-b.toml",
        include_str!("../models/sam-vit-b.toml"),
    ),
    (
        "models/sam-vit-l.toml",
        include_str!("../models/sam-vit-l.toml"),
    ),
    (
        "models/sam-vit-h.toml",
        include_str!("../models/sam-vit-h.toml"),
    ),
    (
        "models/mobile-sam.toml",
        include_str!("../models/mobile-sam.toml"),
    ),
    (
        "models/sam2.1-tiny.toml",
        include_str!("../models/sam2.1-tiny.toml"),
    ),
    (
        "models/sam2.1-small.toml",
        include_str!("../models/sam2.1-small.toml"),
    ),
    (
        "models/sam2.1-base-plus.toml",
        include_str!("../models/sam2.1-base-plus.toml"),
    ),
    (
        "models/sam2.1-large.toml",
        include_str!("../models/sam2.1-large.toml"),
    ),
];

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifests_all_parse() {
        assert_eq!(builtin_manifests().len(), BUILTIN.len());
        for (name, text) in BUILTIN {
            let m = Manifest::parse(text, name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(m.input_size, 1024, "{name}");
            assert!(
                m.files()
                    .all(|f| f.urls.iter().all(|u| u.starts_with("https://"))),
                "{name}"
            );
        }
        assert!(builtin_manifest("sam2.1-tiny").is_ok());
        assert!(matches!(
            builtin_manifest("nope"),
            Err(Error::UnknownModel(..))
        ));
    }

    #[test]
    fn invalid_manifests_are_refused_with_the_reason() {
        let (_, good) = BUILTIN[0];
        let bad_id = good.replacen("id = \"sam-vit-b\"", "id = \"Bad Id\"", 1);
        let err = Manifest::parse(&bad_id, "x.toml").unwrap_err().to_string();
        assert!(err.contains("x.toml") && err.contains("Bad Id"), "{err}");
        let bad_std = good.replacen("pixel_std = [58.395", "pixel_std = [0.0", 1);
        assert!(
            Manifest::parse(&bad_std, "x")
                .unwrap_err()
                .to_string()
                .contains("pixel_std")
        );
        let path_name = good.replacen(
            "file = \"sam_vit_b_01ec64.encoder.onnx\"",
            "file = \"../evil.onnx\"",
            1,
        );
        assert!(
            Manifest::parse(&path_name, "x")
                .unwrap_err()
                .to_string()
                .contains("plain file name")
        );
        assert!(Manifest::parse("id = 3", "x").is_err());
    }
}
