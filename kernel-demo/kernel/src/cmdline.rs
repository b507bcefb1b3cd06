//! The kernel command line: the NUL-terminated string the PVH start info
//! points to (`hvm_start_info.cmdline_paddr`), which QEMU fills from
//! `-append`. Words are separated by ASCII whitespace; the kernel only looks
//! for whole-word flags such as [`FAULT_TEST`].

/// Boot into the exception self-test instead of finishing the boot: a
/// breakpoint that must resume, then a page fault that must be reported.
pub const FAULT_TEST: &str = "fault-test";

/// Boot into the stack-overflow self-test instead of finishing the boot:
/// the kernel recurses until its stack runs into the guard page below it,
/// which must be reported as a kernel stack overflow.
pub const STACK_OVERFLOW_TEST: &str = "stack-overflow-test";

/// Boot into a self-test that raises the NMI vector (`int $2`), whose
/// report must say it ran on the NMI stack (IST2).
pub const NMI_TEST: &str = "nmi-test";

/// Boot into a self-test that raises the machine-check vector (`int $18`),
/// whose report must say it ran on the machine-check stack (IST3).
pub const MACHINE_CHECK_TEST: &str = "machine-check-test";

/// The flag that makes the root task run its benchmarks instead of its
/// scenario (`cargo xtask bench-kernel`, under `-icount`).
pub const BENCH: &str = "bench";

/// Runs every system call on the slow path: the IPC fast paths
/// (`fastpath`) are off, so the transcript shows they change nothing.
pub const NO_FAST_PATH: &str = "nofastpath";

/// The longest command line the kernel reads; anything after is ignored.
pub const MAX_CMDLINE_BYTES: usize = 1024;

/// A borrowed command line, cut at its NUL or at [`MAX_CMDLINE_BYTES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandLine<'a>(&'a [u8]);

impl<'a> CommandLine<'a> {
    /// The command line held in `bytes`, up to the first NUL (or the end,
    /// or [`MAX_CMDLINE_BYTES`]).
    pub fn from_bytes(bytes: &'a [u8]) -> CommandLine<'a> {
        let bytes = &bytes[..bytes.len().min(MAX_CMDLINE_BYTES)];
        let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        CommandLine(&bytes[..len])
    }

    /// The command line at physical address `paddr`; empty if `paddr` is 0.
    ///
    /// # Safety
    ///
    /// Unless `paddr` is 0, it must be readable, identity-mapped memory
    /// holding a NUL-terminated string (or at least [`MAX_CMDLINE_BYTES`]
    /// readable bytes) that nothing writes for the lifetime `'a`.
    pub unsafe fn from_paddr(paddr: u64) -> CommandLine<'a> {
        if paddr == 0 {
            return CommandLine(&[]);
        }
        let start = paddr as *const u8;
        let mut len = 0;
        // SAFETY: the caller guarantees every byte up to the NUL (and at
        // most MAX_CMDLINE_BYTES) is readable; the loop stops at the NUL.
        while len < MAX_CMDLINE_BYTES && unsafe { start.add(len).read() } != 0 {
            len += 1;
        }
        // SAFETY: the `len` bytes just read are readable and, by the
        // caller's guarantee, unchanged for 'a.
        CommandLine(unsafe { core::slice::from_raw_parts(start, len) })
    }

    /// The raw bytes, without the NUL.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Whether `flag` appears as a whole whitespace-separated word.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.0
            .split(u8::is_ascii_whitespace)
            .any(|word| word == flag.as_bytes())
    }
}

impl core::fmt::Display for CommandLine<'_> {
    /// The command line with anything but printable ASCII escaped.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("\"")?;
        for &byte in self.0 {
            write!(f, "{}", core::ascii::escape_default(byte))?;
        }
        f.write_str("\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_whole_words() {
        let cmdline = CommandLine::from_bytes(b"quiet  fault-test\tx=1\0fault-tests");
        assert!(cmdline.has_flag(FAULT_TEST));
        assert!(cmdline.has_flag("x=1"));
        assert!(!cmdline.has_flag("fault"));
        assert!(!cmdline.has_flag("fault-tests"), "read past the NUL");
        assert!(!CommandLine::from_bytes(b"").has_flag(FAULT_TEST));
        assert!(!CommandLine::from_bytes(b"fault-testing").has_flag(FAULT_TEST));
    }

    #[test]
    fn reads_up_to_the_nul_and_escapes_for_display() {
        let bytes = *b"fault-test \"q\"\0junk";
        // SAFETY: the array is NUL-terminated and lives for the call.
        let cmdline = unsafe { CommandLine::from_paddr(bytes.as_ptr() as u64) };
        assert_eq!(cmdline.as_bytes(), b"fault-test \"q\"");
        assert_eq!(cmdline.to_string(), r#""fault-test \"q\"""#);
        // SAFETY: 0 means no command line and is never read.
        assert_eq!(unsafe { CommandLine::from_paddr(0) }.as_bytes(), b"");
    }

    #[test]
    fn stops_at_the_length_limit() {
        let long = [b'a'; MAX_CMDLINE_BYTES + 10];
        assert_eq!(
            CommandLine::from_bytes(&long).as_bytes().len(),
            MAX_CMDLINE_BYTES
        );
    }
}
