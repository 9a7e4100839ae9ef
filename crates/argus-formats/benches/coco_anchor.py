"""pycocotools side of `cargo bench -p argus-formats --bench formats` (and of
`cargo bench -p argus-workspace --bench formats_import`).

Usage:
  coco_anchor.py export SPEC.json MASKS.bin OUT.json
  coco_anchor.py read COCO.json
  coco_anchor.py floor COCO.json DB

Each call is one phase in a process of its own, so its peak memory is its
own. Prints `<name> <value>` lines: `seconds` (the timed work only),
`peak_mib` (the process's high-water mark, VmHWM, input included) and a
sanity figure.

export: the masks' runs (written by the Rust bench: `masks.bin`, see
benches/support/fixture.rs) are loaded into numpy arrays first, untimed, as
the Rust side holds them in memory; then the timed part does what a Python
pipeline does to write them as COCO: pycocotools `frPyObjects` (runs to
compressed strings), `area` and `toBbox`, the same dictionaries Argus's
CocoWriter writes (same keys, same order, same values), and `json.dump` to
the file. Compact separators make the file byte-identical to Argus's, which
the Rust side checks.

read: pycocotools `COCO(path)` (json.load and the index) and `annToRLE` for
every annotation (for compressed strings it returns the segmentation as it
is: no bitmaps, no decoding).

floor: what SQLite alone takes to store the file's masks durably, the
floor under any import into a SQLite store: one row per annotation (UUID
text ids, its track and video, frame, kind, its compressed string as the
blob, an HLC) into a table shaped like argus-store's `shapes` (same columns
and indexes), with Python's sqlite3 `executemany` in one transaction, WAL,
`synchronous=FULL` and a 32 MiB page cache, as Argus's writer opens it;
like Argus's large batches, the checkpoint comes after the commit
(`seconds` to the commit, `settled_seconds` with the checkpoint).
No validation, no undo, no sync bookkeeping. The rows are built before the
clock starts; the inserts, the commit and then the checkpoint are timed.
"""

import contextlib
import io
import json
import sys
import time

import numpy as np


def peak_mib():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def export(spec_path, runs_path, out_path):
    import pycocotools.mask as M

    with open(spec_path) as f:
        spec = json.load(f)
    h, w = spec["height"], spec["width"]
    words = np.fromfile(runs_path, dtype="<u4")
    n = int(words[0])
    at = 1
    masks = []
    for _ in range(n):
        frame, obj, cat, score, ln = (int(v) for v in words[at : at + 5])
        at += 5
        masks.append((frame, obj, cat, float(np.uint32(score).view(np.float32)), words[at : at + ln]))
        at += ln
    video = spec["video"]

    t0 = time.perf_counter()
    rles = M.frPyObjects([{"size": [h, w], "counts": m[4]} for m in masks], h, w)
    # `area` of a list builds its result from np.array((n,), dtype=uint8),
    # which numpy 2 refuses for n > 255: a list of 255 at a time.
    areas = np.concatenate([M.area(rles[i : i + 255]) for i in range(0, len(rles), 255)])
    boxes = M.toBbox(rles)
    annotations = []
    for i, ((frame, obj, cat, score, _), rle, area, box) in enumerate(zip(masks, rles, areas, boxes)):
        annotations.append(
            {
                "id": i + 1,
                "image_id": frame + 1,
                "category_id": cat,
                "segmentation": {"size": [h, w], "counts": rle["counts"].decode("ascii")},
                "area": float(area),
                "bbox": box.tolist(),
                "iscrowd": 0,
                "attributes": {"keyframe": True, "occluded": False, "source": "sam", "track_id": obj + 1},
                "score": score,
            }
        )
    dataset = {
        "info": {k: spec["info"][k] for k in ("description", "version", "contributor", "date_created")},
        "licenses": [],
        "categories": [{"id": i + 1, "name": c, "supercategory": ""} for i, c in enumerate(spec["categories"])],
        "videos": [{"id": 1, "name": video, "width": w, "height": h, "frame_count": spec["frames"]}],
        "images": [
            {"id": f + 1, "file_name": f"{video}/{f:06}.jpg", "width": w, "height": h, "video_id": 1, "frame_index": f}
            for f in range(spec["frames"])
        ],
        "annotations": annotations,
    }
    with open(out_path, "w") as f:
        json.dump(dataset, f, separators=(",", ":"))
    seconds = time.perf_counter() - t0
    print("seconds", seconds)
    print("peak_mib", peak_mib())
    print("annotations", len(annotations))


def read(path):
    from pycocotools.coco import COCO

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # COCO() prints its progress
        coco = COCO(path)
    n = 0
    for ann in coco.dataset["annotations"]:
        coco.annToRLE(ann)
        n += 1
    seconds = time.perf_counter() - t0
    print("seconds", seconds)
    print("peak_mib", peak_mib())
    print("annotations", n)


def floor(path, db):
    import os
    import sqlite3
    import uuid

    with open(path) as f:
        dataset = json.load(f)
    video = str(uuid.uuid4())
    tracks = {}
    hlc = "{:016x}-{:08x}-" + str(uuid.uuid4())
    rows = []
    for i, ann in enumerate(dataset["annotations"]):
        key = (ann.get("attributes") or {}).get("track_id", -ann["id"])
        track = tracks.setdefault(key, str(uuid.uuid4()))
        counts = ann["segmentation"]["counts"].encode("ascii")
        rows.append((str(uuid.uuid4()), track, video, ann["image_id"] - 1, "mask", 1, counts, hlc.format(1, i)))
    del dataset
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(db + suffix)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA cache_size=-32768")
    # Like Argus's large batches: the commit makes the data durable in the
    # WAL, the checkpoint into the database file comes after (`settled`).
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute(
        "CREATE TABLE shapes (id TEXT PRIMARY KEY NOT NULL, track_id TEXT NOT NULL, video_id TEXT NOT NULL,"
        " frame INTEGER NOT NULL, kind TEXT NOT NULL, keyframe INTEGER NOT NULL, data BLOB NOT NULL, hlc TEXT,"
        " UNIQUE (track_id, frame)) STRICT"
    )
    conn.execute("CREATE INDEX shapes_video_frame ON shapes(video_id, frame)")

    t0 = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO shapes VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - t0
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    settled = time.perf_counter() - t0
    n = conn.execute("SELECT COUNT(*) FROM shapes").fetchone()[0]
    conn.close()
    print("seconds", seconds)
    print("settled_seconds", settled)
    print("peak_mib", peak_mib())
    print("annotations", n)


def main():
    if sys.argv[1] == "export":
        export(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "read":
        read(sys.argv[2])
    elif sys.argv[1] == "floor":
        floor(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown phase {sys.argv[1]!r}")


if __name__ == "__main__":
    main()
