mod caps {
    capc_macros::include_spec!("../../../../kernel-demo/spec/kernel.cap");
}

#[allow(unused_imports)]
use caps::{KernelObject, ObjectType};

#[derive(capc_macros::KernelObject)]
#[kernel_object(Tcbb, spec = "../../../../kernel-demo/spec/kernel.cap")]
struct Tcb {
    registers: [u64; 32],
}

fn main() {}
