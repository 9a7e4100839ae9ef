"""`make bench ONLY=app`: the desktop app's responsiveness, measured in the
real app under Xvfb over WebDriver (the end-to-end harness), on a generated
1920x1080 H.264 video and the project's own SAM-contract model.

Each figure is taken by the page itself (web/src/lib/trace.ts): from the
action (the key press or click event) to the first animation frame after the
new picture is in the canvas, so it includes the IPC, the Rust side (decode,
composite with argus-render, SAM), moving the pixels into the webview and
painting them.

Prints, one per line:
  app.step_frame_p50_1080p / app.step_frame_p95_1080p: ms, ArrowRight -> next frame painted
  app.step_frame_p95_1080p.ratio: vs the floor of the same work, measured in the same run: decoding
    the same frames in order and converting each to RGBA at the size the view asks for (FFmpeg
    through OpenCV's build, p95)
  app.step_frame_masks_p95_1080p: the same over frames that carry 3 SAM masks
  app.step_frame_scheme_p50_1080p / _p95_1080p: stepping with frames over the frame:// scheme
    instead of the loopback frame server (the comparison for the transport choice)
  app.hold_step_settle_1080p: ms, a held arrow key (30 presses a second): from the last press to its
    frame on screen, i.e. how far the picture lags behind the key when it is let go
  app.hold_step_shown_1080p: how many of those frames were painted while the key was held (%)
  app.sam_click_p50_1080p / app.sam_click_p95_1080p: ms, SAM click -> mask painted (embedding cached)
  app.sam_click_p95_1080p.ratio: vs the floor of the same work, measured in the same run: the
    model's prompt decoder alone on one click (Python onnxruntime, p95), run as the app runs it
    (a decoder with orig_im_size is given 256x256: Argus upscales only the mask it keeps)
  app.sam_first_click_1080p: ms, the first click on a frame (encoder included), clicked before the
    page starts pre-encoding that frame, so no encode is under way
  app.mobile-sam.sam_click_p50_1080p / _p95_1080p / _p95_1080p.ratio / first_click_1080p:
    the same SAM figures with MobileSAM (real weights) loaded in the app, when
    `make real-model` has put it in the model cache
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import REAL_MODEL, ROOT, App, link_real_model, real_model_dir  # noqa: E402
from webdriver import wait_until  # noqa: E402

W, H, FPS, SECONDS = 1920, 1080, 30, 10
STEPS = 60
WARMUP_STEPS = 10
CLICKS = 25
# A flat box the SAM-contract model segments cleanly (frame pixels, static).
BOX = (1200, 300, 1500, 600)


def log(msg: str) -> None:
    print(f"bench app: {msg}", file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


MASKED_FIRST, MASKED_COUNT = 100, 10
# The frame:// comparison steps over frames SCHEME_FIRST.. (no masks, away from the SAM frame 200).
SCHEME_FIRST = 220
# A held arrow key: HOLD_PRESSES presses HOLD_INTERVAL_MS apart (a keyboard's auto-repeat), from HOLD_FIRST.
HOLD_FIRST, HOLD_PRESSES, HOLD_INTERVAL_MS = 120, 45, 33


class BenchApp(App):
    """The harness's app on a 1080p project instead of the sample, with SAM
    masks on frames MASKED_FIRST.. (made with argus-cli and the same model)."""

    def _seed_cached(self) -> None:
        # ARGUS_BENCH_SEED_CACHE=<dir> keeps the seeded project (video, model, database) there and
        # reuses it on the next run of the same build: for iterating on the app, not for figures
        # that go into docs/benchmarks.md (those start from scratch).
        cache = os.environ.get("ARGUS_BENCH_SEED_CACHE")
        if not cache:
            self._seed_into(self.data_dir)
            return
        where = Path(cache)
        marker = where / "seeded"
        if not marker.exists():
            shutil.rmtree(where, ignore_errors=True)
            where.mkdir(parents=True)
            self._seed_into(where)
            marker.write_text("ok\n")
        else:
            log(f"reusing the seeded project in {where}")
        self.video = where / "bench-1080p.mp4"
        for db in where.glob("argus.db*"):
            if db.is_file():
                shutil.copy(db, self.data_dir / db.name)
        self.manifest = str(where / "model" / "sam1.toml")

    def _seed(self) -> None:
        self._seed_cached()
        link_real_model(self.data_dir)

    def _seed_into(self, where: Path) -> None:
        env = dict(os.environ)
        env["CARGO_TARGET_DIR"] = str(harness._target_dir())
        env["ARGUS_MODEL_DIR"] = str(self.tmp / "cli-models")
        video = where / "bench-1080p.mp4"
        self.video = video
        x0, y0, x1, y1 = BOX
        vf = (
            f"drawbox=x={x0}:y={y0}:w={x1 - x0}:h={y1 - y0}:color=0xd23c3c:t=fill,"
            "drawbox=x=200:y=650:w=380:h=220:color=0x3cc85a:t=fill"
        )
        log("generating the 1080p video")
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r={FPS}:d={SECONDS}",
             "-vf", vf, "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p", str(video)],
            check=True, timeout=300,
        )
        model = where / "model"
        subprocess.run([self.pre.python, str(ROOT / "crates/argus-sam/scripts/make_test_model.py"), str(model)],
                       check=True, stdout=subprocess.DEVNULL, timeout=300)
        self.manifest = str(model / "sam1.toml")
        db = where / "argus.db"
        cli = ["cargo", "run", "-q", "-p", "argus-cli", "--", "--db", str(db)]

        def run(*args: str) -> str:
            r = subprocess.run([*cli, *args], check=True, env=env, cwd=ROOT, stdout=subprocess.PIPE, timeout=600)
            return r.stdout.decode()

        log("creating the project")
        run("project", "new", "Bench", "--label", "object:mask,polygon,bbox")
        imported = json.loads(run("--json", "import-video", "--project", "Bench", str(video)).splitlines()[-1])
        video_id = imported.get("id") or imported["video"]["id"]
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        for f in range(MASKED_FIRST, MASKED_FIRST + MASKED_COUNT):
            for dx in (-100, 0, 100):
                run("segment", "--video", video_id, "--frame", str(f), "--point", f"{cx + dx},{cy}",
                    "--label", "object", "--manifest", self.manifest)


def trace(s, kind: str) -> list[float]:
    entries = s.execute("return window.__argusTrace.entries;") or []
    return [e["ms"] for e in entries if e.get("kind") == kind]


def phases(s, kind: str) -> str:
    """Median time from the action to each phase (stderr diagnostics)."""
    entries = [e for e in (s.execute("return window.__argusTrace.entries;") or []) if e.get("kind") == kind]
    names = sorted({k for e in entries for k in (e.get("phases") or {})}, key=lambda k: percentile(
        [e["phases"][k] for e in entries if k in (e.get("phases") or {})], 50))
    parts = [f"{k} {percentile([e['phases'][k] for e in entries if k in (e.get('phases') or {})], 50):.0f}" for k in names]
    parts.append(f"on screen {percentile([e['ms'] for e in entries], 50):.0f}")
    return ", ".join(parts) + " ms (medians)"


def painted(s) -> int:
    v = s.find("[data-testid=frame-view]").attribute("data-painted-frame")
    return int(v) if v not in (None, "") else -1


def loaded_url(s) -> str:
    return s.find("[data-testid=frame-view]").attribute("data-loaded-url") or ""


def preview_url(s) -> str:
    """The SAM preview layer shown over the frame, "" when none is."""
    return s.find("[data-testid=frame-view]").attribute("data-preview-url") or ""


def viewport(s, fx: float, fy: float) -> tuple[float, float]:
    r = s.execute(
        "const r = document.querySelector('[data-testid=frame-canvas]').getBoundingClientRect();"
        "return [r.left, r.top, r.width, r.height];"
    )
    return r[0] + fx * r[2] / W, r[1] + fy * r[3] / H


def wait_painted(s, frame: int, timeout_ms: int = 20000) -> None:
    """Waits inside the page (no polling over WebDriver, which would load the
    machine being measured) until `frame` is painted."""
    ok = s.post("/execute/async", {"script": """
        const [want, timeout, done] = arguments;
        const t0 = performance.now();
        const tick = () => {
            const v = document.querySelector('[data-testid=frame-view]')?.getAttribute('data-painted-frame');
            if (Number(v) === want) done(true);
            else if (performance.now() - t0 > timeout) done(false);
            else requestAnimationFrame(tick);
        };
        tick();""", "args": [frame, timeout_ms]})
    if not ok:
        raise RuntimeError(f"frame {frame} was not painted within {timeout_ms} ms")


def fetch_phases(s, marker: str = "ahead=1") -> str:
    """Medians of the frame fetches' Resource Timing (stderr diagnostics): waiting for a connection,
    the shell's answer (first byte; the loopback server's own render time from Server-Timing), and
    the body's transfer."""
    rows = s.execute("""
        return performance.getEntriesByType('resource')
          .filter((e) => e.name.includes(arguments[0]))
          .map((e) => [e.requestStart - e.startTime, e.responseStart - e.requestStart,
                       e.responseEnd - e.responseStart,
                       (e.serverTiming || []).find((t) => t.name === 'render')?.duration ?? -1]);""", marker) or []
    if not rows:
        return "no resource timings"
    names = ["to request", "to first byte", "body"]
    parts = [f"{n} {percentile([r[i] for r in rows], 50):.1f}" for i, n in enumerate(names)]
    renders = [r[3] for r in rows if r[3] >= 0]
    if renders:
        parts.append(f"(server render {percentile(renders, 50):.1f})")
    return f"{len(rows)} fetches: " + ", ".join(parts) + " ms (medians)"


