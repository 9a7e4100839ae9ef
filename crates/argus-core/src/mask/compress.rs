//! pycocotools' compressed RLE string (`rleToString` / `rleFrString`).
//!
//! Each count is written as a little-endian sequence of 5-bit groups, one
//! ASCII character per group (`48 + group`, so `'0'..='o'`), with bit `0x20`
//! meaning "more groups follow" and bit `0x10` of the last group the sign.
//! Counts after index 2 are stored as the difference to the count two
//! places before (same value of pixel), which makes typical masks short.

use super::{MaskError, Rle};

/// The most 5-bit groups one count may use. A count is a `u32` and a delta
/// of two counts needs 33 bits plus sign, i.e. 7 groups; allowing a few more
/// accepts redundant encodings while keeping the shift far from overflow.
const MAX_GROUPS: u32 = 12;

impl Rle {
    /// The compressed string pycocotools writes in COCO JSON `"counts"`.
    pub fn to_compressed_string(&self) -> String {
        let mut s = Vec::with_capacity(self.counts.len() * 2);
        for (i, &c) in self.counts.iter().enumerate() {
            let mut x = i64::from(c);
            if i > 2 {
                x -= i64::from(self.counts[i - 2]);
            }
            loop {
                let group = (x & 0x1f) as u8;
                x >>= 5;
                let more = if group & 0x10 != 0 { x != -1 } else { x != 0 };
                if more {
                    s.push((group | 0x20) + 48);
                } else {
                    s.push(group + 48);
                    break;
                }
            }
        }
        // Every byte is in 48..=111, i.e. ASCII, so this never fails (and is
        // checked at memory speed, unlike collecting char by char).
        String::from_utf8(s).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// Parses the compressed string form, refusing malformed strings,
    /// counts outside `u32` and counts that do not cover `height * width`.
    pub fn from_compressed_string(height: u32, width: u32, s: &str) -> Result<Self, MaskError> {
        super::check_size(height, width)?;
        let bytes = s.as_bytes();
        let mut counts: Vec<u32> = Vec::with_capacity(bytes.len());
        let mut p = 0usize;
        while p < bytes.len() {
            let start = p;
            let mut x: i64 = 0;
            let mut k: u32 = 0;
            loop {
                let Some(&b) = bytes.get(p) else {
                    return Err(MaskError::MalformedString {
                        position: start,
                        reason: "the last count is cut off",
                    });
                };
                if !(48..=111).contains(&b) {
                    return Err(MaskError::MalformedString {
                        position: p,
                        reason: "only the characters '0' to 'o' may appear",
                    });
                }
                if k >= MAX_GROUPS {
                    return Err(MaskError::MalformedString {
                        position: start,
                        reason: "a count is too long",
                    });
                }
                let c = i64::from(b - 48);
                x |= (c & 0x1f) << (5 * k);
                p += 1;
                k += 1;
                if c & 0x20 == 0 {
                    if c & 0x10 != 0 {
                        x |= -1i64 << (5 * k);
                    }
                    break;
                }
            }
            let m = counts.len();
            if m > 2 {
                x += i64::from(counts[m - 2]);
            }
            let count = u32::try_from(x).map_err(|_| MaskError::MalformedString {
                position: start,
                reason: "a count is negative or larger than 4294967295",
            })?;
            counts.push(count);
        }
        Self::new(height, width, counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden vectors: the string is what pycocotools 2.0 (Python 3.11,
    /// `pip install pycocotools numpy`) printed for
    /// `pycocotools.mask.frPyObjects({'size': [h, w], 'counts': counts}, h, w)['counts']`
    /// with exactly these counts, computed once and pasted here.
    const GOLDEN: &[(u32, u32, &[u32], &str)] = &[
        (4, 5, &[9, 2, 2, 2, 5], "92203"),
        (4, 5, &[0, 20], "0d0"),
        (4, 5, &[20], "d0"),
        (
            1000,
            70,
            &[
                0, 1, 1, 31, 16, 15, 17, 32, 33, 1023, 1024, 1025, 65535, 1247,
            ],
            "011n0?@1a0`0on0on02oon1n6",
        ),
        (
            1000,
            305,
            &[100000, 5, 3, 200000, 1, 1, 66, 7, 4917],
            "PeQ353kYS6NQflIQ26cg4",
        ),
        // 65535 x 65537 = u32::MAX pixels: the largest mask, with 33-bit deltas.
        (65535, 65537, &[5, 1, 4294967289], "51iooooo3"),
        (65535, 65537, &[0, 4294967285, 10], "0eooooo3:"),
        (65535, 65537, &[4294967292, 3], "looooo33"),
    ];

    #[test]
    fn matches_pycocotools_golden_strings() {
        for &(h, w, counts, expected) in GOLDEN {
            let r = Rle::new(h, w, counts.to_vec()).expect("golden counts are valid");
            assert_eq!(r.to_compressed_string(), expected, "counts {counts:?}");
            assert_eq!(
                Rle::from_compressed_string(h, w, expected).expect("golden string parses"),
                r
            );
        }
    }

    #[test]
    fn matches_pycocotools_encode_of_a_random_bitmap() {
        // numpy.random.default_rng(7).random((6, 9)) < 0.4, then
        // pycocotools.mask.encode(np.asfortranarray(m)) -> b'412001O021NN001110N0006OL0N0'.
        let rows: [[u8; 9]; 6] = [
            [0, 0, 0, 1, 1, 0, 1, 0, 0],
            [0, 1, 1, 1, 0, 0, 0, 0, 0],
            [0, 0, 1, 1, 0, 1, 1, 0, 0],
            [0, 0, 0, 0, 1, 1, 1, 0, 1],
            [1, 1, 0, 1, 1, 0, 0, 0, 0],
            [0, 1, 0, 0, 0, 1, 0, 1, 1],
        ];
        let r = Rle::from_bitmap_row_major(6, 9, rows.as_flattened()).expect("valid");
        assert_eq!(r.to_compressed_string(), "412001O021NN001110N0006OL0N0");
    }

    #[test]
    fn malformed_strings_are_typed_errors() {
        let bad = |s: &str| Rle::from_compressed_string(4, 5, s);
        assert!(matches!(
            bad("92 03"),
            Err(MaskError::MalformedString { position: 2, .. })
        ));
        assert!(matches!(
            bad("92p03"),
            Err(MaskError::MalformedString { position: 2, .. })
        ));
        assert!(matches!(
            bad("92é"),
            Err(MaskError::MalformedString { position: 2, .. })
        ));
        // A continuation bit on the last character.
        assert!(matches!(
            bad("92P"),
            Err(MaskError::MalformedString { position: 2, .. })
        ));
        // Far too many continuation groups.
        assert!(matches!(
            bad("9ooooooooooooooooo0"),
            Err(MaskError::MalformedString { position: 1, .. })
        ));
        // A negative first count.
        assert!(matches!(
            bad("O"),
            Err(MaskError::MalformedString { position: 0, .. })
        ));
        // Valid syntax, wrong total.
        assert!(matches!(
            bad("9220"),
            Err(MaskError::CountMismatch { actual: 15, .. })
        ));
        assert!(matches!(
            bad(""),
            Err(MaskError::CountMismatch { actual: 0, .. })
        ));
        assert!(matches!(
            Rle::from_compressed_string(0, 5, "0"),
            Err(MaskError::InvalidSize { .. })
        ));
        assert!(matches!(
            Rle::from_compressed_string(100_000, 100_000, "0"),
            Err(MaskError::TooLarge { .. })
        ));
    }
}
