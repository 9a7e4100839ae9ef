//! `argus-cli`: the headless Argus command line.
//!
//! A thin shell over the same library crates the desktop app uses
//! (argus-store for everything persistent, argus-media to probe and decode,
//! argus-sam to segment), so scripts and end-to-end tests exercise the real
//! code paths. Output is a readable table, or JSON lines
//! with `--json`; errors go to stderr with the library's message and a
//! non-zero exit code.

mod cli;
mod media;
mod output;
mod remote;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("argus-cli: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("argus-cli: {e:#}");
            ExitCode::FAILURE
        }
    }
}
