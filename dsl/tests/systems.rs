//! Systems: what a client sets aside for its calls in flight (donations and
//! session quotas), checked against its budget at the edge.

use std::path::Path;

use capc_dsl::{MemoryLoader, compile};

const BASE: &str = include_str!("ui/system-base.cap");

/// A memory service used through sessions: 16 KiB of quota per session,
/// and a method that also takes a 4 KiB donation.
const SERVICE: &str = "
errors MemError { OutOfQuota }

interface Mem -> MemError {
    session {
        donates quota 16 KiB;
        out_of_budget OutOfQuota;
    }

    fn ping(n: u8 in 1..=4) {
        allocates n * Endpoint;
        errors OutOfQuota;
    }
}
";

/// A server of `Mem` and a client with `budget` and `in_flight` calls.
fn system(budget: &str, in_flight: u32) -> capc_dsl::Compilation {
    let text = format!(
        "use \"base.cap\";\n{SERVICE}
system s {{
    memory = 128 MiB;
    object ep: Endpoint;
    domain server {{
        program = \"server\";
        budget = 4 KiB;
        priority = 1;
        object server_tcb: Tcb;
        object server_cspace: CNode(4);
        cspace = server_cspace;
        slot ep: EndpointCap(read) = ep;
        serves Mem on ep;
    }}
    domain client {{
        program = \"client\";
        budget = {budget};
        priority = 1;
        object client_tcb: Tcb;
        object client_cspace: CNode(4);
        cspace = client_cspace;
        slot mem: EndpointCap(write) = ep;
        calls Mem on mem x {in_flight};
    }}
}}
"
    );
    let loader = MemoryLoader::new()
        .with("base.cap", BASE)
        .with("main.cap", text);
    compile(Path::new("main.cap"), &loader).expect("loads")
}

fn codes(c: &capc_dsl::Compilation) -> Vec<&'static str> {
    c.diagnostics.iter().map(|d| d.code.as_str()).collect()
}

#[test]
fn a_session_quota_is_set_aside_per_call_in_flight() {
    // Three 16 KiB quotas, a 2 KiB TCB and a 512-byte CNode: 64 KiB holds
    // them.
    let fits = system("64 KiB", 3);
    assert_eq!(codes(&fits), Vec::<&str>::new(), "{}", fits.render());
    let spec = fits.spec.expect("checks");
    assert_eq!(
        spec.systems[0].domains[1].calls[0].reserve_bytes,
        3 * 16 * 1024
    );
    // Four do not fit 64 KiB (66.5 KiB needed: 2.5 KiB short).
    let short = system("64 KiB", 4);
    assert_eq!(codes(&short), ["E0909"], "{}", short.render());
    let message = &short.diagnostics[0].message;
    assert!(message.contains("client `client`"), "{message}");
    assert!(message.contains("`Mem's session`"), "{message}");
    assert!(message.contains("short by 2560 bytes"), "{message}");
}

#[test]
fn untypeds_too_small_for_one_quota_fail_even_when_the_sum_fits() {
    // 32 KiB in four 8 KiB Untypeds: no 16 KiB quota fits in one.
    let fragmented = system("8 KiB, 8 KiB, 8 KiB, 8 KiB", 1);
    assert_eq!(codes(&fragmented), ["E0909"], "{}", fragmented.render());
    assert!(
        fragmented.diagnostics[0]
            .message
            .contains("its Untypeds are too small for one donation of 16 KiB"),
        "{}",
        fragmented.render()
    );
    // One 32 KiB Untyped holds the quota, the TCB and the CNode.
    assert_eq!(codes(&system("32 KiB", 1)), Vec::<&str>::new());
}

#[test]
fn thousands_of_calls_in_flight_are_summed() {
    // 5000 calls of 16 KiB: 78 MiB + 2.5 KiB needed.
    let huge = system("64 MiB, 16 MiB", 5000);
    assert_eq!(codes(&huge), Vec::<&str>::new(), "{}", huge.render());
    let short = system("64 MiB", 5000);
    assert_eq!(codes(&short), ["E0909"], "{}", short.render());
}

/// Two drivers with `hardware` each (statements of their domains).
fn drivers(first: &str, second: &str) -> capc_dsl::Compilation {
    let domain = |name: &str, hardware: &str| {
        format!(
            "    domain {name} {{\n        program = \"{name}\";\n        budget = 4 KiB;\n        priority = 1;\n        object {name}_tcb: Tcb;\n        object {name}_cspace: CNode(4);\n        cspace = {name}_cspace;\n{hardware}\n    }}\n"
        )
    };
    let text = format!(
        "use \"base.cap\";\nsystem s {{\n    memory = 1 MiB;\n{}{}}}\n",
        domain("a", first),
        domain("b", second)
    );
    let loader = MemoryLoader::new()
        .with("base.cap", BASE)
        .with("main.cap", text);
    compile(Path::new("main.cap"), &loader).expect("loads")
}

