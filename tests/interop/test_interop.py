"""The official Supabase clients, unchanged, against a running argus-server.

Each test gets a fresh database on the PostgreSQL cluster of $DATABASE_URL
(created with psql, dropped afterwards), runs `argus-server db setup` on it,
starts `argus-server serve` on a free loopback port with a random JWT secret and
auto-confirmed sign-ups, mints an anon key (HS256, the same secret), runs one
client scenario as a subprocess and finally stops the server with SIGTERM,
which must end it (exit status 0) within 10 s.

    test_supabase_js   supabase_js_scenario.mjs (npm @supabase/supabase-js)
    test_supabase_py   supabase_py_scenario.py  (PyPI supabase-auth)

and sign-in with an external provider (GoTrue's /authorize, /callback and the
pkce grant) against oidc_provider.mjs (npm oidc-provider, on loopback), driven
by a small cookie-keeping HTTP client that follows the redirects itself:

    test_oidc_pkce                            OpenID Connect discovery, PKCE
    test_oauth2_endpoints_without_discovery   plain OAuth 2.0 endpoints, implicit
    test_oauth_provider_not_enabled           /authorize refuses with 400

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
import contextlib
import hashlib
import hmac
import http.cookiejar
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message
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

    def __init__(self, test: unittest.TestCase, binary: Path, admin_url: str, extra_env: dict | None = None):
        self.test = test
        self.extra_env = dict(extra_env or {})
        self.binary = binary
        self.admin_url = admin_url
        self.dir = Path(tempfile.mkdtemp(prefix="argus-interop."))
        self.dbname = "argus_interop_" + secrets.token_hex(6)
        self.db_url = database_url_for(admin_url, self.dbname)
        alphabet = string.ascii_letters + string.digits
        self.jwt_secret = "".join(secrets.choice(alphabet) for _ in range(40))
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self.twin_of: "Server | None" = None
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
        env.update(self.extra_env)
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

    def twin(self) -> "Server":
        """A second server process on this server's database, with the same JWT secret."""
        other = Server(self.test, self.binary, self.admin_url, self.extra_env)
        other.dbname, other.db_url, other.jwt_secret, other.twin_of = self.dbname, self.db_url, self.jwt_secret, self
        return other

    def start(self) -> None:
        if self.twin_of is None:
            self.create_database()
        self.serve()

    def create_database(self) -> None:
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

    def serve(self) -> None:
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


# ---- an OpenID Connect provider on loopback (oidc_provider.mjs) -------------------------

