mod caps {
    capc_macros::include_spec!("../../../../kernel-demo/spec/kernel.cap");
}

#[allow(unused_imports)]
use caps::{KernelObject, ObjectType};

#[derive(capc_macros::KernelObject)]
#[kernel_object(Tcb, spec = "../../../../kernel-demo/spec/kernel.cap")]
enum Tcb {
    Running,
}

#[derive(capc_macros::KernelObject)]
#[kernel_object(Endpoint, spec = "../../../../kernel-demo/spec/kernel.cap")]
struct Queue<T> {
    head: T,
}

#[derive(capc_macros::KernelObject)]
struct Notification {
    word: u64,
}

fn main() {}
