//! `capc watch`: checks specs, then again each time one of them or a file
//! they import changes, until interrupted.
//!
//! It polls the files' modification times (every `--interval` ms): no
//! platform notification API, no dependency, and a change is seen within
//! one interval. Each check prints the diagnostics as `capc check` does,
//! then one line `watch: checked N file(s): E error(s), W warning(s)`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use capc_dsl::Severity;
use capc_dsl::load::FsLoader;

use crate::diagnostics::{self, DiagnosticArgs, JsonTo};

pub const WATCH_EXAMPLES: &str = "\
Examples:
  capc watch kernel-demo/spec/*.cap        check now and after every change
  capc watch --interval 200 spec.cap

Each round prints the diagnostics, then `watch: checked N file(s): E error(s), W warning(s)`.
Files imported by the specs are watched too. Stop it with Ctrl-C.
Exit status: 2 if a spec cannot be read when the watch starts; otherwise it runs until stopped.";

/// Arguments of `capc watch`.
#[derive(clap::Args)]
pub struct WatchArgs {
    /// Spec files to check (each with the files it imports).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// How often to look for changes, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    interval: u64,
    /// Stop after this many checks (for scripts and tests).
    #[arg(long, value_name = "N", hide = true)]
    max_checks: Option<u64>,
    #[command(flatten)]
    diagnostics: DiagnosticArgs,
}

/// Runs the watch until interrupted (or `--max-checks`). The files' times
/// are taken before each check reads them, so a change made while it runs
/// is seen by the next round.
pub fn run(args: &WatchArgs) -> ExitCode {
    let mut watched = args.files.clone();
    let mut before = stamps(&watched);
    let mut checks = 0;
    loop {
        match check(args) {
            Ok(files) => {
                // Imports found by this round, watched from now on.
                for file in files {
                    if !watched.contains(&file) {
                        before.push(stamp(&file));
                        watched.push(file);
                    }
                }
            }
            // Reported already.
            Err(code) if checks == 0 => return code,
            // A file half written is read again at its next change.
            Err(_) => {}
        }
        checks += 1;
        if args.max_checks.is_some_and(|max| checks >= max) {
            return ExitCode::SUCCESS;
        }
        loop {
            std::thread::sleep(Duration::from_millis(args.interval));
            let now = stamps(&watched);
            if now != before {
                before = now;
                break;
            }
        }
    }
}

/// One round: checks every spec and prints what it found; the files read
/// (the specs and what they import).
fn check(args: &WatchArgs) -> Result<Vec<PathBuf>, ExitCode> {
    let (mut errors, mut warnings) = (0, 0);
    let mut watched: Vec<PathBuf> = Vec::new();
    for path in &args.files {
        let mut compilation = diagnostics::compile(path, &FsLoader, &[])?;
        diagnostics::report(&mut compilation, &args.diagnostics, JsonTo::Stdout)?;
        for d in &compilation.diagnostics {
            match d.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
            }
        }
        for id in 0..compilation.sources.len() {
            let name = PathBuf::from(compilation.sources.name(capc_dsl::FileId(id as u32)));
            if !watched.contains(&name) {
                watched.push(name);
            }
        }
    }
    println!(
        "watch: checked {} file(s): {errors} error(s), {warnings} warning(s)",
        args.files.len()
    );
    Ok(watched)
}

/// Each file's modification time and length (`None`: cannot be read).
fn stamps(files: &[PathBuf]) -> Vec<Option<(SystemTime, u64)>> {
    files.iter().map(|f| stamp(f)).collect()
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}
