"""The app under test: the real Argus binary in its own Xvfb, driven over W3C
WebDriver through tauri-driver and WebKitWebDriver.

    app = App.start()      # raises unittest.SkipTest when a prerequisite is missing
    app.session.find(...)  # a webdriver.Session
    app.restart()          # a new app process on the same data dir
    app.close()

Each App gets a temporary directory holding its own HOME and XDG_* dirs
(WebKit and the keyring write there), the seeded sample project (the data
dir), and the logs of Xvfb, tauri-driver (with WebKitWebDriver) and the app.
Everything has a timeout; log_tails() shows the end of each log.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

from webdriver import Session, WebDriverError


def ci() -> bool:
    """Whether the suite runs as CI runs it (`CI=true`): no skips but the listed ones."""
    return os.environ.get("CI") == "true"


def skip(reason: str, allowed_in_ci: bool = False) -> None:
    """Skips the test or class for `reason`. Under `CI=true` only the skips
    the suite's written list allows (argus-testkit's `Skip`: real model
    weights, an NVIDIA GPU) may skip; anything else fails the run instead."""
    if ci() and not allowed_in_ci:
        raise AssertionError(f"cannot run here and CI=true forbids skipping: {reason}")
    raise unittest.SkipTest(reason)

ROOT = Path(__file__).resolve().parents[2]
SCREEN = "1280x800x24"


def _cache() -> Path:
    c = os.environ.get("ARGUS_DEV_CACHE")
    if c:
        return Path(c)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "argus-dev"


def _target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR") or _cache() / "target")


def _python() -> str:
    p = os.environ.get("ARGUS_PYTHON")
    if p:
        return p
    venv = _cache() / "venv" / "bin" / "python"
    return str(venv) if venv.exists() else "python3"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not reaped by its parent) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return False


class Prerequisites:
    """Where everything the tests need lives; missing() lists what is absent."""

    def __init__(self):
        self.cache = _cache()
        self.xvfb = shutil.which("Xvfb")
        self.native_driver = Path("/usr/bin/WebKitWebDriver")
        self.tauri_driver = self.cache / "tools" / "bin" / "tauri-driver"
        self.app = (_target_dir() / "debug" / "argus").resolve()
        self.python = _python()
        self.ort = os.environ.get("ORT_DYLIB_PATH", "")

    def missing(self) -> list[str]:
        out = []
        if not self.xvfb:
            out.append("Xvfb is not installed (apt-get install xvfb)")
        if not os.access(self.native_driver, os.X_OK):
            out.append(f"{self.native_driver} is missing (apt-get install webkit2gtk-driver)")
        if not os.access(self.tauri_driver, os.X_OK):
            out.append(f"tauri-driver is not at {self.tauri_driver} (scripts/bootstrap builds it)")
        if not os.access(self.app, os.X_OK):
            out.append(f"the app binary {self.app} is not built (cargo build -p argus --bin argus)")
        if not shutil.which("ffmpeg"):
            out.append("ffmpeg is not installed (the sample project needs it)")
        if not shutil.which("cargo"):
            out.append("cargo is not on PATH (the sample project runs argus-cli)")
        try:
            r = subprocess.run([self.python, "-c", "import onnx, numpy"], capture_output=True, timeout=120)
            if r.returncode != 0:
                out.append(f"{self.python} cannot import onnx and numpy (set ARGUS_PYTHON to the dev venv)")
        except (OSError, subprocess.TimeoutExpired) as e:
            out.append(f"ARGUS_PYTHON={self.python} does not run: {e}")
        try:
            import cv2  # noqa: F401  (screenshots are decoded in this process)
            import numpy  # noqa: F401
        except ImportError as e:
            out.append(f"this Python ({sys.executable}) lacks numpy/opencv: {e} (run it with ARGUS_PYTHON)")
        if not self.ort:
            out.append("ORT_DYLIB_PATH is not set (the ONNX Runtime library; make test sets it)")
        elif not os.path.isfile(self.ort):
            out.append(f"ORT_DYLIB_PATH={self.ort} is not a file")
        return out


class App:
    """The running app: Xvfb + tauri-driver + one WebDriver session.

    Subclasses may change what runs and how (the package test does):
    `binary` (the app to start instead of the debug build), `seed_sample`
    (False: no scripts/sample-project; the app seeds itself or starts empty),
    `env_remove` (variables the app must not see; a name ending in `*` is a
    prefix), `env_extra` (variables it gets on top), `data_dir_env` (False:
    no ARGUS_DATA_DIR, the app picks its platform folder; then set `data_dir`
    to that folder in `_make_home`) and `prerequisites()` (what must be
    there)."""

    binary: Path | None = None
    seed_sample: bool = True
    env_remove: tuple[str, ...] = ()
    env_extra: dict[str, str] = {}
    data_dir_env: bool = True

    @classmethod
    def prerequisites(cls) -> Prerequisites:
        return Prerequisites()

    def __init__(self, pre: Prerequisites):
        self.pre = pre
        self.tmp = Path(tempfile.mkdtemp(prefix="argus-e2e-"))
        self.data_dir = self.tmp / "data"
        self.screenshots = self.tmp / "screenshots"
        self.xvfb: subprocess.Popen | None = None
        self.driver: subprocess.Popen | None = None
        self.session: Session | None = None
        self.display = ""
        self.manifest = ""
        self.port = 0
        self.starts = 0
        self.timings: dict[str, float] = {}

    # ---- life cycle ------------------------------------------------------
    @classmethod
    def start(cls) -> "App":
        pre = cls.prerequisites()
        missing = pre.missing()
        if missing:
            skip("end-to-end prerequisites missing: " + "; ".join(missing))
        app = cls(pre)
        try:
            for step in (app._make_home, app._seed, app._start_xvfb, app._start_driver, app._open_session):
                t0 = time.monotonic()
                step()
                app.timings[step.__name__.strip("_")] = time.monotonic() - t0
        except BaseException:
            print(app.log_tails())
            app.close()
            raise
        return app

    def screen(self):
        """What the window shows, as an RGB numpy array (H, W, 3) of the page's viewport, grabbed
        from the X server (ffmpeg's x11grab), not through WebDriver: WebKitWebDriver's screenshot
        hangs when the webview draws without GL compositing, which is what the app picks on a
        machine without a GPU. There is no window manager, so the window has no frame and its
        client area starts at (screenX, screenY)."""
        import cv2
        import numpy as np

        x, y, w, h = self.session.execute(
            "return [window.screenX, window.screenY, window.innerWidth, window.innerHeight];")
        sw, sh = (int(v) for v in SCREEN.split("x")[:2])
        r = subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "x11grab", "-draw_mouse", "0", "-video_size", f"{sw}x{sh}", "-i", self.display,
             "-frames:v", "1", "-f", "image2pipe", "-vcodec", "png", "-"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30,
            env={**os.environ, "DISPLAY": self.display},
        )
        if r.returncode != 0 or not r.stdout:
            raise RuntimeError(f"could not grab the X screen {self.display}: {r.stderr.decode(errors='replace')}")
        bgr = cv2.imdecode(np.frombuffer(r.stdout, dtype=np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise RuntimeError("the X screen grab is not a decodable PNG")
        x, y = max(0, int(x)), max(0, int(y))
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[y:y + int(h), x:x + int(w)]

    def stop(self) -> None:
        """Ends the app (its WebDriver session) and keeps everything else,
        the data dir included, until `close`."""
        self._close_session()

    def restart(self) -> None:
        """Ends the app (its WebDriver session) and starts a new one on the same data dir."""
        self._close_session()
        self._open_session()

    def close(self) -> None:
        """Ends the session, tauri-driver (SIGTERM), Xvfb, and removes the temporary dir."""
        try:
            self._close_session()
        finally:
            try:
                if self.driver is not None:
                    self._terminate(self.driver, "tauri-driver", group=True)
                    self.driver = None
                self._stop_app_process()
                if self.xvfb is not None:
                    self._terminate(self.xvfb, "Xvfb", group=False)
                    self.xvfb = None
            finally:
                if os.environ.get("ARGUS_E2E_KEEP") == "1":
                    print(f"(ARGUS_E2E_KEEP=1: kept {self.tmp})", file=sys.stderr)
                else:
                    shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- pieces ----------------------------------------------------------
    def _make_home(self) -> None:
        self.home = self.tmp / "home"
        self.xdg = {
            "XDG_CONFIG_HOME": self.home / ".config",
            "XDG_DATA_HOME": self.home / ".local" / "share",
            "XDG_CACHE_HOME": self.home / ".cache",
            "XDG_RUNTIME_DIR": self.tmp / "runtime",
        }
        for d in [self.home, self.data_dir, self.screenshots, *self.xdg.values()]:
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.xdg["XDG_RUNTIME_DIR"], 0o700)

    def _seed(self) -> None:
        if not self.seed_sample:
            return
        # Runs with the real HOME: cargo and rustup live there.
        env = dict(os.environ)
        env["CARGO_TARGET_DIR"] = str(_target_dir())
        env["ARGUS_PYTHON"] = self.pre.python
        script = os.environ.get("ARGUS_SAMPLE_PROJECT") or str(ROOT / "scripts" / "sample-project")
        with open(self.tmp / "seed.log", "wb") as log:
            r = subprocess.run(
                [script, str(self.data_dir)],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, timeout=600,
            )
        if r.returncode != 0:
            raise RuntimeError(f"scripts/sample-project failed ({r.returncode}):\n{_tail(self.tmp / 'seed.log')}")
        lines = [l for l in r.stdout.decode().splitlines() if l.strip()]
        if not lines or not os.path.isfile(lines[-1].strip()):
            raise RuntimeError(f"scripts/sample-project printed no manifest path: {r.stdout!r}")
        self.manifest = lines[-1].strip()
        self._check_sample_video()

    def _check_sample_video(self) -> None:
        """The scenario clicks on the sample's coloured boxes: make sure the
        generated video has them (frame 0: red at 80..340 x 380..520, yellow at
        560..720 x 60..220, green at 900..990 x 180..420, on 0x3a4a5a)."""
        import cv2

        video = self.data_dir / "sample" / "street-sample.mp4"
        cap = cv2.VideoCapture(str(video))
        ok, bgr = cap.read()
        cap.release()
        if not ok:
            raise RuntimeError(f"cannot decode the sample video {video}")
        expect = {"red": ((450, 210), (0xD2, 0x3C, 0x3C)), "yellow": ((140, 640), (0xF0, 0xC8, 0x28)),
                  "green": ((300, 945), (0x3C, 0xC8, 0x5A)), "background": ((700, 1200), (0x3A, 0x4A, 0x5A))}
        wrong = []
        for name, ((y, x), rgb) in expect.items():
            got = tuple(int(v) for v in bgr[y, x][::-1])
            if sum(abs(a - b) for a, b in zip(got, rgb)) > 30:
                wrong.append(f"{name} at frame pixel ({x}, {y}) is {got}, expected about {rgb}")
        if wrong:
            raise RuntimeError("the sample video (scripts/sample-project) lacks the moving boxes the scenario "
                               "uses: " + "; ".join(wrong))

    def _start_xvfb(self) -> None:
        # -displayfd: Xvfb picks a free display number and writes it to the pipe.
        rfd, wfd = os.pipe()
        log = open(self.tmp / "xvfb.log", "wb")
        try:
            self.xvfb = subprocess.Popen(
                [self.pre.xvfb, "-displayfd", str(wfd), "-screen", "0", SCREEN, "-nolisten", "tcp", "-noreset"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, pass_fds=(wfd,),
                start_new_session=True,
            )
        finally:
            os.close(wfd)
            log.close()
        buf = b""
        deadline = time.monotonic() + 20
        try:
            while not buf.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or self.xvfb.poll() is not None:
                    raise RuntimeError(f"Xvfb did not start:\n{_tail(self.tmp / 'xvfb.log')}")
                ready, _, _ = select.select([rfd], [], [], left)
                if ready:
                    chunk = os.read(rfd, 64)
                    if not chunk:
                        raise RuntimeError(f"Xvfb exited before naming its display:\n{_tail(self.tmp / 'xvfb.log')}")
                    buf += chunk
        finally:
            os.close(rfd)
        self.display = ":" + buf.decode().strip()

    def _app_env(self) -> dict:
        env = dict(os.environ)
        for k in ("ARGUS_RENDER", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
            env.pop(k, None)
        env.update({k: str(v) for k, v in self.xdg.items()})
        env.update(
            HOME=str(self.home),
            DISPLAY=self.display,
            GDK_BACKEND="x11",
            NO_AT_BRIDGE="1",
            ARGUS_DATA_DIR=str(self.data_dir),
            ARGUS_SAM_MANIFEST=self.manifest,
            ORT_DYLIB_PATH=self.pre.ort,
        )
        if not self.manifest:
            env.pop("ARGUS_SAM_MANIFEST")
        if not self.data_dir_env:
            env.pop("ARGUS_DATA_DIR")
        for name in list(env):
            if any(name.startswith(r[:-1]) if r.endswith("*") else name == r for r in self.env_remove):
                env.pop(name)
        env.update(self.env_extra)
        return env

    def _start_driver(self) -> None:
        # The app is launched through a wrapper so its output has its own log
        # and its pid is known (exec keeps the pid, the args and the env).
        self.wrapper = self.tmp / "argus-app"
        app_log = self.tmp / "app.log"
        self.app_pid_file = self.tmp / "app.pid"
        self.wrapper.write_text(
            "#!/bin/sh\n"
            f"echo $$ > '{self.app_pid_file}'\n"
            # When this start began (epoch ns), for start-up timings.
            f"date +%s%N > '{self.tmp / 'app.start'}'\n"
            f"echo \"==== app start $(date +%T) ====\" >> '{app_log}'\n"
            "export RUST_BACKTRACE=1\n"
            f"exec '{self.binary or self.pre.app}' \"$@\" >> '{app_log}' 2>&1\n"
        )
        self.wrapper.chmod(0o755)
        self.port = _free_port()
        native_port = _free_port()
        log = open(self.tmp / "tauri-driver.log", "wb")
        try:
            self.driver = subprocess.Popen(
                [str(self.pre.tauri_driver), "--port", str(self.port), "--native-port", str(native_port),
                 "--native-driver", str(self.pre.native_driver)],
                cwd=self.tmp, env={**self._app_env(), "RUST_BACKTRACE": "0"}, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + 20
        while True:
            if self.driver.poll() is not None:
                raise RuntimeError(f"tauri-driver exited ({self.driver.returncode}):\n{_tail(self.tmp / 'tauri-driver.log')}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("tauri-driver did not listen within 20 s")
                time.sleep(0.1)

    def _open_session(self) -> None:
        self.app_pid_file.unlink(missing_ok=True)
        caps = {"alwaysMatch": {"browserName": "wry", "tauri:options": {"application": str(self.wrapper)}}}
        deadline = time.monotonic() + 60
        while True:
            try:
                self.session = Session(f"http://127.0.0.1:{self.port}", caps, timeout=60)
                break
            except (WebDriverError, OSError) as e:
                # tauri-driver may still be starting WebKitWebDriver.
                if time.monotonic() > deadline:
                    raise RuntimeError(f"could not open a WebDriver session: {e}\n{self.log_tails()}")
                time.sleep(0.5)
        self.starts += 1

    def _close_session(self) -> None:
        if self.session is None:
            return
        try:
            self.session.delete()
        except (WebDriverError, OSError) as e:
            print(f"(ending the WebDriver session failed: {e})")
        self.session = None
        time.sleep(1.0)
        self._stop_app_process()

    def _app_pid(self) -> int | None:
        try:
            return int(self.app_pid_file.read_text().strip())
        except (OSError, ValueError, AttributeError):
            return None

    def _stop_app_process(self) -> None:
        """Waits for the app to exit after its session ended; SIGTERM if it lingers."""
        pid = self._app_pid()
        if pid is None:
            return
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            print(f"(the app, pid {pid}, outlived its session: SIGTERM)")
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 5
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        self.app_pid_file.unlink(missing_ok=True)

    def _terminate(self, proc: subprocess.Popen, name: str, group: bool) -> None:
        # SIGTERM (tauri-driver then stops WebKitWebDriver; SIGKILL would leave it running).
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                print(f"({name} ignored SIGTERM for 10 s: SIGKILL)")
                proc.kill()
                proc.wait(timeout=5)
        if group:
            # Whatever it started and left behind (its own process group).
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass

    # ---- diagnostics -----------------------------------------------------
    def log_tails(self, lines: int = 40) -> str:
        parts = []
        for name in ("seed.log", "xvfb.log", "tauri-driver.log", "app.log"):
            p = self.tmp / name
            if p.exists():
                parts.append(f"---- {name} (last {lines} lines) ----\n{_tail(p, lines)}")
        return "\n".join(parts)


# ---- a real SAM model ------------------------------------------------------
# MobileSAM, as `make real-model` (scripts/real-model) leaves it in the model cache.
REAL_MODEL = "mobile-sam"
REAL_FILES = ("mobile_sam.encoder.onnx", "sam_vit_h_4b8939.decoder.onnx")


def real_model_dir() -> Path | None:
    """MobileSAM's folder in the model cache, when both its files are there."""
    root = os.environ.get("ARGUS_MODEL_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "argus" / "models")
    d = Path(root) / REAL_MODEL
    return d if all((d / f).is_file() for f in REAL_FILES) else None


def link_real_model(data_dir: Path) -> bool:
    """Puts MobileSAM into the app's model folder (hard links, else copies), as
    scripts/run does; False when it is not in the model cache."""
    real = real_model_dir()
    if not real:
        return False
    dest = data_dir / "models" / REAL_MODEL
    dest.mkdir(parents=True, exist_ok=True)
    for f in REAL_FILES:
        if (dest / f).exists():
            continue
        try:
            os.link(real / f, dest / f)
        except OSError:
            shutil.copy(real / f, dest / f)
    return True
