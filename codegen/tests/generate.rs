//! The generated code: snapshots of the module generated for every example
//! spec (in snapshots/codegen/), agreement between the three ways of
//! generating it (`capc build`, `capc::Builder`, `capc::render_spec`),
//! determinism, and how `capc build` and the builder handle broken specs.
//!
//! Specs are passed relative to this crate's directory (the directory tests
//! run in), so no test changes the process's directory; the output must not
//! depend on the path anyway.

mod common;

use common::{Scratch, UNKNOWN_NAME, capc, workspace};
use std::path::{Path, PathBuf};
use std::process::Output;

use capc::{BuildError, Builder, Options, render_spec};

/// The example specs: snapshot name and path relative to the workspace root.
const EXAMPLES: [(&str, &str); 5] = [
    ("kernel", "kernel-demo/spec/kernel.cap"),
    ("decompress", "kernel-demo/spec/decompress.cap"),
    ("everything", "examples/everything.cap"),
    ("messages", "examples/messages.cap"),
    ("leases", "examples/leases.cap"),
];

/// `path` (relative to the workspace root) as seen from this crate's directory.
fn from_crate(path: &str) -> PathBuf {
    Path::new("..").join(path)
}

fn render(path: &str, options: &Options) -> String {
    match render_spec(&from_crate(path), options) {
        Ok((text, _)) => text,
        Err(e) => panic!("{path} does not generate:\n{e}"),
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

#[test]
fn snapshots_of_the_generated_code() {
    insta::with_settings!({
        snapshot_path => workspace().join("snapshots/codegen"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        for (name, path) in EXAMPLES {
            insta::assert_snapshot!(name, render(path, &Options::default()));
        }
    });
}

/// Specs with systems: snapshot name and path. Their module is the
/// service's (snapshotted above) followed by the boot plans, which are
/// snapshotted on their own.
const SYSTEMS: [(&str, &str); 2] = [
    ("boot-decompress-example", "examples/systems/decompress.cap"),
    ("boot-client-pays", "kernel-demo/spec/client_pays.cap"),
];

/// The `boot` module of a rendered module: from its doc comment on.
fn boot_module(rendered: &str) -> &str {
    let at = rendered
        .find("/// The boot plans of the spec's systems")
        .expect("a spec with systems has a boot module");
    &rendered[at..]
}

#[test]
fn snapshots_of_the_generated_boot_plans() {
    insta::with_settings!({
        snapshot_path => workspace().join("snapshots/codegen"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        for (name, path) in SYSTEMS {
            insta::assert_snapshot!(name, boot_module(&render(path, &Options::default())));
        }
    });
}

#[test]
fn cli_and_builder_generate_the_boot_plans() {
    let scratch = Scratch::new("generate", "boot");
    let root = workspace();
    for (name, path) in SYSTEMS {
        let rendered = render(path, &Options::default());
        let run = capc(&root, &["build", path]);
        assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
        assert!(stdout(&run) == rendered, "`capc build {path}` differs");
        let dir = scratch.path(name);
        std::fs::create_dir_all(&dir).unwrap();
        let files = Builder::new()
            .spec(from_crate(path))
            .out_dir(&dir)
            .compile()
            .unwrap_or_else(|e| panic!("{e}"));
        let built = std::fs::read_to_string(&files[0]).unwrap();
        assert!(built == rendered, "Builder output for {path} differs");
        assert!(boot_module(&built).contains("pub const PLAN: super::Plan"));
    }
}

#[test]
fn cli_builder_and_render_spec_agree() {
    let scratch = Scratch::new("generate", "agree");
    let root = workspace();
    for (name, path) in EXAMPLES {
        let rendered = render(path, &Options::default());

        let run = capc(&root, &["build", path]);
        assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
        assert!(
            stdout(&run) == rendered,
            "`capc build {path}` differs from render_spec"
        );

        let out = scratch.path(&format!("{name}-cli.rs"));
        let run = capc(&root, &["build", path, "-o", out.to_str().unwrap()]);
        assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
        assert!(run.stdout.is_empty(), "with -o nothing goes to stdout");
        let written = std::fs::read_to_string(&out).expect("-o writes the file");
        assert!(written == rendered, "`capc build {path} -o` differs");

        let dir = scratch.path(name);
        std::fs::create_dir_all(&dir).unwrap();
        let files = Builder::new()
            .spec(from_crate(path))
            .out_dir(&dir)
            .compile()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(files, [dir.join(format!("{name}.rs"))]);
        let built = std::fs::read_to_string(&files[0]).unwrap();
        assert!(built == rendered, "Builder output for {path} differs");
    }
}

#[test]
fn options_agree_between_cli_and_builder() {
    let scratch = Scratch::new("generate", "options");
    let root = workspace();
    let path = "examples/everything.cap";
    let cases = [
        (&["--no-servers"][..], false, true),
        (&["--no-clients"][..], true, false),
        (&["--no-servers", "--no-clients"][..], false, false),
    ];
    let full = render(path, &Options::default());
    for (flags, servers, clients) in cases {
        let mut args = vec!["build", path];
        args.extend(flags);
        let run = capc(&root, &args);
        assert_eq!(run.status.code(), Some(0), "{flags:?}: {}", stderr(&run));
        let options = Options {
            clients,
            servers,
            ..Options::default()
        };
        let rendered = render(path, &options);
        assert!(
            stdout(&run) == rendered,
            "{flags:?} differs from render_spec"
        );

        let dir = scratch.path(&flags.join(""));
        std::fs::create_dir_all(&dir).unwrap();
        let files = Builder::new()
            .spec(from_crate(path))
            .servers(servers)
            .clients(clients)
            .out_dir(&dir)
            .compile()
            .unwrap_or_else(|e| panic!("{e}"));
        let built = std::fs::read_to_string(&files[0]).unwrap();
        assert!(built == rendered, "{flags:?}: Builder output differs");

        // Leaving out servers drops the server trait and its dispatch
        // function; leaving out clients drops the client type.
        assert!(rendered.len() < full.len(), "{flags:?} changes nothing");
        assert_eq!(
            rendered.contains("pub trait FileServiceServer"),
            servers,
            "{flags:?}"
        );
        assert_eq!(
            rendered.contains("pub fn dispatch_file_service("),
            servers,
            "{flags:?}"
        );
        assert_eq!(
            rendered.contains("pub struct FileServiceClient<"),
            clients,
            "{flags:?}"
        );
    }
    assert!(
        full.contains("pub trait FileServiceServer")
            && full.contains("pub struct FileServiceClient<")
    );
    // Specs without interfaces are unaffected.
    let kernel = render("kernel-demo/spec/kernel.cap", &Options::default());
    let bare = Options {
        clients: false,
        servers: false,
        ..Options::default()
    };
    assert_eq!(render("kernel-demo/spec/kernel.cap", &bare), kernel);
}

#[test]
fn output_is_deterministic_and_has_no_paths() {
    let root = workspace();
    let root_str = root.to_string_lossy().into_owned();
    for (name, path) in EXAMPLES {
        let first = render(path, &Options::default());
        let second = render(path, &Options::default());
        assert!(first == second, "{path} renders differently twice");

        // The same spec through an absolute path gives the same bytes.
        let absolute = render_spec(&root.join(path), &Options::default())
            .unwrap_or_else(|e| panic!("{e}"))
            .0;
        assert!(
            absolute == first,
            "{path}: output depends on the spec's path"
        );

        let header = format!("// @generated by capc from {name}.cap, do not edit.\n");
        assert!(
            first.starts_with(&header),
            "{path} starts with:\n{}",
            &first[..200]
        );
        for needle in [
            root_str.as_str(),
            env!("CARGO_MANIFEST_DIR"),
            "/work",
            "/tmp",
            "../",
        ] {
            assert!(
                !first.contains(needle),
                "{path}: output contains `{needle}`"
            );
        }
        assert!(first.ends_with('\n') && !first.ends_with("\n\n"));
    }
}

#[test]
fn build_on_a_broken_spec_prints_what_check_prints() {
    let scratch = Scratch::new("generate", "broken");
    std::fs::write(scratch.path("broken.cap"), UNKNOWN_NAME).unwrap();

    let check = capc(&scratch.dir, &["check", "broken.cap"]);
    assert_eq!(check.status.code(), Some(1));
    let build = capc(&scratch.dir, &["build", "broken.cap", "-o", "out.rs"]);
    assert_eq!(build.status.code(), Some(1), "{}", stderr(&build));
    assert!(
        stderr(&build).contains("error[E0100]"),
        "{}",
        stderr(&build)
    );
    assert_eq!(stderr(&build), stderr(&check));
    assert!(build.stdout.is_empty());
    assert!(!scratch.path("out.rs").exists(), "nothing is written");

    let build = capc(&scratch.dir, &["build", "broken.cap"]);
    assert_eq!(build.status.code(), Some(1));
    assert!(build.stdout.is_empty(), "no code on stdout");
    assert_eq!(stderr(&build), stderr(&check));
}

#[test]
fn build_on_a_missing_spec_exits_2() {
    let scratch = Scratch::new("generate", "missing");
    let run = capc(&scratch.dir, &["build", "missing.cap", "-o", "out.rs"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("missing.cap"), "{}", stderr(&run));
    assert!(run.stdout.is_empty());
    assert!(!scratch.path("out.rs").exists());
}

#[test]
fn build_with_o_writes_the_file() {
    let scratch = Scratch::new("generate", "output");
    std::fs::copy(
        workspace().join("kernel-demo/spec/kernel.cap"),
        scratch.path("kernel.cap"),
    )
    .unwrap();
    let run = capc(&scratch.dir, &["build", "kernel.cap", "-o", "caps.rs"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert!(run.stdout.is_empty() && run.stderr.is_empty());
    let written = std::fs::read_to_string(scratch.path("caps.rs")).unwrap();
    assert!(written == render("kernel-demo/spec/kernel.cap", &Options::default()));
}

#[test]
fn builder_reports_spec_errors() {
    let scratch = Scratch::new("generate", "builder");
    let spec = scratch.path("broken.cap");
    std::fs::write(&spec, UNKNOWN_NAME).unwrap();
    let out = scratch.path("out");
    std::fs::create_dir_all(&out).unwrap();

    let error = Builder::new()
        .spec(&spec)
        .out_dir(&out)
        .compile()
        .expect_err("the spec has errors");
    let BuildError::Spec { path, rendered, .. } = &error else {
        panic!("expected BuildError::Spec, got {error:?}");
    };
    assert_eq!(path, &spec);
    let expected = capc_dsl::compile_str(&spec.to_string_lossy(), UNKNOWN_NAME).render();
    assert_eq!(rendered, &expected);
    assert!(rendered.contains("error[E0100]"), "{rendered}");
    let shown = error.to_string();
    assert!(shown.contains(&expected), "{shown}");
    assert!(shown.contains("has errors"), "{shown}");
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        0,
        "nothing written"
    );

    let missing = Builder::new()
        .spec(scratch.path("missing.cap"))
        .out_dir(&out)
        .compile()
        .expect_err("the spec is missing");
    assert!(matches!(missing, BuildError::Unreadable(_)), "{missing:?}");
}

/// `capc build --cfg`, `Builder::cfg` and `render_spec` with
/// `Options::configuration` give one module per configuration; an option
/// the spec does not declare is E0443 from the CLI and the builder.
#[test]
fn configurations_agree_between_cli_and_builder() {
    let scratch = Scratch::new("generate", "configurations");
    let root = workspace();
    let path = "examples/sel4/x86_64.cap";
    let mut modules = Vec::new();
    for chosen in [&[][..], &["mcs"], &["smp"], &["mcs", "smp"]] {
        let mut args = vec!["build", "--deny-warnings", path];
        for option in chosen {
            args.extend(["--cfg", option]);
        }
        let run = capc(&root, &args);
        assert_eq!(run.status.code(), Some(0), "{chosen:?}: {}", stderr(&run));
        let options = Options {
            configuration: chosen.iter().map(|o| o.to_string()).collect(),
            ..Options::default()
        };
        let rendered = render(path, &options);
        assert!(
            stdout(&run) == rendered,
            "{chosen:?} differs from render_spec"
        );
        let flags: String = chosen.iter().map(|o| format!("--cfg {o} ")).collect();
        assert!(
            rendered.contains(&format!("Regenerate with `capc build {flags}x86_64.cap`")),
            "{chosen:?}: the header names the configuration"
        );

        let dir = scratch.path(&format!("cfg{}", chosen.join("-")));
        std::fs::create_dir_all(&dir).unwrap();
        let mut builder = Builder::new().spec(from_crate(path)).out_dir(&dir);
        for option in chosen {
            builder = builder.cfg(*option);
        }
        let files = builder.compile().unwrap_or_else(|e| panic!("{e}"));
        let built = std::fs::read_to_string(&files[0]).unwrap();
        assert!(built == rendered, "{chosen:?}: Builder output differs");
        modules.push(rendered);
    }
    for (i, a) in modules.iter().enumerate() {
        for b in &modules[i + 1..] {
            assert!(a != b, "two configurations give one module");
        }
    }

    let run = capc(&root, &["build", path, "--cfg", "msc"]);
    assert_eq!(run.status.code(), Some(1));
    assert!(stderr(&run).contains("error[E0443]"), "{}", stderr(&run));
    assert!(run.stdout.is_empty(), "nothing is generated");
    let err = Builder::new()
        .spec(from_crate(path))
        .cfg("msc")
        .out_dir(scratch.path("msc"))
        .compile()
        .expect_err("msc is not declared");
    assert!(err.to_string().contains("E0443"), "{err}");
}
