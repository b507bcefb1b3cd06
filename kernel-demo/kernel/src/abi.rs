//! The system-call ABI between the kernel and its user programs: which
//! register carries what, how a [`MessageInfo`] travels in one register, the
//! layout of the IPC buffer, and where user programs live. The kernel and
//! the user runtime (`kernel-demo/user`) both use this module, so the two
//! sides cannot disagree.
//!
//! A system call is the `syscall` instruction with
//!
//! | register | on entry                         | on return                     |
//! |----------|----------------------------------|-------------------------------|
//! | rax      | [`Syscall`] number               | [`SyscallStatus`]             |
//! | rdi      | capability address (CPtr)       | badge of the sender (recv)    |
//! | rsi      | [`MessageInfo`] word             | reply's [`MessageInfo`] word  |
//! | rdx, r8, r9, r10 | message words 0..4       | reply's message words 0..4    |
//!
//! `rcx` and `r11` are clobbered (the CPU keeps the return address and the
//! flags there); every other register is preserved. Message words past the
//! first [`MESSAGE_REGISTERS`] and the capability addresses of a message are
//! in the caller's IPC buffer ([`IpcBuffer`]).

use crate::caps::{MessageInfo, target};

/// Message words passed in registers (the spec's `message_registers`).
pub const MESSAGE_REGISTERS: usize = target::MESSAGE_REGISTERS;

/// The spec's user space (`user_base`, `user_end`).
const USER_SPACE: (u64, u64) = match crate::caps::USER_SPACE {
    Some(space) => space,
    None => panic!("kernel.cap sets the target's user space"),
};

/// First virtual address of user space (the spec's `user_base`): the
/// kernel identity-maps the first 512 GiB slot of every address space (PML4
/// entry 0, supervisor only), so user mappings start at the second.
pub const USER_BASE: u64 = USER_SPACE.0;

/// One past the last user virtual address (the spec's `user_end`: the top
/// of the lower canonical half).
pub const USER_END: u64 = USER_SPACE.1;

/// Where the root task's IPC buffer is mapped.
pub const ROOT_IPC_BUFFER: u64 = 0x0000_00ff_0000_0000;

/// Top of the root task's stack (the stack grows down from here). The 2 MiB
/// around it has a page table, so the root task can map more pages there
/// (for other threads' stacks and IPC buffers) without making one.
pub const ROOT_STACK_TOP: u64 = 0x0000_00fe_0010_0000;

/// Where the kernel maps the boot image (`bootimage`), read-only, in the
/// root task's address space: the root finds the other programs there. The
/// root task gets the image's address in `r9`.
pub const BOOT_IMAGE_VADDR: u64 = 0x0000_00c0_0000_0000;

/// Pages of stack the kernel maps for the root task.
pub const ROOT_STACK_PAGES: u64 = 16;

/// log2 of the root CNode's slots: 4096 slots, 128 KiB. Its cap has a
/// guard of `64 - ROOT_RADIX` zero bits, so the root task names slot `i`
/// by the capability address `i` (at depth 64).
pub const ROOT_RADIX: u64 = 12;
/// Slot of the root thread's TCB cap.
pub const ROOT_TCB_SLOT: u64 = 1;
/// Slot of the root CNode's own cap.
pub const ROOT_CNODE_SLOT: u64 = 2;
/// Slot of the root's PML4 cap.
pub const ROOT_VSPACE_SLOT: u64 = 3;
/// Slot of the root's IPC buffer frame cap.
pub const ROOT_IPC_BUFFER_SLOT: u64 = 4;
/// Slot of the one IrqControl cap, the root's.
pub const ROOT_IRQ_CONTROL_SLOT: u64 = 5;
/// Slot of the one IoPortControl cap, the root's.
pub const ROOT_IO_PORT_CONTROL_SLOT: u64 = 6;
/// Slot of the one ASID-control cap, the root's: it makes ASID pools.
pub const ROOT_ASID_CONTROL_SLOT: u64 = 7;
/// Slot of the root's ASID pool, which gave the root's PML4 its number.
pub const ROOT_ASID_POOL_SLOT: u64 = 8;
/// Slot of the 4 KiB Untyped the root's ASID pool was made from.
pub const ROOT_ASID_POOL_UNTYPED_SLOT: u64 = 9;
/// First slot of the page tables and frames the kernel made for the root
/// task (its image, stack, IPC buffer); they record where they are mapped.
pub const ROOT_FIRST_BOOT_OBJECT_SLOT: u64 = 128;
/// First slot of the Untyped caps handed to the root task. The root thread
/// starts with this slot in `rdi`, the number of Untyped caps in `rsi`, its
/// first free slot in `rdx` and the slot of its largest Untyped (which paid
/// for the root task's own objects) in `rcx`, [`ROOT_FLAG_BENCH`] or 0 in
/// `r8` and the address of the boot image in `r9`: the six arguments of an
/// `extern "C"` entry.
pub const FIRST_UNTYPED_SLOT: u64 = 16;