#[test]
fn hardware_is_given_once() {
    let apart = drivers(
        "        irq 3;\n        device uart at 0x1000 size 4 KiB;",
        "        irq 4;\n        device disk at 0x10000 size 64 KiB;",
    );
    assert_eq!(codes(&apart), Vec::<&str>::new(), "{}", apart.render());
    let devices = &apart.spec.expect("checks").systems[0].domains[1].devices;
    assert_eq!((devices[0].base, devices[0].bytes), (0x10000, 0x10000));
    // A 64 KiB region at 0x10000 holds the 4 KiB one at 0x18000.
    let overlap = drivers(
        "        device uart at 0x18000 size 4 KiB;",
        "        device disk at 0x10000 size 64 KiB;",
    );
    assert_eq!(codes(&overlap), ["E0911"], "{}", overlap.render());
    assert!(
        overlap.diagnostics[0]
            .message
            .contains("`disk` overlaps `uart`")
    );
    let one_domain_twice = drivers("        irq 3;\n        irq 3;", "");
    assert_eq!(codes(&one_domain_twice), ["E0911"]);
    assert_eq!(
        one_domain_twice.diagnostics[0].message,
        "interrupt 3 is given to `a` twice"
    );
}

/// The boot plan of the decompression demo: every Untyped naturally
/// aligned and apart from the others, at or above 1 MiB; every object
/// inside the Untyped it is made from, aligned to its size, apart from the
/// others, and in its own domain's budget (shared objects in the shared
/// Untyped); each owned object where the checker placed it, the domain's
/// objects first in its Untyped; objects in retype order.
#[test]
fn the_boot_plan_places_every_untyped_and_object_apart() {
    use capc_dsl::bootplan::BootPlan;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let spec = compile(
        &root.join("examples/systems/decompress.cap"),
        &capc_dsl::FsLoader,
    )
    .expect("readable")
    .spec
    .expect("decompress.cap checks clean");
    let system = &spec.systems[0];
    let plan = BootPlan::of(system, 4).expect("a checked system has a plan");
    let size = |bits: u32| 1u64 << bits;
    // Each domain's budget, and the shared objects' Untyped.
    let budgets: usize = system.domains.iter().map(|d| d.budget.len()).sum();
    assert_eq!(plan.untypeds.len(), budgets + 1);
    let mut regions: Vec<(u64, u64)> = Vec::new();
    for u in &plan.untypeds {
        assert_eq!(u.base % size(u.size_bits), 0, "{u:?}");
        assert!(u.base >= 1 << 20, "{u:?}");
        if let Some(d) = u.domain {
            assert_eq!(
                system.domains[d].budget[u.index],
                size(u.size_bits),
                "{u:?}"
            );
        }
        regions.push((u.base, u.base + size(u.size_bits)));
    }
    for (i, a) in regions.iter().enumerate() {
        for b in &regions[i + 1..] {
            assert!(a.1 <= b.0 || b.1 <= a.0, "{a:?} overlaps {b:?}");
        }
    }
    assert_eq!(plan.objects.len(), system.objects.len());
    let mut placed: Vec<(u64, u64)> = Vec::new();
    for p in &plan.objects {
        let o = &system.objects[p.object];
        let u = &plan.untypeds[p.untyped];
        assert_eq!(u.domain, o.owner, "{} is paid by its owner", o.name);
        let at = plan.address(p.object).expect("placed");
        assert_eq!(at, u.base + p.offset);
        assert_eq!(at % size(o.size_bits), 0, "{} aligned", o.name);
        assert!(
            p.offset + size(o.size_bits) <= size(u.size_bits),
            "{} inside",
            o.name
        );
        placed.push((at, at + size(o.size_bits)));
    }
    for (i, a) in placed.iter().enumerate() {
        for b in &placed[i + 1..] {
            assert!(a.1 <= b.0 || b.1 <= a.0, "{a:?} overlaps {b:?}");
        }
    }
    assert!(
        plan.objects
            .windows(2)
            .all(|w| (w[0].untyped, w[0].offset) < (w[1].untyped, w[1].offset)),
        "retype order"
    );
    // Each owned object is where the checker placed it (the model's
    // placement, which the generated plan uses too), and a domain's objects
    // come first in its budget Untyped, back to back from its start, so
    // what follows them is the domain's own, for its donations.
    for (d, _) in system.domains.iter().enumerate() {
        let mut next = std::collections::BTreeMap::<usize, u64>::new();
        for p in plan
            .objects
            .iter()
            .filter(|p| plan.untypeds[p.untyped].domain == Some(d))
        {
            let o = &system.objects[p.object];
            assert_eq!(
                o.placement.untyped,
                Some(plan.untypeds[p.untyped].index),
                "{}",
                o.name
            );
            assert_eq!(o.placement.offset, p.offset, "{}", o.name);
            let at = next.entry(p.untyped).or_insert(0);
            assert_eq!(p.offset, *at, "{} follows the objects before it", o.name);
            *at += size(o.size_bits);
        }
    }
}

