"""Argus's dataset exports, read by independent readers.

One project made through argus-cli (a generated 320x240, 12-frame video; six
tracks of known masks with holes and several parts, boxes, polygons, and a
crowd label with an `iscrowd` attribute), exported once per format, then:

- pycocotools decodes every exported RLE to exactly our pixels, with the same
  `area` and `bbox`, and `annToMask` decodes every annotation (a box is its
  rectangle polygon); `iscrowd` is set where the track says so; with
  `--polygons --tolerance 0` the report's `changed` names exactly the masks
  with holes, and each one's IoU is at least the reported one.
- datumaro imports the exports with the right counts of items, annotations
  and tracks: coco_instances, cvat, voc, mot_seq, and yolo (its
  yolo_ultralytics source) for detection.
- supervision loads the YOLO segmentation export (`DetectionDataset.from_yolo`,
  masks) and the COCO export (`from_coco`, masks).
- The COCO and CVAT exports imported by `argus-cli import` into a second
  project with the same video give back the same shapes.

Runs with the dataset-readers venv (scripts/bootstrap:
$ARGUS_DEV_CACHE/venv-formats, or $ARGUS_FORMATS_PYTHON). Without its
packages, argus-cli or ffmpeg the tests skip with the reason; under CI=true
that is a failure (argus-testkit's skip policy).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import uuid
import warnings
from pathlib import Path

try:
    import cv2
    import numpy as np
    import pycocotools.mask as mask_utils
    from pycocotools.coco import COCO

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import datumaro as dm
        import supervision as sv
        from datumaro.plugins.data_formats.cvat import base as dm_cvat
        from datumaro.plugins.data_formats.yolo.importer import YoloImporter
    READERS_MISSING = ""
except ImportError as e:  # the dataset-readers venv is not this Python
    READERS_MISSING = f"{e} (run with the dataset-readers venv: scripts/bootstrap makes it, or set ARGUS_FORMATS_PYTHON)"

H, W, FRAMES = 240, 320, 12
LABELS = ("car", "person", "crowd")


# ---- the project's skip policy (argus-testkit, tests/e2e/harness.py) ---------
def ci() -> bool:
    """Whether the suite runs as CI runs it (`CI=true`): no skips but the listed ones."""
    return os.environ.get("CI") == "true"


def skip(reason: str) -> None:
    """Skips for `reason`; under `CI=true` a failure instead (a missing reader
    venv, binary or ffmpeg is not one of the skips CI allows)."""
    if ci():
        raise AssertionError(f"cannot run here and CI=true forbids skipping: {reason}")
    raise unittest.SkipTest(reason)


def _cache() -> Path:
    c = os.environ.get("ARGUS_DEV_CACHE")
    if c:
        return Path(c)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "argus-dev"


def cli_binary() -> Path:
    env = os.environ.get("ARGUS_CLI_BIN")
    if env:
        return Path(env)
    target = Path(os.environ.get("CARGO_TARGET_DIR") or _cache() / "target")
    return target / "debug" / "argus-cli"


# ---- masks -------------------------------------------------------------------
def rect(x: int, y: int, w: int, h: int) -> "np.ndarray":
    m = np.zeros((H, W), bool)
    m[y:y + h, x:x + w] = True
    return m


def disc(cx: float, cy: float, r: float) -> "np.ndarray":
    yy, xx = np.mgrid[:H, :W]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def runs(mask: "np.ndarray") -> list[int]:
    """COCO's uncompressed RLE counts: column-major runs, starting with zeros."""
    flat = np.asarray(mask, np.uint8).flatten(order="F")
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    counts = np.diff(bounds).tolist()
    return ([0] if flat[0] else []) + counts


def has_hole(mask: "np.ndarray") -> bool:
    """Whether some background is enclosed (not reachable from the border)."""
    padded = np.pad(~mask, 1, constant_values=True).astype(np.uint8)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 2, flags=4)
    return bool((flood == 1).any())


def tight_bbox(mask: "np.ndarray") -> list[float]:
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


def iou(a: "np.ndarray", b: "np.ndarray") -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def shape_id(track: str, frame: int) -> str:
    """argus-core's `ShapeId::for_track_frame`: UUID v5 of b"shape:" + track + frame."""
    ns = uuid.UUID(int=0x6A1C52F08A8E4D4B9F0E2B7C3D5AA901)
    digest = hashlib.sha1(ns.bytes + b"shape:" + uuid.UUID(track).bytes + frame.to_bytes(8, "big")).digest()
    return str(uuid.UUID(bytes=digest[:16], version=5))


