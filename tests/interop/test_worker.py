"""Video processing end to end: argus-server with its embedded object store,
uploads through presigned URLs, and argus-worker processes taking the jobs.

- A real video (made by the ffmpeg CLI) ends `ready` with what the probe found.
- A non-video upload and an upload whose bytes do not match the announced
  sha256 end `failed` with a reason, never a stuck job.
- Two worker processes on one queue: every job is done once.
- A worker that dies holding a job: its lease runs out and the job is retried.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
from pathlib import Path

import test_interop as ti

WORKER_LEASE_S = 10


def worker_binary() -> Path:
    env = os.environ.get("ARGUS_WORKER_BIN")
    if env:
        return Path(env)
    return ti.server_binary().with_name("argus-worker")


def presigned(p: dict, body: bytes) -> int:
    req = urllib.request.Request(p["url"], data=body, method=p["method"], headers=p.get("headers") or {})
    with ti.DIRECT.open(req, timeout=60) as r:
        return r.status


class WorkerTest(unittest.TestCase):
    # the interop harness's helpers, without inheriting its tests
    require = ti.InteropTest.require
    common_missing = ti.InteropTest.common_missing
    start_server = ti.InteropTest.start_server

    def test_uploads_are_processed_by_two_workers(self):
        missing = self.common_missing()
        if not os.access(worker_binary(), os.X_OK):
            missing.append(f"the worker binary {worker_binary()} is not built (cargo build -p argus-worker)")
        if not shutil.which("ffmpeg"):
            missing.append("the ffmpeg CLI is not installed (apt-get install ffmpeg)")
        self.require(missing)
        scratch = Path(tempfile.mkdtemp(prefix="argus-worker-test."))
        self.addCleanup(shutil.rmtree, scratch, True)
        server = self.start_server({"ARGUS_S3_EMBEDDED_DIR": str(scratch / "store")})
        anon = ti.anon_key(server.jwt_secret)
        service = ti.mint_hs256({"role": "service_role", "iss": "argus", "iat": int(time.time()), "exp": int(time.time()) + 3600}, server.jwt_secret)
        api = lambda method, path, body=None, bearer=None: ti.api(method, f"{server.url}{path}", anon, body, bearer)  # noqa: E731

        st, _, sess = api("POST", "/auth/v1/signup", {"email": "lead@example.com", "password": "secret-1"})
        self.assertEqual(st, 200, sess)
        tok = sess["access_token"]
        st, _, team = api("POST", "/api/v1/teams", {"name": "Vision"}, tok)
        self.assertEqual(st, 201, team)
        st, _, project = api("POST", f"/api/v1/teams/{team['id']}/projects", {"name": "Street"}, tok)
        self.assertEqual(st, 201, project)

        video = scratch / "clip.mp4"
        r = subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "30",
                            "-pix_fmt", "yuv420p", "-g", "10", "-y", str(video)], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        good = video.read_bytes()
        uploads = {
            "good": (good, hashlib.sha256(good).hexdigest()),
            "not-a-video": (os.urandom(4096), None),
            "wrong-sha": (good, hashlib.sha256(b"something else").hexdigest()),
        }
        ids = {}
        for name, (data, sha) in uploads.items():
            sha = sha or hashlib.sha256(data).hexdigest()
            st, _, up = api("POST", f"/api/v1/projects/{project['id']}/videos",
                            {"name": f"{name}.mp4", "size_bytes": len(data), "sha256": sha, "content_type": "video/mp4"}, tok)
            self.assertEqual(st, 201, up)
            self.assertIn(presigned(up["upload"]["put"], data), (200, 204))
            st, _, v = api("POST", f"/api/v1/videos/{up['video']['id']}/upload/complete", {}, tok)
            self.assertEqual((st, v.get("status")), (200, "processing"), v)
            ids[name] = up["video"]["id"]

        # A worker that dies holding the good video's job: claim it and walk away.
        st, _, claimed = api("POST", "/api/v1/worker/jobs/claim", {"worker": "dead-worker", "lease_seconds": WORKER_LEASE_S}, service)
        self.assertEqual(st, 200, claimed)
        dead_job = claimed["job"]["id"]

        env = dict(os.environ, ARGUS_SERVER_URL=server.url, ARGUS_SERVICE_KEY=service, ARGUS_WORKER_SCRATCH=str(scratch / "work"))
        logs = [scratch / f"worker{i}.log" for i in range(2)]
        workers = []
        for log in logs:
            with open(log, "wb") as out:
                workers.append(subprocess.Popen([str(worker_binary()), "--poll", "1", "--lease", str(WORKER_LEASE_S)],
                                                env=env, stdout=out, stderr=subprocess.STDOUT))

        def stop_workers():
            for w in workers:
                if w.poll() is None:
                    w.kill()
                    w.wait(timeout=10)
        self.addCleanup(stop_workers)

        deadline = time.monotonic() + 90
        states = {}
        while time.monotonic() < deadline:
            states = {n: api("GET", f"/api/v1/videos/{i}", None, tok)[2] for n, i in ids.items()}
            if all(v.get("status") in ("ready", "failed") for v in states.values()):
                break
            time.sleep(0.5)
        stop_workers()
        worker_logs = "\n".join(f"--- {p.name} ---\n{p.read_text(errors='replace')}" for p in logs)
        self.assertTrue(all(v.get("status") in ("ready", "failed") for v in states.values()),
                        f"videos still processing after 90 s: {json.dumps(states, indent=1)}\n{worker_logs}\n{server.logs()}")

        g = states["good"]
        self.assertEqual(g["status"], "ready", f"{g}\n{worker_logs}")
        self.assertEqual((g["probe"]["width"], g["probe"]["height"], g["probe"]["frame_count"]), (64, 48, 30), g["probe"])
        self.assertEqual(g["probe"]["codec"], "h264", g["probe"])
        self.assertEqual(states["not-a-video"]["status"], "failed")
        self.assertIn("not a usable video", states["not-a-video"]["failure"])
        self.assertEqual(states["wrong-sha"]["status"], "failed")
        self.assertIn("sha256", states["wrong-sha"]["failure"])

        # Each job ran once, except the one whose first worker died: it ran twice.
        for name, vid in ids.items():
            st, _, jobs = api("GET", f"/api/v1/videos/{vid}/jobs", None, tok)
            self.assertEqual((st, len(jobs)), (200, 1), jobs)
            want = 2 if jobs[0]["id"] == dead_job else 1
            self.assertEqual(jobs[0]["attempts"], want, f"{name}: {jobs}\n{worker_logs}")
            self.assertIn(jobs[0]["state"], ("done", "failed"), jobs)
        done_by = [line for p in logs for line in p.read_text(errors="replace").splitlines() if line.startswith("{")]
        outcomes = [json.loads(line) for line in done_by]
        self.assertEqual(sorted(o["job"] for o in outcomes), sorted({o["job"] for o in outcomes}),
                         f"a job was finished by two workers: {outcomes}")

        # The poster and strip are in the store next to the original.
        st, _, dl = api("GET", f"/api/v1/videos/{ids['good']}/download", None, tok)
        self.assertEqual(st, 200, dl)
        with ti.DIRECT.open(urllib.request.Request(dl["url"], headers={"Range": "bytes=0-7"}), timeout=30) as r:
            self.assertEqual((r.status, r.read()), (206, good[:8]))
        server.stop()


if __name__ == "__main__":
    unittest.main()
