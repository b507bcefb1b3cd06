//! CPU exceptions: a GDT with a TSS, an IDT for vectors 0-31, and a report
//! on COM1 for every exception the kernel does not expect.
//!
//! The `x86-interrupt` calling convention is unstable, so each vector gets a
//! small assembly entry stub (one assembler macro, `EXCEPTION_STUB`, for
//! vectors with and without a CPU error code) that pushes a uniform
//! [`ExceptionFrame`]: the general-purpose registers, the
//! vector, an error code (0 when the CPU pushes none) and the CPU's own
//! interrupt frame. A common tail calls [`exception_handler`], an ordinary
//! `extern "C"` function, and returns with `iretq` if it does.
//!
//! Every entry, from ring 3 or not, clears RFLAGS.AC first (`clac` in
//! interrupts and exceptions, once SMAP is on; SFMASK for `syscall`), so
//! that SMAP holds in the kernel whatever a thread did with AC. Entries from ring 3 go to `user::trap`. In the kernel, a breakpoint
//! (`int3`) is reported and resumed; every other exception is fatal: its
//! report names the exception, vector, error code, RIP, CS, RFLAGS, RSP (and
//! CR2 for a page fault), and QEMU exits with [`ExitCode::CpuException`].
//!
//! The double fault, the NMI and the machine check switch to stacks of their
//! own (IST1-3 of the TSS; [`Stack`]), and are the kernel's wherever they
//! come from. Every kernel stack lies above an unmapped guard page
//! (`boot.rs`), so running off a stack page-faults; the CPU cannot push that
//! fault's frame on the same stack, so it becomes a double fault, whose
//! handler reports `kernel stack overflow` with the faulting address and
//! exits with [`ExitCode::StackOverflow`] rather than letting the CPU
//! triple-fault.

use core::arch::global_asm;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::{lidt, load_tss};
use x86_64::registers::control::Cr2;
use x86_64::registers::model_specific::{Efer, EferFlags, Msr};
use x86_64::registers::rflags::{self, RFlags};
use x86_64::structures::DescriptorTablePointer;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

use capc_demo_kernel::tcb::UserContext;

use crate::boot::{PAGE_BYTES, Stack};
use crate::qemu::{self, ExitCode};
use crate::serial::Console;

/// Vectors with an IDT gate: the 32 the CPU reserves for exceptions, the
/// timer's ([`TIMER_VECTOR`], IRQ 0) and those of IRQs 1-15 (33-47), which
/// user-level drivers handle through IrqHandler caps.
pub const VECTORS: usize = 48;

/// The vector of IRQ `irq` (the PIC remaps IRQ 0-15 to 32-47).
pub const fn irq_vector(irq: u8) -> u64 {
    TIMER_VECTOR + irq as u64
}

/// The vector the timer interrupt (IRQ 0, remapped by the PIC) arrives on.
pub const TIMER_VECTOR: u64 = 32;

/// The pseudo-vector of a `syscall` in an [`ExceptionFrame`]: no gate has
/// it. Left in the frame when the handler returns, it makes the exit path
/// use `sysretq` rather than `iretq`.
pub const SYSCALL_VECTOR: u64 = 0x80;

/// The vector of `#BP`, the only exception the kernel resumes from.
const BREAKPOINT: u64 = 3;
/// The vector of `#PF`, whose faulting address is in CR2.
const PAGE_FAULT: u64 = 14;
/// The vector of the non-maskable interrupt, which runs on its own stack.
const NMI: u64 = 2;
/// The vector of `#DF`, which runs on its own stack.
const DOUBLE_FAULT: u64 = 8;
/// The vector of `#MC`, which runs on its own stack.
const MACHINE_CHECK: u64 = 18;

/// The vectors that switch to a stack of their own, with their TSS
/// interrupt-stack-table slot (1-based as in the gate; the TSS array is
/// 0-based) and the stack. They can arrive when the current stack is not
/// usable: a double fault is how a kernel stack overflow ends, and an NMI
/// or a machine check can interrupt any instruction.
const IST_STACKS: [(u64, u8, Stack); 3] = [
    (DOUBLE_FAULT, 1, Stack::DoubleFault),
    (NMI, 2, Stack::Nmi),
    (MACHINE_CHECK, 3, Stack::MachineCheck),
];

/// Present, DPL 0, 64-bit interrupt gate (interrupts stay off in handlers).
const INTERRUPT_GATE: u8 = 0x8e;

