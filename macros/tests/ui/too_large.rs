mod caps {
    capc_macros::include_spec!("../../../../kernel-demo/spec/kernel.cap");
}

#[allow(unused_imports)]
use caps::{KernelObject, ObjectType};

/// An endpoint with far too much state for its 16 bytes.
#[derive(capc_macros::KernelObject)]
#[kernel_object(Endpoint, spec = "../../../../kernel-demo/spec/kernel.cap")]
struct Endpoint {
    queue: [u64; 4],
}

fn main() {
    let _ = (Endpoint { queue: [0; 4] }.queue, Endpoint::OBJECT_TYPE == ObjectType::Endpoint);
}
