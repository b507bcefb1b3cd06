//! `capc build --side kernel|user` (`Builder::side`, `include_spec!(...,
//! side = kernel)`): each side of each example spec compiles on its own,
//! warnings denied, and holds its side's items and not the other's.

mod common;

use common::{Scratch, capc, rustc_lib, text, workspace};

/// Specs with every kind of item between them: kernel invocations, RPC
/// interfaces with donations, systems, byte-sized objects, configurations.
const SPECS: [&str; 5] = [
    "kernel-demo/spec/kernel.cap",
    "kernel-demo/spec/client_pays.cap",
    "examples/everything.cap",
    "examples/barrelfish/caps.cap",
    "examples/sel4/x86_64.cap",
];

/// `capc build spec flags...`, compiled by rustc as a `no_std` library
/// with warnings denied; returns the module.
fn build_and_compile(scratch: &Scratch, spec: &str, flags: &[&str]) -> String {
    let mut args = vec!["build", spec];
    args.extend_from_slice(flags);
    let out = capc(&workspace(), &args);
    let side = flags.join(" ");
    assert!(out.status.success(), "{spec} {side}: {}", text(&out.stderr));
    let module = text(&out.stdout);
    let name = format!(
        "{}{}",
        spec.rsplit('/').next().unwrap().replace(['.', '-'], "_"),
        side.replace(' ', "_").replace("--", "_").replace('-', "_")
    );
    scratch.write(&format!("{name}.rs"), &module);
    let lib = format!("#![no_std]\npub mod m {{ include!(\"{name}.rs\"); }}\n");
    let rustc = rustc_lib(scratch, &format!("{name}_lib"), &lib);
    assert!(
        rustc.status.success(),
        "{spec} {side}:\n{}",
        text(&rustc.stderr)
    );
    module
}

#[test]
fn each_side_compiles_alone_and_holds_its_items() {
    let scratch = Scratch::new("sides", "compile");
    for spec in SPECS {
        let kernel = build_and_compile(&scratch, spec, &["--side", "kernel"]);
        let user = build_and_compile(&scratch, spec, &["--side", "user"]);
        for module in [&kernel, &user] {
            assert!(
                module.contains("pub struct Cap"),
                "{spec}: both sides have the cap layout"
            );
        }
        assert!(
            kernel.contains("pub struct Placement"),
            "{spec}: the kernel retypes"
        );
        assert!(
            !user.contains("pub struct Placement"),
            "{spec}: a user task does not"
        );
        assert!(
            !kernel.contains("pub mod boot"),
            "{spec}: the root task runs boot plans"
        );
        assert!(
            !kernel.contains("Client<T: Transport>"),
            "{spec}: no RPC clients in the kernel"
        );
        assert!(
            !kernel.contains("pub fn dispatch_"),
            "{spec}: no RPC servers in the kernel"
        );
    }
    // Kernel invocations: the kernel decodes, the user side calls.
    let kernel = build_and_compile(
        &scratch,
        "kernel-demo/spec/kernel.cap",
        &["--side", "kernel"],
    );
    let user = build_and_compile(&scratch, "kernel-demo/spec/kernel.cap", &["--side", "user"]);
    assert!(
        kernel.contains("pub fn decode_cnode_cap(") && !user.contains("pub fn decode_cnode_cap(")
    );
    assert!(
        user.contains("pub struct CNodeCapClient") && !kernel.contains("pub struct CNodeCapClient")
    );
    assert!(user.contains("pub trait Transport") && !kernel.contains("pub trait Transport"));
    let both = text(&capc(&workspace(), &["build", "kernel-demo/spec/client_pays.cap"]).stdout);
    let user = text(
        &capc(
            &workspace(),
            &[
                "build",
                "--side",
                "user",
                "kernel-demo/spec/client_pays.cap",
            ],
        )
        .stdout,
    );
    for item in [
        "pub mod boot",
        "pub struct DecompressorClient",
        "pub trait DecompressorServer",
    ] {
        assert!(
            both.contains(item) && user.contains(item),
            "the user side keeps `{item}`"
        );
    }
}

/// `--no-clients` and `--no-servers` compile too, for specs with leases,
/// sessions, callbacks and one-way messages (each leaves out half of the
/// RPC code, and what the other half shares must stay).
#[test]
fn each_half_of_the_rpc_code_compiles_alone() {
    let scratch = Scratch::new("sides", "halves");
    for spec in [
        "examples/leases.cap",
        "examples/idol/sprot.cap",
        "examples/flounder/octopus.cap",
        "kernel-demo/spec/sessions.cap",
    ] {
        for flag in ["--no-clients", "--no-servers"] {
            build_and_compile(&scratch, spec, &[flag]);
        }
    }
}

#[test]
fn the_builder_and_the_cli_agree_on_a_side() {
    let scratch = Scratch::new("sides", "builder");
    let spec = workspace().join("kernel-demo/spec/kernel.cap");
    capc::Builder::new()
        .spec(&spec)
        .side(capc::backend::Side::Kernel)
        .out_dir(scratch.path(""))
        .compile()
        .expect("kernel.cap builds");
    let built = std::fs::read_to_string(scratch.path("kernel.rs")).unwrap();
    let cli = text(
        &capc(
            &workspace(),
            &["build", "--side", "kernel", "kernel-demo/spec/kernel.cap"],
        )
        .stdout,
    );
    assert_eq!(built, cli);
    let user = text(
        &capc(
            &workspace(),
            &["build", "--side", "user", "kernel-demo/spec/kernel.cap"],
        )
        .stdout,
    );
    assert_ne!(built, user);
}