/// The example system (examples/systems/decompress.cap) is the demo's
/// (kernel-demo/spec/client_pays.cap, which the demo boots): each of its
/// domains is the demo's `client_pays` domain of the same name, with the
/// same program, budget, priority and CSpace size, and each of its slots is
/// the demo domain's slot of the same name, with the same cap type, object,
/// rights and badge, and the other way round. The example's server is
/// `trusted`; the demo's is not (its `deny`s hold without).
#[test]
fn the_example_system_is_the_demos() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let load = |path: &str| {
        let c = compile(&root.join(path), &capc_dsl::FsLoader).expect("loads");
        assert!(c.diagnostics.is_empty(), "{}", c.render());
        c.spec.expect("checks")
    };
    let example = load("examples/systems/decompress.cap");
    let demo = load("kernel-demo/spec/client_pays.cap");
    let (ex, de) = (&example.systems[0], &demo.systems[0]);
    assert_eq!(de.name, "client_pays");
    assert_eq!(ex.memory, de.memory);
    assert_eq!(ex.domains.len(), de.domains.len());
    for (a, b) in ex.domains.iter().zip(&de.domains) {
        assert_eq!(
            (&a.name, &a.program, &a.budget, a.priority),
            (&b.name, &b.program, &b.budget, b.priority)
        );
        let size = |s: &capc_dsl::model::System, d: &capc_dsl::model::Domain| {
            let o = &s.objects[d.cspace.expect("a CSpace")];
            (o.name.clone(), o.size_bits)
        };
        assert_eq!(size(ex, a), size(de, b), "{}", a.name);
        assert_eq!(a.trusted, a.name == "decompressor", "{}", a.name);
        assert!(!b.trusted, "{}", b.name);
        let names = |d: &capc_dsl::model::Domain| -> Vec<String> {
            d.slots.iter().map(|s| s.name.clone()).collect()
        };
        assert_eq!(names(a), names(b), "{}", a.name);
        for slot in &a.slots {
            let theirs = b
                .slots
                .iter()
                .find(|s| s.name == slot.name)
                .unwrap_or_else(|| panic!("{}.{} is not the demo's", a.name, slot.name));
            assert_eq!(
                (
                    &example.caps[slot.cap.index()].name,
                    &ex.objects[slot.object].name,
                    &slot.rights,
                    slot.badge
                ),
                (
                    &demo.caps[theirs.cap.index()].name,
                    &de.objects[theirs.object].name,
                    &theirs.rights,
                    theirs.badge
                ),
                "{}.{}",
                a.name,
                slot.name
            );
        }
        let calls = |s: &capc_dsl::model::Spec, d: &capc_dsl::model::Domain| -> Vec<String> {
            d.calls
                .iter()
                .map(|c| format!("{} x {}", s.interfaces[c.interface].name, c.in_flight))
                .collect()
        };
        assert_eq!(calls(&example, a), calls(&demo, b), "{}", a.name);
    }
}

/// The example's first four `deny`s rest on its server being `trusted`: the
/// same system without `trusted;` fails each of them (its server receives
/// with grant, so its replies can carry any cap it holds), and the demo's
/// own four still hold.
#[test]
fn the_examples_denies_rest_on_the_trusted_server() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = root.join("examples/systems/decompress.cap");
    let text = std::fs::read_to_string(&path).expect("the example");
    assert!(text.contains("        trusted;\n"));
    let untrusted = text.replace("        trusted;\n", "");
    let service =
        std::fs::read_to_string(root.join("kernel-demo/spec/decompress.cap")).expect("the service");
    let kernel =
        std::fs::read_to_string(root.join("kernel-demo/spec/kernel.cap")).expect("the kernel");
    let loader = MemoryLoader::new()
        .with("kernel-demo/spec/decompress.cap", service)
        .with("kernel-demo/spec/kernel.cap", kernel)
        .with("examples/systems/decompress.cap", untrusted);
    let c = compile(Path::new("examples/systems/decompress.cap"), &loader).expect("loads");
    let messages: Vec<String> = c
        .diagnostics
        .iter()
        .map(|d| format!("{} {}", d.code.as_str(), d.message))
        .collect();
    assert_eq!(
        messages,
        [
            "E0910 `bomber1` can come to hold `write` on `dec_cspace`",
            "E0910 `bomber1` can come to hold `read` on `client_cspace`",
            "E0910 `bomber2` can come to hold `write` on `bomber1_input`",
            "E0910 `client` can come to hold `read` on `dec_ep`",
        ],
        "{}",
        c.render()
    );
}
