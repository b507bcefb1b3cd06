//! Message types as generated for examples/messages.cap.
//!
//! - A loopback `Transport` runs each client method against
//!   `dispatch_directory` and an in-test server: every value of every new
//!   type arrives exactly as sent and comes back exactly as returned, the
//!   boundary values included (each integer's minimum and maximum, the
//!   longest string in multi-byte UTF-8, the empty string, empty and full
//!   bounded arrays, each enum variant, `None` and `Some`, a record of no
//!   bytes).
//! - The wire layout is the documented one: packed, little-endian, the
//!   fields in order at the offsets the sizes of the ones before give.
//! - Every malformed value (a `bool` of 2, an enum number no variant has, a
//!   length over its bound, text that is not UTF-8, a nonzero unused byte)
//!   makes the request `InvalidArgument` with the parameter's index, and the
//!   reply `BadReply(InvalidResult)`, and the server is not called: no
//!   panic, whatever the words (proptest).
//! - The one-way `note` goes through the transport's `send`: the server
//!   sees it, dispatch produces no reply (`None`), even for a malformed
//!   one, and a transport that cannot send is `SendError::NotSent`.

use capc_generated_tests::messages::*;
use proptest::prelude::*;

#[macro_use]
#[path = "support/cspace.rs"]
mod support;
cspace!(capc_generated_tests::messages);

/// The frames `mixed` lends (slots 40 to 59), readable and writable.
fn kernel() -> CSpace {
    CSpace::with((40..60).map(|slot| {
        let frame = FrameCap::new(slot << 12, Rights::READ.union(Rights::WRITE));
        (slot, frame.unwrap().cap())
    }))
}

type Words = [u64; target::MESSAGE_WORDS];
type Slots = [u64; target::CAPS_PER_MESSAGE];

fn name(text: &str) -> Name {
    Name::new(text).expect("fits")
}

/// The directory server: entries in order, at most `LIMIT`.
#[derive(Default)]
struct Dir {
    entries: Vec<Entry>,
    calls: usize,
    /// The frame slot `mixed` was lent.
    lent: Option<u64>,
    /// The one-way notes, in order.
    notes: Vec<(u8, Name)>,
    /// What `limit` set last.
    limits: Option<(Percent, BoundedArray<Copies, 2>)>,
}

/// Dispatches a call's request: a call is always answered. `kernel` holds
/// the caps it carries.
fn answer(
    server: &mut Dir,
    info: MessageInfo,
    msg: &mut Words,
    caps: &mut Slots,
    kernel: &CSpace,
) -> MessageInfo {
    dispatch_directory(server, info, msg, caps, |slot| kernel.held(slot))
        .expect("a call is answered")
}

const LIMIT: u64 = 8;

impl DirectoryServer for Dir {
    fn insert(&mut self, entry: Entry) -> Result<DirectoryInsertReply, DirError> {
        self.calls += 1;
        if self.entries.len() as u64 == LIMIT {
            return Err(DirError::Full { limit: LIMIT });
        }
        self.entries.push(entry);
        Ok(DirectoryInsertReply {
            count: self.entries.len() as u32,
        })
    }

