//! From QEMU's PVH loader to `kmain`: the only code that runs before Rust.
//!
//! QEMU's `-kernel` loads an ELF that carries a Xen `PHYS32_ENTRY` note and
//! jumps to the note's address in 32-bit protected mode, paging off,
//! interrupts off, with `%ebx` holding the physical address of the PVH
//! `hvm_start_info`. The entry code here
//!
//! 1. zeroes `.bss` (the boot stack and page tables live there),
//! 2. loads its own GDT (null, 64-bit code, data),
//! 3. identity-maps the first [`IDENTITY_MAP_GIB`] GiB with 2 MiB pages,
//! 4. enables PAE, then `EFER.LME`, then paging, which activates long mode,
//! 5. far-jumps into the 64-bit code segment, loads the data segments and
//!    the boot stack, and calls [`crate::kmain`] with the start-info address.
//!
//! It also lays out every kernel stack ([`Stack`]), each above a guard page,
//! and [`guard_stacks`], which `kmain` calls first, unmaps the guard pages,
//! so that running off the bottom of a stack faults instead of overwriting
//! whatever lies below. Nothing else in the kernel touches these tables, the
//! GDT or the stack memory; later stages that want their own replace them.

use core::arch::global_asm;

use x86_64::registers::control::Cr3;

/// How much physical memory the boot page tables identity-map: RAM plus the
/// 32-bit MMIO hole (local APIC, I/O APIC, HPET) below 4 GiB.
pub const IDENTITY_MAP_GIB: u64 = 4;

/// The size of a page, and of each stack's guard page.
pub const PAGE_BYTES: u64 = 4096;

/// The size of a large page of the boot identity map.
const LARGE_PAGE_BYTES: u64 = 2 << 20;

/// GDT selector of the 64-bit kernel code segment.
const KERNEL_CODE_SELECTOR: u16 = 0x08;
/// GDT selector of the kernel data segment.
const KERNEL_DATA_SELECTOR: u16 = 0x10;

/// Present, writable, 2 MiB page (PS).
const PDE_LARGE_RW: u32 = 0x83;
/// Present, writable, points to the next table.
const PTE_TABLE_RW: u32 = 0x03;
/// Present, writable, 4 KiB page.
const PTE_PAGE_RW: u64 = 0x03;
/// The page-size bit of a page-directory entry (a 2 MiB page).
const PDE_LARGE: u64 = 0x80;
/// The physical-address bits of a page-table entry.
const ENTRY_ADDRESS: u64 = 0x000f_ffff_ffff_f000;

const CR4_PAE: u32 = 1 << 5;
const CR0_PE: u32 = 1 << 0;
const CR0_PG: u32 = 1 << 31;
const EFER_MSR: u32 = 0xc000_0080;
const EFER_LME: u32 = 1 << 8;

/// The Xen ELF note type QEMU looks for (`XEN_ELFNOTE_PHYS32_ENTRY`).
const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;

unsafe extern "C" {
    /// First byte of the kernel image (`link.ld`).
    static __kernel_start: u8;
    /// First byte after the kernel image, page-aligned (`link.ld`).
    static __kernel_end: u8;
}

/// The physical bytes the kernel image occupies, `[start, end)`, including
/// its `.bss` (stacks and page tables).
pub fn kernel_image() -> (u64, u64) {
    // Only the addresses of the linker symbols are taken; they are never
    // read, so no reference to them is created.
    let start = &raw const __kernel_start;
    let end = &raw const __kernel_end;
    (start as u64, end as u64)
}

