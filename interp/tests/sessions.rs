//! The reference interpreter's sessions (docs/language.md, "Sessions") on
//! the session spec of the UI tests (dsl/tests/ui/pass/sessions.cap): what
//! opening, calls, refunds, upgrades and closing charge, and, over random
//! client sequences, the invariants: the sum of the sessions' charges is
//! what the server holds for its clients, no session is charged past its
//! quota, closing returns the quota and reclaims exactly what the session
//! held, and only server-paid methods spend the server's own memory.

use std::path::Path;

use capc_dsl::model::Spec;
use capc_interp::OpError;
use capc_interp::session::{Backing, Sessions};
use proptest::prelude::*;

fn spec() -> Spec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dsl/tests/ui/pass/sessions.cap");
    capc_dsl::compile(&path, &capc_dsl::FsLoader)
        .expect("readable")
        .spec
        .expect("sessions.cap checks clean")
}

fn quota(principal: &str) -> Backing {
    Backing::Quota(principal.to_string())
}

#[test]
fn a_session_pays_for_what_it_is_handed_until_it_is_refunded() {
    let spec = spec();
    let mut s = Sessions::new(&spec);
    // Below the least quota (16 KiB): refused with the least quota.
    assert_eq!(
        s.open("Mem", "alice", quota("alice"), 1024),
        Some(Err(OpError::OutOfBudget { needed: 16384 }))
    );
    let id = s
        .open("Mem", "alice", quota("alice"), 16384)
        .unwrap()
        .unwrap();
    assert_eq!(s.open[&id].used(), 256, "the session's own record");
    // allocate(bits = 12): 4 KiB of RAM and its 64-byte record, the
    // actual size, not the range's worst case (2^30).
    let out = s.call(id, "Mem", "allocate", &[12]).unwrap().unwrap();
    assert_eq!(out.handed_bytes, 4096 + 64);
    let (_, handle) = out.handles[0];
    assert_eq!(s.open[&id].used(), 256 + 4160);
    // allocate(bits = 14) no longer fits: the charge is `needed`.
    assert_eq!(
        s.call(id, "Mem", "allocate", &[14]),
        Some(Err(OpError::OutOfBudget { needed: 16384 + 64 }))
    );
    // A value outside the range is refused as the decoder refuses it.
    assert_eq!(
        s.call(id, "Mem", "allocate", &[31]),
        Some(Err(OpError::InvalidArgument { index: 0 }))
    );
    // ping(n): n endpoints for the call only, refunded as it returns.
    let out = s.call(id, "Mem", "ping", &[4]).unwrap().unwrap();
    assert_eq!(out.call_bytes, 4 * 16);
    assert_eq!(s.open[&id].used(), 256 + 4160);
    // free takes the RAM back: its charge returns.
    let out = s.call(id, "Mem", "free", &[handle]).unwrap().unwrap();
    assert_eq!(out.refunded, 4160);
    assert_eq!(s.open[&id].used(), 256);
    // Twice: no longer this session's.
    assert_eq!(
        s.call(id, "Mem", "free", &[handle]),
        Some(Err(OpError::InvalidArgument { index: 0 }))
    );
    // An upgrade makes room; closing returns the whole quota.
    s.upgrade(id, 16384).unwrap();
    s.call(id, "Mem", "allocate", &[14]).unwrap().unwrap();
    assert_eq!(s.close(id), Ok(32768));
    assert_eq!(s.held, 0);
    // The server-paid method spends the server's own memory, not the
    // session's.
    let id = s.open("Mem", "bob", quota("bob"), 16384).unwrap().unwrap();
    let out = s.call(id, "Mem", "stats", &[]).unwrap().unwrap();
    assert_eq!((out.server_paid, s.server_own), (64, 64));
    assert_eq!(s.open[&id].used(), 256);
}

#[test]
fn a_handle_of_one_session_is_not_another_sessions() {
    let spec = spec();
    let mut s = Sessions::new(&spec);
    let a = s
        .open("Mem", "alice", quota("alice"), 1 << 20)
        .unwrap()
        .unwrap();
    let b = s
        .open("Mem", "mallory", quota("mallory"), 1 << 20)
        .unwrap()
        .unwrap();
    let out = s.call(a, "Mem", "allocate", &[12]).unwrap().unwrap();
    let (_, handle) = out.handles[0];
    assert_eq!(
        s.call(b, "Mem", "free", &[handle]),
        Some(Err(OpError::InvalidArgument { index: 0 }))
    );
    assert_eq!(s.open[&a].used(), 256 + 4160);
}

/// One client operation of the random sequences.
#[derive(Clone, Debug)]
enum Op {
    Open(u8, u64),
    Upgrade(u8, u64),
    Close(u8),
    Allocate(u8, u64),
    Free(u8, u8),
    Ping(u8, u64),
    Stats(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..4, 0u64..1 << 18).prop_map(|(c, b)| Op::Open(c, b)),
        (0u8..4, 0u64..1 << 16).prop_map(|(c, b)| Op::Upgrade(c, b)),
        (0u8..4).prop_map(Op::Close),
        (0u8..4, 10u64..18).prop_map(|(c, b)| Op::Allocate(c, b)),
        (0u8..4, 0u8..8).prop_map(|(c, h)| Op::Free(c, h)),
        (0u8..4, 0u64..6).prop_map(|(c, n)| Op::Ping(c, n)),
        (0u8..4).prop_map(Op::Stats),
    ]
}

