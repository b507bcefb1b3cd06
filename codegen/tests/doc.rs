//! `capc doc`: the Markdown reference of the demo specs (snapshotted in
//! snapshots/doc/) and the exit codes of `capc check`.

mod common;

use common::{Scratch, UNKNOWN_NAME, capc, text, workspace};

#[test]
fn reference_of_the_demo_specs() {
    let s = Scratch::new("doc", "demo");
    let out_dir = s.path("out");
    let out_dir = out_dir.to_str().unwrap();
    insta::with_settings!({
        snapshot_path => workspace().join("snapshots/doc"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        for (spec, page) in [
            ("kernel-demo/spec/kernel.cap", "kernel.md"),
            ("kernel-demo/spec/decompress.cap", "decompress.md"),
        ] {
            let out = capc(&workspace(), &["doc", spec, "-o", out_dir]);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            let markdown = std::fs::read_to_string(s.path("out").join(page)).unwrap();
            insta::assert_snapshot!(page.trim_end_matches(".md"), markdown);
        }
    });
}

#[test]
fn the_page_shows_layouts_and_costs() {
    let s = Scratch::new("doc", "content");
    let out = capc(
        &workspace(),
        &[
            "doc",
            "kernel-demo/spec/decompress.cap",
            "-o",
            s.dir.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let page = std::fs::read_to_string(s.path("decompress.md")).unwrap();
    // The UntypedCap layout: base in word 0 above the 5-bit tag, the watermark in word 1.
    assert!(page.contains("| base (44) | tag (5) |"), "{page}");
    assert!(page.contains("| free_index (44) |"), "{page}");
    assert!(
        page.contains("| `base` | 0 | 48..5 | address aligned to 16 B, stored >> 4 |"),
        "{page}"
    );
    assert!(page.contains("costs the caller: an untyped cap `UntypedCap` of at least 1 MiB + 8 KiB (1056768 bytes)"), "{page}");
    assert!(
        page.contains("  - up to 256 × `Frame(12)`, 4 KiB each"),
        "{page}"
    );
    assert!(page.contains("#### `stats` (label 2)"), "{page}");
    assert!(
        page.contains("- costs the caller: nothing (no donation)"),
        "{page}"
    );
}

#[test]
fn exit_codes() {
    let s = Scratch::new("doc", "exit");
    s.write("bad.cap", UNKNOWN_NAME);
    let out = capc(&s.dir, &["doc", "bad.cap", "-o", "out"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("E0100"));
    assert!(
        !s.path("out").exists(),
        "nothing is written for a spec with errors"
    );
    assert_eq!(
        capc(&s.dir, &["doc", "missing.cap", "-o", "out"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        capc(&s.dir, &["doc", "bad.cap"]).status.code(),
        Some(2),
        "-o is required"
    );
    s.write("file", "");
    std::fs::copy(
        workspace().join("kernel-demo/spec/kernel.cap"),
        s.path("kernel.cap"),
    )
    .unwrap();
    let out = capc(&s.dir, &["doc", "kernel.cap", "-o", "file"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the output is a file, not a directory"
    );
    let help = text(&capc(&s.dir, &["doc", "--help"]).stdout);
    assert!(
        help.contains("Examples:") && help.contains("Exit status"),
        "{help}"
    );
}
