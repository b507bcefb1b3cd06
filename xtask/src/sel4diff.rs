//! The test step "seL4's generators vs capc" and `cargo xtask sel4-diff`:
//! capc exports examples/sel4/x86_64.cap in seL4's own input formats,
//! seL4's generators (see [`crate::sel4gen`]) turn the export into Rust,
//! and a crate built outside the workspace checks that seL4's generated
//! code and capc's generated code agree: on every invocation's label and
//! request and reply layout ([`invocations`]).

use std::path::Path;

use crate::{Failure, sel4gen};

pub mod invocations;

/// The step: makes the generators ready once, then runs each check.
pub fn check(root: &Path) -> Result<(), Failure> {
    let generators = sel4gen::prepare(root)?;
    invocations::check(root, &generators)
}
