//! A loaded SAM model: contract checks, encoding frames, decoding prompts.
//!
//! The encoder and the decoder are separate ONNX Runtime sessions behind
//! separate locks, so a click on an already-encoded frame never waits for a
//! background encode.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use argus_core::Rle;
use ort::session::{Session, SessionInputValue, builder::GraphOptimizationLevel};
use ort::value::{TensorElementType, TensorRef, ValueType};
use parking_lot::Mutex;

use crate::image::{ImageView, InputTensor, Transform, preprocess};
use crate::manifest::{Contract, InputLayout, Manifest};
use crate::prompt::{LOW_RES, LowResMask, Prompt};
use crate::runtime::{ProviderChoice, ProviderReport, environment, register_providers};
use crate::{Error, Result, mask};

/// Where masks are brought to frame resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaskUpscale {
    /// From the decoder's 256x256 low-res logits, in Rust, only for the mask that
    /// is asked for: the reference post-processing (SAM: upsample to the input
    /// size, crop the padding, upsample to the frame; SAM 2: upsample straight to
    /// the frame) with the last step fused into thresholding and RLE encoding.
    /// The decoder is then given a small `orig_im_size`, so its own full-size
    /// `masks` output, unused, stays cheap. This also stays correct for exports
    /// whose crop size was frozen at tracing time.
    #[default]
    Fused,
    /// The decoder resizes all masks to the frame (`orig_im_size` = frame size)
    /// and Rust only thresholds them, as the Python reference pipelines do.
    /// Slower; kept for comparison and for exports without low-res outputs.
    /// A decoder without `orig_im_size` has no upscale of its own: its masks
    /// are always brought to the frame by Argus.
    Decoder,
}

/// Options for loading a model.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Execution provider choice (default: the best for this platform, CPU fallback).
    pub provider: ProviderChoice,
    /// ONNX Runtime intra-op threads; `None` lets ONNX Runtime decide.
    pub intra_threads: Option<usize>,
    /// Where masks are upsampled.
    pub mask_upscale: MaskUpscale,
    /// Let ONNX Runtime's intra-op threads spin between runs (its own
    /// default). Off here: an annotation tool runs the decoder on clicks, and
    /// threads spinning after each run take the CPU from decoding, compositing
    /// and the webview on a small machine.
    pub spin: bool,
    /// Run the encoder's ONNX Runtime threads at background priority (see
    /// [`crate::priority`]): for an app whose encoder mostly pre-encodes
    /// frames while the user works. An encode the user waits for then only
    /// yields to other busy threads, and the prompt decoder keeps its normal
    /// priority.
    pub background_encoder: bool,
}

/// One encoder output tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingTensor {
    /// `[1, C, H, W]`.
    pub shape: [usize; 4],
    /// Row-major values.
    pub data: Vec<f32>,
}

/// A frame's image embedding (all encoder outputs) plus its geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    model_id: String,
    transform: Transform,
    tensors: Vec<EmbeddingTensor>,
}

impl Embedding {
    /// Reassembles an embedding (from a cache); checked against the model when used.
    pub fn from_parts(
        model_id: String,
        transform: Transform,
        tensors: Vec<EmbeddingTensor>,
    ) -> Self {
        Self {
            model_id,
            transform,
            tensors,
        }
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    pub fn transform(&self) -> &Transform {
        &self.transform
    }

    pub fn tensors(&self) -> &[EmbeddingTensor] {
        &self.tensors
    }

    /// Memory held by the tensors, in bytes.
    pub fn byte_size(&self) -> usize {
        self.tensors.iter().map(|t| t.data.len() * 4).sum::<usize>() + 64
    }
}

/// One of the decoder's candidate masks.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Index of the mask in the decoder output.
    pub index: usize,
    /// The decoder's predicted IoU.
    pub iou: f32,
    low_res: Option<LowResMask>,
}

impl Candidate {
    /// The 256x256 logits to pass as `Prompt::previous` for the next click,
    /// when the decoder exposes them (`low_res_masks`, or low-res `masks`).
    pub fn low_res(&self) -> Option<&LowResMask> {
        self.low_res.as_ref()
    }
}

/// Where a prediction's full-resolution masks come from.
#[derive(Debug, Clone)]
enum MaskSource {
    /// `[M, frame_h, frame_w]` logits resized by the decoder.
    Frame(Vec<f32>),
    /// The candidates' low-res logits, upsampled to `input x input`, cropped to
    /// `crop` (the resized frame inside the padded input), then to the frame.
    LowResCropped { input: usize, crop: (usize, usize) },
    /// The candidates' low-res logits upsampled straight to the frame.
    LowRes,
}

