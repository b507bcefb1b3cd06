//! UI tests of `capc simulate` scripts: every script in dsl/tests/ui/fail
//! named `E08xx-*.capsim` or `E093x-*.capsim` must be rejected with its code
//! (they stay beside the other UI cases: the catalogue test in
//! dsl/tests/ui.rs counts these files as the cases of the script codes,
//! which the front end's catalogue holds), and every
//! example script in examples/sim must run. A script names its spec in its
//! first lines (`# spec: PATH` or `# Run: capc simulate SPEC SCRIPT`).
//! Rendered diagnostics and reports are snapshotted in snapshots/simulate/.

use std::path::{Path, PathBuf};

use capc_dsl::{SourceLoader, compile};
use capc_interp::script::simulate_checked;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("interp/ is in the workspace")
        .to_path_buf()
}

struct WorkspaceLoader(PathBuf);

impl SourceLoader for WorkspaceLoader {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.0.join(path))
    }
}

/// The spec a script names in its header comment.
fn spec_of(text: &str) -> &str {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("# spec: ")
                .or_else(|| l.strip_prefix("# Run: capc simulate "))
        })
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the script names its spec")
}

/// Runs the script at `path`; the report or the rendered diagnostics.
fn run(path: &Path) -> Result<String, String> {
    let root = workspace();
    let text = std::fs::read_to_string(path).expect("readable script");
    let mut compilation =
        compile(Path::new(spec_of(&text)), &WorkspaceLoader(root.clone())).expect("spec readable");
    let spec = compilation.spec.take().expect("the spec checks clean");
    let name = path.strip_prefix(&root).expect("in the workspace");
    let file = compilation
        .sources
        .add(name.to_string_lossy(), text.clone());
    let render = |diagnostics: &[capc_dsl::diag::Diagnostic]| -> String {
        diagnostics
            .iter()
            .map(|d| capc_dsl::diag::render(&compilation.sources, d))
            .collect()
    };
    match simulate_checked(&spec, file, &text) {
        // Every expectation met; a missed one (`E0933`) fails the script.
        Ok((report, missed)) if missed.is_empty() => Ok(report),
        Ok((_, missed)) => Err(render(&missed)),
        Err(diagnostics) => Err(render(&diagnostics)),
    }
}

#[test]
fn failing_scripts_report_their_code() {
    let root = workspace();
    let mut found = 0;
    insta::with_settings!({
        snapshot_path => root.join("snapshots/simulate"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::glob!("../../dsl/tests", "ui/fail/*.capsim", |path| {
            found += 1;
            let stem = path.file_stem().unwrap().to_str().unwrap();
            let code = stem.split('-').next().unwrap();
            let rendered = run(path).expect_err("the script must be rejected");
            assert!(
                rendered.contains(&format!("error[{code}]")),
                "{} should report {code}, got:\n{rendered}",
                path.display()
            );
            assert!(rendered.contains("help:"), "every script error has a hint");
            insta::assert_snapshot!(stem, rendered);
        });
    });
    assert!(found >= 6);
}

#[test]
fn example_scripts_run() {
    let root = workspace();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join("examples/sim"))
        .expect("examples/sim")
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    assert!(paths.len() >= 2);
    for path in paths {
        if let Err(e) = run(&path) {
            panic!("{} should run:\n{e}", path.display());
        }
    }
}
