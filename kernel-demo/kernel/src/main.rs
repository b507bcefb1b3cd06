//! The capc demo kernel, booted by QEMU through PVH (`boot.rs`).
//!
//! `kmain` brings up the serial console, installs the exception handlers
//! (`interrupts.rs`), reads the boot memory map, carves
//! the RAM above the kernel into Untyped caps built by the code generated
//! from `kernel-demo/spec/kernel.cap`, prints a transcript of all of it on
//! COM1 and ends the QEMU run through `isa-debug-exit`. `cargo xtask demo`
//! boots it; `cargo xtask test` checks the transcript.
//!
//! With `fault-test` on the command line (`-append fault-test`) the boot
//! stops after the exception handlers are in place and proves they work: a
//! breakpoint that must resume, then a read of an unmapped address whose
//! page-fault report ends the run with [`ExitCode::CpuException`].
//!
//! With `nmi-test` or `machine-check-test` it raises that vector with `int`,
//! whose report must say it ran on its own IST stack, and QEMU exits with
//! [`ExitCode::CpuException`].
//!
//! With `stack-overflow-test` (`-append stack-overflow-test`) it recurses on
//! the boot stack until it runs into the guard page below it; the
//! double-fault handler reports the overflow and ends the run with
//! [`ExitCode::StackOverflow`].

#![no_std]
#![no_main]
#![deny(clippy::undocumented_unsafe_blocks)]

mod boot;
mod interrupts;
mod qemu;
mod serial;
mod timer;
mod user;

use core::fmt::Write;
use core::panic::PanicInfo;

use capc_demo_kernel::bootimage::{self, BootImage};
use capc_demo_kernel::caps::KernelObject;
use capc_demo_kernel::cmdline::{self, CommandLine};
use capc_demo_kernel::memory_map::MemoryMap;
use capc_demo_kernel::tcb::Tcb;
use capc_demo_kernel::units::Bytes;
use capc_demo_kernel::untyped::{UntypedInventory, untyped_bits_bounds};
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};

use crate::qemu::ExitCode;
use crate::serial::Console;

/// The line that ends the boot, before the root task runs; `cargo xtask
/// test` waits for it.
const BOOT_OK: &str = "boot ok";

/// The last line of a run in which every thread exited or was stopped.
pub const DEMO_OK: &str = "demo ok";

/// The Rust entry point, called by `boot.rs` in 64-bit mode on the boot
/// stack with the physical address of the PVH start info.
extern "C" fn kmain(start_info_paddr: u64) -> ! {
    let mut console = match Console::init_com1() {
        Ok(console) => console,
        Err(error) => panic!("COM1 failed its self-test: {error}"),
    };
    // Before anything else can use much stack.
    let guarded = boot::guard_stacks();
    match boot_transcript(&mut console, start_info_paddr, &guarded) {
        Ok(()) => qemu::exit(ExitCode::Success),
        Err(core::fmt::Error) => panic!("writing to COM1 failed"),
    }
}

/// The boot module (QEMU's `-initrd`): the boot image with the user
/// programs (`capc_demo_kernel::bootimage`).
struct RootImage {
    /// Its physical range, `[start, end)`.
    range: (u64, u64),
}

impl RootImage {
    fn bytes(&self) -> &'static [u8] {
        let (start, end) = self.range;
        // SAFETY: the loader copied the module there; it lies in
        // identity-mapped RAM that the Untyped inventory leaves out, so
        // nothing else ever writes it.
        unsafe { core::slice::from_raw_parts(start as *const u8, (end - start) as usize) }
    }
}

