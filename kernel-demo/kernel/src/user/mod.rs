//! Threads in ring 3: the root task the kernel builds at boot, the
//! round-robin scheduler, the system calls and what happens when a thread
//! faults.
//!
//! The kernel keeps no memory of its own for any of this. The root task's
//! CNode, TCB, page tables, image frames, stack and IPC buffer are retyped
//! at boot from one of the Untyped caps the root task then holds, through
//! the same `ops::retype` a task's own retype goes through, so the root
//! task pays for all of it; the run queue is a list through the TCBs.
//!
//! All kernel objects are reached through the boot identity map. The slot
//! memory (`SlotMemory`) is a window over the RAM the Untyped caps cover;
//! a TCB or a page table in that window is reached through its physical
//! address while no reference into the window is live.
//!
//! One concern per file:
//! - [`state`]: the kernel's own state and how objects are reached;
//! - [`root_task`]: building the root task at boot;
//! - [`sched`]: the run queue, entering and leaving ring 3 (`trap`);
//! - [`syscall`]: decoding a system call and the IPC ones;
//! - [`ipc`]: what `capc_demo_kernel::ipc` needs of the machine (message
//!   transfer, waking);
//! - [`invoke`]: invocations of kernel objects (Untyped, CNode, TCB, frame
//!   and table caps);
//! - [`lifecycle`]: what happens when objects go (finalisation, eviction)
//!   or are made (zeroing);
//! - [`address_space`]: TLB flushes (mapping and unmapping, and the
//!   address-space numbers, are `capc_demo_kernel::mapping` and
//!   `capc_demo_kernel::asid`).

mod address_space;
mod invoke;
mod ipc;
mod lifecycle;
mod root_task;
mod sched;
mod state;
mod syscall;

pub use root_task::{Boot, start};
pub use sched::{system_call, trap};