class Ref:
    """One shape we wrote: its track (index in creation order), frame, label and geometry."""

    def __init__(self, track: int, frame: int, label: str, kind: str, value, crowd: bool):
        self.track, self.frame, self.label, self.kind, self.value, self.crowd = track, frame, label, kind, value, crowd
        self.holes = kind == "mask" and has_hole(value)

    @property
    def bbox(self) -> list[float]:
        if self.kind == "mask":
            return tight_bbox(self.value)
        if self.kind == "bbox":
            return [float(v) for v in self.value]
        xs, ys = [p[0] for p in self.value], [p[1] for p in self.value]
        return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]

    def geometry(self) -> dict:
        if self.kind == "mask":
            return {"kind": "mask", "data": {"size": [H, W], "counts": runs(self.value)}}
        if self.kind == "bbox":
            return {"kind": "bbox", "data": list(self.value)}
        return {"kind": "polygon", "data": {"exterior": [list(p) for p in self.value]}}


def tracks_to_write() -> list[tuple[str, dict, list[tuple[int, str, object]]]]:
    """(label, track attributes, [(frame, kind, geometry)]) per track, in creation order."""
    car = []
    for f in range(FRAMES):
        m = rect(20 + 8 * f, 40, 60, 50)
        if f in (3, 7):
            m[55:70, 40 + 8 * f:55 + 8 * f] = False  # a hole
        if f in (5, 7):
            m |= disc(250, 200, 12)  # a second part
        car.append((f, "mask", m))
    person = [(f, "mask", disc(100 + 5 * f, 160, 30) & ~(disc(100 + 5 * f, 160, 10) if f >= 2 else False)) for f in range(6)]
    pentagon = [(200.5, 20.0), (260.0, 30.25), (250.0, 80.0), (210.0, 90.0), (190.0, 50.0)]
    walker = [(f, "polygon", [(x + 2 * (f - 6), y) for x, y in pentagon]) for f in (6, 7, 8)]
    boxes = [(f, "bbox", (10.5 + 2 * f, 150.25, 30.0, 40.5)) for f in range(5)]

    def blobs(f: int) -> "np.ndarray":  # three parts, one with a hole
        return (disc(60, 200, 15) & ~disc(60, 200, 5)) | disc(90, 210, 8) | rect(110 + f, 190, 10, 30)

    crowd = [(f, "mask", blobs(f)) for f in (0, 4, 8)]
    return [
        ("car", {}, car),
        ("person", {}, person),
        ("person", {}, walker),
        ("car", {}, boxes),
        ("crowd", {"iscrowd": True}, crowd),
        ("crowd", {"iscrowd": False}, [(1, "mask", rect(280, 10, 30, 20))]),
    ]