/// The decoder's answer to a prompt: candidates ranked by predicted IoU.
#[derive(Debug, Clone)]
pub struct Prediction {
    candidates: Vec<Candidate>,
    source: MaskSource,
    frame_h: u32,
    frame_w: u32,
}

impl Prediction {
    /// Candidates, best predicted IoU first.
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// The mask of the candidate at `rank` (0 = best) at frame resolution.
    pub fn mask(&self, rank: usize) -> Result<Rle> {
        let c = self.candidates.get(rank).ok_or_else(|| {
            Error::InvalidInput(format!(
                "candidate {rank} does not exist ({} candidates)",
                self.candidates.len()
            ))
        })?;
        let (h, w) = (self.frame_h, self.frame_w);
        let low = || {
            c.low_res
                .as_ref()
                .map(LowResMask::logits)
                .ok_or_else(|| Error::BadOutput {
                    stage: "decoder",
                    reason: "no low-res mask for this candidate".to_owned(),
                })
        };
        match &self.source {
            MaskSource::Frame(logits) => {
                let plane = h as usize * w as usize;
                let logits = logits
                    .get(c.index * plane..(c.index + 1) * plane)
                    .ok_or_else(|| Error::BadOutput {
                        stage: "decoder",
                        reason: "mask index out of range".to_owned(),
                    })?;
                mask::logits_to_rle(logits, h, w)
            }
            MaskSource::LowRes => mask::upscale_to_rle(low()?, LOW_RES, LOW_RES, h, w),
            MaskSource::LowResCropped { input, crop } => {
                let region = mask::resize_region(low()?, LOW_RES, LOW_RES, (*input, *input), *crop);
                mask::upscale_to_rle(&region, crop.0, crop.1, h, w)
            }
        }
    }

    /// The best candidate's mask.
    pub fn best_mask(&self) -> Result<Rle> {
        self.mask(0)
    }
}

/// The element type of a decoder's `orig_im_size`.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeType {
    F32,
    I32,
    I64,
}

/// A SAM model ready to encode frames and decode prompts.
pub struct SamModel {
    manifest: Manifest,
    encoder_path: PathBuf,
    decoder_path: PathBuf,
    options: LoadOptions,
    encoder: Mutex<Session>,
    decoder: Mutex<Session>,
    report: Mutex<ProviderReport>,
    encoder_input: String,
    layout: InputLayout,
    fixed_hw: Option<(usize, usize)>,
    size_type: Option<SizeType>,
    /// Decoder output holding 256x256 logits per candidate, if any.
    low_res_output: Option<&'static str>,
}

impl std::fmt::Debug for SamModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamModel")
            .field("id", &self.manifest.id)
            .field("provider", &self.report.lock().active)
            .finish_non_exhaustive()
    }
}

