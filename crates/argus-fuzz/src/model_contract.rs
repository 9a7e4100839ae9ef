//! The model contract check: a manifest and the inputs and outputs an
//! encoder and a decoder declare (names, element types, shapes), as ONNX
//! Runtime reports them from a model file the user picked or downloaded.
//!
//! Input bytes: a tag byte, then the manifest (TOML text, or a template's
//! contract, layout, input size and encoder input name), then the four lists
//! (encoder inputs, encoder outputs, decoder inputs, decoder outputs). Names,
//! element types and dimensions are mostly picked from tables of the ones
//! that matter (so the fuzzer reaches models that pass), or given raw.

use std::sync::OnceLock;

use argus_sam::Error;
use argus_sam::image::MAX_FRAME_SIDE;
use argus_sam::manifest::{Contract, InputLayout, Manifest};
use argus_sam::model::{ContractCheck, ElementType, Io, ModelIo, SizeType, check_contract_io};

use crate::bytes::{Reader, Writer};

/// A valid manifest; the fields the check reads are replaced from the bytes.
pub const TEMPLATE: &str = r#"id = "fuzz-model"
name = "Fuzz model"
family = "test"
contract = "sam"
input_size = 1024
resize = "longest_side"
pixel_mean = [123.675, 116.28, 103.53]
pixel_std = [58.395, 57.12, 57.375]
licence = "none"

[encoder]
file = "encoder.onnx"
urls = ["file:///nonexistent/encoder.onnx"]

[decoder]
file = "decoder.onnx"
urls = ["file:///nonexistent/decoder.onnx"]
"#;

/// Names a model may use (the contract's, and a few others).
pub const NAMES: &[&str] = &[
    "image",
    "image_embeddings",
    "image_embed",
    "high_res_feats_0",
    "high_res_feats_1",
    "point_coords",
    "point_labels",
    "mask_input",
    "has_mask_input",
    "orig_im_size",
    "masks",
    "iou_predictions",
    "low_res_masks",
    "input_image",
    "pixel_values",
    "",
];

/// Element types (ONNX Runtime's names for the ones the check has no variant of).
pub const OTHER_TYPES: &[&str] = &[
    "Float16", "Uint8", "Int8", "Float64", "Bool", "String", "Uint64", "Bfloat16",
];

/// Dimensions that matter, hostile ones included.
pub const DIMS: &[i64] = &[
    -1,
    1,
    2,
    3,
    32,
    64,
    128,
    256,
    1024,
    0,
    512,
    4096,
    32_768,
    32_769,
    100_000,
    i64::MAX,
    i64::MIN,
    -2,
    1 << 32,
    16,
];

const RAW: u8 = 0xff;
const TEXT: u8 = 0x80;
const DECLARED_INPUT: u8 = 0x08;

/// Where the manifest comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ManifestSource {
    /// [`TEMPLATE`] with these fields (not validated: any input size).
    Fields {
        contract: Contract,
        layout: Option<InputLayout>,
        input_size: u32,
        encoder_input: Option<String>,
    },
    /// A manifest file's text, parsed by `Manifest::parse`.
    Text(String),
}

/// One fuzz input.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub manifest: ManifestSource,
    pub io: ModelIo,
}

fn element(code: u8) -> ElementType {
    let n = 3 + OTHER_TYPES.len();
    match usize::from(code) % n {
        0 => ElementType::Float32,
        1 => ElementType::Int32,
        2 => ElementType::Int64,
        i => ElementType::Other(OTHER_TYPES[i - 3].to_owned()),
    }
}

fn element_code(t: &ElementType) -> u8 {
    match t {
        ElementType::Float32 => 0,
        ElementType::Int32 => 1,
        ElementType::Int64 => 2,
        ElementType::Other(name) => OTHER_TYPES
            .iter()
            .position(|o| o == name)
            .map_or(0, |i| i as u8 + 3),
    }
}

