//! Interrupts and I/O ports for user-level drivers, seL4's x86 way: the
//! root holds the one IrqControl cap, which hands out an IrqHandler cap per
//! interrupt line, and the one IoPortControl cap, which hands out IoPort
//! caps for ranges of ports. A handler binds a notification; an interrupt
//! signals it with the badge of the notification cap and masks its line
//! until the driver acknowledges it.
//!
//! The kernel's own lines and ports are never handed out: IRQ 0 (the
//! timer) and 2 (the PIC cascade); the PICs, the PIT, COM1 (the kernel's
//! log) and QEMU's exit port. No reference here outlives what it names: a
//! binding goes when the notification's last cap goes
//! ([`IrqTable::notification_gone`]), a line when its last handler cap
//! goes, a port range when its last cap goes.
//!
//! Hardware-free: the PIC and the ports themselves are the binary's; this
//! is the bookkeeping, unit-tested on the host.

use crate::caps::KernelError;

/// Interrupt lines of the two 8259 PICs.
pub const LINES: usize = 16;

/// Lines the kernel keeps: the timer (0) and the cascade (2).
const KERNEL_LINES: u16 = 1 << 0 | 1 << 2;

/// One interrupt line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Line {
    /// An IrqHandler cap for it exists.
    pub issued: bool,
    /// The notification it signals (address; 0: none) and the badge.
    pub notification: u64,
    /// The bits the signal carries.
    pub badge: u64,
}

/// Every interrupt line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IrqTable {
    lines: [Line; LINES],
}

impl IrqTable {
    /// No line handed out.
    pub const fn new() -> IrqTable {
        IrqTable {
            lines: [Line {
                issued: false,
                notification: 0,
                badge: 0,
            }; LINES],
        }
    }

    /// IrqControl_Get's checks of `irq`, in seL4's order:
    /// `RangeError { min: 0, max: 15 }` past the lines, `RevokeFirst` for a
    /// line handed out already or the kernel's (seL4: an active IRQ). The
    /// line; nothing changes ([`issue`](Self::issue) takes it).
    pub fn available(&self, irq: u64) -> Result<u8, KernelError> {
        let Some(line) = self.lines.get(irq as usize) else {
            return Err(KernelError::RangeError {
                min: 0,
                max: LINES as u64 - 1,
            });
        };
        if line.issued || KERNEL_LINES & (1 << irq) != 0 {
            return Err(KernelError::RevokeFirst);
        }
        Ok(irq as u8)
    }

    /// IrqControl_Get of `irq`: [`available`](Self::available), then the
    /// line is marked issued.
    pub fn issue(&mut self, irq: u64) -> Result<u8, KernelError> {
        let irq = self.available(irq)?;
        self.lines[usize::from(irq)].issued = true;
        Ok(irq)
    }

    /// The line `irq`, if it is in range.
    pub fn line(&self, irq: u8) -> Option<Line> {
        self.lines.get(usize::from(irq)).copied()
    }

    /// IrqHandler_SetNotification: the line signals the notification at
    /// `notification` with `badge`.
    pub fn bind(&mut self, irq: u8, notification: u64, badge: u64) {
        if let Some(line) = self.lines.get_mut(usize::from(irq)) {
            (line.notification, line.badge) = (notification, badge);
        }
    }

    /// IrqHandler_Clear: the line signals nothing.
    pub fn unbind(&mut self, irq: u8) {
        self.bind(irq, 0, 0);
    }

    /// The last IrqHandler cap of `irq` went: the line is free again and
    /// signals nothing.
    pub fn release(&mut self, irq: u8) {
        if let Some(line) = self.lines.get_mut(usize::from(irq)) {
            *line = Line::default();
        }
    }

    /// The last cap to the notification at `at` went: no line signals it.
    pub fn notification_gone(&mut self, at: u64) {
        for line in &mut self.lines {
            if line.notification == at {
                (line.notification, line.badge) = (0, 0);
            }
        }
    }

    /// Whether some line signals the notification at `at`.
    pub fn signals(&self, at: u64) -> bool {
        at != 0 && self.lines.iter().any(|l| l.notification == at)
    }

    /// The notifications lines signal, with their lines.
    pub fn bindings(&self) -> impl Iterator<Item = (u8, u64)> + '_ {
        (0..LINES as u8)
            .zip(&self.lines)
            .filter(|(_, l)| l.notification != 0)
            .map(|(irq, l)| (irq, l.notification))
    }
}

/// x86 I/O ports.
pub const PORTS: usize = 1 << 16;

/// Port ranges the kernel keeps: the PICs, the PIT, QEMU's exit port and
/// COM1 (its log).
const KERNEL_PORTS: [(u16, u16); 5] = [
    (0x20, 0x21),
    (0x40, 0x43),
    (0xa0, 0xa1),
    (0xf4, 0xf7),
    (0x3f8, 0x3ff),
];

/// Which I/O ports an IoPort cap covers, one bit each (seL4's
/// `allocated_io_ports`): 8 KiB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoPorts {
    issued: [u64; PORTS / 64],
}

impl Default for IoPorts {
    fn default() -> IoPorts {
        IoPorts::new()
    }
}

impl IoPorts {
    /// No port handed out.
    pub const fn new() -> IoPorts {
        IoPorts {
            issued: [0; PORTS / 64],
        }
    }

    fn any(&self, first: u16, last: u16) -> bool {
        (first..=last).any(|p| self.issued[usize::from(p) / 64] & (1 << (p % 64)) != 0)
    }

