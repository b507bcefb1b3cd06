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

use std::path::Path;

use crate::{Failure, sel4gen};

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
