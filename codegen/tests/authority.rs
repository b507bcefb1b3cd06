//! `capc authority`: the take-grant closure of a spec's systems, as text and
//! as JSON, for one object or all, and its errors.

mod common;

use common::{Scratch, capc, text, workspace};

const EXAMPLE: &str = "examples/systems/decompress.cap";

#[test]
fn prints_who_can_hold_what_in_the_demo_system() {
    let out = capc(&workspace(), &["authority", EXAMPLE]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(
            "system decompress_demo\n  trusted (taken to pass on no cap): decompressor\n"
        ),
        "{stdout}"
    );
    // The clients send with grant: their lent frames can reach the server.
    assert!(
        stdout.contains(
            "  object client_input (Frame)\n    read: decompressor (from client via dec_ep), client (at boot)\n"
        ),
        "{stdout}"
    );
    // Nothing flows back from the trusted server: only it holds its CSpace.
    assert!(
        stdout.contains("  object dec_cspace (CNode)\n    read: decompressor (at boot)\n"),
        "{stdout}"
    );
    // Every object is listed, in declaration order.
    let objects: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  object "))
        .map(|l| l.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(objects.len(), 14, "{stdout}");
    assert_eq!(objects[0], "dec_ep");
    // Deterministic.
    assert_eq!(
        text(&capc(&workspace(), &["authority", EXAMPLE]).stdout),
        stdout
    );
}

#[test]
fn object_filter_and_json() {
    let out = capc(
        &workspace(),
        &[
            "authority",
            EXAMPLE,
            "--object",
            "dec_ep",
            "--message-format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let objects = json["systems"][0]["objects"].as_array().expect("objects");
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0]["name"], "dec_ep");
    assert_eq!(objects[0]["type"], "Endpoint");
    let read = &objects[0]["rights"][0];
    assert_eq!(read["right"], "read");
    assert_eq!(
        read["holders"],
        serde_json::json!([{ "domain": "decompressor", "from": null, "via": null }])
    );
    let write = &objects[0]["rights"][1];
    assert_eq!(write["right"], "write");
    assert_eq!(
        write["holders"][0],
        serde_json::json!({ "domain": "decompressor", "from": "client", "via": "dec_ep" })
    );
    assert_eq!(write["holders"].as_array().map(Vec::len), Some(4));
}

#[test]
fn unknown_object_and_spec_without_system_exit_2() {
    let out = capc(&workspace(), &["authority", EXAMPLE, "--object", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no system object is named `nope`"));
    let s = Scratch::new("authority", "no-system");
    s.write("plain.cap", common::TARGET);
    let out = capc(&s.dir, &["authority", "plain.cap"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("has no `system`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_violated_deny_fails_the_command_like_check() {
    let out = capc(
        &workspace(),
        &["authority", "dsl/tests/ui/fail/E0910-deny-violated.cap"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("error[E0910]"));
    assert!(out.stdout.is_empty());
}

/// The demo's own description (kernel-demo/spec/client_pays.cap, which the
/// demo boots): only the root waits on `done` (no domain can come to hold
/// `read` on it, so its `deny`s hold), but a client's own CSpace cap, sent
/// with grant, can reach the server and, in its replies (it receives with
/// grant), the other clients; a copy of the spec asserting the opposite
/// fails with E0910.
#[test]
fn the_demo_systems_authority_both_ways() {
    const DEMO: &str = "kernel-demo/spec/client_pays.cap";
    let out = capc(&workspace(), &["authority", DEMO, "--object", "done"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("system client_pays\n  object done (Notification)\n    write: "),
        "{stdout}"
    );
    assert!(!stdout.contains("    read:"), "{stdout}");
    let out = capc(
        &workspace(),
        &["authority", DEMO, "--object", "client_cspace"],
    );
    assert!(
        text(&out.stdout).contains(
            "    read: decompressor (from client via dec_ep), client (at boot), bomber1 (from decompressor via dec_ep)"
        ),
        "{}",
        text(&out.stdout)
    );
    // The same system denying what the closure allows.
    let spec = std::fs::read_to_string(workspace().join(DEMO)).expect("the demo's spec");
    let service = workspace().join("kernel-demo/spec/decompress.cap");
    let spec = spec
        .replace(
            "use \"decompress.cap\";",
            &format!("use \"{}\";", service.display()),
        )
        .replacen(
            "deny bomber1 holds read on done;",
            "deny bomber1 holds read on client_cspace;",
            1,
        );
    let scratch = Scratch::new("authority", "demo_both_ways");
    scratch.write("demo.cap", spec);
    let file = scratch.path("demo.cap");
    let out = capc(&workspace(), &["authority", file.to_str().expect("UTF-8")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error[E0910]: `bomber1` can come to hold `read` on `client_cspace`"),
        "{stderr}"
    );
}

/// A system adds its boot plan and nothing else: the demo system's spec
/// generates the module the service spec alone generates, followed by the
/// `boot` module (the plan and the domains' typed slots).
#[test]
fn a_system_adds_only_its_boot_plan_to_the_generated_module() {
    let root = workspace();
    let render = |path: &str| {
        let compilation = capc_dsl::compile(std::path::Path::new(path), &RootLoader(root.clone()))
            .expect("reads");
        let spec = compilation.spec.as_ref().expect("checks clean");
        let module = capc::backend::render(
            spec,
            &compilation.sources,
            &capc::Options::default(),
            "spec.cap",
        );
        (spec.systems.len(), module)
    };
    let (systems, with_system) = render(EXAMPLE);
    let (none, without) = render("kernel-demo/spec/decompress.cap");
    assert_eq!((systems, none), (1, 0));
    assert!(
        with_system.contains("pub trait Decompressor"),
        "the service's module"
    );
    let plan = with_system
        .strip_prefix(without.as_str())
        .expect("the service's module comes first, unchanged");
    assert!(
        plan.starts_with("/// The boot plans of the spec's systems"),
        "{plan}"
    );
    assert!(plan.contains("pub mod decompress_demo {"), "{plan}");
    assert!(!without.contains("pub mod boot"));
}

/// Reads paths relative to the workspace root.
struct RootLoader(std::path::PathBuf);

impl capc_dsl::SourceLoader for RootLoader {
    fn read(&self, path: &std::path::Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.0.join(path))
    }
}
