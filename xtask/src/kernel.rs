//! Building the demo kernel and booting it in QEMU.
//!
//! The kernel (`kernel-demo/kernel`) is its own cargo workspace whose
//! `.cargo/config.toml` selects the `x86_64-unknown-none` target and the
//! static relocation model, so every cargo command for it runs in that
//! directory (cargo reads config files from the working directory, not from
//! `--manifest-path`). The tools it needs, the rustup target and QEMU, are
//! installed when missing if that can be done without asking; otherwise the
//! task stops with the exact command to run. Nothing here skips a check
//! because a tool is missing: in CI that would hide a broken kernel.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::transcript::QemuExit;
use crate::{Failure, cargo, run};

/// The kernel crate, relative to the workspace root.
pub const KERNEL_DIR: &str = "kernel-demo/kernel";
/// The kernel's target triple (also set in its `.cargo/config.toml`).
const KERNEL_TARGET: &str = "x86_64-unknown-none";
/// The kernel's binary target (its package is `capc-demo-kernel` too).
const KERNEL_BIN: &str = "capc-demo-kernel";
/// The user programs' crate (its own workspace too), relative to the root.
pub const USER_DIR: &str = "kernel-demo/user";
/// The root task's binary target, passed to QEMU as the boot module.
const ROOT_TASK_BIN: &str = "root";

/// The emulator and the Debian package that provides it.
const QEMU: &str = "qemu-system-x86_64";
const QEMU_PACKAGE: &str = "qemu-system-x86";

/// A hung kernel fails the run after this long (a good boot takes well
/// under a second under TCG).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(30);

/// The kernel crate's directory.
pub fn kernel_dir(root: &Path) -> PathBuf {
    root.join(KERNEL_DIR)
}

/// The user programs' directory.
pub fn user_dir(root: &Path) -> PathBuf {
    root.join(USER_DIR)
}

/// Makes sure the `x86_64-unknown-none` standard library is installed
/// (rustup does not add targets on its own here).
pub fn ensure_kernel_target(root: &Path) -> Result<(), Failure> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(root)
        .output()
        .map_err(|e| {
            Failure::new(format!(
                "could not run `rustup target list --installed` ({e}); the kernel needs the \
                 {KERNEL_TARGET} target: install rustup, then `rustup target add {KERNEL_TARGET}`"
            ))
        })?;
    let listed = String::from_utf8_lossy(&installed.stdout);
    if installed.status.success() && listed.lines().any(|l| l.trim() == KERNEL_TARGET) {
        return Ok(());
    }
    println!("==> installing the {KERNEL_TARGET} target  [rustup target add {KERNEL_TARGET}]");
    let status = run(root, "rustup", &["target", "add", KERNEL_TARGET])?;
    if status.success() {
        Ok(())
    } else {
        Err(Failure::from_status(
            format!("`rustup target add {KERNEL_TARGET}` failed"),
            status,
        ))
    }
}

/// A Debian package a task needs, and the program that shows it is there.
pub struct Package {
    /// What it is, for messages.
    pub what: &'static str,
    /// The package to install.
    pub name: &'static str,
    /// A program and an argument that run successfully once it is there.
    pub check: (&'static str, &'static str),
}

const QEMU_PKG: Package = Package {
    what: "QEMU",
    name: QEMU_PACKAGE,
    check: (QEMU, "--version"),
};

/// Graphviz: `capc graph -o x.svg` runs its `dot`, and the graph tests
/// render SVG with it.
const GRAPHVIZ_PKG: Package = Package {
    what: "Graphviz",
    name: "graphviz",
    check: ("dot", "-V"),
};

/// Whether the package's check program runs.
fn available(package: &Package) -> bool {
    Command::new(package.check.0)
        .arg(package.check.1)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether this process runs as root (`id -u` prints 0).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.status.success() && out.stdout.trim_ascii() == b"0")
}

/// Makes sure QEMU is installed: as root, installs it with apt-get; otherwise
/// stops with the command that installs it.
pub fn ensure_qemu(root: &Path) -> Result<(), Failure> {
    ensure_package(root, &QEMU_PKG)
}

