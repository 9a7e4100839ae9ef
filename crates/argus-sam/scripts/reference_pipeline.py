#!/usr/bin/env python3
"""The Python SAM pipeline Argus is checked and measured against.

It is the pipeline X-AnyLabeling uses for SAM ONNX models: OpenCV resize,
numpy normalisation and padding, onnxruntime for the encoder and decoder
(`orig_im_size` = the frame size, so the decoder returns frame-size logits),
then a numpy threshold. The mask is then run-length encoded with pycocotools,
so both sides produce the same thing: a COCO RLE at frame resolution.

Subcommands (all I/O is raw little-endian files plus JSON, no pickles):

  decode-raw DECODER IN_DIR OUT_DIR
      IN_DIR/index.json maps input name -> {"shape", "dtype", "file"}; runs the
      decoder on exactly those tensors and writes every output the same way.
  encode-raw ENCODER IN_DIR OUT_DIR
      Same for the encoder.
  predict MANIFEST_JSON FRAME W H PROMPT_JSON OUT_DIR
      Full pipeline on an RGB24 frame; writes best.mask (H*W bytes, row-major,
      best-IoU candidate) and result.json (iou list).
  bench MANIFEST_JSON W H ITERS THREADS
      Times preprocess+encoder and click-to-mask (decoder + threshold + RLE) on
      a synthetic frame; prints one JSON object with the per-iteration ms.

MANIFEST_JSON: {"encoder", "decoder", "contract": "sam"|"sam2",
"resize": "longest_side"|"stretch", "mean", "std", "input_size", "encoder_input"}.
"""

import json
import os
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort

DTYPES = {"float32": np.float32, "int32": np.int32, "int64": np.int64}


def session(path, threads):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads > 0:
        so.intra_op_num_threads = threads
    # as argus-sam's sessions (LoadOptions::spin off): no spinning between runs
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def read_tensors(in_dir):
    with open(os.path.join(in_dir, "index.json")) as f:
        index = json.load(f)
    out = {}
    for name, spec in index.items():
        arr = np.fromfile(os.path.join(in_dir, spec["file"]), dtype=DTYPES[spec["dtype"]])
        out[name] = arr.reshape(spec["shape"])
    return out


def write_tensors(out_dir, named):
    os.makedirs(out_dir, exist_ok=True)
    index = {}
    for name, arr in named.items():
        arr = np.ascontiguousarray(arr)
        fname = name + ".bin"
        arr.astype(arr.dtype.newbyteorder("<")).tofile(os.path.join(out_dir, fname))
        index[name] = {"shape": list(arr.shape), "dtype": str(arr.dtype), "file": fname}
    with open(os.path.join(out_dir, "index.json"), "w") as f:
        json.dump(index, f)


def run_raw(model, in_dir, out_dir):
    s = session(model, 1)
    inputs = read_tensors(in_dir)
    names = [o.name for o in s.get_outputs()]
    outs = s.run(names, inputs)
    write_tensors(out_dir, dict(zip(names, outs)))


