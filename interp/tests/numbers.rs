//! Cap tags and object-type numbers given by hand (`#[tag(N)]`,
//! `#[number(N)]`): the unnumbered items take the lowest free numbers in
//! declaration order, and the interpreter's retype names object types by
//! number, not by position.

use capc_dsl::compile_str;
use capc_dsl::model::Spec;
use capc_interp::{CNodeId, Machine, OpError, Slot};

const SPEC: &str = r#"
target test {
    address_bits = 48;
    tag_bits = 5;
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

#[number(2)]
object Endpoint {
    size = 16;
}

#[tag(4)]
cap EndpointCap for Endpoint {
    #[identity] #[object] endpoint: ptr(align = 16),
}

object Notification {
    size = 32;
}

#[tag(1)]
cap NotificationCap for Notification {
    #[identity] #[object] notification: ptr(align = 32),
}

retype UntypedCap {
    into = Untyped | Endpoint | Notification;
    fan_out = 256;
}
"#;

fn spec(text: &str) -> Spec {
    let c = compile_str("numbers.cap", text);
    c.spec
        .unwrap_or_else(|| panic!("the spec checks: {:?}", c.diagnostics))
}

#[test]
fn unnumbered_items_take_the_lowest_free_numbers_in_order() {
    let spec = spec(SPEC);
    let tags: Vec<(&str, u32)> = spec.caps.iter().map(|c| (c.name.as_str(), c.tag)).collect();
    assert_eq!(
        tags,
        [
            ("UntypedCap", 2),
            ("EndpointCap", 4),
            ("NotificationCap", 1)
        ]
    );
    let numbers: Vec<(&str, u32)> = spec
        .objects
        .iter()
        .map(|o| (o.name.as_str(), o.number))
        .collect();
    assert_eq!(
        numbers,
        [("Untyped", 0), ("Endpoint", 2), ("Notification", 1)]
    );
    let endpoint = spec.object("Endpoint").unwrap();
    assert_eq!(spec.object_by_number(2), Some(endpoint));
    assert_eq!(spec.object_number(endpoint), 2);
    assert_eq!(spec.cap_by_tag(4), spec.cap("EndpointCap"));
    assert_eq!(spec.cap_by_tag(3), None);
    assert_eq!(spec.cap_by_tag(0), None);
}

#[test]
fn without_numbers_tags_and_numbers_are_declaration_order() {
    let text = SPEC
        .replace("#[number(2)]\n", "")
        .replace("#[tag(4)]\n", "")
        .replace("#[tag(1)]\n", "");
    let spec = spec(&text);
    for (i, c) in spec.caps.iter().enumerate() {
        assert_eq!(c.tag as usize, i + 1, "{}", c.name);
    }
    for (i, o) in spec.objects.iter().enumerate() {
        assert_eq!(o.number as usize, i, "{}", o.name);
    }
}

#[test]
fn retype_names_the_object_type_by_its_number() {
    let spec = spec(SPEC);
    let mut m = Machine::new(&spec, 4);
    let mut ut = m.blank_cap(spec.cap("UntypedCap").unwrap());
    ut.object = 0x10_0000;
    ut.size_arg = 16;
    let slot = Slot {
        cnode: CNodeId::Root,
        index: 0,
    };
    m.boot(slot, ut, "boot").expect("an empty slot");
    // Number 1 is Notification (declared third), 2 Endpoint (second).
    let r = m.retype(&[0], 1, 0, &[], 1, 1).expect("room");
    assert_eq!(r.object, spec.object("Notification").unwrap());
    assert_eq!(r.size_bits, 5);
    let r = m.retype(&[0], 2, 0, &[], 2, 1).expect("room");
    assert_eq!(r.object, spec.object("Endpoint").unwrap());
    // No object type is numbered 3.
    assert_eq!(
        m.retype(&[0], 3, 0, &[], 3, 1),
        Err(OpError::InvalidArgument { index: 0 })
    );
}

/// `#[number(A, B, C)]` on a sized type: one number per size argument, in
/// ascending order; each names the type and its size argument, and the
/// interpreter's retype makes that size whatever its size argument says.
#[test]
fn a_type_numbered_per_size_argument() {
    let text = SPEC.replace(
        "object Notification {\n    size = 32;\n}",
        "#[number(8, 9, 7)]\nobject Notification(bits in {5, 6, 7}) {\n    size = 1 << bits;\n}",
    );
    let text = text.replace(
        "#[identity] #[object] notification: ptr(align = 32),",
        "#[identity] #[object] notification: ptr(align = 32),\n    #[size_arg] bits: u3,",
    );
    let spec = spec(&text);
    let notification = spec.object("Notification").unwrap();
    let o = &spec.objects[notification.index()];
    assert_eq!(o.number, 8);
    assert_eq!(o.numbers, [(5, 8), (6, 9), (7, 7)]);
    // The unnumbered Untyped takes 0; nothing else may take 7, 8 or 9.
    assert_eq!(spec.object_by_number(7), Some(notification));
    assert_eq!(spec.size_arg_of_number(9), Some(6));
    assert_eq!(spec.size_arg_of_number(2), None, "Endpoint's one number");

    let mut m = Machine::new(&spec, 4);
    let mut ut = m.blank_cap(spec.cap("UntypedCap").unwrap());
    ut.object = 0x10_0000;
    ut.size_arg = 16;
    let slot = Slot {
        cnode: CNodeId::Root,
        index: 0,
    };
    m.boot(slot, ut, "boot").expect("an empty slot");
    // The size argument word (99) is not read: 7 names `bits` = 7.
    let r = m.retype(&[0], 7, 99, &[], 1, 1).expect("room");
    assert_eq!((r.object, r.size_bits), (notification, 7));
    let r = m.retype(&[0], 9, 0, &[], 2, 1).expect("room");
    assert_eq!(r.size_bits, 6);

    // A number per value, or one: E0447.
    let two = text.replace("#[number(8, 9, 7)]", "#[number(8, 9)]");
    let c = compile_str("numbers.cap", &two);
    assert_eq!(c.diagnostics[0].code.as_str(), "E0447", "{}", c.render());
    // Taken numbers clash: E0433.
    let clash = text.replace("#[number(8, 9, 7)]", "#[number(8, 2, 7)]");
    let c = compile_str("numbers.cap", &clash);
    assert_eq!(c.diagnostics[0].code.as_str(), "E0433", "{}", c.render());
}
