//! The memory server of `kernel-demo/spec/sessions.cap` (`Mem`, a port of
//! Barrelfish's mem.if), served through the generated `dispatch_mem` with
//! each client's `MemSession`: RAM of the size the client asks.
//!
//! In its first mode (argument 0) the client pays: a client opens a session
//! by donating an Untyped, the session's CNode and every RAM it is given are
//! retyped from that donation, and each is charged to the session by the
//! generated dispatch before the server runs (a call whose charge does not
//! fit is refused with `OutOfQuota`); freeing RAM refunds it, and closing the
//! session revokes the donation and returns every byte. The server's own
//! memory never changes. In its second mode (argument 1, the control run)
//! the server pays, as Barrelfish's memory server does: sessions have no
//! limit, and RAM comes from the server's own budget.
//!
//! After every message it prints what the sessions are charged, what it
//! holds for its clients (the sizes the kernel gave its objects), and its
//! own budget's use: `cargo xtask demo` checks them (xtask's transcript
//! module).

#![no_std]
#![no_main]

use core::fmt::Write;

use capc_demo_user::abi::ROOT_IPC_BUFFER;
use capc_demo_user::caps::{self, ObjectType, Slot, UntypedCap};
use capc_demo_user::sessions::{
    Donation, MemAllocateReply, MemCharge, MemError, MemLabel, MemServer, MemSession,
    MemUsageReply, MessageInfo as RpcInfo, SESSION_CLOSE, SESSION_OPEN, SESSION_RADIX,
    SESSION_REFUSED, SessionSlots, answer, dispatch_mem, end_line, usage_of,
};
use capc_demo_user::task::{BUDGET, CSPACE, ENDPOINT, FIRST_FREE, SELF};
use capc_demo_user::{Env, cap_at, entry, target};

entry!(main);

/// Where a call's cap arrives: a donation, or RAM given back.
const RECEIVED: u64 = FIRST_FREE;
/// RAM on its way to the client, then into its session's CNode.
const MADE: u64 = FIRST_FREE + 1;
/// Sessions the server serves at once, each with two slots of its CNode
/// from `FIRST_FREE + 2` on (its copy of the donation, the session's
/// CNode): the server's CNode has 16 slots.
const SESSIONS: usize = 4;
/// RAM one session may hold: the slots of the session's CNode.
const RECORDS: usize = 1 << SESSION_RADIX;

/// RAM handed out: where the kernel put it, and its charge.
struct Ram {
    base: u64,
    bits: u8,
    charge: MemCharge,
}

struct Service {
    env: Env,
    server_pays: bool,
    /// The session of the call being served.
    current: usize,
    /// The client (badge) of each session.
    clients: [Option<u64>; SESSIONS],
    /// What each session's client donated.
    donated: [u64; SESSIONS],
    slots: [SessionSlots; SESSIONS],
    ram: [[Option<Ram>; RECORDS]; SESSIONS],
    /// After the reply: move `MADE` into slot `index` of the session's CNode.
    keep: Option<usize>,
    /// The last call's objects, and of them those inside its session's
    /// donation.
    made: u64,
    inside: u64,
}

impl Service {
    /// Bytes the server holds for its clients: each session's CNode and
    /// the RAM it was given, as the kernel sized them.
    fn held(&self) -> u64 {
        let mut held = 0;
        for (i, client) in self.clients.iter().enumerate() {
            if client.is_some() {
                held += 1 << (SESSION_RADIX + 5);
                held += self.ram[i]
                    .iter()
                    .flatten()
                    .map(|r| 1u64 << r.bits)
                    .sum::<u64>();
            }
        }
        held
    }

    /// Where the session's objects come from.
    fn source(&self, i: usize) -> u64 {
        if self.server_pays {
            BUDGET
        } else {
            self.slots[i].donation
        }
    }

    /// Counts an object made at `base`: whether it lies in session `i`'s
    /// donation.
    fn count(&mut self, i: usize, base: u64, bytes: u64) {
        let (from, size) = self.slots[i].region();
        self.made += 1;
        if base >= from && base + bytes <= from + size {
            self.inside += 1;
        }
    }

