//! What a good boot of the demo kernel looks like: the checks `cargo xtask
//! test` (and `demo`) run on the serial transcript and QEMU's exit status.
//!
//! The kernel prints one fact per line (see `kernel-demo/kernel/src/main.rs`);
//! these checks hold it to what it claims: a banner, Untyped lines whose
//! regions are naturally aligned, within the spec's size range and disjoint,
//! each with the generated `UntypedCap` Debug line naming the same base, a
//! total that is their sum, and `boot ok` last, with QEMU's `isa-debug-exit`
//! status for success.

use std::fmt;
use std::time::Duration;

/// QEMU's status when the kernel writes 0x10 to `isa-debug-exit`: `(0x10 << 1) | 1`.
pub const EXIT_SUCCESS: i32 = 33;
/// QEMU's status when the kernel panics (it writes 0x11).
pub const EXIT_PANIC: i32 = 35;

/// The first line the kernel prints.
pub const BANNER: &str = "capc demo kernel";
/// The last line of a successful boot.
pub const BOOT_OK: &str = "boot ok";

/// The smallest and largest Untyped in `kernel-demo/spec/kernel.cap`, as log2
/// of bytes.
const UNTYPED_BITS: std::ops::RangeInclusive<u32> = 4..=47;

/// How the QEMU run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QemuExit {
    /// QEMU exited with this status.
    Code(i32),
    /// QEMU was killed by a signal.
    Signal,
    /// The kernel did not finish in time and QEMU was killed.
    TimedOut(Duration),
}

impl fmt::Display for QemuExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            QemuExit::Code(EXIT_SUCCESS) => write!(f, "exit status {EXIT_SUCCESS} (kernel success)"),
            QemuExit::Code(EXIT_PANIC) => write!(f, "exit status {EXIT_PANIC} (kernel panic)"),
            QemuExit::Code(0) => f.write_str(
                "exit status 0: the guest triple-faulted or reset (-no-reboot), or never reached isa-debug-exit",
            ),
            QemuExit::Code(code) => write!(
                f,
                "exit status {code}: QEMU itself failed (its message is above)"
            ),
            QemuExit::Signal => f.write_str("QEMU was killed by a signal"),
            QemuExit::TimedOut(limit) => write!(
                f,
                "no exit within {} s: the kernel hung; QEMU was killed",
                limit.as_secs()
            ),
        }
    }
}

/// One `untyped 0x... 2^N (...) ram` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UntypedLine {
    /// Physical base address.
    pub base: u64,
    /// log2 of the size.
    pub bits: u32,
    /// Device memory rather than RAM.
    pub is_device: bool,
}

/// What a good boot reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootReport {
    /// The Untyped regions, in the order printed.
    pub untypeds: Vec<UntypedLine>,
    /// The total the kernel printed (checked to be their sum).
    pub total_bytes: u64,
}

/// Checks a transcript and exit status; every problem found, or the report.
pub fn check(transcript: &str, exit: QemuExit) -> Result<BootReport, Vec<String>> {
    let mut problems = Vec::new();
    if exit != QemuExit::Code(EXIT_SUCCESS) {
        problems.push(format!(
            "QEMU did not exit with {EXIT_SUCCESS} (kernel success): {exit}"
        ));
    }
    let lines: Vec<&str> = transcript.lines().map(str::trim_end).collect();
    if let Some(panic) = lines.iter().find(|l| l.starts_with("kernel panic")) {
        problems.push(format!("the kernel panicked: `{panic}`"));
    }
    if !lines.iter().any(|l| l.starts_with(BANNER)) {
        problems.push(format!("no banner line starting with `{BANNER}`"));
    }

    let mut untypeds = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if !line.starts_with("untyped 0x") {
            continue;
        }
        match parse_untyped(line) {
            Ok(untyped) => {
                let cap_line = lines.get(index + 1).copied().unwrap_or("");
                let base = format!("{:#x}", untyped.base);
                if !(cap_line.contains("UntypedCap") && cap_line.contains(&base)) {
                    problems.push(format!(
                        "`{line}` is not followed by its UntypedCap's Debug line naming {base} (got `{cap_line}`)"
                    ));
                }
                untypeds.push(untyped);
            }
            Err(why) => problems.push(format!("malformed untyped line `{line}`: {why}")),
        }
    }
    if untypeds.is_empty() {
        problems.push("no `untyped 0x... 2^N (...) ram` line".to_owned());
    }
    problems.extend(overlaps(&untypeds));

    let sum: u64 = untypeds.iter().map(|u| 1u64 << u.bits).sum();
    let mut total_bytes = 0;
    match lines.iter().find(|l| l.starts_with("untyped total ")) {
        None => problems.push("no `untyped total N bytes` line".to_owned()),
        Some(line) => match parse_total(line) {
            Ok((total, caps)) => {
                total_bytes = total;
                if total != sum {
                    problems.push(format!(
                        "`{line}`: the untyped lines add up to {sum} bytes, not {total}"
                    ));
                }
                if caps != untypeds.len() {
                    problems.push(format!(
                        "`{line}`: {} untyped lines were printed, not {caps}",
                        untypeds.len()
                    ));
                }
            }
            Err(why) => problems.push(format!("malformed total line `{line}`: {why}")),
        },
    }

    match lines.iter().rev().find(|l| !l.is_empty()) {
        Some(&last) if last == BOOT_OK => {}
        last => problems.push(format!(
            "the last line is `{}`, not `{BOOT_OK}`",
            last.copied().unwrap_or_default()
        )),
    }

    if problems.is_empty() {
        Ok(BootReport {
            untypeds,
            total_bytes,
        })
    } else {
        Err(problems)
    }
}