/// Mnemonic and name of each exception vector (Intel SDM vol. 3, 6.15).
const EXCEPTIONS: [(&str, &str); 32] = [
    ("#DE", "divide error"),
    ("#DB", "debug"),
    ("NMI", "non-maskable interrupt"),
    ("#BP", "breakpoint"),
    ("#OF", "overflow"),
    ("#BR", "bound range exceeded"),
    ("#UD", "invalid opcode"),
    ("#NM", "device not available"),
    ("#DF", "double fault"),
    ("CSO", "coprocessor segment overrun"),
    ("#TS", "invalid TSS"),
    ("#NP", "segment not present"),
    ("#SS", "stack-segment fault"),
    ("#GP", "general protection fault"),
    ("#PF", "page fault"),
    ("---", "reserved"),
    ("#MF", "x87 floating-point error"),
    ("#AC", "alignment check"),
    ("#MC", "machine check"),
    ("#XM", "SIMD floating-point exception"),
    ("#VE", "virtualization exception"),
    ("#CP", "control protection exception"),
    ("---", "reserved"),
    ("---", "reserved"),
    ("---", "reserved"),
    ("---", "reserved"),
    ("---", "reserved"),
    ("---", "reserved"),
    ("#HV", "hypervisor injection exception"),
    ("#VC", "VMM communication exception"),
    ("#SX", "security exception"),
    ("---", "reserved"),
];

/// What the entry stubs leave on the stack, lowest address first: the
/// registers `exception_common` pushes, the two words the stub pushes, and
/// the frame the CPU pushes.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExceptionFrame {
    /// General-purpose registers of the interrupted code.
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// The exception vector, pushed by the stub.
    pub vector: u64,
    /// The CPU's error code, or 0 (pushed by the stub) if it has none.
    pub error_code: u64,
    /// Where the interrupted code resumes (after `int3`, at the faulting
    /// instruction for a fault).
    pub rip: u64,
    /// Its code segment; the low two bits are its privilege level.
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

const _: () = assert!(core::mem::size_of::<ExceptionFrame>() == 22 * 8);

impl ExceptionFrame {
    /// A frame of zeros, to be filled before a first entry to ring 3.
    pub const fn zeroed() -> ExceptionFrame {
        ExceptionFrame {
            r15: 0,
            r14: 0,
            r13: 0,
            r12: 0,
            r11: 0,
            r10: 0,
            r9: 0,
            r8: 0,
            rbp: 0,
            rdi: 0,
            rsi: 0,
            rdx: 0,
            rcx: 0,
            rbx: 0,
            rax: 0,
            vector: 0,
            error_code: 0,
            rip: 0,
            cs: 0,
            rflags: 0,
            rsp: 0,
            ss: 0,
        }
    }
}

/// Leaves the kernel for ring 3 with `frame`, as if returning from an
/// entry: the frame is copied to the top of the kernel stack (where an
/// entry from ring 3 puts it) and the common exit path restores it. The
/// boot stack is abandoned for good.
pub fn return_to(frame: &ExceptionFrame) -> ! {
    unsafe extern "C" {
        fn capc_exception_return();
    }
    // SAFETY: set by `init`, never changed after.
    let top = unsafe { KERNEL_STACK_TOP };
    let at = (top - core::mem::size_of::<ExceptionFrame>() as u64) as *mut ExceptionFrame;
    // SAFETY: `at` is the top of the kernel stack, which nothing uses
    // while the kernel runs on the boot stack. The exit path pops the
    // frame and leaves with `iretq` or `sysretq` into ring 3; `frame`
    // holds user selectors and the thread's registers.
    unsafe {
        at.write(*frame);
        core::arch::asm!(
            "mov rsp, {at}",
            "jmp {exit}",
            at = in(reg) at,
            exit = sym capc_exception_return,
            options(noreturn)
        )
    }
}