fn read_name(r: &mut Reader<'_>) -> String {
    match r.u8() {
        RAW => r.string(),
        code => NAMES[usize::from(code) % NAMES.len()].to_owned(),
    }
}

fn write_name(w: &mut Writer, name: &str) {
    match NAMES.iter().position(|n| *n == name) {
        Some(i) => w.u8(i as u8),
        None => w.u8(RAW).string(name),
    };
}

fn read_io(r: &mut Reader<'_>) -> Io {
    let name = read_name(r);
    let tensor = match r.u8() {
        0 => None,
        tag => {
            let ty = element(tag - 1);
            let rank = r.u8() % 8;
            let shape = (0..rank)
                .map(|_| match r.u8() {
                    RAW => r.i64(),
                    code => DIMS[usize::from(code) % DIMS.len()],
                })
                .collect();
            Some((ty, shape))
        }
    };
    Io { name, tensor }
}

fn write_io(w: &mut Writer, io: &Io) {
    write_name(w, &io.name);
    match &io.tensor {
        None => {
            w.u8(0);
        }
        Some((ty, shape)) => {
            w.u8(element_code(ty) + 1).u8(shape.len() as u8);
            for d in shape {
                match DIMS.iter().position(|x| x == d) {
                    Some(i) => w.u8(i as u8),
                    None => w.u8(RAW).i64(*d),
                };
            }
        }
    }
}

impl Input {
    pub fn from_bytes(data: &[u8]) -> Self {
        let mut r = Reader::new(data);
        let tag = r.u8();
        let manifest = if tag & TEXT != 0 {
            let n = usize::from(r.u16());
            ManifestSource::Text(String::from_utf8_lossy(r.take(n)).into_owned())
        } else {
            let contract = if tag & 1 == 0 { Contract::Sam } else { Contract::Sam2 };
            let layout = match (tag >> 1) & 3 {
                1 => Some(InputLayout::Nchw),
                2 => Some(InputLayout::HwcRaw),
                _ => None,
            };
            let encoder_input = (tag & DECLARED_INPUT != 0).then(|| read_name(&mut r));
            ManifestSource::Fields {
                contract,
                layout,
                input_size: r.u32(),
                encoder_input,
            }
        };
        let list = |r: &mut Reader<'_>| {
            let n = r.u8() % 16;
            (0..n).map(|_| read_io(r)).collect::<Vec<_>>()
        };
        let io = ModelIo {
            encoder_inputs: list(&mut r),
            encoder_outputs: list(&mut r),
            decoder_inputs: list(&mut r),
            decoder_outputs: list(&mut r),
        };
        Self { manifest, io }
    }

    /// The bytes [`Self::from_bytes`] reads back as `self` (lists of at
    /// most 15 entries, ranks of at most 7, listed element types).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match &self.manifest {
            ManifestSource::Text(text) => {
                let b = &text.as_bytes()[..text.len().min(usize::from(u16::MAX))];
                w.u8(TEXT).u16(b.len() as u16).bytes(b);
            }
            ManifestSource::Fields {
                contract,
                layout,
                input_size,
                encoder_input,
            } => {
                let mut tag = u8::from(*contract == Contract::Sam2);
                tag |= match layout {
                    None => 0,
                    Some(InputLayout::Nchw) => 2,
                    Some(InputLayout::HwcRaw) => 4,
                };
                if encoder_input.is_some() {
                    tag |= DECLARED_INPUT;
                }
                w.u8(tag);
                if let Some(name) = encoder_input {
                    write_name(&mut w, name);
                }
                w.u32(*input_size);
            }
        }
        for list in [
            &self.io.encoder_inputs,
            &self.io.encoder_outputs,
            &self.io.decoder_inputs,
            &self.io.decoder_outputs,
        ] {
            w.u8(list.len() as u8);
            for io in list {
                write_io(&mut w, io);
            }
        }
        w.out
    }

    /// The manifest, or `None` when its text does not parse.
    pub fn manifest(&self) -> Option<Manifest> {
        match &self.manifest {
            ManifestSource::Text(text) => Manifest::parse(text, "fuzz.toml").ok(),
            ManifestSource::Fields {
                contract,
                layout,
                input_size,
                encoder_input,
            } => {
                let mut m = template().clone();
                m.contract = *contract;
                m.layout = *layout;
                m.input_size = *input_size;
                m.encoder.input = encoder_input.clone();
                Some(m)
            }
        }
    }
}

