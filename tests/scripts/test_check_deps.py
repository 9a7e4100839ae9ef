"""Self-test of scripts/check-deps: it must pass on a clean layout and catch
each kind of leak. Fixture workspaces use path dependencies named like the
heavy crates, so no registry is needed."""
import pathlib
import subprocess
import tempfile
import textwrap
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHECK = ROOT / "scripts" / "check-deps"


def crate(base, name, deps="", lib=True):
    d = base / name
    (d / "src").mkdir(parents=True)
    (d / "Cargo.toml").write_text(
        textwrap.dedent(f"""\
        [package]
        name = "{name}"
        version = "0.1.0"
        edition = "2021"
        [dependencies]
        """) + deps)
    (d / "src" / "lib.rs").write_text("")


def workspace(tmp, members):
    (tmp / "Cargo.toml").write_text(
        "[workspace]\nresolver = \"2\"\nmembers = [" + ", ".join(f'"ws/{m}"' for m in members) + "]\n")


def run(tmp):
    return subprocess.run([str(CHECK), "--manifest-path", str(tmp / "Cargo.toml")],
                          capture_output=True, text=True, cwd=tmp)


class CheckDeps(unittest.TestCase):
    def setUp(self):
        self._dir = tempfile.TemporaryDirectory()
        self.tmp = pathlib.Path(self._dir.name)
        ext = self.tmp / "ext"
        for heavy in ["ort", "tokio", "wgpu"]:
            crate(ext, heavy)
        crate(ext, "middle", 'tokio = { path = "../tokio" }\n')

    def tearDown(self):
        self._dir.cleanup()

    def test_owner_may_use_its_heavy_dependency(self):
        ws = self.tmp / "ws"
        crate(ws, "argus-core")
        crate(ws, "argus-sam", 'ort = { path = "../../ext/ort" }\nargus-core = { path = "../argus-core" }\n')
        workspace(self.tmp, ["argus-core", "argus-sam"])
        r = run(self.tmp)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_server_reaching_ffmpeg_through_another_crate_fails(self):
        ws = self.tmp / "ws"
        crate(self.tmp / "ext", "ffmpeg-next")
        crate(ws, "argus-core")
        crate(ws, "argus-media", 'ffmpeg-next = { path = "../../ext/ffmpeg-next" }\n')
        crate(ws, "argus-helper", 'argus-media = { path = "../argus-media" }\n')
        crate(ws, "argus-server", 'argus-helper = { path = "../argus-helper" }\nargus-core = { path = "../argus-core" }\n')
        crate(ws, "argus-worker", 'argus-media = { path = "../argus-media" }\n')
        workspace(self.tmp, ["argus-core", "argus-media", "argus-helper", "argus-server", "argus-worker"])
        r = run(self.tmp)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("argus-server reaches argus-media via argus-server -> argus-helper -> argus-media", r.stdout)
        self.assertNotIn("- argus-worker", r.stdout, "the worker may use argus-media")

    def test_other_crate_using_a_heavy_dependency_fails(self):
        ws = self.tmp / "ws"
        crate(ws, "argus-store", 'ort = { path = "../../ext/ort" }\n')
        workspace(self.tmp, ["argus-store"])
        r = run(self.tmp)
        self.assertEqual(r.returncode, 1)
        self.assertIn("argus-store depends directly on ort", r.stdout)

    def test_core_reaching_an_io_runtime_transitively_fails(self):
        ws = self.tmp / "ws"
        crate(ws, "argus-core", 'middle = { path = "../../ext/middle" }\n')
        workspace(self.tmp, ["argus-core"])
        r = run(self.tmp)
        self.assertEqual(r.returncode, 1)
        self.assertIn("argus-core reaches tokio via argus-core -> middle -> tokio", r.stdout)

    def test_application_layer_reaching_tauri_fails(self):
        ws = self.tmp / "ws"
        crate(self.tmp / "ext", "tauri")
        crate(self.tmp / "ext", "ui-kit", 'tauri = { path = "../tauri" }\n')
        crate(ws, "argus-workspace", 'ui-kit = { path = "../../ext/ui-kit" }\n')
        workspace(self.tmp, ["argus-workspace"])
        r = run(self.tmp)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("argus-workspace reaches tauri via argus-workspace -> ui-kit -> tauri", r.stdout)

    def test_the_real_workspace_passes(self):
        r = subprocess.run([str(CHECK)], capture_output=True, text=True, cwd=ROOT)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
