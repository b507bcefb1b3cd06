//! `#[whole_word]` pointers (seL4's `field capPML4BasePtr 64`): the
//! interpreter's retype makes caps whose object field is the address as it
//! is, any aligned 64-bit address fits, and the cap's words hold it
//! unshifted, as the generated code stores it.

use capc_dsl::compile_str;
use capc_dsl::model::{Role, Spec};
use capc_interp::{CNodeId, Machine, Slot};

const SPEC: &str = r#"
target test {
    address_bits = 48;
    tag_bits = 5;
    tag_shift = 59;
    message_registers = 4;
    message_words = 16;
    caps_per_message = 2;
}

untyped Untyped(bits in 4..=47) {
    size = 1 << bits;
}

cap UntypedCap for Untyped {
    #[identity] #[object] base: ptr(align = 16),
    #[size_arg] bits: u6,
    #[watermark(unit = 16)] free_index: u44,
}

object Vcpu {
    size = 16 KiB;
}

cap VcpuCap for Vcpu {
    #[identity] #[object] #[whole_word] #[at(word = 1, bit = 0)]
    vcpu: ptr(align = 4 KiB),
    #[at(word = 0, bit = 0)]
    vpid: u16,
}

retype UntypedCap {
    into = Untyped | Vcpu;
    fan_out = 16;
}
"#;

fn spec() -> Spec {
    let c = compile_str("whole_word.cap", SPEC);
    let rendered = c.render();
    c.spec
        .unwrap_or_else(|| panic!("the spec checks: {rendered}"))
}

#[test]
fn a_whole_word_pointer_is_64_bits_at_its_word() {
    let spec = spec();
    let vcpu = &spec.caps[spec.cap("VcpuCap").unwrap().index()];
    let field = vcpu.field_with(Role::Object).expect("an object field");
    assert!(field.whole_word);
    assert_eq!((field.word, field.shift, field.width), (1, 0, 64));
    // Placed as it is, not shifted right by its alignment.
    assert_eq!(field.placed(0xffff_ff80_0040_4000), 0xffff_ff80_0040_4000);
    assert!(Machine::fits(field, 0xffff_ff80_0040_4000));
    assert!(!Machine::fits(field, 0x40_4800), "misaligned");
}

#[test]
fn retype_makes_caps_holding_the_whole_address() {
    let spec = spec();
    let mut m = Machine::new(&spec, 4);
    let mut ut = m.blank_cap(spec.cap("UntypedCap").unwrap());
    ut.object = 0x10_0000;
    ut.size_arg = 16;
    let slot = |index| Slot {
        cnode: CNodeId::Root,
        index,
    };
    m.boot(slot(0), ut, "boot").expect("an empty slot");
    let vcpu_number = spec.objects[spec.object("Vcpu").unwrap().index()].number;
    let r = m
        .retype(&[0], u64::from(vcpu_number), 0, &[], 1, 2)
        .expect("room");
    assert_eq!((r.size_bits, r.first), (14, 0x10_0000));
    let cap_type = spec.cap("VcpuCap").unwrap();
    let c = &spec.caps[cap_type.index()];
    for (index, address) in [(1, 0x10_0000), (2, 0x10_4000)] {
        let cap = m.node_at(slot(index)).expect("a cap").cap.clone();
        assert_eq!(cap.cap_type, cap_type);
        assert_eq!(m.region(&cap), Some((address, 16 * 1024)));
        let field = c.field_with(Role::Object).unwrap();
        assert_eq!(m.field_value(&cap, field), address);
        let words = c.words(&spec.target, |f| m.field_value(&cap, f));
        assert_eq!(words, [u64::from(c.tag) << 59, address]);
    }
    // cap_for takes an address above 2^48 (a kernel address), which a
    // 48-bit pointer could not hold.
    let vcpu = spec.object("Vcpu").unwrap();
    let high = m
        .cap_for(vcpu, 0xffff_ff80_0040_4000, 0, false)
        .expect("fits");
    assert_eq!(high.object, 0xffff_ff80_0040_4000);
    assert_eq!(
        m.cap_for(vcpu, 0xffff_ff80_0040_4800, 0, false),
        None,
        "misaligned"
    );
}