proptest! {
    #[test]
    fn no_client_sequence_breaks_the_ledger(ops in prop::collection::vec(op(), 1..60)) {
        let spec = spec();
        let mut s = Sessions::new(&spec);
        // Each client's open session, and the handles it was given.
        let mut sessions: [Option<u64>; 4] = [None; 4];
        let mut handles: [Vec<u64>; 4] = Default::default();
        let mut server_paid = 0u64;
        for op in ops {
            let before_own = s.server_own;
            match op {
                Op::Open(c, b) => {
                    let c = usize::from(c);
                    if sessions[c].is_none() {
                        let r = s.open("Mem", "client", quota("client"), b).unwrap();
                        prop_assert_eq!(r.is_ok(), b >= 16384);
                        sessions[c] = r.ok();
                    }
                }
                Op::Upgrade(c, b) => {
                    if let Some(id) = sessions[usize::from(c)] {
                        let q = s.open[&id].quota;
                        s.upgrade(id, b).unwrap();
                        prop_assert_eq!(s.open[&id].quota, q + b);
                    }
                }
                Op::Close(c) => {
                    let c = usize::from(c);
                    if let Some(id) = sessions[c].take() {
                        let (q, used, held) = (s.open[&id].quota, s.open[&id].used(), s.held);
                        prop_assert_eq!(s.close(id), Ok(q));
                        prop_assert_eq!(s.held, held - used);
                        handles[c].clear();
                    }
                }
                Op::Allocate(c, bits) => {
                    let c = usize::from(c);
                    if let Some(id) = sessions[c] {
                        let available = s.open[&id].available();
                        match s.call(id, "Mem", "allocate", &[bits]).unwrap() {
                            Ok(out) => {
                                prop_assert!((12..=30).contains(&bits));
                                prop_assert_eq!(out.handed_bytes, (1 << bits) + 64);
                                handles[c].push(out.handles[0].1);
                            }
                            Err(OpError::OutOfBudget { needed }) => {
                                prop_assert_eq!(needed, (1 << bits) + 64);
                                prop_assert!(needed > available);
                            }
                            Err(e) => {
                                prop_assert_eq!(e, OpError::InvalidArgument { index: 0 });
                                prop_assert!(!(12..=30).contains(&bits));
                            }
                        }
                    }
                }
                Op::Free(c, h) => {
                    let c = usize::from(c);
                    if let Some(id) = sessions[c] && !handles[c].is_empty() {
                        let k = usize::from(h) % handles[c].len();
                        let handle = handles[c].remove(k);
                        let out = s.call(id, "Mem", "free", &[handle]).unwrap();
                        prop_assert!(out.is_ok());
                    }
                }
                Op::Ping(c, n) => {
                    if let Some(id) = sessions[usize::from(c)] {
                        let (used, available) = (s.open[&id].used(), s.open[&id].available());
                        // A call's own memory (16 bytes a count) comes from
                        // the session too: a full session cannot ping.
                        match s.call(id, "Mem", "ping", &[n]).unwrap() {
                            Ok(_) => prop_assert!((1..=4).contains(&n) && n * 16 <= available),
                            Err(OpError::OutOfBudget { needed }) => {
                                prop_assert_eq!(needed, n * 16);
                                prop_assert!(needed > available);
                            }
                            Err(e) => {
                                prop_assert_eq!(e, OpError::InvalidArgument { index: 0 });
                                prop_assert!(!(1..=4).contains(&n));
                            }
                        }
                        prop_assert_eq!(s.open[&id].used(), used, "a call's own memory is refunded");
                    }
                }
                Op::Stats(c) => {
                    if let Some(id) = sessions[usize::from(c)] {
                        s.call(id, "Mem", "stats", &[]).unwrap().unwrap();
                        server_paid += 64;
                    }
                }
            }
            prop_assert!(s.balanced(), "the sessions' charges are what the server holds");
            for session in s.open.values() {
                prop_assert!(session.used() <= session.quota);
            }
            // Only the server-paid method touches the server's own memory.
            if !matches!(op, Op::Stats(_)) {
                prop_assert_eq!(s.server_own, before_own);
            }
        }
        prop_assert_eq!(s.server_own, server_paid);
    }
}

/// A session backed by a donated Untyped (`Pages` in sessions.cap): its
/// free bytes are the quota, its owner pays, and revoking it closes the
/// session, reclaiming everything.
#[test]
fn revoking_the_donated_untyped_closes_its_session() {
    let spec = spec();
    let script = "\
cnode root radix 4
untyped gift = root[0] base 0x100000 bits 16 owner alice
untyped small = root[1] base 0x200000 bits 12 owner bob
session p = open Pages donate gift => ok: session 1; uses 0 B of 64 KiB
session q = open Pages donate small => OutOfBudget { needed: 65536 }
request p Pages.map count 4 => ok: 16 KiB for the call; uses 0 B of 64 KiB
revoke gift
request p Pages.map count 1
";
    let file = capc_dsl::source::FileId(0);
    let (report, missed) =
        capc_interp::script::simulate_checked(&spec, file, script).expect("the script checks");
    assert!(missed.is_empty(), "{report}");
    assert!(
        report.contains("   7  revoke gift\n      ok: 0 cap(s) deleted\n      closes session `p`: its donated Untyped was revoked\n"),
        "{report}"
    );
    assert!(
        report.contains("   8  request p Pages.map count 1\n      error: FailedLookup { source: 0 }\n      because the session is closed\n"),
        "{report}"
    );
    assert!(report.contains("  p: closed\n"), "{report}");
    assert!(
        report
            .contains("  the server holds 0 B for its clients: the sum of the sessions' charges\n"),
        "{report}"
    );
}