/// Makes sure Graphviz is installed, as [`ensure_qemu`] does for QEMU.
pub fn ensure_graphviz(root: &Path) -> Result<(), Failure> {
    ensure_package(root, &GRAPHVIZ_PKG)
}

/// Makes sure `package` is installed: as root, installs it with apt-get;
/// otherwise stops with the command that installs it.
pub fn ensure_package(root: &Path, package: &Package) -> Result<(), Failure> {
    if available(package) {
        return Ok(());
    }
    let (what, name) = (package.what, package.name);
    let install = format!("DEBIAN_FRONTEND=noninteractive apt-get install -y {name}");
    if !is_root() {
        return Err(Failure::new(format!(
            "{what} (`{}`) is not installed, and installing it needs root. Run:\n    \
             sudo apt-get update && sudo {install}\nthen run this task again",
            package.check.0
        )));
    }
    println!("==> installing {what}  [apt-get update && {install}]");
    let status = run(root, "apt-get", &["update"])?;
    if !status.success() {
        return Err(Failure::from_status("`apt-get update` failed", status));
    }
    let status = Command::new("apt-get")
        .args(["install", "-y", name])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .current_dir(root)
        .status()
        .map_err(|e| Failure::new(format!("could not run `apt-get install`: {e}")))?;
    if !status.success() {
        return Err(Failure::from_status(format!("`{install}` failed"), status));
    }
    if available(package) {
        Ok(())
    } else {
        Err(Failure::new(format!(
            "`{install}` succeeded but `{} {}` still does not run",
            package.check.0, package.check.1
        )))
    }
}

/// Builds the kernel in release mode and returns the path of its ELF, as
/// cargo reports it (so `CARGO_TARGET_DIR` and friends are respected).
pub fn build_kernel(root: &Path) -> Result<PathBuf, Failure> {
    build_release_bin(&kernel_dir(root), KERNEL_DIR, KERNEL_BIN, "the kernel")
}

/// Builds the user programs in release mode and packs them into the boot
/// image (the boot module QEMU passes with `-initrd`); returns its path.
pub fn build_root_task(root: &Path) -> Result<PathBuf, Failure> {
    let dir = user_dir(root);
    let mut programs = Vec::new();
    for bin in USER_PROGRAMS {
        let path = build_release_bin(&dir, USER_DIR, bin, "the user programs")?;
        let bytes = std::fs::read(&path)
            .map_err(|e| Failure::new(format!("could not read {}: {e}", path.display())))?;
        programs.push((*bin, bytes));
    }
    let image = pack_boot_image(&programs);
    let out = dir.join("target").join(BOOT_IMAGE);
    std::fs::write(&out, &image)
        .map_err(|e| Failure::new(format!("could not write {}: {e}", out.display())))?;
    println!(
        "==> boot image {} ({} bytes): {}",
        out.display(),
        image.len(),
        USER_PROGRAMS.join(", ")
    );
    Ok(out)
}

/// The programs of the boot image; the kernel starts the first.
const USER_PROGRAMS: &[&str] = &[
    ROOT_TASK_BIN,
    "task",
    "decompress",
    "client",
    "attack",
    "memserver",
    "fileserver",
    "sessclient",
];
/// The boot image's file name in the user programs' target directory.
const BOOT_IMAGE: &str = "boot-image.bin";

/// The boot image of `programs`, in the layout the kernel's `bootimage.rs`
/// reads: magic, count, total size, one 48-byte entry per program (name
/// padded to 32 bytes, offset, size), then the programs.
pub fn pack_boot_image(programs: &[(&str, Vec<u8>)]) -> Vec<u8> {
    const HEADER: usize = 24;
    const ENTRY: usize = 48;
    let data: usize = programs.iter().map(|(_, b)| b.len()).sum();
    let total = HEADER + ENTRY * programs.len() + data;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"capcboot");
    out.extend_from_slice(&(programs.len() as u64).to_le_bytes());
    out.extend_from_slice(&(total as u64).to_le_bytes());
    let mut offset = HEADER + ENTRY * programs.len();
    for (name, bytes) in programs {
        let mut padded = [0u8; 32];
        padded[..name.len()].copy_from_slice(name.as_bytes());
        out.extend_from_slice(&padded);
        out.extend_from_slice(&(offset as u64).to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        offset += bytes.len();
    }
    for (_, bytes) in programs {
        out.extend_from_slice(bytes);
    }
    out
}

