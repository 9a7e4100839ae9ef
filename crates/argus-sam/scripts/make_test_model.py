#!/usr/bin/env python3
"""Build small, deterministic ONNX models that follow the two SAM contracts.

Usage: make_test_model.py OUT_DIR

Writes into OUT_DIR:
  sam1_encoder.onnx / sam1_decoder.onnx    -- original SAM ONNX contract
  sam2_encoder.onnx / sam2_decoder.onnx    -- SAM 2 image contract
  sam1x_*.onnx  -- SAM contract, encoder taking raw HWC pixels (samexporter --use-preprocess)
  sam2x_*.onnx  -- SAM 2 contract as samexporter exports it (no orig_im_size, low-res masks)
  sam1lr_*.onnx -- SAM contract, decoder without the in-graph upscale (no orig_im_size,
                   low-res masks out), as export_mobile_sam.py exports MobileSAM's
  sam1.toml, sam2.toml, sam1x.toml, sam2x.toml, sam1lr.toml -- manifests for them (file:// URLs)

The models are not neural networks; they behave like SAM in the ways the
Argus tests can check against ground truth:

* the encoder average-pools the normalised image into 16x16-pixel cells of the
  1024x1024 model input (a 64x64 grid) and maps the 3 colour channels to 256
  channels with an orthonormal 1x1 convolution, so distances in embedding
  space are colour distances;
* the decoder's mask logits are high where the embedding is close to that of a
  positive point (or of the box centre when only a box is given), lowered
  where it is closer to a negative point, and forced negative outside the box.
  Four masks come out, with growing colour tolerance;
* when `has_mask_input` is 1 the previous low-res mask (`mask_input`) guides
  the new one instead of being added to it: the logits gain GUIDE_BONUS where
  `mask_input` > 0 and lose GUIDE_SLOPE per 16-pixel cell of (chessboard)
  distance beyond GUIDE_MARGIN cells from the cells at least half inside it
  (measured up to GUIDE_LEVELS cells), and the box is widened by
  BOX_SLACK model pixels (an object tracked from the previous frame's box may
  have moved out of it).  So a mask that follows a moving object keeps the
  object's current shape (a union would lag behind it and grow), and a
  second click with the previous mask stays near the earlier selection;
* `iou_predictions` are fixed per candidate and not in index order (ranking is
  exercised), less a penalty that grows with the spread of the positive
  points' embeddings (their mean squared distance to their mean, times
  SPREAD_GAIN, at most SPREAD_MAX): points on one colour keep the fixed
  values, points on two different objects lower every candidate's IoU;
* mask post-processing follows segment-anything's export (upsample to 1024,
  crop to the resized image, upsample to `orig_im_size`) for the SAM contract
  and samexporter's SAM 2 export (upsample the 256x256 masks straight to
  `orig_im_size`, given as int32) for the SAM 2 contract.

Everything is built from fixed constants and a seeded generator, so the same
bytes come out every time.
"""

import hashlib
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 18
IR_VERSION = 9
TAUS = [0.25, 1.0, 2.5, 5.0]
IOU = [0.80, 0.95, 0.70, 0.60]
LOGIT_SCALE = 4.0
MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]
CONTRAST_GAIN = 8.0
# the previous mask's guidance (has_mask_input == 1), in cells of the 64x64 embedding grid
GUIDE_BONUS = 1.0
GUIDE_MARGIN = 2.0
GUIDE_SLOPE = 8.0
GUIDE_LEVELS = 8
BOX_SLACK = 32.0
# the predicted IoU's penalty for positive points of different colours
SPREAD_GAIN = 0.15
SPREAD_MAX = 0.5


def orthonormal(rows, rng):
    """rows x 3 matrix with orthonormal columns, so ||W c|| == ||c||."""
    q, _ = np.linalg.qr(rng.standard_normal((rows, 3)))
    return q.astype(np.float32)


class G:
    """Tiny graph builder: unique names, initialisers, nodes."""

    def __init__(self):
        self.nodes = []
        self.inits = []
        self.n = 0

    def name(self, hint):
        self.n += 1
        return f"{hint}_{self.n}"

    def const(self, value, dtype=np.float32, hint="c"):
        nm = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.array(value, dtype=dtype), nm))
        return nm

    def op(self, op_type, inputs, hint=None, **attrs):
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def op_to(self, op_type, inputs, out, **attrs):
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out


