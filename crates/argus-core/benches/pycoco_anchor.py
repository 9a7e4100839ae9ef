"""pycocotools side of `cargo bench -p argus-core --bench core`.

Usage: pycoco_anchor.py HEIGHT WIDTH MASK_A.bin MASK_B.bin

The .bin files are row-major uint8 bitmaps (0/1) written by the Rust bench,
so both sides time the very same masks. Prints one line per operation:
`<name> <seconds per call>` (median of 7 batches), the same protocol the Rust
side uses. The operations are what a Python pipeline does for the same job:
a row-major (C order) mask from numpy/SAM must be made Fortran-ordered before
`encode`, and `decode` returns a Fortran array that must be made C-ordered
for an image; the `*_colmajor` lines time pycocotools' native layout alone.
"""

import sys
import time

import numpy as np
import pycocotools.mask as M


def per_call(f):
    f()
    iters = 1
    while True:
        t = time.perf_counter()
        for _ in range(iters):
            f()
        if time.perf_counter() - t > 0.05:
            break
        iters *= 2
    samples = []
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(iters):
            f()
        samples.append((time.perf_counter() - t) / iters)
    samples.sort()
    return samples[len(samples) // 2]


def main():
    h, w = int(sys.argv[1]), int(sys.argv[2])
    a = np.fromfile(sys.argv[3], dtype=np.uint8).reshape(h, w)
    b = np.fromfile(sys.argv[4], dtype=np.uint8).reshape(h, w)
    af = np.asfortranarray(a)
    ra, rb = M.encode(af), M.encode(np.asfortranarray(b))
    # Sanity: both sides must be looking at the same mask.
    print("area", int(M.area(ra)))
    print("encode_rowmajor", per_call(lambda: M.encode(np.asfortranarray(a))))
    print("encode_colmajor", per_call(lambda: M.encode(af)))
    print("decode_rowmajor", per_call(lambda: np.ascontiguousarray(M.decode(ra))))
    print("decode_colmajor", per_call(lambda: M.decode(ra)))
    print("iou", per_call(lambda: M.iou([ra], [rb], [0])))
    print("union", per_call(lambda: M.merge([ra, rb], intersect=False)))


if __name__ == "__main__":
    main()