/// `cargo build --release` in `dir` (shown as `shown`); the executable of
/// the binary target `bin`.
fn build_release_bin(dir: &Path, shown: &str, bin: &str, what: &str) -> Result<PathBuf, Failure> {
    let args = [
        "build",
        "--release",
        "--message-format=json-render-diagnostics",
    ];
    println!("==> building {what}  [cargo build --release, in {shown}]");
    let output = Command::new(cargo())
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Failure::new(format!("could not run cargo: {e}")))?;
    if !output.status.success() {
        return Err(Failure::from_status(
            format!("building {what} failed"),
            output.status,
        ));
    }
    let messages = String::from_utf8_lossy(&output.stdout);
    messages
        .lines()
        .filter(|line| {
            line.contains(r#""reason":"compiler-artifact""#)
                && line.contains(r#""kind":["bin"]"#)
                && line.contains(&format!(r#""name":"{bin}""#))
        })
        .find_map(|line| json_string_field(line, "executable"))
        .map(PathBuf::from)
        .ok_or_else(|| {
            Failure::new(format!(
                "cargo built {what} but reported no executable `{bin}`"
            ))
        })
}

/// The value of the string field `key` in one line of cargo's JSON
/// messages; `None` if it is absent, `null`, or uses an escape other than
/// `\\`, `\"` and `\/` (which file paths do not need).
fn json_string_field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!(r#""{key}":""#))? + key.len() + 4;
    let mut value = String::new();
    let mut chars = line[start..].chars();
    loop {
        match chars.next()? {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                c @ ('\\' | '"' | '/') => value.push(c),
                _ => return None,
            },
            c => value.push(c),
        }
    }
}

/// What one QEMU run printed on COM1 and how it ended.
pub struct Boot {
    /// The serial output, with the UART's `\r\n` turned into `\n`.
    pub transcript: String,
    /// How QEMU ended.
    pub exit: QemuExit,
    /// From starting QEMU to its exit.
    pub elapsed: Duration,
}

/// QEMU's arguments after `-kernel <elf>`: COM1 on stdout, no display, no
/// reboot on triple fault (QEMU exits 0 instead), the debug-exit device, TCG
/// with every CPU feature it emulates, 128 MiB of RAM.
const QEMU_ARGS: &[&str] = &[
    "-display",
    "none",
    "-serial",
    "stdio",
    "-no-reboot",
    "-device",
    "isa-debug-exit,iobase=0xf4,iosize=0x04",
    "-cpu",
    "max",
    "-m",
    "128M",
];

/// What a [`Trigger`] does, on a thread of its own.
pub type Action = Box<dyn FnOnce() + Send>;

/// Something to do once the guest has printed `marker`: feed COM2 when its
/// driver waits for input, so that the input arrives while the kernel has
/// nothing else to run.
pub struct Trigger {
    /// The text to wait for in the serial output.
    pub marker: &'static str,
    /// What to do then (run on a thread of its own).
    pub action: Action,
}

/// A named pipe at `fifo` (made anew with `mkfifo`) that QEMU opens as the
/// guest's second serial port (COM2), and what writes `input` into it: the
/// QEMU arguments that attach it, and the writing, for a [`Trigger`]. QEMU
/// keeps the pipe open for reading and writing, so the bytes stay until
/// COM2 takes them.
pub fn com2_input(fifo: &Path, input: &'static [u8]) -> Result<(Vec<String>, Action), Failure> {
    let _ = std::fs::remove_file(fifo);
    let made = Command::new("mkfifo")
        .arg(fifo)
        .status()
        .map_err(|e| Failure::new(format!("could not run mkfifo: {e}")))?;
    if !made.success() {
        return Err(Failure::new(format!(
            "mkfifo {} failed ({made})",
            fifo.display()
        )));
    }
    let path = fifo.to_owned();
    let write = Box::new(move || {
        use std::io::Write;
        if let Ok(mut pipe) = std::fs::OpenOptions::new().write(true).open(&path) {
            let _ = pipe.write_all(input);
        }
    });
    let args = vec![
        "-chardev".to_owned(),
        format!("pipe,id=com2,path={}", fifo.display()),
        "-serial".to_owned(),
        "chardev:com2".to_owned(),
    ];
    Ok((args, write))
}

/// Boots `elf` with the kernel command line `cmdline` (QEMU's `-append`;
/// none if empty) and the boot module `module` (QEMU's `-initrd`: the root
/// task), streaming COM1 to our stdout as it arrives, and kills QEMU after
/// [`BOOT_TIMEOUT`].
pub fn boot(elf: &Path, cmdline: &str, module: Option<&Path>) -> Result<Boot, Failure> {
    boot_with(elf, cmdline, module, &[])
}

/// [`boot`] with more QEMU arguments (such as `-icount`).
pub fn boot_with(
    elf: &Path,
    cmdline: &str,
    module: Option<&Path>,
    qemu_args: &[&str],
) -> Result<Boot, Failure> {
    boot_triggered(elf, cmdline, module, qemu_args, None)
}

/// [`boot_with`], and `trigger`'s action once its marker is printed.
pub fn boot_triggered(
    elf: &Path,
    cmdline: &str,
    module: Option<&Path>,
    qemu_args: &[&str],
    trigger: Option<Trigger>,
) -> Result<Boot, Failure> {
    let mut extra: Vec<String> = qemu_args.iter().map(|a| (*a).to_owned()).collect();
    if !cmdline.is_empty() {
        extra.extend(["-append".to_owned(), cmdline.to_owned()]);
    }
    if let Some(module) = module {
        extra.extend(["-initrd".to_owned(), module.display().to_string()]);
    }
    println!(
        "==> booting  [{QEMU} -kernel {} {}{}]",
        elf.display(),
        QEMU_ARGS.join(" "),
        extra.iter().map(|a| format!(" {a}")).collect::<String>()
    );
    let start = Instant::now();
    let mut child = Command::new(QEMU)
        .arg("-kernel")
        .arg(elf)
        .args(QEMU_ARGS)
        .args(&extra)
        // With a terminal on stdin, `-serial stdio` would switch it to raw mode.
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Failure::new(format!("could not start {QEMU}: {e}")))?;
    let mut serial = child.stdout.take().expect("stdout is piped");
    let echo = std::thread::spawn(move || {
        let mut captured = Vec::new();
        let mut buffer = [0u8; 4096];
        let mut stdout = std::io::stdout();
        let mut trigger = trigger;
        while let Ok(n @ 1..) = serial.read(&mut buffer) {
            captured.extend_from_slice(&buffer[..n]);
            let seen = trigger.as_ref().is_some_and(|t| {
                // The marker may straddle two reads: look a little back.
                let from = captured.len().saturating_sub(n + t.marker.len());
                captured[from..]
                    .windows(t.marker.len())
                    .any(|w| w == t.marker.as_bytes())
            });
            if seen && let Some(t) = trigger.take() {
                std::thread::spawn(t.action);
            }
            // The transcript is also checked from `captured`; a closed
            // stdout must not stop the capture.
            let _ = stdout.write_all(&buffer[..n]);
            let _ = stdout.flush();
        }
        captured
    });

    let exit = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.code().map_or(QemuExit::Signal, QemuExit::Code),
            Ok(None) if start.elapsed() >= BOOT_TIMEOUT => {
                // Killing can only fail if QEMU already exited; wait reaps it.
                let _ = child.kill();
                let _ = child.wait();
                break QemuExit::TimedOut(BOOT_TIMEOUT);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(Failure::new(format!("waiting for {QEMU} failed: {e}"))),
        }
    };
    let elapsed = start.elapsed();
    let captured = echo
        .join()
        .map_err(|_| Failure::new("the thread reading QEMU's serial output panicked"))?;
    Ok(Boot {
        transcript: String::from_utf8_lossy(&captured).replace("\r\n", "\n"),
        exit,
        elapsed,
    })
}