    fn lookup(&mut self, name: Name) -> Result<DirectoryLookupReply, DirError> {
        self.calls += 1;
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| DirectoryLookupReply { entry: *e })
            .ok_or(DirError::NotFound)
    }

    fn list(&mut self, start: u32) -> Result<DirectoryListReply, DirError> {
        self.calls += 1;
        let rest = self.entries.get(start as usize..).unwrap_or(&[]);
        let page = &rest[..rest.len().min(4)];
        Ok(DirectoryListReply {
            entries: BoundedArray::new(page).expect("at most 4"),
            more: rest.len() > 4,
        })
    }

    fn invert(&mut self, w: Widths, pair: [i32; 2]) -> Result<DirectoryInvertReply, DirError> {
        self.calls += 1;
        Ok(DirectoryInvertReply {
            inverted: invert(w),
            pair_inverted: pair.map(|v| !v),
        })
    }

    fn mixed(
        &mut self,
        maybe: Option<Kind>,
        unit: Unit,
        count: u64,
        flags: [bool; 3],
        frame: Slot<FrameCap>,
        bytes: BoundedArray<u8, 64>,
    ) -> Result<DirectoryMixedReply, DirError> {
        self.calls += 1;
        self.lent = Some(frame.index());
        Ok(DirectoryMixedReply {
            maybe_back: maybe,
            unit_back: unit,
            count_back: count,
            flags_back: flags,
            bytes_back: bytes,
        })
    }

    fn note(&mut self, level: u8, text: Name) {
        self.calls += 1;
        self.notes.push((level, text));
    }

    fn limit(
        &mut self,
        full: Percent,
        copies: BoundedArray<Copies, 2>,
    ) -> Result<DirectoryLimitReply, DirError> {
        self.calls += 1;
        let was = self.limits.replace((full, copies));
        Ok(DirectoryLimitReply {
            was: was.map_or(Percent::new(100).expect("in range"), |(p, _)| p),
            copies_were: was.and_then(|(_, c)| c.as_slice().last().copied()),
        })
    }

    fn scale(&mut self, factor: f32, point: Point) -> Result<DirectoryScaleReply, DirError> {
        self.calls += 1;
        let f = f64::from(factor);
        Ok(DirectoryScaleReply {
            scaled: Point {
                x: point.x * f,
                y: point.y * f,
            },
            factor_back: factor,
        })
    }
}

fn invert(w: Widths) -> Widths {
    Widths {
        a: !w.a,
        b: !w.b,
        c: !w.c,
        d: !w.d,
        e: !w.e,
        f: !w.f,
        g: !w.g,
        h: !w.h,
        w: !w.w,
    }
}

/// A fake kernel between the client and the server: copies the caps.
struct Loopback {
    server: Dir,
    kernel: CSpace,
    /// What dispatch returned for each one-way message sent.
    sent: Vec<Option<MessageInfo>>,
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
        let reply = answer(&mut self.server, info, msg, &mut caps, &self.kernel);
        caps_in[..reply.caps].copy_from_slice(&caps[..reply.caps]);
        reply
    }

    fn send(&mut self, info: MessageInfo, msg: &Words, caps_out: &[u64]) -> bool {
        let mut msg = *msg;
        let mut caps = [0; target::CAPS_PER_MESSAGE];
        caps[..caps_out.len()].copy_from_slice(caps_out);
        let reply = dispatch_directory(&mut self.server, info, &mut msg, &mut caps, |slot| {
            self.kernel.held(slot)
        });
        self.sent.push(reply);
        true
    }

    minting_through!(kernel);
}

fn client() -> DirectoryClient<Loopback> {
    DirectoryClient::new(Loopback {
        server: Dir::default(),
        kernel: kernel(),
        sent: Vec::new(),
    })
}