// The stubs, their address table and the common tail. `EXCEPTION_STUB` is
// the one stub macro: its second argument says whether the CPU pushes an
// error code for the vector (8, 10-14, 17, 21, 29, 30); if it does not, the
// stub pushes a 0 in its place, so every frame has the same layout.
//
// Stack alignment: the CPU aligns RSP to 16 bytes before pushing its 5-word
// frame; with the error code, the vector and 15 registers that is 22 words
// (176 bytes), so RSP is 16-byte aligned at the `call`, as the SysV ABI
// requires.
global_asm!(
    r#"
    .macro EXCEPTION_STUB vector, cpu_pushes_error_code
    .p2align 4
exception_stub_\vector:
    .if \cpu_pushes_error_code == 0
    pushq $0
    .endif
    pushq $\vector
    jmp exception_entry
    .endm

    .pushsection .text.exception_stubs, "ax"
    EXCEPTION_STUB 0, 0
    EXCEPTION_STUB 1, 0
    EXCEPTION_STUB 2, 0
    EXCEPTION_STUB 3, 0
    EXCEPTION_STUB 4, 0
    EXCEPTION_STUB 5, 0
    EXCEPTION_STUB 6, 0
    EXCEPTION_STUB 7, 0
    EXCEPTION_STUB 8, 1
    EXCEPTION_STUB 9, 0
    EXCEPTION_STUB 10, 1
    EXCEPTION_STUB 11, 1
    EXCEPTION_STUB 12, 1
    EXCEPTION_STUB 13, 1
    EXCEPTION_STUB 14, 1
    EXCEPTION_STUB 15, 0
    EXCEPTION_STUB 16, 0
    EXCEPTION_STUB 17, 1
    EXCEPTION_STUB 18, 0
    EXCEPTION_STUB 19, 0
    EXCEPTION_STUB 20, 0
    EXCEPTION_STUB 21, 1
    EXCEPTION_STUB 22, 0
    EXCEPTION_STUB 23, 0
    EXCEPTION_STUB 24, 0
    EXCEPTION_STUB 25, 0
    EXCEPTION_STUB 26, 0
    EXCEPTION_STUB 27, 0
    EXCEPTION_STUB 28, 0
    EXCEPTION_STUB 29, 1
    EXCEPTION_STUB 30, 1
    EXCEPTION_STUB 31, 0
    EXCEPTION_STUB 32, 0
    .irp vector, 33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
    EXCEPTION_STUB \vector, 0
    .endr

    // `syscall` from ring 3: RCX holds the return address, R11 the flags,
    // RSP is still the user's. The registers go straight into the calling
    // thread's saved context (`UserContext`, in its TCB; RSP points just
    // past it, and each push fills the field before), as seL4 saves them
    // into the TCB: nothing is copied on the way in or out. Then the
    // handler runs on the kernel stack, below the room an exception frame
    // takes (`return_to` may build one there), and returns the context of
    // the thread to resume, which `sysretq` leaves for.
    .p2align 4
    .global capc_syscall_entry
capc_syscall_entry:
    movq %rsp, {user_rsp}(%rip)
    movq {context_end}(%rip), %rsp
    pushq $1
    subq $8, %rsp
    pushq %r11
    pushq {user_rsp}(%rip)
    pushq %rcx
    pushq %r15
    pushq %r14
    pushq %r13
    pushq %r12
    pushq %r11
    pushq %r10
    pushq %r9
    pushq %r8
    pushq %rbp
    pushq %rdi
    pushq %rsi
    pushq %rdx
    pushq %rcx
    pushq %rbx
    pushq %rax
    movq {syscall_stack}(%rip), %rsp
    cld
    call {syscall_handler}

    // Back to ring 3 from the context at RAX, which the handler chose only
    // if the thread last entered with `syscall` and resumes at a canonical
    // user address: RCX and R11 are not the thread's to keep (`syscall`
    // clobbered them), so they carry RIP and RFLAGS (only the flags a
    // thread may set, and interrupts on) to `sysretq`. Interrupts stay off
    // until `sysretq`, so nothing runs on the thread's RSP meanwhile.
    movq %rax, %rsp
    popq %rax
    popq %rbx
    addq $8, %rsp
    popq %rdx
    popq %rsi
    popq %rdi
    popq %rbp
    popq %r8
    popq %r9
    popq %r10
    addq $8, %rsp
    popq %r12
    popq %r13
    popq %r14
    popq %r15
    popq %rcx
    movq 8(%rsp), %r11
    andq ${user_flags_mask}, %r11
    orq ${user_flags_set}, %r11
    movq (%rsp), %rsp
    sysretq

    // Every interrupt and exception, from ring 3 or not, clears RFLAGS.AC
    // first: the CPU keeps a thread's AC on them, and with AC set SMAP
    // would let the kernel touch user pages. (`syscall` needs no `clac`:
    // the CPU clears AC through SFMASK.) Without SMAP `clac` is undefined
    // and AC means nothing in ring 0, so the flag is only set when SMAP is
    // on.
exception_entry:
    cmpb $0, {clac_on_entry}(%rip)
    je exception_common
    clac
exception_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    cld
    movq %rsp, %rdi
    call {handler}
    .global capc_exception_return
capc_exception_return:
    cmpq ${syscall_vector}, 15*8(%rsp)
    je 1f
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp
    iretq

    // Back to a thread that entered with `syscall`: RCX and R11 are not
    // its to keep (the CPU clobbered them on the way in), so `sysretq`
    // loads RIP and RFLAGS from them. The handler chose this path only for
    // a canonical user RIP.
1:  popq %r15
    popq %r14
    popq %r13
    popq %r12
    addq $8, %rsp
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    addq $8, %rsp
    popq %rbx
    popq %rax
    movq 16(%rsp), %rcx
    movq 32(%rsp), %r11
    movq 40(%rsp), %rsp
    sysretq
    .popsection

    .pushsection .rodata.exception_stubs, "a"
    .p2align 3
    .global capc_exception_stubs
capc_exception_stubs:
    .irp vector, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47
    .quad exception_stub_\vector
    .endr
    .popsection
    "#,
    handler = sym exception_handler,
    clac_on_entry = sym CLAC_ON_ENTRY,
    syscall_vector = const SYSCALL_VECTOR,
    user_rsp = sym USER_RSP_SCRATCH,
    context_end = sym SYSCALL_CONTEXT_END,
    syscall_stack = sym SYSCALL_STACK_TOP,
    syscall_handler = sym crate::user::system_call,
    user_flags_mask = const USER_FLAGS_MASK,
    user_flags_set = const USER_FLAGS_SET,
    options(att_syntax)
);

