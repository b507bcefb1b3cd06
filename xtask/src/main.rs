//! Developer task runner for the capc workspace, invoked as `cargo xtask <task>`
//! (the alias lives in `.cargo/config.toml`).
//!
//! * `cargo xtask test` runs the full local/CI gate in order — `cargo fmt --check`,
//!   `cargo clippy -D warnings`, `cargo test`, then the same three for the demo
//!   kernel (its unit tests on the host) and a QEMU boot of it whose serial
//!   transcript is checked — stopping at the first failing step. `.ci/run`
//!   calls exactly this, so CI and local runs check the same things.
//! * `cargo xtask demo` runs `capc check` on the example `.cap` specs in
//!   `kernel-demo/spec/` and `examples/`, then builds the demo kernel and boots
//!   it in QEMU, streaming its boot transcript.
//!
//! Only `std` is used. Missing tools are installed when that needs no
//! question (rustup components and targets; QEMU with apt-get as root) and
//! otherwise produce a clear error with the command to run, never a skipped
//! step. Child exit statuses are passed through.

mod kernel;
mod transcript;

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str = "\
Usage: cargo xtask <TASK>

Tasks:
  demo    Run `capc check` on every .cap spec in kernel-demo/spec/ and examples/,
          then build the demo kernel and boot it in QEMU
  test    Run cargo fmt --check, cargo clippy -D warnings and cargo test on the
          workspace and on the demo kernel, then boot the kernel in QEMU and
          check its transcript, stopping at the first failure

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

/// One step of `cargo xtask test`; `run` is given the workspace root.
struct Step {
    name: &'static str,
    run: fn(&Path) -> Result<(), Failure>,
}

const TEST_STEPS: &[Step] = &[
    Step {
        name: "cargo fmt --check",
        run: |root| run_cargo(root, &["fmt", "--all", "--", "--check"]),
    },
    Step {
        name: "cargo clippy",
        run: |root| {
            run_cargo(
                root,
                &[
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ],
            )
        },
    },
    Step {
        name: "cargo test",
        run: |root| run_cargo(root, &["test", "--workspace"]),
    },
    Step {
        name: "kernel fmt --check",
        run: |root| run_cargo(&kernel::kernel_dir(root), &["fmt", "--", "--check"]),
    },
    Step {
        name: "kernel clippy",
        run: |root| {
            kernel::ensure_kernel_target(root)?;
            // --release: the boot step's release build then reuses the host
            // crates (capc, the proc macros) compiled here.
            run_cargo(
                &kernel::kernel_dir(root),
                &["clippy", "--release", "--", "-D", "warnings"],
            )
        },
    },
    Step {
        name: "kernel unit tests",
        run: |root| {
            let host = host_triple()?;
            run_cargo(
                &kernel::kernel_dir(root),
                &["test", "--lib", "--target", &host],
            )
        },
    },
    Step {
        name: "kernel boot (QEMU)",
        run: boot_kernel,
    },
];

/// Runs `cargo args...` in `dir`, announcing it; fails if cargo does.
fn run_cargo(dir: &Path, args: &[&str]) -> Result<(), Failure> {
    let root = workspace_root()?;
    let place = match dir.strip_prefix(&root) {
        Ok(rel) if rel.as_os_str().is_empty() => String::new(),
        Ok(rel) => format!(", in {}", rel.display()),
        Err(_) => format!(", in {}", dir.display()),
    };
    println!("==> [cargo {}{place}]", args.join(" "));
    let status = run(dir, cargo(), args)?;
    if status.success() {
        Ok(())
    } else {
        Err(Failure::from_status(
            format!("`cargo {}` failed", args.join(" ")),
            status,
        ))
    }
}

/// The host's target triple, from `rustc -vV` (the kernel's unit tests run
/// on the host, not on its default `x86_64-unknown-none`).
fn host_triple() -> Result<String, Failure> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .arg("-vV")
        .output()
        .map_err(|e| Failure::new(format!("could not run `rustc -vV`: {e}")))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| Failure::new("`rustc -vV` printed no `host:` line"))
}

/// Builds the kernel, boots it in QEMU and checks the transcript: the last
/// step of `test` and of `demo`.
fn boot_kernel(root: &Path) -> Result<(), Failure> {
    kernel::ensure_kernel_target(root)?;
    kernel::ensure_qemu(root)?;
    let elf = kernel::build_kernel(root)?;
    let boot = kernel::boot(&elf)?;
    match transcript::check(&boot.transcript, boot.exit) {
        Ok(report) => {
            println!(
                "==> kernel booted in {:.2} s: {} Untyped caps, {} bytes, QEMU {}",
                boot.elapsed.as_secs_f64(),
                report.untypeds.len(),
                report.total_bytes,
                boot.exit
            );
            Ok(())
        }
        Err(problems) => {
            eprintln!("==> the boot transcript above is wrong:");
            for problem in &problems {
                eprintln!("    - {problem}");
            }
            Err(Failure::new(format!(
                "the kernel boot failed {} check(s) (kernel: {})",
                problems.len(),
                elf.display()
            )))
        }
    }
}

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

/// `cargo xtask test`: every [`TEST_STEPS`] entry in order, stopping at the first failure.
fn test() -> Result<(), Failure> {
    let root = workspace_root()?;
    ensure_components(&root)?;

    let mut outcomes: Vec<Outcome> = TEST_STEPS.iter().map(|_| Outcome::NotRun).collect();
    let mut failure = None;
    for (step, outcome) in TEST_STEPS.iter().zip(&mut outcomes) {
        println!("==> step: {}", step.name);
        let start = Instant::now();
        let result = (step.run)(&root);
        let elapsed = start.elapsed();
        match result {
            Ok(()) => *outcome = Outcome::Passed(elapsed),
            Err(err) => {
                *outcome = Outcome::Failed(elapsed);
                failure = Some(Failure {
                    message: format!("step `{}` failed: {}", step.name, err.message),
                    code: err.code,
                });
                break;
            }
        }
    }

    println!("\n==> summary");
    for (step, outcome) in TEST_STEPS.iter().zip(&outcomes) {
        println!("    {:<24} {outcome}", step.name);
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

/// `cargo xtask demo`: `capc check` every example spec, then boot the kernel.
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
    if !status.success() {
        return Err(Failure::from_status("`capc check` failed", status));
    }
    println!("==> capc check passed");
    boot_kernel(&root)
}
