//! Sessions in generated code, against the reference interpreter: random
//! client sequences on examples/files.cap's file service (open sessions,
//! upgrade them, open, read and close files, close sessions) run through
//! the generated client stub, `dispatch_files`, `FilesSession` and
//! `FilesCharge` with a small file server, and through the interpreter's
//! session ledger (`capc_interp::session`). After every step both must
//! agree on the result (success, or the out-of-quota error with the same
//! `needed`, or the same refusal) and on every session's quota and charges,
//! and both must keep the invariants: the sum of the sessions' charges is
//! what the server holds for its clients (the generated side: each
//! session's record plus the charges the server keeps with its open files),
//! and no client sequence changes the server's own memory (the file server
//! takes nothing of its own for a client; the interpreter counts
//! server-paid bytes, of which files.cap has none). The same for the port of
//! Barrelfish's mem.if (examples/flounder/mem.cap), whose allocations are
//! sized by the client's `bits`: both sides charge the actual size.

use std::collections::BTreeMap;
use std::path::Path;

use capc_dsl::model::Spec;
use capc_generated_tests::files::*;
use capc_interp::OpError;
use capc_interp::session::{Backing, SessionId, Sessions};
use proptest::prelude::*;

type Words = [u64; target::MESSAGE_WORDS];
type Slots = [u64; target::CAPS_PER_MESSAGE];

fn spec() -> Spec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/files.cap");
    capc_dsl::compile(&path, &capc_dsl::FsLoader)
        .expect("readable")
        .spec
        .expect("files.cap checks clean")
}

/// A file server: the files that exist, and the open files of every
/// session, each with the charge that pays for its record.
#[derive(Default)]
struct Server {
    open: BTreeMap<u32, (u64, FilesCharge)>,
    next_fd: u32,
    /// Bytes of its own memory the server spent for clients: none, by
    /// construction of the spec; counted to show it stays so.
    own: u64,
}

impl Server {
    /// What the server holds for the clients of these sessions: each
    /// session's record and the records of its open files.
    fn held(&self, sessions: usize) -> u64 {
        sessions as u64 * FilesSession::KEEPS
            + self.open.values().map(|(_, c)| c.bytes()).sum::<u64>()
    }
}

impl FilesServer for Server {
    fn open(
        &mut self,
        name: Name,
        session: &mut FilesSession,
        charge: &mut Option<FilesCharge>,
    ) -> Result<FilesOpenReply, FileError> {
        if name.as_str() == "missing" {
            return Err(FileError::NotFound);
        }
        self.next_fd += 1;
        let charge = charge.take().expect("dispatch charged the record");
        self.open.insert(self.next_fd, (session.id(), charge));
        Ok(FilesOpenReply {
            fd: self.next_fd,
            size: name.len() as u64,
        })
    }

    fn read(
        &mut self,
        fd: u32,
        _offset: u64,
        pages: u8,
        session: &mut FilesSession,
    ) -> Result<FilesReadReply, FileError> {
        match self.open.get(&fd) {
            Some((owner, _)) if *owner == session.id() => Ok(FilesReadReply {
                read: u64::from(pages) * 4096,
            }),
            _ => Err(FileError::BadFile),
        }
    }

    fn close(&mut self, fd: u32, session: &mut FilesSession) -> Result<(), FileError> {
        match self.open.get(&fd) {
            Some((owner, _)) if *owner == session.id() => {
                let (_, charge) = self.open.remove(&fd).expect("present");
                session.refund(charge).expect("this session's charge");
                Ok(())
            }
            _ => Err(FileError::BadFile),
        }
    }
}

/// The server with the session of the client calling.
struct Loopback<'a> {
    server: &'a mut Server,
    session: &'a mut FilesSession,
}

impl Transport for Loopback<'_> {
    fn call(
        &mut self,
        info: MessageInfo,
        msg: &mut Words,
        caps_out: &[u64],
        caps_in: &mut Slots,
    ) -> MessageInfo {
        let mut caps = [0; target::CAPS_PER_MESSAGE];
        caps[..caps_out.len()].copy_from_slice(caps_out);
        let reply = dispatch_files(self.server, info, msg, &mut caps, self.session);
        caps_in[..reply.caps].copy_from_slice(&caps[..reply.caps]);
        reply
    }
}

