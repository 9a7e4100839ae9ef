//! TypeScript bindings for the IPC payloads, generated from the Rust types by
//! `ts-rs`. `web/src/lib/bindings/` holds the committed copy; the `bindings`
//! test regenerates them into a temporary folder and fails when they differ,
//! and `cargo run -p argus --bin argus -- --write-bindings` rewrites them.

use std::path::Path;

use ts_rs::TS;

use argus_workspace::{dto, error};

/// The first line of every generated file.
/// (ts-rs writes its own "do not edit" note into the other files.)
pub const HEADER: &str =
    "// Generated from src-tauri by ts-rs. Do not edit: run `argus --write-bindings`.\n";

/// Writes every binding (and an `index.ts` re-exporting them) into `dir`.
/// Files already in `dir` are removed first (ts-rs would merge into them).
pub fn export_all(dir: &Path) -> Result<Vec<String>, String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("clearing {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let cfg = ts_rs::Config::new().with_out_dir(dir);
    macro_rules! export {
        ($($t:ty),* $(,)?) => {{
            let mut names = Vec::new();
            $(
                <$t as TS>::export_all(&cfg).map_err(|e| format!("exporting {}: {e}", stringify!($t)))?;
                names.push(<$t as TS>::name(&cfg));
            )*
            names
        }};
    }
    let mut names = export!(
        error::CommandError,
        error::ErrorKind,
        dto::AppInfo,
        dto::Diagnostics,
        dto::LabelInfo,
        dto::AttributeInfo,
        dto::LabelsForm,
        dto::LabelUsage,
        dto::ProjectSummary,
        dto::VideoSummary,
        dto::ProjectDetail,
        dto::BoxPx,
        dto::ShapeInfo,
        dto::FrameDensity,
        dto::Timeline,
        dto::TimelineTrack,
        dto::FrameSpan,
        dto::HistoryState,
        dto::SamPoint,
        dto::SamPrompt,
        dto::SamCandidate,
        dto::SamPreview,
        dto::AcceptTarget,
        dto::Accepted,
        dto::SamModelInfo,
        dto::ImportProgress,
        dto::PointPx,
        dto::DrawnShape,
        dto::BrushStroke,
        dto::Edited,
        dto::SamModelChoice,
        dto::ModelProgress,
        dto::SamCache,
        dto::ExportFormat,
        dto::ImageMode,
        dto::ExportOptions,
        dto::TransferProgress,
        dto::TransferNote,
        dto::TransferSummary,
        argus_workspace::import::ImportFormat,
        argus_workspace::import::ImportOptions,
        dto::PropagateDirection,
        dto::PropagateOptions,
        dto::PropagatedFlag,
        dto::TrackProgress,
        dto::PropagateSummary,
        dto::ReviewScopeInfo,
        dto::ReviewComment,
        dto::ReviewInfo,
        dto::ReviewVerdict,
        dto::Reviewed,
        dto::AccountInfo,
        dto::AccountUser,
        dto::SignInForm,
        dto::SignedOut,
        dto::TeamInfo,
        dto::ServerProject,
        dto::SyncInfo,
        dto::Published,
        dto::PublishedVideo,
        dto::RemoteProgress,
        dto::ProjectPeople,
        dto::ConflictInfo,
        dto::ConflictSide,
        dto::ConflictKeep,
        dto::ConflictsSettled,
        dto::PersonInfo,
        dto::InvitationInfo,
        dto::PersonAdded,
        dto::MyInvitation,
    );
    names.sort();
    let mut index = String::from(HEADER);
    for n in &names {
        index.push_str(&format!("export type {{ {n} }} from \"./{n}\";\n"));
    }
    std::fs::write(dir.join("index.ts"), index).map_err(|e| format!("writing index.ts: {e}"))?;
    Ok(names)
}

/// Where the committed bindings live.
pub fn committed_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/src/lib/bindings")
}
