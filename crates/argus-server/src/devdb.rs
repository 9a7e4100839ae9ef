//! `argus-server --dev`: a private PostgreSQL cluster in the server's data
//! directory, started from the installed PostgreSQL binaries and stopped with
//! the server. Nothing to install or configure on a laptop.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::error::ConfigError;

/// A running private cluster.
#[derive(Debug)]
pub struct DevDatabase {
    pub data: PathBuf,
    pub port: u16,
    pg_ctl: PathBuf,
    run_as: Option<String>,
}

fn find_bin(name: &str) -> Option<PathBuf> {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.parent().and_then(|p| p.file_name()).and_then(|n| n.to_str()).and_then(|n| n.parse::<u32>().ok()).unwrap_or(0)));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn free_port() -> Result<u16, ConfigError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| ConfigError::Io(format!("no free port: {e}")))?;
    Ok(l.local_addr().map_err(|e| ConfigError::Io(e.to_string()))?.port())
}

impl DevDatabase {
    /// Initialises the cluster in `dir/pg` on first use, then starts it.
    pub fn start(dir: &Path) -> Result<Self, ConfigError> {
        let initdb = find_bin("initdb").ok_or_else(|| {
            ConfigError::Invalid("--dev needs the PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql, or set DATABASE_URL".into())
        })?;
        let pg_ctl = initdb.with_file_name("pg_ctl");
        std::fs::create_dir_all(dir).map_err(|e| ConfigError::Io(format!("cannot create {}: {e}", dir.display())))?;
        let data = dir.join("pg");
        // PostgreSQL refuses to run as root: hand the cluster to an unprivileged user.
        let run_as = if is_root() {
            let user = if Command::new("id").arg("postgres").output().is_ok_and(|o| o.status.success()) { "postgres" } else { "nobody" };
            Some(user.to_owned())
        } else {
            None
        };
        let cmd = |bin: &Path| -> Command {
            match &run_as {
                Some(u) => {
                    let mut c = Command::new("runuser");
                    c.args(["-u", u, "--"]).arg(bin);
                    c
                }
                None => Command::new(bin),
            }
        };
        if !data.join("PG_VERSION").exists() {
            std::fs::create_dir_all(&data).map_err(|e| ConfigError::Io(e.to_string()))?;
            if let Some(u) = &run_as {
                let _ = Command::new("chown").args(["-R", u]).arg(dir).status();
                // It must also reach the folder: a private parent (root's home) stops it.
                let reach = Command::new("runuser").args(["-u", u, "--", "test", "-w"]).arg(&data).status();
                if !reach.is_ok_and(|s| s.success()) {
                    return Err(ConfigError::Invalid(format!(
                        "--dev runs its PostgreSQL as the user {u} (PostgreSQL refuses root), who cannot reach {}: a folder above it is private; \
                         give --data-dir a folder {u} can reach (e.g. /var/tmp/argus-dev), or set DATABASE_URL",
                        data.display()
                    )));
                }
            }
            let out = cmd(&initdb)
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
                .output()
                .map_err(|e| ConfigError::Io(format!("initdb: {e}")))?;
            if !out.status.success() {
                return Err(ConfigError::Io(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr))));
            }
        }
        let port = free_port()?;
        let log = dir.join("postgres.log");
        let out = cmd(&pg_ctl)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-o"])
            .arg(format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200", data.display()))
            .arg("start")
            .output()
            .map_err(|e| ConfigError::Io(format!("pg_ctl: {e}")))?;
        if !out.status.success() {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(ConfigError::Io(format!(
                "the private PostgreSQL did not start: {}{}",
                String::from_utf8_lossy(&out.stderr),
                tail.lines().rev().take(5).collect::<Vec<_>>().join("\n")
            )));
        }
        Ok(Self { data, port, pg_ctl, run_as })
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for DevDatabase {
    fn drop(&mut self) {
        let mut c = match &self.run_as {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(&self.pg_ctl);
                c
            }
            None => Command::new(&self.pg_ctl),
        };
        let _ = c.arg("-D").arg(&self.data).args(["-m", "fast", "-w", "stop"]).output();
    }
}

fn is_root() -> bool {
    // No libc dependency: ask the process's own status file.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}