/// What a step gave, comparable across the two sides.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    OutOfQuota(u64),
    Refused,
    Skipped,
}

fn interp(r: Option<Result<impl Sized, OpError>>) -> Outcome {
    match r.expect("the method exists") {
        Ok(_) => Outcome::Ok,
        Err(OpError::OutOfBudget { needed }) => Outcome::OutOfQuota(needed),
        Err(_) => Outcome::Refused,
    }
}

fn generated<T>(r: Result<T, CallError<FileError>>) -> Outcome {
    match r {
        Ok(_) => Outcome::Ok,
        Err(CallError::Server(FileError::OutOfQuota { needed })) => Outcome::OutOfQuota(needed),
        Err(_) => Outcome::Refused,
    }
}

#[derive(Clone, Debug)]
enum Op {
    Open(usize, u64),
    Upgrade(usize, u64),
    Close(usize),
    OpenFile(usize),
    Read(usize, usize, u8),
    CloseFile(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0usize..3, 4096u64..32768).prop_map(|(c, b)| Op::Open(c, b)),
        1 => (0usize..3, 0u64..16384).prop_map(|(c, b)| Op::Upgrade(c, b)),
        1 => (0usize..3).prop_map(Op::Close),
        4 => (0usize..3).prop_map(Op::OpenFile),
        1 => (0usize..3, 0usize..8, 0u8..20).prop_map(|(c, f, p)| Op::Read(c, f, p)),
        2 => (0usize..3, 0usize..8).prop_map(|(c, f)| Op::CloseFile(c, f)),
    ]
}

/// One client on both sides: its generated session and interpreter
/// session, and its open files (generated fd, interpreter handle).
struct Client {
    session: FilesSession,
    id: SessionId,
    files: Vec<(u32, u64)>,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn generated_sessions_agree_with_the_interpreter(ops in prop::collection::vec(op(), 1..80)) {
        let spec = spec();
        let mut ledger = Sessions::new(&spec);
        let mut server = Server::default();
        let mut clients: [Option<Client>; 3] = [None, None, None];
        let mut next_id = 1;
        for op in ops {
            let (want, got) = match op {
                Op::Open(c, bytes) => {
                    if clients[c].is_some() {
                        (Outcome::Skipped, Outcome::Skipped)
                    } else {
                        let want = ledger.open("Files", "client", Backing::Quota("client".into()), bytes);
                        let got = FilesSession::open(next_id, Donation::quota(bytes));
                        next_id += 1;
                        let outcome = match (&want, &got) {
                            (Some(Ok(_)), Ok(_)) => Outcome::Ok,
                            (_, Err(FileError::OutOfQuota { needed })) => Outcome::OutOfQuota(*needed),
                            _ => Outcome::Refused,
                        };
                        let w = interp(want);
                        if let (Some(Ok(id)), Ok(session)) = (want, got) {
                            clients[c] = Some(Client { session, id, files: Vec::new() });
                        }
                        (w, outcome)
                    }
                }
                Op::Upgrade(c, bytes) => match &mut clients[c] {
                    Some(client) => (
                        interp(Some(ledger.upgrade(client.id, bytes))),
                        match client.session.upgrade(Donation::quota(bytes)) {
                            Ok(()) => Outcome::Ok,
                            Err(_) => Outcome::Refused,
                        },
                    ),
                    None => (Outcome::Skipped, Outcome::Skipped),
                },
                Op::Close(c) => match clients[c].take() {
                    Some(client) => {
                        // Closing reclaims what the session held: the
                        // server forgets its open files.
                        server.open.retain(|_, (owner, _)| *owner != client.session.id());
                        let quota = client.session.close();
                        prop_assert_eq!(ledger.close(client.id), Ok(quota));
                        (Outcome::Ok, Outcome::Ok)
                    }
                    None => (Outcome::Skipped, Outcome::Skipped),
                },
                Op::OpenFile(c) => match &mut clients[c] {
                    Some(client) => {
                        let want = ledger.call(client.id, "Files", "open", &[0]);
                        let handle = match &want {
                            Some(Ok(out)) => Some(out.handles[0].1),
                            _ => None,
                        };
                        let mut stub = FilesClient::new(Loopback {
                            server: &mut server,
                            session: &mut client.session,
                        });
                        let got = stub.open(Name::new("notes").unwrap());
                        if let (Ok(reply), Some(handle)) = (&got, handle) {
                            client.files.push((reply.fd, handle));
                        }
                        (interp(want), generated(got))
                    }
                    None => (Outcome::Skipped, Outcome::Skipped),
                },
                Op::Read(c, f, pages) => match &mut clients[c] {
                    Some(client) if !client.files.is_empty() => {
                        let (fd, _) = client.files[f % client.files.len()];
                        let want = ledger.call(client.id, "Files", "read", &[0, 0, u64::from(pages)]);
                        let mut stub = FilesClient::new(Loopback {
                            server: &mut server,
                            session: &mut client.session,
                        });
                        (interp(want), generated(stub.read(fd, 0, pages)))
                    }
                    _ => (Outcome::Skipped, Outcome::Skipped),
                },
                Op::CloseFile(c, f) => match &mut clients[c] {
                    Some(client) if !client.files.is_empty() => {
                        let (fd, handle) = client.files.remove(f % client.files.len());
                        let want = ledger.call(client.id, "Files", "close", &[handle]);
                        let mut stub = FilesClient::new(Loopback {
                            server: &mut server,
                            session: &mut client.session,
                        });
                        (interp(want), generated(stub.close(fd)))
                    }
                    _ => (Outcome::Skipped, Outcome::Skipped),
                },
            };
            prop_assert_eq!(&want, &got, "{:?}", op);
            let open: Vec<&Client> = clients.iter().flatten().collect();
            for client in &open {
                let s = &ledger.open[&client.id];
                prop_assert_eq!(client.session.quota(), s.quota);
                prop_assert_eq!(client.session.used(), s.used());
                prop_assert!(client.session.used() <= client.session.quota());
            }
            // The sum of the sessions' charges is what the server holds
            // for its clients, on both sides.
            let charged: u64 = open.iter().map(|c| c.session.used()).sum();
            prop_assert_eq!(charged, server.held(open.len()));
            prop_assert!(ledger.balanced());
            prop_assert_eq!(ledger.held, charged);
            // No client sequence changes the server's own memory.
            prop_assert_eq!(server.own, 0);
            prop_assert_eq!(ledger.server_own, 0);
        }
    }
}