unsafe extern "C" {
    /// The entry stub of each vector, in vector order (the table above).
    static capc_exception_stubs: [u64; VECTORS];
}

/// One 16-byte IDT gate.
#[repr(C)]
#[derive(Clone, Copy)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    attributes: u8,
    offset_middle: u16,
    offset_high: u32,
    reserved: u32,
}

impl Gate {
    const MISSING: Gate = Gate {
        offset_low: 0,
        selector: 0,
        ist: 0,
        attributes: 0,
        offset_middle: 0,
        offset_high: 0,
        reserved: 0,
    };

    /// An interrupt gate to `handler` in code segment `selector`, on IST
    /// stack `ist` (0: the current stack).
    const fn interrupt(handler: u64, selector: u16, ist: u8) -> Gate {
        Gate {
            offset_low: handler as u16,
            selector,
            ist,
            attributes: INTERRUPT_GATE,
            offset_middle: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }
}

/// The top of [`Stack::Kernel`], where [`return_to`] builds its frame (set
/// by [`init`]).
static mut KERNEL_STACK_TOP: u64 = 0;

/// Where the `syscall` entry's handler starts its stack: below the room of
/// an [`ExceptionFrame`] at the top, so that the handler may leave by
/// [`return_to`] (set by [`init`]; 16-byte aligned, as the frame is 176
/// bytes).
static mut SYSCALL_STACK_TOP: u64 = 0;

/// Just past the saved context ([`UserContext`]) of the thread that runs:
/// the `syscall` entry pushes the thread's registers below it. Set by
/// [`set_running`] whenever another thread is to run.
static mut SYSCALL_CONTEXT_END: u64 = 0;

/// The RFLAGS bits a thread may set (CF, PF, AF, ZF, SF, DF, OF): the
/// others come from [`USER_FLAGS_SET`].
pub const USER_FLAGS_MASK: u64 = 0xcd5;
/// RFLAGS bits every thread runs with: IF, and bit 1, which is always set.
pub const USER_FLAGS_SET: u64 = 0x202;

/// Makes `context` the one the next `syscall` saves the registers into:
/// the saved context of the thread about to run.
pub fn set_running(context: *mut UserContext) {
    // SAFETY: one CPU, interrupts off in the kernel: the entry stub reads
    // this word only in a later entry. `context` is the thread's TCB's, in
    // the identity map every address space shares, so the entry can write
    // it whatever CR3 holds.
    unsafe { SYSCALL_CONTEXT_END = context as u64 + core::mem::size_of::<UserContext>() as u64 };
}

// The order of the fields the `syscall` entry pushes and pops.
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(UserContext, general) == 0);
    assert!(offset_of!(UserContext, rip) == 15 * 8);
    assert!(offset_of!(UserContext, rsp) == 16 * 8);
    assert!(offset_of!(UserContext, rflags) == 17 * 8);
    assert!(offset_of!(UserContext, fs_base) == 18 * 8);
    assert!(offset_of!(UserContext, entered_by_syscall) == 19 * 8);
    assert!(core::mem::size_of::<UserContext>() == 20 * 8);
    assert!(core::mem::size_of::<ExceptionFrame>().is_multiple_of(16));
};