def step_run(s, n: int, first: int) -> list[float]:
    """Presses ArrowRight n times from `first`, each once the previous frame is painted."""
    s.execute("window.__argusTrace.clear(); performance.setResourceTimingBufferSize(10000);"
              " performance.clearResourceTimings();")
    for i in range(n):
        want = first + i + 1
        s.keys("ArrowRight")
        wait_painted(s, want)
        time.sleep(0.03)
    time.sleep(0.1)
    return trace(s, "step")


def hold_run(s, first: int) -> tuple[float, int]:
    """Holds ArrowRight from `first` (HOLD_PRESSES presses, one W3C action sequence, so the
    presses keep their rhythm whatever the app does). Returns the time from the last press
    to its frame on screen and how many of the frames were painted on the way."""
    s.execute("window.__argusTrace.clear(); performance.clearResourceTimings();")
    s.keys(*["ArrowRight"] * HOLD_PRESSES, pause_ms=HOLD_INTERVAL_MS)
    last = first + HOLD_PRESSES
    wait_painted(s, last)
    time.sleep(0.1)
    entries = [e for e in (s.execute("return window.__argusTrace.entries;") or []) if e.get("kind") == "step"]
    settle = [e["ms"] for e in entries if e.get("frame") == last]
    if not settle:
        raise RuntimeError(f"the last frame of the hold ({last}) has no trace entry")
    return settle[0], len(entries)


