//! seL4's bitfield_gen.py against capc's cap views, on the cap types of
//! examples/sel4/x86_64.cap, in the configuration with every option off
//! (seL4's x86_64 pc99 without MCS, SMP, the IOMMU or VT-x) and the one
//! with every cap type (`mcs`, `smp`, `iommu`, `vtx`):
//!
//! 1. `capc build --lang bf [--cfg ...] examples/sel4/x86_64.cap` (the
//!    workspace's capc, run with `cargo run`), written to
//!    `target/sel4-generators/sel4-diff/<configuration>.bf`;
//! 2. `bitfield_gen.py --word-size=64` on it (input on stdin, as sel4-sys's
//!    build.rs runs it), its Rust to `<configuration>.rs` beside it;
//! 3. the crate `xtask/sel4-diff/bitfield/` (its files are compiled into
//!    xtask and written to `target/sel4-diff/bitfield/`, with a manifest
//!    that depends on the workspace's capc for its build script and the
//!    workspace's Cargo.lock) is run with `cargo run` (not `--release`:
//!    seL4's generated code refuses values with `debug_assert!`). Its
//!    build script generates capc's module for each configuration and the
//!    glue; its main compares, for every cap type and field, `new`, every
//!    setter and every getter through both (see its documentation), and
//!    fails naming the cap type and field that differ.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::SPEC;
use crate::sel4gen::Generators;
use crate::{Failure, cargo};

/// The configurations compared: (name, options on).
const CONFIGURATIONS: &[(&str, &[&str])] =
    &[("default", &[]), ("all", &["mcs", "smp", "iommu", "vtx"])];

/// The crate's files, besides the manifest [`manifest`] writes.
const FILES: &[(&str, &str)] = &[
    (
        "build.rs",
        include_str!("../../sel4-diff/bitfield/build.rs"),
    ),
    (
        "src/main.rs",
        include_str!("../../sel4-diff/bitfield/src/main.rs"),
    ),
];

/// The comparison.
pub fn check(root: &Path, generators: &Generators) -> Result<(), Failure> {
    let out = generators.dir.join("sel4-diff");
    std::fs::create_dir_all(&out)
        .map_err(|e| Failure::new(format!("cannot create {}: {e}", out.display())))?;
    for (name, options) in CONFIGURATIONS {
        let bf = out.join(format!("{name}.bf"));
        export(root, options, &bf)?;
        // Written beside, then moved over the last run's output only if it
        // differs: the crate's build script reruns when it changes.
        let rust = out.join(format!("{name}.rs"));
        let fresh = out.join(format!("{name}.rs.new"));
        generators.run(
            "bitfield_gen.py",
            &["--word-size=64".as_ref()],
            Some(&bf),
            Some(&fresh),
        )?;
        replace_if_changed(&fresh, &rust)?;
        println!(
            "==> bitfield_gen.py on `capc build --lang bf{}`: {}",
            options
                .iter()
                .map(|o| format!(" --cfg {o}"))
                .collect::<String>(),
            rust.display()
        );
    }
    let dir = root.join("target").join("sel4-diff").join("bitfield");
    write_crate(root, &dir)?;
    let configurations: Vec<String> = CONFIGURATIONS
        .iter()
        .map(|(name, options)| format!("{name}={}", options.join(",")))
        .collect();
    println!("==> [cargo run, in {}]", dir.display());
    let configurations = configurations.join(";");
    super::run_comparison(
        root,
        &dir,
        &root.join("target").join("sel4-diff").join("target"),
        &[
            ("SEL4_DIFF_SEL4_DIR", out.as_os_str()),
            ("SEL4_DIFF_CONFIGURATIONS", configurations.as_ref()),
        ],
        "seL4's bitfield_gen.py and capc's cap views differ (or the comparison did not build)"
            .into(),
    )
}

/// Moves `fresh` over `path` if their contents differ, else removes it.
fn replace_if_changed(fresh: &Path, path: &Path) -> Result<(), Failure> {
    let same = match (std::fs::read(fresh), std::fs::read(path)) {
        (Ok(new), Ok(old)) => new == old,
        _ => false,
    };
    let result = if same {
        std::fs::remove_file(fresh)
    } else {
        std::fs::rename(fresh, path)
    };
    result.map_err(|e| Failure::new(format!("cannot write {}: {e}", path.display())))
}

/// `capc build --lang bf` of the spec with `options` on, into `to`.
fn export(root: &Path, options: &[&str], to: &Path) -> Result<(), Failure> {
    let mut command = Command::new(cargo());
    command
        .args([
            "run", "--quiet", "-p", "capc", "--", "build", "--lang", "bf",
        ])
        .current_dir(root);
    for option in options {
        command.args(["--cfg", option]);
    }
    let status = command
        .arg(SPEC)
        .arg("-o")
        .arg(to)
        .status()
        .map_err(|e| Failure::new(format!("could not run cargo: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Failure::from_status(
            format!("`capc build --lang bf {SPEC}` failed"),
            status,
        ))
    }
}

/// The crate's manifest: capc (the workspace's) for its build script.
fn manifest(root: &Path) -> String {
    let capc = root.join("codegen");
    format!(
        "# Written by `cargo xtask sel4-diff` (xtask/src/sel4diff/bitfield.rs).\n\
         [package]\n\
         name = \"sel4-diff-bitfield\"\n\
         version = \"0.0.0\"\n\
         edition = \"2024\"\n\
         publish = false\n\
         \n\
         # Not part of the workspace around it.\n\
         [workspace]\n\
         \n\
         [build-dependencies]\n\
         capc = {{ path = {}, default-features = false }}\n",
        toml_string(&capc)
    )
}

/// A TOML basic string holding `path`.
fn toml_string(path: &Path) -> String {
    let text = path.to_string_lossy();
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Writes the crate into `dir` (only files that changed, so that cargo's
/// fingerprints hold between runs).
fn write_crate(root: &Path, dir: &Path) -> Result<(), Failure> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock"))
        .map_err(|e| Failure::new(format!("cannot read Cargo.lock: {e}")))?;
    let manifest = manifest(root);
    let mut files: Vec<(&str, &str)> = FILES.to_vec();
    files.push(("Cargo.toml", &manifest));
    files.push(("Cargo.lock", &lock));
    for (rel, text) in files {
        let path: PathBuf = dir.join(rel);
        if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Failure::new(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| Failure::new(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}