/// Set in the root task's `r8` when the kernel was booted with `bench`.
pub const ROOT_FLAG_BENCH: u64 = 1;

/// The system calls, numbered as `rax` carries them: generated from
/// kernel.cap's `syscalls Syscall` block, which also says which caps each
/// sends or receives on (`Syscall::sends_on`, `Syscall::receives_on`).
pub use crate::caps::Syscall;

/// What `rax` holds when a system call returns: whether the call itself
/// was carried out. The result of an invocation is in the reply's
/// [`MessageInfo`] label (0 or the error's number), not here.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyscallStatus {
    /// Done; the reply registers are valid.
    Ok = 0,
    /// `rax` named no system call.
    UnknownSyscall = 1,
    /// The `MessageInfo` word or a length does not fit the IPC buffer.
    BadMessage = 2,
    /// The thread has no IPC buffer but the message needs one.
    NoIpcBuffer = 3,
    /// The capability address does not name a cap this call can use.
    InvalidCap = 4,
}

impl SyscallStatus {
    /// The status numbered `word`.
    pub const fn from_word(word: u64) -> Option<SyscallStatus> {
        Some(match word {
            0 => SyscallStatus::Ok,
            1 => SyscallStatus::UnknownSyscall,
            2 => SyscallStatus::BadMessage,
            3 => SyscallStatus::NoIpcBuffer,
            4 => SyscallStatus::InvalidCap,
            _ => return None,
        })
    }
}

/// The labels of fault messages, seL4's `seL4_FaultType` numbers.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultLabel {
    /// A CPU exception other than a page fault (seL4's
    /// `seL4_Fault_UserException`): words `[ip, sp, vector, error code]`.
    UserException = 3,
    /// A page fault (seL4's `seL4_Fault_VMFault`): words `[ip, address,
    /// instruction fetch (1) or data access (0), error code]`.
    VmFault = 5,
}

// A fault message travels in the message registers.
const _: () = assert!(MESSAGE_REGISTERS >= 4);

/// The x86 vector of a page fault.
const PAGE_FAULT_VECTOR: u64 = 14;
/// The page-fault error code's bit for an instruction fetch.
const INSTRUCTION_FETCH: u64 = 1 << 4;

/// The message a thread's fault sends to its fault handler (seL4's fault
/// IPC): a label of [`FaultLabel`] and four words, in the registers of a
/// call the faulting thread makes. A label of 0 is no fault. While the
/// thread waits for the handler's reply it keeps the fault: the reply
/// restarts it at the faulting instruction, its registers untouched
/// (seL4's reply to a VM fault; seL4 would take a user exception's reply
/// as new registers, capc does not).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultMessage {
    /// A [`FaultLabel`], or 0: no fault.
    pub label: u64,
    /// The message words.
    pub words: [u64; 4],
}

impl FaultMessage {
    /// No fault.
    pub const NONE: FaultMessage = FaultMessage {
        label: 0,
        words: [0; 4],
    };

    /// The message for CPU exception `vector` with `error_code`, taken at
    /// `ip` with the stack at `sp`; `address` is CR2 (read for a page
    /// fault only).
    pub const fn of(vector: u64, error_code: u64, ip: u64, sp: u64, address: u64) -> FaultMessage {
        if vector == PAGE_FAULT_VECTOR {
            let fetch = (error_code & INSTRUCTION_FETCH != 0) as u64;
            FaultMessage {
                label: FaultLabel::VmFault as u64,
                words: [ip, address, fetch, error_code],
            }
        } else {
            FaultMessage {
                label: FaultLabel::UserException as u64,
                words: [ip, sp, vector, error_code],
            }
        }
    }