impl SamModel {
    /// Loads the two ONNX files of `manifest` and checks them against its contract.
    pub fn load(
        manifest: &Manifest,
        encoder_path: &Path,
        decoder_path: &Path,
        options: LoadOptions,
    ) -> Result<Self> {
        let (encoder, enc_report) =
            build_session(encoder_path, &options, options.background_encoder)?;
        let (decoder, dec_report) = build_session(decoder_path, &options, false)?;
        let check = check_contract(manifest, &encoder, &decoder)?;
        let report = if enc_report.is_gpu() {
            enc_report
        } else {
            dec_report.clone()
        };
        tracing::info!(
            "SAM model {} loaded on {}{}",
            manifest.id,
            report.active,
            report
                .why_not_gpu()
                .map(|w| format!(" (GPU not used: {w})"))
                .unwrap_or_default()
        );
        Ok(Self {
            manifest: manifest.clone(),
            encoder_path: encoder_path.to_path_buf(),
            decoder_path: decoder_path.to_path_buf(),
            options,
            encoder: Mutex::new(encoder),
            decoder: Mutex::new(decoder),
            report: Mutex::new(report),
            encoder_input: check.encoder_input,
            layout: check.layout,
            fixed_hw: check.fixed_hw,
            size_type: check.size_type,
            low_res_output: check.low_res_output,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The decoder output the low-res logits are read from: `low_res_masks`,
    /// or `masks` for a decoder without an in-graph upscale (no
    /// `orig_im_size`), which is then always upscaled by Argus.
    pub fn low_res_output(&self) -> Option<&'static str> {
        self.low_res_output
    }

    /// Which execution provider is active and why not the GPU.
    pub fn provider(&self) -> ProviderReport {
        self.report.lock().clone()
    }

    /// The frame-to-model geometry for a frame size.
    pub fn transform(&self, width: u32, height: u32) -> Result<Transform> {
        Transform::new(
            width,
            height,
            self.manifest.input_size,
            self.manifest.resize,
        )
    }

    /// Pre-processes a frame into the encoder's input tensor.
    pub fn preprocess(&self, image: &ImageView<'_>) -> Result<(InputTensor, Transform)> {
        let t = self.transform(image.width(), image.height())?;
        let m = &self.manifest;
        let input = preprocess(
            image,
            &t,
            self.layout,
            m.pixel_mean,
            m.pixel_std,
            self.fixed_hw,
        )?;
        Ok((input, t))
    }

    /// Pre-processes and encodes a frame.
    pub fn encode(&self, image: &ImageView<'_>) -> Result<Embedding> {
        let (input, t) = self.preprocess(image)?;
        self.encode_tensor(&input, t)
    }

    /// Encodes an already pre-processed input tensor.
    pub fn encode_tensor(&self, input: &InputTensor, transform: Transform) -> Result<Embedding> {
        let run = |session: &mut Session| -> Result<Vec<EmbeddingTensor>> {
            let tensor =
                TensorRef::from_array_view((input.shape.as_slice(), input.data.as_slice()))
                    .map_err(|e| Error::InvalidInput(e.to_string()))?;
            let outputs = session
                .run(vec![(
                    Cow::from(self.encoder_input.as_str()),
                    SessionInputValue::from(tensor),
                )])
                .map_err(|e| classify("encoder", &e))?;
            let contract = self.manifest.contract;
            let mut tensors = Vec::new();
            for (name, expected) in contract
                .embedding_names()
                .iter()
                .zip(contract.embedding_shapes())
            {
                let value = outputs.get(*name).ok_or_else(|| Error::BadOutput {
                    stage: "encoder",
                    reason: format!("output {name} is missing"),
                })?;
                let (shape, data) =
                    value
                        .try_extract_tensor::<f32>()
                        .map_err(|e| Error::BadOutput {
                            stage: "encoder",
                            reason: format!("{name}: {e}"),
                        })?;
                if **shape != expected[..] {
                    return Err(Error::BadOutput {
                        stage: "encoder",
                        reason: format!("{name} has shape {:?}, expected {expected:?}", &**shape),
                    });
                }
                let s = expected.map(|d| d as usize);
                tensors.push(EmbeddingTensor {
                    shape: s,
                    data: data.to_vec(),
                });
            }
            Ok(tensors)
        };
        let result = run(&mut self.encoder.lock());
        let tensors = match result {
            Err(Error::OutOfMemory { provider, reason }) if self.provider().is_gpu() => {
                tracing::warn!(
                    "encoder ran out of {provider} memory ({reason}); falling back to the CPU"
                );
                self.fall_back_to_cpu(format!("{provider} out of memory: {reason}"))?;
                run(&mut self.encoder.lock())?
            }
            other => other?,
        };
        Ok(Embedding {
            model_id: self.manifest.id.clone(),
            transform,
            tensors,
        })
    }

    /// Rebuilds both sessions on the CPU after a GPU failure.
    fn fall_back_to_cpu(&self, why: String) -> Result<()> {
        let cpu = LoadOptions {
            provider: ProviderChoice::Cpu,
            ..self.options
        };
        let (enc, _) = build_session(&self.encoder_path, &cpu, cpu.background_encoder)?;
        let (dec, _) = build_session(&self.decoder_path, &cpu, false)?;
        *self.encoder.lock() = enc;
        *self.decoder.lock() = dec;
        let mut report = self.report.lock();
        let was = std::mem::replace(&mut report.active, "CPU".to_owned());
        report.failures.push((was, why));
        Ok(())
    }

    /// Runs the prompt decoder a few times on a blank embedding, so that the
    /// user's first clicks do not pay for ONNX Runtime's first runs (memory
    /// planning, growing its arena: the first two runs of the project's test
    /// decoder took 100 and 77 ms on a 2-core machine, the next ones 10-15).
    /// `width` x `height` is the size of the frames that will be clicked on.
    pub fn warm_up(&self, width: u32, height: u32) -> Result<()> {
        let transform = self.transform(width, height)?;
        let tensors = self
            .manifest
            .contract
            .embedding_shapes()
            .iter()
            .map(|s| {
                let shape = s.map(|d| usize::try_from(d).unwrap_or(1));
                EmbeddingTensor {
                    shape,
                    data: vec![0.0; shape.iter().product()],
                }
            })
            .collect();
        let blank = Embedding::from_parts(self.manifest.id.clone(), transform, tensors);
        let (w, h) = (f64::from(width), f64::from(height));
        // one click, then the shapes of refining clicks
        let prompts = [
            Prompt::click(w / 2.0, h / 2.0),
            Prompt::click(w / 3.0, h / 3.0).with_click(w * 2.0 / 3.0, h * 2.0 / 3.0, false),
            Prompt::click(w / 2.0, h / 2.0),
        ];
        for prompt in &prompts {
            self.predict(&blank, prompt)?;
        }
        Ok(())
    }

    /// Decodes a prompt against a frame's embedding.
    pub fn predict(&self, embedding: &Embedding, prompt: &Prompt) -> Result<Prediction> {
        if embedding.model_id != self.manifest.id {
            return Err(Error::EmbeddingMismatch {
                expected: self.manifest.id.clone(),
                found: embedding.model_id.clone(),
            });
        }
        let contract = self.manifest.contract;
        if embedding.tensors.len() != contract.embedding_names().len()
            || embedding
                .tensors
                .iter()
                .zip(contract.embedding_shapes())
                .any(|(t, s)| {
                    t.shape.iter().zip(s).any(|(a, b)| *a as i64 != *b)
                        || t.data.len() != t.shape.iter().product::<usize>()
                })
        {
            return Err(Error::InvalidInput(
                "the embedding's tensors do not match the model contract".to_owned(),
            ));
        }
        let t = embedding.transform;
        // SAM decoders expect a padding point when there is no box; SAM 2
        // exports append their own.
        let (coords, labels) = prompt.encode(&t, contract == Contract::Sam)?;
        let zeros;
        let (mask_input, has_mask) = match (&prompt.previous, self.low_res_output) {
            (Some(prev), Some(_)) => (prev.logits(), 1.0f32),
            (Some(_), None) => {
                return Err(Error::InvalidInput(
                    "this decoder exposes no low-res masks, so successive clicks cannot refine a previous mask"
                        .to_owned(),
                ));
            }
            (None, _) => {
                zeros = vec![0.0f32; LOW_RES * LOW_RES];
                (zeros.as_slice(), 0.0)
            }
        };
        // what the decoder's `masks` come out at, and where the frame masks come from
        let fused =
            self.options.mask_upscale == MaskUpscale::Fused && self.low_res_output.is_some();
        let (size, frame_masks) = match (self.size_type, fused) {
            // no orig_im_size input: the decoder's masks are the low-res ones
            (None, _) | (Some(_), true) => ((LOW_RES, LOW_RES), false),
            (Some(_), false) => ((t.frame_h as usize, t.frame_w as usize), true),
        };
        let request = DecodeRequest {
            coords: &coords,
            labels: &labels,
            mask_input,
            has_mask,
            size,
            frame_masks,
        };
        let result = self.run_decoder(&mut self.decoder.lock(), embedding, &request);
        match result {
            Err(Error::OutOfMemory { provider, reason }) if self.provider().is_gpu() => {
                tracing::warn!(
                    "decoder ran out of {provider} memory ({reason}); falling back to the CPU"
                );
                self.fall_back_to_cpu(format!("{provider} out of memory: {reason}"))?;
                self.run_decoder(&mut self.decoder.lock(), embedding, &request)
            }
            other => other,
        }
    }

    /// One decoder run (the caller holds the decoder lock).
    fn run_decoder(
        &self,
        session: &mut Session,
        embedding: &Embedding,
        request: &DecodeRequest<'_>,
    ) -> Result<Prediction> {
        let contract = self.manifest.contract;
        let t = embedding.transform;
        let DecodeRequest {
            coords,
            labels,
            mask_input,
            has_mask,
            size,
            frame_masks,
        } = *request;
        let n = labels.len();
        let has_mask = [has_mask];
        let size_f = [size.0 as f32, size.1 as f32];
        let size_i32 = [size.0 as i32, size.1 as i32];
        let size_i64 = [size.0 as i64, size.1 as i64];

        let bad = |e: ort::Error| Error::InvalidInput(e.to_string());
        let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = Vec::with_capacity(8);
        for (name, tensor) in contract.embedding_names().iter().zip(&embedding.tensors) {
            let v =
                TensorRef::from_array_view((tensor.shape, tensor.data.as_slice())).map_err(bad)?;
            inputs.push((Cow::from(*name), v.into()));
        }
        inputs.push((
            "point_coords".into(),
            TensorRef::from_array_view(([1, n, 2], coords))
                .map_err(bad)?
                .into(),
        ));
        inputs.push((
            "point_labels".into(),
            TensorRef::from_array_view(([1, n], labels))
                .map_err(bad)?
                .into(),
        ));
        inputs.push((
            "mask_input".into(),
            TensorRef::from_array_view(([1, 1, LOW_RES, LOW_RES], mask_input))
                .map_err(bad)?
                .into(),
        ));
        inputs.push((
            "has_mask_input".into(),
            TensorRef::from_array_view(([1], &has_mask[..]))
                .map_err(bad)?
                .into(),
        ));
        let size_value: Option<SessionInputValue<'_>> = match self.size_type {
            None => None,
            Some(SizeType::F32) => Some(
                TensorRef::from_array_view(([2], &size_f[..]))
                    .map_err(bad)?
                    .into(),
            ),
            Some(SizeType::I32) => Some(
                TensorRef::from_array_view(([2], &size_i32[..]))
                    .map_err(bad)?
                    .into(),
            ),
            Some(SizeType::I64) => Some(
                TensorRef::from_array_view(([2], &size_i64[..]))
                    .map_err(bad)?
                    .into(),
            ),
        };
        if let Some(v) = size_value {
            inputs.push(("orig_im_size".into(), v));
        }

        let outputs = session.run(inputs).map_err(|e| classify("decoder", &e))?;
        let out = |name: &str| -> Result<(Vec<i64>, &[f32])> {
            let v = outputs.get(name).ok_or_else(|| Error::BadOutput {
                stage: "decoder",
                reason: format!("output {name} is missing"),
            })?;
            let (shape, data) = v
                .try_extract_tensor::<f32>()
                .map_err(|e| Error::BadOutput {
                    stage: "decoder",
                    reason: format!("{name}: {e}"),
                })?;
            Ok((shape.to_vec(), data))
        };
        let (mshape, masks) = out("masks")?;
        let (ishape, ious) = out("iou_predictions")?;
        let m = ious.len();
        if mshape.len() != 4
            || mshape[1] as usize != m
            || mshape[2] as usize != size.0
            || mshape[3] as usize != size.1
            || ishape.len() != 2
        {
            return Err(Error::BadOutput {
                stage: "decoder",
                reason: format!(
                    "masks {mshape:?} / iou_predictions {ishape:?} do not match [1, M, {}, {}] / [1, M]",
                    size.0, size.1
                ),
            });
        }
        let plane = LOW_RES * LOW_RES;
        let low = match self.low_res_output {
            Some("masks") => Some(masks),
            Some(name) => {
                let (lshape, low) = out(name)?;
                if lshape != [1, m as i64, LOW_RES as i64, LOW_RES as i64] {
                    return Err(Error::BadOutput {
                        stage: "decoder",
                        reason: format!("{name} has shape {lshape:?}, expected [1, {m}, 256, 256]"),
                    });
                }
                Some(low)
            }
            None => None,
        };
        let mut candidates: Vec<Candidate> = ious
            .iter()
            .enumerate()
            .map(|(index, &iou)| Candidate {
                index,
                iou,
                low_res: low
                    .and_then(|l| l.get(index * plane..(index + 1) * plane))
                    .map(|s| LowResMask(s.to_vec())),
            })
            .collect();
        candidates.sort_by(|a, b| b.iou.total_cmp(&a.iou).then(a.index.cmp(&b.index)));
        let source = match (frame_masks, contract) {
            (true, _) => MaskSource::Frame(masks.to_vec()),
            (false, Contract::Sam) => MaskSource::LowResCropped {
                input: self.manifest.input_size as usize,
                crop: (t.resized_h as usize, t.resized_w as usize),
            },
            (false, Contract::Sam2) => MaskSource::LowRes,
        };
        Ok(Prediction {
            candidates,
            source,
            frame_h: t.frame_h,
            frame_w: t.frame_w,
        })
    }
}

/// The prepared inputs of one decoder run.
#[derive(Debug, Clone, Copy)]
struct DecodeRequest<'a> {
    coords: &'a [f32],
    labels: &'a [f32],
    mask_input: &'a [f32],
    has_mask: f32,
    /// The `orig_im_size` given to the decoder (and the size of its `masks`).
    size: (usize, usize),
    /// Whether the frame masks come from the decoder's `masks` (else from low-res logits).
    frame_masks: bool,
}

