//! The preemption timer: the 8254 PIT on IRQ 0, delivered through the 8259
//! PIC remapped so that IRQ 0 arrives on [`TIMER_VECTOR`] rather than on a
//! CPU exception vector. The other IRQ lines stay masked until a driver's
//! IrqHandler cap acknowledges one ([`unmask`]); each interrupt masks its
//! line again until the driver has handled it ([`irq_arrived`]).

use core::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};

use x86_64::instructions::port::Port;

use crate::interrupts::TIMER_VECTOR;

/// Timer interrupts per second: a tick of 1 ms; a time slice is
/// `runqueue::TIME_SLICE` ticks.
pub const HZ: u32 = 1000;

/// The PIT's input clock.
const PIT_HZ: u32 = 1_193_182;

const PIC1_COMMAND: u16 = 0x20;
const PIC1_DATA: u16 = 0x21;
const PIC2_COMMAND: u16 = 0xa0;
const PIC2_DATA: u16 = 0xa1;
const PIT_CHANNEL0: u16 = 0x40;
const PIT_COMMAND: u16 = 0x43;
/// ICW1: initialise, ICW4 follows.
const ICW1_INIT: u8 = 0x11;
/// ICW4: 8086 mode.
const ICW4_8086: u8 = 0x01;
/// Non-specific end of interrupt.
const EOI: u8 = 0x20;
/// PIT channel 0, low then high byte, mode 2 (rate generator).
const PIT_RATE_GENERATOR: u8 = 0x34;

/// Remaps the PIC (IRQs 0-7 to vectors 32-39, 8-15 to 40-47), masks every
/// line but IRQ 0 and starts the PIT at [`HZ`]. Interrupts stay off until
/// a thread runs with IF set.
pub fn init() {
    let divisor = PIT_HZ / HZ;
    // SAFETY: these are the legacy PIC and PIT ports of the PC platform
    // QEMU emulates; nothing else in the kernel uses them, and interrupts
    // are off while they are programmed.
    unsafe {
        let mut pic1_command = Port::<u8>::new(PIC1_COMMAND);
        let mut pic1_data = Port::<u8>::new(PIC1_DATA);
        let mut pic2_command = Port::<u8>::new(PIC2_COMMAND);
        let mut pic2_data = Port::<u8>::new(PIC2_DATA);
        pic1_command.write(ICW1_INIT);
        pic2_command.write(ICW1_INIT);
        pic1_data.write(TIMER_VECTOR as u8);
        pic2_data.write(TIMER_VECTOR as u8 + 8);
        pic1_data.write(4); // the slave sits on IRQ 2
        pic2_data.write(2); // its cascade identity
        pic1_data.write(ICW4_8086);
        pic2_data.write(ICW4_8086);
        pic1_data.write(!1); // only IRQ 0
        pic2_data.write(0xff);

        Port::<u8>::new(PIT_COMMAND).write(PIT_RATE_GENERATOR);
        let mut channel0 = Port::<u8>::new(PIT_CHANNEL0);
        channel0.write(divisor as u8);
        channel0.write((divisor >> 8) as u8);
    }
}

/// Tells the PIC the timer interrupt was handled, so it can fire again.
pub fn end_of_interrupt() {
    // SAFETY: writing EOI to the master PIC's command port only
    // acknowledges the interrupt in service.
    unsafe { Port::<u8>::new(PIC1_COMMAND).write(EOI) };
}

/// IRQs that arrived while the kernel waited in ring 0, one bit each, for
/// the waiting kernel to deliver (`user::sched`): the interrupt handler
/// touches nothing else.
static ARRIVED: AtomicU16 = AtomicU16::new(0);

/// IRQ `irq` (1-15) arrived: its line is masked until a driver acknowledges
/// it, the PIC told it was handled, and the IRQ noted in [`ARRIVED`].
pub fn irq_arrived(irq: u8) {
    mask(irq);
    // SAFETY: EOI to the PIC(s) that raised the interrupt acknowledges it.
    unsafe {
        if irq >= 8 {
            Port::<u8>::new(PIC2_COMMAND).write(EOI);
        }
        Port::<u8>::new(PIC1_COMMAND).write(EOI);
    }
    ARRIVED.fetch_or(1 << irq, Ordering::AcqRel);
}

