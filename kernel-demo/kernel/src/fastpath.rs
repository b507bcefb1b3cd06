//! The IPC fast paths, as seL4's `fastpath_call` and
//! `fastpath_reply_recv`: the common case of a round trip, a message in
//! registers alone to a thread already waiting that runs next, checked in
//! one pass and carried out without the general system-call path.
//!
//! Each fast path first checks everything the case needs and changes
//! nothing if any check fails: the caller then takes the slow path
//! (`ipc::send`, `ipc::reply` and `ipc::recv` through the system-call
//! dispatch and the scheduler), which gives the same result. When every
//! check passes it makes the changes the slow path would make, in the same
//! order, through the same [`Objects`], written out for the one case (no
//! queue walk, no reply right to drop, nothing to wake: the thread it
//! names runs next, and the kernel switches to it directly). The host test
//! below holds the two paths to that on random states, and the kernel's
//! `nofastpath` boot flag runs the whole demo on the slow path alone, with
//! the same transcript.

use crate::abi::{Syscall, fits_registers};
use crate::caps::{Cap, EndpointCap, ReplyCap, Rights};
use crate::ipc::{Endpoint, Objects};
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
/// endpoint cap `Call` may send on (kernel.cap's `syscalls` block: the
/// write right) and with a right to be answered (grant or grant-reply), to a receiver that waits on the endpoint with an
/// empty caller slot and no fault to answer, and runs next. Returns the
/// receiver and how to switch to it, or `None` with nothing changed.
pub fn call<M: Machine>(m: &mut M, caller: u64) -> Option<(u64, M::Switch)> {
    let g = &m.tcb(caller).context.general;
    let (info, address) = (g[reg::RSI], g[reg::RDI]);
    if !fits_registers(info) {
        return None;
    }
    let named = m.lookup(caller, address)?;
    let cap = EndpointCap::from_cap(named)?;
    let rights = cap.rights();
    if !Syscall::Call.sends_on(named)
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
    let can_grant = m.tcb(receiver).recv_grant;
    let reply_rights = if can_grant {
        Rights::GRANT
    } else {
        Rights::NONE
    };
    let reply = ReplyCap::new(caller, reply_rights).ok()?;
    // The changes `ipc::send` makes for a call that meets a receiver, in
    // its order, but for waking the receiver: it runs now.
    let r = m.tcb(receiver);
    let after = core::mem::take(&mut r.sched_next);
    let tail = m.endpoint(endpoint).tail;
    *m.endpoint(endpoint) = if after == 0 {
        Endpoint::default()
    } else {
        Endpoint { head: after, tail }
    };
    m.transfer(
        caller,
        receiver,
        cap.badge(),
        rights.contains(Rights::GRANT),
    );
    let r = m.tcb(receiver);
    r.state = ThreadState::Running;
    r.blocked_on = 0;
    r.recv_grant = false;
    m.set_reply_cap(receiver, Some(reply));
    let c = m.tcb(caller);
    c.state = ThreadState::BlockedOnReply;
    c.reply_from = receiver;
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
    let reply = m.reply_cap(server)?;
    let caller = reply.caller();
    let c = m.tcb(caller);
    if c.state != ThreadState::BlockedOnReply || c.fault.is_fault() {
        return None;
    }
    let named = m.lookup(server, address)?;
    let cap = EndpointCap::from_cap(named)?;
    if !Syscall::ReplyRecv.receives_on(named) {
        return None;
    }
    let endpoint = cap.endpoint();
    let Endpoint { head, .. } = *m.endpoint(endpoint);
    if head != 0 && m.tcb(head).state == ThreadState::BlockedOnSend {
        return None;
    }
    let switch = m.runs_next(caller)?;
    // The changes `ipc::reply` and then `ipc::recv` make, in their order,
    // but for waking the caller: it runs now.
    m.set_reply_cap(server, None);
    m.tcb(caller).reply_from = 0;
    m.transfer(server, caller, 0, reply.rights().contains(Rights::GRANT));
    m.tcb(caller).state = ThreadState::Running;
    let Endpoint { head, tail } = *m.endpoint(endpoint);
    m.tcb(server).sched_next = 0;
    *m.endpoint(endpoint) = if tail == 0 {
        Endpoint {
            head: server,
            tail: server,
        }
    } else {
        m.tcb(tail).sched_next = server;
        Endpoint { head, tail: server }
    };
    let s = m.tcb(server);
    s.state = ThreadState::BlockedOnRecv;
    s.blocked_on = endpoint;
    s.recv_grant = cap.rights().contains(Rights::GRANT);
    Some((caller, switch))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::abi::pack_info;
    use crate::caps::MessageInfo;
    use crate::ipc::{self, test_world::World};
    use crate::tcb::PendingSend;

    const EP: u64 = 0x9000;
    const THREADS: [u64; 4] = [0x1000, 0x1800, 0x2000, 0x2800];

    /// A [`World`] with the caps each thread's CSpace gives at address 7,
    /// and the threads that would run next.
    struct Fast {
        world: World,
        caps: BTreeMap<u64, Cap>,
        next: BTreeSet<u64>,
    }

    impl Objects for Fast {
        fn tcb(&mut self, at: u64) -> &mut crate::tcb::Tcb {
            self.world.tcb(at)
        }
        fn endpoint(&mut self, at: u64) -> &mut Endpoint {
            self.world.endpoint(at)
        }
        fn notification(&mut self, at: u64) -> &mut ipc::Notification {
            self.world.notification(at)
        }
        fn transfer(&mut self, from: u64, to: u64, badge: u64, grant: bool) {
            self.world.transfer(from, to, badge, grant)
        }
        fn deliver_signal(&mut self, to: u64, word: u64) {
            self.world.deliver_signal(to, word)
        }
        fn reply_cap(&mut self, holder: u64) -> Option<ReplyCap> {
            self.world.reply_cap(holder)
        }
        fn set_reply_cap(&mut self, holder: u64, cap: Option<ReplyCap>) {
            self.world.set_reply_cap(holder, cap)
        }
        fn wake(&mut self, thread: u64) {
            self.world.wake(thread)
        }
        fn fail_wait(&mut self, thread: u64) {
            self.world.fail_wait(thread)
        }
    }

    impl Machine for Fast {
        type Switch = ();
        fn lookup(&mut self, thread: u64, address: u64) -> Option<Cap> {
            (address == 7).then(|| self.caps.get(&thread).copied())?
        }
        fn runs_next(&mut self, thread: u64) -> Option<()> {
            self.next.contains(&thread).then_some(())
        }
    }

    /// Everything the two paths may change but whom they wake (the fast
    /// path wakes nobody: it names the thread to switch to), to compare
    /// (an empty endpoint is as good as none: the map makes one when it is
    /// read).
    fn state(w: &World) -> String {
        let endpoints: Vec<_> = w.endpoints.iter().filter(|(_, e)| e.head != 0).collect();
        format!(
            "{:?} {:?} {:?} {:?} {:?}",
            w.tcbs, endpoints, w.transfers, w.failed, w.replies
        )
    }

    /// A random world: three threads in random states, some queued on the
    /// endpoint, random reply caps, random endpoint caps and messages.
    fn random(next: &mut impl FnMut() -> u64) -> Fast {
        let mut fast = Fast {
            world: World::default(),
            caps: BTreeMap::new(),
            next: BTreeSet::new(),
        };
        let states = [
            ThreadState::Running,
            ThreadState::BlockedOnRecv,
            ThreadState::BlockedOnSend,
            ThreadState::BlockedOnReply,
        ];
        let mut queue = Vec::new();
        for &t in &THREADS {
            let tcb = fast.world.tcb(t);
            tcb.state = states[(next() % 4) as usize];
            let length = (next() % 6) as usize;
            let caps = usize::from(next().is_multiple_of(5));
            tcb.context.general[reg::RSI] = pack_info(MessageInfo {
                label: next() % 4,
                length,
                caps,
            })
            .unwrap();
            tcb.context.general[reg::RDI] = if next().is_multiple_of(6) { 8 } else { 7 };
            if next().is_multiple_of(6) {
                tcb.fault = crate::abi::FaultMessage::of(14, 4, 0x1000, 0x2000, 0x3000);
            }
            if matches!(
                tcb.state,
                ThreadState::BlockedOnRecv | ThreadState::BlockedOnSend
            ) {
                tcb.blocked_on = EP;
                queue.push(t);
            }
            if !next().is_multiple_of(3) {
                let rights = Rights::from_bits(next() & Rights::ALL.bits()).unwrap();
                let cap = EndpointCap::new(EP, rights, next() % 3).unwrap().cap();
                fast.caps.insert(t, cap);
            }
            if next().is_multiple_of(2) {
                fast.next.insert(t);
            }
        }
        // One kind of thread per queue, as the endpoint keeps it.
        if let Some(&first) = queue.first() {
            let kind = fast.world.tcb(first).state;
            queue.retain(|&t| fast.world.tcb(t).state == kind);
            for pair in queue.windows(2) {
                fast.world.tcb(pair[0]).sched_next = pair[1];
            }
            *fast.world.endpoint(EP) = Endpoint {
                head: queue[0],
                tail: *queue.last().unwrap(),
            };
        }
        for &holder in &THREADS {
            if next().is_multiple_of(2) {
                let caller = THREADS[(next() % 4) as usize];
                let rights = if next().is_multiple_of(2) {
                    Rights::GRANT
                } else {
                    Rights::NONE
                };
                fast.world
                    .set_reply_cap(holder, Some(ReplyCap::new(caller, rights).unwrap()));
                if fast.world.tcb(caller).state == ThreadState::BlockedOnReply {
                    fast.world.tcb(caller).reply_from = holder;
                }
            }
        }
        fast
    }

    /// The slow path of `Call` by `caller` (`user/syscall.rs`): the
    /// lookup, then `ipc::send` through an endpoint cap with write.
    fn slow_call(w: &mut Fast, caller: u64) {
        let address = w.tcb(caller).context.general[reg::RDI];
        if let Some(cap) = w.lookup(caller, address).and_then(EndpointCap::from_cap)
            && cap.rights().contains(Rights::WRITE)
        {
            let rights = cap.rights();
            let pending = PendingSend {
                badge: cap.badge(),
                grant: rights.contains(Rights::GRANT),
                grant_reply: rights.contains(Rights::GRANT_REPLY),
                call: true,
            };
            ipc::send(w, caller, cap.endpoint(), pending);
        }
    }

    /// The slow path of `ReplyRecv` by `server`: `ipc::reply`, then the
    /// lookup and `ipc::recv` through an endpoint cap with read.
    fn slow_reply_recv(w: &mut Fast, server: u64) {
        ipc::reply(w, server);
        let address = w.tcb(server).context.general[reg::RDI];
        if let Some(cap) = w.lookup(server, address).and_then(EndpointCap::from_cap)
            && cap.rights().contains(Rights::READ)
        {
            let grant = cap.rights().contains(Rights::GRANT);
            ipc::recv(w, server, cap.endpoint(), grant);
        }
    }

    /// On random worlds, each fast path either changes nothing or makes
    /// the slow path's changes and names the thread the slow path woke;
    /// and it is taken often enough for that to mean something.
    #[test]
    fn a_fast_path_changes_nothing_or_what_the_slow_path_changes() {
        let mut rng = crate::model_check::XorShift(0x2545_f491_4f6c_dd1du64);
        let mut next = move || rng.next();
        let mut taken = [0; 2];
        for round in 0..200_000 {
            let mut fast = random(&mut next);
            let mut slow = random(&mut || 0);
            // The same world twice: rebuild from the same numbers.
            let before = state(&fast.world);
            slow.world = World::default();
            slow.world.tcbs = fast.world.tcbs.clone();
            slow.world.endpoints = fast.world.endpoints.clone();
            slow.world.replies = fast.world.replies.clone();
            slow.caps = fast.caps.clone();
            slow.next = fast.next.clone();
            let me = THREADS[round % 4];
            if fast.world.tcb(me).state != ThreadState::Running {
                continue;
            }
            let which = round / 4 % 2;
            let result = if which == 0 {
                call(&mut fast, me)
            } else {
                reply_recv(&mut fast, me)
            };
            match result {
                None => assert_eq!(state(&fast.world), before, "round {round}"),
                Some((to, ())) => {
                    taken[which] += 1;
                    if which == 0 {
                        slow_call(&mut slow, me);
                    } else {
                        slow_reply_recv(&mut slow, me);
                    }
                    assert_eq!(state(&fast.world), state(&slow.world), "round {round}");
                    assert_eq!(slow.world.woken, [to], "round {round}");
                    assert!(fast.world.woken.is_empty());
                    assert!(fast.next.contains(&to));
                    assert_ne!(fast.world.tcb(me).state, ThreadState::Running);
                }
            }
        }
        assert!(
            taken[0] > 100 && taken[1] > 100,
            "fast paths taken: {taken:?}"
        );
    }
}