    /// Opens a session for `client`, whose donation arrived in `RECEIVED`.
    fn open(&mut self, client: u64, ledgers: &mut [Option<MemSession>]) -> Result<(u64, u64), u64> {
        if self.clients.contains(&Some(client)) {
            return Err(0);
        }
        let Some(i) = self.clients.iter().position(Option::is_none) else {
            return Err(0);
        };
        let slots = self.slots[i];
        capc_demo_user::caps::CNodeCapClient(self.env.cap(SELF))
            .r#move(slots.donation, 64, CSPACE, RECEIVED, 64)
            .map_err(capc_demo_user::Error::from)
            .map_err(|_| 0u64)?;
        // The server that pays still asks for the least donation, then gives
        // every session all it has: nobody's quota limits what a client takes.
        let donation = slots.donation();
        let session = MemSession::open(client, donation).and_then(|session| {
            if self.server_pays {
                MemSession::open(client, Donation::quota(u64::MAX >> 1))
            } else {
                Ok(session)
            }
        });
        let session = match session {
            Ok(session) => session,
            Err(error) => {
                let _ = capc_demo_user::caps::CNodeCapClient(self.env.cap(SELF))
                    .delete(slots.donation, 64)
                    .map_err(capc_demo_user::Error::from);
                return Err(match error {
                    MemError::OutOfQuota { needed } => needed,
                    MemError::Failed => 0,
                });
            }
        };
        let from = self.source(i);
        if slots.make_cnode(&mut self.env, CSPACE, from).is_err() {
            let _ = capc_demo_user::caps::CNodeCapClient(self.env.cap(SELF))
                .delete(slots.donation, 64)
                .map_err(capc_demo_user::Error::from);
            return Err(0);
        }
        if let Some(cnode) = caps::region(cap_at(slots.cnode)) {
            self.count(i, cnode.0, cnode.1);
        }
        let reply = (donation.bytes, session.used());
        self.donated[i] = donation.bytes;
        self.clients[i] = Some(client);
        ledgers[i] = Some(session);
        Ok(reply)
    }

    /// Closes `client`'s session: the quota returned and what was charged.
    fn close(&mut self, client: u64, ledgers: &mut [Option<MemSession>]) -> Option<(u64, u64)> {
        let i = self.clients.iter().position(|c| *c == Some(client))?;
        let session = ledgers[i].take()?;
        let charged = session.used();
        let slots = self.slots[i];
        // The server that pays takes each RAM back itself; when the client
        // paid, revoking the donation destroys it all at once.
        if self.server_pays {
            for index in 0..RECORDS {
                if self.ram[i][index].take().is_some() {
                    let _ = slots.destroy(&mut self.env, index as u64);
                }
            }
            let _ = capc_demo_user::caps::CNodeCapClient(self.env.cap(SELF))
                .delete(slots.cnode, 64)
                .map_err(capc_demo_user::Error::from);
        }
        let _ = slots.end(&mut self.env, SELF);
        for record in &mut self.ram[i] {
            *record = None;
        }
        self.clients[i] = None;
        let quota = session.close();
        Some((
            if self.server_pays {
                self.donated[i]
            } else {
                quota
            },
            charged,
        ))
    }
}

impl MemServer for Service {
    fn allocate(
        &mut self,
        bits: u8,
        session: &mut MemSession,
        charge: &mut Option<MemCharge>,
    ) -> Result<MemAllocateReply, MemError> {
        let i = self.current;
        let index = self.ram[i]
            .iter()
            .position(Option::is_none)
            .ok_or(MemError::Failed)?;
        let from = self.source(i);
        capc_demo_user::caps::UntypedCapClient(self.env.cap(from))
            .retype(
                ObjectType::Untyped as u64,
                u64::from(bits),
                CSPACE,
                0,
                0,
                MADE,
                1,
            )
            .map_err(capc_demo_user::Error::from)
            .map_err(|_| MemError::Failed)?;
        let made = UntypedCap::from_cap(cap_at(MADE)).map(|u| (u.base(), u.bits()));
        let Some((base, bits)) = made else {
            return Err(MemError::Failed);
        };
        self.count(i, base, 1 << bits);
        // The charge the dispatch took for it stays with it until `free`.
        let charge = charge.take().ok_or(MemError::Failed)?;
        debug_assert_eq!(charge.session(), session.id());
        self.ram[i][index] = Some(Ram { base, bits, charge });
        self.keep = Some(index);
        Ok(MemAllocateReply {
            ram: Slot::new(MADE),
        })
    }

    fn free(&mut self, ram: Slot<UntypedCap>, session: &mut MemSession) -> Result<(), MemError> {
        let i = self.current;
        let base = UntypedCap::from_cap(cap_at(ram.index())).map(|u| u.base());
        let index = self.ram[i]
            .iter()
            .position(|r| r.as_ref().map(|r| r.base) == base && base.is_some())
            .ok_or(MemError::Failed)?;
        let record = self.ram[i][index].take().ok_or(MemError::Failed)?;
        // The client's copies (the one it sent back with them) go first.
        let _ = self.slots[i].destroy(&mut self.env, index as u64);
        session.refund(record.charge).map_err(|_| MemError::Failed)
    }

    fn usage(&mut self, session: &mut MemSession) -> Result<MemUsageReply, MemError> {
        Ok(MemUsageReply {
            quota: session.quota(),
            used: session.used(),
        })
    }
}