def goto(s, frame: int) -> None:
    s.execute("window.__argusGoto && window.__argusGoto(arguments[0]);", frame)
    wait_painted(s, frame, 30000)


def sam_clicks(s, target: int) -> tuple[float, list[float]]:
    """SAM on frame `target`, which has no embedding yet (the first click
    encodes it), then CLICKS single clicks on it with the embedding cached.
    Returns the first click's time and the others'."""
    log(f"SAM: 1 + {CLICKS} clicks on frame {target}")
    goto(s, target)
    x0, y0, x1, y1 = BOX
    s.execute("window.__argusTrace.clear();")
    s.execute("performance.clearResourceTimings();")
    # The click follows the tool at once: the page asks for pre-encoding
    # only once the user has stayed 250 ms on a frame with the SAM tool, so
    # the first click pays for the whole encode.
    s.find("[data-testid=tool-sam]").click()
    s.click_at(*viewport(s, (x0 + x1) / 2, (y0 + y1) / 2))
    first = wait_until("the first SAM preview painted", lambda: trace(s, "sam"), timeout=120)[0]
    clicks: list[float] = []
    click_phases: list[str] = []
    for i in range(CLICKS):
        s.keys("Escape")
        wait_until("the preview cleared", lambda: preview_url(s), lambda u: not u, timeout=20)
        time.sleep(0.15)
        s.execute("window.__argusTrace.clear();")
        fx = x0 + 40 + (i * 37) % (x1 - x0 - 80)
        fy = y0 + 40 + (i * 53) % (y1 - y0 - 80)
        s.click_at(*viewport(s, fx, fy))
        clicks.append(wait_until(f"SAM preview {i} painted", lambda: trace(s, "sam"), timeout=30)[0])
        click_phases.append(phases(s, "sam"))
    s.keys("Escape")
    log(f"SAM click phases: {phases(s, 'sam')} (the last click)")
    log(f"SAM preview fetches: {fetch_phases(s, 'preview=')}")
    log("SAM clicks in order (ms): " + " ".join(f"{c:.0f}" for c in clicks))
    for i in sorted(range(len(clicks)), key=lambda i: -clicks[i])[:3]:
        log(f"  slow click {i}: {click_phases[i]}")
    return first, clicks


