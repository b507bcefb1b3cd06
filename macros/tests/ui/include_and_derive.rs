//! include_spec! and #[derive(KernelObject)] used together, as a kernel does.
//! (trybuild compiles this from target/tests/trybuild/capc-macros, so spec
//! paths climb four levels to the workspace.)

mod caps {
    capc_macros::include_spec!("../../../../kernel-demo/spec/kernel.cap", servers = false);
}

use caps::{KernelObject, ObjectType};

/// A kernel's thread control block.
#[derive(capc_macros::KernelObject)]
#[kernel_object(Tcb, spec = "../../../../kernel-demo/spec/kernel.cap")]
#[allow(dead_code)]
struct Tcb {
    registers: [u64; 32],
    state: u64,
}

fn main() {
    assert_eq!(Tcb::OBJECT_TYPE, ObjectType::Tcb);
    assert_eq!(Tcb::SIZE_BITS, 11);
    let cap = caps::EndpointCap::new(0x1000, caps::Rights::READ, 7).unwrap();
    assert_eq!(cap.badge(), 7);
}