fn classify(stage: &'static str, e: &ort::Error) -> Error {
    let msg = e.to_string();
    let lower = msg.to_ascii_lowercase();
    if lower.contains("out of memory")
        || lower.contains("failed to allocate")
        || lower.contains("alloc_failed")
    {
        Error::OutOfMemory {
            provider: "GPU".to_owned(),
            reason: msg,
        }
    } else {
        Error::Inference { stage, reason: msg }
    }
}

fn build_session(
    path: &Path,
    options: &LoadOptions,
    background: bool,
) -> Result<(Session, ProviderReport)> {
    let (env, _) = environment()?;
    if !path.is_file() {
        return Err(Error::ModelLoad {
            reason: "file not found".to_owned(),
            path: path.to_path_buf(),
        });
    }
    let fail = |e: String| Error::ModelLoad {
        reason: e,
        path: path.to_path_buf(),
    };
    let mut builder = Session::builder(&env)
        .map_err(|e| fail(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| fail(e.to_string()))?;
    if let Some(n) = options.intra_threads {
        builder = builder
            .with_intra_threads(n)
            .map_err(|e| fail(e.to_string()))?;
    }
    builder = builder
        .with_intra_op_spinning(options.spin)
        .map_err(|e| fail(e.to_string()))?;
    if background {
        builder = builder
            .with_thread_manager(crate::priority::BackgroundThreads)
            .map_err(|e| fail(e.to_string()))?;
    }
    let (mut builder, report) = register_providers(builder, options.provider);
    let session = builder
        .commit_from_file(path)
        .map_err(|e| fail(e.to_string()))?;
    Ok((session, report))
}

/// What a model's contract check found: how to feed the encoder and the decoder.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractCheck {
    /// The encoder input the frame goes to.
    pub encoder_input: String,
    pub layout: InputLayout,
    /// The picture size an HWC encoder declares, within [`crate::image::MAX_FRAME_SIDE`].
    pub fixed_hw: Option<(usize, usize)>,
    /// The element type of the decoder's `orig_im_size`, if it has one.
    pub size_type: Option<SizeType>,
    /// Decoder output holding 256x256 logits per candidate, if any.
    pub low_res_output: Option<&'static str>,
}

