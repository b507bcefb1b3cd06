//! Typed cap handles: a kernel invocation's cap argument is a
//! `Slot<TheCap>`, so passing the slot of a CNode where `map` wants the
//! slot of a PML4 does not compile.

mod caps {
    capc_macros::include_spec!("../../../../kernel-demo/spec/kernel.cap", side = user);
}

use caps::{CNodeCap, FrameCapClient, MessageInfo, Pml4Cap, Rights, Slot, Transport, target};

struct Nothing;

impl Transport for Nothing {
    fn call(
        &mut self,
        info: MessageInfo,
        _msg: &mut [u64; target::MESSAGE_WORDS],
        _caps_out: &[u64],
        _caps_in: &mut [u64; target::CAPS_PER_MESSAGE],
    ) -> MessageInfo {
        info
    }
}

const ROOT_CNODE: Slot<CNodeCap> = Slot::new(1);
const VSPACE: Slot<Pml4Cap> = Slot::new(3);

fn main() {
    let mut frame = FrameCapClient(Nothing);
    // The right slot compiles.
    let _ = frame.map(VSPACE, 0x4000_0000, Rights::READ.bits());
    // A CNode's slot where a PML4's is expected does not.
    let _ = frame.map(ROOT_CNODE, 0x4000_0000, Rights::READ.bits());
}
