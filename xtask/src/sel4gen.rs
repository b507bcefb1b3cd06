//! seL4's own code generators, made ready to run on this machine.
//!
//! The differential tests against seL4 run seL4's generators
//! (`bitfield_gen.py`, `invocation_header_gen.py`, `syscall_stub_gen.py`)
//! on what capc exports of a spec and compare their output with capc's
//! generated code. Nothing of seL4's is kept in this repository: the
//! generators come, at test time, from the one copy a package registry
//! serves, the `sel4-sys` crate 0.0.28 on crates.io (the Robigalia
//! project's bindings, which bundle seL4 5.0.0 with its generators changed
//! to emit Rust rather than C). [`prepare`] puts, under
//! `target/sel4-generators/` (kept between runs):
//!
//! 1. `venv/`: a Python virtual environment made with the `python3` on
//!    `PATH`, holding from PyPI `ply` (the generators' parser), `tempita`
//!    (the label generator's templates) and `fissix` (lib2to3's maintained
//!    fork), each at a pinned version;
//! 2. `vendor/sel4-sys-0.0.28/`: the crate, unpacked by `cargo vendor` from
//!    a scratch manifest (`fetch/Cargo.toml`); cargo never builds it (its
//!    build script would run the generators under Python 2);
//! 3. `tools/`: the crate's `tools/` directory, converted from Python 2 to
//!    Python 3 by `fissix` (a mechanical conversion: `dict.has_key`,
//!    `print`, `iteritems`...). For seL4 5.0.0's own inputs the converted
//!    generators print what the originals print under Python 2: the stub
//!    and label generators byte for byte, `bitfield_gen.py` the same
//!    items in another order (Python 3's dictionaries keep insertion
//!    order, Python 2's did not); checked by hand with Python 2.7.18,
//!    which CI does not have.
//!
//! A missing `python3`, or a `python3` without `venv`, stops with the
//! command that installs it; pip and cargo reach only their registries.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Failure, cargo};

/// The crate that carries the generators, and its version.
const CRATE: &str = "sel4-sys";
const VERSION: &str = "0.0.28";

/// What the virtual environment holds, pinned.
const PYTHON_PACKAGES: &[&str] = &["ply==3.11", "tempita==0.6.0", "fissix==24.4.24"];

/// The generators, ready to run.
pub struct Generators {
    /// `target/sel4-generators/`: where outputs may go too.
    pub dir: PathBuf,
    /// The virtual environment's Python.
    python: PathBuf,
    /// The converted `tools/` directory.
    tools: PathBuf,
    /// The crate's `seL4/` directory (seL4 5.0.0's sources).
    pub sel4: PathBuf,
}

impl Generators {
    /// Where everything is, a line each.
    pub fn describe(&self) -> String {
        format!(
            "python: {}\ngenerators: {}\nseL4 5.0.0 sources: {}",
            self.python.display(),
            self.tools.display(),
            self.sel4.display()
        )
    }

    /// Runs `tools/<script>` with `args`, its standard input read from
    /// `stdin` and its standard output written to `stdout` when given;
    /// fails, with what it printed on standard error, if it fails.
    pub fn run(
        &self,
        script: &str,
        args: &[&std::ffi::OsStr],
        stdin: Option<&Path>,
        stdout: Option<&Path>,
    ) -> Result<(), Failure> {
        let mut command = Command::new(&self.python);
        command
            .arg("-W")
            .arg("ignore")
            .arg(self.tools.join(script))
            .args(args)
            .current_dir(&self.tools)
            .stderr(Stdio::piped());
        if let Some(path) = stdin {
            command.stdin(open(path)?);
        }
        if let Some(path) = stdout {
            let file = std::fs::File::create(path)
                .map_err(|e| Failure::new(format!("cannot write {}: {e}", path.display())))?;
            command.stdout(file);
        }
        let output = command
            .output()
            .map_err(|e| Failure::new(format!("could not run seL4's {script}: {e}")))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(Failure::from_status(
                format!(
                    "seL4's {script} failed:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                ),
                output.status,
            ))
        }
    }
}

fn open(path: &Path) -> Result<std::fs::File, Failure> {
    std::fs::File::open(path)
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))
}

/// `cargo xtask sel4-generators`: makes the generators ready, checks that
/// `bitfield_gen.py` runs on seL4 5.0.0's own `types_64.bf`, and prints
/// where everything is.
pub fn sel4_generators(root: &Path) -> Result<(), Failure> {
    let generators = prepare(root)?;
    let input = generators.sel4.join("libsel4/include/sel4/types_64.bf");
    let output = generators.dir.join("types_64.rs");
    generators.run(
        "bitfield_gen.py",
        &["--word-size=64".as_ref()],
        Some(&input),
        Some(&output),
    )?;
    println!("{}", generators.describe());
    println!(
        "bitfield_gen.py on seL4's types_64.bf: {}",
        output.display()
    );
    Ok(())
}

