//! `capc build --lang c` and `Builder::lang(Lang::C)`: the header of every
//! example spec compiles warning-free as C99 and C11 with the system C
//! compiler (`$CC`, else `cc`; a missing compiler fails the test), headers
//! of two specs can be included together, the CLI and the builder write the
//! same bytes, and two spec names with one C name are an error. That the
//! accessors compute what the Rust module's do is
//! codegen/generated-tests/tests/c_differential.rs.

mod common;

use common::{Scratch, capc, text, workspace};
use std::path::{Path, PathBuf};
use std::process::Command;

use capc::{Builder, Lang};

/// Every example spec: examples/*.cap, examples/barrelfish/*.cap,
/// examples/sel4/*.cap and kernel-demo/spec/*.cap, sorted.
fn example_specs() -> Vec<PathBuf> {
    let mut specs = Vec::new();
    for dir in [
        "examples",
        "examples/barrelfish",
        "examples/sel4",
        "kernel-demo/spec",
    ] {
        let entries = std::fs::read_dir(workspace().join(dir)).expect("read the examples");
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_some_and(|e| e == "cap") {
                specs.push(path);
            }
        }
    }
    specs.sort();
    assert!(specs.len() >= 4, "examples missing: {specs:?}");
    specs
}

/// Compiles `source` (in `dir`) with every C standard and warning flag.
fn compile_c(dir: &Path, source: &str) {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    for std in ["c99", "c11"] {
        let output = Command::new(&cc)
            .args([
                &format!("-std={std}"),
                "-Wall",
                "-Wextra",
                "-Wpedantic",
                "-Werror",
                "-c",
                source,
                "-o",
            ])
            .arg(dir.join(format!("{source}.{std}.o")))
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run the C compiler `{cc}` ({e}): install one (apt-get install gcc) or set CC")
            });
        assert!(
            output.status.success(),
            "{source} does not compile with {cc} -std={std}:\n{}",
            text(&output.stderr)
        );
    }
}