# ---- the fixture -------------------------------------------------------------
class Fixture:
    """The data folder, the project and its exports (made once for all tests)."""

    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="argus-formats-"))
        try:
            self.setup()
        except BaseException:
            self.close()
            raise

    def setup(self):
        self.db = self.tmp / "argus.db"
        self.video_path = self.tmp / "moving.mp4"
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
             f"color=c=0x2040a0:s={W}x{H}:r=10,drawbox=x='20+80*t':y=40:w=60:h=50:color=0xe03020:t=fill,"
             "drawbox=x=240:y='180+40*t':w=24:h=24:color=0x30d040:t=fill",
             "-frames:v", str(FRAMES), "-c:v", "libx264", "-g", "5", "-pix_fmt", "yuv420p", str(self.video_path)],
            check=True, capture_output=True, timeout=60,
        )
        self.refs: list[Ref] = []
        self.video, self.numbers = self.make_project("formats")
        self.exports: dict[str, tuple[Path, dict]] = {}

    def cli(self, *args: str, stdin: str | None = None) -> list[dict]:
        r = subprocess.run([str(cli_binary()), "--db", str(self.db), "--json", *args], input=stdin,
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise AssertionError(f"argus-cli {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def new_project(self, name: str) -> tuple[str, str]:
        """A project with the labels (crowd with its iscrowd attribute) and the video: (project id, video id)."""
        args = ["project", "new", name, "--attribute", "crowd.iscrowd=bool"]
        for label in LABELS:
            args += ["--label", label]
        project = self.cli(*args)[0]
        video = self.cli("import-video", "--project", name, str(self.video_path))[0]
        self.labels = {l["name"]: l["id"] for l in project["schema"]["labels"]}
        return project["project"]["id"], video["id"]

    def make_project(self, name: str) -> tuple[str, dict[int, int]]:
        _, video = self.new_project(name)
        commands, ids = [], []
        for index, (label, attributes, shapes) in enumerate(tracks_to_write()):
            track = str(uuid.uuid4())
            ids.append(track)
            crowd = attributes.get("iscrowd") is True
            refs = [Ref(index, f, label, kind, g, crowd) for f, kind, g in shapes]
            self.refs += refs
            commands.append(json.dumps({
                "command": "create_track",
                "track": {"id": track, "video_id": video, "label_id": self.labels[label], "number": 0,
                          "attributes": attributes, "created_at": 0, "updated_at": 0},
                # The crowd regions (frames 0, 4, 8) are not keyframes, as a
                # tracker leaves them, so nothing is interpolated between them
                # and every exported annotation is one of these references
                # (exports of interpolated frames are tested in argus-workspace).
                "shapes": [{"id": shape_id(track, r.frame), "track_id": track, "frame": r.frame, "geometry": r.geometry(),
                            "keyframe": label != "crowd", "source": "manual", "created_at": 0, "updated_at": 0}
                           for r in refs],
            }))
        acks = self.cli("apply", "--project", name, stdin="\n".join(commands) + "\n")
        assert len(acks) == len(commands) and all(a["ok"] for a in acks), acks
        numbers = {t["number"]: ids.index(t["id"]) for t in self.cli("tracks", "--video", video)}
        return video, numbers

    def export(self, key: str, fmt: str, *extra: str, project: str = "formats") -> tuple[Path, dict]:
        """Exports once per key; returns the folder and the summary (`--json`)."""
        if key not in self.exports:
            out = self.tmp / "exports" / key
            summary = self.cli("export", "--project", project, "--format", fmt, "--out", str(out), *extra)
            assert len(summary) == 1, summary
            self.exports[key] = (out, summary[0])
        return self.exports[key]

    def ref(self, number: int, frame: int) -> Ref:
        index = self.numbers[number]
        return next(r for r in self.refs if r.track == index and r.frame == frame)

    def close(self):
        if os.environ.get("ARGUS_FORMATS_KEEP") == "1":
            print(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


FIXTURE: Fixture | None = None


def setUpModule():
    global FIXTURE
    missing = []
    if READERS_MISSING:
        missing.append(f"the dataset readers are not importable: {READERS_MISSING}")
    if not os.access(cli_binary(), os.X_OK):
        missing.append(f"argus-cli is not built at {cli_binary()} (cargo build --workspace --bins)")
    if not shutil.which("ffmpeg"):
        missing.append("the ffmpeg CLI is not installed (apt-get install ffmpeg)")
    if missing:
        skip("; ".join(missing))
    logging.getLogger().setLevel(logging.ERROR)  # datumaro logs what it skips at WARNING
    # pycocotools 2.0.11 and datumaro under numpy 2 (copy=False, format detection notes)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    FIXTURE = Fixture()


def tearDownModule():
    if FIXTURE is not None:
        FIXTURE.close()


def quiet_coco(path: Path) -> "COCO":
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


COCO_FILE = Path("annotations/instances_default.json")
COCO_IMAGES = Path("images/default")
EXPECTED = {"images": FRAMES, "annotations": 30, "tracks": 6}
AT_ANNOTATION = re.compile(r"annotation (\d+) \(image (\d+)\)")
REPORTED_IOU = re.compile(r"IoU (\d\.\d+)")
# The report prints IoUs with 4 decimals.
IOU_ROUNDING = 0.5e-4 + 1e-6


class FormatsTest(unittest.TestCase):
    @property
    def fx(self) -> Fixture:
        assert FIXTURE is not None
        return FIXTURE

    def counts(self, summary: dict) -> None:
        for k, v in EXPECTED.items():
            self.assertEqual(summary[k], v, f"{k} in the summary {summary}")
        self.assertEqual(summary["skipped"], [], "nothing is left out")

    def coco_ref(self, coco: "COCO", ann: dict) -> Ref:
        image = coco.imgs[ann["image_id"]]
        return self.fx.ref(ann["attributes"]["track_id"], image["frame_index"])

    # ---- pycocotools ---------------------------------------------------------
    def test_pycocotools_decodes_every_rle_to_our_pixels(self):
        out, summary = self.fx.export("coco", "coco", "--images", "jpeg")
        self.counts(summary)
        self.assertEqual(summary["changed"], [], "RLE changes nothing")
        coco = quiet_coco(out / COCO_FILE)
        self.assertEqual([c["name"] for c in coco.loadCats(coco.getCatIds())], list(LABELS))
        self.assertEqual(len(coco.imgs), FRAMES)
        for image in coco.imgs.values():
            pixels = cv2.imread(str(out / COCO_IMAGES / image["file_name"]))
            self.assertIsNotNone(pixels, f"{image['file_name']} is a readable image under {COCO_IMAGES}")
            self.assertEqual(pixels.shape, (H, W, 3))
        seen = set()
        for ann in coco.anns.values():
            ref = self.coco_ref(coco, ann)
            at = f"annotation {ann['id']} (track {ann['attributes']['track_id']}, frame {ref.frame})"
            seen.add((ref.track, ref.frame))
            self.assertEqual(coco.cats[ann["category_id"]]["name"], ref.label, at)
            self.assertEqual(ann["iscrowd"], int(ref.crowd), at)
            seg = ann["segmentation"]
            if ref.kind == "mask":
                self.assertIsInstance(seg, dict, f"{at}: a mask is RLE")
                self.assertTrue(np.array_equal(coco.annToMask(ann).astype(bool), ref.value), f"{at}: pixel for pixel")
                self.assertEqual(ann["area"], float(mask_utils.area(seg)), at)
                self.assertEqual(ann["bbox"], mask_utils.toBbox(seg).tolist(), at)
                self.assertEqual(ann["bbox"], ref.bbox, at)
            elif ref.kind == "polygon":
                self.assertEqual(seg, [[c for p in ref.value for c in p]], at)
                self.assertEqual(ann["bbox"], ref.bbox, at)
                xs, ys = np.array(ref.value).T
                shoelace = abs(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))) / 2
                self.assertAlmostEqual(ann["area"], shoelace, places=6, msg=at)
            else:
                # A box is its rectangle polygon (as CVAT and datumaro write
                # boxes), so that pycocotools decodes it: issue #20.
                x, y, w, h = ref.bbox
                self.assertEqual(seg, [[x, y, x + w, y, x + w, y + h, x, y + h]], f"{at}: a box is its rectangle")
                self.assertEqual(ann["bbox"], ref.bbox, at)
                self.assertAlmostEqual(ann["area"], ref.bbox[2] * ref.bbox[3], places=6, msg=at)
        self.assertEqual(seen, {(r.track, r.frame) for r in self.fx.refs}, "every shape exported once")
        crowd = {(r.track, r.frame) for r in self.fx.refs if r.crowd}
        self.assertEqual(len(crowd), 3)
        rle_crowd = {(self.coco_ref(coco, a).track, self.coco_ref(coco, a).frame) for a in coco.anns.values() if a["iscrowd"]}
        self.assertEqual(rle_crowd, crowd, "iscrowd=1 exactly where the track's iscrowd is set")

    def test_pycocotools_decodes_every_annotation_boxes_too(self):
        # Issue #20: a box written with `"segmentation": []` made
        # `annToMask` (and COCOeval with iouType='segm') fail.
        # The same exports (and flags) as the tests above: RLE and polygons.
        for key, flags in (("coco", ("--images", "jpeg")), ("coco-polygons", ("--polygons", "--tolerance", "0"))):
            out, _ = self.fx.export(key, "coco", *flags)
            coco = quiet_coco(out / COCO_FILE)
            boxes = 0
            for ann in coco.anns.values():
                ref = self.coco_ref(coco, ann)
                at = f"{key}: annotation {ann['id']} (track {ann['attributes']['track_id']}, frame {ref.frame}, {ref.kind})"
                decoded = coco.annToMask(ann).astype(bool)
                self.assertTrue(decoded.any(), f"{at}: decodes to pixels")
                if ref.kind != "bbox":
                    continue
                boxes += 1
                # The box's mask is the rectangle: exactly what pycocotools
                # draws for the bbox itself (frPyObjects of a box), a solid
                # rectangle within a pixel of the box's edges.
                self.assertTrue(np.array_equal(decoded, raster(ref)), f"{at}: the box's rectangle as pycocotools draws it")
                x0, y0, w, h = tight_bbox(decoded)
                self.assertEqual(decoded.sum(), w * h, f"{at}: a solid rectangle")
                x, y, bw, bh = ref.bbox
                for got, want in ((x0, x), (y0, y), (x0 + w, x + bw), (y0 + h, y + bh)):
                    self.assertLessEqual(abs(got - want), 1.0, f"{at}: edges {tight_bbox(decoded)} vs the box {ref.bbox}")
            self.assertEqual(boxes, sum(r.kind == "bbox" for r in self.fx.refs), key)

    def test_polygon_report_names_the_masks_with_holes(self):
        out, summary = self.fx.export("coco-polygons", "coco", "--polygons", "--tolerance", "0")
        self.counts(summary)
        coco = quiet_coco(out / COCO_FILE)
        reported: dict[int, float] = {}
        for change in summary["changed"]:
            m = AT_ANNOTATION.fullmatch(change["at"])
            self.assertIsNotNone(m, f"a change names its annotation: {change}")
            iou_m = REPORTED_IOU.search(change["reason"])
            self.assertIsNotNone(iou_m, f"a change says its IoU: {change}")
            self.assertIn("hole", change["reason"], change)
            reported[int(m.group(1))] = float(iou_m.group(1))
        holes = set()
        for ann in coco.anns.values():
            ref = self.coco_ref(coco, ann)
            if ref.kind != "mask":
                continue
            at = f"annotation {ann['id']} (track {ann['attributes']['track_id']}, frame {ref.frame})"
            decoded = coco.annToMask(ann).astype(bool)
            if ref.crowd:
                self.assertIsInstance(ann["segmentation"], dict, f"{at}: a crowd region stays RLE")
                self.assertTrue(np.array_equal(decoded, ref.value), at)
                continue
            self.assertIsInstance(ann["segmentation"], list, f"{at}: polygons")
            if ref.holes:
                holes.add(ann["id"])
            if ann["id"] in reported:
                got = iou(decoded, ref.value)
                self.assertGreaterEqual(got, reported[ann["id"]] - IOU_ROUNDING, f"{at}: pycocotools' IoU vs the reported one")
                self.assertLess(got, 1.0, f"{at}: a reported change is a change")
            else:
                self.assertTrue(np.array_equal(decoded, ref.value), f"{at}: unreported means exact, as pycocotools draws it")
        self.assertEqual(set(reported), holes, "the report names exactly the (non-crowd) masks with holes")
        self.assertEqual(len(holes), 6)

    # ---- datumaro ------------------------------------------------------------
    def import_datumaro(self, path: Path, fmt: str) -> tuple[list, list[str]]:
        """The items and the label names of a dataset as datumaro imports it."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dm.Dataset.import_from(str(path), fmt)
            return list(ds), [c.name for c in ds.categories()[dm.AnnotationType.label]]

    def test_datumaro_coco_instances(self):
        out, _ = self.fx.export("coco", "coco", "--images", "jpeg")
        self.assertEqual(dm.Dataset.detect(str(out)), "coco_instances")
        items, names = self.import_datumaro(out, "coco_instances")
        self.assertEqual(names, list(LABELS))
        self.assertEqual(len(items), FRAMES)
        for item in items:
            self.assertTrue(Path(item.media.path).is_file(), f"{item.id}: its image {item.media.path}")
        anns = [a for item in items for a in item.annotations]
        by_id: dict[int, list] = {}
        for a in anns:
            by_id.setdefault(a.id, []).append(a)
        self.assertEqual(len(by_id), EXPECTED["annotations"], "one COCO annotation per shape")
        self.assertEqual({a.attributes["track_id"] for a in anns}, set(self.fx.numbers), "track ids")
        coco = quiet_coco(out / COCO_FILE)
        for ann_id, parts in by_id.items():
            ref = self.coco_ref(coco, coco.anns[ann_id])
            types = sorted(a.type.name for a in parts)
            # A box's segmentation is its rectangle polygon (issue #20), which
            # datumaro reads as a polygon beside the bbox, as it does for a
            # polygon: still one COCO annotation per shape.
            self.assertEqual(types, {"mask": ["bbox", "mask"], "polygon": ["bbox", "polygon"], "bbox": ["bbox", "polygon"]}[ref.kind], ann_id)
            self.assertEqual({a.attributes["is_crowd"] for a in parts}, {ref.crowd}, ann_id)
            for a in parts:
                if a.type.name == "mask":
                    self.assertTrue(np.array_equal(a.image.astype(bool), ref.value), f"{ann_id}: datumaro's mask")
                elif a.type.name == "bbox":
                    self.assertEqual([a.x, a.y, a.w, a.h], ref.bbox, ann_id)
                elif a.type.name == "polygon" and ref.kind == "bbox":
                    x, y, w, h = ref.bbox
                    self.assertEqual(list(a.points), [x, y, x + w, y, x + w, y + h, x, y + h], f"{ann_id}: the box's rectangle")

    def test_datumaro_cvat(self):
        out, summary = self.fx.export("cvat", "cvat", "--images", "jpeg")
        self.counts(summary)
        self.assertEqual(dm.Dataset.detect(str(out)), "cvat")
        with cvat_track_masks():
            items, names = self.import_datumaro(out, "cvat")
        self.assertEqual(len(items), FRAMES)
        anns = [a for item in items for a in item.annotations]
        inside = [a for a in anns if not a.attributes["outside"]]
        self.assertEqual(len(inside), EXPECTED["annotations"])
        # Each track that ends before the last frame is closed by an outside shape.
        ends = {}
        for r in self.fx.refs:
            ends[r.track] = max(ends.get(r.track, 0), r.frame)
        self.assertEqual(len(anns) - len(inside), sum(1 for e in ends.values() if e < FRAMES - 1), "closing outside shapes")
        self.assertEqual({a.attributes["track_id"] for a in anns}, set(self.fx.numbers), "track ids")
        for item in items:
            frame = item.attributes["frame"]
            for a in item.annotations:
                if a.attributes["outside"]:
                    continue
                ref = self.fx.ref(a.attributes["track_id"], frame)
                at = f"track {a.attributes['track_id']}, frame {frame}"
                self.assertEqual(a.type.name, ref.kind, at)
                self.assertEqual(names[a.label], ref.label, at)
                if ref.kind == "mask":
                    self.assertTrue(np.array_equal(a.image.astype(bool), ref.value), f"{at}: CVAT's box RLE")
                elif ref.kind == "bbox":
                    self.assertEqual([a.x, a.y, a.w, a.h], ref.bbox, at)
                else:
                    self.assertEqual(a.points, [c for p in ref.value for c in p], at)

    def test_datumaro_voc(self):
        out, summary = self.fx.export("voc", "voc")
        self.counts(summary)
        items, names = self.import_datumaro(out, "voc")
        self.assertEqual(names, ["background", *LABELS])
        self.assertEqual(len(items), FRAMES)
        boxes = [a for item in items for a in item.annotations if a.type.name == "bbox"]
        masks = [a for item in items for a in item.annotations if a.type.name == "mask"]
        self.assertEqual(len(boxes), EXPECTED["annotations"], "one object per shape")
        self.assertEqual(len(masks), EXPECTED["annotations"], "one instance in SegmentationObject per shape")
        per_label = {name: sum(1 for r in self.fx.refs if r.label == name) for name in LABELS}
        for kind in (boxes, masks):
            got = {name: sum(1 for a in kind if names[a.label] == name) for name in LABELS}
            self.assertEqual(got, per_label)

    def test_datumaro_mot_seq(self):
        out, summary = self.fx.export("mot", "mot")
        self.counts(summary)
        self.assertEqual(dm.Dataset.detect(str(out)), "mot_seq")
        items, names = self.import_datumaro(out, "mot_seq")
        self.assertEqual(len(items), FRAMES)
        anns = [(int(item.id), a) for item in items for a in item.annotations]
        self.assertEqual(len(anns), EXPECTED["annotations"])
        self.assertEqual({a.attributes["track_id"] for _, a in anns}, set(self.fx.numbers), "track ids")
        for frame1, a in anns:
            ref = self.fx.ref(a.attributes["track_id"], frame1 - 1)  # MOT counts frames from 1
            at = f"track {a.attributes['track_id']}, frame {frame1}"
            self.assertEqual(names[a.label], ref.label, at)
            self.assertEqual([a.x, a.y, a.w, a.h], ref.bbox, at)
            self.assertEqual(a.attributes["ignored"], ref.crowd, f"{at}: crowd regions are ignore regions (conf 0)")

    def test_datumaro_yolo_ultralytics_detection(self):
        out, summary = self.fx.export("yolo-detect", "yolo-detect")
        self.counts(summary)
        self.assertEqual({s["format"] for s in YoloImporter.find_sources(str(out))}, {"yolo_ultralytics"})
        items, names = self.import_datumaro(out, "yolo")
        self.assertEqual(names, list(LABELS))
        self.assertEqual(len(items), FRAMES)
        self.assertEqual(sum(len(item.annotations) for item in items), EXPECTED["annotations"])
        for item in items:
            frame = frame_of(item.id)
            got = sorted((names[a.label], a.x, a.y, a.w, a.h) for a in item.annotations)
            want = sorted((r.label, *r.bbox) for r in self.fx.refs if r.frame == frame)
            self.assertEqual(len(got), len(want), item.id)
            for g, w in zip(got, want):
                self.assertEqual(g[0], w[0], item.id)
                np.testing.assert_allclose(g[1:], w[1:], atol=1e-3, err_msg=item.id)

    # ---- supervision ---------------------------------------------------------
    def test_supervision_coco_masks(self):
        out, _ = self.fx.export("coco", "coco", "--images", "jpeg")
        ds = sv.DetectionDataset.from_coco(images_directory_path=str(out / COCO_IMAGES),
                                           annotations_path=str(out / COCO_FILE), force_masks=True)
        self.assertEqual(len(ds), FRAMES)
        self.assertEqual(list(ds.classes), list(LABELS))
        total = 0
        for path, _, det in ds:
            frame = frame_of(path)
            refs = [r for r in self.fx.refs if r.frame == frame]
            self.assertEqual(len(det), len(refs), path)
            total += len(det)
            used = set()
            for i in range(len(det)):
                name = ds.classes[det.class_id[i]]
                ref = min((r for r in refs if r.label == name and id(r) not in used),
                          key=lambda r: np.abs(np.subtract(xyxy(r.bbox), det.xyxy[i])).max())
                used.add(id(ref))
                at = f"{path}: {name} {det.xyxy[i].tolist()}"
                np.testing.assert_allclose(det.xyxy[i], xyxy(ref.bbox), atol=1e-4, err_msg=at)
                self.assertEqual(int(det.data["iscrowd"][i]), int(ref.crowd), at)
                if ref.kind == "mask":
                    self.assertTrue(np.array_equal(det.mask[i], ref.value), f"{at}: the RLE decoded pixel for pixel")
                else:
                    # supervision draws polygons with OpenCV: the vertices, rounded, filled inclusive.
                    # A box is its rectangle polygon (issue #20).
                    x, y, w, h = ref.bbox
                    points = ref.value if ref.kind == "polygon" else [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
                    drawn = np.zeros((H, W), np.uint8)
                    cv2.fillPoly(drawn, [np.round(np.array(points)).astype(np.int32)], 1)
                    self.assertTrue(np.array_equal(det.mask[i], drawn.astype(bool)), at)
        self.assertEqual(total, EXPECTED["annotations"])

    def yolo_segment(self) -> tuple[Path, dict, list]:
        """The tolerance-0 YOLO segmentation export as supervision loads it:
        (image, label line, the report's notes on it, our shape, the loaded
        mask) per instance."""
        out, summary = self.fx.export("yolo-segment", "yolo-segment", "--tolerance", "0")
        ds = sv.DetectionDataset.from_yolo(images_directory_path=str(out / "images/train"),
                                           annotations_directory_path=str(out / "labels/train"),
                                           data_yaml_path=str(out / "data.yaml"), force_masks=True)
        self.assertEqual(len(ds), FRAMES)
        self.assertEqual(list(ds.classes), list(LABELS))
        loaded = sorted(((frame_of(path), path, det) for path, _, det in ds), key=lambda t: t[0])
        # Annotations are numbered from 1 in frame order, one label line each,
        # and the report names them so ("annotation 7 on moving.mp4/000002.jpg").
        notes: dict[int, list[str]] = {}
        for c in summary["changed"]:
            m = re.fullmatch(r"annotation (\d+) on .*", c["at"])
            self.assertIsNotNone(m, c)
            notes.setdefault(int(m.group(1)), []).append(c["reason"])
        matched, next_id = [], 1
        for frame, path, det in loaded:
            lines = (out / "labels/train" / Path(path).with_suffix(".txt").name).read_text().splitlines()
            refs = [r for r in self.fx.refs if r.frame == frame]
            self.assertEqual((len(det), len(lines)), (len(refs), len(refs)), path)
            used = set()
            for i in range(len(det)):
                name = ds.classes[det.class_id[i]]
                self.assertEqual(name, LABELS[int(lines[i].split()[0])], f"{path}: line {i + 1}")
                # Our shape of that class whose pixels the loaded mask covers best.
                ref = max((r for r in refs if r.label == name and id(r) not in used), key=lambda r: iou(raster(r), det.mask[i]))
                used.add(id(ref))
                matched.append((path, lines[i], notes.get(next_id + i, []), ref, det.mask[i]))
            next_id += len(det)
        self.assertEqual(len(matched), EXPECTED["annotations"])
        return out, summary, matched

    def test_supervision_yolo_segment_masks(self):
        """What supervision (and Ultralytics: both fill with OpenCV) draws from
        the tolerance-0 rings, pixel for pixel. The writer moves every ring
        into OpenCV's convention (a vertex is a pixel, the outline's pixels
        are inside), so for a mask: our mask, plus the bridges that join
        parts and holes into one ring, which OpenCV draws as 1-pixel lines
        (the report names every bridged mask). A box: the ring of its
        pixels. A polygon: whatever OpenCV fills from the written ring (its
        IoU is checked against the report below)."""
        _, summary, matched = self.yolo_segment()
        self.counts(summary)
        for path, line, reasons, ref, got in matched:
            at = f"{path}: {ref.label} (track {ref.track}, frame {ref.frame})"
            ring = np.array(line.split()[1:], float).reshape(-1, 2) * (W, H)
            # Each vertex is a quarter pixel past a pixel's centre: rounding
            # (supervision) and truncation (Ultralytics) give the same pixel.
            self.assertTrue(np.allclose(ring - 0.25, np.round(ring - 0.25), atol=1e-3), f"{at}: vertices on pixels")
            self.assertTrue(np.array_equal(np.round(ring).astype(np.int32), ring.astype(np.int32)), at)
            pixels = np.round(ring).astype(np.int32)
            filled = np.zeros((H, W), np.uint8)
            cv2.fillPoly(filled, [pixels], 1)
            self.assertTrue(np.array_equal(got, filled.astype(bool)), f"{at}: as OpenCV fills the written ring")
            ours = argus_pixels(ref)
            if ref.kind == "bbox":
                ys, xs = np.nonzero(ours)
                corners = [(xs.min(), ys.min()), (xs.max(), ys.min()), (xs.max(), ys.max()), (xs.min(), ys.max())]
                self.assertEqual(sorted(map(tuple, pixels.tolist())), sorted(corners), f"{at}: the ring of the box's pixels")
            if ref.kind != "mask":
                continue
            bridges = np.zeros((H, W), np.uint8)
            segments = list(zip(map(tuple, pixels.tolist()), map(tuple, np.roll(pixels, -1, axis=0).tolist())))
            walked = set(segments)
            for a, b in segments:
                if a != b and (b, a) in walked:  # walked both ways: a bridge (or a 1-px spur of the mask)
                    cv2.line(bridges, a, b, 1)
            want = ours | bridges.astype(bool)
            self.assertTrue(np.array_equal(got, want), f"{at}: {int((got ^ want).sum())} pixels differ from the prediction")
            self.assertFalse((ours & ~got).any(), f"{at}: nothing of ours is lost")
            parts = cv2.connectedComponents(ours.astype(np.uint8), connectivity=4)[0] - 1
            if parts > 1 or ref.holes:
                self.assertTrue(any("bridge" in r for r in reasons), f"{at}: bridges are reported: {reasons}")

    def test_supervision_yolo_segment_within_reported_iou(self):
        """What supervision loads is our shape's pixels (Argus's rule: pixel
        centres inside) exactly wherever the report says nothing, and has
        the reported IoU with them otherwise."""
        _, _, matched = self.yolo_segment()
        exact = 0
        for path, _, reasons, ref, got in matched:
            at = f"{path}: {ref.label} (track {ref.track}, frame {ref.frame}): {reasons}"
            ours = argus_pixels(ref)
            ious = [float(m.group(1)) for r in reasons for m in [REPORTED_IOU.search(r)] if m]
            if not ious:
                self.assertTrue(np.array_equal(got, ours), f"{at}: {int((got ^ ours).sum())} pixels differ, and nothing was reported")
                exact += 1
                continue
            self.assertEqual(len(ious), 1, at)
            self.assertAlmostEqual(iou(got, ours), ious[0], delta=IOU_ROUNDING, msg=at)
        self.assertGreater(exact, 0, "some shapes come back exactly")

    # ---- round trips through argus-cli import ---------------------------------
    def shapes_of(self, project: str, key: str) -> tuple[dict, set]:
        """A project's shapes as its COCO export gives them: per frame, a
        multiset of (label, iscrowd, geometry); and the tracks as sets of
        (frame, geometry)."""
        out, summary = self.fx.export(key, "coco", project=project)
        self.counts(summary)
        doc = json.loads((out / COCO_FILE).read_text())
        names = {c["id"]: c["name"] for c in doc["categories"]}
        frames = {im["id"]: im["frame_index"] for im in doc["images"]}
        per_frame: dict[int, list] = {}
        tracks: dict[int, set] = {}
        for a in doc["annotations"]:
            seg = a["segmentation"]
            geometry = ("rle", seg["counts"]) if isinstance(seg, dict) else ("polygons", json.dumps(seg), tuple(a["bbox"]))
            frame = frames[a["image_id"]]
            per_frame.setdefault(frame, []).append((names[a["category_id"]], a["iscrowd"], geometry))
            tracks.setdefault(a["attributes"]["track_id"], set()).add((frame, geometry))
        return {f: sorted(v) for f, v in per_frame.items()}, {frozenset(t) for t in tracks.values()}

    def round_trip(self, name: str, dataset: Path) -> None:
        self.fx.new_project(name)
        r = self.fx.cli("import", "--project", name, str(dataset))[0]
        self.assertEqual((r["annotations"], r["tracks"], r["skipped"]), (EXPECTED["annotations"], EXPECTED["tracks"], []), r)
        original = self.shapes_of("formats", "coco-original")
        back = self.shapes_of(name, f"coco-{name}")
        self.assertEqual(back[0], original[0], "the same shapes on every frame")
        self.assertEqual(back[1], original[1], "the same tracks")

    def test_coco_round_trip(self):
        out, _ = self.fx.export("coco", "coco", "--images", "jpeg")
        self.round_trip("from-coco", out)  # the folder, as a person would pick it

    def test_cvat_round_trip(self):
        out, _ = self.fx.export("cvat", "cvat", "--images", "jpeg")
        self.round_trip("from-cvat", out)


def frame_of(path) -> int:
    """The frame number in an exported image's name (`.../000007.jpg`, `moving.mp4_000007`)."""
    return int(re.findall(r"(\d+)", Path(str(path)).name)[-1])