/// Everything the kernel does for now, narrated on `out`.
fn boot_transcript(
    out: &mut impl Write,
    start_info_paddr: u64,
    guarded: &boot::GuardedStacks,
) -> core::fmt::Result {
    writeln!(
        out,
        "capc demo kernel {} (x86_64, spec kernel-demo/spec/kernel.cap)",
        env!("CARGO_PKG_VERSION")
    )?;
    // First, so that any fault from here on is reported, not a triple fault.
    let installed = interrupts::init();

    // SAFETY: this is the address the PVH loader passed in %ebx; boot.rs
    // identity-maps it and nothing has reused loader memory yet.
    let (start_info, memory_map) = match unsafe { MemoryMap::from_pvh(start_info_paddr) } {
        Ok(found) => found,
        Err(error) => panic!("{error}"),
    };
    writeln!(
        out,
        "boot: PVH start info at {start_info_paddr:#x}, version {}, {} memory map entries, {} modules at {:#x}",
        start_info.version,
        start_info.memmap_entries,
        start_info.nr_modules,
        start_info.modlist_paddr
    )?;
    // SAFETY: the loader put the command line (if any) in low memory, which
    // boot.rs identity-maps, and nothing has reused loader memory yet.
    let command_line = unsafe { CommandLine::from_paddr(start_info.cmdline_paddr) };
    writeln!(out, "boot: command line {command_line}")?;
    describe_cpu_mode(out)?;
    protect_kernel_from_user(out)?;
    writeln!(out, "{installed}")?;
    writeln!(out, "{guarded}")?;
    if command_line.has_flag(cmdline::FAULT_TEST) {
        fault_test(out)?;
    }
    if command_line.has_flag(cmdline::STACK_OVERFLOW_TEST) {
        stack_overflow_test(out)?;
    }
    if command_line.has_flag(cmdline::NMI_TEST) {
        writeln!(out, "nmi-test: int $2")?;
        // SAFETY: a software interrupt through the NMI gate, whose handler
        // reports it and exits QEMU; it does not block real NMIs, and
        // touches no memory of ours.
        unsafe { core::arch::asm!("int 2", options(nomem, nostack)) };
        panic!("the NMI handler returned");
    }
    if command_line.has_flag(cmdline::MACHINE_CHECK_TEST) {
        writeln!(out, "machine-check-test: int $18")?;
        // SAFETY: as above, through the machine-check gate.
        unsafe { core::arch::asm!("int 18", options(nomem, nostack)) };
        panic!("the machine-check handler returned");
    }
    let (image_start, image_end) = boot::kernel_image();
    writeln!(
        out,
        "kernel: image {image_start:#018x}..{image_end:#018x} ({}), boot stack {}",
        Bytes(image_end - image_start),
        Bytes(boot::Stack::Boot.bytes())
    )?;

    writeln!(out, "memory map:")?;
    for region in memory_map.regions() {
        writeln!(
            out,
            "  {:#018x}..{:#018x} {:<9} {}",
            region.start,
            region.end,
            region.kind,
            Bytes(region.len())
        )?;
    }
    if memory_map.ignored > 0 {
        writeln!(
            out,
            "  ({} empty or excess entries ignored)",
            memory_map.ignored
        )?;
    }

    // SAFETY: as for the command line: loader memory is still intact.
    let module = unsafe { start_info.first_module() }.map(|range| RootImage { range });
    match &module {
        Some(image) => writeln!(
            out,
            "boot: boot image {:#x}..{:#x} ({}), left out of the Untyped inventory",
            image.range.0,
            image.range.1,
            Bytes(image.range.1 - image.range.0)
        )?,
        None => writeln!(out, "boot: no boot module, so no root task")?,
    }
    let inventory =
        UntypedInventory::from_memory_map(&memory_map, image_end, module.as_ref().map(|m| m.range));
    let (min_bits, max_bits) = untyped_bits_bounds();
    writeln!(
        out,
        "untyped inventory: RAM from {image_end:#x} in naturally aligned pieces of 2^{min_bits}..=2^{max_bits} bytes"
    )?;
    for cap in inventory.caps() {
        let kind = if cap.is_device() { "device" } else { "ram" };
        writeln!(
            out,
            "untyped {:#018x} 2^{} ({}) {kind}",
            cap.base(),
            cap.bits(),
            Bytes(1 << cap.bits())
        )?;
        writeln!(out, "        {cap:?}")?;
    }
    let total = inventory.total_bytes();
    writeln!(
        out,
        "untyped total {total} bytes ({}) in {} caps",
        Bytes(total),
        inventory.caps().len()
    )?;
    if inventory.uncovered_bytes > 0 {
        writeln!(
            out,
            "untyped: {} of RAM not covered (alignment slack or a full table)",
            Bytes(inventory.uncovered_bytes)
        )?;
    }
    if let Some(refused) = inventory.refused {
        writeln!(
            out,
            "untyped: UntypedCap refused {} = {:#x}",
            refused.field, refused.value
        )?;
    }
    if inventory.caps().is_empty() {
        panic!("no RAM above the kernel image: nothing to hand out as Untyped");
    }

    writeln!(
        out,
        "tcb: struct Tcb is {} bytes, within the spec's {:?} object of 2^{} bytes ({}), checked at compile time",
        core::mem::size_of::<Tcb>(),
        Tcb::OBJECT_TYPE,
        Tcb::SIZE_BITS,
        Bytes(1 << Tcb::SIZE_BITS)
    )?;
    writeln!(out, "{BOOT_OK}")?;
    let Some(module) = module else {
        return Ok(());
    };
    let boot_image = match BootImage::parse(module.bytes()) {
        Ok(image) => image,
        Err(error) => panic!("the boot module is not a boot image: {error:?}"),
    };
    write!(out, "boot image: {} programs:", boot_image.len())?;
    for index in 0..boot_image.len() {
        if let Ok((name, bytes)) = boot_image.entry(index) {
            write!(out, " {name} ({})", Bytes(bytes.len() as u64))?;
        }
    }
    writeln!(out)?;
    let Some(root) = boot_image.find(bootimage::ROOT) else {
        panic!("the boot image has no `{}` program", bootimage::ROOT);
    };
    // Slot memory is RAM: no CNode can be made from device memory.
    let window_end = inventory
        .caps()
        .iter()
        .filter(|cap| !cap.is_device())
        .map(|cap| cap.base() + (1 << cap.bits()))
        .max()
        .unwrap_or(image_end);
    user::start(
        out,
        &user::Boot {
            untyped: inventory.caps(),
            image: root,
            boot_image: module.range,
            window: (image_end, window_end),
            flags: if command_line.has_flag(cmdline::BENCH) {
                capc_demo_kernel::abi::ROOT_FLAG_BENCH
            } else {
                0
            },
            fast_path: !command_line.has_flag(cmdline::NO_FAST_PATH),
        },
    )
}