/// A tensor's element type as the contract check sees it. Its `Debug` is
/// ONNX Runtime's name of the type (`Float32`, `Float16`, ...).
#[doc(hidden)]
#[derive(Clone, PartialEq, Eq)]
pub enum ElementType {
    Float32,
    Int32,
    Int64,
    /// Any other type, by its ONNX Runtime name.
    Other(String),
}

impl std::fmt::Debug for ElementType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Float32 => "Float32",
            Self::Int32 => "Int32",
            Self::Int64 => "Int64",
            Self::Other(name) => name,
        })
    }
}

impl From<TensorElementType> for ElementType {
    fn from(t: TensorElementType) -> Self {
        match t {
            TensorElementType::Float32 => Self::Float32,
            TensorElementType::Int32 => Self::Int32,
            TensorElementType::Int64 => Self::Int64,
            other => Self::Other(format!("{other:?}")),
        }
    }
}

/// One input or output of an ONNX model, as the contract check sees it.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Io {
    pub name: String,
    /// Element type and shape (-1 = dynamic); `None` for a value that is not
    /// a tensor (a sequence or a map).
    pub tensor: Option<(ElementType, Vec<i64>)>,
}

impl Io {
    fn from_outlet(o: &ort::value::Outlet) -> Self {
        Self {
            name: o.name().to_owned(),
            tensor: tensor_info(o.dtype()),
        }
    }
}

