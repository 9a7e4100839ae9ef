"""End to end: the app as its package installs it, on a machine with no developer tools.

The suite already has the debug build; `scripts/dist --debug` bundles it into a
.deb with Tauri's bundler (no compile), with everything the release packages
carry: ONNX Runtime's CPU library in /usr/lib/argus, the sample project's files
in /usr/share/argus/sample, the model manifests, the licence file. The .deb is
unpacked with `dpkg-deb -x` into a temporary root, and its usr/bin/argus runs
under Xvfb with a fresh HOME and none of the developer's variables (no
ORT_DYLIB_PATH, no ARGUS_*, no cargo): it must find ONNX Runtime and the sample
beside itself, as an installed app does.

The scenario (the first one of test_workspace.py, on what the package seeded):
  1. the first start seeds the sample project from the package and opens it;
     the generated video is opened by its name; ONNX Runtime was loaded from
     the package's copy;
  2. a SAM click on the red box with the packaged sample model, Enter: one mask
     object, and the red box's pixels are tinted;
  3. after a restart the mask is still there (the same track), the model is
     loaded again, and no second sample project was made.

Beside it, the same unpacked app is started with a CUDA-enabled ONNX Runtime in
LD_LIBRARY_PATH (a usable one, then a broken one) to check which library it loads.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import ROOT, App, Prerequisites, _tail  # noqa: E402
from test_workspace import GENERATED, REAL_CLIP, SAM_TINT_MIN, AppCase, inset, l1, mean_rgb, red_box  # noqa: E402
from webdriver import wait_until  # noqa: E402

SAMPLE_MODEL = "argus-test-sam1"
# The page loads the sample model at start (app_info's hint); argus-sam logs it.
MODEL_LOADED = re.compile(rf"SAM model {SAMPLE_MODEL} loaded on ")
# What the package holds (scripts/dist), relative to its root.
PACKAGED = (
    "usr/bin/argus",
    "usr/lib/argus/libonnxruntime.so",
    "usr/share/argus/sample/street-sample.mp4",
    "usr/share/argus/sample/model/sam1.toml",
    "usr/share/argus/models/mobile-sam.toml",
    "usr/share/doc/argus/THIRD-PARTY-LICENSES.txt",
    "usr/share/applications/Argus.desktop",
)


class PackagePrerequisites(Prerequisites):
    """The end-to-end tools, and what scripts/dist needs to bundle the debug build."""

    def __init__(self):
        super().__init__()
        self.tauri_cli = ROOT / "web" / "node_modules" / ".bin" / "tauri"

    def missing(self) -> list[str]:
        # The developer's runtime (cargo, ORT_DYLIB_PATH) is not needed: the
        # package brings its own.
        out = [m for m in super().missing() if not m.startswith(("cargo is not", "ORT_DYLIB_PATH"))]
        for tool, pkg in (("dpkg-deb", "dpkg"), ("dpkg-shlibdeps", "dpkg-dev"), ("objdump", "binutils")):
            if not shutil.which(tool):
                out.append(f"{tool} is not installed (apt-get install {pkg})")
        if not os.access(self.tauri_cli, os.X_OK):
            out.append(f"the Tauri CLI is not at {self.tauri_cli} (npm ci in web/; scripts/bootstrap does it)")
        return out


class PackagedApp(App):
    """The debug build, bundled, unpacked and started as an installed app."""

    seed_sample = False  # the app seeds itself from the package
    data_dir_env = False  # the platform's folder, as for a user
    env_remove = (
        "ORT_DYLIB_PATH", "ARGUS_*", "CARGO*", "RUSTUP_*", "RUSTC*", "LD_LIBRARY_PATH", "PYTHONPATH",
        "PYTHONHOME", "VIRTUAL_ENV", "DATABASE_URL",
    )
    env_extra = {"PATH": "/usr/local/bin:/usr/bin:/bin"}

    @classmethod
    def prerequisites(cls) -> Prerequisites:
        return PackagePrerequisites()

    def _make_home(self) -> None:
        super()._make_home()
        # Tauri's app_data_dir for the identifier: where the app keeps its store.
        self.data_dir = self.xdg["XDG_DATA_HOME"] / "dev.argus.desktop"
        self.root = self.tmp / "root"

    def _seed(self) -> None:
        """Bundles the debug build into a .deb and unpacks it (instead of seeding)."""
        out = self.tmp / "package"
        with open(self.tmp / "dist.log", "wb") as log:
            r = subprocess.run([str(ROOT / "scripts" / "dist"), "--debug", "--out", str(out)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=log, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"scripts/dist --debug failed ({r.returncode}):\n{_tail(self.tmp / 'dist.log')}")
        debs = [Path(line) for line in r.stdout.decode().splitlines() if line.endswith(".deb")]
        if len(debs) != 1 or not debs[0].is_file():
            raise RuntimeError(f"scripts/dist --debug printed no .deb: {r.stdout!r}")
        self.deb = debs[0]
        subprocess.run(["dpkg-deb", "-x", str(self.deb), str(self.root)], check=True, timeout=300)
        # The unpacked package is what runs; the package itself is not needed any more.
        shutil.rmtree(out / "stage", ignore_errors=True)
        self.binary = self.root / "usr" / "bin" / "argus"

    def log_tails(self, lines: int = 40) -> str:
        dist = self.tmp / "dist.log"
        head = f"---- dist.log (last {lines} lines) ----\n{_tail(dist, lines)}\n" if dist.exists() else ""
        return head + super().log_tails(lines)

    def app_log(self) -> str:
        try:
            return (self.tmp / "app.log").read_text(errors="replace")
        except OSError:
            return ""


class PackageScenario(AppCase):
    app_class = PackagedApp
    app: PackagedApp

    def test_the_installed_app_opens_the_sample_and_segments(self):
        self.run_steps([
            ("0 the package holds the app, ONNX Runtime and the sample", self.step_contents),
            ("1 the first start seeds and opens the sample project", self.step_first_start),
            ("2 SAM click on the red box, accept", self.step_sam_mask),
            ("3 restart: the mask is still there", self.step_restart),
        ])

    def test_a_cuda_runtime_the_user_installed_is_preferred_and_a_broken_one_passed_over(self):
        """ONNX Runtime as the installed app finds it (crates/argus-sam/src/runtime.rs), with the
        app started directly beside the scenario's: a CUDA-enabled build in LD_LIBRARY_PATH (here
        the packaged CPU library with a stand-in CUDA provider beside it) is loaded instead of the
        packaged copy; one that does not load is logged and passed over for the packaged copy."""
        root = self.app.root
        packaged = root / "usr/lib/argus/libonnxruntime.so"
        for case in ("usable", "broken"):
            ort = self.app.tmp / f"ort-{case}"
            ort.mkdir()
            if case == "usable":
                shutil.copyfile(packaged, ort / "libonnxruntime.so")
            else:
                (ort / "libonnxruntime.so").write_text("not a library\n")
            (ort / "libonnxruntime_providers_cuda.so").write_bytes(b"")
            home = self.app.tmp / f"home-{case}"
            (home / "runtime").mkdir(parents=True)
            os.chmod(home / "runtime", 0o700)
            env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "DISPLAY": self.app.display, "GDK_BACKEND": "x11",
                   "NO_AT_BRIDGE": "1", "XDG_RUNTIME_DIR": str(home / "runtime"), "LD_LIBRARY_PATH": str(ort)}
            log = self.app.tmp / f"ort-{case}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen([str(self.app.binary)], env=env, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            try:
                wait_until(f"the app with a {case} CUDA runtime to load the sample model",
                           lambda: log.read_text(errors="replace"),
                           lambda t: MODEL_LOADED.search(t) or proc.poll() is not None, timeout=60)
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            text = log.read_text(errors="replace")
            self.assertRegex(text, MODEL_LOADED, f"the app's log ({case}):\n{text[-3000:]}")
            if case == "usable":
                self.assertIn(f"ONNX Runtime loaded from {ort / 'libonnxruntime.so'} "
                              "(a CUDA-enabled build installed on this system)", text)
            else:
                self.assertIn(f"ONNX Runtime at {ort / 'libonnxruntime.so'} (a CUDA-enabled build installed on this "
                              "system) does not load, trying the next one", text)
                self.assertIn(f"ONNX Runtime loaded from {packaged} (the copy that ships with Argus)", text)

    def step_contents(self):
        root = self.app.root
        for rel in PACKAGED:
            self.assertTrue((root / rel).is_file(), f"the .deb has no /{rel}")
        control = subprocess.run(["dpkg-deb", "-f", str(self.app.deb), "Depends"], capture_output=True, text=True,
                                 check=True).stdout
        # dpkg-shlibdeps' findings, beside the bundler's own (WebKitGTK, GTK).
        for lib in ("libc6", "libwebkit2gtk-4.1-0", "libavcodec"):
            self.assertIn(lib, control, f"Depends names {lib}: {control}")
        # The licence file lists the crates and npm packages in the app, with their texts.
        licences = (root / "usr/share/doc/argus/THIRD-PARTY-LICENSES.txt").read_text()
        for needle in ("  tauri ", "  ort ", "  ffmpeg-next ", "  @tauri-apps/api ", "  svelte ",
                       "ONNX Runtime", "Permission is hereby granted", "Apache License"):
            self.assertIn(needle, licences, f"the licence file has {needle.strip()!r}")
        # The sample's manifest points at where the package installs the model.
        manifest = (root / "usr/share/argus/sample/model/sam1.toml").read_text()
        self.assertIn("file:///usr/share/argus/sample/model/", manifest)

    def step_first_start(self):
        self.open_workspace()
        # The data folder has the sample's copy: the store does not point into the package.
        self.app._check_sample_video()
        if (self.app.root / "usr/share/argus/sample" / REAL_CLIP).is_file():
            self.assertEqual(self.ws("data-video"), REAL_CLIP, "the app opens the project's first video, the real clip")
        self.assertEqual(self.open_video(GENERATED), 0, "the sample video opens at frame 0")
        log = self.app.app_log()
        ort = self.app.root / "usr/lib/argus/libonnxruntime.so"
        self.assertIn(f"ONNX Runtime loaded from {ort}", log, "ONNX Runtime comes from the package")
        self.assertEqual(log.count("seeded the sample project"), 1, "the first start seeds the sample once")

    def step_sam_mask(self):
        self.s.wait_attribute("[data-testid=sam-status]", "data-model", lambda v: v == SAMPLE_MODEL,
                              f"== {SAMPLE_MODEL}", timeout=60)
        self.press("s")
        self.s.wait_attribute("[data-testid=workspace]", "data-tool", lambda v: v == "sam", "== sam")
        self.press("3")  # "sign" (purple): its tint shows on the red box
        self.pointer_away()
        self.wait_painted(0)
        self.settle_url()
        red = inset(red_box(0.0), 20)
        before, sx, sy = self.canvas_shot()
        red_before = mean_rgb(before, red, sx, sy)
        self.assertLess(l1(red_before, (0xD2, 0x3C, 0x3C)), 30, "the red box is where the sample draws it")
        x0, y0, x1, y1 = red_box(0.0)
        self.s.click_at(*self.to_viewport((x0 + x1) / 2, (y0 + y1) / 2))
        self.s.wait_for("[data-testid=candidates]", timeout=30)
        self.pointer_away()
        self.press("Enter")
        objs = self.wait_objects(1, "mask")
        self.track = objs[0][1]
        self.s.wait_gone("[data-testid=candidates]")
        self.wait_painted(0)
        self.settle_url()
        d = wait_until(
            f"the red box tinted by the mask (mean RGB L1 change >= {SAM_TINT_MIN})",
            lambda: l1(mean_rgb(self.canvas_shot()[0], red, sx, sy), red_before),
            lambda v: v >= SAM_TINT_MIN, timeout=10,
        )
        print(f"(packaged app's SAM mask: red box mean RGB L1 change {d:.1f})", file=sys.stderr)

    def step_restart(self):
        self.app.restart()
        self.open_workspace()
        self.assertEqual(self.open_video(GENERATED), 0)
        objs = self.wait_objects(1, "mask")
        self.assertEqual(objs[0][1], self.track, "the same track as before the restart")
        self.s.wait_attribute("[data-testid=sam-status]", "data-model", lambda v: v == SAMPLE_MODEL,
                              f"== {SAMPLE_MODEL} after the restart", timeout=60)
        log = self.app.app_log()
        self.assertEqual(len(re.findall(r"==== app start", log)), 2, "two starts in the app's log")
        self.assertEqual(log.count("seeded the sample project"), 1, "the restart seeds nothing")


if __name__ == "__main__":
    unittest.main(verbosity=2)
