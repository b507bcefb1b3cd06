//! The packaging step of `cargo xtask test`: the crates a kernel author
//! depends on (capc-dsl, capc, capc-macros, and capc-interp, which the
//! `capc` binary's `simulate` runs) must package and build as crates.io
//! would serve them.
//!
//! 1. `cargo package -p capc-dsl -p capc-interp -p capc -p capc-macros
//!    --allow-dirty` packs the four together (cargo resolves their dependencies on each
//!    other through a temporary local registry) and verifies each: it
//!    unpacks the `.crate` under `target/package/` and builds it there, away
//!    from the workspace, so a file the crate reads from outside itself
//!    fails the step. `--allow-dirty` because the step checks the working
//!    tree as it is, not a commit.
//! 2. The unpacked crates must hold, as regular files, the license texts,
//!    their README, and what the repository keeps once outside the crates
//!    and links in with symlinks: the grammar (`grammars/cap.pest`) and the
//!    two docs `capc explain` compiles in. Each must equal its source.
//! 3. A kernel crate outside the workspace (`xtask/packaged-kernel/`,
//!    copied to a temporary directory) depends on capc-macros `=VERSION`
//!    with the unpacked crates patched in for crates.io's, uses
//!    `include_spec!` and `#[derive(KernelObject)]`, and must build for
//!    `x86_64-unknown-none`; built again with a struct too large for its
//!    object, it must fail with the derive's message.
//!
//! The kernel crate builds into `target/packaged-kernel/`, kept between runs
//! so that a rerun only rebuilds what changed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Failure, cargo, kernel, run_cargo};

/// The crates a kernel depends on, in dependency order.
pub const PACKAGES: &[&str] = &["capc-dsl", "capc-interp", "capc", "capc-macros"];

/// Their version: the workspace's, which xtask shares.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The kernel crate's target.
const KERNEL_TARGET: &str = "x86_64-unknown-none";

/// The kernel crate's files, besides the manifest [`kernel_manifest`] writes.
const KERNEL_FILES: &[(&str, &str)] = &[
    (
        "spec/tiny.cap",
        include_str!("../packaged-kernel/spec/tiny.cap"),
    ),
    ("src/lib.rs", include_str!("../packaged-kernel/src/lib.rs")),
];

/// What the oversized build must report (the derive's message).
const OVERSIZED_MESSAGE: &str = "`Tcb` does not fit in the spec's `Tcb` object";

/// Files each unpacked crate must hold, as regular files equal to their
/// source in the repository: (crate, file in the crate, source).
const PACKAGED_FILES: &[(&str, &str, &str)] = &[
    ("capc-dsl", "LICENSE-MIT", "LICENSE-MIT"),
    ("capc-dsl", "LICENSE-APACHE", "LICENSE-APACHE"),
    ("capc-dsl", "README.md", "dsl/README.md"),
    ("capc-dsl", "cap.pest", "grammars/cap.pest"),
    ("capc-interp", "LICENSE-MIT", "LICENSE-MIT"),
    ("capc-interp", "LICENSE-APACHE", "LICENSE-APACHE"),
    ("capc-interp", "README.md", "interp/README.md"),
    ("capc", "LICENSE-MIT", "LICENSE-MIT"),
    ("capc", "LICENSE-APACHE", "LICENSE-APACHE"),
    ("capc", "README.md", "codegen/README.md"),
    ("capc", "docs/language.md", "docs/language.md"),
    ("capc", "docs/tools.md", "docs/tools.md"),
    ("capc-macros", "LICENSE-MIT", "LICENSE-MIT"),
    ("capc-macros", "LICENSE-APACHE", "LICENSE-APACHE"),
    ("capc-macros", "README.md", "macros/README.md"),
];

/// The step: package and verify, check the packaged files, build the
/// kernel crate.
pub fn check_packages(root: &Path) -> Result<(), Failure> {
    forget_earlier_packages();
    let mut args = vec!["package"];
    for package in PACKAGES {
        args.extend(["-p", package]);
    }
    args.push("--allow-dirty");
    run_cargo(root, &args)?;

    let packaged = target_dir(root).join("package");
    check_packaged_files(root, &packaged)?;
    println!(
        "==> the packaged crates hold their licenses, READMEs, grammar and docs ({} files)",
        PACKAGED_FILES.len()
    );

    kernel::ensure_kernel_target(root)?;
    build_kernel_crate(root, &packaged)
}