#[test]
fn a_oneway_message_reaches_the_server_and_is_not_answered() {
    assert!(DirectoryLabel::Note.oneway());
    assert!(!DirectoryLabel::Insert.oneway());
    let mut c = client();
    assert_eq!(c.note(3, name("üïødé—€€€€")), Ok(()));
    assert_eq!(c.note(u8::MAX, Name::EMPTY), Ok(()));
    let t = c.transport();
    assert_eq!(
        t.server.notes,
        [(3, name("üïødé—€€€€")), (u8::MAX, Name::EMPTY)]
    );
    assert_eq!(t.sent, [None, None], "dispatch produced no reply");
    // Calls next to it are still answered.
    assert_eq!(c.insert(entries()[1]).unwrap().count, 1);
    assert_eq!(c.transport().sent.len(), 2);

    // A malformed one-way request: the server is not called, and nobody
    // is answered (a text longer than its bound, a level over 255).
    let (mut clean, mut caps): (Words, Slots) = ([0; _], [0; _]);
    let info = DirectoryRequest::Note {
        level: 1,
        text: name("ab"),
    }
    .encode(&mut clean, &mut caps)
    .unwrap();
    assert_eq!((info.label, info.length, info.caps), (6, 5, 0));
    for (word, value) in [(1, 25), (0, 256)] {
        let mut msg = clean;
        msg[word] = value;
        let mut server = Dir::default();
        assert_eq!(
            dispatch_directory(&mut server, info, &mut msg, &mut caps, |_| None),
            None
        );
        assert_eq!(server.calls, 0, "word {word} = {value:#x}");
    }
    // Too short: still no answer.
    let short = MessageInfo { length: 4, ..info };
    let mut msg = clean;
    assert_eq!(
        dispatch_directory(&mut Dir::default(), short, &mut msg, &mut caps, |_| None),
        None
    );
    // The clean one is served.
    let mut server = Dir::default();
    let mut msg = clean;
    assert_eq!(
        dispatch_directory(&mut server, info, &mut msg, &mut caps, |_| None),
        None
    );
    assert_eq!(server.notes, [(1, name("ab"))]);
}

/// Entries with every variant of `Kind`, the boundary values of each field.
fn entries() -> Vec<Entry> {
    vec![
        Entry {
            // 24 bytes: the longest name, in two- and three-byte characters.
            name: name("üïødé—€€€€"),
            kind: Kind::File(u64::MAX),
            mode: u16::MAX,
            modified: i64::MIN,
            hidden: true,
        },
        Entry {
            name: Name::EMPTY,
            kind: Kind::Directory,
            mode: 0,
            modified: i64::MAX,
            hidden: false,
        },
        Entry {
            name: name("link"),
            kind: Kind::Link(name("abcdefghijklmnopqrstuvwx"), Some(u16::MAX)),
            mode: 0o755,
            modified: -1,
            hidden: false,
        },
        Entry {
            name: name("dangling"),
            kind: Kind::Link(Name::EMPTY, None),
            mode: 1,
            modified: 0,
            hidden: true,
        },
        Entry {
            name: name("zero"),
            kind: Kind::File(0),
            mode: 2,
            modified: 1,
            hidden: false,
        },
    ]
}

#[test]
fn names_are_bounded_utf8() {
    assert_eq!("üïødé—€€€€".len(), 24);
    assert!(Name::new("üïødé—€€€€x").is_none(), "25 bytes");
    assert_eq!(name("üïødé—€€€€").as_str(), "üïødé—€€€€");
    assert_eq!(Name::EMPTY.as_str(), "");
    assert!(Name::EMPTY.is_empty());
    assert_eq!(format!("{:?}", name("a\"b")), "\"a\\\"b\"");
    assert!(BoundedArray::<u8, 64>::new(&[0; 65]).is_none());
    assert_eq!(
        BoundedArray::<u8, 64>::new(&[7; 64]).unwrap().as_slice(),
        &[7; 64]
    );
}

#[test]
fn every_entry_round_trips_through_client_dispatch_and_server() {
    let mut c = client();
    for (i, entry) in entries().into_iter().enumerate() {
        assert_eq!(c.insert(entry).unwrap().count, i as u32 + 1);
        let found = c.lookup(entry.name).unwrap().entry;
        assert_eq!(found, entry);
    }
    assert_eq!(c.transport().server.entries, entries());
    assert_eq!(
        c.lookup(name("missing")),
        Err(CallError::Server(DirError::NotFound))
    );
    // Up to 4 entries per page, and whether more follow.
    let first = c.list(0).unwrap();
    assert_eq!(first.entries.as_slice(), &entries()[..4]);
    assert!(first.more);
    let rest = c.list(4).unwrap();
    assert_eq!(rest.entries.as_slice(), &entries()[4..]);
    assert!(!rest.more);
    let past = c.list(100).unwrap();
    assert!(past.entries.is_empty());
    assert!(!past.more);
    for _ in entries().len() as u64..LIMIT {
        c.insert(entries()[1]).unwrap();
    }
    assert_eq!(
        c.insert(entries()[0]),
        Err(CallError::Server(DirError::Full { limit: LIMIT }))
    );
}

