//! The file service of `kernel-demo/spec/sessions.cap` (`Files`), served
//! through the generated `dispatch_files` with each client's
//! `FilesSession`: open files are per-session state.
//!
//! A client opens a session by donating an Untyped; the session's CNode and
//! the page of every file it opens (the file's contents, which `read`
//! checksums) are retyped from that donation, each charged to the session
//! by the generated dispatch before the server runs; `close` deletes the
//! page and refunds it, and closing the session revokes the donation and
//! returns every byte. The server's own memory never changes; after every
//! message it prints what the sessions are charged, what it holds for its
//! clients and its own budget's use, which `cargo xtask demo` checks.

#![no_std]
#![no_main]

use core::fmt::Write;

use capc_demo_user::abi::ROOT_IPC_BUFFER;
use capc_demo_user::caps::{self, ObjectType, Rights};
use capc_demo_user::sessions::{
    FILES, FileError, FileName, FilesCharge, FilesLabel, FilesOpenReply, FilesReadReply,
    FilesServer, FilesSession, MessageInfo as RpcInfo, SESSION_CLOSE, SESSION_OPEN, SESSION_RADIX,
    SESSION_REFUSED, SessionSlots, answer, checksum, dispatch_files, end_line, usage_of,
};
use capc_demo_user::task::{BUDGET, CSPACE, ENDPOINT, FIRST_FREE, PML4, SCRATCH_VADDR, SELF};
use capc_demo_user::{Env, cap_at, entry, target};

entry!(main);

/// Where a call's cap arrives: a donation.
const RECEIVED: u64 = FIRST_FREE;
/// A file's page while the server writes or reads it.
const PAGE: u64 = FIRST_FREE + 1;
/// Sessions the server serves at once, two slots each from
/// `FIRST_FREE + 2` on: the server's CNode has 16 slots.
const SESSIONS: usize = 4;
/// Files one session may hold open: the slots of the session's CNode.
const RECORDS: usize = 1 << SESSION_RADIX;

/// An open file: which one, and the charge for its page.
struct OpenFile {
    file: usize,
    charge: FilesCharge,
}

struct Service {
    env: Env,
    current: usize,
    clients: [Option<u64>; SESSIONS],
    slots: [SessionSlots; SESSIONS],
    open: [[Option<OpenFile>; RECORDS]; SESSIONS],
    /// After the reply: move `PAGE` into slot `index` of the session's CNode.
    keep: Option<usize>,
    made: u64,
    inside: u64,
}

impl Service {
    /// Bytes the server holds for its clients: each session's CNode and
    /// the page of each of its open files.
    fn held(&self) -> u64 {
        let mut held = 0;
        for (i, client) in self.clients.iter().enumerate() {
            if client.is_some() {
                held += 1 << (SESSION_RADIX + 5);
                held += 4096 * self.open[i].iter().flatten().count() as u64;
            }
        }
        held
    }

    fn count(&mut self, i: usize, slot: u64) {
        let (from, size) = self.slots[i].region();
        self.made += 1;
        if let Some((base, bytes)) = caps::region(cap_at(slot))
            && base >= from
            && base + bytes <= from + size
        {
            self.inside += 1;
        }
    }

    fn open_session(
        &mut self,
        client: u64,
        ledgers: &mut [Option<FilesSession>],
    ) -> Result<(u64, u64), u64> {
        if self.clients.contains(&Some(client)) {
            return Err(0);
        }
        let i = self.clients.iter().position(Option::is_none).ok_or(0u64)?;
        let slots = self.slots[i];
        capc_demo_user::caps::CNodeCapClient(self.env.cap(SELF))
            .r#move(slots.donation, 64, CSPACE, RECEIVED, 64)
            .map_err(capc_demo_user::Error::from)
            .map_err(|_| 0u64)?;
        let session = match FilesSession::open(client, slots.donation()) {
            Ok(session) => session,
            Err(error) => {
                let _ = capc_demo_user::caps::CNodeCapClient(self.env.cap(SELF))
                    .delete(slots.donation, 64)
                    .map_err(capc_demo_user::Error::from);
                return Err(match error {
                    FileError::OutOfQuota { needed } => needed,
                    _ => 0,
                });
            }
        };
        if slots
            .make_cnode(&mut self.env, CSPACE, slots.donation)
            .is_err()
        {
            let _ = capc_demo_user::caps::CNodeCapClient(self.env.cap(SELF))
                .delete(slots.donation, 64)
                .map_err(capc_demo_user::Error::from);
            return Err(0);
        }
        self.count(i, slots.cnode);
        let reply = (session.quota(), session.used());
        self.clients[i] = Some(client);
        ledgers[i] = Some(session);
        Ok(reply)
    }