/// Whether every entry executes `clac`: set by [`clear_ac_on_entry`] once
/// SMAP is on.
static CLAC_ON_ENTRY: AtomicBool = AtomicBool::new(false);

/// Makes every entry into the kernel clear RFLAGS.AC, so that SMAP holds in
/// the kernel whatever a thread did with AC. Call once SMAP is on in CR4:
/// `clac` is an undefined instruction on a CPU without SMAP.
pub fn clear_ac_on_entry() {
    CLAC_ON_ENTRY.store(true, Ordering::Release);
}

/// Whether [`clear_ac_on_entry`] was called.
pub fn clears_ac_on_entry() -> bool {
    CLAC_ON_ENTRY.load(Ordering::Acquire)
}

/// Where the `syscall` entry keeps the user's RSP while it switches stacks
/// (one CPU, interrupts off: one scratch word is enough).
static mut USER_RSP_SCRATCH: u64 = 0;

/// Selector of the ring-3 data segment (GDT entry 3, RPL 3).
pub const USER_DATA_SELECTOR: u64 = 0x18 | 3;
/// Selector of the ring-3 64-bit code segment (GDT entry 4, RPL 3).
pub const USER_CODE_SELECTOR: u64 = 0x20 | 3;
/// RFLAGS bits `syscall` clears: IF, DF, TF and AC, so the kernel runs with
/// interrupts off and string operations going up.
const SYSCALL_FLAG_MASK: u64 = 0x4_0700;
static mut TSS: TaskStateSegment = TaskStateSegment::new();
static mut GDT: GlobalDescriptorTable = GlobalDescriptorTable::new();
static mut IDT: [Gate; VECTORS] = [Gate::MISSING; VECTORS];

/// Set by the first [`init`]; the tables above are written only before.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// What [`init`] installed, for the boot transcript.
pub struct Installed {
    /// Selector of the kernel code segment in the new GDT.
    pub code: u16,
    /// Selector of the kernel data segment.
    pub data: u16,
    /// Selector of the TSS.
    pub tss: u16,
    /// IDT gates installed.
    pub vectors: usize,
}

impl fmt::Display for Installed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gdt: kernel code {:#04x}, data {:#04x}, user data {USER_DATA_SELECTOR:#04x}, user code {USER_CODE_SELECTOR:#04x}, TSS {:#04x} (kernel stack {} KiB for entries from ring 3",
            self.code,
            self.data,
            self.tss,
            Stack::Kernel.bytes() / 1024,
        )?;
        for (vector, ist, stack) in IST_STACKS {
            let (mnemonic, _) = EXCEPTIONS[vector as usize];
            write!(f, ", {mnemonic} on IST{ist}, {} KiB", stack.bytes() / 1024)?;
        }
        writeln!(f, "); syscall/sysret enabled")?;
        write!(
            f,
            "idt: {} vectors installed (CPU exceptions 0-31, timer {TIMER_VECTOR}, IRQs 1-15 33-47); in the kernel #BP resumes and the rest report and exit, in a thread they stop it (but NMI, #DF and #MC stop the kernel)",
            self.vectors,
        )
    }
}

