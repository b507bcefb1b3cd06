//! capc: checks `.cap` capability-kernel specs and generates no_std Rust
//! kernel code from them.
//!
//! The front end lives in [`capc_dsl`] and is shared by every way in: the
//! `capc` command line (behind the default `cli` feature, so build scripts
//! need not pull in clap), the build-script API [`Builder`], and the
//! `include_spec!` proc macro. [`backend`] turns a checked spec into tokens;
//! [`c`] into a C header; [`sel4_bf`] its cap types into seL4's bitfield_gen
//! input, and [`sel4_xml`] its invocations into seL4's interface XML.
#![deny(missing_docs)]

pub mod backend;
mod build;
pub mod c;
pub mod expand;
pub mod sel4_bf;
pub mod sel4_xml;

pub use build::{BuildError, Builder, Lang, render_spec};

pub use backend::Options;
pub use capc_dsl as dsl;

/// The examples of the crate's README.md, run as doctests so that they stay
/// true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