/// Removes what cargo kept of our crates from earlier `cargo package` runs.
/// It verifies the crates through a temporary registry named after the
/// target directory's path, and unpacks them under `CARGO_HOME/registry`;
/// a later run from the same path, with the same version, would reuse an
/// earlier run's unpacked sources (another commit's) instead of this one's.
/// Only our crates, and only in those temporary registries (whose
/// directories start with `-`; crates.io's do not), are removed.
fn forget_earlier_packages() {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let Some(home) = home else { return };
    for kind in ["src", "cache"] {
        let Ok(registries) = std::fs::read_dir(home.join("registry").join(kind)) else {
            continue;
        };
        for registry in registries.flatten() {
            if !registry.file_name().to_string_lossy().starts_with('-') {
                continue;
            }
            for package in PACKAGES {
                for name in [
                    format!("{package}-{VERSION}"),
                    format!("{package}-{VERSION}.crate"),
                ] {
                    let path = registry.path().join(name);
                    let _ = std::fs::remove_dir_all(&path);
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }
}

/// The workspace's target directory (`CARGO_TARGET_DIR` if set).
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// The directory `cargo package` unpacked `package` into.
fn unpacked(packaged: &Path, package: &str) -> PathBuf {
    packaged.join(format!("{package}-{VERSION}"))
}

/// Step 2: every [`PACKAGED_FILES`] entry is a regular file equal to its source.
fn check_packaged_files(root: &Path, packaged: &Path) -> Result<(), Failure> {
    let mut problems = Vec::new();
    for &(package, file, source) in PACKAGED_FILES {
        let path = unpacked(packaged, package).join(file);
        problems.extend(packaged_file_problem(&path, &root.join(source), source));
    }
    if problems.is_empty() {
        return Ok(());
    }
    for problem in &problems {
        eprintln!("    - {problem}");
    }
    Err(Failure::new(format!(
        "{} packaged file(s) missing or different from the repository's",
        problems.len()
    )))
}

/// Why the packaged `path` is not a regular copy of `source`, if it is not.
fn packaged_file_problem(path: &Path, source: &Path, source_name: &str) -> Option<String> {
    match std::fs::symlink_metadata(path) {
        Err(e) => return Some(format!("{}: {e}", path.display())),
        Ok(meta) if !meta.file_type().is_file() => {
            return Some(format!("{} is not a regular file", path.display()));
        }
        Ok(_) => {}
    }
    match (std::fs::read(path), std::fs::read(source)) {
        (Ok(a), Ok(b)) if a == b => None,
        (Ok(_), Ok(_)) => Some(format!("{} differs from {source_name}", path.display())),
        (Err(e), _) => Some(format!("cannot read {}: {e}", path.display())),
        (_, Err(e)) => Some(format!("cannot read {}: {e}", source.display())),
    }
}

/// A TOML basic string holding `path` (`/` separators kept, `\` and `"`
/// escaped, so Windows paths work too).
fn toml_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// The kernel crate's Cargo.toml: capc-macros `=VERSION` from crates.io,
/// with every packaged crate patched in from `packaged`.
fn kernel_manifest(packaged: &Path) -> String {
    let mut manifest = format!(
        "[package]\n\
         name = \"packaged-kernel\"\n\
         version = \"0.0.0\"\n\
         edition = \"2024\"\n\
         publish = false\n\
         \n\
         # Not part of any workspace around the temporary directory.\n\
         [workspace]\n\
         \n\
         [features]\n\
         oversized = []\n\
         \n\
         [dependencies]\n\
         capc-macros = \"={VERSION}\"\n\
         \n\
         [patch.crates-io]\n"
    );
    for package in PACKAGES {
        let path = toml_path(&unpacked(packaged, package));
        manifest.push_str(&format!("{package} = {{ path = {path} }}\n"));
    }
    manifest
}

/// Step 3: writes the kernel crate into a temporary directory and builds
/// it, then builds it oversized and demands the derive's error. The
/// directory is removed afterwards, unless a build failed (then the
/// message names it).
fn build_kernel_crate(root: &Path, packaged: &Path) -> Result<(), Failure> {
    let dir = std::env::temp_dir().join(format!("capc-packaged-kernel-{}", std::process::id()));
    let write = |rel: &str, text: &[u8]| -> Result<(), Failure> {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Failure::new(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| Failure::new(format!("cannot write {}: {e}", path.display())))
    };
    write("Cargo.toml", kernel_manifest(packaged).as_bytes())?;
    for (rel, text) in KERNEL_FILES {
        write(rel, text.as_bytes())?;
    }
    // The workspace's lock file: the same versions of syn, pest and the
    // rest as the workspace builds with (already downloaded); cargo drops
    // what the kernel crate does not use.
    let lock = std::fs::read(root.join("Cargo.lock"))
        .map_err(|e| Failure::new(format!("cannot read Cargo.lock: {e}")))?;
    write("Cargo.lock", &lock)?;

    let target = target_dir(root).join("packaged-kernel");
    let build = |features: &[&str]| {
        let mut command = Command::new(cargo());
        command
            .args(["build", "--target", KERNEL_TARGET])
            .args(features)
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", &target);
        command
    };

    println!(
        "==> [cargo build --target {KERNEL_TARGET}, in {}]",
        dir.display()
    );
    let status = build(&[])
        .status()
        .map_err(|e| Failure::new(format!("could not run cargo: {e}")))?;
    if !status.success() {
        return Err(Failure::from_status(
            format!(
                "the kernel crate in {} did not build against the packaged crates",
                dir.display()
            ),
            status,
        ));
    }

    println!(
        "==> [cargo build --target {KERNEL_TARGET} --features oversized, in {}] must fail",
        dir.display()
    );
    let output = build(&["--features", "oversized"])
        .output()
        .map_err(|e| Failure::new(format!("could not run cargo: {e}")))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() || !stderr.contains(OVERSIZED_MESSAGE) {
        eprint!("{stderr}");
        return Err(Failure::new(format!(
            "the oversized kernel crate in {} {}; expected the derive's error \
             containing: {OVERSIZED_MESSAGE}",
            dir.display(),
            if output.status.success() {
                "built"
            } else {
                "failed otherwise"
            }
        )));
    }
    println!("==> the oversized Tcb was refused: {OVERSIZED_MESSAGE}");

    // Best effort: a leftover temporary directory fails nothing.
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_patches_every_package_from_its_unpacked_directory() {
        let manifest = kernel_manifest(Path::new("/t/package"));
        assert!(manifest.contains(&format!(
            "capc-macros = \"={VERSION}\"\n\n[patch.crates-io]\n"
        )));
        for package in PACKAGES {
            let line = format!("{package} = {{ path = \"/t/package/{package}-{VERSION}\" }}\n");
            assert!(manifest.contains(&line), "{line} missing from\n{manifest}");
        }
    }

    #[test]
    fn toml_paths_escape_backslashes_and_quotes() {
        assert_eq!(toml_path(Path::new(r#"C:\a"b"#)), r#""C:\\a\"b""#);
        assert_eq!(toml_path(Path::new("/tmp/x")), "\"/tmp/x\"");
    }

    #[test]
    fn every_package_has_its_license_and_readme_checked() {
        for package in PACKAGES {
            for file in ["LICENSE-MIT", "LICENSE-APACHE", "README.md"] {
                assert!(
                    PACKAGED_FILES
                        .iter()
                        .any(|&(p, f, _)| p == *package && f == file),
                    "{package}: {file} not checked"
                );
            }
        }
    }

    #[test]
    fn a_symlink_or_a_different_file_is_a_problem() {
        let dir = std::env::temp_dir().join(format!("xtask-package-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = dir.join("source");
        let same = dir.join("same");
        let other = dir.join("other");
        std::fs::write(&source, "grammar").unwrap();
        std::fs::write(&same, "grammar").unwrap();
        std::fs::write(&other, "grammar!").unwrap();
        assert_eq!(packaged_file_problem(&same, &source, "source"), None);
        let differs = packaged_file_problem(&other, &source, "source").unwrap();
        assert!(differs.ends_with("differs from source"), "{differs}");
        assert!(packaged_file_problem(&dir.join("missing"), &source, "source").is_some());
        #[cfg(unix)]
        {
            let link = dir.join("link");
            std::os::unix::fs::symlink(&source, &link).unwrap();
            let problem = packaged_file_problem(&link, &source, "source").unwrap();
            assert!(problem.ends_with("is not a regular file"), "{problem}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