/// [`TEMPLATE`], parsed once.
pub fn template() -> &'static Manifest {
    static T: OnceLock<Manifest> = OnceLock::new();
    T.get_or_init(|| Manifest::parse(TEMPLATE, "template").expect("the fuzz template manifest is valid"))
}

/// The fuzz body.
pub fn model_contract(data: &[u8]) {
    let input = Input::from_bytes(data);
    let Some(manifest) = input.manifest() else {
        return;
    };
    let result = crate::alloc::bounded("check_contract_io", data.len(), || {
        check_contract_io(&manifest, &input.io)
    });
    match result {
        Ok(check) => check_accepted(&manifest, &input.io, &check),
        Err(Error::ContractMismatch {
            model,
            contract,
            mismatches,
        }) => {
            assert_eq!(model, manifest.id);
            assert_eq!(contract, manifest.contract.name());
            assert!(!mismatches.is_empty(), "a refusal says why");
        }
        Err(other) => panic!("the contract check answered {other:?}"),
    }
}

fn tensor<'a>(list: &'a [Io], name: &str) -> Option<&'a (ElementType, Vec<i64>)> {
    list.iter().find(|o| o.name == name)?.tensor.as_ref()
}

/// What holds of every model the check accepts.
fn check_accepted(manifest: &Manifest, io: &ModelIo, check: &ContractCheck) {
    let side = 1..=MAX_FRAME_SIDE as usize;
    if let Some((h, w)) = check.fixed_hw {
        assert!(
            side.contains(&h) && side.contains(&w),
            "fixed_hw {h}x{w} is outside 1..={MAX_FRAME_SIDE}"
        );
        assert_eq!(check.layout, InputLayout::HwcRaw, "only an HWC encoder has a fixed size");
    }
    if let Some(layout) = manifest.layout {
        assert_eq!(check.layout, layout, "the manifest's layout is kept");
    }
    // the frame goes to an f32 input of the right rank
    let (ty, shape) = tensor(&io.encoder_inputs, &check.encoder_input)
        .unwrap_or_else(|| panic!("accepted without the encoder input {}", check.encoder_input));
    assert_eq!(*ty, ElementType::Float32);
    let rank = match check.layout {
        InputLayout::Nchw => 4,
        InputLayout::HwcRaw => 3,
    };
    assert_eq!(shape.len(), rank, "encoder input shape {shape:?}");
    if check.layout == InputLayout::HwcRaw && shape[0] > 0 && shape[1] > 0 {
        assert!(check.fixed_hw.is_some(), "a fixed HWC size {shape:?} is used");
    }
    // everything the decoder is fed, it declares
    let contract = manifest.contract;
    for name in contract.embedding_names() {
        assert!(tensor(&io.encoder_outputs, name).is_some(), "accepted without encoder output {name}");
        assert!(tensor(&io.decoder_inputs, name).is_some(), "accepted without decoder input {name}");
    }
    for name in ["point_coords", "point_labels", "mask_input", "has_mask_input"] {
        assert!(tensor(&io.decoder_inputs, name).is_some(), "accepted without decoder input {name}");
    }
    let has_size = tensor(&io.decoder_inputs, "orig_im_size").is_some();
    assert_eq!(check.size_type.is_some(), has_size, "orig_im_size is fed when declared");
    if let Some((ty, _)) = tensor(&io.decoder_inputs, "orig_im_size") {
        let expected = match ty {
            ElementType::Int32 => SizeType::I32,
            ElementType::Int64 => SizeType::I64,
            _ => SizeType::F32,
        };
        assert_eq!(check.size_type, Some(expected));
    }
    if !has_size {
        // no upscale in the graph: the masks are the low-res logits Argus brings to the frame
        assert_eq!(check.low_res_output, Some("masks"), "a decoder without orig_im_size returns low-res masks");
    }
    for o in &io.decoder_inputs {
        assert!(
            contract.embedding_names().contains(&o.name.as_str())
                || ["point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size"]
                    .contains(&o.name.as_str()),
            "accepted unknown decoder input {}",
            o.name
        );
    }
    for name in ["masks", "iou_predictions"] {
        assert!(tensor(&io.decoder_outputs, name).is_some(), "accepted without decoder output {name}");
    }
    match check.low_res_output {
        Some(name) => assert!(tensor(&io.decoder_outputs, name).is_some(), "low-res output {name} exists"),
        None => assert!(has_size, "only a decoder resizing its masks has no low-res output"),
    }
}