    /// Whether this is a fault.
    pub const fn is_fault(&self) -> bool {
        self.label != 0
    }

    /// The header of the message: the label, four words, no caps.
    pub const fn info(&self) -> MessageInfo {
        MessageInfo {
            label: self.label,
            length: 4,
            caps: 0,
        }
    }
}

/// Bits of the message length in a `MessageInfo` word (seL4's layout:
/// length in bits 0..7, caps in 7..9, label from bit 12 on).
const LENGTH_BITS: u32 = 7;
/// Bits of the cap count.
const CAPS_BITS: u32 = 2;
/// Where the label starts: it takes the rest of the word, the spec's
/// `label_bits`.
const LABEL_SHIFT: u32 = 12;
const _: () = assert!(LABEL_SHIFT + target::LABEL_BITS == 64);

/// `info` as one register, or `None` if its length or cap count exceeds
/// what the target allows or its label does not fit the target's
/// `LABEL_BITS` (52).
pub fn pack_info(info: MessageInfo) -> Option<u64> {
    let fits = info.length <= target::MESSAGE_WORDS
        && info.caps <= target::CAPS_PER_MESSAGE
        && info.label <= target::LAST_LABEL;
    fits.then_some(
        info.label << LABEL_SHIFT | (info.caps as u64) << LENGTH_BITS | info.length as u64,
    )
}

/// The `MessageInfo` in `word`, or `None` if its length or cap count
/// exceeds what the target allows or bits 9..12 are set.
pub fn unpack_info(word: u64) -> Option<MessageInfo> {
    let length = (word & ((1 << LENGTH_BITS) - 1)) as usize;
    let caps = ((word >> LENGTH_BITS) & ((1 << CAPS_BITS) - 1)) as usize;
    let reserved =
        (word >> (LENGTH_BITS + CAPS_BITS)) & ((1 << (LABEL_SHIFT - LENGTH_BITS - CAPS_BITS)) - 1);
    let ok = length <= target::MESSAGE_WORDS && caps <= target::CAPS_PER_MESSAGE && reserved == 0;
    ok.then_some(MessageInfo {
        label: word >> LABEL_SHIFT,
        length,
        caps,
    })
}

/// Whether `word` is a valid `MessageInfo` of at most [`MESSAGE_REGISTERS`]
/// words and no caps: a message that travels in registers alone.
pub const fn fits_registers(word: u64) -> bool {
    let no_caps_or_reserved = (word >> LENGTH_BITS) & ((1 << (LABEL_SHIFT - LENGTH_BITS)) - 1) == 0;
    no_caps_or_reserved && (word & ((1 << LENGTH_BITS) - 1)) as usize <= MESSAGE_REGISTERS
}

/// The IPC buffer: one 4 KiB frame per thread, mapped in its address space
/// and known to the kernel by its frame cap, so the kernel reads and writes
/// it through the frame's physical address (never through user mappings).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IpcBuffer {
    /// The message words; the first [`MESSAGE_REGISTERS`] travel in
    /// registers and their places here are unused.
    pub msg: [u64; target::MESSAGE_WORDS],
    /// Capability addresses of the caps a message carries.
    pub caps: [u64; target::CAPS_PER_MESSAGE],
    /// Where the caps of a message this thread receives (or of the reply
    /// to its call) go: slot addresses in its CSpace.
    pub receive_slots: [u64; target::CAPS_PER_MESSAGE],
    /// The depth (bits) of the addresses in `receive_slots`, or 0 to
    /// receive no caps.
    pub receive_depth: u64,
}