#[test]
fn a_hostile_client_exhausts_only_its_own_quota() {
    let mut server = Server::default();
    let mut good = FilesSession::open(1, Donation::quota(8192)).unwrap();
    let mut bad = FilesSession::open(2, Donation::quota(8192)).unwrap();
    let mut opened = 0;
    loop {
        let mut stub = FilesClient::new(Loopback {
            server: &mut server,
            session: &mut bad,
        });
        match stub.open(Name::new("x").unwrap()) {
            Ok(_) => opened += 1,
            Err(e) => {
                assert_eq!(e, CallError::Server(FileError::OutOfQuota { needed: 256 }));
                break;
            }
        }
    }
    // 8192 bytes: the session's 128-byte record and 31 files of 256.
    assert_eq!((opened, bad.used()), (31, 128 + 31 * 256));
    let mut stub = FilesClient::new(Loopback {
        server: &mut server,
        session: &mut good,
    });
    let fd = stub.open(Name::new("mine").unwrap()).unwrap().fd;
    assert_eq!(
        stub.read(fd, 0, 0),
        Err(CallError::Refused(ProtocolError::InvalidArgument {
            index: 2
        }))
    );
    stub.close(fd).unwrap();
    assert_eq!(good.used(), FilesSession::KEEPS);
    // Closing the hostile session returns every byte of its quota.
    server.open.retain(|_, (owner, _)| *owner != bad.id());
    assert_eq!(bad.close(), 8192);
    assert_eq!(server.held(1), good.used());
}