fn f32_io(name: &str, shape: &[i64]) -> Io {
    Io {
        name: name.to_owned(),
        tensor: Some((ElementType::Float32, shape.to_vec())),
    }
}

/// A model that follows `contract`: SAM's export (NCHW encoder, `orig_im_size`,
/// `low_res_masks`) or samexporter's SAM 2 (no `orig_im_size`, low-res `masks`).
pub fn valid_io(contract: Contract) -> ModelIo {
    let embeddings: Vec<Io> = contract
        .embedding_names()
        .iter()
        .zip(contract.embedding_shapes())
        .map(|(n, s)| f32_io(n, s))
        .collect();
    let mut decoder_inputs = embeddings.clone();
    decoder_inputs.extend([
        f32_io("point_coords", &[1, -1, 2]),
        f32_io("point_labels", &[1, -1]),
        f32_io("mask_input", &[1, 1, 256, 256]),
        f32_io("has_mask_input", &[1]),
    ]);
    let decoder_outputs = match contract {
        Contract::Sam => {
            decoder_inputs.push(f32_io("orig_im_size", &[2]));
            vec![
                f32_io("masks", &[-1, -1, -1, -1]),
                f32_io("iou_predictions", &[-1, 4]),
                f32_io("low_res_masks", &[-1, -1, 256, 256]),
            ]
        }
        Contract::Sam2 => vec![f32_io("masks", &[1, -1, 256, 256]), f32_io("iou_predictions", &[1, -1])],
    };
    ModelIo {
        encoder_inputs: vec![f32_io("image", &[1, 3, 1024, 1024])],
        encoder_outputs: embeddings,
        decoder_inputs,
        decoder_outputs,
    }
}

fn fields(contract: Contract, layout: Option<InputLayout>, input_size: u32, encoder_input: Option<&str>) -> ManifestSource {
    ManifestSource::Fields {
        contract,
        layout,
        input_size,
        encoder_input: encoder_input.map(str::to_owned),
    }
}

