//! The caps a server receives are checked before it runs
//! (`<Iface>Label::check_caps`, everything.cap's `FileService`): a cap of
//! another type than its parameter's, or without a right the parameter
//! declares, is refused with `ProtocolError::InvalidArgument` at that
//! parameter's index, and the client gets the refusal; a donated Untyped of
//! the wrong type likewise.

use std::collections::BTreeMap;

use capc_generated_tests::everything::*;

type Words = [u64; target::MESSAGE_WORDS];
type Slots = [u64; target::CAPS_PER_MESSAGE];

/// The caps the test's "kernel" put in the server's receive slots.
fn held() -> BTreeMap<u64, Cap> {
    let endpoint = |rights| EndpointCap::new(0x1000, rights, 0).unwrap().cap();
    BTreeMap::from([
        (10, endpoint(Rights::READ.union(Rights::WRITE))),
        (11, endpoint(Rights::WRITE)),
        (12, endpoint(Rights::READ)),
        (
            13,
            FrameCap::new(0x20_0000, 12, FrameCap::VALID_RIGHTS, false, 0, 0)
                .unwrap()
                .cap(),
        ),
        (14, UntypedCap::new(0x40_0000, 21, 0).unwrap().cap()),
    ])
}

/// A server loop's first step: checks the received caps and answers the
/// refusal, as docs/language.md says a server does before dispatch. It
/// never calls a server method: the test asks only what is refused.
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
        let label = FileServiceLabel::from_label(info.label).expect("a label");
        self.checked += 1;
        match label.check_caps(caps_out, |slot| self.held.get(&slot).copied()) {
            Err(refusal) => refusal.encode(msg),
            Ok(()) => panic!("the test sends only caps the server refuses"),
        }
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
            (0, CapType::EndpointCap, Rights::READ),
            (4, CapType::UntypedCap, Rights::NONE)
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
fn the_client_gets_the_refusal() {
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
