//! The hardware-free half of the capc demo kernel: what the boot code found
//! (the PVH start info and its memory map), the Untyped inventory carved from
//! it, the kernel command line, the kernel's own objects, and the capability core (slots and CSpace
//! lookup in `cspace`, the derivation tree in `mdb`, copy, mint, move,
//! delete, revoke and retype in `ops`, decoded invocations in `invoke`,
//! frames and tables in address spaces in `mapping`, the run queues in
//! `runqueue`), all typed by the
//! code `capc` generates from `kernel-demo/spec/kernel.cap`.
//!
//! Nothing here touches a port, a control register or an address it was not
//! handed, so the library also builds for the host and is unit-tested there
//! (`cargo test --lib --target <host triple>` in this directory). The binary
//! (`main.rs`) owns the hardware: boot code, serial port, QEMU exit.

#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod abi;
pub mod asid;
pub mod audit;
pub mod bootimage;
pub mod cmdline;
pub mod cspace;
pub mod fastpath;
pub mod finalise;
pub mod invoke;
pub mod ipc;
pub mod irq;
pub mod mapping;
pub mod mdb;
pub mod memory_map;
#[cfg(test)]
mod model_check;
pub mod ops;
pub mod runqueue;
pub mod tcb;
pub mod threads;
pub mod units;
pub mod untyped;
pub mod vspace;

/// The types generated from the demo kernel's spec: cap layouts, object
/// types, invocation labels and errors. Expanded at compile time by
/// `include_spec!`, so editing the spec rebuilds the kernel.
///
/// With the `pregenerated` feature (only for `cargo xtask bench-macro`, which
/// compares the two builds) the same module is instead included from
/// `pregenerated/kernel.rs`, written beforehand by
/// `capc build ../spec/kernel.cap -o pregenerated/kernel.rs`.
#[allow(missing_docs)]
pub mod caps {
    #[cfg(not(feature = "pregenerated"))]
    capc_macros::include_spec!("../spec/kernel.cap");
    #[cfg(feature = "pregenerated")]
    include!("../pregenerated/kernel.rs");
}
