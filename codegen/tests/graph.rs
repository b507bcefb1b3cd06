//! `capc graph`: the DOT text of the example specs (snapshotted in
//! snapshots/graph/), SVG through Graphviz when it is installed, a clear
//! message when it is not, and the exit codes of `capc check`.

mod common;

use common::{Scratch, UNKNOWN_NAME, capc, text, workspace};
use std::path::Path;
use std::process::Command;

fn has_dot() -> bool {
    Command::new("dot").arg("-V").output().is_ok()
}

#[test]
fn dot_of_the_example_specs() {
    insta::with_settings!({
        snapshot_path => workspace().join("snapshots/graph"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        for spec in [
            "kernel-demo/spec/kernel.cap",
            "kernel-demo/spec/decompress.cap",
            "examples/everything.cap",
        ] {
            let out = capc(&workspace(), &["graph", spec]);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            let dot = text(&out.stdout);
            // Deterministic: a second run prints the same bytes.
            assert_eq!(text(&capc(&workspace(), &["graph", spec]).stdout), dot);
            let name = Path::new(spec).file_stem().unwrap().to_string_lossy().into_owned();
            insta::assert_snapshot!(name, dot);
        }
    });
}

#[test]
fn the_picture_in_docs_is_up_to_date() {
    let out = capc(&workspace(), &["graph", "kernel-demo/spec/kernel.cap"]);
    let committed = std::fs::read_to_string(workspace().join("docs/kernel-graph.dot"))
        .expect("docs/kernel-graph.dot is committed");
    assert!(
        text(&out.stdout) == committed,
        "docs/kernel-graph.dot is stale: run `capc graph kernel-demo/spec/kernel.cap -o docs/kernel-graph.dot` \
         and `-o docs/kernel-graph.svg`"
    );
}

#[test]
fn the_interface_shows_who_donates_what() {
    let out = capc(&workspace(), &["graph", "kernel-demo/spec/decompress.cap"]);
    let dot = text(&out.stdout);
    assert!(dot.contains(
        "\"cap UntypedCap\" -> \"interface Decompressor\" [label=\"decompress: client donates >= 1 MiB + 8 KiB"
    ), "{dot}");
    assert!(
        dot.contains("decompress: up to 256 x Frame(12), 4 KiB each"),
        "{dot}"
    );
    assert!(dot.contains("\"cap FrameCap\" -> \"interface Decompressor\" [label=\"decompress: lends input(read)\""), "{dot}");
}

#[test]
fn owned_slots_finalisers_and_mappings() {
    let out = capc(&workspace(), &["graph", "kernel-demo/spec/kernel.cap"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dot = text(&out.stdout);
    // One purple edge per slot the TCB owns, in declaration order, drawn from
    // the TCB (the diamond) to the cap type, labelled with the slot's name,
    // required rights and offset, and kept out of the ranking.
    let slots: Vec<&str> = dot.lines().filter(|l| l.contains("#6b46c1")).collect();
    assert_eq!(
        slots,
        [
            "  \"cap CNodeCap\" -> \"object Tcb\" [label=\"slot cspace\\nat byte 1920 (0x780)\", \
             dir=both, arrowhead=diamond, arrowtail=vee, constraint=false, color=\"#6b46c1\", \
             fontcolor=\"#6b46c1\"];",
            "  \"cap Pml4Cap\" -> \"object Tcb\" [label=\"slot vspace\\nat byte 1952 (0x7a0)\", \
             dir=both, arrowhead=diamond, arrowtail=vee, constraint=false, color=\"#6b46c1\", \
             fontcolor=\"#6b46c1\"];",
            "  \"cap FrameCap\" -> \"object Tcb\" [label=\"slot ipc_buffer(read, write)\\nat byte \
             1984 (0x7c0)\", dir=both, arrowhead=diamond, arrowtail=vee, constraint=false, \
             color=\"#6b46c1\", fontcolor=\"#6b46c1\"];",
            "  \"cap EndpointCap\" -> \"object Tcb\" [label=\"slot fault_handler(write)\\nat byte \
             2016 (0x7e0)\", dir=both, arrowhead=diamond, arrowtail=vee, constraint=false, \
             color=\"#6b46c1\", fontcolor=\"#6b46c1\"];",
        ]
    );
    // The dashed edge from a cap to the object it names is still there, and
    // not purple: the two kinds of edge between TcbCap, Tcb and the slots'
    // caps are told apart.
    assert!(
        dot.contains("  \"cap CNodeCap\" -> \"object CNode\" [style=dashed,"),
        "{dot}"
    );
    assert!(
        dot.contains("label=\"Tcb\\nkernel object, RAM\\n2 KiB\\nfinalise: stop_thread\"]"),
        "{dot}"
    );
    assert!(
        dot.contains("label=\"FrameCap (tag 6)\\nrights: read, write\\nmapping: each cap's own\\n"),
        "{dot}"
    );
    assert!(
        dot.contains("label=\"PdptCap (tag 8)\\nno rights\\nmapping: the object's, shared\\n"),
        "{dot}"
    );
    assert!(
        dot.contains("retyped into B; purple: a slot the object owns\";"),
        "{dot}"
    );
    // Without owned slots the legend does not mention them.
    let out = capc(&workspace(), &["graph", "examples/everything.cap"]);
    assert!(text(&out.stdout).contains("purple"));
    let s = Scratch::new("graph", "no-slots");
    let everything = std::fs::read_to_string(workspace().join("examples/everything.cap")).unwrap();
    // Each slot with the doc comment above it.
    let mut without = Vec::new();
    let mut docs = Vec::new();
    for line in everything.lines() {
        if line.trim_start().starts_with("///") {
            docs.push(line);
        } else if line.trim_start().starts_with("slot ") {
            docs.clear();
        } else {
            without.append(&mut docs);
            without.push(line);
        }
    }
    assert!(without.len() < everything.lines().count());
    let without = without.join("\n");
    std::fs::create_dir_all(s.path("lib")).unwrap();
    std::fs::copy(
        workspace().join("examples/lib/everything-base.cap"),
        s.path("lib/everything-base.cap"),
    )
    .unwrap();
    s.write("spec.cap", without);
    let out = capc(&s.dir, &["graph", "spec.cap"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dot = text(&out.stdout);
    assert!(!dot.contains("purple") && !dot.contains("#6b46c1"), "{dot}");
}

#[test]
fn writes_dot_and_svg_files() {
    let s = Scratch::new("graph", "files");
    std::fs::copy(
        workspace().join("kernel-demo/spec/kernel.cap"),
        s.path("kernel.cap"),
    )
    .unwrap();
    let out = capc(&s.dir, &["graph", "kernel.cap", "-o", "k.dot"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dot = std::fs::read_to_string(s.path("k.dot")).unwrap();
    assert!(
        dot.starts_with("// @generated by capc graph from kernel.cap"),
        "{dot}"
    );
    if !has_dot() {
        // `cargo xtask test` installs Graphviz; a plain `cargo test` on a
        // machine without it says what it did not check.
        assert!(
            std::env::var_os("CI").is_none(),
            "Graphviz's `dot` is missing in CI: `cargo xtask test` installs it"
        );
        eprintln!("writes_dot_and_svg_files: no `dot`, SVG not checked");
    } else {
        let out = capc(&s.dir, &["graph", "kernel.cap", "-o", "k.svg"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let svg = std::fs::read_to_string(s.path("k.svg")).unwrap();
        assert!(svg.contains("<svg") && svg.contains("UntypedCap"), "{svg}");
    }
}

#[test]
fn svg_without_graphviz_says_how_to_install_it() {
    let s = Scratch::new("graph", "no-dot");
    std::fs::copy(
        workspace().join("kernel-demo/spec/kernel.cap"),
        s.path("kernel.cap"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_capc"))
        .args(["graph", "kernel.cap", "-o", "k.svg"])
        .current_dir(&s.dir)
        .env("PATH", &s.dir)
        .output()
        .expect("run capc");
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("apt-get install -y graphviz"), "{stderr}");
    assert!(!s.path("k.svg").exists());
    let out = Command::new(env!("CARGO_BIN_EXE_capc"))
        .args(["graph", "kernel.cap", "--format", "png"])
        .current_dir(&s.dir)
        .env("PATH", &s.dir)
        .output()
        .expect("run capc");
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("PNG output needs Graphviz")
            && stderr.contains("apt-get install -y graphviz"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn exit_codes() {
    let s = Scratch::new("graph", "exit");
    s.write("bad.cap", UNKNOWN_NAME);
    let out = capc(&s.dir, &["graph", "bad.cap"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("E0100"));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        capc(&s.dir, &["graph", "missing.cap"]).status.code(),
        Some(2)
    );
    let out = capc(&s.dir, &["graph", "bad.cap", "-o", "x.jpg"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("`.dot`, `.svg` or `.png`") && stderr.contains("--format"),
        "{stderr}"
    );
    let help = text(&capc(&s.dir, &["graph", "--help"]).stdout);
    assert!(
        help.contains("Examples:") && help.contains("Exit status"),
        "{help}"
    );
}

#[test]
fn format_flag() {
    let s = Scratch::new("graph", "format");
    std::fs::copy(
        workspace().join("kernel-demo/spec/kernel.cap"),
        s.path("kernel.cap"),
    )
    .unwrap();
    let dot = text(&capc(&s.dir, &["graph", "kernel.cap"]).stdout);
    assert!(dot.starts_with("// @generated by capc graph"), "{dot}");
    // `--format dot` is the default, to standard output or to any file name.
    let out = capc(&s.dir, &["graph", "kernel.cap", "--format", "dot"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), dot);
    let out = capc(
        &s.dir,
        &["graph", "kernel.cap", "--format=dot", "-o", "k.txt"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(s.path("k.txt")).unwrap(), dot);
    // A format the extension contradicts is refused before anything is written.
    for (format, file) in [
        ("svg", "k.dot"),
        ("dot", "k.svg"),
        ("png", "k.svg"),
        ("svg", "k.png"),
    ] {
        let out = capc(
            &s.dir,
            &["graph", "kernel.cap", "--format", format, "-o", file],
        );
        assert_eq!(out.status.code(), Some(2), "--format {format} -o {file}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("`--format {format}`"))
                && stderr.contains(&format!("`-o {file}`"))
                && !stderr.contains("panicked"),
            "{stderr}"
        );
        assert!(!s.path(file).exists());
    }
    // An unknown format is a usage error that lists the known ones.
    let out = capc(&s.dir, &["graph", "kernel.cap", "--format", "pdf"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("dot") && stderr.contains("svg") && stderr.contains("png"),
        "{stderr}"
    );
    let help = text(&capc(&s.dir, &["graph", "--help"]).stdout);
    assert!(help.contains("--format <FORMAT>"), "{help}");
    if !has_dot() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Graphviz's `dot` is missing in CI: `cargo xtask test` installs it"
        );
        eprintln!("format_flag: no `dot`, SVG and PNG not checked");
        return;
    }
    // SVG and PNG to standard output, and to a file whose name says nothing.
    let out = capc(&s.dir, &["graph", "kernel.cap", "--format", "svg"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let svg = text(&out.stdout);
    assert!(svg.contains("<svg") && svg.contains("UntypedCap"), "{svg}");
    let out = capc(
        &s.dir,
        &["graph", "kernel.cap", "--format", "svg", "-o", "picture"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        std::fs::read_to_string(s.path("picture"))
            .unwrap()
            .contains("<svg")
    );
    let out = capc(&s.dir, &["graph", "kernel.cap", "--format", "png"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.starts_with(b"\x89PNG\r\n\x1a\n"));
    let out = capc(&s.dir, &["graph", "kernel.cap", "-o", "k.png"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        std::fs::read(s.path("k.png"))
            .unwrap()
            .starts_with(b"\x89PNG")
    );
}