/// Makes the generators ready (see the module's documentation).
pub fn prepare(root: &Path) -> Result<Generators, Failure> {
    let dir = root.join("target").join("sel4-generators");
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::new(format!("cannot create {}: {e}", dir.display())))?;
    let python = virtual_env(&dir)?;
    let crate_dir = vendored_crate(root, &dir)?;
    let tools = converted_tools(&dir, &python, &crate_dir)?;
    Ok(Generators {
        python,
        tools,
        sel4: crate_dir.join("seL4"),
        dir,
    })
}

/// The virtual environment's Python, with [`PYTHON_PACKAGES`] installed.
fn virtual_env(dir: &Path) -> Result<PathBuf, Failure> {
    let venv = dir.join("venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .map_err(|e| {
                Failure::new(format!(
                    "could not run python3 ({e}): the differential tests against seL4's \
                     generators need Python 3; install it with: apt-get install -y python3 python3-venv"
                ))
            })?;
        if !status.success() {
            let _ = std::fs::remove_dir_all(&venv);
            return Err(Failure::from_status(
                "`python3 -m venv` failed; install the venv module with: \
                 apt-get install -y python3-venv",
                status,
            ));
        }
    }
    let installed = Command::new(&python)
        .args(["-c", "import ply, tempita, fissix"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        eprintln!("==> installing {} from PyPI", PYTHON_PACKAGES.join(", "));
        let status = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PYTHON_PACKAGES)
            .status()
            .map_err(|e| Failure::new(format!("could not run pip: {e}")))?;
        if !status.success() {
            return Err(Failure::from_status(
                format!(
                    "pip could not install {} from PyPI",
                    PYTHON_PACKAGES.join(", ")
                ),
                status,
            ));
        }
    }
    Ok(python)
}

/// The unpacked `sel4-sys` crate, vendored from crates.io.
fn vendored_crate(root: &Path, dir: &Path) -> Result<PathBuf, Failure> {
    let vendor = dir.join("vendor");
    let crate_dir = vendor.join(format!("{CRATE}-{VERSION}"));
    if crate_dir.join("tools").is_dir() {
        return Ok(crate_dir);
    }
    let fetch = dir.join("fetch");
    std::fs::create_dir_all(fetch.join("src"))
        .and_then(|()| {
            std::fs::write(
                fetch.join("Cargo.toml"),
                format!(
                    "# Written by `cargo xtask` (sel4gen.rs): only to unpack {CRATE}.\n\
                     [package]\nname = \"sel4-generators-fetch\"\nversion = \"0.0.0\"\n\
                     edition = \"2021\"\npublish = false\n\n\
                     [dependencies]\n{CRATE} = \"={VERSION}\"\n\n[workspace]\n"
                ),
            )
        })
        .and_then(|()| std::fs::write(fetch.join("src").join("lib.rs"), ""))
        .map_err(|e| Failure::new(format!("cannot write {}: {e}", fetch.display())))?;
    eprintln!("==> unpacking {CRATE} {VERSION} (seL4 5.0.0's generators) from crates.io");
    let status = Command::new(cargo())
        .args(["vendor", "--quiet", "--versioned-dirs", "--manifest-path"])
        .arg(fetch.join("Cargo.toml"))
        .arg(&vendor)
        .current_dir(root)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| Failure::new(format!("could not run cargo vendor: {e}")))?;
    if !status.success() || !crate_dir.join("tools").is_dir() {
        return Err(Failure::from_status(
            format!("cargo vendor could not unpack {CRATE} {VERSION} from crates.io"),
            status,
        ));
    }
    Ok(crate_dir)
}

/// `tools/`: the crate's generators converted to Python 3, made afresh
/// each run (a copy and one `fissix` run: well under a second).
fn converted_tools(dir: &Path, python: &Path, crate_dir: &Path) -> Result<PathBuf, Failure> {
    let tools = dir.join("tools");
    let _ = std::fs::remove_dir_all(&tools);
    std::fs::create_dir_all(&tools)
        .map_err(|e| Failure::new(format!("cannot create {}: {e}", tools.display())))?;
    let source = crate_dir.join("tools");
    let entries = std::fs::read_dir(&source)
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", source.display())))?;
    let mut scripts = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| Failure::new(format!("cannot read {}: {e}", source.display())))?
            .path();
        let Some(name) = path.file_name() else {
            continue;
        };
        let to = tools.join(name);
        std::fs::copy(&path, &to)
            .map_err(|e| Failure::new(format!("cannot copy {}: {e}", path.display())))?;
        if path.extension().is_some_and(|e| e == "py") {
            scripts.push(to);
        }
    }
    scripts.sort();
    let output = Command::new(python)
        .args([
            "-W",
            "ignore",
            "-m",
            "fissix",
            "--write",
            "--nobackups",
            "--no-diffs",
        ])
        .args(&scripts)
        .output()
        .map_err(|e| Failure::new(format!("could not run fissix: {e}")))?;
    if !output.status.success() {
        return Err(Failure::from_status(
            format!(
                "fissix could not convert seL4's generators to Python 3:\n{}",
                String::from_utf8_lossy(&output.stderr)
            ),
            output.status,
        ));
    }
    Ok(tools)
}