/// The kernel command line of the stack-overflow self-test
/// (`STACK_OVERFLOW_TEST` in `kernel-demo/kernel/src/cmdline.rs`).
pub const STACK_OVERFLOW_TEST_CMDLINE: &str = "stack-overflow-test";
/// QEMU's status when the kernel reports a kernel stack overflow (it writes
/// 0x13, `ExitCode::StackOverflow` in `kernel-demo/kernel/src/qemu.rs`).
pub const EXIT_STACK_OVERFLOW: i32 = 39;
/// The start of the self-test's line naming the stack and its guard page.
const RECURSING: &str = "stack-overflow-test: recursing on the boot stack ";
/// The start of the double-fault handler's overflow report.
const OVERFLOW_REPORT: &str = "kernel stack overflow: the boot stack ";
/// The breakpoint the test takes with RFLAGS.AC set, as a thread may enter
/// the kernel: the entry must have cleared AC (`clac`), so SMAP holds.
const AC_CLEARED: &str = "resuming (RFLAGS.AC set before the entry, clear in the kernel)";
/// The report line of the double fault the overflow became.
const DOUBLE_FAULT_REPORT: &str = "cpu exception: #DF double fault (vector 8)";

/// The double-fault report's line saying the handler ran on its own stack.
const ON_DOUBLE_FAULT_STACK: &str = "handled on the double-fault stack (IST1)";

