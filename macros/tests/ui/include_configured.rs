//! include_spec! in two configurations of one spec, each in its own module
//! (`cfg(...)` turns options of the spec's `config` block on).

mod plain {
    capc_macros::include_spec!("../../../../examples/sel4/x86_64.cap", servers = false);
}

mod mcs_smp {
    capc_macros::include_spec!("../../../../examples/sel4/x86_64.cap", cfg(mcs, smp));
}

fn main() {
    assert!(plain::target::CONFIGURATION.is_empty());
    assert_eq!(mcs_smp::target::CONFIGURATION, ["mcs", "smp"]);
    // seL4_X86_PDPTObject moves past MCS's two object types.
    assert_eq!(plain::ObjectType::Pdpt as u64, 5);
    assert_eq!(mcs_smp::ObjectType::Pdpt as u64, 7);
    assert_eq!(mcs_smp::SchedControlCap::TAG, 24);
    assert_eq!(mcs_smp::IrqHandlerCap::new(u64::MAX).unwrap().irq(), u64::MAX);
    // Enumerations: seL4_ReplyObject only with MCS, no vm_rights 0.
    assert_eq!(mcs_smp::Sel4ObjectType::Reply.value(), 6);
    assert_eq!(plain::Sel4ObjectType::from_value(6), Some(plain::Sel4ObjectType::Pml4));
    assert_eq!(plain::VmRights::from_value(0), None);
}
