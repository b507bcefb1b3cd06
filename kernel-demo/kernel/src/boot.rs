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
//! Nothing else in the kernel touches these tables, the GDT or the stack
//! symbols; later stages that want their own replace them.

use core::arch::global_asm;

/// How much physical memory the boot page tables identity-map: RAM plus the
/// 32-bit MMIO hole (local APIC, I/O APIC, HPET) below 4 GiB.
pub const IDENTITY_MAP_GIB: u64 = 4;

/// Size of the boot stack `kmain` runs on.
pub const BOOT_STACK_BYTES: usize = 64 * 1024;

/// GDT selector of the 64-bit kernel code segment.
const KERNEL_CODE_SELECTOR: u16 = 0x08;
/// GDT selector of the kernel data segment.
const KERNEL_DATA_SELECTOR: u16 = 0x10;

/// Present, writable, 2 MiB page (PS).
const PDE_LARGE_RW: u32 = 0x83;
/// Present, writable, points to the next table.
const PTE_TABLE_RW: u32 = 0x03;

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
/// its `.bss` (boot stack and page tables).
pub fn kernel_image() -> (u64, u64) {
    // Only the addresses of the linker symbols are taken; they are never
    // read, so no reference to them is created.
    let start = &raw const __kernel_start;
    let end = &raw const __kernel_end;
    (start as u64, end as u64)
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
    // Page tables and stack: zeroed by the entry code, page-aligned.
    r#"
    .pushsection .bss.boot, "aw", @nobits
    .p2align 12
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_page_directories:
    .skip 4096 * {gib}
    .p2align 4
boot_stack_bottom:
    .skip {stack_bytes}
boot_stack_top:
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

    movabsq $boot_stack_top, %rsp
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
    stack_bytes = const BOOT_STACK_BYTES,
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
