//! The runtime of the demo kernel's user programs: the system calls of
//! `capc_demo_kernel::abi`, printing through the kernel's debug console, and
//! kernel invocations through the stubs `capc` generates from
//! `kernel-demo/spec/kernel.cap` (the same module the kernel decodes with).
//!
//! A program names its entry with [`entry!`]; it runs on the stack the
//! kernel (or the thread that created it) set up, with its IPC buffer at an
//! address it is told.

#![no_std]
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

use core::fmt::{self, Write};

pub use capc_demo_kernel::abi::{self, IpcBuffer, Syscall, SyscallStatus};
pub use capc_demo_kernel::bootimage;
pub use capc_demo_kernel::caps::{self, InvocationError, KernelError, MessageInfo, target};

/// The registers a system call returns: `rax` (status), `rdi` (badge),
/// `rsi` (the reply's `MessageInfo` word), `rdx, r8, r9, r10` (message
/// words 0..4).
#[derive(Clone, Copy, Debug)]
pub struct Returned {
    /// The call's status.
    pub status: u64,
    /// The badge of the sender, for receives.
    pub badge: u64,
    /// The reply's `MessageInfo` word.
    pub info: u64,
    /// The reply's message words in registers.
    pub words: [u64; abi::MESSAGE_REGISTERS],
}

/// Makes system call `number` with `rdi`, `rsi` and the four message words.
pub fn syscall(
    number: Syscall,
    rdi: u64,
    rsi: u64,
    words: [u64; abi::MESSAGE_REGISTERS],
) -> Returned {
    let (mut rax, mut rdi, mut rsi) = (number as u64, rdi, rsi);
    let [mut rdx, mut r8, mut r9, mut r10] = words;
    // SAFETY: `syscall` enters the kernel, which preserves every register
    // but those named here (the ABI in `capc_demo_kernel::abi`): rcx and
    // r11 are clobbered by the instruction itself. The kernel reads and
    // writes only this thread's IPC buffer, never its stack.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") rax,
            inlateout("rdi") rdi,
            inlateout("rsi") rsi,
            inlateout("rdx") rdx,
            inlateout("r8") r8,
            inlateout("r9") r9,
            inlateout("r10") r10,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    Returned {
        status: rax,
        badge: rdi,
        info: rsi,
        words: [rdx, r8, r9, r10],
    }
}

/// Why an invocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The system call itself was refused (a bad cap address, no IPC buffer...).
    Syscall(SyscallStatus),
    /// The kernel answered with an error, or with a reply the spec does not
    /// allow.
    Invocation(InvocationError<KernelError>),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Syscall(status) => write!(f, "system call refused: {status:?}"),
            Error::Invocation(InvocationError::Kernel(error)) => write!(f, "{error:?}"),
            Error::Invocation(other) => write!(f, "{other:?}"),
        }
    }
}

/// A thread's view of the kernel: where its IPC buffer is.
pub struct Env {
    buffer: *mut IpcBuffer,
}

impl Env {
    /// The environment of a thread whose IPC buffer is mapped at `buffer`.
    ///
    /// # Safety
    ///
    /// `buffer` must be the address of this thread's IPC buffer, mapped
    /// writable, and no other thread may use it.
    pub const unsafe fn new(buffer: u64) -> Env {
        Env {
            buffer: buffer as *mut IpcBuffer,
        }
    }

    fn buffer(&mut self) -> &mut IpcBuffer {
        // SAFETY: `new`'s contract: the buffer is mapped and this thread's.
        unsafe { &mut *self.buffer }
    }

    /// Prints `text` on the kernel's console, in pieces that fit the IPC
    /// buffer.
    pub fn print(&mut self, text: &str) {
        let capacity = core::mem::size_of::<[u64; target::MESSAGE_WORDS]>();
        for chunk in text.as_bytes().chunks(capacity) {
            let buffer = self.buffer();
            // SAFETY: `msg` is `capacity` bytes; the chunk is at most that.
            let bytes = unsafe {
                core::slice::from_raw_parts_mut(buffer.msg.as_mut_ptr().cast::<u8>(), capacity)
            };
            bytes[..chunk.len()].copy_from_slice(chunk);
            syscall(Syscall::DebugPrint, chunk.len() as u64, 0, [0; 4]);
        }
    }

