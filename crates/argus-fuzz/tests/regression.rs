//! Named cases: what the fuzzers found (each input is also in the corpus)
//! and the refusals the "never panic, never allocate without bound" rule
//! asks for, with the expected outcome spelled out.

use argus_fuzz::alloc::measure;
use argus_fuzz::{embedding_cache, frame_request, model_contract, store_codec};
use argus_sam::Error;
use argus_sam::manifest::Contract;
use argus_sam::model::{ElementType, Io, check_contract_io};
use libtest_mimic::Failed;

type Test = fn() -> Result<(), Failed>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+).into());
        }
    };
}

pub fn all() -> Vec<(&'static str, Test)> {
    vec![
        ("regression::model_contract::hostile_picture_size_is_refused_with_the_bound", hostile_picture_size as Test),
        ("regression::model_contract::picture_side_of_exactly_the_bound_is_accepted", side_at_bound),
        ("regression::model_contract::valid_models_pass_and_mismatches_are_listed", valid_models_pass),
        ("regression::frame_request::output_size_of_any_scale_is_within_the_frame", output_size_any_scale),
        ("regression::embedding_cache::declared_tensor_beyond_the_file_is_refused_before_allocating", huge_tensor),
        ("regression::embedding_cache::declared_model_id_beyond_the_file_is_refused_before_allocating", huge_id),
        ("regression::store_codec::huge_run_count_is_refused_before_allocating", huge_run_count),
        ("regression::store_codec::four_g_pixel_mask_decodes_without_allocating_pixels", four_g_pixels),
        ("regression::store_codec::mask_beyond_u32_pixels_is_refused", too_many_pixels),
        ("regression::store_codec::polygon_floats_round_trip_exactly", polygon_floats),
        ("regression::voc_xml::a_second_annotation_cannot_shrink_the_size_a_box_was_checked_against", voc_two_roots),
    ]
}

/// Structured inputs read back from the bytes they are written as.
pub fn inputs_read_back() -> Result<(), Failed> {
    for (name, bytes) in model_contract::seeds() {
        let input = model_contract::Input::from_bytes(&bytes);
        ensure!(input.to_bytes() == bytes, "model_contract seed {name} does not read back");
    }
    for (name, bytes) in frame_request::seeds() {
        let input = frame_request::Input::from_bytes(&bytes);
        ensure!(input.to_bytes() == bytes, "frame_request seed {name} does not read back");
    }
    Ok(())
}

fn hwc_model(shape: &[i64]) -> (argus_sam::Manifest, argus_sam::model::ModelIo) {
    let mut io = model_contract::valid_io(Contract::Sam);
    io.encoder_inputs = vec![Io {
        name: "input_image".into(),
        tensor: Some((ElementType::Float32, shape.to_vec())),
    }];
    (model_contract::template().clone(), io)
}

fn hostile_picture_size() -> Result<(), Failed> {
    for shape in [[100_000, 100_000, 3], [i64::MAX, 4, 3], [4, 32_769, 3]] {
        let (m, io) = hwc_model(&shape);
        match check_contract_io(&m, &io) {
            Err(Error::ContractMismatch { mismatches, .. }) => ensure!(
                mismatches.iter().any(|p| p.contains(&format!("declares a {}x{} picture", shape[0], shape[1]))
                    && p.contains("at most 32768")),
                "says why: {mismatches:?}"
            ),
            other => return Err(format!("{shape:?}: expected a contract mismatch, got {other:?}").into()),
        }
    }
    Ok(())
}

fn side_at_bound() -> Result<(), Failed> {
    let (m, io) = hwc_model(&[32_768, 1, 3]);
    let check = check_contract_io(&m, &io).map_err(|e| e.to_string())?;
    ensure!(check.fixed_hw == Some((32_768, 1)), "fixed_hw {:?}", check.fixed_hw);
    // dynamic and negative sides mean "any size": no fixed size
    for shape in [[-1, -1, 3], [-5, i64::MIN, 3]] {
        let (m, io) = hwc_model(&shape);
        let check = check_contract_io(&m, &io).map_err(|e| e.to_string())?;
        ensure!(check.fixed_hw.is_none(), "{shape:?}: fixed_hw {:?}", check.fixed_hw);
    }
    Ok(())
}

