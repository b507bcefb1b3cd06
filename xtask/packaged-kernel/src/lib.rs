//! A kernel crate outside the capc workspace, as a kernel author writes one:
//! `cargo xtask test` copies it to a temporary directory and builds it for
//! `x86_64-unknown-none` against the crates `cargo package` made (capc-macros,
//! and through it capc and capc-dsl), patched in for crates.io's.
#![no_std]

/// The types generated from the spec.
pub mod caps {
    capc_macros::include_spec!("spec/tiny.cap");
}

use caps::{Cap, CapType, EndpointCap, KernelObject, ObjectType, Rights};

/// The kernel's thread control block, bound to the spec's 1 KiB `Tcb`.
#[derive(capc_macros::KernelObject)]
#[kernel_object(Tcb, spec = "spec/tiny.cap")]
#[repr(C)]
pub struct Tcb {
    /// Saved user registers.
    pub registers: [u64; 32],
    /// With `--features oversized` the struct no longer fits its 1 KiB:
    /// the packaging step demands that this build fail.
    #[cfg(feature = "oversized")]
    pub oversized: [u64; 128],
}

// What the spec says, seen through the generated module.
const _: () = assert!(matches!(
    <Tcb as KernelObject>::OBJECT_TYPE,
    ObjectType::Tcb
));
const _: () = assert!(<Tcb as KernelObject>::SIZE_BITS == 10);
const _: () = assert!(EndpointCap::TAG == 3);

/// The badge of an endpoint cap, `None` for any other cap: code that runs
/// in the kernel, built for the kernel's target.
pub fn badge(cap: Cap) -> Option<u64> {
    EndpointCap::from_cap(cap).map(EndpointCap::badge)
}

/// A read-only endpoint cap with `badge`, if the address fits.
pub fn receive_cap(endpoint: u64, badge: u64) -> Option<Cap> {
    let cap = EndpointCap::new(endpoint, Rights::READ, badge).ok()?;
    debug_assert!(matches!(
        CapType::from_tag(EndpointCap::TAG),
        Some(CapType::EndpointCap)
    ));
    Some(cap.cap())
}