/// A boot that raises a vector with a stack of its own through `int`:
/// its command line, the report's first line and the line naming the stack.
pub struct IstTest {
    /// The kernel command line (`NMI_TEST`, `MACHINE_CHECK_TEST` in
    /// `kernel-demo/kernel/src/cmdline.rs`).
    pub cmdline: &'static str,
    /// The start of the exception report's first line.
    report: &'static str,
    /// The line saying where the handler ran.
    stack: &'static str,
}

/// The NMI and the machine check, each on its own IST stack.
pub const IST_TESTS: [IstTest; 2] = [
    IstTest {
        cmdline: "nmi-test",
        report: "cpu exception: NMI non-maskable interrupt (vector 2)",
        stack: "handled on the NMI stack (IST2)",
    },
    IstTest {
        cmdline: "machine-check-test",
        report: "cpu exception: #MC machine check (vector 18)",
        stack: "handled on the machine-check stack (IST3)",
    },
];

/// QEMU's status after a fatal CPU exception (the kernel writes 0x12).
const EXIT_CPU_EXCEPTION: i32 = 37;

impl IstTest {
    /// Checks a boot with this test's command line: the exception's report,
    /// saying its handler ran on its own stack, and QEMU's status for a
    /// fatal CPU exception.
    pub fn check(&self, transcript: &str, exit: QemuExit) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if exit != QemuExit::Code(EXIT_CPU_EXCEPTION) {
            problems.push(format!(
                "QEMU did not exit with {EXIT_CPU_EXCEPTION} (fatal CPU exception): {exit}"
            ));
        }
        let lines: Vec<&str> = transcript.lines().map(str::trim).collect();
        if let Some(panic) = lines.iter().find(|l| l.starts_with("kernel panic")) {
            problems.push(format!("the kernel panicked: `{panic}`"));
        }
        match lines.iter().position(|l| l.starts_with(self.report)) {
            None => problems.push(format!("no report `{}, ...`", self.report)),
            Some(report) => {
                let body: Vec<&str> = lines[report + 1..]
                    .iter()
                    .copied()
                    .take_while(|l| !l.is_empty())
                    .collect();
                if !body.contains(&self.stack) {
                    problems.push(format!("the report does not say `{}`", self.stack));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// What the stack-overflow boot reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackOverflowReport {
    /// The boot stack's guard page, as the kernel announced it.
    pub guard: u64,
    /// The faulting address in it that the report gave.
    pub address: u64,
}

/// Checks the transcript and exit status of a boot with `-append
/// stack-overflow-test`: the kernel announced the boot stack's guard page,
/// took a breakpoint with RFLAGS.AC set whose entry cleared AC, then
/// reported `kernel stack overflow` on that stack with a faulting
/// address inside that page, followed by the double fault's report (whose
/// stack pointer is at the guard page and whose handler ran on the
/// double-fault stack), and QEMU exited with
/// [`EXIT_STACK_OVERFLOW`], not a panic, a triple fault (0) or the plain
/// CPU-exception status.
pub fn check_stack_overflow(
    transcript: &str,
    exit: QemuExit,
) -> Result<StackOverflowReport, Vec<String>> {
    let mut problems = Vec::new();
    if exit != QemuExit::Code(EXIT_STACK_OVERFLOW) {
        problems.push(format!(
            "QEMU did not exit with {EXIT_STACK_OVERFLOW} (kernel stack overflow): {exit}"
        ));
    }
    let lines: Vec<&str> = transcript.lines().map(str::trim).collect();
    if let Some(panic) = lines.iter().find(|l| l.starts_with("kernel panic")) {
        problems.push(format!("the kernel panicked: `{panic}`"));
    }
    if lines.contains(&"boot ok") {
        problems.push(format!(
            "`boot ok` was printed: the kernel ignored `{STACK_OVERFLOW_TEST_CMDLINE}`"
        ));
    }
    let Some(announced) = lines.iter().position(|l| l.starts_with(RECURSING)) else {
        problems.push(format!("no `{RECURSING}..., guard page 0x...` line"));
        return Err(problems);
    };
    let Some(guard) = lines[announced]
        .rsplit_once("guard page ")
        .and_then(|(_, page)| parse_hex(page))
    else {
        problems.push(format!(
            "`{}` does not end in `guard page 0x...`",
            lines[announced]
        ));
        return Err(problems);
    };
    let Some(report) = lines.iter().position(|l| l.starts_with(OVERFLOW_REPORT)) else {
        problems.push(format!(
            "no overflow report `{OVERFLOW_REPORT}(...) ran into its guard page ..., faulting address 0x...`"
        ));
        return Err(problems);
    };
    if report < announced {
        problems.push("the overflow report comes before the test started".to_owned());
    }
    let breakpoint = lines[..report]
        .iter()
        .find(|l| l.starts_with("cpu exception: #BP"));
    if !breakpoint.is_some_and(|l| l.ends_with(AC_CLEARED)) {
        problems.push(format!(
            "no breakpoint line before the overflow report ending `{AC_CLEARED}`: the entry did not clear RFLAGS.AC (found {breakpoint:?})"
        ));
    }
    if let Some(other) = lines[..report]
        .iter()
        .find(|l| l.starts_with("cpu exception:") && !l.starts_with("cpu exception: #BP"))
    {
        problems.push(format!(
            "an exception came before the overflow report: `{other}`"
        ));
    }
    let line = lines[report];
    let reported_guard = line
        .split_once("ran into its guard page ")
        .and_then(|(_, rest)| rest.split_once(".."))
        .and_then(|(start, _)| parse_hex(start));
    if reported_guard != Some(guard) {
        problems.push(format!(
            "`{line}` does not name the guard page announced, {guard:#x}"
        ));
    }
    let address = line
        .rsplit_once("faulting address ")
        .and_then(|(_, address)| parse_hex(address));
    match address {
        None => problems.push(format!("`{line}` has no `faulting address 0x...`")),
        Some(address) if !(guard..guard + 4096).contains(&address) => problems.push(format!(
            "the faulting address {address:#x} is not in the guard page {guard:#x}..{:#x}",
            guard + 4096
        )),
        Some(_) => {}
    }

    // The double fault's report, up to its last line.
    let body: Vec<&str> = lines[report + 1..]
        .iter()
        .copied()
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .collect();
    if !body
        .first()
        .is_some_and(|l| l.starts_with(DOUBLE_FAULT_REPORT))
    {
        problems.push(format!(
            "the overflow report is not followed by `{DOUBLE_FAULT_REPORT}, ...`"
        ));
    }
    let rsp = body.iter().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let at = fields.iter().position(|&f| f == "rsp")?;
        parse_hex(fields.get(at + 1)?)
    });
    match rsp {
        None => problems.push("the double-fault report has no `rsp 0x...`".to_owned()),
        Some(rsp) if !(guard..guard + 2 * 4096).contains(&rsp) => problems.push(format!(
            "the double fault's rsp {rsp:#x} is not at the guard page {guard:#x}"
        )),
        Some(_) => {}
    }
    if !body.contains(&ON_DOUBLE_FAULT_STACK) {
        problems.push(format!(
            "the double-fault report does not say `{ON_DOUBLE_FAULT_STACK}`"
        ));
    }
    let stopping = format!("QEMU status {EXIT_STACK_OVERFLOW})");
    if !body.last().is_some_and(|l| l.ends_with(&stopping)) {
        problems.push(format!(
            "the report does not end saying the kernel stops with `{stopping}`"
        ));
    }
    if problems.is_empty() {
        Ok(StackOverflowReport {
            guard,
            address: address.unwrap_or_default(),
        })
    } else {
        Err(problems)
    }
}

/// `0x1234` (with or without a trailing comma) as a number.
fn parse_hex(text: &str) -> Option<u64> {
    let digits = text.trim_end_matches(',').strip_prefix("0x")?;
    u64::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::json_string_field;

    #[test]
    fn finds_the_executable_in_a_cargo_artifact_message() {
        let line = r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"capc-demo-kernel"},"executable":"/w/k\\x/target/x86_64-unknown-none/release/capc-demo-kernel","fresh":true}"#;
        assert_eq!(
            json_string_field(line, "executable").as_deref(),
            Some(r"/w/k\x/target/x86_64-unknown-none/release/capc-demo-kernel")
        );
        assert_eq!(
            json_string_field(r#"{"executable":null}"#, "executable"),
            None
        );
        assert_eq!(
            json_string_field(r#"{"executable":"a\u0041"}"#, "executable"),
            None
        );
    }
}

#[cfg(test)]
mod self_test_checks {
    use super::*;

