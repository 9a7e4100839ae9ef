//! `argus-worker`: see the library's docs.

use std::time::Duration;

use anyhow::Result;
use argus_worker::{Outcome, Worker, WorkerConfig};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "argus-worker", version, about = "Processes uploaded videos from argus-server's job queue.")]
struct Cli {
    /// argus-server's base URL.
    #[arg(long, env = "ARGUS_SERVER_URL")]
    server: String,
    /// A service-role key (argus-server keys api --role service_role).
    #[arg(long, env = "ARGUS_SERVICE_KEY", hide_env_values = true)]
    key: String,
    /// Take at most one job, then exit (0 whether or not one was ready).
    #[arg(long)]
    once: bool,
    /// Seconds between polls of an empty queue.
    #[arg(long, default_value_t = 2)]
    poll: u64,
    /// Seconds a job stays this worker's without a heartbeat.
    #[arg(long, default_value_t = 300)]
    lease: u64,
    /// Where downloads are kept while processed.
    #[arg(long, env = "ARGUS_WORKER_SCRATCH")]
    scratch: Option<std::path::PathBuf>,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    argus_media::init();
    let cli = Cli::parse();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "worker".into());
    let worker = Worker::new(WorkerConfig {
        server: cli.server,
        key: cli.key,
        name: format!("{host}:{}", std::process::id()),
        lease: Duration::from_secs(cli.lease.clamp(10, 3600)),
        scratch: cli.scratch.unwrap_or_else(std::env::temp_dir),
    });
    loop {
        match worker.run_once() {
            Ok(Outcome::Idle) if cli.once => return Ok(()),
            Ok(Outcome::Idle) => std::thread::sleep(Duration::from_secs(cli.poll.max(1))),
            Ok(o) => {
                println!("{}", serde_json::to_string(&outcome_json(&o))?);
                if cli.once {
                    return Ok(());
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "the server did not answer as expected; trying again");
                if cli.once {
                    return Err(e.into());
                }
                std::thread::sleep(Duration::from_secs(cli.poll.max(1)));
            }
        }
    }
}

fn outcome_json(o: &Outcome) -> serde_json::Value {
    match o {
        Outcome::Idle => serde_json::json!({"outcome": "idle"}),
        Outcome::Done { job, video } => serde_json::json!({"outcome": "done", "job": job, "video": video}),
        Outcome::Failed { job, video, reason, retry } => {
            serde_json::json!({"outcome": "failed", "job": job, "video": video, "reason": reason, "retry": retry})
        }
    }
}