    fn set(&mut self, first: u16, last: u16, issued: bool) {
        for p in first..=last {
            let (word, bit) = (usize::from(p) / 64, 1u64 << (p % 64));
            if issued {
                self.issued[word] |= bit;
            } else {
                self.issued[word] &= !bit;
            }
        }
    }

    /// IOPortControl_Issue's checks of `first..=last`: `InvalidArgument {
    /// index: 1 }` for an empty range, `IllegalOperation` if it holds a port
    /// of the kernel's, `RevokeFirst` if another IoPort cap covers a port of
    /// it. Nothing changes ([`issue`](Self::issue) takes the ports).
    pub fn available(&self, first: u16, last: u16) -> Result<(), KernelError> {
        if first > last {
            return Err(KernelError::InvalidArgument { index: 1 });
        }
        if KERNEL_PORTS.iter().any(|&(a, b)| a <= last && first <= b) {
            return Err(KernelError::IllegalOperation);
        }
        if self.any(first, last) {
            return Err(KernelError::RevokeFirst);
        }
        Ok(())
    }

    /// IOPortControl_Issue of `first..=last`: [`available`](Self::available),
    /// then the ports are marked issued.
    pub fn issue(&mut self, first: u16, last: u16) -> Result<(), KernelError> {
        self.available(first, last)?;
        self.set(first, last, true);
        Ok(())
    }

    /// The last IoPort cap of `first..=last` went: the ports are free.
    pub fn release(&mut self, first: u16, last: u16) {
        if first <= last {
            self.set(first, last, false);
        }
    }
}

/// Whether an IoPort cap for `first..=last` lets its holder use `port`
/// (`IllegalOperation` otherwise, as seL4's ensurePortOperationAllowed).
pub fn port_allowed(first: u16, last: u16, port: u16) -> Result<u16, KernelError> {
    if first <= port && port <= last {
        Ok(port)
    } else {
        Err(KernelError::IllegalOperation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_handed_out_once_and_never_the_kernels() {
        let mut t = IrqTable::new();
        assert_eq!(t.issue(3), Ok(3));
        assert_eq!(t.issue(3), Err(KernelError::RevokeFirst));
        assert_eq!(t.issue(0), Err(KernelError::RevokeFirst), "the timer");
        assert_eq!(t.issue(2), Err(KernelError::RevokeFirst), "the cascade");
        assert_eq!(
            t.issue(16),
            Err(KernelError::RangeError { min: 0, max: 15 })
        );
        t.release(3);
        assert_eq!(t.issue(3), Ok(3));
    }

    #[test]
    fn a_binding_goes_with_its_notification_or_its_line() {
        let mut t = IrqTable::new();
        t.issue(3).unwrap();
        t.issue(4).unwrap();
        t.bind(3, 0x9000, 0b10);
        t.bind(4, 0x9000, 0b100);
        assert!(t.signals(0x9000));
        assert_eq!(t.bindings().collect::<Vec<_>>(), [(3, 0x9000), (4, 0x9000)]);
        t.notification_gone(0x9000);
        assert!(!t.signals(0x9000));
        assert_eq!(t.line(3).unwrap().badge, 0);
        t.bind(3, 0xa000, 1);
        t.release(3);
        assert_eq!(t.line(3), Some(Line::default()));
    }

    #[test]
    fn port_ranges_are_disjoint_and_never_the_kernels() {
        let mut p = IoPorts::new();
        assert_eq!(p.issue(0x2f8, 0x2ff), Ok(()));
        assert_eq!(p.issue(0x2ff, 0x300), Err(KernelError::RevokeFirst));
        assert_eq!(p.issue(0x3f0, 0x3f8), Err(KernelError::IllegalOperation));
        assert_eq!(p.issue(0x21, 0x21), Err(KernelError::IllegalOperation));
        assert_eq!(
            p.issue(0x301, 0x300),
            Err(KernelError::InvalidArgument { index: 1 })
        );
        p.release(0x2f8, 0x2ff);
        assert_eq!(p.issue(0x2fc, 0x2fc), Ok(()));
        assert_eq!(port_allowed(0x2f8, 0x2ff, 0x2fd), Ok(0x2fd));
        assert_eq!(
            port_allowed(0x2f8, 0x2ff, 0x300),
            Err(KernelError::IllegalOperation)
        );
    }

    /// A hostile holder of an IoPort cap for COM2 (0x2f8..=0x2ff) names a
    /// port word above 16 bits whose low half is inside its range: the
    /// decoder refuses it before any range check, so it never aliases to
    /// an allowed port (`port_allowed` takes a `u16` and cannot see it).
    #[test]
    fn a_port_word_wider_than_16_bits_is_refused_not_truncated() {
        use crate::caps::{
            DecodeError, IoPortCapInvocation, IoPortCapLabel, MessageInfo, Rights,
            decode_io_port_cap,
        };
        let info = |length| MessageInfo {
            label: IoPortCapLabel::In8 as u64,
            length,
            caps: 0,
        };
        assert_eq!(
            decode_io_port_cap(info(1), Rights::ALL, &[0x1_02fd], &[]),
            Err(DecodeError::InvalidArgument { index: 0 })
        );
        assert!(matches!(
            decode_io_port_cap(info(1), Rights::ALL, &[0x2fd], &[]),
            Ok(IoPortCapInvocation::In8(args)) if args.port == 0x2fd
        ));
    }
}