/// The IRQs that arrived since the last call, one bit each.
pub fn take_arrived() -> u16 {
    ARRIVED.swap(0, Ordering::AcqRel)
}

/// The data port of the PIC that serves `irq`, and its bit there.
fn line(irq: u8) -> (u16, u8) {
    if irq < 8 {
        (PIC1_DATA, 1 << irq)
    } else {
        (PIC2_DATA, 1 << (irq - 8))
    }
}

/// Masks IRQ `irq` (0-15) at the PIC.
pub fn mask(irq: u8) {
    let (port, bit) = line(irq);
    // SAFETY: reading and writing the PIC's mask register changes which
    // lines interrupt, nothing else; interrupts are off in the kernel.
    unsafe {
        let mut data = Port::<u8>::new(port);
        let mask = data.read();
        data.write(mask | bit);
    }
}

/// Unmasks IRQ `irq` (0-15) at the PIC (and the cascade for 8-15).
pub fn unmask(irq: u8) {
    let (port, bit) = line(irq);
    // SAFETY: as for `mask`.
    unsafe {
        let mut data = Port::<u8>::new(port);
        let mask = data.read();
        data.write(mask & !bit);
        if irq >= 8 {
            let mut master = Port::<u8>::new(PIC1_DATA);
            let mask = master.read();
            master.write(mask & !(1 << 2));
        }
    }
}

/// A timer tick arrived in ring 0 (while the kernel waited with
/// interrupts on, or at a preemption point): for the time slice of the
/// thread whose system call was preempted.
static TICKED: AtomicBool = AtomicBool::new(false);

/// The timer interrupt arrived in ring 0: told the PIC, and noted.
pub fn tick_in_kernel() {
    end_of_interrupt();
    TICKED.store(true, Ordering::Release);
}

/// Whether a tick arrived in ring 0 since the last call.
pub fn take_kernel_tick() -> bool {
    TICKED.swap(false, Ordering::AcqRel)
}

/// Preemption points taken, and the longest stretch between two of one
/// system call's (in time-stamp counter ticks: guest instructions under
/// QEMU's `-icount`), for the kernel's report.
static POINTS: AtomicU64 = AtomicU64::new(0);
static LONGEST: AtomicU64 = AtomicU64::new(0);
static LAST: AtomicU64 = AtomicU64::new(0);

/// The time-stamp counter.
fn now() -> u64 {
    // SAFETY: `rdtsc` reads a counter; it has no other effect.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// A long operation (a revoke) starts: its first stretch is measured from
/// here.
pub fn start_preemptible() {
    LAST.store(now(), Ordering::Relaxed);
}

/// A preemption point (seL4's `preemptionPoint`): interrupts are let in
/// for one instruction, and the operation stops if any came (a timer tick
/// or a driver's IRQ, which the ring-0 handlers note: `tick_in_kernel`,
/// `irq_arrived`), for its system call to be restarted once they are
/// handled. The kernel's state is consistent here by the caller's
/// contract, and the handlers touch only this module's statics and the
/// PIC.
pub fn preemption_point() -> bool {
    let at = now();
    let stretch = at.saturating_sub(LAST.load(Ordering::Relaxed));
    LONGEST.fetch_max(stretch, Ordering::Relaxed);
    POINTS.fetch_add(1, Ordering::Relaxed);
    // `sti` takes effect after the next instruction: the window is the
    // `nop`.
    // SAFETY: interrupts come in for the one `nop`; the ring-0 handlers
    // (`interrupts::exception_handler`) only note them and return, on this
    // stack, which has room for their frame.
    unsafe { core::arch::asm!("sti", "nop", "cli") };
    let pending = TICKED.load(Ordering::Acquire) || ARRIVED.load(Ordering::Acquire) != 0;
    LAST.store(now(), Ordering::Relaxed);
    pending
}

/// How many preemption points were taken, and the longest stretch of a
/// preemptible operation without one.
pub fn preemption_stats() -> (u64, u64) {
    (
        POINTS.load(Ordering::Relaxed),
        LONGEST.load(Ordering::Relaxed),
    )
}
