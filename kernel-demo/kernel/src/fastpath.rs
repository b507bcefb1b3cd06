//! The IPC fast paths, as seL4's `fastpath_call` and
//! `fastpath_reply_recv`: the common case of a round trip, a message in
//! registers alone to a thread already waiting that runs next, checked in
//! one pass and carried out without the general system-call path.
//!
//! Each fast path first checks everything the case needs and changes
//! nothing if any check fails: the caller then takes the slow path
//! (`ipc::send`, `ipc::reply` and `ipc::recv` through the system-call
//! dispatch and the scheduler), which gives the same result. When every
//! check passes it makes exactly the changes the slow path would make, in
//! the same order, through the same [`Objects`], and names the thread
//! that runs next; the kernel then switches to it directly. The host tests
//! below hold the two paths to that on random states, and the kernel's
//! `nofastpath` boot flag runs the whole demo on the slow path alone, with
//! the same transcript.

use crate::abi::fits_registers;
use crate::caps::{Cap, EndpointCap, Rights};
use crate::ipc::{self, Endpoint, Objects};
use crate::tcb::{ThreadState, reg};

/// What the fast paths need of the kernel beyond [`Objects`].
pub trait Machine: Objects {
    /// What the kernel needs to switch to a thread (its address space).
    type Switch;
    /// The cap at `address` in `thread`'s CSpace, if the lookup finds one
    /// (`None` on any failure: the slow path reports it).
    fn lookup(&mut self, thread: u64, address: u64) -> Option<Cap>;
    /// If `thread`, made runnable now, would be the scheduler's next
    /// choice (no runnable thread has its priority or a higher one, and its
    /// address space stands): what switching to it takes.
    fn runs_next(&mut self, thread: u64) -> Option<Self::Switch>;
}

/// `Call` by `caller` on the fast path: a message in registers through an
/// endpoint cap with the write right and a right to be answered (grant
/// or grant-reply), to a receiver that waits on the endpoint with an
/// empty caller slot and no fault to answer, and runs next. Returns the
/// receiver and how to switch to it, or `None` with nothing changed.
pub fn call<M: Machine>(m: &mut M, caller: u64) -> Option<(u64, M::Switch)> {
    let g = &m.tcb(caller).context.general;
    let (info, address) = (g[reg::RSI], g[reg::RDI]);
    if !fits_registers(info) {
        return None;
    }
    let cap = EndpointCap::from_cap(m.lookup(caller, address)?)?;
    let rights = cap.rights();
    if !rights.contains(Rights::WRITE)
        || !(rights.contains(Rights::GRANT) || rights.contains(Rights::GRANT_REPLY))
    {
        return None;
    }
    let endpoint = cap.endpoint();
    let receiver = m.endpoint(endpoint).head;
    if receiver == 0 {
        return None;
    }
    let r = m.tcb(receiver);
    if r.state != ThreadState::BlockedOnRecv || r.fault.is_fault() {
        return None;
    }
    if m.reply_cap(receiver).is_some() {
        return None;
    }
    let switch = m.runs_next(receiver)?;
    // The changes `ipc::send` makes for a call that meets a receiver.
    let pending = crate::tcb::PendingSend {
        badge: cap.badge(),
        grant: rights.contains(Rights::GRANT),
        grant_reply: rights.contains(Rights::GRANT_REPLY),
        call: true,
    };
    let outcome = ipc::send(m, caller, endpoint, pending);
    debug_assert_eq!(outcome, ipc::Next::Block);
    Some((receiver, switch))
}

/// `ReplyRecv` by `server` on the fast path: a reply in registers to the
/// caller its caller slot's reply cap names, which waits for it with no
/// fault to answer and runs next, then a receive through an endpoint cap
/// with the read right on an endpoint where no sender waits. Returns the
/// caller and how to switch to it, or `None` with nothing changed.
pub fn reply_recv<M: Machine>(m: &mut M, server: u64) -> Option<(u64, M::Switch)> {
    let g = &m.tcb(server).context.general;
    let (info, address) = (g[reg::RSI], g[reg::RDI]);
    if !fits_registers(info) {
        return None;
    }
    let caller = m.reply_cap(server)?.caller();
    let c = m.tcb(caller);
    if c.state != ThreadState::BlockedOnReply || c.fault.is_fault() {
        return None;
    }
    let cap = EndpointCap::from_cap(m.lookup(server, address)?)?;
    if !cap.rights().contains(Rights::READ) {
        return None;
    }
    let endpoint = cap.endpoint();
    let Endpoint { head, .. } = *m.endpoint(endpoint);
    if head != 0 && m.tcb(head).state == ThreadState::BlockedOnSend {
        return None;
    }
    let switch = m.runs_next(caller)?;
    // The changes `ipc::reply` and then `ipc::recv` make.
    let replied = ipc::reply(m, server);
    debug_assert!(replied);
    let outcome = ipc::recv(m, server, endpoint, cap.rights().contains(Rights::GRANT));
    debug_assert_eq!(outcome, ipc::Next::Block);
    Some((caller, switch))
}