/// An address above the identity-mapped 4 GiB, so reading it page-faults.
const FAULT_TEST_ADDRESS: u64 = 0x0000_0005_dead_b000;

/// The `fault-test` boot: a breakpoint, which must come back here, then a
/// page fault, whose handler reports it and ends the run; never returns.
fn fault_test(out: &mut impl Write) -> core::fmt::Result {
    writeln!(out, "fault-test: int3")?;
    x86_64::instructions::interrupts::int3();
    writeln!(out, "breakpoint handled, continuing")?;
    writeln!(
        out,
        "fault-test: reading unmapped address {FAULT_TEST_ADDRESS:#018x}"
    )?;
    // SAFETY: the read goes through the page tables, where the address has
    // no mapping, so it touches no memory: it raises #PF, whose handler
    // reports it and exits QEMU. The asm only reads a register's worth.
    unsafe {
        core::arch::asm!(
            "mov {value}, qword ptr [{address}]",
            address = in(reg) FAULT_TEST_ADDRESS,
            value = out(reg) _,
            options(nostack, readonly, preserves_flags)
        );
    }
    panic!("reading {FAULT_TEST_ADDRESS:#x} did not page-fault")
}

/// The `stack-overflow-test` boot: recurses on the boot stack until it runs
/// into the guard page below it; the double-fault handler reports the
/// overflow and ends the run. Never returns.
fn stack_overflow_test(out: &mut impl Write) -> core::fmt::Result {
    let stack = boot::Stack::Boot;
    writeln!(
        out,
        "stack-overflow-test: recursing on the {} stack {:#x}..{:#x} ({}), guard page {:#x}",
        stack.name(),
        stack.bottom(),
        stack.top(),
        Bytes(stack.bytes()),
        stack.guard()
    )?;
    if interrupts::clears_ac_on_entry() {
        writeln!(
            out,
            "stack-overflow-test: int3 with RFLAGS.AC set (stac), as a thread may enter"
        )?;
        // SAFETY: `stac` only sets RFLAGS.AC (SMAP is on, so the
        // instruction exists), which lets the kernel touch user pages until
        // the `clac` right after; nothing between touches memory but the
        // breakpoint's entry, which is what is tested: it must clear AC.
        unsafe { core::arch::asm!("stac", "int3", "clac", options(nomem, nostack)) };
    }
    let depth = recurse(0);
    panic!("recursing {depth} deep did not overflow the boot stack")
}