    fn close_session(
        &mut self,
        client: u64,
        ledgers: &mut [Option<FilesSession>],
    ) -> Option<(u64, u64)> {
        let i = self.clients.iter().position(|c| *c == Some(client))?;
        let session = ledgers[i].take()?;
        let charged = session.used();
        // Revoking the donation destroys the session's CNode and every page.
        let _ = self.slots[i].end(&mut self.env, SELF);
        for record in &mut self.open[i] {
            *record = None;
        }
        self.clients[i] = None;
        Some((session.close(), charged))
    }

    /// The open file `fd` of the current session: its slot index.
    fn lookup(&self, fd: u32) -> Result<usize, FileError> {
        let index = (fd as usize).checked_sub(1).ok_or(FileError::BadFile)?;
        match self.open[self.current].get(index) {
            Some(Some(_)) => Ok(index),
            _ => Err(FileError::BadFile),
        }
    }
}

impl FilesServer for Service {
    fn open(
        &mut self,
        name: FileName,
        session: &mut FilesSession,
        charge: &mut Option<FilesCharge>,
    ) -> Result<FilesOpenReply, FileError> {
        let i = self.current;
        let file = FILES
            .iter()
            .position(|(n, _)| *n == name.as_str())
            .ok_or(FileError::NotFound)?;
        // A full table is a full quota: the session's CNode holds no more.
        let needed = FilesSession::open_handed_bytes();
        let index = self.open[i]
            .iter()
            .position(Option::is_none)
            .ok_or(FilesSession::out_of_budget(needed))?;
        let out_of_memory = FilesSession::out_of_budget(needed);
        let donation = self.slots[i].donation;
        capc_demo_user::caps::UntypedCapClient(self.env.cap(donation))
            .retype(ObjectType::Frame as u64, 12, CSPACE, 0, 0, PAGE, 1)
            .map_err(capc_demo_user::Error::from)
            .map_err(|_| out_of_memory)?;
        self.count(i, PAGE);
        let at = SCRATCH_VADDR[0];
        capc_demo_user::caps::FrameCapClient(self.env.cap(PAGE))
            .map(PML4, at, Rights::READ.union(Rights::WRITE).bits())
            .map_err(capc_demo_user::Error::from)
            .map_err(|_| out_of_memory)?;
        let bytes = FILES[file].1;
        // SAFETY: the page was just mapped there, writable, and only this
        // server uses the address.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), at as *mut u8, bytes.len()) };
        let _ = capc_demo_user::caps::FrameCapClient(self.env.cap(PAGE))
            .unmap()
            .map_err(capc_demo_user::Error::from);
        let charge = charge.take().ok_or(out_of_memory)?;
        debug_assert_eq!(charge.session(), session.id());
        self.open[i][index] = Some(OpenFile { file, charge });
        self.keep = Some(index);
        Ok(FilesOpenReply {
            fd: index as u32 + 1,
            size: bytes.len() as u64,
        })
    }

    fn read(&mut self, fd: u32, _session: &mut FilesSession) -> Result<FilesReadReply, FileError> {
        let index = self.lookup(fd)?;
        let i = self.current;
        let file = self.open[i][index].as_ref().map_or(0, |f| f.file);
        let size = FILES[file].1.len();
        let slots = self.slots[i];
        slots
            .take(&mut self.env, SELF, index as u64, PAGE)
            .map_err(|_| FileError::BadFile)?;
        let at = SCRATCH_VADDR[0];
        let mapped = capc_demo_user::caps::FrameCapClient(self.env.cap(PAGE))
            .map(PML4, at, Rights::READ.bits())
            .map_err(capc_demo_user::Error::from);
        let sum = mapped.map(|()| {
            // SAFETY: the page was just mapped there, readable.
            let bytes = unsafe { core::slice::from_raw_parts(at as *const u8, size) };
            checksum(bytes)
        });
        let _ = capc_demo_user::caps::FrameCapClient(self.env.cap(PAGE))
            .unmap()
            .map_err(capc_demo_user::Error::from);
        let kept = slots.keep(&mut self.env, CSPACE, PAGE, index as u64);
        match (sum, kept) {
            (Ok(checksum), Ok(())) => Ok(FilesReadReply {
                size: size as u64,
                checksum,
            }),
            _ => Err(FileError::BadFile),
        }
    }

    fn close(&mut self, fd: u32, session: &mut FilesSession) -> Result<(), FileError> {
        let index = self.lookup(fd)?;
        let i = self.current;
        let record = self.open[i][index].take().ok_or(FileError::BadFile)?;
        let _ = self.slots[i].destroy(&mut self.env, index as u64);
        session
            .refund(record.charge)
            .map_err(|_| FileError::BadFile)
    }
}