const _: () = assert!(core::mem::size_of::<IpcBuffer>() <= 4096);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_info_round_trips() {
        for (label, length, caps) in [
            (0, 0, 0),
            (1, 6, 1),
            (9, 120, 3),
            (target::LAST_LABEL, 4, 2),
        ] {
            let info = MessageInfo {
                label,
                length,
                caps,
            };
            assert_eq!(unpack_info(pack_info(info).unwrap()), Some(info));
        }
    }

    #[test]
    fn message_info_refuses_what_the_target_cannot_carry() {
        let too_long = MessageInfo {
            label: 1,
            length: target::MESSAGE_WORDS + 1,
            caps: 0,
        };
        assert_eq!(pack_info(too_long), None);
        let too_many_caps = MessageInfo {
            label: 1,
            length: 0,
            caps: target::CAPS_PER_MESSAGE + 1,
        };
        assert_eq!(pack_info(too_many_caps), None);
        let label_too_wide = MessageInfo {
            label: target::LAST_LABEL + 1,
            length: 0,
            caps: 0,
        };
        assert_eq!(pack_info(label_too_wide), None, "a 53-bit label");
        assert_eq!(unpack_info(121), None, "length 121 > 120");
        assert_eq!(unpack_info(1 << 9), None, "reserved bit");
    }

    #[test]
    fn short_messages_without_caps_fit_the_registers() {
        let info = |length, caps| MessageInfo {
            label: 7,
            length,
            caps,
        };
        assert!(fits_registers(pack_info(info(0, 0)).unwrap()));
        assert!(fits_registers(pack_info(info(4, 0)).unwrap()));
        assert!(!fits_registers(pack_info(info(5, 0)).unwrap()));
        assert!(!fits_registers(pack_info(info(1, 1)).unwrap()));
        assert!(!fits_registers(1 << 9), "a reserved bit");
    }

    #[test]
    fn syscall_numbers_round_trip() {
        for number in 0..12 {
            if let Some(call) = Syscall::from_word(number) {
                assert_eq!(call.word(), number);
            }
        }
        assert_eq!(Syscall::from_word(0), None);
        assert_eq!(Syscall::from_word(11), None);
        assert_eq!(Syscall::from_word(u64::MAX), None);
        assert_eq!(SyscallStatus::from_word(4), Some(SyscallStatus::InvalidCap));
    }

    /// The numbers docs/kernel.md's table gives (and the user programs
    /// trap with): kernel.cap's `syscalls Syscall` block must keep them.
    #[test]
    fn syscall_numbers_are_the_documented_ones() {
        let table = [
            (1, Syscall::Call),
            (2, Syscall::Send),
            (3, Syscall::Recv),
            (4, Syscall::Reply),
            (5, Syscall::ReplyRecv),
            (6, Syscall::Yield),
            (7, Syscall::DebugPrint),
            (8, Syscall::Exit),
            (9, Syscall::DebugCapType),
            (10, Syscall::DebugAudit),
        ];
        assert_eq!(Syscall::ALL.len(), table.len());
        for (number, call) in table {
            assert_eq!(Syscall::from_word(number), Some(call));
        }
    }

    /// Which caps a system call sends or receives on: the endpoint's
    /// `write` to send (and call), `read` to receive; a notification's the
    /// same, but `Call` never sends on one (a notification has no
    /// invocations, and the kernel refuses the call); nothing else.
    #[test]
    fn syscalls_send_and_receive_on_the_rights_docs_kernel_md_names() {
        use crate::caps::{EndpointCap, NotificationCap, Rights};
        let read_write = Rights::READ.union(Rights::WRITE);
        let endpoint = |rights| EndpointCap::new(0x1000, rights, 0).unwrap().cap();
        let notification = |rights| NotificationCap::new(0x1000, rights, 0).unwrap().cap();
        for rights in [Rights::NONE, Rights::READ, Rights::WRITE, Rights::ALL] {
            let (read, write) = (
                rights.contains(Rights::READ),
                rights.contains(Rights::WRITE),
            );
            assert_eq!(Syscall::Call.sends_on(endpoint(rights)), write);
            assert!(!Syscall::Call.sends_on(notification(rights.mask(read_write))));
            for cap in [endpoint(rights), notification(rights.mask(read_write))] {
                assert_eq!(Syscall::Send.sends_on(cap), write);
                assert_eq!(Syscall::Recv.receives_on(cap), read);
                assert_eq!(Syscall::ReplyRecv.receives_on(cap), read);
                assert!(!Syscall::Recv.sends_on(cap) && !Syscall::Send.receives_on(cap));
                assert!(!Syscall::Reply.sends_on(cap), "Reply names no cap");
            }
        }
        assert!(!Syscall::Send.sends_on(crate::caps::Cap::NULL));
    }

    #[test]
    fn user_space_starts_above_the_kernel_slot() {
        assert_eq!(USER_BASE >> 39, 1, "PML4 entry 1");
        const { assert!(ROOT_STACK_TOP < ROOT_IPC_BUFFER && ROOT_IPC_BUFFER < USER_END) };
    }
}