/// Replaces the boot GDT with one that has a TSS (the kernel stack for
/// entries from ring 3, and the [`IST_STACKS`]), reloads the segment
/// registers, and loads an IDT whose 32 exception vectors and the timer's
/// enter [`exception_handler`].
///
/// # Panics
///
/// If called a second time: the tables are in use by then.
pub fn init() -> Installed {
    assert!(
        !INSTALLED.swap(true, Ordering::AcqRel),
        "interrupts::init called twice"
    );

    let (tss, gdt, idt) = (&raw mut TSS, &raw mut GDT, &raw mut IDT);
    // SAFETY: the INSTALLED guard makes this the only access to TSS, GDT and
    // IDT, and none of them is loaded into the CPU yet; interrupts are off
    // (boot.rs) and there is one CPU, so nothing else runs.
    let (tss, gdt, idt) = unsafe { (&mut *tss, &mut *gdt, &mut *idt) };
    for (_, ist, stack) in IST_STACKS {
        tss.interrupt_stack_table[usize::from(ist - 1)] = VirtAddr::new(stack.top());
    }
    let kernel_stack_top = Stack::Kernel.top();
    tss.privilege_stack_table[0] = VirtAddr::new(kernel_stack_top);
    // SAFETY: as above, nothing else runs and the entry that reads it is
    // not enabled yet.
    unsafe {
        KERNEL_STACK_TOP = kernel_stack_top;
        SYSCALL_STACK_TOP = kernel_stack_top - core::mem::size_of::<ExceptionFrame>() as u64;
    }
    let tss: &'static TaskStateSegment = tss;

    let code = gdt.append(Descriptor::kernel_code_segment());
    let data = gdt.append(Descriptor::kernel_data_segment());
    // `sysretq` takes the user segments from STAR: data at +8, code at +16
    // from the selector it holds (the kernel data segment's).
    let user_data = gdt.append(Descriptor::user_data_segment());
    let user_code = gdt.append(Descriptor::user_code_segment());
    assert_eq!(
        (u64::from(user_data.0), u64::from(user_code.0)),
        (USER_DATA_SELECTOR, USER_CODE_SELECTOR)
    );
    let tss_selector = gdt.append(Descriptor::tss_segment(tss));
    let gdt: &'static GlobalDescriptorTable = gdt;
    gdt.load();
    // SAFETY: `code` and `data` are flat 64-bit ring-0 segments of the GDT
    // just loaded (at the same selectors as boot.rs's, 0x08 and 0x10), so
    // reloading CS and the data segments changes nothing the running code
    // relies on; `tss_selector` is an available TSS descriptor in that GDT,
    // and TSS lives for the rest of the run.
    unsafe {
        CS::set_reg(code);
        SS::set_reg(data);
        DS::set_reg(data);
        ES::set_reg(data);
        load_tss(tss_selector);
    }

    // SAFETY: the table is written by global_asm! above, in .rodata, and
    // never changes.
    let stubs = unsafe { &capc_exception_stubs };
    for (vector, (gate, &stub)) in idt.iter_mut().zip(stubs).enumerate() {
        let ist = IST_STACKS
            .iter()
            .find(|(on_ist, _, _)| *on_ist == vector as u64)
            .map_or(0, |(_, ist, _)| *ist);
        *gate = Gate::interrupt(stub, code.0, ist);
    }
    let pointer = DescriptorTablePointer {
        limit: (core::mem::size_of::<[Gate; VECTORS]>() - 1) as u16,
        base: VirtAddr::new((&raw const IDT) as u64),
    };
    // SAFETY: IDT is a static of well-formed interrupt gates to the stubs,
    // each in the code segment just loaded, and is never written again.
    unsafe { lidt(&pointer) };

    enable_syscall(code, data);

    Installed {
        code: code.0,
        data: data.0,
        tss: tss_selector.0,
        vectors: VECTORS,
    }
}

/// Points `syscall` at [`capc_syscall_entry`]: EFER.SCE, the segments in
/// STAR, the entry in LSTAR and the flags it clears in SFMASK.
fn enable_syscall(code: SegmentSelector, data: SegmentSelector) {
    unsafe extern "C" {
        fn capc_syscall_entry();
    }
    const STAR: u32 = 0xc000_0081;
    const LSTAR: u32 = 0xc000_0082;
    const SFMASK: u32 = 0xc000_0084;
    let star = (u64::from(data.0) << 48) | (u64::from(code.0) << 32);
    // SAFETY: the entry stub is in place and saves everything it touches;
    // STAR names the segments of the GDT just loaded, checked above to be
    // in the order `sysretq` expects; interrupts are off.
    unsafe {
        Efer::update(|flags| *flags |= EferFlags::SYSTEM_CALL_EXTENSIONS);
        Msr::new(STAR).write(star);
        Msr::new(LSTAR).write(capc_syscall_entry as *const () as u64);
        Msr::new(SFMASK).write(SYSCALL_FLAG_MASK);
    }
}