/// The kernel's stacks. Each lies directly above a guard page that
/// [`guard_stacks`] unmaps, laid out one after the other in this order in
/// `.bss` (`capc_kernel_stacks`): guard, stack, guard, stack, ...
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stack {
    /// The stack `kmain` runs on until the first thread starts.
    Boot,
    /// The stack of every entry from ring 3 (TSS RSP0 and `syscall`).
    Kernel,
    /// The double-fault handler's stack (IST1): a kernel stack overflow
    /// ends in a double fault, which must not need the stack that overflowed.
    DoubleFault,
    /// The non-maskable interrupt's stack (IST2): an NMI can arrive at any
    /// instruction, including while the kernel stack is not usable.
    Nmi,
    /// The machine check's stack (IST3), for the same reason.
    MachineCheck,
}

impl Stack {
    /// Every stack, in layout order.
    pub const ALL: [Stack; 5] = [
        Stack::Boot,
        Stack::Kernel,
        Stack::DoubleFault,
        Stack::Nmi,
        Stack::MachineCheck,
    ];

    /// The bytes all stacks and their guard pages take.
    const ALL_BYTES: u64 = {
        let last = Stack::ALL[Stack::ALL.len() - 1];
        last.offset() + PAGE_BYTES + last.bytes()
    };

    /// Its usable size, a whole number of pages.
    pub const fn bytes(self) -> u64 {
        match self {
            Stack::Boot | Stack::Kernel => 64 * 1024,
            Stack::DoubleFault | Stack::Nmi | Stack::MachineCheck => 16 * 1024,
        }
    }

    /// What it is for, as the transcript and the overflow report say it.
    pub const fn name(self) -> &'static str {
        match self {
            Stack::Boot => "boot",
            Stack::Kernel => "kernel",
            Stack::DoubleFault => "double-fault",
            Stack::Nmi => "NMI",
            Stack::MachineCheck => "machine-check",
        }
    }

    /// Where its guard page starts, from the start of `capc_kernel_stacks`.
    const fn offset(self) -> u64 {
        let mut offset = 0;
        let mut index = 0;
        while index < self as usize {
            offset += PAGE_BYTES + Stack::ALL[index].bytes();
            index += 1;
        }
        offset
    }

    /// The first byte of its guard page.
    pub fn guard(self) -> u64 {
        unsafe extern "C" {
            /// The stacks and their guard pages (the `.bss.stacks` above).
            static capc_kernel_stacks: u8;
        }
        // Only the symbol's address is taken, no reference is made.
        (&raw const capc_kernel_stacks) as u64 + self.offset()
    }

    /// Its lowest usable byte, just above the guard page.
    pub fn bottom(self) -> u64 {
        self.guard() + PAGE_BYTES
    }

    /// The first byte above it: the initial stack pointer.
    pub fn top(self) -> u64 {
        self.bottom() + self.bytes()
    }

    /// The stack whose guard page holds `address`, if any.
    pub fn guarded_by(address: u64) -> Option<Stack> {
        Stack::ALL
            .into_iter()
            .find(|stack| (stack.guard()..stack.bottom()).contains(&address))
    }
}

/// The stacks' guard pages must be 4 KiB pages of their own.
const _: () = {
    let mut index = 0;
    while index < Stack::ALL.len() {
        assert!(Stack::ALL[index].bytes().is_multiple_of(PAGE_BYTES));
        assert!(Stack::ALL[index] as usize == index);
        index += 1;
    }
    // One or two large pages hold all of them (see STACK_PAGE_TABLES).
    assert!(Stack::ALL_BYTES <= LARGE_PAGE_BYTES);
};

/// One page table: 512 entries mapping 4 KiB each.
#[repr(C, align(4096))]
struct PageTable([u64; 512]);

/// The page tables that replace the 2 MiB pages holding the stacks, so that
/// their guard pages can be left out. The stacks span less than 2 MiB, so
/// at most two large pages.
static mut STACK_PAGE_TABLES: [PageTable; 2] = [const { PageTable([0; 512]) }; 2];

/// What [`guard_stacks`] did, for the boot transcript.
pub struct GuardedStacks {
    /// The large pages it split into 4 KiB pages.
    pub split: usize,
}

