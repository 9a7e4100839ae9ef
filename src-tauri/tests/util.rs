//! Shared helpers for the `argus` integration tests: a mock-runtime app on a
//! temporary data folder, IPC calls through tauri's test harness, generated
//! videos and SAM test models.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;

use argus_app::AppState;
use serde_json::Value;
use tauri::test::{INVOKE_KEY, MockRuntime};
use tauri::webview::InvokeRequest;
use tauri::{Manager, WebviewWindow};

pub type TestResult = Result<(), libtest_mimic::Failed>;

/// Fails the test with a message.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {{
        let ok: bool = $cond;
        if !ok {
            return Err(format!($($msg)+).into());
        }
    }};
}

/// An app on the mock runtime with its own database, and its main window.
#[allow(missing_debug_implementations)] // tauri's App is not Debug
pub struct TestApp {
    pub app: tauri::App<MockRuntime>,
    pub window: WebviewWindow<MockRuntime>,
    pub dir: tempfile::TempDir,
}

impl TestApp {
    pub fn new() -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let state = tauri::async_runtime::block_on(AppState::open(&dir.path().join("data")))
            .map_err(|e| e.message)?;
        let app = argus_app::run_app(
            tauri::test::mock_builder().manage(state),
            tauri::test::mock_context(tauri::test::noop_assets()),
        )
        .map_err(|e| format!("building the app: {e}"))?;
        let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .map_err(|e| format!("opening the window: {e}"))?;
        Ok(Self { app, window, dir })
    }

    /// Invokes `cmd` with JSON `args` the way the page does; `Err` is the
    /// serialised `CommandError`.
    pub fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: if cfg!(windows) {
                "http://tauri.localhost"
            } else {
                "tauri://localhost"
            }
            .parse()
            .map_err(|e| Value::String(format!("{e}")))?,
            body: tauri::ipc::InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        tauri::test::get_ipc_response(&self.window, request)
            .map(|body| body.deserialize::<Value>().unwrap_or(Value::Null))
    }

    /// `call` that must succeed.
    pub fn ok(&self, cmd: &str, args: Value) -> Result<Value, String> {
        self.call(cmd, args)
            .map_err(|e| format!("{cmd} failed: {e}"))
    }

    /// `call` that must fail; returns the error's `kind` and `message`.
    pub fn err(&self, cmd: &str, args: Value) -> Result<(String, String), String> {
        match self.call(cmd, args) {
            Ok(v) => Err(format!("{cmd} should have failed but returned {v}")),
            Err(e) => Ok((
                e.get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or("<no kind>")
                    .to_owned(),
                e.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("<no message>")
                    .to_owned(),
            )),
        }
    }

    pub fn state(&self) -> AppState {
        self.app.state::<AppState>().inner().clone()
    }
}

/// The red box drawn into [`make_video`]'s frames: x, y, width, height.
pub const BOX: (u32, u32, u32, u32) = (40, 30, 50, 40);
pub const VIDEO_W: u32 = 160;
pub const VIDEO_H: u32 = 120;
pub const VIDEO_FRAMES: u64 = 20;

/// A 160x120, 20-frame H.264 video: flat blue with a red box at [`BOX`], made by the ffmpeg CLI.
pub fn make_video(dir: &Path) -> Result<PathBuf, String> {
    let path = dir.join("box.mp4");
    let (x, y, w, h) = BOX;
    let filter = format!(
        "color=c=0x2040a0:s={VIDEO_W}x{VIDEO_H}:r=10,drawbox=x={x}:y={y}:w={w}:h={h}:color=0xe03020:t=fill"
    );
    let out = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            &filter,
        ])
        .args([
            "-frames:v",
            &VIDEO_FRAMES.to_string(),
            "-c:v",
            "libx264",
            "-g",
            "5",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&path)
        .output()
        .map_err(|e| format!("running ffmpeg (is it installed?): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ffmpeg failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(path)
}

/// `ARGUS_PYTHON`, else `python3`.
pub fn python() -> PathBuf {
    std::env::var_os("ARGUS_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| "python3".into())
}

/// Why the SAM trials cannot run here, or `None` when they can.
pub fn sam_unavailable() -> Option<String> {
    let py = python();
    match Command::new(&py)
        .args(["-c", "import onnx, numpy"])
        .output()
    {
        Ok(o) if o.status.success() => {}
        Ok(_) => {
            return Some(format!(
                "{} cannot import onnx and numpy; set ARGUS_PYTHON",
                py.display()
            ));
        }
        Err(e) => {
            return Some(format!(
                "no python at {} ({e}); set ARGUS_PYTHON",
                py.display()
            ));
        }
    }
    argus_sam::runtime::environment()
        .err()
        .map(|e| format!("ONNX Runtime is unavailable ({e}); set ORT_DYLIB_PATH"))
}

/// Builds the SAM-contract test models of argus-sam into `dir`; returns the SAM 1 manifest path.
pub fn make_sam_models(dir: &Path) -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/argus-sam/scripts/make_test_model.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(dir)
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "make_test_model.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(dir.join("sam1.toml"))
}