    /// Invokes the cap at `cptr`: `encode` writes the message (one of the
    /// generated `encode_*` stubs), `decode` reads the reply (the matching
    /// `decode_*_reply`).
    pub fn invoke<T>(
        &mut self,
        cptr: u64,
        encode: impl FnOnce(&mut [u64], &mut [u64]) -> MessageInfo,
        decode: fn(MessageInfo, &[u64]) -> Result<T, InvocationError<KernelError>>,
    ) -> Result<T, Error> {
        let mut msg = [0u64; target::MESSAGE_WORDS];
        let mut caps = [0u64; target::CAPS_PER_MESSAGE];
        let info = encode(&mut msg, &mut caps);
        self.call(cptr, info, &msg, &caps, decode)
    }

    /// Sends the message `info`, `msg`, `caps` to the kernel object at
    /// `cptr` and decodes the reply with `decode`.
    pub fn call<T>(
        &mut self,
        cptr: u64,
        info: MessageInfo,
        msg: &[u64],
        caps: &[u64],
        decode: fn(MessageInfo, &[u64]) -> Result<T, InvocationError<KernelError>>,
    ) -> Result<T, Error> {
        let reply = self.call_endpoint(cptr, info, msg, caps)?;
        decode(reply.info, &reply.words).map_err(Error::Invocation)
    }

    /// Puts the message into the IPC buffer; the `MessageInfo` word and the
    /// words that travel in registers.
    fn load(
        &mut self,
        info: MessageInfo,
        msg: &[u64],
        caps: &[u64],
    ) -> Result<(u64, [u64; 4]), Error> {
        let word = abi::pack_info(info).ok_or(Error::Syscall(SyscallStatus::BadMessage))?;
        let registers = abi::MESSAGE_REGISTERS;
        let buffer = self.buffer();
        let length = info.length.min(msg.len());
        if length > registers {
            buffer.msg[registers..length].copy_from_slice(&msg[registers..length]);
        }
        let count = info.caps.min(caps.len());
        buffer.caps[..count].copy_from_slice(&caps[..count]);
        let mut words = [0u64; 4];
        for (word, value) in words.iter_mut().zip(msg.iter().take(length)) {
            *word = *value;
        }
        Ok((word, words))
    }

    /// The message a system call returned.
    fn read(&mut self, returned: Returned) -> Result<Message, Error> {
        match SyscallStatus::from_word(returned.status) {
            Some(SyscallStatus::Ok) => {}
            Some(status) => return Err(Error::Syscall(status)),
            None => return Err(Error::Syscall(SyscallStatus::UnknownSyscall)),
        }
        let info =
            abi::unpack_info(returned.info).ok_or(Error::Syscall(SyscallStatus::BadMessage))?;
        let registers = abi::MESSAGE_REGISTERS;
        let mut words = [0u64; target::MESSAGE_WORDS];
        words[..registers].copy_from_slice(&returned.words);
        if info.length > registers {
            let buffer = self.buffer();
            words[registers..info.length].copy_from_slice(&buffer.msg[registers..info.length]);
        }
        Ok(Message {
            badge: returned.badge,
            info,
            words,
        })
    }

    /// `Call`: sends the message to the endpoint (or kernel object) at
    /// `cptr` and waits for the reply.
    pub fn call_endpoint(
        &mut self,
        cptr: u64,
        info: MessageInfo,
        msg: &[u64],
        caps: &[u64],
    ) -> Result<Message, Error> {
        let (word, words) = self.load(info, msg, caps)?;
        let returned = syscall(Syscall::Call, cptr, word, words);
        self.read(returned)
    }

    /// `Send`: sends the message to the endpoint at `cptr` (waiting until
    /// someone receives it).
    pub fn send(
        &mut self,
        cptr: u64,
        info: MessageInfo,
        msg: &[u64],
        caps: &[u64],
    ) -> Result<(), Error> {
        let (word, words) = self.load(info, msg, caps)?;
        let returned = syscall(Syscall::Send, cptr, word, words);
        self.read(returned).map(drop)
    }

    /// `Recv`: waits for a message on the endpoint at `cptr`.
    pub fn recv(&mut self, cptr: u64) -> Result<Message, Error> {
        let returned = syscall(Syscall::Recv, cptr, 0, [0; 4]);
        self.read(returned)
    }

