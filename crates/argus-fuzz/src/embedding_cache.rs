//! The embedding cache's disk format: an entry file as the cache folder
//! holds it (written by any version of Argus, damaged, or planted).
//!
//! Input bytes: the file itself.

use argus_sam::cache::{decode_entry, encode_entry};
use argus_sam::manifest::ResizeMode;
use argus_sam::model::{Embedding, EmbeddingTensor};
use argus_sam::Transform;

/// The fuzz body.
pub fn embedding_cache(data: &[u8]) {
    let decoded = crate::alloc::bounded("decode_entry", data.len(), || decode_entry(data));
    let Ok(e) = decoded else {
        return;
    };
    // what decodes is what the encoder writes, byte for byte
    let again = encode_entry(&e);
    assert!(again == data, "re-encoding a decoded entry changed its bytes");
    // and it is usable: a checked transform, tensors holding what their shapes say
    let t = e.transform();
    assert!(
        Transform::checked(t.frame_w, t.frame_h, t.resized_w, t.resized_h, t.input_size).is_ok(),
        "decoded an unchecked transform {t:?}"
    );
    for tensor in e.tensors() {
        let count = tensor.shape.iter().try_fold(1usize, |a, d| a.checked_mul(*d));
        assert_eq!(count, Some(tensor.data.len()), "shape {:?}", tensor.shape);
    }
    assert!(e.byte_size() <= data.len() + 64, "the entry holds no more than its file");
}

/// An embedding like an encoder's, with `tensors` of the given shapes.
pub fn embedding(model: &str, frame: (u32, u32), input: u32, shapes: &[[usize; 4]]) -> Embedding {
    let t = Transform::new(frame.0, frame.1, input, ResizeMode::LongestSide)
        .expect("a valid seed transform");
    let tensors = shapes
        .iter()
        .enumerate()
        .map(|(k, &shape)| EmbeddingTensor {
            shape,
            data: (0..shape.iter().product::<usize>())
                .map(|i| (i as f32 * 0.37 + k as f32).sin())
                .collect(),
        })
        .collect();
    Embedding::from_parts(model.to_owned(), t, tensors)
}

/// Seed inputs: entries the cache writes (small tensors: the format does not
/// depend on their size), and damaged ones.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let one = encode_entry(&embedding("sam-vit-b", (1920, 1080), 1024, &[[1, 4, 4, 4]]));
    let three = encode_entry(&embedding(
        "sam2.1-tiny",
        (640, 480),
        1024,
        &[[1, 2, 4, 4], [1, 1, 8, 8], [1, 2, 2, 2]],
    ));
    let empty = encode_entry(&embedding("m", (1, 1), 1, &[]));
    let stretched = {
        let t = Transform::new(33, 7, 64, ResizeMode::Stretch).expect("valid");
        encode_entry(&Embedding::from_parts("m".into(), t, vec![EmbeddingTensor { shape: [1, 1, 1, 2], data: vec![f32::NAN, -0.0] }]))
    };
    // a tensor declaring 2^32 values in a few bytes
    let mut huge = empty.clone();
    huge.truncate(huge.len() - 4);
    huge.extend_from_slice(&1u32.to_le_bytes());
    for d in [1u32, 65_536, 65_536, 1] {
        huge.extend_from_slice(&d.to_le_bytes());
    }
    huge.extend_from_slice(&[0; 16]);
    // a declared model id longer than the file
    let mut long_id = one.clone();
    long_id[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    let truncated = one[..one.len() - 3].to_vec();
    let mut trailing = one.clone();
    trailing.push(0);
    vec![
        ("sam".into(), one),
        ("sam2".into(), three),
        ("no-tensors".into(), empty),
        ("stretch-nan".into(), stretched),
        ("huge-tensor".into(), huge),
        ("long-id".into(), long_id),
        ("truncated".into(), truncated),
        ("trailing".into(), trailing),
        ("magic-only".into(), b"ARGUSEMB".to_vec()),
    ]
}
