//! The caps of an RPC, as everything.cap's `FileService` and `HandOver`
//! send them (docs/language.md, `interface`, "What a client sends" and
//! "Typed caps"):
//!
//! - dispatch checks the caps a server receives before the server runs: a
//!   cap of another type than its parameter's, or without a right the
//!   parameter declares, is refused with `ProtocolError::InvalidArgument`
//!   at that parameter's index, and the client gets the refusal; a donated
//!   Untyped of the wrong type likewise;
//! - the client never sends more than the method declares: a lent cap, and
//!   a granted or moved cap whose parameter names rights, travel as a copy
//!   minted with those rights; a lent copy is taken back (revoked and
//!   deleted) and a granted copy deleted once the call returned, however it
//!   went; a moved cap is deleted once the call succeeded, and only then.

use std::collections::BTreeMap;

use capc_generated_tests::everything::*;

#[macro_use]
#[path = "support/cspace.rs"]
mod support;
cspace!(capc_generated_tests::everything);

type Words = [u64; target::MESSAGE_WORDS];
type Slots = [u64; target::CAPS_PER_MESSAGE];

fn endpoint(rights: Rights) -> Cap {
    EndpointCap::new(0x1000, rights, 0).unwrap().cap()
}

fn frame(rights: Rights) -> Cap {
    FrameCap::new(0x20_0000, 12, rights, false, 0, 0)
        .unwrap()
        .cap()
}

/// The caps the test's "kernel" put in the server's receive slots.
fn held() -> BTreeMap<u64, Cap> {
    BTreeMap::from([
        (10, endpoint(Rights::READ.union(Rights::WRITE))),
        (11, endpoint(Rights::WRITE)),
        (12, endpoint(Rights::READ)),
        (13, frame(FrameCap::VALID_RIGHTS)),
        (14, UntypedCap::new(0x40_0000, 21, 0).unwrap().cap()),
    ])
}

/// A server that must never run: the test asks only what dispatch refuses.
struct Unreachable;

impl FileServiceServer for Unreachable {
    fn open(
        &mut self,
        _: [u8; 32],
        _: bool,
        _: &mut FileServiceOpenBudget,
    ) -> Result<FileServiceOpenReply, FileError> {
        unreachable!("refused before the server runs")
    }

    fn read(
        &mut self,
        _: Slot<EndpointCap>,
        _: u64,
        _: u64,
        _: [bool; 3],
        _: &mut FileServiceReadBudget,
    ) -> Result<FileServiceReadReply, FileError> {
        unreachable!("refused before the server runs")
    }

    fn share_buffer(
        &mut self,
        _: Slot<EndpointCap>,
        _: &mut FileServiceShareBufferBudget,
    ) -> Result<FileServiceShareBufferReply, FileError> {
        unreachable!("refused before the server runs")
    }

    fn stats(&mut self) -> Result<FileServiceStatsReply, FileError> {
        unreachable!("refused before the server runs")
    }
}

/// A server loop: the kernel copies the sent caps into the server's
/// receive slots (here, the same numbers) and dispatch checks them.
struct Checking {
    held: BTreeMap<u64, Cap>,
    checked: u32,
}

impl Transport for Checking {
    fn call(
        &mut self,
        info: MessageInfo,
        msg: &mut Words,
        caps_out: &[u64],
        _caps_in: &mut Slots,
    ) -> MessageInfo {
        self.checked += 1;
        let mut caps = [0; target::CAPS_PER_MESSAGE];
        caps[..caps_out.len()].copy_from_slice(caps_out);
        let held = &self.held;
        dispatch_file_service(
            &mut Unreachable,
            info,
            msg,
            &mut caps,
            Donation::NONE,
            |slot| held.get(&slot).copied(),
        )
    }

    /// The test sends the caps it names as they are, to see what the
    /// server does with them.
    fn mint(&mut self, slot: u64, _: Rights) -> Option<u64> {
        Some(slot)
    }
}