/// `untyped 0x0000000000200000 2^21 (2 MiB) ram`.
fn parse_untyped(line: &str) -> Result<UntypedLine, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [_, base, size, .., kind] = fields[..] else {
        return Err("expected `untyped <base> 2^<bits> (<size>) ram|device`".to_owned());
    };
    let hex = base.strip_prefix("0x").unwrap_or(base);
    if hex.len() != 16 {
        return Err(format!("base `{base}` is not 16 hex digits"));
    }
    let base = u64::from_str_radix(hex, 16).map_err(|e| format!("base `{base}`: {e}"))?;
    let bits: u32 = size
        .strip_prefix("2^")
        .and_then(|b| b.parse().ok())
        .ok_or_else(|| format!("size `{size}` is not 2^<bits>"))?;
    if !UNTYPED_BITS.contains(&bits) {
        return Err(format!(
            "2^{bits} is outside the spec's Untyped sizes 2^{}..=2^{}",
            UNTYPED_BITS.start(),
            UNTYPED_BITS.end()
        ));
    }
    if base % (1u64 << bits) != 0 {
        return Err(format!("{base:#x} is not aligned to its size 2^{bits}"));
    }
    let is_device = match kind {
        "ram" => false,
        "device" => true,
        other => return Err(format!("memory kind `{other}` is neither ram nor device")),
    };
    Ok(UntypedLine {
        base,
        bits,
        is_device,
    })
}

/// `untyped total 132898816 bytes (126 MiB + 760 KiB) in 20 caps`.
fn parse_total(line: &str) -> Result<(u64, usize), String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let bytes = fields
        .get(2)
        .and_then(|f| f.parse().ok())
        .ok_or("expected `untyped total <bytes> bytes`")?;
    let caps = match fields[..] {
        [.., "in", caps, "caps"] => caps.parse().map_err(|_| "cap count is not a number")?,
        _ => return Err("expected `... in <count> caps` at the end".to_owned()),
    };
    Ok((bytes, caps))
}