    /// What `-append stack-overflow-test` prints (the lines that matter).
    const GOOD: &str = "capc demo kernel 0.1.0 (x86_64, spec kernel-demo/spec/kernel.cap)\r\n\
        kernel stacks: boot 0x124000..0x134000 (64 KiB), each above an unmapped 4 KiB guard page\r\n\
        stack-overflow-test: recursing on the boot stack 0x124000..0x134000 (64 KiB), guard page 0x123000\r\n\
        stack-overflow-test: int3 with RFLAGS.AC set (stac), as a thread may enter\r\n\
        cpu exception: #BP breakpoint (vector 3) at rip 0x000000000010492f, resuming (RFLAGS.AC set before the entry, clear in the kernel)\r\n\
        \r\n\
        kernel stack overflow: the boot stack (0x124000..0x134000, 64 KiB) ran into its guard page 0x123000..0x124000, faulting address 0x0000000000123fb8\r\n\
        \r\n\
        cpu exception: #DF double fault (vector 8), error code 0x0\r\n\
        \x20 rip 0x000000000010af5a  cs 0x0008  rflags 0x0000000000000006\r\n\
        \x20 rsp 0x0000000000123fc0  ss 0x0010\r\n\
        \x20 rax 0x00000000000000bb  rbx 0x0000000000130780  rcx 0x00000000001240d0  rdx 0x00000000000103f8\r\n\
        \x20 rsi 0x000000000000000a  rdi 0x00000000000000bb  rbp 0x00000000000011c0\r\n\
        \x20 handled on the double-fault stack (IST1)\r\n\
        \x20 in ring 0, the kernel: stopping (isa-debug-exit 0x13, QEMU status 39)\r\n";