/// The inputs and outputs of an encoder and a decoder.
#[doc(hidden)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelIo {
    pub encoder_inputs: Vec<Io>,
    pub encoder_outputs: Vec<Io>,
    pub decoder_inputs: Vec<Io>,
    pub decoder_outputs: Vec<Io>,
}

impl ModelIo {
    fn of(encoder: &Session, decoder: &Session) -> Self {
        let list = |l: &[ort::value::Outlet]| l.iter().map(Io::from_outlet).collect();
        Self {
            encoder_inputs: list(encoder.inputs()),
            encoder_outputs: list(encoder.outputs()),
            decoder_inputs: list(decoder.inputs()),
            decoder_outputs: list(decoder.outputs()),
        }
    }
}

/// A tensor's declared element type and shape (-1 = dynamic).
fn tensor_info(t: &ValueType) -> Option<(ElementType, Vec<i64>)> {
    Some((t.tensor_type()?.into(), t.tensor_shape()?.to_vec()))
}

fn shape_matches(actual: &[i64], expected: &[i64]) -> bool {
    actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(a, e)| *a < 0 || *e < 0 || a == e)
}

fn check_contract(
    manifest: &Manifest,
    encoder: &Session,
    decoder: &Session,
) -> Result<ContractCheck> {
    check_contract_io(manifest, &ModelIo::of(encoder, decoder))
}

