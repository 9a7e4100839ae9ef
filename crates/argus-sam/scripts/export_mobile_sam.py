#!/usr/bin/env python3
"""Exports MobileSAM (the real weights) to the SAM ONNX contract Argus loads.

Usage: export_mobile_sam.py CHECKPOINT OUT_DIR

CHECKPOINT is MobileSAM's `mobile_sam.pt`; OUT_DIR receives the two files the
shipped `mobile-sam` manifest names, and a reference decoder:

- `mobile_sam.encoder.onnx`: `image` [1,3,1024,1024] (normalised, padded;
  Argus does the resize, normalisation and padding) -> `image_embeddings`
  [1,256,64,64];
- `sam_vit_h_4b8939.decoder.onnx`: the prompt decoder without the in-graph
  upscale: inputs `image_embeddings, point_coords, point_labels, mask_input,
  has_mask_input` (no `orig_im_size`), outputs `masks` (the four low-res
  [1,4,256,256] logits) and `iou_predictions`. Argus upscales only the mask
  it keeps, in Rust; segment-anything's export spends a fifth of the
  decoder's time resizing all four masks to 1024x1024 and then to the frame;
- `reference/sam_vit_h_4b8939.decoder.onnx`: segment-anything's decoder
  export itself (`SamOnnxModel`, multi-mask output, any number of points),
  inputs as above plus `orig_im_size`, outputs `masks, iou_predictions,
  low_res_masks`: what the Python reference pipeline (X-AnyLabeling's) runs,
  kept for the parity tests and the like-for-like benchmark.

The file name of the decoder is the one the published MobileSAM bundle uses
(MobileSAM keeps SAM ViT-H's prompt decoder); Argus loads either export. Needs torch, timm, onnx and the
`mobile_sam` package (PyPI: mobilesam-mirror); scripts/real-sam-model sets
them up. Each file is checked with onnxruntime against the torch model before
it is moved into place, so a half-written or wrong export never lands.
"""

import os
import sys
import warnings

import numpy as np
import torch

warnings.filterwarnings("ignore")

from mobile_sam import sam_model_registry  # noqa: E402
from mobile_sam.utils.onnx import SamOnnxModel  # noqa: E402

OPSET = 17


class LowResDecoder(torch.nn.Module):
    """`SamOnnxModel.forward` up to its mask post-processing: the same prompt
    embedding, mask decoder and multi-mask output, low-res masks out."""

    def __init__(self, full):
        super().__init__()
        self.full = full

    def forward(self, image_embeddings, point_coords, point_labels, mask_input, has_mask_input):
        m = self.full
        sparse = m._embed_points(point_coords, point_labels)
        dense = m._embed_masks(mask_input, has_mask_input)
        masks, scores = m.model.mask_decoder.predict_masks(
            image_embeddings=image_embeddings,
            image_pe=m.model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
        )
        return masks, scores


class Encoder(torch.nn.Module):
    def __init__(self, sam):
        super().__init__()
        self.encoder = sam.image_encoder

    def forward(self, image):
        return self.encoder(image)


def export(module, args, path, input_names, output_names, dynamic_axes=None):
    tmp = path + ".part"
    torch.onnx.export(
        module,
        args,
        tmp,
        export_params=True,
        opset_version=OPSET,
        do_constant_folding=True,
        input_names=input_names,
        output_names=output_names,
        dynamic_axes=dynamic_axes,
        dynamo=False,
    )
    return tmp


def check(tmp, feeds, expected, what):
    import onnxruntime as ort

    session = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"])
    got = session.run(None, {k: v.numpy() for k, v in feeds.items()})
    for g, e in zip(got, expected):
        diff = float(np.max(np.abs(g - e.detach().numpy())))
        scale = float(np.max(np.abs(e.detach().numpy()))) or 1.0
        if diff > 1e-3 * max(scale, 1.0):
            sys.exit(f"{what}: onnxruntime differs from torch by {diff} (scale {scale})")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    checkpoint, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    sam = sam_model_registry["vit_t"](checkpoint=checkpoint)
    sam.eval()

    # encoder
    enc_path = os.path.join(out, "mobile_sam.encoder.onnx")
    image = torch.randn(1, 3, 1024, 1024)
    with torch.no_grad():
        encoder = Encoder(sam)
        embedding = encoder(image)
        tmp = export(encoder, (image,), enc_path, ["image"], ["image_embeddings"])
    check(tmp, {"image": image}, [embedding], "encoder")
    os.replace(tmp, enc_path)

    # the reference decoder, as segment-anything's scripts/export_onnx_model.py builds it
    name = "sam_vit_h_4b8939.decoder.onnx"
    os.makedirs(os.path.join(out, "reference"), exist_ok=True)
    ref_path = os.path.join(out, "reference", name)
    decoder = SamOnnxModel(model=sam, return_single_mask=False, use_stability_score=False)
    embed_dim = sam.prompt_encoder.embed_dim
    embed_size = sam.prompt_encoder.image_embedding_size
    feeds = {
        "image_embeddings": embedding.detach(),
        "point_coords": torch.tensor([[[400.0, 300.0], [0.0, 0.0], [0.0, 0.0]]]),
        "point_labels": torch.tensor([[1.0, -1.0, -1.0]]),
        "mask_input": torch.zeros(1, 1, 4 * embed_size[0], 4 * embed_size[1]),
        "has_mask_input": torch.tensor([0.0]),
        "orig_im_size": torch.tensor([720.0, 1280.0]),
    }
    assert embedding.shape[1] == embed_dim
    outputs = ["masks", "iou_predictions", "low_res_masks"]
    dynamic = {"point_coords": {1: "num_points"}, "point_labels": {1: "num_points"}}
    with torch.no_grad():
        expected = decoder(*feeds.values())
        tmp = export(decoder, tuple(feeds.values()), ref_path, list(feeds), outputs, dynamic)
    check(tmp, feeds, expected, "reference decoder")

    # the decoder Argus runs: the same graph without the upscale
    dec_path = os.path.join(out, name)
    low_feeds = {k: v for k, v in feeds.items() if k != "orig_im_size"}
    with torch.no_grad():
        low = LowResDecoder(decoder)
        low_expected = low(*low_feeds.values())
        # the same logits and scores as the full export's low_res_masks and iou_predictions
        same = torch.equal(low_expected[0], expected[2]) and torch.equal(low_expected[1], expected[1])
        if not same:
            sys.exit("low-res decoder: differs from SamOnnxModel's low_res_masks / iou_predictions")
        low_tmp = export(low, tuple(low_feeds.values()), dec_path, list(low_feeds),
                         ["masks", "iou_predictions"], dynamic)
    check(low_tmp, low_feeds, low_expected, "low-res decoder")
    os.replace(tmp, ref_path)
    os.replace(low_tmp, dec_path)
    print(enc_path)
    print(dec_path)
    print(ref_path)


if __name__ == "__main__":
    main()