/// Calls itself with a 256-byte frame until the stack runs out: the array
/// must be on the stack (`black_box`) and the call is not a tail call (its
/// result is used), so every level takes stack. The end condition never
/// holds; it only tells the compiler that the recursion can end.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 32]);
    if core::hint::black_box(depth) == u64::MAX {
        return depth;
    }
    recurse(depth + 1).wrapping_add(frame[31])
}

/// Turns on SMEP and SMAP where the CPU has them (QEMU's `-cpu max` does):
/// the kernel then faults if it ever executes or touches a user page. It
/// never needs to: it reads IPC buffers and loads images through the
/// identity map of physical memory, which is supervisor-only, and never
/// sets RFLAGS.AC (no `stac`). With SMAP on, every entry into the kernel
/// clears AC (`interrupts::clear_ac_on_entry`), so a thread that set AC
/// cannot switch SMAP off for the kernel.
fn protect_kernel_from_user(out: &mut impl Write) -> core::fmt::Result {
    const SMEP: u32 = 1 << 7;
    const SMAP: u32 = 1 << 20;
    // CPUID leaf 7, subleaf 0: structured extended feature flags in EBX.
    let features = core::arch::x86_64::__cpuid_count(7, 0).ebx;
    let (smep, smap) = (features & SMEP != 0, features & SMAP != 0);
    // SAFETY: setting SMEP/SMAP changes only what supervisor code may do
    // with user pages, which this kernel never executes or accesses.
    unsafe {
        Cr4::update(|flags| {
            flags.set(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION, smep);
            flags.set(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION, smap);
        });
    }
    if smap {
        interrupts::clear_ac_on_entry();
    }
    let state = |on: bool| {
        if on {
            "on"
        } else {
            "not supported by this CPU"
        }
    };
    writeln!(out, "cpu: SMEP {}, SMAP {}", state(smep), state(smap))?;
    if smap {
        writeln!(
            out,
            "cpu: every entry into the kernel clears RFLAGS.AC (clac), so SMAP holds whatever a thread does with AC"
        )?;
    }
    Ok(())
}

/// Reports (and insists on) the mode `boot.rs` switched to.
fn describe_cpu_mode(out: &mut impl Write) -> core::fmt::Result {
    let cr0 = Cr0::read();
    let cr4 = Cr4::read();
    let efer = Efer::read();
    let long_mode = cr0.contains(Cr0Flags::PAGING | Cr0Flags::PROTECTED_MODE_ENABLE)
        && cr4.contains(Cr4Flags::PHYSICAL_ADDRESS_EXTENSION)
        && efer.contains(EferFlags::LONG_MODE_ENABLE | EferFlags::LONG_MODE_ACTIVE);
    if !long_mode {
        panic!("not in long mode: CR0 {cr0:?}, CR4 {cr4:?}, EFER {efer:?}");
    }
    writeln!(
        out,
        "boot: long mode (CR0.PG, CR4.PAE, EFER.LMA), first {} GiB identity-mapped with 2 MiB pages",
        boot::IDENTITY_MAP_GIB
    )
}

/// Prints the panic on COM1 and ends the QEMU run with a failure status (35).
#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    if let Some(mut console) = Console::reopen() {
        // Nothing is left to report a failed write to.
        let _ = writeln!(console, "\nkernel panic: {info}");
    }
    qemu::exit(ExitCode::Failure)
}
