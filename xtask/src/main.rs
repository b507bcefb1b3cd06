//! Developer task runner for the capc workspace, invoked as `cargo xtask <task>`
//! (the alias lives in `.cargo/config.toml`).
//!
//! * `cargo xtask test` runs the full local/CI gate in order — `cargo fmt --check`,
//!   `cargo clippy -D warnings`, `cargo test` — stopping at the first failing step.
//!   `.ci/run` calls exactly this, so CI and local runs check the same things.
//! * `cargo xtask demo` runs `capc check` on the example `.cap` specs in
//!   `kernel-demo/spec/` and `examples/`.
//!
//! Only `std` is used. Missing tools produce a clear error and a non-zero exit
//! code rather than a panic, and child exit statuses are passed through.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str = "\
Usage: cargo xtask <TASK>

Tasks:
  demo    Run `capc check` on every .cap spec in kernel-demo/spec/ and examples/
  test    Run cargo fmt --check, cargo clippy -D warnings and cargo test, stopping at the first failure

Options:
  -h, --help    Print this help";

/// Directories (relative to the workspace root) whose `.cap` files `demo` checks.
const SPEC_DIRS: &[&str] = &["kernel-demo/spec", "examples"];

/// The command that installs the components `cargo xtask test` needs.
const COMPONENTS_INSTALL: &[&str] = &["rustup", "component", "add", "rustfmt", "clippy"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None | Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(task @ ("test" | "demo")) if args.len() > 1 => {
            eprintln!("error: `{task}` takes no arguments, got `{}`\n", args[1]);
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
        Some("test") => test(),
        Some("demo") => demo(),
        Some(other) => {
            eprintln!("error: unknown task `{other}`\n");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// Why a task failed, and the exit code to report.
struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    /// A failure not caused by a child process (exit code 1).
    fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: 1,
        }
    }

    /// A failure caused by a child process; its exit code is passed through.
    fn from_status(message: impl Into<String>, status: ExitStatus) -> Self {
        let code = status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .filter(|&c| c != 0)
            .unwrap_or(1);
        Failure {
            message: format!("{} ({status})", message.into()),
            code,
        }
    }
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> Result<PathBuf, Failure> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| Failure::new("cannot determine the workspace root"))
}

/// The cargo that launched us (so the same toolchain is used), else `cargo` from PATH.
fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Runs `program args...` in `dir` with inherited stdio and returns its status.
fn run(
    dir: &Path,
    program: impl AsRef<std::ffi::OsStr>,
    args: &[&str],
) -> Result<ExitStatus, Failure> {
    let program = program.as_ref();
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .map_err(|e| {
            Failure::new(format!(
                "could not run `{}`: {e}",
                program.to_string_lossy()
            ))
        })
}

/// Whether `cargo <subcommand> --version` works, i.e. the component is installed.
fn cargo_subcommand_available(dir: &Path, subcommand: &str) -> bool {
    Command::new(cargo())
        .args([subcommand, "--version"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure rustfmt and clippy are installed, installing them with rustup if not.
fn ensure_components(root: &Path) -> Result<(), Failure> {
    let missing = |root: &Path| -> Vec<&'static str> {
        [("fmt", "rustfmt"), ("clippy", "clippy")]
            .into_iter()
            .filter(|(sub, _)| !cargo_subcommand_available(root, sub))
            .map(|(_, component)| component)
            .collect()
    };
    let before = missing(root);
    if before.is_empty() {
        return Ok(());
    }
    let install = COMPONENTS_INSTALL.join(" ");
    eprintln!(
        "==> missing toolchain component(s): {}; installing with `{install}`",
        before.join(", ")
    );
    match run(root, COMPONENTS_INSTALL[0], &COMPONENTS_INSTALL[1..]) {
        Ok(status) if status.success() => {}
        Ok(status) => eprintln!("warning: `{install}` failed ({status})"),
        Err(failure) => eprintln!("warning: {}", failure.message),
    }
    let after = missing(root);
    if after.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "missing toolchain component(s): {}; install them with: {install}",
            after.join(", ")
        )))
    }
}