/// Who was running when the exception hit, from the privilege level in the
/// interrupted code's CS (its RPL, the low two bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Ring 0: the kernel itself. Nothing to blame but the kernel, so it stops.
    Kernel,
    /// Ring 3: a user thread. A fault stops that thread and the kernel
    /// carries on.
    User,
}

impl Origin {
    /// The origin of an exception whose frame holds `cs`.
    pub fn of(cs: u64) -> Origin {
        if cs & 3 == 3 {
            Origin::User
        } else {
            Origin::Kernel
        }
    }
}

/// Called by `exception_common` with the frame the stubs built. Entries
/// from ring 3 (system calls, the timer, a thread's faults) go to
/// [`crate::user::trap`], which may leave another thread's state in the
/// frame; the rest are the kernel's own. So are a double fault, an NMI and
/// a machine check from wherever they come: none is a thread's doing, and
/// each runs on an IST stack that no thread switch may leave behind.
extern "C" fn exception_handler(frame: &mut ExceptionFrame) {
    if Origin::of(frame.cs) == Origin::User {
        if frame.vector < TIMER_VECTOR && IST_VECTORS & (1 << frame.vector) != 0 {
            fatal(frame);
        }
        crate::user::trap(frame);
        return;
    }
    if frame.vector == TIMER_VECTOR {
        // Only while the kernel waits with interrupts on, or at a
        // preemption point: noted, for the time slice.
        crate::timer::tick_in_kernel();
        return;
    }
    if (irq_vector(1)..=irq_vector(15)).contains(&frame.vector) {
        // Only while the kernel waits for one with interrupts on: masked
        // and noted, for the waiting kernel to deliver.
        crate::timer::irq_arrived((frame.vector - TIMER_VECTOR) as u8);
        return;
    }
    let mut console = Console::reopen();
    if frame.vector == BREAKPOINT {
        if let Some(console) = &mut console {
            // Nothing is left to report a failed write to.
            let ac = |set: bool| if set { "set" } else { "clear" };
            let _ = writeln!(
                console,
                "cpu exception: #BP breakpoint (vector 3) at rip {:#018x}, resuming (RFLAGS.AC {} before the entry, {} in the kernel)",
                frame.rip,
                ac(frame.rflags & RFlags::ALIGNMENT_CHECK.bits() != 0),
                ac(rflags::read().contains(RFlags::ALIGNMENT_CHECK))
            );
        }
        return;
    }
    fatal(frame)
}

/// The vectors of [`IST_STACKS`], as a bit set: the kernel's whatever ring
/// they interrupt.
const IST_VECTORS: u64 = 1 << DOUBLE_FAULT | 1 << NMI | 1 << MACHINE_CHECK;

/// Reports an exception the kernel cannot go on from and ends the run. Out
/// of line and cold, so that the system-call path stays as it was.
#[cold]
#[inline(never)]
fn fatal(frame: &ExceptionFrame) -> ! {
    let mut console = Console::reopen();
    let overflow = StackOverflow::of(frame);
    let code = match overflow {
        Some(_) => ExitCode::StackOverflow,
        None => ExitCode::CpuException,
    };
    if let Some(console) = &mut console {
        // As above: a failed write cannot be reported anywhere.
        let _ = match &overflow {
            Some(overflow) => overflow.report(console, frame),
            None if Origin::of(frame.cs) == Origin::User => {
                describe(console, frame).and_then(|()| {
                    writeln!(
                        console,
                        "  in ring 3, but not the thread's doing: stopping (isa-debug-exit {:#x}, QEMU status {})",
                        code as u32,
                        code.qemu_status()
                    )
                })
            }
            None => report(console, frame, Origin::Kernel),
        };
    }
    qemu::exit(code)
}

/// A kernel stack that ran into its guard page: a page fault in the guard
/// page of one of [`Stack::ALL`] with the stack pointer near it, taken in
/// ring 0. The CPU cannot push the page fault's frame on that stack either,
/// so the page fault becomes a double fault, which runs on its own stack
/// (IST1); the page fault itself is seen only when the stack pointer had
/// already jumped below the guard page.
struct StackOverflow {
    /// The stack that overflowed.
    stack: Stack,
    /// The address in the guard page that faulted (CR2).
    address: u64,
}