#[test]
fn every_width_round_trips_at_its_bounds() {
    let mut c = client();
    let min = Widths {
        a: u8::MIN,
        b: u16::MIN,
        c: u32::MIN,
        d: u64::MIN,
        e: i8::MIN,
        f: i16::MIN,
        g: i32::MIN,
        h: i64::MIN,
        w: 0,
    };
    let max = invert(min);
    assert_eq!(max.h, i64::MAX);
    assert_eq!(max.w, u64::MAX);
    for (w, pair) in [
        (min, [i32::MIN, i32::MAX]),
        (max, [0, -1]),
        (Widths::ZERO, [1, -2]),
    ] {
        let reply = c.invert(w, pair).unwrap();
        assert_eq!(reply.inverted, invert(w));
        assert_eq!(reply.pair_inverted, pair.map(|v| !v));
    }
}

#[test]
fn options_units_words_and_bounded_arrays_round_trip() {
    let mut c = client();
    let kinds = [
        None,
        Some(Kind::Directory),
        Some(Kind::File(u64::MAX)),
        Some(Kind::Link(name("€"), None)),
        Some(Kind::Link(name("abcdefghijklmnopqrstuvwx"), Some(0))),
    ];
    let arrays = [
        BoundedArray::EMPTY,
        BoundedArray::new(&[0xff]).unwrap(),
        BoundedArray::new(&(0..64).collect::<Vec<u8>>()).unwrap(),
    ];
    for (i, maybe) in kinds.into_iter().enumerate() {
        for bytes in arrays {
            let flags = [i % 2 == 0, true, i == 3];
            let count = u64::MAX - i as u64;
            let reply = c
                .mixed(
                    maybe,
                    Unit {},
                    count,
                    flags,
                    Slot::new(40 + i as u64),
                    bytes,
                )
                .unwrap();
            assert_eq!(reply.maybe_back, maybe);
            assert_eq!(reply.unit_back, Unit {});
            assert_eq!(reply.count_back, count);
            assert_eq!(reply.flags_back, flags);
            assert_eq!(reply.bytes_back, bytes);
            // The server got a copy minted read-only, which the client
            // took back once the call returned.
            let lent = c.transport().server.lent.expect("lent");
            let kernel = &c.transport().kernel;
            assert_eq!(
                kernel.minted.last(),
                Some(&(40 + i as u64, lent, Rights::READ))
            );
            assert_eq!(kernel.ended.last(), Some(&lent));
            assert_eq!(kernel.copies_left(), [0u64; 0]);
        }
    }
}

/// The bytes of `value` as `Wire` writes them.
fn bytes_of<T: Wire>(value: &T) -> Vec<u8> {
    let mut words = vec![0u64; T::BYTES.div_ceil(8)];
    value.write_words(&mut words, 0);
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    bytes[..T::BYTES].to_vec()
}

