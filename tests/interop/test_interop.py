"""The official Supabase clients, unchanged, against a running argus-server.

Each test gets a fresh database on the PostgreSQL cluster of $DATABASE_URL
(created with psql, dropped afterwards), runs `argus-server db setup` on it,
starts `argus-server serve` on a free loopback port with a random JWT secret and
auto-confirmed sign-ups, mints an anon key (HS256, the same secret), runs one
client scenario as a subprocess and finally stops the server with SIGTERM,
which must end it (exit status 0) within 10 s.

    test_supabase_js   supabase_js_scenario.mjs (npm @supabase/supabase-js)
    test_supabase_py   supabase_py_scenario.py  (PyPI supabase-auth)

Run (scripts/test does this after the Rust tests):

    cargo build -p argus-server --bin argus-server
    (cd tests/interop && npm ci)
    scripts/with-postgres "$ARGUS_PYTHON" -m unittest discover -s tests/interop -v

The server binary is $ARGUS_SERVER_BIN, else $CARGO_TARGET_DIR/debug/argus-server
(CARGO_TARGET_DIR defaulting to ~/.cache/argus-dev/target as in the Makefile).
A missing prerequisite (DATABASE_URL, psql, the binary, node or tests/interop/
node_modules, an importable supabase_auth) skips the test with the reason;
with CI=true it fails instead. ARGUS_INTEROP_KEEP=1 keeps the temporary
directory (server logs) and the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

LISTEN_TIMEOUT_S = 60
SHUTDOWN_TIMEOUT_S = 10
SCENARIO_TIMEOUT_S = 180
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


# ---- where things are ----------------------------------------------------------


def _cache() -> Path:
    c = os.environ.get("ARGUS_DEV_CACHE")
    if c:
        return Path(c)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "argus-dev"


def server_binary() -> Path:
    explicit = os.environ.get("ARGUS_SERVER_BIN")
    if explicit:
        return Path(explicit)
    target = Path(os.environ.get("CARGO_TARGET_DIR") or _cache() / "target")
    return target / "debug" / "argus-server"


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty)"


# ---- the anon key ----------------------------------------------------------------


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def mint_hs256(claims: dict, secret: str) -> str:
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    sig = hmac.new(secret.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + _b64url(sig)


def anon_key(secret: str) -> str:
    now = int(time.time())
    return mint_hs256({"role": "anon", "iss": "supabase", "iat": now, "exp": now + 3600}, secret)


# ---- one database and one server per test -----------------------------------------


def database_url_for(base_url: str, dbname: str) -> str:
    u = urllib.parse.urlsplit(base_url)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + dbname, u.query, u.fragment))


class Server:
    """argus-server on a fresh database; stop() sends SIGTERM and waits."""

    def __init__(self, test: unittest.TestCase, binary: Path, admin_url: str):
        self.test = test
        self.binary = binary
        self.admin_url = admin_url
        self.dir = Path(tempfile.mkdtemp(prefix="argus-interop."))
        self.dbname = "argus_interop_" + secrets.token_hex(6)
        self.db_url = database_url_for(admin_url, self.dbname)
        alphabet = string.ascii_letters + string.digits
        self.jwt_secret = "".join(secrets.choice(alphabet) for _ in range(40))
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self.stdout = self.dir / "server.stdout.log"
        self.stderr = self.dir / "server.stderr.log"
        self.created_db = False

    def env(self) -> dict:
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": self.db_url,
                "GOTRUE_JWT_SECRET": self.jwt_secret,
                "GOTRUE_MAILER_AUTOCONFIRM": "true",
                "ARGUS_LISTEN": "127.0.0.1:0",
                "RUST_BACKTRACE": "1",
            }
        )
        return env

    def psql(self, sql: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["psql", self.admin_url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def logs(self) -> str:
        return (
            f"--- server stdout ({self.stdout}) ---\n{_tail(self.stdout)}\n"
            f"--- server stderr ({self.stderr}) ---\n{_tail(self.stderr)}"
        )

    def start(self) -> None:
        r = self.psql(f"create database {self.dbname}")
        if r.returncode != 0:
            self.test.fail(f"psql could not create database {self.dbname}: {r.stderr.strip()}")
        self.created_db = True

        setup = subprocess.run(
            [str(self.binary), "db", "setup"], env=self.env(), capture_output=True, text=True, timeout=180
        )
        if setup.returncode != 0:
            self.test.fail(
                f"`argus-server db setup` exited {setup.returncode}\n"
                f"--- stdout ---\n{setup.stdout}\n--- stderr ---\n{setup.stderr}"
            )

        with open(self.stdout, "wb") as out, open(self.stderr, "wb") as err:
            self.proc = subprocess.Popen(
                [str(self.binary), "serve"],
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=self.dir,
            )
        deadline = time.monotonic() + LISTEN_TIMEOUT_S
        while time.monotonic() < deadline:
            m = LISTENING.search(self.stdout.read_text(errors="replace"))
            if m:
                self.url = m.group(1)
                return
            if self.proc.poll() is not None:
                self.test.fail(
                    f"`argus-server serve` exited {self.proc.returncode} before it printed "
                    f"'listening on http://127.0.0.1:PORT'\n{self.logs()}"
                )
            time.sleep(0.1)
        self.test.fail(f"`argus-server serve` printed no 'listening on ...' line within {LISTEN_TIMEOUT_S} s\n{self.logs()}")

    def stop(self) -> None:
        """SIGTERM; the server must exit with status 0 within SHUTDOWN_TIMEOUT_S."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.test.fail(f"argus-server did not exit within {SHUTDOWN_TIMEOUT_S} s of SIGTERM\n{self.logs()}")
        if rc != 0:
            how = "died of the signal itself (no SIGTERM handler)" if rc == -signal.SIGTERM else f"exited {rc}"
            self.test.fail(f"on SIGTERM argus-server {how}; expected a graceful exit with status 0\n{self.logs()}")

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        keep = os.environ.get("ARGUS_INTEROP_KEEP") == "1"
        if self.created_db and not keep:
            r = self.psql(f"drop database if exists {self.dbname} with (force)")
            if r.returncode != 0:
                print(f"warning: could not drop database {self.dbname}: {r.stderr.strip()}", file=sys.stderr)
        if keep:
            print(f"kept: {self.dir} (logs) and database {self.db_url}", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---- the tests ------------------------------------------------------------------------


class InteropTest(unittest.TestCase):
    maxDiff = None

    def require(self, missing: list[str]) -> None:
        """Skips the test when something is missing; under CI=true that is a failure."""
        if not missing:
            return
        reason = "; ".join(missing)
        if os.environ.get("CI") == "true":
            print(f"missing prerequisite (CI=true, so this fails instead of skipping): {reason}", file=sys.stderr)
            self.fail(f"missing prerequisite (CI=true forbids skipping): {reason}")
        self.skipTest(reason)

    def common_missing(self) -> list[str]:
        out = []
        if not os.environ.get("DATABASE_URL"):
            out.append("DATABASE_URL is not set (run under scripts/with-postgres)")
        elif not re.match(r"postgres(ql)?://", os.environ["DATABASE_URL"]):
            out.append("DATABASE_URL is not a postgres:// URL")
        if not shutil.which("psql"):
            out.append("psql is not installed (apt-get install postgresql-client)")
        binary = server_binary()
        if not os.access(binary, os.X_OK):
            out.append(f"the server binary {binary} is not built (cargo build -p argus-server --bin argus-server)")
        return out

    def start_server(self) -> Server:
        server = Server(self, server_binary(), os.environ["DATABASE_URL"])
        self.addCleanup(server.cleanup)
        server.start()
        return server

    def run_scenario(self, server: Server, argv: list[str], name: str) -> None:
        env = dict(os.environ)
        env["ARGUS_URL"] = server.url
        env["ARGUS_ANON_KEY"] = anon_key(server.jwt_secret)
        try:
            r = subprocess.run(argv, cwd=HERE, env=env, capture_output=True, text=True, timeout=SCENARIO_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            self.fail(f"{name} did not finish within {SCENARIO_TIMEOUT_S} s\n{out}\n{server.logs()}")
        print(f"\n{r.stdout}", end="", flush=True)
        if r.returncode != 0:
            self.fail(
                f"{name} exited {r.returncode}\n--- its stdout ---\n{r.stdout}\n--- its stderr ---\n{r.stderr}\n{server.logs()}"
            )

    def test_supabase_js(self):
        missing = self.common_missing()
        node = shutil.which("node")
        if not node:
            missing.append("node is not installed (Node.js 20+)")
        if not (HERE / "node_modules" / "@supabase" / "supabase-js" / "package.json").exists():
            missing.append("tests/interop/node_modules is not installed (cd tests/interop && npm ci)")
        self.require(missing)

        argv = [node]
        # Node 20 has a global WebSocket (which supabase-js's realtime part insists on) only behind a flag.
        probe = subprocess.run([node, "-e", "process.exit(typeof WebSocket === 'undefined' ? 1 : 0)"], timeout=60)
        if probe.returncode != 0:
            argv.append("--experimental-websocket")
        argv.append(str(HERE / "supabase_js_scenario.mjs"))

        server = self.start_server()
        self.run_scenario(server, argv, "supabase_js_scenario.mjs")
        server.stop()

    def test_supabase_py(self):
        missing = self.common_missing()
        if importlib.util.find_spec("supabase_auth") is None:
            missing.append(
                f"supabase_auth is not importable by {sys.executable} "
                "(pip install -r scripts/requirements-dev.txt, or run with ARGUS_PYTHON)"
            )
        self.require(missing)

        server = self.start_server()
        self.run_scenario(server, [sys.executable, str(HERE / "supabase_py_scenario.py")], "supabase_py_scenario.py")
        server.stop()


if __name__ == "__main__":
    unittest.main()