#[test]
fn a_cap_of_the_declared_type_and_rights_passes() {
    let held = held();
    let get = |slot: u64| held.get(&slot).copied();
    // `read` lends an `EndpointCap(read)` and donates an `UntypedCap`:
    // one with read and write, or read alone, passes.
    assert_eq!(
        FileServiceLabel::Read.caps(),
        &[
            (0, Some(CapType::EndpointCap), Rights::READ),
            (4, Some(CapType::UntypedCap), Rights::NONE)
        ]
    );
    assert_eq!(FileServiceLabel::Read.check_caps(&[10, 14], get), Ok(()));
    assert_eq!(FileServiceLabel::Read.check_caps(&[12, 14], get), Ok(()));
    // A method that carries no caps checks nothing.
    assert_eq!(FileServiceLabel::Stats.check_caps(&[], get), Ok(()));
}

#[test]
fn the_wrong_type_or_too_few_rights_is_refused_with_the_parameter() {
    let held = held();
    let get = |slot: u64| held.get(&slot).copied();
    // Too few rights: write alone where read is declared.
    assert_eq!(
        FileServiceLabel::Read.check_caps(&[11, 14], get),
        Err(ProtocolError::InvalidArgument { index: 0 })
    );
    // The wrong type: a frame where an endpoint is declared.
    assert_eq!(
        FileServiceLabel::Read.check_caps(&[13, 14], get),
        Err(ProtocolError::InvalidArgument { index: 0 })
    );
    // A donation of the wrong type: its index is one past the parameters.
    assert_eq!(
        FileServiceLabel::Read.check_caps(&[10, 13], get),
        Err(ProtocolError::InvalidArgument { index: 4 })
    );
    // An empty slot, and a cap missing from the message.
    assert_eq!(
        FileServiceLabel::Read.check_caps(&[99, 14], get),
        Err(ProtocolError::InvalidArgument { index: 0 })
    );
    assert_eq!(
        FileServiceLabel::Read.check_caps(&[10], get),
        Err(ProtocolError::Truncated)
    );
}

#[test]
fn dispatch_refuses_before_the_server_runs_and_the_client_gets_the_refusal() {
    let mut client = FileServiceClient::new(Checking {
        held: held(),
        checked: 0,
    });
    assert_eq!(
        client.read(Slot::new(11), 0, 8, [false; 3], Slot::new(14)),
        Err(CallError::Refused(ProtocolError::InvalidArgument {
            index: 0
        }))
    );
    assert_eq!(
        client.read(Slot::new(13), 0, 8, [false; 3], Slot::new(14)),
        Err(CallError::Refused(ProtocolError::InvalidArgument {
            index: 0
        }))
    );
    // `share_buffer` donates a `DeviceUntypedCap`: an `UntypedCap` is not one.
    assert_eq!(
        client.share_buffer(Slot::new(10), Slot::new(14)),
        Err(CallError::Refused(ProtocolError::InvalidArgument {
            index: 1
        }))
    );
    assert_eq!(client.transport().checked, 3);
}

/// The `HandOver` server: records what it received and moves `BACK` out.
#[derive(Default)]
struct Taker {
    got: Vec<(u64, u64)>,
    refuse: bool,
}

const BACK: u64 = 30;

impl HandOverServer for Taker {
    fn give(
        &mut self,
        endpoint: Slot<EndpointCap>,
        frame: Slot<FrameCap>,
    ) -> Result<HandOverGiveReply, HandOverError> {
        self.got.push((endpoint.index(), frame.index()));
        if self.refuse {
            return Err(HandOverError::Refused);
        }
        Ok(HandOverGiveReply {
            back: Slot::new(BACK),
        })
    }
}

/// A loopback over one CSpace the client and the server share.
struct Loopback {
    server: Taker,
    kernel: CSpace,
}

