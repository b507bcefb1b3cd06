//! The step "seL4's generators vs capc" of `cargo xtask test`, and the task
//! `cargo xtask sel4-diff`: capc exports examples/sel4/x86_64.cap in seL4's
//! own input formats, seL4's own generators (from the sel4-sys 0.0.28
//! crate, see [`crate::sel4gen`]) turn the export into Rust, and a crate
//! outside the workspace checks that seL4's generated code and capc's
//! agree:
//! - [`bitfield`]: every cap type and field (`capc build --lang bf`,
//!   `bitfield_gen.py`);
//! - [`invocations`]: every invocation's label and request and reply
//!   layout (`capc build --lang sel4-xml`, `invocation_header_gen.py` and
//!   `syscall_stub_gen.py`).
//!
//! Nothing of seL4's is committed: the generators and their output live
//! under `target/sel4-generators/`, the crates are built from templates in
//! `xtask/sel4-diff/` copied under `target/sel4-diff/`, whose target
//! directories are kept between runs.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use crate::{Failure, cargo, sel4gen};

pub mod bitfield;
pub mod invocations;

/// The spec compared, relative to the workspace root.
pub const SPEC: &str = "examples/sel4/x86_64.cap";

/// The step: the generators made ready once, then each comparison.
pub fn check(root: &Path) -> Result<(), Failure> {
    let generators = sel4gen::prepare(root)?;
    bitfield::check(root, &generators)?;
    invocations::check(root, &generators)
}

/// Runs the comparison crate at `krate` (`cargo run --quiet`, built in
/// `target`, the spec compared in `SEL4_DIFF_SPEC`) with `env` set; fails
/// with `failure` if it reports a difference or does not build.
fn run_comparison(
    root: &Path,
    krate: &Path,
    target: &Path,
    env: &[(&str, &OsStr)],
    failure: String,
) -> Result<(), Failure> {
    let mut command = Command::new(cargo());
    command
        .args(["run", "--quiet"])
        .current_dir(krate)
        .env("CARGO_TARGET_DIR", target)
        .env("SEL4_DIFF_SPEC", root.join(SPEC));
    for (name, value) in env {
        command.env(name, value);
    }
    let status = command
        .status()
        .map_err(|e| Failure::new(format!("could not run cargo: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Failure::from_status(failure, status))
    }
}
