//! `cargo xtask test-vscode`, also a step of `cargo xtask test`: the VS Code
//! extension's tests (editors/vscode/test), which tokenize fixture files with
//! the TextMate grammars as VS Code does (vscode-textmate and
//! vscode-oniguruma under node) and compare the scopes with the expected
//! ones.
//!
//! Node and npm are installed as QEMU is ([`kernel::ensure_package`]): with
//! apt-get as root, else the task stops with the command to run. The npm
//! packages are installed with `npm ci` from the committed package-lock.json
//! whenever editors/vscode/node_modules is missing or older than the lock.
//! Nothing is skipped for a missing tool.

use std::path::Path;

use crate::kernel::{self, Package};
use crate::{Failure, run};

/// The extension, relative to the workspace root.
const EXTENSION_DIR: &str = "editors/vscode";

const NODE_PKG: Package = Package {
    what: "Node.js",
    name: "nodejs",
    check: ("node", "--version"),
};

const NPM_PKG: Package = Package {
    what: "npm",
    name: "npm",
    check: ("npm", "--version"),
};

/// Installs node, npm and the extension's npm packages when missing, then
/// runs the extension's tests with node's test runner.
pub fn test_vscode(root: &Path) -> Result<(), Failure> {
    kernel::ensure_package(root, &NODE_PKG)?;
    kernel::ensure_package(root, &NPM_PKG)?;
    let dir = root.join(EXTENSION_DIR);
    if needs_install(&dir) {
        println!("==> [npm ci, in {EXTENSION_DIR}]");
        let status = run(&dir, "npm", &["ci", "--no-audit", "--no-fund"])?;
        if !status.success() {
            return Err(Failure::from_status(
                format!("`npm ci` in {EXTENSION_DIR} failed"),
                status,
            ));
        }
    }
    println!("==> [node --test test/, in {EXTENSION_DIR}]");
    let status = run(&dir, "node", &["--test", "test/"])?;
    if status.success() {
        Ok(())
    } else {
        Err(Failure::from_status(
            format!(
                "the VS Code extension's tests failed (`node --test test/` in {EXTENSION_DIR})"
            ),
            status,
        ))
    }
}

/// Whether `npm ci` must run: no node_modules, or one older than the lock
/// (npm writes node_modules/.package-lock.json on every install).
fn needs_install(dir: &Path) -> bool {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    match (
        modified(&dir.join("node_modules/.package-lock.json")),
        modified(&dir.join("package-lock.json")),
    ) {
        (Some(installed), Some(lock)) => installed < lock,
        _ => true,
    }
}