fn valid_models_pass() -> Result<(), Failed> {
    let mut m = model_contract::template().clone();
    for contract in [Contract::Sam, Contract::Sam2] {
        m.contract = contract;
        check_contract_io(&m, &model_contract::valid_io(contract))
            .map_err(|e| format!("{contract:?}: {e}"))?;
    }
    // SAM 2 files declared as SAM: each problem listed, as argus-sam's
    // model::contract_mismatch_lists_each_problem expects of real files
    m.contract = Contract::Sam;
    match check_contract_io(&m, &model_contract::valid_io(Contract::Sam2)) {
        Err(Error::ContractMismatch { mismatches, .. }) => {
            let text = mismatches.join("\n");
            for needle in [
                "encoder output image_embeddings is missing (has: image_embed, high_res_feats_0, high_res_feats_1)",
                "decoder input high_res_feats_0 is not part of the contract",
                "decoder input image_embeddings is missing",
            ] {
                ensure!(text.contains(needle), "lists {needle:?}:\n{text}");
            }
        }
        other => return Err(format!("expected a contract mismatch, got {other:?}").into()),
    }
    // the seeds of models that pass do pass, so the fuzzer starts from them
    for (name, bytes) in model_contract::seeds() {
        let should_pass = ["sam-valid", "sam-low-res", "sam2-valid", "sam2-with-size", "sam-int64-size", "hwc-dynamic", "hwc-fixed", "hwc-negative-dims", "text-sam", "text-sam2", "text-hwc"]
            .contains(&name.as_str());
        let input = model_contract::Input::from_bytes(&bytes);
        let passed = input.manifest().is_some_and(|m| check_contract_io(&m, &input.io).is_ok());
        ensure!(passed == should_pass, "seed {name}: passes {passed}, expected {should_pass}");
    }
    Ok(())
}

fn output_size_any_scale() -> Result<(), Failed> {
    let video = argus_core::id::VideoId::from_uuid(uuid::Uuid::from_u128(7));
    for scale in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 0.0, 1e-300, 0.5, 1.0, 2.0] {
        let q = argus_workspace::FrameQuery {
            scale,
            ..argus_workspace::FrameQuery::new(video, 0)
        };
        for (w, h) in [(0, 0), (1, 1), (1920, 1080), (u32::MAX, 1)] {
            let (ow, oh) = q.output_size(w, h);
            ensure!(
                (1..=w.max(1)).contains(&ow) && (1..=h.max(1)).contains(&oh),
                "scale {scale}: {w}x{h} -> {ow}x{oh}"
            );
        }
    }
    Ok(())
}

fn seed(list: Vec<(String, Vec<u8>)>, name: &str) -> Result<Vec<u8>, Failed> {
    list.into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| b)
        .ok_or_else(|| format!("no seed {name}").into())
}

/// Runs `f` and fails unless it refused `data` with no allocation over `most` bytes.
fn refused_cheaply<T, E: std::fmt::Display>(
    data: &[u8],
    most: usize,
    f: impl FnOnce(&[u8]) -> Result<T, E>,
) -> Result<String, Failed> {
    let (result, largest) = measure(|| f(data));
    let largest = largest.ok_or("allocation is not measured")?;
    ensure!(largest <= most, "allocated {largest} bytes for {} input bytes", data.len());
    match result {
        Ok(_) => Err("accepted".into()),
        Err(e) => Ok(e.to_string()),
    }
}

fn huge_tensor() -> Result<(), Failed> {
    let data = seed(embedding_cache::seeds(), "huge-tensor")?;
    let why = refused_cheaply(&data, 1024, argus_sam::cache::decode_entry)?;
    ensure!(why.contains("truncated"), "says why: {why}");
    Ok(())
}

fn huge_id() -> Result<(), Failed> {
    let data = seed(embedding_cache::seeds(), "long-id")?;
    let why = refused_cheaply(&data, 1024, argus_sam::cache::decode_entry)?;
    ensure!(why.contains("truncated"), "says why: {why}");
    Ok(())
}

fn huge_run_count() -> Result<(), Failed> {
    let data = seed(store_codec::seeds(), "counts-huge-count")?;
    let why = refused_cheaply(&data[1..], 1024, argus_store::codec::decode_counts)?;
    ensure!(why.contains("shorter than its run count"), "says why: {why}");
    Ok(())
}

