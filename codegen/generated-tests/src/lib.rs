//! The code capc generates for the repository's example specs, compiled as a
//! `#![no_std]` library without `alloc` under `#![deny(missing_docs)]` and the
//! workspace's clippy settings. The tests in tests/ exercise it on the host.
#![no_std]
#![deny(missing_docs)]

/// The demo kernel's spec (kernel-demo/spec/kernel.cap).
pub mod kernel {
    include!(concat!(env!("OUT_DIR"), "/kernel.rs"));
}

/// The decompression service (kernel-demo/spec/decompress.cap, which imports kernel.cap).
pub mod decompress {
    include!(concat!(env!("OUT_DIR"), "/decompress.rs"));
}

/// The COM2 driver's service (kernel-demo/spec/serial.cap, which uses
/// kernel.cap).
pub mod serial {
    include!(concat!(env!("OUT_DIR"), "/serial.rs"));
}

/// The spec that uses every construct (examples/everything.cap).
pub mod everything {
    include!(concat!(env!("OUT_DIR"), "/everything.rs"));
}

/// Message types in an RPC interface (examples/messages.cap).
pub mod messages {
    include!(concat!(env!("OUT_DIR"), "/messages.rs"));
}

/// Barrelfish's memory allocation interface (examples/flounder/mem.cap, a
/// port of Flounder's if/mem.if over caps.cap).
pub mod flounder_mem {
    include!(concat!(env!("OUT_DIR"), "/mem.rs"));
}

/// Barrelfish's octopus interface (examples/flounder/octopus.cap, a port of
/// Flounder's if/octopus.if over caps.cap): a callback interface the
/// server sends events through, on sessions opened bound to it.
pub mod flounder_octopus {
    include!(concat!(env!("OUT_DIR"), "/octopus.rs"));
}

/// Hubris's supervisor interface (examples/idol/jefe.cap, a port of Idol's
/// idl/jefe.idol).
pub mod idol_jefe {
    include!(concat!(env!("OUT_DIR"), "/jefe.rs"));
}

/// Hubris's SP-to-RoT interface (examples/idol/sprot.cap, a port of Idol's
/// idl/sprot.idol): nested error sets.
pub mod idol_sprot {
    include!(concat!(env!("OUT_DIR"), "/sprot.rs"));
}

/// Leases (examples/leases.cap): a client lends ranges of its frames, a
/// server reads and writes them only within them and as declared.
///
/// A read lease has no `write`:
///
/// ```compile_fail,E0599
/// use capc_generated_tests::leases::*;
/// fn fill(lease: &Lease<LeaseRead, u8, FrameCap, 512>, memory: &mut impl LeaseMemory) {
///     let _ = lease.write(memory, 0, &[1, 2, 3]);
/// }
/// ```
///
/// nor a write lease a `read`:
///
/// ```compile_fail,E0599
/// use capc_generated_tests::leases::*;
/// fn peek(lease: &Lease<LeaseWrite, u8, FrameCap, 512>, memory: &mut impl LeaseMemory) {
///     let _ = lease.read(memory, 0, &mut [0; 3]);
/// }
/// ```
///
/// while a read-write lease has both, and a read lease its `read`:
///
/// ```
/// use capc_generated_tests::leases::*;
/// fn copy(
///     from: &Lease<LeaseRead, u8, FrameCap, 512>,
///     to: &Lease<LeaseReadWrite, u32, FrameCap, 8>,
///     memory: &mut impl LeaseMemory,
/// ) -> Result<(), LeaseError> {
///     let mut bytes = [0; 4];
///     from.read(memory, 0, &mut bytes)?;
///     let mut words = [0; 1];
///     to.read(memory, 0, &mut words)?;
///     to.write(memory, 0, &[u32::from_le_bytes(bytes) + words[0]])
/// }
/// ```
pub mod leases {
    include!(concat!(env!("OUT_DIR"), "/leases.rs"));
}

/// A file service used through sessions (examples/files.cap).
pub mod files {
    include!(concat!(env!("OUT_DIR"), "/files.rs"));
}

/// The demo's decompression scenario as systems, with their boot plans
/// (kernel-demo/spec/client_pays.cap).
pub mod system {
    include!(concat!(env!("OUT_DIR"), "/client_pays.rs"));
}

/// The demo's decompression system as the example describes it
/// (examples/systems/decompress.cap), with its boot plan.
pub mod decompress_system {
    include!(concat!(env!("OUT_DIR"), "/example_system/decompress.rs"));
}

/// The demo's generic loader (kernel-demo/user/src/loader.rs), which walks
/// a boot plan: the same file the root task compiles, tested here on the
/// host against a simulated kernel (tests/boot_plan.rs).
#[path = "../../../kernel-demo/user/src/loader.rs"]
pub mod loader;

/// Barrelfish's capability types (examples/barrelfish/caps.cap, a port of
/// Barrelfish's capabilities/caps.hl). Its type names (`VNode_x86_64_pml4`)
/// are not CamelCase; the generated items named after them allow that.
pub mod barrelfish {
    include!(concat!(env!("OUT_DIR"), "/caps.rs"));
}

/// seL4's x86_64 caps, laid out as seL4 lays them out
/// (examples/sel4/x86_64.cap).
pub mod x86_64 {
    include!(concat!(env!("OUT_DIR"), "/x86_64.rs"));
}

/// seL4's x86_64 caps with MCS (`capc build --cfg mcs`).
pub mod x86_64_mcs {
    include!(concat!(env!("OUT_DIR"), "/sel4_mcs/x86_64.rs"));
}

/// seL4's x86_64 caps with SMP (`capc build --cfg smp`).
pub mod x86_64_smp {
    include!(concat!(env!("OUT_DIR"), "/sel4_smp/x86_64.rs"));
}

/// seL4's x86_64 caps with MCS and SMP.
pub mod x86_64_mcs_smp {
    include!(concat!(env!("OUT_DIR"), "/sel4_mcs_smp/x86_64.rs"));
}

/// seL4's x86_64 caps with the IOMMU (`capc build --cfg iommu`).
pub mod x86_64_iommu {
    include!(concat!(env!("OUT_DIR"), "/sel4_iommu/x86_64.rs"));
}

/// seL4's x86_64 caps with VT-x (`capc build --cfg vtx`).
pub mod x86_64_vtx {
    include!(concat!(env!("OUT_DIR"), "/sel4_vtx/x86_64.rs"));
}

/// seL4's x86_64 caps with the IOMMU and VT-x.
pub mod x86_64_iommu_vtx {
    include!(concat!(env!("OUT_DIR"), "/sel4_iommu_vtx/x86_64.rs"));
}

/// seL4's x86_64 caps with MCS, SMP, the IOMMU and VT-x (every option but
/// VT-x's 64-bit guests, which adds no cap type or field).
pub mod x86_64_all {
    include!(concat!(env!("OUT_DIR"), "/sel4_all/x86_64.rs"));
}

/// seL4's x86_64 caps with VT-x and 64-bit guests
/// (`CONFIG_X86_64_VTX_64BIT_GUESTS`: `capc build --cfg vtx --cfg vtx64`).
pub mod x86_64_vtx64 {
    include!(concat!(env!("OUT_DIR"), "/sel4_vtx64/x86_64.rs"));
}

/// The Barrelfish module under its file's stem, as the C differential test
/// names each spec (tests/c_differential.rs).
pub mod caps {
    pub use super::barrelfish::*;
}
