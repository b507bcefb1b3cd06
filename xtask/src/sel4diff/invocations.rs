//! Invocations: seL4's invocation-label and stub generators against
//! capc's generated code.
//!
//! 1. `capc build --lang sel4-xml examples/sel4/x86_64.cap`, in each of
//!    [`CONFIGURATIONS`] (the first the spec's default: pc99 without MCS,
//!    SMP, the IOMMU or VT-x), writes the spec's invocations in seL4's
//!    interface XML;
//! 2. seL4's `invocation_header_gen.py` makes its `InvocationLabel` enum
//!    of it, and `syscall_stub_gen.py -a x86_64 -w 64 --buffer` (as
//!    sel4-sys's build.rs runs it) its stubs, told the export's cap types
//!    and bitfields by a small driver ([`STUB_DRIVER`]: the generator keeps
//!    the C types it knows in a list, to which seL4 adds its own new
//!    types);
//! 3. the crate xtask/sel4-diff/invocations/, copied under
//!    `target/sel4-diff/invocations/` with its own target directory there,
//!    includes the stubs over a small runtime of its own (`seL4_SetMR`,
//!    `seL4_GetMR`, `seL4_SetCap` over a thread-local IPC buffer,
//!    `seL4_Call` recording the message and returning a queued reply) and
//!    capc's generated module, and checks for every invocation (a) that
//!    seL4's label is capc's, (b) that with fixed-seed random arguments
//!    seL4's stub sends what capc's client sends (label, length, extra
//!    caps, every word, the caps' CPtrs), and (c) for a method with
//!    results, that seL4's stub reads the reply capc's encoder writes into
//!    the same results. It prints the counts and fails naming each
//!    invocation that differs.
//!
//! The generators' output stays under `target/sel4-generators/invocations/`
//! (seL4's generators are BSD-2-Clause, from the crates.io crate
//! `sel4-sys` 0.0.28, Robigalia's, MIT or Apache-2.0); nothing of it is
//! committed.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::SPEC;
use crate::sel4gen::Generators;
use crate::{Failure, cargo};

/// The template crate's files, relative to xtask/sel4-diff/invocations/.
const TEMPLATE: [&str; 3] = ["Cargo.toml", "build.rs", "src/main.rs"];

/// Runs `syscall_stub_gen.py` (from the current directory, the converted
/// tools/) with its arguments, having added to the C types it knows each
/// `<interface>` of the XML files as a cap type (a CPtr) and each
/// `<struct>` as a bitfield: one word a `BitFieldType` (as
/// `seL4_CapRights_t`), more a `StructType` of that many words (as
/// `seL4_UserContext`).
pub const STUB_DRIVER: &str = r#"import os
import sys
import xml.dom.minidom

sys.path.insert(0, os.getcwd())
import syscall_stub_gen as gen

FILES = [a for a in sys.argv[1:] if a.endswith(".xml")]


def exported_types(wordsize):
    known = set(t.name for t in gen.init_data_types(wordsize))
    types = []
    for path in FILES:
        doc = xml.dom.minidom.parse(path)
        for struct in doc.getElementsByTagName("struct"):
            name = struct.getAttribute("name")
            words = len(struct.getElementsByTagName("member"))
            if words == 1:
                types.append(gen.BitFieldType(name, wordsize, wordsize))
            else:
                types.append(gen.StructType(name, wordsize * words, wordsize))
        for interface in doc.getElementsByTagName("interface"):
            name = interface.getAttribute("name")
            if name not in known and name not in [t.name for t in types]:
                types.append(gen.CapType(name, wordsize))
    return types


ARCH_TYPES = gen.init_arch_types
gen.init_arch_types = lambda wordsize: dict(
    (arch, types + exported_types(wordsize))
    for arch, types in ARCH_TYPES(wordsize).items()
)
sys.exit(gen.main())
"#;

/// The configurations compared, by the options on: none (seL4's x86_64
/// pc99 without MCS, SMP, the IOMMU or VT-x), each option alone (VT-x
/// with and without 64-bit guests), and every option.
const CONFIGURATIONS: &[&[&str]] = &[
    &[],
    &["mcs"],
    &["smp"],
    &["iommu"],
    &["vtx"],
    &["vtx", "vtx64"],
    &["mcs", "smp", "iommu", "vtx", "vtx64"],
];

