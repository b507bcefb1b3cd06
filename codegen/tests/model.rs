//! `capc model --json`: the JSON of every example spec validates against
//! docs/model.schema.json, a small spec's JSON is snapshotted, and the exit
//! codes are `capc check`'s.

mod common;

use common::{Scratch, UNKNOWN_NAME, capc, text, workspace};
use std::path::PathBuf;

/// Every spec the repository says checks clean: the examples, the demo
/// kernel's and the UI tests' passing specs.
fn clean_specs() -> Vec<String> {
    let root = workspace();
    let mut specs = Vec::new();
    for dir in [
        "examples",
        "examples/barrelfish",
        "examples/flounder",
        "examples/sel4",
        "examples/systems",
        "kernel-demo/spec",
        "dsl/tests/ui/pass",
    ] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "cap"))
            .collect();
        paths.sort();
        for p in paths {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            specs.push(format!("{dir}/{name}"));
        }
    }
    specs
}

fn model(spec: &str) -> serde_json::Value {
    let out = capc(&workspace(), &["model", "--json", spec]);
    assert_eq!(out.status.code(), Some(0), "{spec}: {}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{spec}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{spec}: not JSON: {e}"))
}

fn schema() -> serde_json::Value {
    let text = std::fs::read_to_string(workspace().join("docs/model.schema.json"))
        .expect("docs/model.schema.json");
    serde_json::from_str(&text).expect("the schema is JSON")
}