impl core::fmt::Display for GuardedStacks {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "kernel stacks:")?;
        for stack in Stack::ALL {
            write!(
                f,
                " {} {:#x}..{:#x} ({} KiB),",
                stack.name(),
                stack.bottom(),
                stack.top(),
                stack.bytes() / 1024
            )?;
        }
        write!(
            f,
            " each above an unmapped 4 KiB guard page ({} large page(s) of the identity map split)",
            self.split
        )
    }
}

/// Unmaps the guard page below every [`Stack`]: the 2 MiB pages of the boot
/// identity map that hold the stacks become page tables of 4 KiB pages,
/// identical except that the guard pages are not present. Every address
/// space shares these tables (through PML4 entry 0, see `vspace.rs`), so
/// the guard pages are missing in all of them.
///
/// Runs once, first thing in `kmain`, on the boot stack; everything else the
/// kernel has mapped stays where it was.
pub fn guard_stacks() -> GuardedStacks {
    let first = Stack::ALL[0].guard() & !(LARGE_PAGE_BYTES - 1);
    let last = Stack::ALL[Stack::ALL.len() - 1].top();
    let tables = &raw mut STACK_PAGE_TABLES;
    // SAFETY: called once, before anything else reads or writes the tables;
    // one CPU, interrupts off.
    let tables = unsafe { &mut *tables };
    let mut split = 0;
    for (large_page, table) in (first..last)
        .step_by(LARGE_PAGE_BYTES as usize)
        .zip(tables.iter_mut())
    {
        for (index, entry) in table.0.iter_mut().enumerate() {
            let page = large_page + index as u64 * PAGE_BYTES;
            *entry = match Stack::guarded_by(page) {
                Some(_) => 0,
                None => page | PTE_PAGE_RW,
            };
        }
        let directory_entry = boot_directory_entry(large_page);
        // SAFETY: `boot_directory_entry` returns a valid, identity-mapped
        // entry of the boot page directories.
        let mapped = unsafe { directory_entry.read() };
        assert_eq!(
            mapped & (ENTRY_ADDRESS | PDE_LARGE),
            large_page | PDE_LARGE,
            "the boot identity map does not map {large_page:#x} with a large page"
        );
        // SAFETY: the entry maps `large_page` with one large page (checked
        // above), and the table maps the same physical pages at the same
        // addresses apart from the guard pages, which nothing uses; so no
        // live data moves.
        unsafe { directory_entry.write(&raw const *table as u64 | PTE_PAGE_RW) };
        split += 1;
    }
    assert!(
        first + split as u64 * LARGE_PAGE_BYTES >= last,
        "the kernel stacks span more large pages than STACK_PAGE_TABLES has"
    );
    // Reloading CR3 flushes every translation (the identity map has no
    // global pages), so the large pages just replaced are forgotten.
    let (pml4, flags) = Cr3::read();
    // SAFETY: the same PML4 and flags as before.
    unsafe { Cr3::write(pml4, flags) };
    GuardedStacks { split }
}

/// The boot page-directory entry that maps `address`, found from CR3
/// through PML4 entry 0 (which covers the identity map).
fn boot_directory_entry(address: u64) -> *mut u64 {
    let pml4 = Cr3::read().0.start_address().as_u64();
    let entry = |table: u64, index: u64| (table + index * 8) as *mut u64;
    // SAFETY: the boot tables are identity-mapped (they are in .bss), and
    // entries 0 of the PML4 and the identity map's PDPT entries are present
    // tables, written by the entry code below.
    unsafe {
        let pdpt = entry(pml4, 0).read() & ENTRY_ADDRESS;
        let directory = entry(pdpt, address >> 30).read() & ENTRY_ADDRESS;
        entry(directory, (address >> 21) & 511)
    }
}