/// The check (see the module's documentation), in every configuration of
/// [`CONFIGURATIONS`].
pub fn check(root: &Path, generators: &Generators) -> Result<(), Failure> {
    let work = root.join("target").join("sel4-diff").join("invocations");
    let krate = work.join("crate");
    copy_template(root, &krate)?;
    for options in CONFIGURATIONS {
        check_configuration(root, generators, &krate, &work.join("target"), options)?;
    }
    Ok(())
}

fn check_configuration(
    root: &Path,
    generators: &Generators,
    krate: &Path,
    target: &Path,
    options: &[&str],
) -> Result<(), Failure> {
    let name = if options.is_empty() {
        "default".to_string()
    } else {
        options.join("_")
    };
    let out = generators.dir.join("invocations").join(&name);
    create_dir(&out)?;
    let xml = out.join("x86_64.xml");
    let cfg: Vec<String> = options.iter().map(|o| format!("--cfg={o}")).collect();

    println!("==> [capc build --lang sel4-xml {} {SPEC}]", cfg.join(" "));
    let status = Command::new(cargo())
        .args(["run", "--quiet", "-p", "capc", "--bin", "capc", "--"])
        .args(["build", "--lang", "sel4-xml"])
        .args(&cfg)
        .args([SPEC, "-o"])
        .arg(&xml)
        .current_dir(root)
        .status()
        .map_err(|e| Failure::new(format!("could not run cargo: {e}")))?;
    if !status.success() {
        return Err(Failure::from_status(
            format!("capc could not export {SPEC} ({name}) as seL4's interface XML"),
            status,
        ));
    }

    println!("==> [invocation_header_gen.py, syscall_stub_gen.py on the export]");
    let dest = out.join("invocation.rs");
    generators.run(
        "invocation_header_gen.py",
        &["--dest".as_ref(), dest.as_os_str(), xml.as_os_str()],
        None,
        None,
    )?;
    let driver = out.join("stub_driver.py");
    write(&driver, STUB_DRIVER)?;
    let stubs = out.join("syscall_stub.rs");
    generators.run(
        driver
            .to_str()
            .ok_or_else(|| Failure::new("a path that is not UTF-8"))?,
        &[
            "-a".as_ref(),
            "x86_64".as_ref(),
            "-w".as_ref(),
            "64".as_ref(),
            "--buffer".as_ref(),
            "-o".as_ref(),
            stubs.as_os_str(),
            xml.as_os_str(),
        ],
        None,
        None,
    )?;

    println!("==> [cargo run ({name}), in {}]", krate.display());
    let cfg = options.join(",");
    super::run_comparison(
        root,
        krate,
        target,
        &[
            ("SEL4_DIFF_SEL4", out.as_os_str()),
            ("SEL4_DIFF_CFG", cfg.as_ref()),
        ],
        format!(
            "the comparison ({name}) in {} failed: seL4's generated labels or stubs differ from capc's generated code, or it did not build (above)",
            krate.display()
        ),
    )
}

/// Copies xtask/sel4-diff/invocations/ to `krate`, its capc dependency
/// the workspace's, with the workspace's lock file.
fn copy_template(root: &Path, krate: &Path) -> Result<(), Failure> {
    let template = root.join("xtask").join("sel4-diff").join("invocations");
    for rel in TEMPLATE {
        let text = read(&template.join(rel))?;
        let text = if rel == "Cargo.toml" {
            text.replace("@CAPC@", &toml_path(&root.join("codegen")))
        } else {
            text
        };
        let path = krate.join(rel);
        if let Some(parent) = path.parent() {
            create_dir(parent)?;
        }
        // Unchanged files keep their times, so cargo rebuilds only what changed.
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            write(&path, &text)?;
        }
    }
    let lock = read(&root.join("Cargo.lock"))?;
    let path = krate.join("Cargo.lock");
    if !path.exists() {
        write(&path, &lock)?;
    }
    Ok(())
}

fn toml_path(path: &Path) -> String {
    path.display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}

fn create_dir(dir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::new(format!("cannot create {}: {e}", dir.display())))
}

fn read(path: &PathBuf) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))
}

fn write(path: &Path, text: &str) -> Result<(), Failure> {
    std::fs::write(path, text)
        .map_err(|e| Failure::new(format!("cannot write {}: {e}", path.display())))
}