/// Seed inputs: models that pass (both contracts, both layouts, every
/// `orig_im_size` type) and the refusals the check exists for.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let sam = valid_io(Contract::Sam);
    let sam2 = valid_io(Contract::Sam2);
    let hwc = |shape: &[i64]| {
        let mut io = sam.clone();
        io.encoder_inputs = vec![f32_io("input_image", shape)];
        io
    };
    let mut int_size = sam.clone();
    if let Some(size) = int_size.decoder_inputs.iter_mut().find(|o| o.name == "orig_im_size") {
        size.tensor = Some((ElementType::Int64, vec![2]));
    }
    let mut sam2_sized = sam2.clone();
    sam2_sized.decoder_inputs.push(Io {
        name: "orig_im_size".into(),
        tensor: Some((ElementType::Int32, vec![2])),
    });
    sam2_sized.decoder_outputs[0] = f32_io("masks", &[-1, -1, -1, -1]);
    // MobileSAM as export_mobile_sam.py exports it: no in-graph upscale
    let mut sam_low_res = sam.clone();
    sam_low_res.decoder_inputs.retain(|o| o.name != "orig_im_size");
    sam_low_res.decoder_outputs = vec![f32_io("masks", &[1, -1, 256, 256]), f32_io("iou_predictions", &[1, -1])];
    let mut half = sam.clone();
    half.encoder_inputs = vec![Io {
        name: "image".into(),
        tensor: Some((ElementType::Other("Float16".into()), vec![1, 3, 1024, 1024])),
    }];
    let mut not_tensor = sam.clone();
    not_tensor.decoder_outputs[1].tensor = None;
    let sam_toml = TEMPLATE.to_owned();
    let sam2_toml = TEMPLATE.replace("contract = \"sam\"", "contract = \"sam2\"");
    let hwc_toml = TEMPLATE.replace("resize = \"longest_side\"", "resize = \"longest_side\"\nlayout = \"hwc_raw\"");
    let cases: Vec<(&str, Input)> = vec![
        ("sam-valid", Input { manifest: fields(Contract::Sam, None, 1024, None), io: sam.clone() }),
        ("sam2-valid", Input { manifest: fields(Contract::Sam2, None, 1024, None), io: sam2.clone() }),
        ("sam2-with-size", Input { manifest: fields(Contract::Sam2, None, 1024, None), io: sam2_sized }),
        ("sam-low-res", Input { manifest: fields(Contract::Sam, None, 1024, None), io: sam_low_res }),
        ("sam-int64-size", Input { manifest: fields(Contract::Sam, Some(InputLayout::Nchw), 1024, Some("image")), io: int_size }),
        ("hwc-dynamic", Input { manifest: fields(Contract::Sam, None, 1024, None), io: hwc(&[-1, -1, 3]) }),
        ("hwc-fixed", Input { manifest: fields(Contract::Sam, Some(InputLayout::HwcRaw), 1024, Some("input_image")), io: hwc(&[1024, 1024, 3]) }),
        ("hwc-hostile-size", Input { manifest: fields(Contract::Sam, None, 1024, None), io: hwc(&[100_000, 100_000, 3]) }),
        ("hwc-huge-dims", Input { manifest: fields(Contract::Sam, None, 1024, None), io: hwc(&[i64::MAX, 32_769, 3]) }),
        ("hwc-negative-dims", Input { manifest: fields(Contract::Sam, None, 1024, None), io: hwc(&[-7, i64::MIN, 3]) }),
        ("sam2-files-as-sam", Input { manifest: fields(Contract::Sam, None, 1024, None), io: sam2.clone() }),
        ("sam-files-as-sam2", Input { manifest: fields(Contract::Sam2, None, 1024, None), io: sam.clone() }),
        ("float16-encoder", Input { manifest: fields(Contract::Sam, None, 1024, None), io: half }),
        ("not-a-tensor", Input { manifest: fields(Contract::Sam, None, 1024, None), io: not_tensor }),
        ("input-size-extremes", Input { manifest: fields(Contract::Sam, None, u32::MAX, None), io: sam.clone() }),
        ("empty-model", Input { manifest: fields(Contract::Sam2, Some(InputLayout::HwcRaw), 0, Some("")), io: ModelIo::default() }),
        ("text-sam", Input { manifest: ManifestSource::Text(sam_toml), io: sam.clone() }),
        ("text-sam2", Input { manifest: ManifestSource::Text(sam2_toml), io: sam2 }),
        ("text-hwc", Input { manifest: ManifestSource::Text(hwc_toml), io: hwc(&[-1, -1, 3]) }),
        ("text-garbage", Input { manifest: ManifestSource::Text("id = [[[\n\"\\u{0}".into()), io: sam }),
    ];
    cases.into_iter().map(|(n, i)| (n.to_owned(), i.to_bytes())).collect()
}