class Pipeline:
    """X-AnyLabeling's SegmentAnythingONNX, reduced to what Argus compares."""

    def __init__(self, m, threads):
        self.m = m
        self.enc = session(m["encoder"], threads)
        self.dec = session(m["decoder"], threads)
        self.size = m["input_size"]
        self.mean = np.array(m["mean"], dtype=np.float32)
        self.std = np.array(m["std"], dtype=np.float32)
        self.dec_inputs = {i.name: i.type for i in self.dec.get_inputs()}

    def target(self, h, w):
        if self.m["resize"] == "stretch":
            return self.size, self.size
        scale = self.size / max(h, w)
        return int(h * scale + 0.5), int(w * scale + 0.5)

    def encode(self, img):
        h, w = img.shape[:2]
        nh, nw = self.target(h, w)
        resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
        x = (resized.astype(np.float32) - self.mean) / self.std
        padded = np.zeros((self.size, self.size, 3), dtype=np.float32)
        padded[:nh, :nw] = x
        tensor = padded.transpose(2, 0, 1)[None].copy()
        outs = self.enc.run(None, {self.m["encoder_input"]: tensor})
        names = [o.name for o in self.enc.get_outputs()]
        return dict(zip(names, outs)), (h, w, nh, nw)

    def decode(self, emb, geo, clicks, box=None):
        h, w, nh, nw = geo
        sx, sy = nw / w, nh / h
        pts = [[x * sx, y * sy] for x, y, _ in clicks]
        lbl = [1.0 if pos else 0.0 for _, _, pos in clicks]
        if box is not None:
            x0, y0, bw, bh = box
            pts += [[x0 * sx, y0 * sy], [(x0 + bw) * sx, (y0 + bh) * sy]]
            lbl += [2.0, 3.0]
        else:
            pts.append([0.0, 0.0])
            lbl.append(-1.0)
        feeds = {k: v for k, v in emb.items() if k in self.dec_inputs}
        size_dtype = np.int32 if "int32" in self.dec_inputs["orig_im_size"] else (
            np.int64 if "int64" in self.dec_inputs["orig_im_size"] else np.float32)
        feeds.update({
            "point_coords": np.array([pts], dtype=np.float32),
            "point_labels": np.array([lbl], dtype=np.float32),
            "mask_input": np.zeros((1, 1, 256, 256), dtype=np.float32),
            "has_mask_input": np.zeros(1, dtype=np.float32),
            "orig_im_size": np.array([h, w], dtype=size_dtype),
        })
        masks, iou = self.dec.run(["masks", "iou_predictions"], feeds)
        best = int(np.argmax(iou[0]))
        return masks[0, best] > 0.0, iou[0]


def rle(mask):
    from pycocotools import mask as mask_utils
    return mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))


def predict(manifest_json, frame, w, h, prompt_json, out_dir):
    with open(manifest_json) as f:
        m = json.load(f)
    with open(prompt_json) as f:
        p = json.load(f)
    img = np.fromfile(frame, dtype=np.uint8).reshape(h, w, 3)
    pipe = Pipeline(m, 1)
    emb, geo = pipe.encode(img)
    mask, iou = pipe.decode(emb, geo, [tuple(c) for c in p.get("clicks", [])], p.get("box"))
    os.makedirs(out_dir, exist_ok=True)
    mask.astype(np.uint8).tofile(os.path.join(out_dir, "best.mask"))
    with open(os.path.join(out_dir, "result.json"), "w") as f:
        json.dump({"iou": [float(v) for v in iou]}, f)


def synthetic_frame(h, w):
    """The same frame the Rust benchmark builds (see benches/sam.rs)."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 3), dtype=np.uint8)
    img[..., 0] = (x * 255 // max(w - 1, 1)).astype(np.uint8)
    img[..., 1] = (y * 255 // max(h - 1, 1)).astype(np.uint8)
    img[..., 2] = 96
    cx, cy, r = w // 2, h // 2, min(h, w) // 4
    disk = (x - cx) ** 2 + (y - cy) ** 2 < r * r
    img[disk] = (230, 40, 40)
    return img


def bench(manifest_json, w, h, iters, threads):
    with open(manifest_json) as f:
        m = json.load(f)
    pipe = Pipeline(m, threads)
    img = synthetic_frame(h, w)
    emb, geo = pipe.encode(img)  # warm-up
    enc_ms = []
    for _ in range(iters):
        t0 = time.perf_counter()
        emb, geo = pipe.encode(img)
        enc_ms.append((time.perf_counter() - t0) * 1000.0)
    click = [(w / 2.0, h / 2.0, True)]
    pipe.decode(emb, geo, click)
    click_ms = []
    for i in range(iters * 4):
        t0 = time.perf_counter()
        mask, _ = pipe.decode(emb, geo, [(w / 2.0 + (i % 7), h / 2.0, True)])
        rle(mask)
        click_ms.append((time.perf_counter() - t0) * 1000.0)
    print(json.dumps({"encode_ms": enc_ms, "click_ms": click_ms}))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd in ("decode-raw", "encode-raw") and len(args) == 3:
        run_raw(*args)
    elif cmd == "predict" and len(args) == 6:
        predict(args[0], args[1], int(args[2]), int(args[3]), args[4], args[5])
    elif cmd == "bench" and len(args) == 5:
        bench(args[0], int(args[1]), int(args[2]), int(args[3]), int(args[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