def encoder(path, sam2, hwc=False, size=("h", "w")):
    """hwc: samexporter's `--use-preprocess` SAM encoder, which takes the resized
    frame as raw `[H, W, 3]` float pixels and normalises and pads inside; `size`
    is the picture size it declares (any size by default)."""
    rng = np.random.default_rng(1234)
    g = G()
    w = orthonormal(256, rng).reshape(256, 3, 1, 1)
    if hwc:
        x = g.op("Div", [g.op("Sub", ["input_image", g.const(MEAN)]), g.const(STD)])
        hw = g.op("Slice", [g.op("Shape", [x]), g.const([0], np.int64), g.const([2], np.int64)])
        pad_end = g.op("Sub", [g.const([1024, 1024], np.int64), hw])
        pads = g.op("Concat", [g.const([0, 0, 0], np.int64), pad_end, g.const([0], np.int64)], axis=0)
        padded = g.op("Pad", [x, pads], mode="constant")
        g.op_to("Unsqueeze", [g.op("Transpose", [padded], perm=[2, 0, 1]), g.const([0], np.int64)], "image")
    pooled = g.op("AveragePool", ["image"], kernel_shape=[16, 16], strides=[16, 16])
    emb_name = "image_embed" if sam2 else "image_embeddings"
    g.op_to("Conv", [pooled, g.const(w)], emb_name)
    outputs = [helper.make_tensor_value_info(emb_name, TensorProto.FLOAT, [1, 256, 64, 64])]
    if sam2:
        for name, ch, k, size in (("high_res_feats_0", 32, 4, 256), ("high_res_feats_1", 64, 8, 128)):
            p = g.op("AveragePool", ["image"], kernel_shape=[k, k], strides=[k, k])
            g.op_to("Conv", [p, g.const(orthonormal(ch, rng).reshape(ch, 3, 1, 1))], name)
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, ch, size, size]))
    if hwc:
        inputs = [helper.make_tensor_value_info("input_image", TensorProto.FLOAT, [size[0], size[1], 3])]
    else:
        inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 1024, 1024])]
    save(g, inputs, outputs, path, "argus-test-sam2-encoder" if sam2 else "argus-test-sam-encoder")


