//! Configurations (`config { ... }`, `#[cfg(...)]`): the model is the
//! chosen configuration's, every configuration is checked, and the
//! diagnostics of all of them are merged (an error once, with the
//! configurations it is in; a warning only where it holds wherever its
//! place exists).

use std::path::Path;

use capc_dsl::model::Spec;
use capc_dsl::{Code, Compilation, FsLoader, MemoryLoader, compile_with};

fn pass_case(chosen: &[&str]) -> Spec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/pass/configurations.cap");
    let chosen: Vec<String> = chosen.iter().map(|s| s.to_string()).collect();
    let c = compile_with(&path, &FsLoader, &chosen).expect("readable");
    let rendered = c.render();
    c.spec
        .unwrap_or_else(|| panic!("{chosen:?} checks:\n{rendered}"))
}

fn methods(spec: &Spec, cap: &str) -> Vec<String> {
    spec.invocations
        .iter()
        .find(|m| m.name == cap)
        .map(|m| m.methods.iter().map(|m| m.name.clone()).collect())
        .unwrap_or_default()
}

#[test]
fn the_model_is_the_chosen_configurations() {
    for (mcs, smp) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut chosen = Vec::new();
        if mcs {
            chosen.push("mcs");
        }
        if smp {
            chosen.push("smp");
        }
        let spec = pass_case(&chosen);
        let on: Vec<(&str, bool)> = spec
            .configuration
            .iter()
            .map(|o| (o.name.as_str(), o.enabled))
            .collect();
        assert_eq!(on, [("mcs", mcs), ("smp", smp)]);
        // Items.
        assert_eq!(spec.object("SchedContext").is_some(), mcs);
        assert_eq!(spec.cap("SchedContextCap").is_some(), mcs);
        assert_eq!(spec.interfaces.len(), usize::from(mcs));
        assert_eq!(
            spec.data_types.iter().any(|t| t.name == "Budget"),
            mcs,
            "{chosen:?}"
        );
        // Fields.
        let tcb = &spec.caps[spec.cap("TcbCap").expect("TcbCap").index()];
        assert_eq!(tcb.fields.iter().any(|f| f.name == "affinity"), smp);
        // Slots.
        let tcb_object = &spec.objects[spec.object("Tcb").expect("Tcb").index()];
        assert_eq!(tcb_object.slots.len(), usize::from(mcs));
        // Methods and parameters.
        let expected: Vec<&str> = if mcs {
            vec!["set_sched_params", "yield_to"]
        } else {
            vec!["set_priority"]
        };
        assert_eq!(methods(&spec, "TcbCap"), expected);
        if mcs {
            let set = &spec.invocations[0].methods[0];
            let params: Vec<&str> = set.params.iter().map(|p| p.name.as_str()).collect();
            let mut want = vec!["sc", "priority"];
            if smp {
                want.push("core");
            }
            assert_eq!(params, want);
        }
    }
}

const BASE: &str = r#"
config {
    mcs,
    smp,
}

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

retype UntypedCap {
    into = Untyped;
    fan_out = 256;
}

errors Error {
    Invalid,
}

#[cfg(smp)]
invocations UntypedCap -> Error {
    fn pin(core: word);
}
"#;

fn compile(extra: &str, chosen: &[&str]) -> Compilation {
    let text = format!("{BASE}{extra}");
    let loader = MemoryLoader::new().with("c.cap", text);
    let chosen: Vec<String> = chosen.iter().map(|s| s.to_string()).collect();
    compile_with(Path::new("c.cap"), &loader, &chosen).expect("in memory")
}

#[test]
fn an_error_everywhere_is_reported_once_without_a_note() {
    let c = compile("const A = B;\n", &[]);
    let unknown: Vec<_> = c
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::UnknownName)
        .collect();
    assert_eq!(unknown.len(), 1, "{}", c.render());
    assert!(
        unknown[0]
            .notes
            .iter()
            .all(|n| !n.contains("configurations"))
    );
    assert!(c.spec.is_none());
}

#[test]
fn an_error_in_some_configurations_names_them_and_rejects_every_choice() {
    let extra = "#[cfg(all(mcs, smp))]\nconst A = B;\n";
    for chosen in [&[][..], &["mcs"], &["smp"], &["mcs", "smp"]] {
        let c = compile(extra, chosen);
        let unknown: Vec<_> = c
            .diagnostics
            .iter()
            .filter(|d| d.code == Code::UnknownName)
            .collect();
        assert_eq!(unknown.len(), 1, "{}", c.render());
        assert!(
            unknown[0]
                .notes
                .contains(&"in 1 of the 4 configurations checked: (mcs on, smp on)".to_string()),
            "{:?}",
            unknown[0].notes
        );
        assert!(c.spec.is_none(), "{chosen:?}");
    }
}

#[test]
fn a_warning_is_reported_where_it_holds_wherever_its_place_exists() {
    // Used only in SMP configurations: not unused.
    let used = "#[cfg(smp)]\nerrors Other { X }\n#[cfg(smp)]\ninterface I -> Other { fn f(); }\n";
    let c = compile(used, &[]);
    assert!(only_mcs_unused(&c), "{}", c.render());
    // Unused wherever it exists (the MCS configurations): reported, once.
    let c = compile("#[cfg(mcs)]\nerrors Other { X }\n", &[]);
    let unused: Vec<_> = c
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::UnusedType)
        .collect();
    assert_eq!(unused.len(), 1, "{}", c.render());
    assert!(c.spec.is_some());
    // Unused in one configuration where it exists, used in another: not
    // reported.
    let c = compile(
        "errors Other { X }\n#[cfg(smp)]\ninterface I -> Other { fn f(); }\n",
        &[],
    );
    assert!(only_mcs_unused(&c), "{}", c.render());
}

/// Whether the one diagnostic is W0013 for `mcs`, which these cases do not
/// name.
fn only_mcs_unused(c: &Compilation) -> bool {
    matches!(c.diagnostics.as_slice(), [d] if d.code == Code::UnusedOption && d.message.contains("`mcs`"))
}

#[test]
fn a_spec_without_configurations_is_one_configuration() {
    let text = BASE
        .replace("config {\n    mcs,\n    smp,\n}\n", "")
        .replace("#[cfg(smp)]\n", "");
    let loader = MemoryLoader::new().with("c.cap", text);
    let c = compile_with(Path::new("c.cap"), &loader, &[]).expect("in memory");
    let spec = c.spec.expect("checks");
    assert!(spec.configuration.is_empty());
    assert_eq!(methods(&spec, "UntypedCap"), ["pin"]);
    let c = compile_with(Path::new("c.cap"), &loader, &["mcs".to_string()]).expect("in memory");
    assert_eq!(c.diagnostics[0].code, Code::UnknownChosenOption);
    assert!(c.spec.is_none());
}