    /// What `-append nmi-test` prints (the lines that matter).
    const NMI: &str = "nmi-test: int $2\r\n\
        \r\n\
        cpu exception: NMI non-maskable interrupt (vector 2), error code 0x0\r\n\
        \x20 rip 0x0000000000109ae9  cs 0x0008  rflags 0x0000000000000046\r\n\
        \x20 handled on the NMI stack (IST2)\r\n\
        \x20 in ring 0, the kernel: stopping (isa-debug-exit 0x12, QEMU status 37)\r\n";

    #[test]
    fn an_ist_test_needs_the_report_on_its_own_stack() {
        let [nmi, machine_check] = &IST_TESTS;
        nmi.check(NMI, QemuExit::Code(37)).unwrap();
        let fails = |test: &IstTest, transcript: &str, exit: i32| {
            test.check(transcript, QemuExit::Code(exit))
                .expect_err("must fail")
                .join("\n")
        };
        assert!(fails(nmi, NMI, 0).contains("did not exit with 37"));
        let elsewhere = NMI.replace("handled on the", "handled NOT on the");
        assert!(fails(nmi, &elsewhere, 37).contains("does not say"));
        assert!(fails(machine_check, NMI, 37).contains("no report `cpu exception: #MC"));
    }

    #[test]
    fn a_good_stack_overflow_test_passes() {
        let report = check_stack_overflow(GOOD, QemuExit::Code(EXIT_STACK_OVERFLOW)).unwrap();
        assert_eq!(
            report,
            StackOverflowReport {
                guard: 0x123000,
                address: 0x123fb8
            }
        );
    }