impl StackOverflow {
    /// The overflow `frame` reports, if it is one.
    fn of(frame: &ExceptionFrame) -> Option<StackOverflow> {
        if !matches!(frame.vector, PAGE_FAULT | DOUBLE_FAULT)
            || Origin::of(frame.cs) == Origin::User
        {
            return None;
        }
        let address = Cr2::read_raw();
        let stack = Stack::guarded_by(address)?;
        // A stale CR2 from an earlier page fault must not turn an
        // unrelated double fault into an overflow: the stack pointer must
        // be in or next to the guard page too.
        let near = stack.guard().saturating_sub(PAGE_BYTES)..stack.bottom() + PAGE_BYTES;
        near.contains(&frame.rsp)
            .then_some(StackOverflow { stack, address })
    }

    /// One line naming the stack and the faulting address, then the
    /// exception's report, ending with the exit status.
    fn report(&self, out: &mut impl Write, frame: &ExceptionFrame) -> fmt::Result {
        let stack = self.stack;
        writeln!(
            out,
            "\nkernel stack overflow: the {} stack ({:#x}..{:#x}, {} KiB) ran into its guard page {:#x}..{:#x}, faulting address {:#018x}",
            stack.name(),
            stack.bottom(),
            stack.top(),
            stack.bytes() / 1024,
            stack.guard(),
            stack.bottom(),
            self.address
        )?;
        describe(out, frame)?;
        writeln!(
            out,
            "  in ring 0, the kernel: stopping (isa-debug-exit {:#x}, QEMU status {})",
            ExitCode::StackOverflow as u32,
            ExitCode::StackOverflow.qemu_status()
        )
    }
}

/// The report of a fatal exception: one line naming it, then the
/// interrupted state, then who stops.
pub fn report(out: &mut impl Write, frame: &ExceptionFrame, origin: Origin) -> fmt::Result {
    describe(out, frame)?;
    match origin {
        Origin::Kernel => writeln!(
            out,
            "  in ring 0, the kernel: stopping (isa-debug-exit {:#x}, QEMU status {})",
            ExitCode::CpuException as u32,
            ExitCode::CpuException.qemu_status()
        ),
        Origin::User => writeln!(
            out,
            "  in ring 3: the thread is stopped; the kernel and the other threads go on"
        ),
    }
}

/// The exception's line (vector, error code) and the interrupted state.
fn describe(out: &mut impl Write, frame: &ExceptionFrame) -> fmt::Result {
    let (mnemonic, name) = EXCEPTIONS
        .get(frame.vector as usize)
        .copied()
        .unwrap_or(("---", "unknown"));
    writeln!(
        out,
        "\ncpu exception: {mnemonic} {name} (vector {}), error code {:#x}",
        frame.vector, frame.error_code
    )?;
    writeln!(
        out,
        "  rip {:#018x}  cs {:#06x}  rflags {:#018x}",
        frame.rip, frame.cs, frame.rflags
    )?;
    writeln!(out, "  rsp {:#018x}  ss {:#06x}", frame.rsp, frame.ss)?;
    if frame.vector == PAGE_FAULT {
        let error = frame.error_code;
        writeln!(
            out,
            "  cr2 {:#018x}  ({}, {}, {} mode)",
            Cr2::read_raw(),
            if error & 1 != 0 {
                "protection violation"
            } else {
                "not present"
            },
            if error & 0x10 != 0 {
                "instruction fetch"
            } else if error & 2 != 0 {
                "write"
            } else {
                "read"
            },
            if error & 4 != 0 { "user" } else { "supervisor" }
        )?;
    }
    writeln!(
        out,
        "  rax {:#018x}  rbx {:#018x}  rcx {:#018x}  rdx {:#018x}",
        frame.rax, frame.rbx, frame.rcx, frame.rdx
    )?;
    writeln!(
        out,
        "  rsi {:#018x}  rdi {:#018x}  rbp {:#018x}",
        frame.rsi, frame.rdi, frame.rbp
    )?;
    if let Some((_, ist, stack)) = IST_STACKS.iter().find(|(v, _, _)| *v == frame.vector) {
        // The frame lies at the top of the stack the CPU switched to.
        let on = (stack.bottom()..stack.top()).contains(&(frame as *const ExceptionFrame as u64));
        writeln!(
            out,
            "  handled {} the {} stack (IST{ist})",
            if on { "on" } else { "NOT on" },
            stack.name()
        )?;
    }
    Ok(())
}