fn stem(spec: &Path) -> String {
    spec.file_stem().unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_example_header_compiles_warning_free_as_c99_and_c11() {
    let scratch = Scratch::new("c_header", "compiles");
    let root = workspace();
    let mut includes = String::new();
    for spec in example_specs() {
        let stem = stem(&spec);
        let header = format!("{stem}.h");
        let out = capc(
            &scratch.dir,
            &[
                "build",
                "--lang",
                "c",
                &spec.to_string_lossy(),
                "-o",
                &header,
            ],
        );
        assert!(out.status.success(), "{stem}: {}", text(&out.stderr));
        let h = std::fs::read_to_string(scratch.path(&header)).unwrap();
        assert!(
            !h.contains(&*root.to_string_lossy()),
            "{header} holds an absolute path"
        );
        let upper = stem.to_ascii_uppercase();
        assert!(
            h.contains(&format!("#ifndef CAPC_{upper}_H")),
            "{header}: no guard"
        );
        assert!(
            h.contains(&format!("{stem}_cap_get_tag")),
            "{header}: no tag getter"
        );
        // Use something of each header, so that a header whose functions
        // do not compile cannot pass by being skipped.
        let source = format!(
            "#include \"{header}\"\n\n\
             int main(void);\n\
             int main(void)\n{{\n    {stem}_cap_t cap = {{ {{ 0 }} }};\n    \
             return (int){stem}_cap_get_tag(cap) + {stem}_object_size_bits(0, 0);\n}}\n"
        );
        let file = format!("use_{stem}.c");
        scratch.write(&file, source);
        compile_c(&scratch.dir, &file);
        includes.push_str(&format!("#include \"{header}\"\n#include \"{header}\"\n"));
    }
    // Every header at once, each twice: prefixes and include guards.
    scratch.write("all.c", format!("{includes}\nint capc_all;\n"));
    compile_c(&scratch.dir, "all.c");
}

/// The header `capc build --lang c` prints for the workspace's `spec`
/// (run in a scratch directory named `name`), which must succeed.
fn header_of(name: &str, spec: &str) -> String {
    let scratch = Scratch::new("c_header", name);
    let spec = workspace().join(spec);
    let out = capc(
        &scratch.dir,
        &["build", "--lang", "c", &spec.to_string_lossy()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn the_header_has_what_the_spec_says() {
    let h = header_of("content", "kernel-demo/spec/kernel.cap");
    // Written down from kernel.cap, not read back from the backend.
    for expected in [
        "#define KERNEL_CAP_WORDS 2",
        "#define KERNEL_RIGHT_GRANT (UINT64_C(1) << 2)",
        "KERNEL_OBJECT_UNTYPED = 0,",
        "#define KERNEL_OBJECT_TCB_SIZE_BITS 11",
        "KERNEL_CAP_UNTYPED_CAP = 1,",
        "#define KERNEL_ENDPOINT_CAP_VALID_RIGHTS UINT64_C(0xf)",
        "KERNEL_UNTYPED_CAP_LABEL_RETYPE = 1,",
        "KERNEL_KERNEL_ERROR_INVALID_ARGUMENT = 1,",
        "static inline uint64_t kernel_endpoint_cap_get_badge(kernel_cap_t cap)",
        "static inline bool kernel_endpoint_cap_set_badge(kernel_cap_t *cap, uint64_t value)",
        "static inline bool kernel_untyped_cap_get_is_device(kernel_cap_t cap)",
        "Spec: kernel.cap:",
    ] {
        assert!(h.contains(expected), "no `{expected}` in the header");
    }
}

/// seL4's layout in C: the tag read from bits 59..64, a canonical pointer
/// sign-extended, and seL4's labels.
#[test]
fn the_sel4_header_reads_the_tag_high_and_numbers_as_sel4() {
    let h = header_of("sel4", "examples/sel4/x86_64.cap");
    for expected in [
        "#define X86_64_TAG_SHIFT 59",
        "return (cap.words[0] >> 59) & UINT64_C(0x1f);",
        "{ { (uint64_t)X86_64_CAP_THREAD_CAP << 59, 0 } }",
        "X86_64_CNODE_CAP_LABEL_REVOKE = 17,",
        "X86_64_THREAD_CAP_LABEL_SET_TLS_BASE = 15,",
        "X86_64_DOMAIN_CAP_LABEL_SET = 30,",
        "if (value & UINT64_C(0x800000000000)) {\n        value |= UINT64_C(0xffff000000000000);",
        // Enumerations: seL4's values, the setter refuses others, a new
        // frame cap is VMReadWrite.
        "#define X86_64_FRAME_SIZE_LARGE UINT64_C(1)",
        "#define X86_64_VM_RIGHTS_READ_WRITE UINT64_C(3)",
        "#define X86_64_SEL4_OBJECT_TYPE_PAGE_DIRECTORY UINT64_C(0xb)",
        "if (value != UINT64_C(3) && value != UINT64_C(2) && value != UINT64_C(1)) {\n        return false;",
        "!x86_64_frame_cap_set_vm_rights(&c, UINT64_C(3))",
        // seL4's three frame object types: the frame's number per size
        // argument (seL4_X86_4K, seL4_X86_LargePageObject,
        // seL4_X64_HugePageObject), which the retype validator reads.
        "#define X86_64_OBJECT_FRAME_NUMBER_0 8\n",
        "#define X86_64_OBJECT_FRAME_NUMBER_1 9\n",
        "#define X86_64_OBJECT_FRAME_NUMBER_2 7\n",
        "    case X86_64_OBJECT_FRAME_NUMBER_1:\n        object_type = 8;\n        size_arg = UINT64_C(1);",
        // seL4's deriveCap: a page table cap only while capPTIsMapped (bit
        // 49), a frame copy without capFMapType (bits 55..57) and
        // capFMappedASID (word 1, bits 48..64), an Untyped only without
        // children.
        "    case X86_64_CAP_PAGE_TABLE_CAP:\n        return (cap.words[0] & UINT64_C(0x2000000000000)) != 0;",
        "    case X86_64_CAP_FRAME_CAP:\n        cap.words[0] &= ~UINT64_C(0x180000000000000);\n        cap.words[1] &= ~UINT64_C(0xffff000000000000);",
        "static inline bool x86_64_copy_needs_no_children(x86_64_cap_t cap)\n{\n    switch (x86_64_cap_get_tag(cap)) {\n    case X86_64_CAP_UNTYPED_CAP:\n        return true;\n    default:\n        return false;",
    ] {
        assert!(h.contains(expected), "no `{expected}` in the header");
    }
    // With MCS seL4's x86_64 numbers move by two.
    let scratch = Scratch::new("c_header", "sel4_mcs");
    let spec = workspace().join("examples/sel4/x86_64.cap");
    let out = capc(
        &scratch.dir,
        &[
            "build",
            "--lang",
            "c",
            "--cfg",
            "mcs",
            &spec.to_string_lossy(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mcs = text(&out.stdout);
    for expected in [
        "#define X86_64_OBJECT_FRAME_NUMBER_0 10\n",
        "#define X86_64_OBJECT_FRAME_NUMBER_1 11\n",
        "#define X86_64_OBJECT_FRAME_NUMBER_2 9\n",
        "#define X86_64_SEL4_OBJECT_TYPE_REPLY UINT64_C(6)",
    ] {
        assert!(mcs.contains(expected), "no `{expected}` in the MCS header");
    }
}

#[test]
fn cli_and_builder_write_the_same_header_every_time() {
    let scratch = Scratch::new("c_header", "agree");
    let spec = workspace().join("kernel-demo/spec/decompress.cap");
    let cli = capc(
        &scratch.dir,
        &["build", "--lang", "c", &spec.to_string_lossy()],
    );
    assert!(cli.status.success(), "{}", text(&cli.stderr));
    let again = capc(
        &scratch.dir,
        &["build", "--lang", "c", &spec.to_string_lossy()],
    );
    assert_eq!(cli.stdout, again.stdout, "two runs differ");
    let written = Builder::new()
        .spec(&spec)
        .lang(Lang::C)
        .out_dir(&scratch.dir)
        .compile()
        .expect("the builder generates");
    assert_eq!(written, vec![scratch.path("decompress.h")]);
    assert_eq!(
        std::fs::read(scratch.path("decompress.h")).unwrap(),
        cli.stdout
    );
}

/// `capc build --lang c` of `spec` as `name.cap`, diagnostics as JSON:
/// exit code 1, no header, and the one error.
fn refused_c(scratch: &Scratch, name: &str, spec: &str) -> serde_json::Value {
    let file = format!("{name}.cap");
    scratch.write(&file, spec);
    let out = capc(
        &scratch.dir,
        &[
            "build",
            "--lang",
            "c",
            "--message-format",
            "json",
            &file,
            "-o",
            &format!("{name}.h"),
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        !scratch.path(&format!("{name}.h")).exists(),
        "a header was written"
    );
    // The spec's warnings (an unused error set) come first, then the one error.
    let errors: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
        .filter(|d| d["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "one error:\n{stderr}");
    errors.into_iter().next().unwrap()
}

fn line_of(spec: &str, marker: &str) -> usize {
    spec.lines().position(|l| l.contains(marker)).expect(marker) + 1
}

#[test]
fn two_names_with_one_c_name_are_an_error() {
    let scratch = Scratch::new("c_header", "collision");
    let tiny = std::fs::read_to_string(workspace().join("xtask/packaged-kernel/spec/tiny.cap"))
        .unwrap()
        .replace("EndpointCap", "EpCap");
    let spec =
        format!("{tiny}\n/// Errors.\nerrors Ep {{\n    /// Collides.\n    CapValidRights,\n}}\n");
    let message = "`COLL_EP_CAP_VALID_RIGHTS` is the C name of both cap type `EpCap` and error `Ep::CapValidRights`";
    let help = "rename cap type `EpCap` or error `Ep::CapValidRights` so that their C names differ";
    let json = refused_c(&scratch, "coll", &spec);
    assert_eq!(json["code"], "E0942");
    assert_eq!(json["message"], message);
    assert_eq!(json["line"], line_of(&spec, "    CapValidRights,"));
    assert_eq!(json["secondary"][0]["line"], line_of(&spec, "cap EpCap "));
    assert_eq!(json["help"], help);
    // The human report.
    let out = capc(
        &scratch.dir,
        &["build", "--lang", "c", "coll.cap", "-o", "coll.h"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let human = text(&out.stderr);
    assert!(
        human.contains(&format!("\nerror[E0942]: {message}\n")),
        "{human}"
    );
    assert!(
        human.contains(&format!(
            "coll.cap:{}:",
            line_of(&spec, "    CapValidRights,")
        )),
        "{human}"
    );
    assert!(human.contains(&format!("= help: {help}")), "{human}");
    assert!(!scratch.path("coll.h").exists(), "a header was written");
    // The Builder refuses it with the same diagnostic, rendered.
    let err = Builder::new()
        .spec(scratch.path("coll.cap"))
        .lang(Lang::C)
        .out_dir(&scratch.dir)
        .compile()
        .expect_err("the builder refuses it too");
    let err = err.to_string();
    assert!(err.contains(&format!("error[E0942]: {message}")), "{err}");
    assert!(err.contains(&format!("= help: {help}")), "{err}");
}

/// A spec name that gives one of the header's own names: reported at the
/// spec's item, the hint naming what the header needs the name for.
#[test]
fn a_spec_name_meeting_one_of_the_headers_own_is_an_error() {
    let scratch = Scratch::new("c_header", "collision_own");
    let tiny =
        std::fs::read_to_string(workspace().join("xtask/packaged-kernel/spec/tiny.cap")).unwrap();
    let spec = format!("{tiny}\n/// Errors.\nerrors CapT {{\n    /// One.\n    One,\n}}\n");
    let json = refused_c(&scratch, "own", &spec);
    assert_eq!(json["code"], "E0942");
    assert_eq!(
        json["message"],
        "`own_cap_t` is the C name of both the cap struct and error set `CapT`"
    );
    assert_eq!(json["line"], line_of(&spec, "errors CapT"));
    assert_eq!(json["secondary"], serde_json::json!([]));
    assert_eq!(
        json["help"],
        "rename error set `CapT`: the header needs `own_cap_t` for the cap struct"
    );
}