def decode_floor(video: Path, first: int, n: int, scale: float) -> list[float]:
    """The floor of a step's work: frames first+1 .. first+n decoded in order
    (FFmpeg, through OpenCV's build) and each converted to RGBA at the size the
    view asks for. Milliseconds per frame."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, first)
    if not cap.read()[0]:
        raise RuntimeError(f"OpenCV cannot read frame {first} of {video}")
    size = (max(1, round(W * scale)), max(1, round(H * scale)))
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        ok, bgr = cap.read()
        if not ok:
            break
        if size != (W, H):
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_LINEAR)
        cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA)
        times.append((time.perf_counter() - t0) * 1e3)
    cap.release()
    return times


def decoder_floor(decoder: Path, runs: int) -> list[float]:
    """The floor of a click's work: the model's prompt decoder alone on one
    click and SAM's padding point (Python onnxruntime, CPU), on a random
    embedding. Milliseconds per run."""
    import numpy as np
    import onnxruntime as ort

    sess = ort.InferenceSession(str(decoder), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    scale = 1024 / max(W, H)
    cx, cy = (BOX[0] + BOX[2]) / 2 * scale, (BOX[1] + BOX[3]) / 2 * scale
    feed = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 2 for d in i.shape]
        if i.name == "point_coords":
            feed[i.name] = np.array([[[cx, cy], [0.0, 0.0]]], np.float32)
        elif i.name == "point_labels":
            feed[i.name] = np.array([[1.0, -1.0]], np.float32)
        elif i.name == "orig_im_size":
            # as the app runs it (argus-sam's fused upscale): the decoder's own
            # full-size masks kept at the low-res size, Argus upscaling the one it keeps
            feed[i.name] = np.array([256, 256], np.float32)
        elif i.name == "has_mask_input":
            feed[i.name] = np.zeros(shape or [1], np.float32)
        else:
            feed[i.name] = rng.standard_normal(shape).astype(np.float32)
    for _ in range(3):
        sess.run(None, feed)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def model_file(manifest: str, part: str) -> Path:
    """The `part` (encoder or decoder) file a model manifest names."""
    import tomllib

    m = tomllib.loads(Path(manifest).read_text())
    return Path(m[part]["urls"][0].removeprefix("file://"))


def main() -> int:
    try:
        app = BenchApp.start()
    except Exception as e:  # unittest.SkipTest included
        log(f"cannot run: {e}")
        return 1
    try:
        s = app.session
        s.wait_for("[data-testid=workspace]", timeout=60)
        wait_until("frame 0 painted", lambda: painted(s), lambda v: v == 0, timeout=60)
        wait_until("the SAM model loaded", lambda: s.find("[data-testid=sam-status]").attribute("data-model"),
                   timeout=60)
        s.find("[data-testid=tool-select]").click()
        time.sleep(1.0)

        base = s.execute("return window.__argusTransport();")
        log(f"frames from {base.split('//')[0]}//{'<loopback server>' if base.startswith('http://127.') else base}")
        # A few unmeasured steps first: the page's code, the canvas and the
        # view decoder are cold right after start (as in any benchmark's warm-up).
        step_run(s, WARMUP_STEPS, 0)
        log(f"stepping {STEPS} frames (after {WARMUP_STEPS} unmeasured)")
        steps = step_run(s, STEPS, WARMUP_STEPS)
        if len(steps) < STEPS * 0.9:
            raise RuntimeError(f"only {len(steps)} of {STEPS} steps were timed")
        log(f"step phases: {phases(s, 'step')}")
        log(f"frame fetches: {fetch_phases(s)}")

        # The same steps with frames over the frame:// custom scheme.
        s.execute("window.__argusTransport('scheme');")
        goto(s, SCHEME_FIRST)
        time.sleep(0.3)
        log(f"stepping {STEPS} frames over frame://")
        scheme_steps = step_run(s, STEPS, SCHEME_FIRST)
        log(f"step phases over frame://: {phases(s, 'step')}")
        log(f"frame fetches over frame://: {fetch_phases(s)}")
        s.execute("window.__argusTransport('http');")

        log(f"stepping {MASKED_COUNT - 1} frames with 3 masks each")
        goto(s, MASKED_FIRST)
        time.sleep(0.3)
        masked = step_run(s, MASKED_COUNT - 1, MASKED_FIRST)
        log(f"step phases with masks: {phases(s, 'step')}")
        log(f"frame fetches with masks: {fetch_phases(s)}")

        log(f"holding ArrowRight: {HOLD_PRESSES} presses {HOLD_INTERVAL_MS} ms apart")
        goto(s, HOLD_FIRST)
        time.sleep(0.3)
        settle, shown = hold_run(s, HOLD_FIRST)
        log(f"hold: {shown} of {HOLD_PRESSES} frames painted; last press to its frame {settle:.0f} ms;"
            f" frame fetches: {fetch_phases(s)}")

        first, clicks = sam_clicks(s, 200)
        real = None
        if real_model_dir():
            log(f"loading {REAL_MODEL} (real weights) in the app")
            s.find("[data-testid=tool-select]").click()
            # picked from the shipped models, as a user does
            picked = s.execute(
                "const sel = document.querySelector('[data-testid=sam-models]');"
                "if (![...sel.options].some((o) => o.value === arguments[0])) return false;"
                "sel.value = arguments[0]; sel.dispatchEvent(new Event('change', { bubbles: true })); return true;", REAL_MODEL)
            if not picked:
                raise RuntimeError(f"{REAL_MODEL} is not among the shipped models")
            s.find("[data-testid=sam-load]").click()
            wait_until(f"{REAL_MODEL} loaded", lambda: s.find("[data-testid=sam-status]").attribute("data-model"),
                       lambda v: v == REAL_MODEL, timeout=300)
            real = sam_clicks(s, 260)
        else:
            log(f"{REAL_MODEL} is not in the model cache (make real-model): its figures are skipped")
        scale = float(dict(p.split("=", 1) for p in loaded_url(s).split("?", 1)[-1].split("&") if "=" in p)
                      .get("scale", "1"))
        info = s.execute("return window.__argusInfo ?? null;")
        # The anchors: the same work without the app, on this machine, now. The
        # app is stopped first: its pre-encoder (MobileSAM's encoder, seconds a
        # frame) would otherwise share the two cores with the anchors.
        app.stop()
        floor = percentile(decode_floor(app.video, WARMUP_STEPS, STEPS, scale), 95)
        log(f"anchor: decoding and converting the same {STEPS} frames at scale {scale}: p95 {floor:.1f} ms")
        dec_floor = percentile(decoder_floor(model_file(app.manifest, "decoder"), CLICKS), 95)
        log(f"anchor: the sample model's prompt decoder alone: p95 {dec_floor:.1f} ms")
        p50, p95 = percentile(steps, 50), percentile(steps, 95)
        print(f"app.step_frame_p50_1080p: {p50:.1f} ms")
        print(f"app.step_frame_p95_1080p: {p95:.1f} ms")
        print(f"app.step_frame_p95_1080p.ratio: {p95 / floor:.2f} "
              f"(vs decoding and converting the same frames, p95 {floor:.1f} ms, same run)")
        print(f"app.step_frame_masks_p95_1080p: {percentile(masked, 95):.1f} ms")
        print(f"app.step_frame_scheme_p50_1080p: {percentile(scheme_steps, 50):.1f} ms")
        sp95 = percentile(scheme_steps, 95)
        print(f"app.step_frame_scheme_p95_1080p: {sp95:.1f} ms")
        print(f"app.step_frame_p95_1080p.vs_scheme: {p95 / sp95:.2f} (loopback server vs frame://)")
        print(f"app.hold_step_settle_1080p: {settle:.1f} ms")
        print(f"app.hold_step_shown_1080p: {100.0 * shown / HOLD_PRESSES:.0f} % ({shown} of {HOLD_PRESSES})")
        c50, c95 = percentile(clicks, 50), percentile(clicks, 95)
        print(f"app.sam_click_p50_1080p: {c50:.1f} ms")
        print(f"app.sam_click_p95_1080p: {c95:.1f} ms")
        print(f"app.sam_click_p95_1080p.ratio: {c95 / dec_floor:.2f} "
              f"(vs the prompt decoder alone, p95 {dec_floor:.1f} ms, same run)")
        print(f"app.sam_first_click_1080p: {first:.1f} ms")
        if real:
            rfirst, rclicks = real
            r50, r95 = percentile(rclicks, 50), percentile(rclicks, 95)
            print(f"app.{REAL_MODEL}.sam_click_p50_1080p: {r50:.1f} ms")
            print(f"app.{REAL_MODEL}.sam_click_p95_1080p: {r95:.1f} ms")
            decoders = sorted(real_model_dir().glob("*decoder*.onnx"))
            if decoders:
                rfloor = percentile(decoder_floor(decoders[0], CLICKS), 95)
                print(f"app.{REAL_MODEL}.sam_click_p95_1080p.ratio: {r95 / rfloor:.2f} "
                      f"(vs {decoders[0].name} alone, p95 {rfloor:.1f} ms, same run)")
            print(f"app.{REAL_MODEL}.sam_first_click_1080p: {rfirst:.1f} ms")
        if info:
            log(f"renderer: {info.get('renderer')}")
        return 0
    except Exception as e:
        import traceback

        traceback.print_exc()
        log(f"failed: {e}\n{app.log_tails()}")
        return 1
    finally:
        app.close()


if __name__ == "__main__":
    sys.exit(main())