/// Checks a model's inputs and outputs against its manifest's contract:
/// every mismatch is listed in one [`Error::ContractMismatch`]. Pure, so it
/// is fuzzed on hostile descriptions (argus-fuzz).
#[doc(hidden)]
pub fn check_contract_io(manifest: &Manifest, io: &ModelIo) -> Result<ContractCheck> {
    let contract = manifest.contract;
    let mut problems = Vec::new();
    let find = |list: &[Io], name: &str| {
        list.iter()
            .find(|o| o.name == name)
            .and_then(|o| o.tensor.clone())
    };
    let expect = |problems: &mut Vec<String>,
                  what: &str,
                  list: &[Io],
                  name: &str,
                  types: &[ElementType],
                  shape: &[i64]| {
        match find(list, name) {
            None => problems.push(format!(
                "{what} {name} is missing (has: {})",
                list.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", ")
            )),
            Some((ty, s)) => {
                if !types.contains(&ty) {
                    problems.push(format!(
                        "{what} {name} has element type {ty:?}, expected {types:?}"
                    ));
                }
                if !shape_matches(&s, shape) {
                    problems.push(format!(
                        "{what} {name} has shape {s:?}, expected {shape:?} (-1 = any)"
                    ));
                }
            }
        }
    };
    let f32_only = [ElementType::Float32];
    let size = i64::from(manifest.input_size);
    let (enc_in, enc_out) = (io.encoder_inputs.as_slice(), io.encoder_outputs.as_slice());

    // encoder: the declared input, else `image`, else the only input
    let encoder_input = match &manifest.encoder.input {
        Some(name) => name.clone(),
        None if enc_in.iter().any(|o| o.name == "image") => "image".to_owned(),
        None if enc_in.len() == 1 => enc_in[0].name.clone(),
        None => "image".to_owned(),
    };
    let declared = find(enc_in, &encoder_input);
    let layout = manifest
        .layout
        .unwrap_or(match declared.as_ref().map(|(_, s)| s.len()) {
            Some(3) => InputLayout::HwcRaw,
            _ => InputLayout::Nchw,
        });
    let enc_shape: Vec<i64> = match layout {
        InputLayout::Nchw => vec![1, 3, size, size],
        InputLayout::HwcRaw => vec![-1, -1, 3],
    };
    expect(
        &mut problems,
        "encoder input",
        enc_in,
        &encoder_input,
        &f32_only,
        &enc_shape,
    );
    if enc_in.len() > 1 {
        problems.push(format!(
            "encoder has {} inputs, the contract has one",
            enc_in.len()
        ));
    }
    let fixed_hw = match (layout, declared) {
        (InputLayout::HwcRaw, Some((_, s))) if s.len() == 3 && s[0] > 0 && s[1] > 0 => {
            // The frame is resized to this before encoding: a model that
            // declares an absurd size must not make Argus allocate it.
            let side = 1..=i64::from(crate::image::MAX_FRAME_SIDE);
            if side.contains(&s[0]) && side.contains(&s[1]) {
                usize::try_from(s[0]).ok().zip(usize::try_from(s[1]).ok())
            } else {
                problems.push(format!(
                    "encoder input {encoder_input} declares a {}x{} picture; at most {} a side is supported",
                    s[0],
                    s[1],
                    crate::image::MAX_FRAME_SIDE
                ));
                None
            }
        }
        _ => None,
    };
    for (name, shape) in contract
        .embedding_names()
        .iter()
        .zip(contract.embedding_shapes())
    {
        expect(
            &mut problems,
            "encoder output",
            enc_out,
            name,
            &f32_only,
            shape,
        );
        expect(
            &mut problems,
            "decoder input",
            &io.decoder_inputs,
            name,
            &f32_only,
            shape,
        );
    }

    // decoder
    let d = io.decoder_inputs.as_slice();
    let low = LOW_RES as i64;
    expect(
        &mut problems,
        "decoder input",
        d,
        "point_coords",
        &f32_only,
        &[-1, -1, 2],
    );
    expect(
        &mut problems,
        "decoder input",
        d,
        "point_labels",
        &f32_only,
        &[-1, -1],
    );
    expect(
        &mut problems,
        "decoder input",
        d,
        "mask_input",
        &f32_only,
        &[-1, 1, low, low],
    );
    expect(
        &mut problems,
        "decoder input",
        d,
        "has_mask_input",
        &f32_only,
        &[-1],
    );
    // Without orig_im_size the decoder returns low-res masks and Argus brings
    // the chosen one to the frame: SAM 2 exports such as samexporter's, and
    // SAM decoders exported without the in-graph upscale (export_mobile_sam.py)
    let has_size = d.iter().any(|o| o.name == "orig_im_size");
    if has_size {
        let size_types = [ElementType::Float32, ElementType::Int32, ElementType::Int64];
        expect(
            &mut problems,
            "decoder input",
            d,
            "orig_im_size",
            &size_types,
            &[2],
        );
    }
    let known: Vec<&str> = contract
        .embedding_names()
        .iter()
        .copied()
        .chain([
            "point_coords",
            "point_labels",
            "mask_input",
            "has_mask_input",
            "orig_im_size",
        ])
        .collect();
    for o in d {
        if !known.contains(&o.name.as_str()) {
            problems.push(format!(
                "decoder input {} is not part of the contract",
                o.name
            ));
        }
    }
    let o = io.decoder_outputs.as_slice();
    let masks_shape: &[i64] = if has_size {
        &[-1, -1, -1, -1]
    } else {
        &[-1, -1, low, low]
    };
    expect(
        &mut problems,
        "decoder output",
        o,
        "masks",
        &f32_only,
        masks_shape,
    );
    expect(
        &mut problems,
        "decoder output",
        o,
        "iou_predictions",
        &f32_only,
        &[-1, -1],
    );
    let has_low_res = o.iter().any(|x| x.name == "low_res_masks");
    // a SAM decoder that upscales in the graph must also give the low-res
    // logits (successive clicks feed them back; the fused path upscales them)
    if has_low_res || (has_size && contract == Contract::Sam) {
        expect(
            &mut problems,
            "decoder output",
            o,
            "low_res_masks",
            &f32_only,
            &[-1, -1, low, low],
        );
    }
    if !problems.is_empty() {
        return Err(Error::ContractMismatch {
            model: manifest.id.clone(),
            contract: contract.name(),
            mismatches: problems,
        });
    }
    let size_type = match find(d, "orig_im_size").map(|(t, _)| t) {
        None => None,
        Some(ElementType::Int32) => Some(SizeType::I32),
        Some(ElementType::Int64) => Some(SizeType::I64),
        Some(_) => Some(SizeType::F32),
    };
    let low_res_output = if has_low_res {
        Some("low_res_masks")
    } else if !has_size {
        Some("masks")
    } else {
        None
    };
    Ok(ContractCheck {
        encoder_input,
        layout,
        fixed_hw,
        size_type,
        low_res_output,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check's messages name element types as ONNX Runtime does.
    #[test]
    fn element_types_print_as_onnx_runtime_names_them() {
        for t in [
            TensorElementType::Float32,
            TensorElementType::Int32,
            TensorElementType::Int64,
            TensorElementType::Float16,
            TensorElementType::Uint8,
            TensorElementType::String,
            TensorElementType::Bool,
            TensorElementType::Bfloat16,
        ] {
            assert_eq!(format!("{:?}", ElementType::from(t)), format!("{t:?}"));
        }
        assert_eq!(
            format!("{:?}", [ElementType::Float32, ElementType::Int32, ElementType::Int64]),
            format!(
                "{:?}",
                [TensorElementType::Float32, TensorElementType::Int32, TensorElementType::Int64]
            )
        );
    }
}
