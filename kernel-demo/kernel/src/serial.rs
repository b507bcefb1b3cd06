//! The boot console: COM1, a 16550 UART at I/O port 0x3f8, which QEMU's
//! `-serial stdio` connects to the host's standard output.
//!
//! The console is a value passed to whoever prints, not a global, so nothing
//! can hold a lock on it when the kernel panics; the panic handler makes its
//! own handle to the already-initialised port instead.

use core::fmt;

use uart_16550::backend::PioBackend;
use uart_16550::{Config, Uart16550, Uart16550Tty};

/// Base I/O port of COM1.
const COM1_PORT: u16 = 0x3f8;

/// A writer to COM1 that turns `\n` into `\r\n`.
pub struct Console(Uart16550Tty<PioBackend>);

impl Console {
    /// Programs COM1 (115200 8N1, FIFOs on) and runs its loopback self-test.
    ///
    /// Call once, before anything else uses port 0x3f8.
    pub fn init_com1() -> Result<Console, uart_16550::Uart16550TtyError> {
        // SAFETY: 0x3f8..0x400 is COM1 on every PC QEMU emulates, and the
        // kernel owns all I/O ports; no other code drives this UART.
        let tty = unsafe { Uart16550Tty::new_port(COM1_PORT, Config::default()) }?;
        Ok(Console(tty))
    }

    /// A handle to COM1 for the panic and exception handlers, which cannot
    /// wait for or trust whoever else holds one: it does not reprogram the
    /// UART, so it is as good as the state `init_com1` left (or QEMU's
    /// defaults, which accept bytes at any baud rate, if the panic or
    /// exception came first).
    pub fn reopen() -> Option<Console> {
        // SAFETY: as in `init_com1`. A panicking kernel never returns to the
        // code that owns the other handle; an exception handler that returns
        // (only `#BP`) writes whole bytes between the interrupted code's
        // writes, so at worst the two interleave characters, never a
        // register sequence that touches memory.
        let uart = unsafe { Uart16550::new_port(COM1_PORT) }.ok()?;
        Some(Console(Uart16550Tty::from_inner(uart)))
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write_str(s)
    }
}
