//! Enumerations (dsl/tests/ui/pass/enumerations.cap) in the reference
//! interpreter: a cap the interpreter's retype makes holds an enumerated
//! field's first variant, as the generated code's does (the model's side:
//! dsl/tests/enumerations.rs).

use std::path::Path;

use capc_dsl::model::Spec;
use capc_interp::{CNodeId, Machine, Slot};

fn spec() -> Spec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dsl/tests/ui/pass/enumerations.cap");
    capc_dsl::compile(&path, &capc_dsl::FsLoader)
        .expect("readable")
        .spec
        .expect("enumerations.cap checks clean")
}

#[test]
fn the_interpreters_new_cap_holds_the_first_variant() {
    let spec = spec();
    let mut m = Machine::new(&spec, 4);
    let mut ram = m.blank_cap(spec.cap("UntypedCap").unwrap());
    ram.object = 0x40_0000;
    ram.size_arg = 22;
    let slot = Slot {
        cnode: CNodeId::Root,
        index: 0,
    };
    m.boot(slot, ram, "boot").expect("an empty slot");
    let frame = spec.object("Frame").unwrap().0 as u64;
    m.retype(&[0], frame, 1, &[], 1, 1).expect("room for 2 MiB");
    let made = m
        .node_at(Slot {
            cnode: CNodeId::Root,
            index: 1,
        })
        .expect("the new frame's cap");
    let cap_type = &spec.caps[made.cap.cap_type.index()];
    let access = cap_type.fields.iter().find(|f| f.name == "access").unwrap();
    assert_eq!(
        m.field_value(&made.cap, access),
        3,
        "ReadWrite, declared first"
    );
    let size = cap_type.fields.iter().find(|f| f.name == "size").unwrap();
    assert_eq!(m.field_value(&made.cap, size), 1);
}