fn four_g_pixels() -> Result<(), Failed> {
    let data = seed(store_codec::seeds(), "mask-4g-pixels")?;
    let (result, largest) = measure(|| argus_store::codec::decode_mask(65_536, 65_535, &data[9..]));
    let mask = result.map_err(|e| e.to_string())?;
    ensure!(mask.area() == 0, "an empty mask");
    ensure!(largest.is_some_and(|n| n <= 1024), "allocated {largest:?} bytes");
    Ok(())
}

fn too_many_pixels() -> Result<(), Failed> {
    let data = seed(store_codec::seeds(), "mask-too-large")?;
    let why = refused_cheaply(&data[9..], 1024, |b| argus_store::codec::decode_mask(u32::MAX, u32::MAX, b))?;
    ensure!(why.contains("more than 4294967295 pixels"), "says why: {why}");
    Ok(())
}

/// Found by the store_codec fuzzer (fuzz/corpus/store_codec/crash-polygon-float-round-trip):
/// a polygon point x = 2.087077359480396e-283 came back from the store as
/// 2.0870773594803962e-283, because the geometry is JSON in the record and
/// serde_json parsed floats approximately (about one pixel coordinate in
/// seven moved by an ulp). Fixed with serde_json's `float_roundtrip`.
fn polygon_floats() -> Result<(), Failed> {
    const INPUT: &[u8] = &[
        0x03, 0x00, 0x00, 0x00, 0x00, 0x2e, 0x00, 0x01, 0xff, 0xff, 0xff, 0x00, 0x00, 0x04, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x63, 0xf8, 0x33, 0x33, 0x6a, 0x33, 0x33, 0x33, 0x33, 0xd3,
        0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x65, 0x63, 0xf8, 0x33, 0x33, 0x6a, 0x33,
        0x33, 0x33, 0x33, 0xd3, 0x3f, 0x05, 0x6c, 0x61, 0x62, 0x65, 0x6c, 0x02, 0x09, 0x3f, 0x05, 0x6c,
        0x61, 0x62, 0x65, 0x6c, 0x02, 0x09, 0x3d, 0xff, 0xff, 0x16, 0xff, 0xff, 0xff, 0xe8, 0x40, 0x00,
        0x00, 0x39, 0x05, 0x6c, 0x61, 0x62, 0x65, 0x6c, 0x02, 0x09, 0x3f, 0x05, 0x6c, 0x61, 0x62, 0x65,
        0x6c, 0x02, 0x09, 0xc3, 0x00, 0x00, 0xe9, 0x00, 0x00, 0x00, 0x14, 0x40, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x21, 0x40,
    ];
    std::panic::catch_unwind(|| store_codec::store_codec(INPUT)).map_err(|_| "the shape made from the input does not round trip")?;
    // the point itself, as the UI would draw it
    use argus_core::geometry::{Point, Polygon};
    use argus_core::model::Geometry;
    for x in [2.087077359480396e-283, 105.93070320942047, 1892.5261336951094] {
        let p = Polygon::new(
            vec![Point::new(x, 0.0).map_err(|e| e.to_string())?, Point::new(10.0, 0.0).map_err(|e| e.to_string())?, Point::new(5.0, 8.5).map_err(|e| e.to_string())?],
            Vec::new(),
        )
        .map_err(|e| e.to_string())?;
        let shape = store_codec::sample_shape(Geometry::Polygon(p));
        let bytes = argus_store::codec::encode_shape(&shape).map_err(|e| e.to_string())?;
        let back = argus_store::codec::decode_shape(&bytes).map_err(|e| e.to_string())?;
        ensure!(back == shape, "x = {x:?} came back as {:?}", back.geometry);
    }
    Ok(())
}

/// Found by the voc_xml fuzzer (fuzz/corpus/voc_xml/regression-two-annotations-box-outside-size):
/// a file with two `<annotation>`s returned a box checked against the first's
/// 40x30 with the second's 8x30 as the image's size. One image a file now.
fn voc_two_roots() -> Result<(), Failed> {
    let input = include_bytes!("../../../fuzz/corpus/voc_xml/regression-two-annotations-box-outside-size");
    argus_fuzz::formats::voc_xml(input);
    let mut report = argus_formats::Report::default();
    match argus_formats::voc::read_annotation(input, "a.xml", &mut report) {
        Err(argus_formats::Error::Invalid { reason, .. }) => ensure!(reason.contains("one image"), "the reason: {reason}"),
        other => return Err(format!("expected the second top-level element refused, got {other:?}").into()),
    }
    Ok(())
}