/// One step of `cargo xtask test`.
struct Step {
    name: &'static str,
    args: &'static [&'static str],
}

const TEST_STEPS: &[Step] = &[
    Step {
        name: "cargo fmt --check",
        args: &["fmt", "--all", "--", "--check"],
    },
    Step {
        name: "cargo clippy",
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    },
    Step {
        name: "cargo test",
        args: &["test", "--workspace"],
    },
];

enum Outcome {
    Passed(Duration),
    Failed(Duration),
    NotRun,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Passed(d) => write!(f, "ok      ({:.1}s)", d.as_secs_f64()),
            Outcome::Failed(d) => write!(f, "FAILED  ({:.1}s)", d.as_secs_f64()),
            Outcome::NotRun => f.write_str("not run (an earlier step failed)"),
        }
    }
}

/// `cargo xtask test`: fmt check, clippy, tests — in that order, stopping at the first failure.
fn test() -> Result<(), Failure> {
    let root = workspace_root()?;
    ensure_components(&root)?;

    let mut outcomes: Vec<Outcome> = TEST_STEPS.iter().map(|_| Outcome::NotRun).collect();
    let mut failure = None;
    for (step, outcome) in TEST_STEPS.iter().zip(&mut outcomes) {
        println!("==> {}  [cargo {}]", step.name, step.args.join(" "));
        let start = Instant::now();
        let result = run(&root, cargo(), step.args);
        let elapsed = start.elapsed();
        match result {
            Ok(status) if status.success() => *outcome = Outcome::Passed(elapsed),
            Ok(status) => {
                *outcome = Outcome::Failed(elapsed);
                failure = Some(Failure::from_status(
                    format!("step `{}` failed", step.name),
                    status,
                ));
                break;
            }
            Err(err) => {
                *outcome = Outcome::Failed(elapsed);
                failure = Some(Failure::new(format!(
                    "step `{}` failed: {}",
                    step.name, err.message
                )));
                break;
            }
        }
    }

    println!("\n==> summary");
    for (step, outcome) in TEST_STEPS.iter().zip(&outcomes) {
        println!("    {:<20} {outcome}", step.name);
    }
    match failure {
        None => {
            println!("==> all {} steps passed", TEST_STEPS.len());
            Ok(())
        }
        Some(failure) => Err(failure),
    }
}

/// The `.cap` files directly inside `dir` (not recursive), sorted; none if `dir` is absent.
fn cap_files_in(dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let read_err = |e: std::io::Error| Failure::new(format!("cannot read {}: {e}", dir.display()));
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let path = entry.map_err(read_err)?.path();
        if path.is_file() && path.extension().is_some_and(|ext| ext == "cap") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// `cargo xtask demo`: `capc check` every example spec.
fn demo() -> Result<(), Failure> {
    let root = workspace_root()?;
    let mut files = Vec::new();
    for dir in SPEC_DIRS {
        for path in cap_files_in(&root.join(dir))? {
            // Relative paths keep capc's diagnostics short; we run from the root.
            let rel = path.strip_prefix(&root).unwrap_or(&path).to_path_buf();
            files.push(rel.to_string_lossy().into_owned());
        }
    }
    if files.is_empty() {
        return Err(Failure::new(format!(
            "no .cap files found in {} (relative to {})",
            SPEC_DIRS.join(" or "),
            root.display()
        )));
    }

    println!("==> capc check ({} files)", files.len());
    for file in &files {
        println!("    {file}");
    }
    let mut args = vec![
        "run",
        "--quiet",
        "--package",
        "capc",
        "--bin",
        "capc",
        "--",
        "check",
    ];
    args.extend(files.iter().map(String::as_str));
    let status = run(&root, cargo(), &args)?;
    if status.success() {
        println!("==> capc check passed");
        Ok(())
    } else {
        Err(Failure::from_status("`capc check` failed", status))
    }
}
