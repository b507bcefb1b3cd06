//! Leaving QEMU: the `isa-debug-exit` device at port 0xf4 ends QEMU with exit
//! status `(value << 1) | 1`. A triple fault under `-no-reboot` exits with 0,
//! so no value written here can be mistaken for a crash.

use x86_64::instructions::port::Port;

/// I/O port of `-device isa-debug-exit,iobase=0xf4,iosize=0x04`.
const ISA_DEBUG_EXIT_PORT: u16 = 0xf4;

/// Why the kernel stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// The boot ran to the end: QEMU exits with 33.
    Success = 0x10,
    /// The kernel panicked: QEMU exits with 35.
    Failure = 0x11,
    /// A CPU exception the kernel cannot resume from (a page fault, a
    /// double fault, ...; see `interrupts.rs`): QEMU exits with 37. The boot
    /// self-test (`-append fault-test`) ends this way on purpose.
    CpuException = 0x12,
    /// A kernel stack ran into its guard page (see `boot::Stack` and
    /// `interrupts.rs`): QEMU exits with 39. The boot self-test
    /// `-append stack-overflow-test` ends this way on purpose.
    StackOverflow = 0x13,
}

impl ExitCode {
    /// The status QEMU exits with when the kernel writes this code.
    pub const fn qemu_status(self) -> u32 {
        (self as u32) << 1 | 1
    }
}

/// Ends the QEMU run with `code`. Without the exit device (real hardware, or
/// QEMU started without it) the write does nothing and the CPU halts.
pub fn exit(code: ExitCode) -> ! {
    let mut port = Port::<u32>::new(ISA_DEBUG_EXIT_PORT);
    // SAFETY: port 0xf4 is the debug-exit device or unused; writing it has no
    // effect on memory.
    unsafe { port.write(code as u32) };
    halt_forever()
}

/// Stops this CPU for good: interrupts off, then `hlt` in a loop.
pub fn halt_forever() -> ! {
    x86_64::instructions::interrupts::disable();
    loop {
        x86_64::instructions::hlt();
    }
}
