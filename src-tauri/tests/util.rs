//! Shared helpers for the `argus` integration tests: a mock-runtime app on a
//! temporary data folder and IPC calls through tauri's test harness.

#![allow(dead_code)] // each test binary uses a different subset

use argus_app::Workspace;
use serde_json::Value;
use tauri::test::{INVOKE_KEY, MockRuntime};
use tauri::webview::InvokeRequest;
use tauri::{Manager, WebviewWindow};

pub type TestResult = Result<(), libtest_mimic::Failed>;

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
        let state = tauri::async_runtime::block_on(Workspace::open(&dir.path().join("data")))
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

    pub fn ws(&self) -> Workspace {
        self.app.state::<Workspace>().inner().clone()
    }
}