/// Barrelfish's memory server as ported (examples/flounder/mem.cap): RAM
/// sized by the client's `bits`, charged to its session with the server's
/// record until `free_monitor` takes it back. Every allocation succeeds
/// (the interpreter's ledger does not model the server's own failures).
mod mem {
    use super::*;
    use capc_generated_tests::flounder_mem::{
        CallError, Donation, MemAllocateReply, MemAvailableReply, MemCharge, MemClient, MemError,
        MemFreeMonitorReply, MemServer, MemSession, MemStealReply, MessageInfo, RAM, Slot,
        Transport, target,
    };

    #[derive(Default)]
    pub struct Server {
        next_slot: u64,
        /// Each cap handed out, with its session and charge.
        pub held: BTreeMap<u64, (u64, MemCharge)>,
    }

    impl Server {
        fn hand_out(&mut self, session: &MemSession, charge: &mut Option<MemCharge>) -> u64 {
            self.next_slot += 1;
            let charge = charge.take().expect("charged");
            self.held.insert(self.next_slot, (session.id(), charge));
            self.next_slot
        }
    }

    impl MemServer for Server {
        fn allocate(
            &mut self,
            _bits: u8,
            _minbase: u64,
            _maxlimit: u64,
            session: &mut MemSession,
            charge: &mut Option<MemCharge>,
        ) -> Result<MemAllocateReply, MemError> {
            Ok(MemAllocateReply {
                ret: 0,
                mem_cap: Some(Slot::new(self.hand_out(session, charge))),
            })
        }

        fn steal(
            &mut self,
            _bits: u8,
            _minbase: u64,
            _maxlimit: u64,
            session: &mut MemSession,
            charge: &mut Option<MemCharge>,
        ) -> Result<MemStealReply, MemError> {
            Ok(MemStealReply {
                ret: 0,
                mem_cap: Some(Slot::new(self.hand_out(session, charge))),
            })
        }

        fn available(&mut self, _session: &mut MemSession) -> Result<MemAvailableReply, MemError> {
            Ok(MemAvailableReply {
                mem_avail: 0,
                mem_total: 0,
            })
        }

        fn free_monitor(
            &mut self,
            mem_cap: Slot<RAM>,
            _base: u64,
            _bits: u8,
            session: &mut MemSession,
        ) -> Result<MemFreeMonitorReply, MemError> {
            match self.held.get(&mem_cap.index()) {
                Some((owner, _)) if *owner == session.id() => {
                    let (_, charge) = self.held.remove(&mem_cap.index()).expect("held");
                    session.refund(charge).expect("this session's");
                    Ok(MemFreeMonitorReply { err: 0 })
                }
                // mem.if's errval: not a RAM this session holds.
                _ => Ok(MemFreeMonitorReply { err: 1 }),
            }
        }
    }

    pub struct Loopback<'a> {
        pub server: &'a mut Server,
        pub session: &'a mut MemSession,
    }

    impl Transport for Loopback<'_> {
        fn call(
            &mut self,
            info: MessageInfo,
            msg: &mut [u64; target::MESSAGE_WORDS],
            caps_out: &[u64],
            caps_in: &mut [u64; target::CAPS_PER_MESSAGE],
        ) -> MessageInfo {
            let mut caps = [0; target::CAPS_PER_MESSAGE];
            caps[..caps_out.len()].copy_from_slice(caps_out);
            // The kernel holds a RAM cap in each slot the server handed out.
            let handed: Vec<u64> = self.server.held.keys().copied().collect();
            let ram = RAM::new(0x100_0000, 0x1000, 0, 0).expect("a RAM cap").cap();
            let reply = capc_generated_tests::flounder_mem::dispatch_mem(
                self.server,
                info,
                msg,
                &mut caps,
                self.session,
                |slot| handed.contains(&slot).then_some(ram),
            );
            caps_in[..reply.caps].copy_from_slice(&caps[..reply.caps]);
            reply
        }
    }

    pub fn outcome<T>(r: Result<T, CallError<MemError>>) -> Outcome {
        match r {
            Ok(_) => Outcome::Ok,
            Err(CallError::Server(MemError::OutOfQuota { needed })) => Outcome::OutOfQuota(needed),
            Err(_) => Outcome::Refused,
        }
    }

    pub fn session(id: u64, bytes: u64) -> Option<MemSession> {
        MemSession::open(id, Donation::quota(bytes)).ok()
    }

    pub fn client<'a>(
        server: &'a mut Server,
        session: &'a mut MemSession,
    ) -> MemClient<Loopback<'a>> {
        MemClient::new(Loopback { server, session })
    }
}