#[test]
fn every_example_validates_against_the_schema() {
    let schema = schema();
    assert_eq!(
        schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "draft 2020-12"
    );
    let validator = jsonschema::draft202012::new(&schema).expect("a valid draft 2020-12 schema");
    let specs = clean_specs();
    assert!(specs.len() >= 10, "{specs:?}");
    for spec in &specs {
        let json = model(spec);
        assert_eq!(json["schema_version"], 1, "{spec}");
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{spec}: {errors:#?}");
    }
}

/// The schema rejects what it should: the check above can fail.
#[test]
fn the_schema_rejects_a_wrong_model() {
    let schema = schema();
    let validator = jsonschema::draft202012::new(&schema).expect("a valid schema");
    let good = model("dsl/tests/ui/pass/minimal.cap");
    assert!(validator.is_valid(&good));
    let mut wrong_version = good.clone();
    wrong_version["schema_version"] = 2.into();
    let mut tag_zero = good.clone();
    tag_zero["caps"][0]["tag"] = 0.into();
    let mut extra_key = good.clone();
    extra_key["caps"][0]["fields"][0]["offset"] = 3.into();
    let mut missing = good.clone();
    missing["target"]
        .as_object_mut()
        .expect("target")
        .remove("tag_bits");
    let mut bad_role = good.clone();
    bad_role["caps"][0]["fields"][0]["role"] = "owner".into();
    for (what, json) in [
        ("schema_version 2", wrong_version),
        ("tag 0", tag_zero),
        ("an unknown key", extra_key),
        ("no tag_bits", missing),
        ("an unknown role", bad_role),
    ] {
        assert!(!validator.is_valid(&json), "the schema accepts {what}");
    }
}

#[test]
fn json_of_a_small_spec() {
    let out = capc(
        &workspace(),
        &["model", "--json", "dsl/tests/ui/pass/minimal.cap"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json = text(&out.stdout);
    // Deterministic: a second run prints the same bytes.
    let again = capc(
        &workspace(),
        &["model", "--json", "dsl/tests/ui/pass/minimal.cap"],
    );
    assert_eq!(text(&again.stdout), json);
    insta::with_settings!({
        snapshot_path => workspace().join("snapshots/model"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!("minimal", json);
    });
}

/// Enumerations, and the fields and parameters that take them, by name.
#[test]
fn enumerations_are_named() {
    let json = model("dsl/tests/ui/pass/enumerations.cap");
    let enumerations = json["enumerations"].as_array().expect("enumerations");
    let names: Vec<&str> = enumerations
        .iter()
        .map(|e| e["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, ["FrameSize", "Access"]);
    // Values counted on from the one before; without `huge` there is no 2.
    let sizes: Vec<(&str, u64)> = enumerations[0]["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v["value"].as_u64().unwrap()))
        .collect();
    assert_eq!(sizes, [("Small", 0), ("Large", 1)]);
    assert_eq!(enumerations[1]["bits"], 2);
    assert_eq!(enumerations[1]["values"][0]["name"], "ReadWrite");
    assert_eq!(enumerations[1]["values"][0]["value"], 3);
    let frame = json["caps"]
        .as_array()
        .expect("caps")
        .iter()
        .find(|c| c["name"] == "FrameCap")
        .expect("FrameCap");
    let fields = frame["fields"].as_array().expect("fields");
    assert_eq!(fields[1]["type"]["enumeration"], "FrameSize");
    assert_eq!(fields[1]["role"], "size_arg");
    assert_eq!(fields[2]["type"]["enumeration"], "Access");
    assert_eq!(fields[2]["width"], 2);
    assert!(fields[0]["type"].get("enumeration").is_none());
    let method = &json["invocations"][0]["methods"][0];
    assert_eq!(method["params"][0]["enumeration"], "Access");
    assert_eq!(method["params"][0]["bits"], 2);
    assert_eq!(method["results"][0]["enumeration"], "Access");
}

/// A variable-length error payload (`lookup: ..LookupFault`): the variant
/// has a `rest`, its words stay `payload`, and `payload_bytes` is the most
/// it takes (one word, the number word, LookupFault's three words); the
/// others have no `rest` key. The whole model is valid against the schema
/// (`every_example_validates_against_the_schema`).
#[test]
fn a_variable_length_error_payload_has_a_rest() {
    let json = model("dsl/tests/ui/pass/error-payload-rest.cap");
    let set = json["error_sets"]
        .as_array()
        .expect("error sets")
        .iter()
        .find(|s| s["name"] == "KernelError")
        .expect("KernelError");
    let lookup = &set["variants"][1];
    assert_eq!(lookup["name"], "FailedLookup");
    assert_eq!(lookup["payload"], serde_json::json!(["msg"]));
    assert_eq!(
        lookup["rest"],
        serde_json::json!({"name": "lookup", "errors": "LookupFault"})
    );
    assert_eq!(lookup["payload_bytes"], 8 * 5);
    assert!(set["variants"][0].get("rest").is_none());
}

/// Numbers the JSON resolves, checked against the demo kernel's spec.
#[test]
fn numbers_are_resolved() {
    let json = model("kernel-demo/spec/kernel.cap");
    let caps = json["caps"].as_array().expect("caps");
    for (i, cap) in caps.iter().enumerate() {
        assert_eq!(cap["tag"], i + 1, "tags count from 1 in order");
        for f in cap["fields"].as_array().expect("fields") {
            let (shift, width) = (f["shift"].as_u64().unwrap(), f["width"].as_u64().unwrap());
            assert!(shift + width <= 64, "{f}");
            let ones = if width == 64 {
                u64::MAX
            } else {
                (1 << width) - 1
            };
            assert_eq!(f["mask"].as_u64(), Some(ones << shift), "{f}");
        }
    }
    for (bit, right) in json["rights"]
        .as_array()
        .expect("rights")
        .iter()
        .enumerate()
    {
        assert_eq!(right["bit"], bit);
        assert_eq!(right["mask"].as_u64(), Some(1 << bit));
    }
    for set in json["invocations"].as_array().expect("invocations") {
        for (i, m) in set["methods"]
            .as_array()
            .expect("methods")
            .iter()
            .enumerate()
        {
            assert_eq!(m["label"], i + 1, "{}", m["name"]);
        }
    }
}

/// Each method's kind: `note` of examples/messages.cap is one-way, the
/// rest are calls.
#[test]
fn methods_say_whether_they_are_one_way() {
    let json = model("examples/messages.cap");
    let methods = json["interfaces"][0]["methods"]
        .as_array()
        .expect("methods");
    let kinds: Vec<(&str, &str)> = methods
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("insert", "call"),
            ("lookup", "call"),
            ("list", "call"),
            ("invert", "call"),
            ("mixed", "call"),
            ("note", "oneway"),
            ("limit", "call"),
            ("scale", "call"),
        ]
    );
}

/// seL4's spec: its configuration (and `--cfg` choosing another, whose
/// model validates too), its creating methods, its frames numbered per
/// size, and retype targets by their numbers.
#[test]
fn configurations_creations_and_numbers_per_size() {
    let spec = "examples/sel4/x86_64.cap";
    let plain = model(spec);
    let on = |json: &serde_json::Value| -> Vec<(String, bool)> {
        json["configuration"]
            .as_array()
            .expect("a configuration")
            .iter()
            .map(|o| {
                (
                    o["name"].as_str().unwrap().to_string(),
                    o["enabled"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        on(&plain),
        [
            ("mcs".into(), false),
            ("smp".into(), false),
            ("iommu".into(), false),
            ("vtx".into(), false),
            ("vtx64".into(), false)
        ]
    );
    let out = capc(&workspace(), &["model", "--json", "--cfg", "mcs", spec]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mcs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        on(&mcs),
        [
            ("mcs".into(), true),
            ("smp".into(), false),
            ("iommu".into(), false),
            ("vtx".into(), false),
            ("vtx64".into(), false)
        ]
    );
    let schema = schema();
    let validator = jsonschema::draft202012::new(&schema).expect("a valid schema");
    let errors: Vec<String> = validator.iter_errors(&mcs).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let out = capc(&workspace(), &["model", "--json", "--cfg", "msc", spec]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("E0443"));

    let get = plain["invocations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["cap"] == "IrqControlCap")
        .expect("IRQ control invocations")["methods"][0]
        .clone();
    assert_eq!(
        get["creates"],
        serde_json::json!({"cap": "IrqHandlerCap", "into": "root", "from": null, "fields": [{"field": "irq", "param": "irq"}]})
    );
    // MakePool makes a new object of its Untyped argument (`from`).
    let make_pool = plain["invocations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["cap"] == "AsidControlCap")
        .expect("ASID control invocations")["methods"][0]
        .clone();
    assert_eq!(
        make_pool["creates"],
        serde_json::json!({"cap": "AsidPoolCap", "into": "root", "from": "untyped", "fields": []})
    );
    // MCS's optional fault endpoint and either-of-two bind.
    let params = |json: &serde_json::Value, cap: &str, method: &str| {
        json["invocations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["cap"] == cap)
            .expect("the block")["methods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == method)
            .expect("the method")["params"]
            .clone()
    };
    let bind = params(&mcs, "SchedContextCap", "bind");
    assert_eq!(
        bind[0]["alternatives"],
        serde_json::json!(["NotificationCap"])
    );
    assert_eq!(bind[0]["nullable"], serde_json::Value::Null);
    let space = params(&mcs, "ThreadCap", "set_space");
    assert_eq!(space[0]["nullable"], serde_json::json!(true));
    assert_eq!(space[0]["alternatives"], serde_json::Value::Null);
    let frame = |json: &serde_json::Value| {
        json["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "Frame")
            .expect("Frame")["numbers_by_arg"]
            .clone()
    };
    assert_eq!(
        frame(&plain),
        serde_json::json!([{"arg": 0, "number": 8}, {"arg": 1, "number": 9}, {"arg": 2, "number": 7}])
    );
    assert_eq!(frame(&mcs)[1]["number"], 11);
    let targets = &mcs["retypes"][0]["targets"];
    let pdpt = targets
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Pdpt")
        .expect("Pdpt");
    assert_eq!(pdpt["number"], 7, "the object's number, not its index");
}

#[test]
fn exit_codes_are_those_of_check() {
    let s = Scratch::new("model", "exits");
    s.write("bad.cap", UNKNOWN_NAME);
    let out = capc(&s.dir, &["model", "--json", "bad.cap"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing on stdout on errors");
    let err = text(&out.stderr);
    assert!(
        err.contains("error[E0100]") && err.contains("bad.cap:8:15"),
        "{err}"
    );
    let out = capc(
        &s.dir,
        &["model", "--json", "--message-format", "json", "bad.cap"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let first: serde_json::Value =
        serde_json::from_str(text(&out.stderr).lines().next().expect("a line")).expect("JSON");
    assert_eq!(first["code"], "E0100");
    let out = capc(&s.dir, &["model", "--json", "missing.cap"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read `missing.cap`"));
    // `--json` is required: the format is never guessed.
    let out = capc(&s.dir, &["model", "bad.cap"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--json"),
        "{}",
        text(&out.stderr)
    );
}

/// A system's domains, slots and calls, names resolved: the demo's client
/// sets aside a 2 MiB Untyped (1 MiB + 8 KiB rounded up) for its one call.
#[test]
fn systems_are_in_the_model() {
    let json = model("examples/systems/decompress.cap");
    let system = &json["systems"][0];
    assert_eq!(system["name"], "decompress_demo");
    assert_eq!(system["memory"], 128u64 << 20);
    let client = &system["domains"][1];
    assert_eq!(client["name"], "client");
    assert_eq!(client["budget"], serde_json::json!([4u64 << 20]));
    assert_eq!(
        client["calls"],
        serde_json::json!([{
            "interface": "Decompressor",
            "slot": "dec",
            "in_flight": 1,
            "reserve_bytes": 2u64 << 20,
        }])
    );
    let dec = &client["slots"][2];
    assert_eq!(dec["object"], "dec_ep");
    assert_eq!(dec["rights"], serde_json::json!(["write", "grant"]));
    assert_eq!(dec["badge"], 1);
    assert_eq!(client["trusted"], false);
    assert_eq!(system["domains"][0]["trusted"], true);
    assert_eq!(system["objects"][0]["owner"], serde_json::Value::Null);
    assert_eq!(system["objects"][3]["name"], "dec_tcb");
    assert_eq!(system["objects"][3]["owner"], "decompressor");
    assert_eq!(system["denies"].as_array().map(Vec::len), Some(8));
    assert_eq!(
        model("examples/messages.cap")["systems"],
        serde_json::json!([])
    );
}

/// A range type's kind, integer and ends, and a typed error set's payload
/// types, offsets and nested size, as the schema describes them.
#[test]
fn range_types_and_typed_errors_are_in_the_model() {
    let json = model("examples/messages.cap");
    let percent = json["data_types"]
        .as_array()
        .expect("data types")
        .iter()
        .find(|t| t["name"] == "Percent")
        .expect("Percent");
    assert_eq!(
        (
            &percent["kind"],
            &percent["type"],
            &percent["min"],
            &percent["max"],
            &percent["bytes"]
        ),
        (
            &serde_json::json!("range"),
            &serde_json::json!("u8"),
            &serde_json::json!(0),
            &serde_json::json!(100),
            &serde_json::json!(1)
        )
    );
    let json = model("examples/idol/sprot.cap");
    let sets = json["error_sets"].as_array().expect("error sets");
    let set = |name: &str| sets.iter().find(|s| s["name"] == name).expect(name);
    let watchdog = &set("SprotError")["variants"][4];
    assert_eq!(watchdog["name"], "Watchdog");
    assert_eq!(
        watchdog["payload_types"],
        serde_json::json!([{"name": "error", "type": "WatchdogError", "offset": 0}])
    );
    assert_eq!(set("SprotError")["bytes"], 6);
    assert_eq!(set("SprotError")["typed"], true);
    assert_eq!(set("WatchdogError")["typed"], true);
    assert_eq!(set("SpiError")["typed"], false);
    let dump = json["interfaces"][0]["methods"]
        .as_array()
        .expect("methods")
        .iter()
        .find(|m| m["name"] == "dump")
        .expect("dump");
    assert_eq!(dump["error_set"], "DumpOrSprotError");
    assert_eq!(dump["idempotent"], true);
    assert_eq!(dump["errors"].as_array().map(Vec::len), Some(2));
}

/// A message type sized by a constant that each configuration gives its own
/// value (dsl/tests/ui/pass/config-sized-types.cap): the layout is the
/// configuration's.
#[test]
fn message_types_are_sized_by_the_configuration() {
    let spec = "dsl/tests/ui/pass/config-sized-types.cap";
    let table = |json: &serde_json::Value| {
        let t = &json["data_types"][0];
        assert_eq!(t["name"], "Table");
        (t["bytes"].clone(), t["fields"][1]["offset"].clone())
    };
    // 2 slots: 2 * 4 bytes, then a length and 2 strings of 1 + 2 bytes.
    assert_eq!(
        table(&model(spec)),
        (serde_json::json!(8 + 1 + 2 * 3), serde_json::json!(8))
    );
    let out = capc(&workspace(), &["model", "--json", "--cfg", "big", spec]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let big: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    // 8 slots: 8 * 4 bytes, then a length and 8 strings of 1 + 8 bytes.
    assert_eq!(
        table(&big),
        (serde_json::json!(32 + 1 + 8 * 9), serde_json::json!(32))
    );
}

/// A lease parameter: its frame cap type, exactly the rights its cap is
/// minted with, element, bound, and where it travels (two words and a cap).
#[test]
fn leases_give_their_rights_bound_and_place() {
    let json = model("examples/leases.cap");
    let methods = &json["interfaces"][0]["methods"];
    let data = &methods[0]["params"][1];
    assert_eq!(
        data,
        &serde_json::json!({
            "kind": "lease",
            "name": "data",
            "cap": "FrameCap",
            "rights": ["read"],
            "read": true,
            "write": false,
            "element": "u8",
            "max": 512,
            "exact": false,
            "max_bytes": 512,
            "frame_bytes": 2097152,
            "word_start": 1,
            "word_count": 2,
            "cap_index": 0,
        })
    );
    let counters = &methods[2]["params"][1];
    assert_eq!(counters["rights"], serde_json::json!(["read", "write"]));
    assert_eq!(
        (counters["exact"].as_bool(), counters["max_bytes"].as_u64()),
        (Some(true), Some(32))
    );
}

/// A session that may be opened bound to a callback interface says which
/// (dsl/tests/ui/pass/session-binds.cap), a session that may not says
/// nothing, and both validate against the schema.
#[test]
fn a_sessions_binding_is_named() {
    let json = model("dsl/tests/ui/pass/session-binds.cap");
    let keys = json["interfaces"]
        .as_array()
        .expect("interfaces")
        .iter()
        .find(|i| i["name"] == "Keys")
        .expect("Keys");
    assert_eq!(keys["session"]["binds"], "KeyEvents");
    assert_eq!(keys["session"]["keeps"], 64);
    let validator = jsonschema::draft202012::new(&schema()).expect("a valid schema");
    assert!(validator.is_valid(&json));
    let mem = model("examples/flounder/mem.cap");
    let mem = mem["interfaces"]
        .as_array()
        .expect("interfaces")
        .iter()
        .find(|i| i["name"] == "Mem")
        .expect("Mem");
    assert!(mem["session"].is_object());
    assert!(mem["session"].get("binds").is_none());
    // The schema names what a session binds.
    let mut wrong = json.clone();
    let at = wrong["interfaces"]
        .as_array()
        .expect("interfaces")
        .iter()
        .position(|i| i["name"] == "Keys")
        .expect("Keys");
    wrong["interfaces"][at]["session"]["binds"] = 3.into();
    assert!(!validator.is_valid(&wrong));
}
