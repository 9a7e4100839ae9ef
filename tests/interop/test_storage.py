"""argus-server's presigned uploads against three independent S3-compatible
stores, checked with boto3 as an independent client:

- the embedded store (s3s + s3s-fs, what --dev runs; verifies SigV4 and expiry),
- moto's server mode (PyPI; does NOT verify signatures or expiry: interop only),
- ministack (PyPI; verifies SigV4).

For each: a single presigned PUT and a multipart upload made by argus-server are
accepted by the store (boto3 reads back the same bytes, and the server-side
encryption asked for where the store supports it); a presigned GET with Range
works. Against the stores that verify signatures: a URL used for another key or
another method, and an expired URL, are refused.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path

import test_interop as ti

ACCESS, SECRET = "test", "test"  # ministack accepts only test/test
TTL_S = 3


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, bytes]:
    headers = dict(headers or {})
    if body is not None and not any(k.lower() == "content-type" for k in headers):
        # urllib would send application/x-www-form-urlencoded, which moto's
        # server then tries to parse as a form, and hangs
        headers["Content-Type"] = "application/octet-stream"
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with ti.DIRECT.open(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class Store:
    """An S3-compatible server on a loopback port with a bucket `argus`."""

    def __init__(self, test: unittest.TestCase, kind: str):
        self.test, self.kind = test, kind
        self.dir = Path(tempfile.mkdtemp(prefix=f"argus-s3-{kind}."))
        self.proc = None
        self.endpoint = None

    def start(self):
        port = ti.free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        bin_dir = Path(sys.executable).parent
        log = open(self.dir / "store.log", "wb")
        if self.kind == "moto":
            argv = [str(bin_dir / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
            env = dict(os.environ)
        else:
            argv = [str(bin_dir / "ministack")]
            env = dict(os.environ, BIND_HOST="127.0.0.1", GATEWAY_PORT=str(port), S3_PERSIST="1", S3_DATA_DIR=str(self.dir / "data"))
        self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.dir)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.client().create_bucket(Bucket="argus")
                return
            except Exception as e:  # noqa: BLE001 - the server is still starting
                last = e
                if self.proc.poll() is not None:
                    break
                time.sleep(0.3)
        self.test.fail(f"{self.kind} did not start: {last}\n{(self.dir / 'store.log').read_text(errors='replace')[-3000:]}")

    def client(self):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
                            region_name="us-east-1", config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class StorageTest(unittest.TestCase):
    require = ti.InteropTest.require
    common_missing = ti.InteropTest.common_missing
    start_server = ti.InteropTest.start_server

    def missing_boto(self, extra: str | None = None) -> list[str]:
        missing = self.common_missing()
        if importlib.util.find_spec("boto3") is None:
            missing.append(f"boto3 is not importable by {sys.executable} (pip install -r scripts/requirements-dev.txt)")
        if extra and not (Path(sys.executable).parent / extra).exists():
            missing.append(f"{extra} is not installed next to {sys.executable} (pip install -r scripts/requirements-dev.txt)")
        return missing

    def flow(self, server, client, verifies_signatures: bool, sse: bool):
        anon = ti.anon_key(server.jwt_secret)
        api = lambda m, p, b=None, t=None: ti.api(m, f"{server.url}{p}", anon, b, t)  # noqa: E731
        st, _, sess = api("POST", "/auth/v1/signup", {"email": "s3@example.com", "password": "secret-1"})
        self.assertEqual(st, 200, sess)
        tok = sess["access_token"]
        _, _, team = api("POST", "/api/v1/teams", {"name": "T"}, tok)
        _, _, project = api("POST", f"/api/v1/teams/{team['id']}/projects", {"name": "P"}, tok)

        # a single presigned PUT
        small = os.urandom(100_000)
        st, _, up = api("POST", f"/api/v1/projects/{project['id']}/videos",
                        {"name": "small.mp4", "size_bytes": len(small), "sha256": hashlib.sha256(small).hexdigest(), "content_type": "video/mp4"}, tok)
        self.assertEqual((st, up["upload"]["kind"]), (201, "single"), up)
        put = up["upload"]["put"]
        st, _, body = http("PUT", put["url"], small, put["headers"])
        self.assertIn(st, (200, 204), body)
        st, _, v = api("POST", f"/api/v1/videos/{up['video']['id']}/upload/complete", {}, tok)
        self.assertEqual((st, v.get("status")), (200, "processing"), v)
        objs = client.list_objects_v2(Bucket="argus").get("Contents", [])
        key = next(o["Key"] for o in objs if o["Key"].endswith("/original"))
        self.assertTrue(key.startswith(f"teams/{team['id'].replace('-', '')}/projects/"), key)
        got = client.get_object(Bucket="argus", Key=key)
        self.assertEqual(got["Body"].read(), small, "boto3 read back other bytes")
        if sse:
            self.assertEqual(client.head_object(Bucket="argus", Key=key).get("ServerSideEncryption"), "AES256")

        # a multipart upload
        big = os.urandom(17 * 1024 * 1024 + 5)
        st, _, up2 = api("POST", f"/api/v1/projects/{project['id']}/videos",
                         {"name": "big.mp4", "size_bytes": len(big), "sha256": hashlib.sha256(big).hexdigest(), "content_type": "video/mp4"}, tok)
        self.assertEqual(st, 201, up2)
        self.assertEqual(up2["upload"]["kind"], "multipart", up2)
        ps, n = up2["upload"]["part_size"], up2["upload"]["part_count"]
        vid = up2["video"]["id"]
        st, _, urls = api("POST", f"/api/v1/videos/{vid}/upload/parts", {"numbers": list(range(1, n + 1))}, tok)
        self.assertEqual(st, 200, urls)
        parts = []
        for u in urls:
            i = u["number"]
            st, hdrs, body = http("PUT", u["url"], big[(i - 1) * ps:i * ps], u["headers"])
            self.assertIn(st, (200, 204), body)
            parts.append({"number": i, "etag": {k.lower(): v for k, v in hdrs.items()}["etag"]})
        st, _, v = api("POST", f"/api/v1/videos/{vid}/upload/complete", {"parts": parts}, tok)
        self.assertEqual((st, v.get("status")), (200, "processing"), v)
        big_key = next(o["Key"] for o in client.list_objects_v2(Bucket="argus")["Contents"] if vid.replace("-", "") in o["Key"])
        self.assertEqual(hashlib.sha256(client.get_object(Bucket="argus", Key=big_key)["Body"].read()).hexdigest(),
                         hashlib.sha256(big).hexdigest(), "the multipart object differs")

        # a presigned GET with Range
        st, _, dl = api("GET", f"/api/v1/videos/{vid}/download", None, tok)
        self.assertEqual(st, 200, dl)
        st, _, body = http("GET", dl["url"], headers={"Range": "bytes=100-199"})
        self.assertEqual((st, body), (206, big[100:200]))

        if verifies_signatures:
            other = dl["url"].replace("/original?", "/poster.png?")
            st, _, _ = http("GET", other)
            self.assertEqual(st, 403, "a URL used for another key was accepted")
            st, _, _ = http("PUT", dl["url"], b"overwrite")
            self.assertIn(st, (403, 405), "a GET URL used to PUT was accepted")
            time.sleep(TTL_S + 1.5)
            st, _, _ = http("GET", dl["url"])
            self.assertIn(st, (400, 403), f"an expired URL answered {st}")
        server.stop()

    def test_embedded_store(self):
        self.require(self.missing_boto())
        scratch = Path(tempfile.mkdtemp(prefix="argus-embedded."))
        self.addCleanup(shutil.rmtree, scratch, True)
        server = self.start_server({"ARGUS_S3_EMBEDDED_DIR": str(scratch), "ARGUS_S3_PRESIGN_TTL": str(TTL_S)})
        import boto3
        from botocore.config import Config
        endpoint = next(line.split()[2] for line in server.stdout.read_text().splitlines() if "object store:" in line)
        secret = (scratch / "s3" / "jwt-secret").read_text().strip()
        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="argus-dev", aws_secret_access_key=secret,
                              region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
        self.flow(server, client, verifies_signatures=True, sse=False)

    def store_test(self, kind: str, verifies: bool, sse: bool):
        self.require(self.missing_boto("moto_server" if kind == "moto" else "ministack"))
        store = Store(self, kind)
        self.addCleanup(store.cleanup)
        store.start()
        server = self.start_server({
            "ARGUS_S3_ENDPOINT": store.endpoint, "ARGUS_S3_BUCKET": "argus", "ARGUS_S3_ACCESS_KEY_ID": ACCESS,
            "ARGUS_S3_SECRET_ACCESS_KEY": SECRET, "ARGUS_S3_SSE": "true" if sse else "false", "ARGUS_S3_PRESIGN_TTL": str(TTL_S),
        })
        try:
            self.flow(server, store.client(), verifies_signatures=verifies, sse=sse)
        except AssertionError as e:
            log = (store.dir / "store.log").read_text(errors="replace")[-4000:]
            raise AssertionError(f"{e}\n--- {kind} log ---\n{log}\n{server.logs()}") from None

    def test_moto_server(self):
        self.store_test("moto", verifies=False, sse=True)

    def test_ministack(self):
        self.store_test("ministack", verifies=True, sse=False)


if __name__ == "__main__":
    unittest.main()