ISSUER_LINE = re.compile(r"^issuer (http://127\.0\.0\.1:\d+)$", re.M)
OIDC_CLIENT_ID = "argus-interop"
OIDC_ACCOUNT = {"sub": "oidc-user-1", "email": "oidc.user@example.com", "name": "OIDC Test User"}
# Where the app waits for the end of a sign-in. Nothing listens there: the
# client reads the Location header instead of following that last hop.
SITE_URL = "http://127.0.0.1:1/app"
REDIRECT_HOPS = 20
# Loopback calls never go through a proxy from the environment.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """A loopback port that was free a moment ago (for a server whose own URL must be known before it starts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OidcProvider:
    """oidc_provider.mjs with one confidential client and one account; cleanup() stops it with SIGTERM."""

    def __init__(self, test: unittest.TestCase, node: str, redirect_uri: str):
        self.test = test
        self.node = node
        self.redirect_uri = redirect_uri
        self.client_secret = secrets.token_urlsafe(24)
        self.dir = Path(tempfile.mkdtemp(prefix="argus-oidc."))
        self.stdout = self.dir / "oidc.stdout.log"
        self.stderr = self.dir / "oidc.stderr.log"
        self.proc: subprocess.Popen | None = None
        self.issuer: str | None = None

    def logs(self) -> str:
        return (
            f"--- oidc provider stdout ({self.stdout}) ---\n{_tail(self.stdout)}\n"
            f"--- oidc provider stderr ({self.stderr}) ---\n{_tail(self.stderr)}"
        )

    def start(self) -> None:
        argv = [
            self.node,
            str(HERE / "oidc_provider.mjs"),
            "--client-id", OIDC_CLIENT_ID,
            "--client-secret", self.client_secret,
            "--redirect-uri", self.redirect_uri,
            "--sub", OIDC_ACCOUNT["sub"],
            "--email", OIDC_ACCOUNT["email"],
            "--name", OIDC_ACCOUNT["name"],
        ]
        with open(self.stdout, "wb") as out, open(self.stderr, "wb") as err:
            self.proc = subprocess.Popen(argv, cwd=HERE, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        deadline = time.monotonic() + LISTEN_TIMEOUT_S
        while time.monotonic() < deadline:
            m = ISSUER_LINE.search(self.stdout.read_text(errors="replace"))
            if m:
                self.issuer = m.group(1)
                return
            if self.proc.poll() is not None:
                self.test.fail(
                    f"oidc_provider.mjs exited {self.proc.returncode} before it printed its issuer\n{self.logs()}"
                )
            time.sleep(0.1)
        self.test.fail(
            f"oidc_provider.mjs printed no 'issuer http://127.0.0.1:PORT' line within {LISTEN_TIMEOUT_S} s\n{self.logs()}"
        )

    def discovery(self) -> dict:
        with DIRECT.open(f"{self.issuer}/.well-known/openid-configuration", timeout=30) as r:
            return json.load(r)

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=SHUTDOWN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        if os.environ.get("ARGUS_INTEROP_KEEP") == "1":
            print(f"kept: {self.dir} (oidc provider logs)", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---- a browser that keeps cookies and follows redirects by hand --------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx reaches the caller as an HTTPError, with its Location


class Browser:
    """GETs one URL after another, keeping cookies, until a Location starts with `stop_at`."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )
        self.hops: list[str] = []
        self.last_status: int | None = None

    def get(self, url: str) -> tuple[int, Message, bytes]:
        req = urllib.request.Request(url, headers={"Accept": "text/html,application/json"})
        try:
            with self.opener.open(req, timeout=30) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def follow(self, url: str, stop_at: str | tuple[str, ...]) -> str:
        """The first redirect target (absolute) that starts with `stop_at`; fails on any other answer."""
        for _ in range(REDIRECT_HOPS):
            status, headers, body = self.get(url)
            location = headers.get("Location")
            self.hops.append(f"GET {url} -> {status} {location or ''}")
            self.last_status = status
            if status not in (301, 302, 303, 307, 308) or not location:
                raise AssertionError(
                    f"expected a redirect from {url}, got {status}: {body[:500]!r}\n" + "\n".join(self.hops)
                )
            url = urllib.parse.urljoin(url, location)
            if url.startswith(stop_at):
                return url
        raise AssertionError(f"no redirect to {stop_at} within {REDIRECT_HOPS} hops\n" + "\n".join(self.hops))


def api(
    method: str, url: str, key: str, body: dict | None = None, bearer: str | None = None
) -> tuple[int, Message, dict]:
    """One GoTrue call the way supabase-js sends it; returns (status, headers, JSON body or {})."""
    headers = {
        "apikey": key,
        "Authorization": f"Bearer {bearer or key}",
        "X-Supabase-Api-Version": "2024-01-01",
        "Accept": "application/json",
    }
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json;charset=UTF-8"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with DIRECT.open(req, timeout=30) as r:
            status, hdrs, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {"_raw": raw.decode(errors="replace")}
    return status, hdrs, parsed


def pkce_pair() -> tuple[str, str]:
    """A code verifier (RFC 7636: 43 to 128 characters) and its S256 challenge."""
    verifier = _b64url(secrets.token_bytes(48))
    return verifier, _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


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

    def start_server(self, extra_env: dict | None = None) -> Server:
        server = Server(self, server_binary(), os.environ["DATABASE_URL"], extra_env)
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

    def test_two_processes_one_database(self):
        """Scale-out: two argus-server processes on different ports share one database.
        Both official-client scenarios pass at once, one on each; a token issued by one is
        refreshed by the other, and a rotated token replayed on the other ends the family."""
        missing = self.common_missing()
        node = shutil.which("node")
        if not node or not (HERE / "node_modules" / "@supabase" / "supabase-js" / "package.json").exists():
            missing.append("node and tests/interop/node_modules are needed (cd tests/interop && npm ci)")
        if importlib.util.find_spec("supabase_auth") is None:
            missing.append(f"supabase_auth is not importable by {sys.executable}")
        self.require(missing)
        env = {"GOTRUE_SECURITY_REFRESH_TOKEN_REUSE_INTERVAL": "0"}
        a = self.start_server(env)
        b = a.twin()
        self.addCleanup(b.cleanup)
        b.start()
        self.assertNotEqual(a.url, b.url)

        js = [node]
        probe = subprocess.run([node, "-e", "process.exit(typeof WebSocket === 'undefined' ? 1 : 0)"], timeout=60)
        if probe.returncode != 0:
            js.append("--experimental-websocket")
        js.append(str(HERE / "supabase_js_scenario.mjs"))
        procs = []
        for server, argv in ((a, js), (b, [sys.executable, str(HERE / "supabase_py_scenario.py")])):
            e = dict(os.environ, ARGUS_URL=server.url, ARGUS_ANON_KEY=anon_key(server.jwt_secret))
            procs.append(subprocess.Popen(argv, cwd=HERE, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        for p in procs:
            out, _ = p.communicate(timeout=SCENARIO_TIMEOUT_S)
            self.assertEqual(p.returncode, 0, f"a scenario failed while both servers ran:\n{out}\n{a.logs()}\n{b.logs()}")

        key = anon_key(a.jwt_secret)
        st, _, s0 = api("POST", f"{a.url}/auth/v1/signup", key, {"email": "twin@example.com", "password": "secret-1"})
        self.assertEqual(st, 200, s0)
        t0 = s0["refresh_token"]
        st, _, s1 = api("POST", f"{b.url}/auth/v1/token?grant_type=refresh_token", key, {"refresh_token": t0})
        self.assertEqual(st, 200, f"B refreshes A's token: {s1}")
        st, _, u = api("GET", f"{a.url}/auth/v1/user", key, bearer=s1["access_token"])
        self.assertEqual((st, u.get("email")), (200, "twin@example.com"), u)
        st, _, s2 = api("POST", f"{a.url}/auth/v1/token?grant_type=refresh_token", key, {"refresh_token": s1["refresh_token"]})
        self.assertEqual(st, 200, s2)
        st, _, err = api("POST", f"{b.url}/auth/v1/token?grant_type=refresh_token", key, {"refresh_token": t0})
        self.assertEqual((st, err.get("code")), (400, "refresh_token_already_used"), err)
        st, _, err = api("POST", f"{a.url}/auth/v1/token?grant_type=refresh_token", key, {"refresh_token": s2["refresh_token"]})
        self.assertEqual(st, 400, f"A still refreshes the revoked family: {err}")
        b.stop()
        a.stop()

    # ---- sign-in with an external provider (oidc_provider.mjs) ------------------------

    def oidc_missing(self) -> tuple[list[str], str | None]:
        missing = self.common_missing()
        node = shutil.which("node")
        if not node:
            missing.append("node is not installed (Node.js 20+)")
        if not (HERE / "node_modules" / "oidc-provider" / "package.json").exists():
            missing.append("tests/interop/node_modules has no oidc-provider (cd tests/interop && npm ci)")
        return missing, node

    def start_provider_and_server(self, node: str, provider_env) -> tuple[OidcProvider, Server]:
        """The provider first (its client must know the server's callback URL), then the server on a port picked
        beforehand; `provider_env(op)` gives the server's GOTRUE_EXTERNAL_* variables."""
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        op = OidcProvider(self, node, f"{base}/auth/v1/callback")
        self.addCleanup(op.cleanup)
        op.start()
        env = {
            "ARGUS_LISTEN": f"127.0.0.1:{port}",
            "API_EXTERNAL_URL": base,
            "GOTRUE_SITE_URL": SITE_URL,
        }
        env.update(provider_env(op))
        server = self.start_server(env)
        self.assertEqual(server.url, base, "the server did not listen on the port it was given")
        return op, server

    @contextlib.contextmanager
    def diagnostics(self, *procs):
        """Adds the server's and the provider's logs to a failed assertion."""
        try:
            yield
        except AssertionError as e:
            raise AssertionError(f"{e}\n" + "\n".join(p.logs() for p in procs)) from None

    def sign_in(self, server: Server, provider: str, redirect_to: str, authorization_endpoint: str,
                code_challenge: str | None = None) -> str:
        """GET /authorize, then through the provider's login and consent and back through /callback; returns the
        URL the server finally sends the browser to (not followed)."""
        q = {"provider": provider, "redirect_to": redirect_to}
        if code_challenge:
            q.update(code_challenge=code_challenge, code_challenge_method="s256")
        browser = Browser()
        status, headers, body = browser.get(f"{server.url}/auth/v1/authorize?" + urllib.parse.urlencode(q))
        location = headers.get("Location") or ""
        self.assertEqual(status, 302, f"/authorize answered {status}: {body[:500]!r}")
        self.assertTrue(location.startswith(authorization_endpoint + "?"), f"/authorize sent the browser to {location}")
        sent = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
        self.assertEqual(sent.get("client_id"), OIDC_CLIENT_ID, sent)
        self.assertEqual(sent.get("redirect_uri"), f"{server.url}/auth/v1/callback", sent)
        self.assertEqual(sent.get("response_type"), "code", sent)
        self.assertIn("openid", sent.get("scope", "").split(), sent)
        self.assertTrue(sent.get("state") and sent.get("nonce"), sent)
        self.assertNotIn("code_challenge", sent, "the app's code challenge must not reach the provider")
        final = browser.follow(location, stop_at=(SITE_URL, redirect_to))
        self.assertEqual(browser.last_status, 302, "/callback answers with 302 Found\n" + "\n".join(browser.hops))
        self.assertNotIn("error", urllib.parse.parse_qs(urllib.parse.urlsplit(final).fragment),
                         f"the sign-in ended with an error: {final}\n" + "\n".join(browser.hops))
        return final

    def test_oidc_pkce(self):
        missing, node = self.oidc_missing()
        self.require(missing)
        op, server = self.start_provider_and_server(node, lambda op: {
            "GOTRUE_EXTERNAL_OIDC_ENABLED": "true",
            "GOTRUE_EXTERNAL_OIDC_CLIENT_ID": OIDC_CLIENT_ID,
            "GOTRUE_EXTERNAL_OIDC_SECRET": op.client_secret,
            "GOTRUE_EXTERNAL_OIDC_URL": op.issuer,
        })
        key = anon_key(server.jwt_secret)
        token_url = f"{server.url}/auth/v1/token?grant_type=pkce"
        app = SITE_URL + "/done"
        with self.diagnostics(server, op):
            authorization_endpoint = op.discovery()["authorization_endpoint"]
            status, _, settings = api("GET", f"{server.url}/auth/v1/settings", key)
            self.assertEqual((status, settings.get("external", {}).get("oidc")), (200, True), settings)

            verifier, challenge = pkce_pair()
            final = self.sign_in(server, "oidc", app, authorization_endpoint, challenge)
            parts = urllib.parse.urlsplit(final)
            self.assertTrue(final.startswith(app + "?"), final)
            code = dict(urllib.parse.parse_qsl(parts.query)).get("code")
            self.assertTrue(code, f"no code on the app's redirect: {final}")
            self.assertNotIn("access_token", parts.fragment, "a PKCE sign-in must not put tokens in the URL")

            wrong, _ = pkce_pair()
            status, headers, body = api("POST", token_url, key, {"auth_code": code, "code_verifier": wrong})
            self.assertEqual((status, body.get("code")), (400, "bad_code_verifier"), body)
            self.assertEqual(headers.get("x-sb-error-code"), "bad_code_verifier")

            status, _, session = api("POST", token_url, key, {"auth_code": code, "code_verifier": verifier})
            self.assertEqual(status, 200, session)
            for k in ("access_token", "refresh_token", "expires_in", "expires_at", "provider_token"):
                self.assertTrue(session.get(k), f"the session has no {k}: {session}")
            self.assertEqual(session["token_type"], "bearer")
            user = session["user"]
            self.assertEqual(user["email"], OIDC_ACCOUNT["email"])
            self.assertTrue(user.get("email_confirmed_at"), "the provider verified the address, so it is confirmed")
            self.assertEqual(user["app_metadata"].get("provider"), "oidc", user["app_metadata"])
            self.assertIn("oidc", user["app_metadata"].get("providers", []), user["app_metadata"])
            self.assertEqual(user["user_metadata"].get("full_name"), OIDC_ACCOUNT["name"], user["user_metadata"])
            identities = [i for i in user.get("identities") or [] if i.get("provider") == "oidc"]
            self.assertEqual(len(identities), 1, user.get("identities"))
            self.assertEqual(identities[0]["id"], OIDC_ACCOUNT["sub"], identities[0])
            self.assertEqual(identities[0]["identity_data"].get("sub"), OIDC_ACCOUNT["sub"], identities[0])
            self.assertEqual(identities[0]["identity_data"].get("email"), OIDC_ACCOUNT["email"], identities[0])

            status, _, body = api("POST", token_url, key, {"auth_code": code, "code_verifier": verifier})
            self.assertEqual((status, body.get("code")), (404, "flow_state_not_found"), "a code works once")

            status, _, me = api("GET", f"{server.url}/auth/v1/user", key, bearer=session["access_token"])
            self.assertEqual(status, 200, me)
            self.assertEqual((me["id"], me["email"]), (user["id"], OIDC_ACCOUNT["email"]))

            # The same account again: the same user, still one identity.
            verifier, challenge = pkce_pair()
            final = self.sign_in(server, "oidc", app, authorization_endpoint, challenge)
            code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(final).query)).get("code")
            status, _, again = api("POST", token_url, key, {"auth_code": code, "code_verifier": verifier})
            self.assertEqual(status, 200, again)
            self.assertEqual(again["user"]["id"], user["id"], "a second sign-in made another user")
            self.assertEqual(len([i for i in again["user"]["identities"] if i["provider"] == "oidc"]), 1)
            self.assertNotEqual(again["access_token"], session["access_token"])
        server.stop()

    def test_oauth2_endpoints_without_discovery(self):
        missing, node = self.oidc_missing()
        self.require(missing)
        allowed = "http://127.0.0.1:2/callback"
        endpoints: dict = {}

        def provider_env(op: OidcProvider) -> dict:
            endpoints.update(op.discovery())
            return {
                "GOTRUE_EXTERNAL_CORP_ENABLED": "true",
                "GOTRUE_EXTERNAL_CORP_CLIENT_ID": OIDC_CLIENT_ID,
                "GOTRUE_EXTERNAL_CORP_SECRET": op.client_secret,
                "GOTRUE_EXTERNAL_CORP_AUTHORIZE_URL": endpoints["authorization_endpoint"],
                "GOTRUE_EXTERNAL_CORP_TOKEN_URL": endpoints["token_endpoint"],
                "GOTRUE_EXTERNAL_CORP_USERINFO_URL": endpoints["userinfo_endpoint"],
                "GOTRUE_URI_ALLOW_LIST": "http://127.0.0.1:2/**",
            }

        op, server = self.start_provider_and_server(node, provider_env)
        key = anon_key(server.jwt_secret)
        with self.diagnostics(server, op):
            # No code challenge: the implicit flow, the session in the fragment.
            final = self.sign_in(server, "corp", SITE_URL + "/done", endpoints["authorization_endpoint"])
            parts = urllib.parse.urlsplit(final)
            self.assertTrue(final.startswith(SITE_URL + "/done#"), final)
            self.assertNotIn("code", dict(urllib.parse.parse_qsl(parts.query)), final)
            frag = dict(urllib.parse.parse_qsl(parts.fragment))
            for k in ("access_token", "refresh_token", "expires_in", "expires_at", "provider_token"):
                self.assertTrue(frag.get(k), f"the fragment has no {k}: {final}")
            self.assertEqual(frag.get("token_type"), "bearer", final)

            status, _, me = api("GET", f"{server.url}/auth/v1/user", key, bearer=frag["access_token"])
            self.assertEqual(status, 200, me)
            self.assertEqual(me["email"], OIDC_ACCOUNT["email"])
            self.assertEqual(me["app_metadata"].get("provider"), "corp", me["app_metadata"])
            self.assertEqual([i["id"] for i in me["identities"] if i["provider"] == "corp"], [OIDC_ACCOUNT["sub"]])

            refresh_url = f"{server.url}/auth/v1/token?grant_type=refresh_token"
            status, _, refreshed = api("POST", refresh_url, key, {"refresh_token": frag["refresh_token"]})
            self.assertEqual(status, 200, refreshed)
            self.assertNotEqual(refreshed["refresh_token"], frag["refresh_token"])

            # redirect_to on GOTRUE_URI_ALLOW_LIST is honoured; one that is not falls back to the site URL.
            final = self.sign_in(server, "corp", allowed, endpoints["authorization_endpoint"])
            self.assertTrue(final.startswith(allowed + "#access_token="), final)
            final = self.sign_in(server, "corp", "http://evil.example/callback", endpoints["authorization_endpoint"])
            self.assertTrue(final.startswith(SITE_URL + "#access_token="), final)
        server.stop()

    def test_oauth_provider_not_enabled(self):
        self.require(self.common_missing())
        server = self.start_server(
            {
                "GOTRUE_SITE_URL": SITE_URL,
                "GOTRUE_EXTERNAL_OFF_ENABLED": "false",
                "GOTRUE_EXTERNAL_OFF_CLIENT_ID": OIDC_CLIENT_ID,
                "GOTRUE_EXTERNAL_OFF_SECRET": "secret",
                "GOTRUE_EXTERNAL_OFF_URL": "http://127.0.0.1:1",
            }
        )
        key = anon_key(server.jwt_secret)
        with self.diagnostics(server):
            # Configured but disabled, never configured, and none named.
            for provider in ("off", "github", ""):
                url = f"{server.url}/auth/v1/authorize?" + urllib.parse.urlencode(
                    {"provider": provider, "redirect_to": SITE_URL}
                )
                status, headers, body = api("GET", url, key)
                self.assertEqual((status, body.get("code")), (400, "validation_failed"), f"{provider=}: {body}")
                self.assertIsNone(headers.get("Location"), f"{provider=}")
            status, _, settings = api("GET", f"{server.url}/auth/v1/settings", key)
            self.assertEqual((status, settings.get("external", {}).get("off")), (200, False), settings)
        server.stop()


if __name__ == "__main__":
    unittest.main()