    /// `Reply`: answers the call received last.
    pub fn reply(&mut self, info: MessageInfo, msg: &[u64]) -> Result<(), Error> {
        let (word, words) = self.load(info, msg, &[])?;
        let returned = syscall(Syscall::Reply, 0, word, words);
        self.read(returned).map(drop)
    }

    /// `ReplyRecv`: answers the call received last, then waits on `cptr`.
    pub fn reply_recv(
        &mut self,
        cptr: u64,
        info: MessageInfo,
        msg: &[u64],
    ) -> Result<Message, Error> {
        let (word, words) = self.load(info, msg, &[])?;
        let returned = syscall(Syscall::ReplyRecv, cptr, word, words);
        self.read(returned)
    }

    /// Signals the notification at `cptr` with its cap's badge.
    pub fn signal(&mut self, cptr: u64) -> Result<(), Error> {
        let returned = syscall(Syscall::Send, cptr, 0, [0; 4]);
        self.read(returned).map(drop)
    }

    /// Waits on the notification at `cptr`; the bits signalled.
    pub fn wait(&mut self, cptr: u64) -> Result<u64, Error> {
        let returned = syscall(Syscall::Recv, cptr, 0, [0; 4]);
        self.read(returned).map(|m| m.badge)
    }

    /// Where caps sent to this thread go: the slots at these addresses
    /// (resolved with `depth` bits), in order.
    pub fn receive_caps_into(&mut self, slots: &[u64], depth: u64) {
        let buffer = self.buffer();
        let count = slots.len().min(buffer.caps.len());
        buffer.caps[..count].copy_from_slice(&slots[..count]);
        buffer.receive_depth = depth;
    }
}

/// A message received (or a reply).
#[derive(Clone, Copy, Debug)]
pub struct Message {
    /// The badge of the cap it was sent through (for a notification, the
    /// bits signalled).
    pub badge: u64,
    /// Its label, length and the caps that arrived.
    pub info: MessageInfo,
    /// Its words (the first `info.length` are valid).
    pub words: [u64; target::MESSAGE_WORDS],
}

impl Write for Env {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.print(s);
        Ok(())
    }
}

/// The time-stamp counter, ordered after the instructions before it. Under
/// QEMU's `-icount shift=0` it counts guest instructions.
pub fn rdtsc() -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: `lfence; rdtsc` reads a counter (CR4.TSD is clear, so ring 3
    // may); it touches no memory.
    unsafe {
        core::arch::asm!(
            "lfence",
            "rdtsc",
            out("eax") low,
            out("edx") high,
            options(nostack, nomem, preserves_flags),
        );
    }
    (u64::from(high) << 32) | u64::from(low)
}

/// A system call that does nothing: number 0, which the kernel answers
/// with `UnknownSyscall` right after entry. For measuring the cost of
/// entering and leaving the kernel.
pub fn null_syscall() -> u64 {
    let mut rax = 0u64;
    // SAFETY: as for `syscall`: the kernel preserves every register but
    // rax (the status), rcx and r11.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") rax,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    rax
}

/// Gives up the rest of the time slice.
pub fn yield_now() {
    syscall(Syscall::Yield, 0, 0, [0; 4]);
}

/// Ends the calling thread with `status`.
pub fn exit(status: u64) -> ! {
    syscall(Syscall::Exit, status, 0, [0; 4]);
    // The kernel never returns from `Exit`; should it, spin rather than
    // run off the end.
    loop {
        core::hint::spin_loop();
    }
}

/// Declares the program's entry: `entry!(main)` with
/// `fn main(rdi: u64, rsi: u64, rdx: u64, rcx: u64, r8: u64, r9: u64) -> u64`
/// (the registers the thread starts with), whose result becomes the exit
/// status.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        #[unsafe(link_section = ".text._start")]
        extern "C" fn _start(rdi: u64, rsi: u64, rdx: u64, rcx: u64, r8: u64, r9: u64) -> ! {
            let status: u64 = $main(rdi, rsi, rdx, rcx, r8, r9);
            $crate::exit(status)
        }
    };
}

/// Prints the panic (on the root's IPC buffer is all we can assume) and
/// exits with status 101.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // SAFETY: a panicking thread is done with its buffer; the root's is
    // always mapped. A panic in another thread may garble the root's
    // buffer, which only ever holds output.
    let mut env = unsafe { Env::new(abi::ROOT_IPC_BUFFER) };
    let _ = writeln!(env, "user panic: {info}");
    exit(101)
}