impl Transport for Loopback {
    fn call(
        &mut self,
        info: MessageInfo,
        msg: &mut Words,
        caps_out: &[u64],
        caps_in: &mut Slots,
    ) -> MessageInfo {
        let mut caps = [0; target::CAPS_PER_MESSAGE];
        caps[..caps_out.len()].copy_from_slice(caps_out);
        let kernel = &self.kernel;
        let reply = dispatch_hand_over(&mut self.server, info, msg, &mut caps, |slot| {
            kernel.held(slot)
        });
        caps_in[..reply.caps].copy_from_slice(&caps[..reply.caps]);
        reply
    }

    minting_through!(kernel);
}

const ENDPOINT: u64 = 1;
const FRAME: u64 = 2;

fn hand_over(refuse: bool) -> HandOverClient<Loopback> {
    HandOverClient::new(Loopback {
        server: Taker {
            refuse,
            ..Taker::default()
        },
        kernel: CSpace::with([
            (ENDPOINT, endpoint(Rights::ALL)),
            (FRAME, frame(FrameCap::VALID_RIGHTS)),
            (BACK, frame(Rights::READ)),
        ]),
    })
}

#[test]
fn a_granted_cap_with_rights_travels_as_a_copy_with_exactly_those() {
    let mut c = hand_over(false);
    assert_eq!(
        c.give(Slot::new(ENDPOINT), Slot::new(FRAME)),
        Ok(HandOverGiveReply {
            back: Slot::new(BACK)
        })
    );
    let t = c.transport();
    // The endpoint went as a write-only copy; the frame, which names no
    // rights, as the caller's own cap.
    assert_eq!(t.kernel.minted, [(ENDPOINT, FIRST_COPY, Rights::WRITE)]);
    assert_eq!(t.server.got, [(FIRST_COPY, FRAME)]);
    // The copy is deleted once the call returned (the server's copy, in a
    // real kernel derived from it, stays); the caller keeps its endpoint.
    assert_eq!(t.kernel.copies_left(), [0u64; 0]);
    assert!(t.kernel.caps.contains_key(&ENDPOINT));
}

#[test]
fn a_moved_cap_is_deleted_once_the_call_succeeded_and_only_then() {
    let mut c = hand_over(true);
    assert_eq!(
        c.give(Slot::new(ENDPOINT), Slot::new(FRAME)),
        Err(CallError::Server(HandOverError::Refused))
    );
    // Refused: the caller keeps its frame; the granted copy is gone anyway.
    assert!(c.transport().kernel.caps.contains_key(&FRAME));
    assert_eq!(c.transport().kernel.deleted, [FIRST_COPY]);
    c.transport().server.refuse = false;
    assert!(c.give(Slot::new(ENDPOINT), Slot::new(FRAME)).is_ok());
    assert!(!c.transport().kernel.caps.contains_key(&FRAME));
    assert_eq!(
        c.transport().kernel.deleted,
        [FIRST_COPY, FIRST_COPY, FRAME]
    );
    // The server's side: `back` is moved, so its runtime deletes its own
    // once the reply is sent.
    assert_eq!(HandOverLabel::Give.moved_results(), [0]);
}

#[test]
fn a_cap_without_the_declared_rights_is_refused_by_dispatch() {
    let mut c = hand_over(false);
    // The caller's endpoint has no `write`: its copy has none either (a
    // mint never adds a right), and the server never sees it.
    c.transport()
        .kernel
        .caps
        .insert(ENDPOINT, endpoint(Rights::READ));
    assert_eq!(
        c.give(Slot::new(ENDPOINT), Slot::new(FRAME)),
        Err(CallError::Refused(ProtocolError::InvalidArgument {
            index: 0
        }))
    );
    assert!(c.transport().server.got.is_empty());
    assert_eq!(c.transport().kernel.copies_left(), [0u64; 0]);
    assert!(
        c.transport().kernel.caps.contains_key(&FRAME),
        "a refused call moves nothing"
    );
    // A transport that cannot mint sends nothing.
    c.transport().kernel.caps.remove(&ENDPOINT);
    assert_eq!(
        c.give(Slot::new(ENDPOINT), Slot::new(FRAME)),
        Err(CallError::NotMinted)
    );
}
