//! A program the root task loads from the boot image into an address space
//! and a CSpace of its own, which it paid for. What it does depends on the
//! argument the root gives it (`rdi`):
//!
//! - 0: calls the root through the endpoint cap in its slot 1 and prints
//!   the reply, then exits;
//! - 1: reads the kernel's memory, and is stopped by the kernel;
//! - 2: reads where the root task keeps its boot image, which is not mapped
//!   in this address space, and is stopped too.

#![no_std]
#![no_main]

use core::fmt::Write;

use capc_demo_user::abi::{BOOT_IMAGE_VADDR, ROOT_IPC_BUFFER};
use capc_demo_user::caps::MessageInfo;
use capc_demo_user::{Env, entry};

entry!(main);

/// The endpoint cap the root puts in slot 1.
const ROOT_ENDPOINT: u64 = 1;
/// The label of the call to the root.
const HELLO: u64 = 7;

fn main(arg: u64, _: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: the root maps this task's IPC buffer at the same address as
    // its own, in this task's address space.
    let mut env = unsafe { Env::new(ROOT_IPC_BUFFER) };
    let _ = writeln!(env, "task {arg}: running in an address space of my own");
    match arg {
        0 => {
            let call = MessageInfo {
                label: HELLO,
                length: 1,
                caps: 0,
            };
            match env.call_endpoint(ROOT_ENDPOINT, call, &[41], &[]) {
                Ok(reply) => {
                    let _ = writeln!(env, "task 0: the root answered {}", reply.words[0]);
                    0
                }
                Err(error) => {
                    let _ = writeln!(env, "task 0: calling the root failed: {error}");
                    1
                }
            }
        }
        1 => {
            let _ = writeln!(env, "task 1: reading kernel memory at 0x100000");
            // SAFETY: not at all, on purpose: the kernel stops this task.
            let value = unsafe { core::ptr::read_volatile(0x10_0000 as *const u64) };
            let _ = writeln!(
                env,
                "task 1: read {value:#x} (the kernel failed to stop me)"
            );
            1
        }
        _ => {
            let _ = writeln!(
                env,
                "task 2: reading the root's boot image at {BOOT_IMAGE_VADDR:#x}"
            );
            // SAFETY: not at all, on purpose: nothing is mapped there in
            // this address space.
            let value = unsafe { core::ptr::read_volatile(BOOT_IMAGE_VADDR as *const u64) };
            let _ = writeln!(
                env,
                "task 2: read {value:#x} (address spaces are not separate)"
            );
            1
        }
    }
}
