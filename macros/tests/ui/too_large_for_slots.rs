mod caps {
    capc_macros::include_spec!("../../../../kernel-demo/spec/kernel.cap");
}

#[allow(unused_imports)]
use caps::{KernelObject, ObjectType};

/// A thread that fits in the 2 KiB of its object, but not before the three
/// capability slots the spec puts at the object's end.
#[derive(capc_macros::KernelObject)]
#[kernel_object(Tcb, spec = "../../../../kernel-demo/spec/kernel.cap")]
struct Tcb {
    state: [u64; 250],
}

fn main() {
    let _ = (Tcb { state: [0; 250] }.state, Tcb::OBJECT_TYPE == ObjectType::Tcb);
}