global_asm!(
    // The PVH note: name "Xen", type PHYS32_ENTRY, 8-byte entry address. A
    // note section is 4-aligned and each field is padded to 4 bytes.
    r#"
    .pushsection .note.Xen, "a", @note
    .p2align 2
    .long 2f - 1f
    .long 4f - 3f
    .long {note_type}
1:  .asciz "Xen"
2:  .p2align 2
3:  .quad pvh_start32
4:  .p2align 2
    .popsection
    "#,
    // The GDT: null, 64-bit ring-0 code (L=1), flat ring-0 data. The pointer's
    // base is 8 bytes so that 64-bit code can `lgdt` it as well.
    r#"
    .pushsection .rodata.boot, "a"
    .p2align 3
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
boot_gdt_end:
    .p2align 3
boot_gdt_pointer:
    .word boot_gdt_end - boot_gdt - 1
    .quad boot_gdt
    .popsection
    "#,
    // Page tables and stacks: zeroed by the entry code, page-aligned. The
    // stacks, each above its guard page, in `Stack` order.
    r#"
    .pushsection .bss.boot, "aw", @nobits
    .p2align 12
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_page_directories:
    .skip 4096 * {gib}
    .popsection

    .pushsection .bss.stacks, "aw", @nobits
    .p2align 12
    .global capc_kernel_stacks
capc_kernel_stacks:
    .skip {stacks_bytes}
    .popsection
    "#,
    // 32-bit entry. %ebx = hvm_start_info; kept in %esi throughout.
    r#"
    .pushsection .text.boot32, "ax"
    .code32
    .global pvh_start32
pvh_start32:
    cli
    cld
    movl %ebx, %esi

    lgdt boot_gdt_pointer
    movw ${data}, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs

    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    xorl %eax, %eax
    rep stosb

    movl $boot_pdpt + {table}, boot_pml4

    movl $boot_page_directories + {table}, %eax
    movl $boot_pdpt, %edi
    movl ${gib}, %ecx
1:  movl %eax, (%edi)
    addl $4096, %eax
    addl $8, %edi
    loop 1b

    movl ${large}, %eax
    xorl %edx, %edx
    movl $boot_page_directories, %edi
    movl $512 * {gib}, %ecx
2:  movl %eax, (%edi)
    movl %edx, 4(%edi)
    addl $0x200000, %eax
    adcl $0, %edx
    addl $8, %edi
    loop 2b

    movl %cr4, %eax
    orl ${cr4_pae}, %eax
    movl %eax, %cr4

    movl $boot_pml4, %eax
    movl %eax, %cr3

    movl ${efer}, %ecx
    rdmsr
    orl ${efer_lme}, %eax
    wrmsr

    movl %cr0, %eax
    orl ${cr0_pg_pe}, %eax
    movl %eax, %cr0

    ljmp ${code}, $long_mode_start
    "#,
    // 64-bit code: segments, stack, kmain(start_info). kmain never returns;
    // halt forever if it somehow does.
    r#"
    .code64
long_mode_start:
    movw ${data}, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs

    movabsq $capc_kernel_stacks + {boot_stack_top}, %rsp
    xorl %ebp, %ebp
    movl %esi, %edi
    call {kmain}
3:  cli
    hlt
    jmp 3b
    .popsection
    "#,
    note_type = const XEN_ELFNOTE_PHYS32_ENTRY,
    gib = const IDENTITY_MAP_GIB,
    stacks_bytes = const Stack::ALL_BYTES,
    boot_stack_top = const Stack::Boot.offset() + PAGE_BYTES + Stack::Boot.bytes(),
    data = const KERNEL_DATA_SELECTOR,
    code = const KERNEL_CODE_SELECTOR,
    table = const PTE_TABLE_RW,
    large = const PDE_LARGE_RW,
    cr4_pae = const CR4_PAE,
    efer = const EFER_MSR,
    efer_lme = const EFER_LME,
    cr0_pg_pe = const CR0_PG | CR0_PE,
    kmain = sym crate::kmain,
    options(att_syntax)
);
