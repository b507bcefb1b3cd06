//! capc: checks `.cap` capability-kernel specs and (in later versions)
//! generates no_std Rust kernel code from them.
//!
//! The front end lives in [`capc_dsl`]; this crate holds the `capc` command
//! line (behind the default `cli` feature, so build scripts need not pull in
//! clap).
#![deny(missing_docs)]

pub use capc_dsl as dsl;
