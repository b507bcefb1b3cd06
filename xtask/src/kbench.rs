//! `cargo xtask bench-kernel`: the demo kernel's cost in guest
//! instructions. QEMU runs with `-icount shift=0,align=off`, where the
//! guest's time-stamp counter advances by one per instruction, so the
//! root task's `rdtsc` deltas (kernel-demo/user/src/bin/root.rs, module
//! `bench`) are exact instruction counts, the same on every run and every
//! machine.

use std::path::Path;

use crate::Failure;
use crate::kernel;
use crate::transcript::{EXIT_SUCCESS, QemuExit};

/// The kernel command line that makes the root task benchmark.
const BENCH_CMDLINE: &str = "bench";
/// Deterministic instruction counting, and a COM2 (the second `-serial`,
/// connected to nothing) whose interrupt the root's driver benchmark
/// raises.
const ICOUNT: &[&str] = &["-icount", "shift=0,align=off", "-serial", "null"];
/// The benchmarks with targets (issue 17's: a null system call in at most
/// 100 guest instructions, a call and reply between two address spaces in
/// at most 400; seL4: 375-775 cycles on hardware) and the bounds this
/// command fails above, which keep what has been reached: the null call's
/// target is met; the round trip's is not (BENCHMARKS.md says by how much
/// and where the floor is), so it fails only above what it takes now
/// with some room.
const ROUND_TRIP: &str = "ipc-call-reply";
const TARGETS: [(&str, u64, u64); 2] = [
    ("null-syscall", 100, 100),
    ("ipc-call-reply-cross-as", 400, 720),
];
/// Every benchmark the root task must report.
const EXPECTED: [&str; 9] = [
    "rdtsc-pair",
    "null-syscall",
    "cap-lookup",
    ROUND_TRIP,
    "ipc-call-reply-cross-as",
    "frame-retype",
    "revoke-4097",
    "out8",
    "irq-to-driver",
];

/// One `bench: NAME min N median M instructions (WHAT)` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Measurement {
    /// The benchmark's name.
    pub name: String,
    /// Fewest instructions over the runs.
    pub min: u64,
    /// Median over the runs.
    pub median: u64,
    /// What it measures.
    pub what: String,
}

/// The measurement on `line`, if it is a `bench:` result line.
pub fn parse(line: &str) -> Option<Measurement> {
    let rest = line.trim().strip_prefix("bench: ")?;
    let (head, what) = rest.split_once(" instructions (")?;
    let fields: Vec<&str> = head.split_whitespace().collect();
    let [name, "min", min, "median", median] = fields[..] else {
        return None;
    };
    Some(Measurement {
        name: name.to_owned(),
        min: min.parse().ok()?,
        median: median.parse().ok()?,
        what: what.strip_suffix(')')?.to_owned(),
    })
}

/// Builds the root task and the kernel, boots them with `bench` under
/// `-icount`, prints the table and fails if a benchmark is missing or the
/// round trip misses its target.
pub fn bench_kernel(root: &Path) -> Result<(), Failure> {
    kernel::ensure_kernel_target(root)?;
    kernel::ensure_qemu(root)?;
    let root_task = kernel::build_root_task(root)?;
    let elf = kernel::build_kernel(root)?;
    let boot = kernel::boot_with(&elf, BENCH_CMDLINE, Some(&root_task), ICOUNT)?;
    if boot.exit != QemuExit::Code(EXIT_SUCCESS) {
        return Err(Failure::new(format!(
            "the benchmark run failed: {}",
            boot.exit
        )));
    }
    let results: Vec<Measurement> = boot.transcript.lines().filter_map(parse).collect();
    println!(
        "\n==> guest instructions (QEMU -icount shift=0,align=off), min / median of the runs:"
    );
    for m in &results {
        println!(
            "    {:<16} {:>6} / {:<6} {}",
            m.name, m.min, m.median, m.what
        );
    }
    let missing: Vec<&str> = EXPECTED
        .iter()
        .copied()
        .filter(|name| !results.iter().any(|m| m.name == *name))
        .collect();
    if !missing.is_empty() {
        return Err(Failure::new(format!(
            "no result for {}",
            missing.join(", ")
        )));
    }
    let mut over = Vec::new();
    for (name, target, bound) in TARGETS {
        let median = results
            .iter()
            .find(|m| m.name == name)
            .map_or(0, |m| m.median);
        let verdict = if median <= target { "met" } else { "not met" };
        println!("==> {name}: {median} instructions; target {target}: {verdict}");
        if median > bound {
            over.push(format!(
                "{name}: {median} instructions, over the bound of {bound}"
            ));
        }
    }
    if !over.is_empty() {
        return Err(Failure::new(over.join("; ")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_parse_and_others_do_not() {
        let line = "bench: ipc-call-reply min 1000 median 1002 instructions (0-length Call, and its reply)\r";
        assert_eq!(
            parse(line),
            Some(Measurement {
                name: "ipc-call-reply".to_owned(),
                min: 1000,
                median: 1002,
                what: "0-length Call, and its reply".to_owned(),
            })
        );
        assert_eq!(
            parse("bench: 101 runs each; rdtsc counts guest instructions"),
            None
        );
        assert_eq!(parse("bench: done"), None);
        assert_eq!(
            parse("root: bench: x min 1 median 2 instructions (y)"),
            None
        );
    }
}