#[derive(Clone, Debug)]
enum MemOp {
    Allocate(u8),
    Steal(u8),
    Free(usize),
    Upgrade(u64),
}

fn mem_op() -> impl Strategy<Value = MemOp> {
    prop_oneof![
        3 => (8u8..24).prop_map(MemOp::Allocate),
        1 => (8u8..24).prop_map(MemOp::Steal),
        2 => (0usize..8).prop_map(MemOp::Free),
        1 => (0u64..1 << 20).prop_map(MemOp::Upgrade),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    /// The charge of an allocation is the RAM of the `bits` asked for and
    /// the server's record, on both sides, whatever the sequence.
    #[test]
    fn generated_mem_sessions_agree_with_the_interpreter(
        quota in 65536u64..1 << 22,
        ops in prop::collection::vec(mem_op(), 1..60),
    ) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/flounder/mem.cap");
        let spec = capc_dsl::compile(&path, &capc_dsl::FsLoader)
            .expect("readable")
            .spec
            .expect("mem.cap checks clean");
        let mut ledger = Sessions::new(&spec);
        let id = ledger.open("Mem", "client", Backing::Quota("client".into()), quota).unwrap().unwrap();
        let mut session = mem::session(7, quota).expect("at least the least quota");
        let mut server = mem::Server::default();
        // Caps handed out: (generated slot, interpreter handle).
        let mut caps: Vec<(u64, u64)> = Vec::new();
        for op in ops {
            let (want, got) = match op {
                MemOp::Allocate(bits) | MemOp::Steal(bits) => {
                    let name = if matches!(op, MemOp::Allocate(_)) { "allocate" } else { "steal" };
                    let want = ledger.call(id, "Mem", name, &[u64::from(bits), 0, u64::MAX]);
                    let handle = match &want {
                        Some(Ok(out)) => Some(out.handles[0].1),
                        _ => None,
                    };
                    let mut c = mem::client(&mut server, &mut session);
                    let got = if name == "allocate" {
                        c.allocate(bits, 0, u64::MAX).map(|r| r.mem_cap)
                    } else {
                        c.steal(bits, 0, u64::MAX).map(|r| r.mem_cap)
                    };
                    if let (Ok(Some(slot)), Some(handle)) = (&got, handle) {
                        caps.push((slot.index(), handle));
                    }
                    (interp(want), mem::outcome(got))
                }
                MemOp::Free(k) if !caps.is_empty() => {
                    let (slot, handle) = caps.remove(k % caps.len());
                    let want = ledger.call(id, "Mem", "free_monitor", &[handle, 0, 0]);
                    let got = mem::client(&mut server, &mut session).free_monitor(capc_generated_tests::flounder_mem::Slot::new(slot), 0, 0);
                    // A nonzero errval is the server refusing the RAM.
                    let got = match got {
                        Ok(reply) if reply.err != 0 => Outcome::Refused,
                        other => mem::outcome(other),
                    };
                    (interp(want), got)
                }
                MemOp::Free(_) => (Outcome::Skipped, Outcome::Skipped),
                MemOp::Upgrade(bytes) => {
                    let want = interp(Some(ledger.upgrade(id, bytes)));
                    let got = match session.upgrade(capc_generated_tests::flounder_mem::Donation::quota(bytes)) {
                        Ok(()) => Outcome::Ok,
                        Err(_) => Outcome::Refused,
                    };
                    (want, got)
                }
            };
            prop_assert_eq!(&want, &got, "{:?}", op);
            prop_assert_eq!(session.used(), ledger.open[&id].used());
            prop_assert_eq!(session.quota(), ledger.open[&id].quota);
            // What the server holds for its client is what the session is
            // charged: its record and each cap's charge.
            let held: u64 = server.held.values().map(|(_, c)| c.bytes()).sum();
            prop_assert_eq!(session.used(), 64 + held);
            prop_assert!(ledger.balanced());
        }
    }
}