fn main(_: u64, _: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    let mut service = Service {
        // SAFETY: the root maps this task's IPC buffer there.
        env: unsafe { Env::new(ROOT_IPC_BUFFER) },
        current: 0,
        clients: [None; SESSIONS],
        slots: core::array::from_fn(|i| SessionSlots {
            donation: FIRST_FREE + 2 + 2 * i as u64,
            cnode: FIRST_FREE + 3 + 2 * i as u64,
        }),
        open: [const { [const { None }; RECORDS] }; SESSIONS],
        keep: None,
        made: 0,
        inside: 0,
    };
    let mut ledgers: [Option<FilesSession>; SESSIONS] = [const { None }; SESSIONS];
    let (used, size) = usage_of(BUDGET);
    let _ = writeln!(
        service.env,
        "fileserver: serving, the client pays; own budget: {used} of {size} bytes used"
    );
    loop {
        service.env.receive_caps_into(&[RECEIVED], 64);
        let message = match service.env.recv(ENDPOINT) {
            Ok(message) => message,
            Err(error) => {
                let _ = writeln!(service.env, "fileserver: receive failed: {error}");
                return 1;
            }
        };
        let client = message.badge;
        let mut msg = [0u64; target::MESSAGE_WORDS];
        msg[..message.info.length].copy_from_slice(&message.words[..message.info.length]);
        let mut caps = [RECEIVED, 0, 0];
        let mut words: (&str, u64, u64) = ("", 0, 0);
        let reply = match message.info.label {
            SESSION_OPEN => match service.open_session(client, &mut ledgers) {
                Ok((quota, used)) => {
                    words = ("session opened", quota, used);
                    msg[..2].copy_from_slice(&[quota, used]);
                    RpcInfo {
                        label: 0,
                        length: 2,
                        caps: 0,
                    }
                }
                Err(needed) => {
                    words = ("session refused", needed, 0);
                    msg[0] = needed;
                    RpcInfo {
                        label: SESSION_REFUSED,
                        length: 1,
                        caps: 0,
                    }
                }
            },
            SESSION_CLOSE => match service.close_session(client, &mut ledgers) {
                Some((quota, charged)) => {
                    words = ("session closed", quota, charged);
                    msg[..2].copy_from_slice(&[quota, charged]);
                    RpcInfo {
                        label: 0,
                        length: 2,
                        caps: 0,
                    }
                }
                None => RpcInfo {
                    label: SESSION_REFUSED,
                    length: 0,
                    caps: 0,
                },
            },
            label => match service.clients.iter().position(|c| *c == Some(client)) {
                Some(i) => {
                    service.current = i;
                    let info = RpcInfo {
                        label,
                        length: message.info.length,
                        caps: message.info.caps,
                    };
                    let session = ledgers[i].as_mut().expect("an open session has a ledger");
                    let reply = dispatch_files(&mut service, info, &mut msg, &mut caps, session);
                    let name = match FilesLabel::from_label(label) {
                        Some(FilesLabel::Open) => "open",
                        Some(FilesLabel::Read) => "read",
                        Some(FilesLabel::Close) => "close",
                        None => "an unknown call",
                    };
                    words = (name, session.used(), session.quota());
                    reply
                }
                None => RpcInfo {
                    label: SESSION_REFUSED,
                    length: 0,
                    caps: 0,
                },
            },
        };
        let keep = service
            .keep
            .take()
            .map(|index| (service.slots[service.current], index as u64));
        answer(
            &mut service.env,
            "fileserver",
            "the page",
            reply,
            &msg,
            &caps,
            keep,
            PAGE,
            [RECEIVED, PAGE],
        );
        let charged: u64 = ledgers.iter().flatten().map(FilesSession::used).sum();
        let held = service.held();
        let (used, size) = usage_of(BUDGET);
        let (made, inside) = (
            core::mem::take(&mut service.made),
            core::mem::take(&mut service.inside),
        );
        let env = &mut service.env;
        let _ = write!(env, "fileserver: client {client}: ");
        let _ = match (message.info.label, reply.label) {
            (SESSION_OPEN, 0) => write!(
                env,
                "session opened with a donation of {} bytes: {} charged at once (its CNode)",
                words.1, words.2
            ),
            (SESSION_OPEN, _) => {
                write!(env, "session refused: OutOfQuota {{ needed: {} }}", words.1)
            }
            (SESSION_CLOSE, 0) => write!(
                env,
                "session closed: {} bytes of quota returned, {} were charged; its donation revoked",
                words.1, words.2
            ),
            (_, SESSION_REFUSED) => write!(env, "refused: no session"),
            (_, label) => write!(
                env,
                "{}: {}; its session: {} of {} bytes charged",
                words.0,
                if label == 0 { "answered" } else { "refused" },
                words.1,
                words.2
            ),
        };
        end_line(env, charged, held, (used, size), (made, inside), true);
    }
}