def decoder(path, sam2, no_size=False):
    """no_size: samexporter's SAM 2 decoder, which has no `orig_im_size` and
    returns the 256x256 low-res logits as `masks`."""
    g = G()
    emb = "image_embed" if sam2 else "image_embeddings"
    f32 = lambda v: g.const(v, np.float32)  # noqa: E731
    i64 = lambda v: g.const(v, np.int64)  # noqa: E731

    ef = g.op("Reshape", [emb, i64([256, 4096])])  # [256, 4096]
    coords = g.op("Reshape", ["point_coords", i64([-1, 2])])  # [N, 2]
    labels = g.op("Reshape", ["point_labels", i64([-1, 1])])  # [N, 1]

    def is_label(v):
        return g.op("Cast", [g.op("Equal", [labels, f32([v])])], to=TensorProto.FLOAT)  # [N,1]

    pos, neg, tl_m, br_m = is_label(1.0), is_label(0.0), is_label(2.0), is_label(3.0)
    tl = g.op("ReduceSum", [g.op("Mul", [coords, tl_m]), i64([0])], keepdims=1)  # [1,2]
    br = g.op("ReduceSum", [g.op("Mul", [coords, br_m]), i64([0])], keepdims=1)
    has_box = g.op("ReduceMax", [tl_m], keepdims=1)  # [1,1]
    has_pos = g.op("ReduceMax", [pos], keepdims=1)
    centre = g.op("Mul", [g.op("Add", [tl, br]), f32(0.5)])  # [1,2]
    all_pts = g.op("Concat", [coords, centre], axis=0)  # [N+1, 2]
    # the box centre is a positive point only when there is a box and no positive click
    centre_pos = g.op("Mul", [has_box, g.op("Sub", [f32(1.0), has_pos])])  # [1,1]
    pos_all = g.op("Concat", [pos, centre_pos], axis=0)  # [N+1,1]
    neg_all = g.op("Concat", [neg, f32([[0.0]])], axis=0)

    cell = g.op("Clip", [g.op("Floor", [g.op("Div", [all_pts, f32(16.0)])]), f32(0.0), f32(63.0)])
    cell = g.op("Cast", [cell], to=TensorProto.INT64)  # [N+1, 2] (x, y)
    cx = g.op("Gather", [cell, i64(0)], axis=1)
    cy = g.op("Gather", [cell, i64(1)], axis=1)
    idx = g.op("Add", [g.op("Mul", [cy, i64(64)]), cx])  # [N+1]
    feats = g.op("Gather", [ef, idx], axis=1)  # [256, N+1]
    ee = g.op("ReduceSum", [g.op("Mul", [ef, ef]), i64([0])], keepdims=1)  # [1,4096]
    ff = g.op("Transpose", [g.op("ReduceSum", [g.op("Mul", [feats, feats]), i64([0])], keepdims=1)], perm=[1, 0])
    fe = g.op("MatMul", [g.op("Transpose", [feats], perm=[1, 0]), ef])  # [N+1, 4096]
    dist = g.op("Add", [g.op("Sub", [ee, g.op("Mul", [fe, f32(2.0)])]), ff])  # [N+1, 4096]
    sim = g.op("Neg", [dist])

    def masked_max(weights):
        # weight 1 -> sim, weight 0 -> -1e4
        penalty = g.op("Mul", [g.op("Sub", [f32(1.0), weights]), f32(1e4)])
        return g.op("ReduceMax", [g.op("Sub", [sim, penalty]), i64([0])], keepdims=1)  # [1,4096]

    pmax = masked_max(pos_all)
    nmax = masked_max(neg_all)
    # contrast > 0 where the cell is closer to the positives than to the negatives; it is
    # steep so that cells well inside the object keep the same logit as without negatives
    contrast = g.op("Mul", [g.op("Sub", [pmax, nmax]), f32(CONTRAST_GAIN)])
    per_tau = []
    for tau in TAUS:
        per_tau.append(g.op("Min", [g.op("Add", [pmax, f32(tau)]), contrast]))
    base = g.op("Mul", [g.op("Concat", per_tau, axis=0), f32(LOGIT_SCALE)])  # [4, 4096]
    base = g.op("Clip", [base, f32(-32.0), f32(32.0)])
    base = g.op("Reshape", [base, i64([1, 4, 64, 64])])
    low = g.op("Resize", [base, "", "", i64([1, 4, 256, 256])], mode="linear",
               coordinate_transformation_mode="half_pixel")
    # previous mask (has_mask_input == 1): a bonus inside it, a penalty growing with the
    # chessboard distance from it (in 64-grid cells, counted by repeated 3x3 dilations)
    prev_in = g.op("Cast", [g.op("Greater", ["mask_input", f32(0.0)])], to=TensorProto.FLOAT)
    # a cell is in the previous mask when at least half of it is (slivers do not count)
    near = g.op("AveragePool", [prev_in], kernel_shape=[4, 4], strides=[4, 4])  # [1,1,64,64]
    near = g.op("Cast", [g.op("GreaterOrEqual", [near, f32(0.5)])], to=TensorProto.FLOAT)
    far = []
    for level in range(GUIDE_LEVELS):
        if level > 0:
            near = g.op("MaxPool", [near], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
        far.append(g.op("Sub", [f32(1.0), near]))  # 1 where the distance is > level
    distance = g.op("Sum", far) if len(far) > 1 else far[0]
    penalty = g.op("Mul", [g.op("Relu", [g.op("Sub", [distance, f32(GUIDE_MARGIN)])]), f32(GUIDE_SLOPE)])
    penalty = g.op("Resize", [penalty, "", "", i64([1, 1, 256, 256])], mode="linear",
                   coordinate_transformation_mode="half_pixel")
    guide = g.op("Sub", [g.op("Mul", [prev_in, f32(GUIDE_BONUS)]), penalty])
    low = g.op("Add", [low, g.op("Mul", [guide, "has_mask_input"])])
    # box: force the outside negative (evaluated at the centres of the 256 grid cells)
    centres = (np.arange(256, dtype=np.float32) + 0.5) * 4.0
    xs = f32(centres.reshape(1, 256))
    ys = f32(centres.reshape(256, 1))
    # with a previous mask the box is widened by BOX_SLACK
    slack = g.op("Mul", ["has_mask_input", f32(BOX_SLACK)])  # [1]
    tl_s = g.op("Sub", [g.op("Reshape", [tl, i64([2])]), slack])
    br_s = g.op("Add", [g.op("Reshape", [br, i64([2])]), slack])
    tlx = g.op("Gather", [tl_s, i64(0)])
    tly = g.op("Gather", [tl_s, i64(1)])
    brx = g.op("Gather", [br_s, i64(0)])
    bry = g.op("Gather", [br_s, i64(1)])

    def ge(a, b):
        return g.op("Cast", [g.op("GreaterOrEqual", [a, b])], to=TensorProto.FLOAT)

    inside = g.op("Mul", [g.op("Mul", [ge(xs, tlx), ge(brx, xs)]), g.op("Mul", [ge(ys, tly), ge(bry, ys)])])
    outside_box = g.op("Mul", [g.op("Reshape", [has_box, i64([1])]), g.op("Sub", [f32(1.0), inside])])
    low = g.op("Sub", [low, g.op("Mul", [outside_box, f32(64.0)])])
    low = g.op_to("Clip", [low, f32(-32.0), f32(32.0)], "masks" if no_size else "low_res_masks")

    # predicted IoU: fixed per candidate, less the spread of the positive points' embeddings
    npos = g.op("Max", [g.op("ReduceSum", [pos_all, i64([0])], keepdims=1), f32(1.0)])  # [1,1]
    mean = g.op("Div", [g.op("MatMul", [feats, pos_all]), npos])  # [256,1]
    dev = g.op("Sub", [feats, mean])
    dev2 = g.op("ReduceSum", [g.op("Mul", [dev, dev]), i64([0])], keepdims=1)  # [1, N+1]
    spread = g.op("Div", [g.op("MatMul", [dev2, pos_all]), npos])  # [1,1]
    drop = g.op("Min", [g.op("Mul", [spread, f32(SPREAD_GAIN)]), f32(SPREAD_MAX)])
    iou = g.op("Sub", [g.const(np.array([IOU], dtype=np.float32)), drop])  # [1,4]
    if sam2:
        # consume the high-res features (times zero: numerically nothing, but wiring them wrong fails)
        hr0 = g.op("ReduceMean", ["high_res_feats_0"], keepdims=0)
        hr1 = g.op("ReduceMean", ["high_res_feats_1"], keepdims=0)
        hr = g.op("Mul", [g.op("Add", [hr0, hr1]), f32(0.0)])
        g.op_to("Add", [iou, hr], "iou_predictions")
    else:
        g.op_to("Identity", [iou], "iou_predictions")

    if no_size:
        pass
    elif sam2:
        size = g.op("Cast", ["orig_im_size"], to=TensorProto.INT64)
        sizes = g.op("Concat", [i64([1, 4]), size], axis=0)
        g.op_to("Resize", ["low_res_masks", "", "", sizes], "masks", mode="linear",
                coordinate_transformation_mode="half_pixel")
    else:
        up = g.op("Resize", ["low_res_masks", "", "", i64([1, 4, 1024, 1024])], mode="linear",
                  coordinate_transformation_mode="half_pixel")
        scale = g.op("Div", [f32(1024.0), g.op("ReduceMax", ["orig_im_size"], keepdims=1)])
        pre = g.op("Cast", [g.op("Floor", [g.op("Add", [g.op("Mul", ["orig_im_size", scale]), f32(0.5)])])],
                   to=TensorProto.INT64)
        crop = g.op("Slice", [up, i64([0, 0]), pre, i64([2, 3])])
        size = g.op("Cast", ["orig_im_size"], to=TensorProto.INT64)
        sizes = g.op("Concat", [i64([1, 4]), size], axis=0)
        g.op_to("Resize", [crop, "", "", sizes], "masks", mode="linear",
                coordinate_transformation_mode="half_pixel")

    inputs = [helper.make_tensor_value_info(emb, TensorProto.FLOAT, [1, 256, 64, 64])]
    if sam2:
        inputs += [
            helper.make_tensor_value_info("high_res_feats_0", TensorProto.FLOAT, [1, 32, 256, 256]),
            helper.make_tensor_value_info("high_res_feats_1", TensorProto.FLOAT, [1, 64, 128, 128]),
        ]
    inputs += [
        helper.make_tensor_value_info("point_coords", TensorProto.FLOAT, [1, "num_points", 2]),
        helper.make_tensor_value_info("point_labels", TensorProto.FLOAT, [1, "num_points"]),
        helper.make_tensor_value_info("mask_input", TensorProto.FLOAT, [1, 1, 256, 256]),
        helper.make_tensor_value_info("has_mask_input", TensorProto.FLOAT, [1]),
    ]
    if no_size:
        outputs = [
            helper.make_tensor_value_info("masks", TensorProto.FLOAT, [1, 4, 256, 256]),
            helper.make_tensor_value_info("iou_predictions", TensorProto.FLOAT, [1, 4]),
        ]
    else:
        inputs.append(
            helper.make_tensor_value_info("orig_im_size", TensorProto.INT32 if sam2 else TensorProto.FLOAT, [2]))
        outputs = [
            helper.make_tensor_value_info("masks", TensorProto.FLOAT, [1, 4, "height", "width"]),
            helper.make_tensor_value_info("iou_predictions", TensorProto.FLOAT, [1, 4]),
            helper.make_tensor_value_info("low_res_masks", TensorProto.FLOAT, [1, 4, 256, 256]),
        ]
    save(g, inputs, outputs, path, "argus-test-sam2-decoder" if sam2 else "argus-test-sam-decoder")


def save(g, inputs, outputs, path, name):
    graph = helper.make_graph(g.nodes, name, inputs, outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="argus make_test_model.py")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString(deterministic=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


MANIFEST = """# Generated by crates/argus-sam/scripts/make_test_model.py: a test model, not a neural network.
id = "{id}"
name = "{title}"
family = "{family}"
contract = "{contract}"
input_size = 1024
resize = "{resize}"
pixel_mean = {mean}
pixel_std = {std}
licence = "Apache-2.0"

[encoder]
file = "{id}-encoder.onnx"
sha256 = "{enc_sha}"
urls = ["file://{enc}"]

[decoder]
file = "{id}-decoder.onnx"
sha256 = "{dec_sha}"
urls = ["file://{dec}"]
"""


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_test_model.py OUT_DIR")
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    # tag, SAM 2?, HWC raw-pixel encoder?, decoder without orig_im_size (low-res masks out)?
    for tag, sam2, hwc, no_size in (("sam1", False, False, False), ("sam2", True, False, False),
                                    ("sam1x", False, True, False), ("sam2x", True, False, True),
                                    ("sam1lr", False, False, True)):
        enc = os.path.join(out, f"{tag}_encoder.onnx")
        dec = os.path.join(out, f"{tag}_decoder.onnx")
        encoder(enc, sam2, hwc=hwc)
        decoder(dec, sam2, no_size=no_size)
        variant = ", exporter variant" if hwc or (no_size and sam2) else ", low-res decoder" if no_size else ""
        text = MANIFEST.format(
            id=f"argus-test-{tag}",
            title=f"Argus test model ({'SAM 2 image' if sam2 else 'SAM'} contract{variant})",
            family="test",
            contract="sam2" if sam2 else "sam",
            resize="stretch" if sam2 else "longest_side",
            mean=str(MEAN),
            std=str(STD),
            enc_sha=sha256(enc),
            dec_sha=sha256(dec),
            enc=enc,
            dec=dec,
        )
        with open(os.path.join(out, f"{tag}.toml"), "w") as f:
            f.write(text)
    # A hostile exporter variant: it declares a 100000x100000 picture, which
    # Argus must refuse at load rather than allocate.
    encoder(os.path.join(out, "hostile_hwc_encoder.onnx"), False, hwc=True, size=(100000, 100000))
    print(out)


if __name__ == "__main__":
    main()