    #[test]
    fn a_bad_stack_overflow_test_says_what_is_wrong() {
        let fails = |transcript: &str, exit: i32| {
            check_stack_overflow(transcript, QemuExit::Code(exit))
                .expect_err("must fail")
                .join("\n")
        };
        // A triple fault (no guard page, or no IST stack) or a plain fault.
        assert!(fails(GOOD, 0).contains("did not exit with 39"));
        assert!(fails(GOOD, 37).contains("did not exit with 39"));
        let no_report = GOOD.replace("kernel stack overflow", "kernel stack trouble");
        assert!(fails(&no_report, 39).contains("no overflow report"));
        let elsewhere = GOOD.replace(
            "faulting address 0x0000000000123fb8",
            "faulting address 0x0000000000124010",
        );
        assert!(fails(&elsewhere, 39).contains("not in the guard page"));
        let other_guard = GOOD.replace("guard page 0x123000..", "guard page 0x145000..");
        assert!(fails(&other_guard, 39).contains("does not name the guard page"));
        let far_rsp = GOOD.replace("rsp 0x0000000000123fc0", "rsp 0x0000000000133fc0");
        assert!(fails(&far_rsp, 39).contains("not at the guard page"));
        let not_ist = GOOD.replace(
            "handled on the double-fault",
            "handled NOT on the double-fault",
        );
        assert!(fails(&not_ist, 39).contains("does not say"));
        let page_fault = GOOD.replace("#DF double fault (vector 8)", "#PF page fault (vector 14)");
        assert!(fails(&page_fault, 39).contains("not followed by"));
        let panicked = format!("{GOOD}\nkernel panic: recursing did not overflow\n");
        assert!(fails(&panicked, 39).contains("panicked"));
        assert!(fails(&format!("{GOOD}boot ok\n"), 39).contains("ignored"));
        let ac_kept = GOOD.replace("clear in the kernel", "set in the kernel");
        assert!(fails(&ac_kept, 39).contains("did not clear RFLAGS.AC"));
        let unannounced = GOOD.replace("stack-overflow-test: recursing", "recursing");
        assert!(fails(&unannounced, 39).contains("no `stack-overflow-test"));
    }
}