def xyxy(b: list[float]) -> list[float]:
    return [b[0], b[1], b[0] + b[2], b[1] + b[3]]


def raster(ref: Ref) -> "np.ndarray":
    """Our shape's pixels (boxes and polygons by pycocotools, as COCO draws them)."""
    if ref.kind == "mask":
        return ref.value
    if ref.kind == "bbox":
        rle = mask_utils.frPyObjects(np.array([ref.value], float), H, W)
    else:
        rle = mask_utils.frPyObjects([[c for p in ref.value for c in p]], H, W)
    return mask_utils.decode(mask_utils.merge(rle)).astype(bool)


def argus_pixels(ref: Ref) -> "np.ndarray":
    """Our shape's pixels as Argus rasterises it (argus-core's `Rle::from_polygon`:
    a pixel is inside when its centre is, even-odd over the edges, each edge
    oriented left to right counting the centres with xa <= xc < xb below it)."""
    if ref.kind == "mask":
        return ref.value
    if ref.kind == "bbox":
        x, y, w, h = ref.value
        points = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    else:
        points = list(ref.value)
    xc, yc = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    inside = np.zeros((H, W), bool)
    for a, b in zip(points, points[1:] + points[:1]):
        (xa, ya), (xb, yb) = sorted([a, b])
        if xa == xb:
            continue
        inside ^= (xa <= xc) & (xc < xb) & (ya + (xc - xa) * (yb - ya) / (xb - xa) <= yc)
    return inside


@contextlib.contextmanager
def cvat_track_masks():
    """datumaro 1.13's CVAT reader takes a mask's frame size from its
    `<image>` element, which a track's shapes (CVAT for video) do not have,
    and fails on every mask in a track ('NoneType' object has no attribute
    'get'). The frame size is the task's `original_size`; this gives it to
    the reader while the test imports, and changes nothing else it reads."""
    original = dm_cvat.CvatBase._parse_shape_ann.__func__

    def parse(cls, ann, categories, image):
        if image is None and ann.get("type") == "mask":
            image = {"width": W, "height": H}
        return original(cls, ann, categories, image)

    dm_cvat.CvatBase._parse_shape_ann = classmethod(parse)
    try:
        yield
    finally:
        dm_cvat.CvatBase._parse_shape_ann = classmethod(original)


if __name__ == "__main__":
    unittest.main()