fn main(mode: u64, _: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    let server_pays = mode == 1;
    let mut service = Service {
        // SAFETY: the root maps this task's IPC buffer there.
        env: unsafe { Env::new(ROOT_IPC_BUFFER) },
        server_pays,
        current: 0,
        clients: [None; SESSIONS],
        donated: [0; SESSIONS],
        slots: core::array::from_fn(|i| SessionSlots {
            donation: FIRST_FREE + 2 + 2 * i as u64,
            cnode: FIRST_FREE + 3 + 2 * i as u64,
        }),
        ram: [const { [const { None }; RECORDS] }; SESSIONS],
        keep: None,
        made: 0,
        inside: 0,
    };
    let mut ledgers: [Option<MemSession>; SESSIONS] = [const { None }; SESSIONS];
    let who = if server_pays {
        "the server pays"
    } else {
        "the client pays"
    };
    let (used, size) = usage_of(BUDGET);
    let _ = writeln!(
        service.env,
        "memserver: serving, {who}; own budget: {used} of {size} bytes used"
    );
    loop {
        service.env.receive_caps_into(&[RECEIVED], 64);
        let message = match service.env.recv(ENDPOINT) {
            Ok(message) => message,
            Err(error) => {
                let _ = writeln!(service.env, "memserver: receive failed: {error}");
                return 1;
            }
        };
        let client = message.badge;
        let mut msg = [0u64; target::MESSAGE_WORDS];
        msg[..message.info.length].copy_from_slice(&message.words[..message.info.length]);
        let mut caps = [RECEIVED, 0, 0];
        let mut line = [0u8; 160];
        let mut what = Line::new(&mut line);
        let reply = match message.info.label {
            SESSION_OPEN => match service.open(client, &mut ledgers) {
                Ok((quota, used)) => {
                    let _ = write!(
                        what,
                        "session opened with a donation of {quota} bytes: {used} charged at once (its CNode){}",
                        if server_pays {
                            ", which the server pays: no limit"
                        } else {
                            ""
                        }
                    );
                    msg[..2].copy_from_slice(&[quota, used]);
                    RpcInfo {
                        label: 0,
                        length: 2,
                        caps: 0,
                    }
                }
                Err(needed) => {
                    let _ = write!(what, "session refused: OutOfQuota {{ needed: {needed} }}");
                    msg[0] = needed;
                    RpcInfo {
                        label: SESSION_REFUSED,
                        length: 1,
                        caps: 0,
                    }
                }
            },
            SESSION_CLOSE => match service.close(client, &mut ledgers) {
                Some((quota, charged)) => {
                    let _ = write!(
                        what,
                        "session closed: {quota} bytes of quota returned, {charged} were charged; its donation revoked"
                    );
                    msg[..2].copy_from_slice(&[quota, charged]);
                    RpcInfo {
                        label: 0,
                        length: 2,
                        caps: 0,
                    }
                }
                None => {
                    let _ = write!(what, "close refused: no session");
                    RpcInfo {
                        label: SESSION_REFUSED,
                        length: 0,
                        caps: 0,
                    }
                }
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
                    // Dispatch checks the received caps as the kernel holds them.
                    let held = |slot| Some(cap_at(slot)).filter(|cap| !cap.is_null());
                    let reply =
                        dispatch_mem(&mut service, info, &mut msg, &mut caps, session, held);
                    let name = match MemLabel::from_label(label) {
                        Some(MemLabel::Allocate) => "allocate",
                        Some(MemLabel::Free) => "free",
                        Some(MemLabel::Usage) => "usage",
                        None => "an unknown call",
                    };
                    let outcome = if reply.label == 0 {
                        "answered"
                    } else {
                        "refused"
                    };
                    let _ = write!(what, "{name}: {outcome}; its session: {} ", session.used());
                    let _ = if server_pays {
                        write!(what, "bytes charged (no limit)")
                    } else {
                        write!(what, "of {} bytes charged", session.quota())
                    };
                    reply
                }
                None => {
                    let _ = write!(what, "a call without a session: refused");
                    RpcInfo {
                        label: SESSION_REFUSED,
                        length: 0,
                        caps: 0,
                    }
                }
            },
        };
        let len = what.len;
        // The RAM handed out goes into its session's CNode.
        let keep = service
            .keep
            .take()
            .map(|index| (service.slots[service.current], index as u64));
        answer(
            &mut service.env,
            "memserver",
            "the RAM",
            reply,
            &msg,
            &caps,
            keep,
            MADE,
            [RECEIVED, MADE],
        );
        let charged: u64 = ledgers.iter().flatten().map(MemSession::used).sum();
        let held = service.held();
        let (used, size) = usage_of(BUDGET);
        let (made, inside) = (
            core::mem::take(&mut service.made),
            core::mem::take(&mut service.inside),
        );
        let text = core::str::from_utf8(&line[..len]).unwrap_or("?");
        let _ = write!(service.env, "memserver: client {client}: {text}");
        end_line(
            &mut service.env,
            charged,
            held,
            (used, size),
            (made, inside),
            !server_pays,
        );
    }
}

/// A line being written into a buffer of the stack.
struct Line<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> Line<'b> {
    fn new(buf: &'b mut [u8]) -> Line<'b> {
        Line { buf, len: 0 }
    }
}

impl Write for Line<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = (self.len + s.len()).min(self.buf.len());
        let take = end - self.len;
        self.buf[self.len..end].copy_from_slice(&s.as_bytes()[..take]);
        self.len = end;
        Ok(())
    }
}