#[test]
fn the_layout_is_packed_little_endian_in_declaration_order() {
    assert_eq!(<Name as Wire>::BYTES, 1 + 24);
    // Discriminant, then the widest variant: `Link(Name, Option<u16>)`.
    assert_eq!(<Kind as Wire>::BYTES, 1 + 25 + 3);
    assert_eq!(<Entry as Wire>::BYTES, 25 + 29 + 2 + 8 + 1);
    assert_eq!(<Widths as Wire>::BYTES, 1 + 2 + 4 + 8 + 1 + 2 + 4 + 8 + 8);
    assert_eq!(<Unit as Wire>::BYTES, 0);
    assert_eq!(<BoundedArray<Entry, 4> as Wire>::BYTES, 1 + 4 * 65);
    assert_eq!(prefix_bytes(255), 1);
    assert_eq!(prefix_bytes(256), 2);
    assert_eq!(prefix_bytes(65_536), 4);

    let entry = Entry {
        name: name("ab"),
        kind: Kind::Link(name("c"), Some(0x1234)),
        mode: 0x0102,
        modified: -2,
        hidden: true,
    };
    let mut want = vec![2, b'a', b'b'];
    want.resize(25, 0);
    want.extend([2, 1, b'c']);
    want.resize(25 + 1 + 25, 0);
    want.extend([1, 0x34, 0x12]);
    want.extend([0x02, 0x01]);
    want.extend((-2i64).to_le_bytes());
    want.push(1);
    assert_eq!(bytes_of(&entry), want);
    // A shorter variant leaves the rest zero.
    let file = bytes_of(&Kind::File(0x0807_0605_0403_0201));
    assert_eq!(&file[..9], &[0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert!(file[9..].iter().all(|b| *b == 0));
    assert_eq!(Entry::read_words(&to_words(&want), 0), Some(entry));
}

fn to_words(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks(8)
        .map(|c| {
            let mut w = [0; 8];
            w[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(w)
        })
        .collect()
}

/// The request `insert(entry)` as words, with byte `at` of the entry set to
/// `byte`, dispatched to a fresh server: the reply's protocol error, and
/// whether the server ran.
fn insert_with_byte(at: usize, byte: u8) -> (Option<ProtocolError>, usize) {
    let (mut msg, mut caps): (Words, Slots) = ([0; _], [0; _]);
    let info = DirectoryRequest::Insert {
        entry: entries()[2],
    }
    .encode(&mut msg, &mut caps)
    .unwrap();
    let word = &mut msg[at / 8];
    let shift = (at % 8) * 8;
    *word = (*word & !(0xff << shift)) | (u64::from(byte) << shift);
    let mut server = Dir::default();
    let reply = answer(&mut server, info, &mut msg, &mut caps, &kernel());
    (ProtocolError::decode(reply, &msg), server.calls)
}

#[test]
fn malformed_requests_are_protocol_errors() {
    let invalid = Some(ProtocolError::InvalidArgument { index: 0 });
    let kind = 25;
    let link_name = kind + 1;
    let link_option = link_name + 25;
    let mode = kind + 29;
    let hidden = mode + 2 + 8;
    for (at, byte, what) in [
        (0, 25, "a name longer than its bound"),
        (1, 0xff, "a name that is not UTF-8"),
        (20, b'x', "a nonzero byte past the name's length"),
        (kind, 3, "an enum number no variant has"),
        (kind, 0xff, "an enum number no variant has"),
        (link_option, 2, "an Option tag of 2"),
        (hidden, 2, "a bool of 2"),
        (
            hidden + 1,
            1,
            "a nonzero byte past the entry in its last word",
        ),
    ] {
        assert_eq!(insert_with_byte(at, byte), (invalid, 0), "{what}");
    }
    // The unchanged request, and valid changes, are served.
    assert_eq!(insert_with_byte(0, 4).1, 1, "the entry's own name length");
    assert_eq!(insert_with_byte(mode, 0).1, 1, "any mode");

    // `mixed`: `maybe` in words 0..4 (30 bytes), `unit` in none, `count`
    // in word 4, `flags` packed in word 5, `bytes` in words 6..15 (65
    // bytes: the length, then 64).
    let (mut clean, mut caps): (Words, Slots) = ([0; _], [0; _]);
    let info = DirectoryRequest::Mixed {
        maybe: None,
        unit: Unit {},
        count: 1,
        flags: [true; 3],
        frame: Slot::new(40),
        bytes: BoundedArray::new(&[1, 2]).unwrap(),
    }
    .encode(&mut clean, &mut caps)
    .unwrap();
    assert_eq!(info.length, 15);
    assert_eq!(clean[6], 0x02_01_02, "length 2, then 1 and 2");
    let mut server = Dir::default();
    for (word, value, outcome) in [
        (0, 1 << 16, Some(0)),       // a nonzero byte in the room of `None`
        (0, 2, Some(0)),             // an option tag of 2
        (0, 0x03_01, Some(0)),       // `Some` of a kind numbered 3: no variant
        (0, 0x01_01, None),          // `Some(Directory)`
        (5, 0b1111, Some(3)),        // a padding bit of `[bool; 3]`
        (6, 0x41_00_00_41, Some(5)), // a length of 65
        (6, 0x03_02_01_02, Some(5)), // a byte past the two values
        (6, 0x00_02_01_03, None),    // three values, the third 0
        (14, 1 << 8, Some(5)),       // a byte past the array in its last word
        (4, u64::MAX, None),         // any word
    ] {
        let mut msg = clean;
        msg[word] = value;
        let calls = server.calls;
        let reply = answer(&mut server, info, &mut msg, &mut caps, &kernel());
        let got = ProtocolError::decode(reply, &msg);
        match outcome {
            Some(index) => {
                assert_eq!(
                    got,
                    Some(ProtocolError::InvalidArgument { index }),
                    "word {word} = {value:#x}"
                );
                assert_eq!(server.calls, calls, "the server is not called");
            }
            None => {
                assert_eq!(reply.label, 0, "word {word} = {value:#x}");
                assert_eq!(server.calls, calls + 1);
            }
        }
    }
}

/// A transport whose server answers `lookup` with an entry and then breaks
/// byte `at` of the reply.
struct Breaking {
    at: usize,
    byte: u8,
}

impl Transport for Breaking {
    fn call(
        &mut self,
        info: MessageInfo,
        msg: &mut Words,
        caps_out: &[u64],
        _caps_in: &mut Slots,
    ) -> MessageInfo {
        let mut server = Dir {
            entries: entries(),
            ..Dir::default()
        };
        let mut caps = [0; target::CAPS_PER_MESSAGE];
        caps[..caps_out.len()].copy_from_slice(caps_out);
        let reply = answer(&mut server, info, msg, &mut caps, &kernel());
        let word = &mut msg[self.at / 8];
        let shift = (self.at % 8) * 8;
        *word = (*word & !(0xff << shift)) | (u64::from(self.byte) << shift);
        reply
    }

    fn send(&mut self, _info: MessageInfo, _msg: &Words, _caps_out: &[u64]) -> bool {
        false
    }
}

#[test]
fn malformed_replies_are_bad_replies() {
    let mut c = DirectoryClient::new(Breaking { at: 0, byte: 0 });
    assert_eq!(c.note(1, Name::EMPTY), Err(SendError::NotSent));
    let hidden = 25 + 29 + 2 + 8;
    for (at, byte) in [(0, 30), (25, 9), (hidden, 7), (1, 0xc0)] {
        let mut c = DirectoryClient::new(Breaking { at, byte });
        assert_eq!(
            c.lookup(name("link")),
            Err(CallError::BadReply(ProtocolError::InvalidResult)),
            "byte {at} = {byte:#x}"
        );
    }
    let mut c = DirectoryClient::new(Breaking { at: 200, byte: 0 });
    assert_eq!(c.lookup(name("link")).unwrap().entry, entries()[2]);
}

/// `type Percent = u8 in 0..=100;` and `type Copies = u16 in 1..8;`: the
/// client sends values of the range, `new` refuses the others, and a
/// request or reply carrying one outside the range is a protocol error.
#[test]
fn range_types_refuse_values_outside_their_range() {
    assert_eq!(Percent::new(101), None);
    assert_eq!(Percent::new(100).map(Percent::get), Some(100));
    assert_eq!(Percent::new(0).map(Percent::get), Some(0));
    assert_eq!((Copies::new(0), Copies::new(8)), (None, None));
    assert_eq!(
        (Copies::MIN, Copies::MAX, Copies::new(7).map(Copies::get)),
        (1, 7, Some(7))
    );
    let (p, one, seven) = (
        Percent::new(40).unwrap(),
        Copies::new(1).unwrap(),
        Copies::new(7).unwrap(),
    );
    let mut c = client();
    let reply = c
        .limit(p, BoundedArray::new(&[one, seven]).unwrap())
        .unwrap();
    assert_eq!((reply.was.get(), reply.copies_were), (100, None));
    let reply = c.limit(p, BoundedArray::EMPTY).unwrap();
    assert_eq!((reply.was, reply.copies_were), (p, Some(seven)));

    // The request: `full` in word 0 (1 byte), `copies` in word 1 (the
    // length, then two little-endian u16).
    let (mut clean, mut caps): (Words, Slots) = ([0; _], [0; _]);
    let info = DirectoryRequest::Limit {
        full: p,
        copies: BoundedArray::new(&[one]).unwrap(),
    }
    .encode(&mut clean, &mut caps)
    .unwrap();
    assert_eq!((clean[0], clean[1]), (40, 0x00_01_01));
    let mut server = Dir::default();
    for (word, value, outcome) in [
        (0, 101, Some(0)),
        (0, 0xff, Some(0)),
        (0, 100, None),
        (1, 0x00_00_01, Some(1)),    // a copy count of 0
        (1, 0x00_08_01, Some(1)),    // a copy count of 8
        (1, 0x07_00_07_01, Some(1)), // 7 in the room past the length
        (1, 0x07_00_07_02, None),    // two copies of 7
    ] {
        let mut msg = clean;
        msg[word] = value;
        let calls = server.calls;
        let reply = answer(&mut server, info, &mut msg, &mut caps, &kernel());
        match outcome {
            Some(index) => {
                assert_eq!(
                    ProtocolError::decode(reply, &msg),
                    Some(ProtocolError::InvalidArgument { index }),
                    "word {word} = {value:#x}"
                );
                assert_eq!(server.calls, calls, "the server is not called");
            }
            None => assert_eq!(reply.label, 0, "word {word} = {value:#x}"),
        }
    }
    // A reply whose `was` is past 100 is a bad reply.
    let words = [101u64, 0];
    assert_eq!(<Percent as Wire>::read_words(&words, 0), None);
    assert_eq!(<Option<Copies>>::read_words(&[0x00_00_01], 0), None);
}

/// `f32` and `f64` travel bit-exact: each NaN with its payload and sign,
/// both zeros, the infinities and subnormals arrive as sent (compared by
/// their bits: NaN is not equal to itself), laid out little-endian.
#[test]
fn floats_travel_bit_exact() {
    let mut c = client();
    let quiet_with_payload = f32::from_bits(0x7fc0_1234);
    let signalling = f32::from_bits(0xff80_0001);
    for factor in [
        1.5,
        -0.0,
        0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MIN_POSITIVE / 2.0,
        f32::MAX,
        quiet_with_payload,
        signalling,
    ] {
        let reply = c.scale(factor, Point { x: 2.0, y: -0.25 }).unwrap();
        assert_eq!(reply.factor_back.to_bits(), factor.to_bits(), "{factor}");
        let f = f64::from(factor);
        assert_eq!(reply.scaled.x.to_bits(), (2.0 * f).to_bits());
        assert_eq!(reply.scaled.y.to_bits(), (-0.25 * f).to_bits());
    }
    let nan = f64::from_bits(0xfff8_0000_dead_beef);
    let reply = c.scale(1.0, Point { x: nan, y: -0.0 }).unwrap();
    assert_eq!(reply.scaled.x.to_bits(), (nan * 1.0).to_bits());
    assert_eq!(reply.scaled.y.to_bits(), (-0.0f64).to_bits());
    // The request: `factor` in word 0 (4 bytes), `point` in words 1 and 2.
    let (mut msg, mut caps): (Words, Slots) = ([0; _], [0; _]);
    DirectoryRequest::Scale {
        factor: -2.0,
        point: Point { x: 1.0, y: nan },
    }
    .encode(&mut msg, &mut caps)
    .unwrap();
    assert_eq!(
        (msg[0], msg[1], msg[2]),
        (
            u64::from((-2.0f32).to_bits()),
            1.0f64.to_bits(),
            nan.to_bits()
        )
    );
    // A nonzero byte past the `f32` in its word is refused.
    msg[0] |= 1 << 40;
    let info = MessageInfo {
        label: DirectoryLabel::Scale.label(),
        length: 3,
        caps: 0,
    };
    let mut server = Dir::default();
    let reply = answer(&mut server, info, &mut msg, &mut caps, &kernel());
    assert_eq!(
        ProtocolError::decode(reply, &msg),
        Some(ProtocolError::InvalidArgument { index: 0 })
    );
    assert_eq!(server.calls, 0);
}

#[test]
fn reading_past_the_words_is_none() {
    let words = to_words(&bytes_of(&entries()[0]));
    assert_eq!(Entry::read_words(&words, 0), Some(entries()[0]));
    assert_eq!(Entry::read_words(&words[..8], 0), None);
    assert_eq!(Entry::read_words(&words, 1), None);
    assert_eq!(Entry::read_words(&[], usize::MAX), None);
    assert_eq!(<Option<Kind>>::read_words(&words, usize::MAX - 3), None);
    // Writing past the end writes what fits and does not panic.
    let mut short = [0u64; 2];
    entries()[0].write_words(&mut short, 0);
    entries()[0].write_words(&mut short, usize::MAX);
    assert_eq!(short.to_vec(), words[..2].to_vec());
}

proptest! {
    /// Any words: decoding never panics, and what decodes re-encodes to
    /// the same words (one encoding per value).
    #[test]
    fn any_words_decode_to_a_value_or_an_error(words in prop::collection::vec(any::<u64>(), 9)) {
        if let Some(entry) = Entry::read_words(&words, 0) {
            let mut again = vec![0u64; 9];
            entry.write_words(&mut again, 0);
            // The entry's 65 bytes: the last word's other bytes are not its.
            prop_assert_eq!(&again[..8], &words[..8]);
            prop_assert_eq!(again[8] & 0xff, words[8] & 0xff);
        }
        let mut msg: Words = [0; _];
        msg[..9].copy_from_slice(&words);
        let info = MessageInfo { label: DirectoryLabel::Insert.label(), length: 9, caps: 0 };
        let mut caps: Slots = [0; _];
        let mut server = Dir::default();
        let reply = answer(&mut server, info, &mut msg, &mut caps, &kernel());
        prop_assert!(reply.label == 0 || ProtocolError::decode(reply, &msg).is_some());
    }

    /// Random names, widths and kinds round-trip through the client.
    #[test]
    fn random_values_round_trip(
        text in "\\PC{0,8}",
        d in any::<u64>(), e in any::<i8>(), g in any::<i32>(), h in any::<i64>(),
        device in prop::option::of(any::<u16>()),
    ) {
        prop_assume!(text.len() <= 24);
        let mut c = client();
        let entry = Entry {
            name: name(&text),
            kind: Kind::Link(name(&text), device),
            mode: d as u16,
            modified: h,
            hidden: e < 0,
        };
        c.insert(entry).unwrap();
        prop_assert_eq!(c.lookup(entry.name).unwrap().entry, entry);
        let w = Widths { a: e as u8, b: g as u16, c: d as u32, d, e, f: g as i16, g, h, w: d };
        prop_assert_eq!(c.invert(w, [g, !g]).unwrap().inverted, invert(w));
    }
}
