//! Sessions in generated code, against the reference interpreter: random
//! client sequences on examples/files.cap's file service (open sessions,
//! upgrade them, open, read and close files, close sessions) run through
//! the generated client stub, `dispatch_files`, `FilesSession` and
//! `FilesCharge` with a small file server, and through the interpreter's
//! session ledger (`capc_dsl::interp::session`). After every step both must
//! agree on the result (success, or the out-of-quota error with the same
//! `needed`, or the same refusal) and on every session's quota and charges,
//! and both must keep the invariants: the sum of the sessions' charges is
//! what the server holds for its clients (the generated side: each
//! session's record plus the charges the server keeps with its open files),
//! and no client sequence changes the server's own memory (the file server
//! takes nothing of its own for a client; the interpreter counts
//! server-paid bytes, of which files.cap has none).

use std::collections::BTreeMap;
use std::path::Path;

use capc_dsl::interp::OpError;
use capc_dsl::interp::session::{Backing, SessionId, Sessions};
use capc_dsl::model::Spec;
use capc_generated_tests::files::*;
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
        1 => (0usize..3, 2048u64..16384).prop_map(|(c, b)| Op::Open(c, b)),
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
    let mut good = FilesSession::open(1, Donation::quota(4096)).unwrap();
    let mut bad = FilesSession::open(2, Donation::quota(4096)).unwrap();
    let mut opened = 0;
    loop {
        let mut stub = FilesClient::new(Loopback {
            server: &mut server,
            session: &mut bad,
        });
        match stub.open(Name::new("x").unwrap()) {
            Ok(_) => opened += 1,
            Err(e) => {
                assert_eq!(e, CallError::Server(FileError::OutOfQuota { needed: 96 }));
                break;
            }
        }
    }
    // 4096 bytes: the session's 128-byte record and 41 files of 96.
    assert_eq!((opened, bad.used()), (41, 128 + 41 * 96));
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
    assert_eq!(bad.close(), 4096);
    assert_eq!(server.held(1), good.used());
}