/// One problem per pair of Untyped regions that share a byte.
fn overlaps(untypeds: &[UntypedLine]) -> Vec<String> {
    let mut sorted = untypeds.to_vec();
    sorted.sort_by_key(|u| u.base);
    sorted
        .windows(2)
        .filter(|pair| pair[0].base + (1u64 << pair[0].bits) > pair[1].base)
        .map(|pair| {
            format!(
                "untyped {:#x} 2^{} overlaps untyped {:#x} 2^{}",
                pair[0].base, pair[0].bits, pair[1].base, pair[1].bits
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real transcript, trimmed to two Untyped regions (and with the
    /// serial port's `\r\n` line ends).
    const GOOD: &str = "capc demo kernel 0.1.0 (x86_64, spec kernel-demo/spec/kernel.cap)\r\n\
        boot: PVH start info at 0x21e0, version 1, 7 memory map entries\r\n\
        memory map:\r\n\
        \x20 0x0000000000100000..0x0000000007fe0000 ram       126 MiB + 896 KiB\r\n\
        untyped inventory: RAM from 0x122000 in naturally aligned pieces of 2^4..=2^47 bytes\r\n\
        untyped 0x0000000000122000 2^13 (8 KiB) ram\r\n\
        \x20       UntypedCap { base: 0x122000, bits: 13, free_index: 0, is_device: false }\r\n\
        untyped 0x0000000000200000 2^21 (2 MiB) ram\r\n\
        \x20       UntypedCap { base: 0x200000, bits: 21, free_index: 0, is_device: false }\r\n\
        untyped total 2105344 bytes (2 MiB + 8 KiB) in 2 caps\r\n\
        tcb: struct Tcb is 224 bytes, within the spec's Tcb object of 2^11 bytes (2 KiB), checked at compile time\r\n\
        boot ok\r\n";

    fn problems(transcript: &str, exit: QemuExit) -> Vec<String> {
        check(transcript, exit).expect_err("the check should fail")
    }

    #[test]
    fn a_good_boot_passes() {
        let report = check(GOOD, QemuExit::Code(EXIT_SUCCESS)).unwrap();
        assert_eq!(report.total_bytes, 2_105_344);
        assert_eq!(
            report.untypeds,
            [
                UntypedLine {
                    base: 0x122000,
                    bits: 13,
                    is_device: false
                },
                UntypedLine {
                    base: 0x200000,
                    bits: 21,
                    is_device: false
                },
            ]
        );
    }

    #[test]
    fn every_exit_but_33_fails_and_says_why() {
        for (exit, says) in [
            (QemuExit::Code(0), "triple-faulted"),
            (QemuExit::Code(EXIT_PANIC), "kernel panic"),
            (QemuExit::Code(1), "QEMU itself failed"),
            (QemuExit::Signal, "signal"),
            (QemuExit::TimedOut(Duration::from_secs(30)), "within 30 s"),
        ] {
            let problems = problems(GOOD, exit);
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].contains(says), "{problems:?}");
        }
    }

    #[test]
    fn an_empty_transcript_reports_every_missing_line() {
        let problems = problems("", QemuExit::Code(EXIT_SUCCESS));
        let all = problems.join("\n");
        for missing in [
            "no banner",
            "no `untyped 0x",
            "no `untyped total",
            "not `boot ok`",
        ] {
            assert!(all.contains(missing), "{missing} in {all}");
        }
    }

    #[test]
    fn a_panic_is_reported_with_its_message() {
        let transcript = GOOD.replace(
            "boot ok",
            "kernel panic: panicked at src/main.rs:1:1:\nboom",
        );
        let all = problems(&transcript, QemuExit::Code(EXIT_PANIC)).join("\n");
        assert!(
            all.contains("`kernel panic: panicked at src/main.rs:1:1:`"),
            "{all}"
        );
        assert!(all.contains("not `boot ok`"), "{all}");
    }

    #[test]
    fn a_total_that_is_not_the_sum_fails() {
        let transcript = GOOD.replace("total 2105344 bytes", "total 2105360 bytes");
        let all = problems(&transcript, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(
            all.contains("add up to 2105344 bytes, not 2105360"),
            "{all}"
        );
        let transcript = GOOD.replace("in 2 caps", "in 3 caps");
        let all = problems(&transcript, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(all.contains("2 untyped lines were printed, not 3"), "{all}");
    }

    #[test]
    fn misaligned_overlapping_or_oversized_regions_fail() {
        let misaligned = GOOD.replace("0x0000000000200000 2^21", "0x0000000000201000 2^21");
        let all = problems(&misaligned, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(
            all.contains("0x201000 is not aligned to its size 2^21"),
            "{all}"
        );

        let overlapping = GOOD.replace("0x0000000000122000 2^13", "0x0000000000200000 2^13");
        let all = problems(&overlapping, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(all.contains("overlaps"), "{all}");

        let oversized = GOOD.replace("2^21 (2 MiB)", "2^48 (256 TiB)");
        let all = problems(&oversized, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(all.contains("outside the spec's Untyped sizes"), "{all}");
    }

    #[test]
    fn each_untyped_line_needs_its_cap_line() {
        let transcript = GOOD.replace("UntypedCap { base: 0x200000", "UntypedCap { base: 0x300000");
        let all = problems(&transcript, QemuExit::Code(EXIT_SUCCESS)).join("\n");
        assert!(all.contains("naming 0x200000"), "{all}");
    }
}
