//! include_spec! with `extern_path` and `side`: decompress.cap's module
//! holds only its own items and names kernel.cap's through `crate::caps`, so
//! the two share one `MessageInfo` and one `Slot`; a kernel-side module has no clients.

mod caps {
    capc_macros::include_spec!("../../../../kernel-demo/spec/kernel.cap", side = both);
}

mod decompress {
    capc_macros::include_spec!(
        "../../../../kernel-demo/spec/decompress.cap",
        extern_path("kernel.cap" = crate::caps)
    );
}

mod kernel_side {
    capc_macros::include_spec!("../../../../kernel-demo/spec/kernel.cap", side = kernel);
}

fn one_type(info: decompress::MessageInfo) -> caps::MessageInfo {
    info
}

/// One `Slot` type too: the importing module's is the base's.
fn one_slot(slot: decompress::Slot<caps::FrameCap>) -> caps::Slot<caps::FrameCap> {
    slot
}

fn main() {
    assert_eq!(one_slot(caps::Slot::new(7)).index(), 7);
    let info = one_type(caps::MessageInfo { label: 1, length: 0, caps: 0 });
    assert_eq!(info.label, 1);
    assert_eq!(decompress::MAX_OUTPUT_PAGES, 256);
    assert_eq!(caps::CapType::UntypedCap, decompress::CapType::UntypedCap);
    assert_eq!(kernel_side::target::CAP_WORDS, 2);
}
