//! Helpers shared by the integration tests of the `capc` crate.
// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;

/// A minimal clean spec: just a target block, which any spec needs.
pub const TARGET: &str = "\
target t {
    address_bits = 48;
    tag_bits = 5;
    message_registers = 4;
    message_words = 16;
    caps_per_message = 2;
}
";

/// A spec with one error: on line 8, `UNKNOWN` (column 15) is not defined.
pub const UNKNOWN_NAME: &str = "\
target t {
    address_bits = 48;
    tag_bits = 5;
    message_registers = 4;
    message_words = 16;
    caps_per_message = 2;
}
const X = 1 + UNKNOWN;
const Y = X;
";

/// A scratch directory for one test, removed on drop.
pub struct Scratch {
    /// The directory.
    pub dir: PathBuf,
}

impl Scratch {
    /// A fresh directory named after the test file and the test.
    pub fn new(file: &str, test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("capc-{file}-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch { dir }
    }

    /// The path of `name` in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes `name` in the directory.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> &Self {
        std::fs::write(self.dir.join(name), contents).expect("write spec");
        self
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The workspace root (the parent of `codegen/`).
pub fn workspace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("codegen/ is in the workspace")
        .to_path_buf()
}

/// Runs the `capc` binary with `args` in `dir`, without forced colour.
pub fn capc(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_capc"))
        .args(args)
        .current_dir(dir)
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("run capc")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Compiles `source` as the `no_std`-or-not library crate `name` with rustc
/// (`$RUSTC` if set), edition 2024, warnings denied, in `scratch` (the
/// source is written to `name.rs` there, beside any file it includes).
pub fn rustc_lib(scratch: &Scratch, name: &str, source: &str) -> std::process::Output {
    let rs = scratch.path(&format!("{name}.rs"));
    std::fs::write(&rs, source).expect("write the crate root");
    std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
        .args(["--edition", "2024", "--crate-type", "lib", "-D", "warnings"])
        .arg("--out-dir")
        .arg(scratch.path(""))
        .args(["--crate-name", name])
        .arg(&rs)
        .output()
        .expect("rustc runs")
}

/// Compiles `source` (a generated module and the `main` that exercises it)
/// as the program `name` with rustc (`$RUSTC` if set), edition 2024,
/// warnings denied, in `scratch`, runs it, and fails the test with rustc's
/// or the program's stderr if either fails: the program's own checks are
/// the test.
pub fn rustc_run(scratch: &Scratch, name: &str, source: &str) {
    let rs = scratch.path(&format!("{name}.rs"));
    std::fs::write(&rs, source).expect("write the program");
    let out = std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
        .args(["--edition", "2024", "-D", "warnings", "-o"])
        .arg(scratch.path(name))
        .arg(&rs)
        .output()
        .expect("rustc runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run = std::process::Command::new(scratch.path(name))
        .output()
        .expect("the program runs");
    assert!(run.status.success(), "{}", text(&run.stderr));
}
