//! Synchronous IPC through endpoints and asynchronous signals through
//! notifications, with seL4's semantics (before MCS): a send meets a
//! waiting receiver or queues; a receive meets a waiting sender or queues;
//! a call is a send that then waits for the reply, and the receiver gets
//! the right to reply once (the TCB's `reply_to`, seL4's reply cap in the
//! caller slot). As in seL4, a call through a cap with neither the grant
//! nor the grant-reply right leaves the caller inactive with no reply
//! right; the reply may carry caps if the receiver's endpoint cap had the
//! grant right; and the right is one-shot: it goes when the caller's wait
//! is cancelled (suspend, deletion), when the receiver takes another call,
//! and when it is used.
//!
//! The queues live in the objects and the TCBs: an endpoint (16 bytes) is
//! the head and tail of one queue of threads, all senders or all
//! receivers; a thread is linked through `Tcb::sched_next`, since a
//! blocked thread is never in the run queue. Nothing here allocates.
//!
//! The kernel reaches objects through [`Objects`], which also moves the
//! message itself (registers, IPC buffer, caps); so the state machine is
//! unit-tested on the host with objects in a map.

use crate::caps::{ReplyCap, Rights};
use crate::tcb::{PendingSend, Tcb, ThreadState};

/// An endpoint object: one queue, of senders or of receivers.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// First waiting thread (TCB address), 0 if none.
    pub head: u64,
    /// Last waiting thread.
    pub tail: u64,
}

/// A notification object: the signalled bits, and the threads waiting.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Notification {
    /// Bits signalled and not yet taken.
    pub word: u64,
    /// First waiting thread, 0 if none.
    pub head: u64,
    /// Last waiting thread.
    pub tail: u64,
    /// 1 while a signal nobody waited for is pending (seL4's
    /// `NtfnState_Active`), even one of badge 0, whose `word` is 0; the
    /// next wait takes `word` and clears it. 0 otherwise.
    pub active: u64,
}

// The objects must fit the sizes the spec gives them.
const _: () = assert!(core::mem::size_of::<Endpoint>() <= 16);
const _: () = assert!(core::mem::size_of::<Notification>() <= 32);

/// What the kernel provides to IPC: the objects, and the machinery that
/// copies a message and makes a thread runnable.
pub trait Objects {
    /// The TCB at `at`.
    fn tcb(&mut self, at: u64) -> &mut Tcb;
    /// The endpoint at `at`.
    fn endpoint(&mut self, at: u64) -> &mut Endpoint;
    /// The notification at `at`.
    fn notification(&mut self, at: u64) -> &mut Notification;
    /// Copies the message `from` is sending (its saved registers and IPC
    /// buffer, and its caps if `grant`) to `to`, whose receive returns with
    /// `badge`.
    fn transfer(&mut self, from: u64, to: u64, badge: u64, grant: bool);
    /// Ends `to`'s wait on a notification with the bits `word`.
    fn deliver_signal(&mut self, to: u64, word: u64);
    /// The reply cap in the caller slot of the thread at `holder`, if any.
    fn reply_cap(&mut self, holder: u64) -> Option<ReplyCap>;
    /// Puts `cap` into the (empty) caller slot of the thread at `holder`,
    /// or, with `None`, deletes the cap there. A reply cap has no parent
    /// and no children (it is never copied), so this touches no other slot.
    fn set_reply_cap(&mut self, holder: u64, cap: Option<ReplyCap>);
    /// Makes `thread` runnable (appends it to the run queue).
    fn wake(&mut self, thread: u64);
    /// Ends `thread`'s wait with an error (what it waited on is gone, or
    /// the badge it sent with was cancelled) and makes it runnable.
    fn fail_wait(&mut self, thread: u64);
}

/// What the caller of an IPC operation does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Goes on: its system call has returned.
    Continue,
    /// Waits: another thread must run.
    Block,
}

/// Which kind of thread an endpoint queue holds, from its first thread.
fn queued_state(objects: &mut impl Objects, head: u64) -> Option<ThreadState> {
    (head != 0).then(|| objects.tcb(head).state)
}

/// Appends `thread` to the queue `head..tail`.
fn push(objects: &mut impl Objects, (head, tail): (u64, u64), thread: u64) -> (u64, u64) {
    objects.tcb(thread).sched_next = 0;
    if tail == 0 {
        (thread, thread)
    } else {
        objects.tcb(tail).sched_next = thread;
        (head, thread)
    }
}

/// Takes the first thread off the queue `head..tail`.
fn pop(objects: &mut impl Objects, (head, tail): (u64, u64)) -> ((u64, u64), u64) {
    let next = objects.tcb(head).sched_next;
    objects.tcb(head).sched_next = 0;
    let queue = if next == 0 { (0, 0) } else { (next, tail) };
    (queue, head)
}

/// `sender` sends through a cap to the endpoint at `endpoint` with
/// `pending` (its badge and rights, and whether it calls). A waiting
/// receiver gets the message at once; otherwise the sender queues. A
/// caller then waits for the reply either way.
pub fn send(objects: &mut impl Objects, sender: u64, endpoint: u64, pending: PendingSend) -> Next {
    let ep = *objects.endpoint(endpoint);
    if queued_state(objects, ep.head) == Some(ThreadState::BlockedOnRecv) {
        let (queue, receiver) = pop(objects, (ep.head, ep.tail));
        *objects.endpoint(endpoint) = Endpoint {
            head: queue.0,
            tail: queue.1,
        };
        objects.transfer(sender, receiver, pending.badge, pending.grant);
        let r = objects.tcb(receiver);
        r.state = ThreadState::Running;
        r.blocked_on = 0;
        let can_grant = core::mem::take(&mut r.recv_grant);
        objects.wake(receiver);
        if pending.call {
            await_reply(objects, sender, receiver, pending, can_grant);
            return Next::Block;
        }
        return Next::Continue;
    }
    let queue = push(objects, (ep.head, ep.tail), sender);
    *objects.endpoint(endpoint) = Endpoint {
        head: queue.0,
        tail: queue.1,
    };
    let s = objects.tcb(sender);
    s.state = ThreadState::BlockedOnSend;
    s.blocked_on = endpoint;
    s.ipc = pending;
    Next::Block
}

/// The caller `sender` of a call `receiver` took waits for the reply, and
/// `receiver` holds the one right to give it (dropping any it held), if
/// the caller's cap allowed a reply; otherwise the caller is left inactive.
fn await_reply(
    objects: &mut impl Objects,
    sender: u64,
    receiver: u64,
    pending: PendingSend,
    can_grant: bool,
) {
    if !(pending.grant || pending.grant_reply) {
        objects.tcb(sender).state = ThreadState::Inactive;
        return;
    }
    drop_reply_right(objects, receiver);
    let rights = if can_grant {
        Rights::GRANT
    } else {
        Rights::NONE
    };
    let Ok(reply) = ReplyCap::new(sender, rights) else {
        // A TCB address always fits; a caller nobody can answer waits for
        // nothing.
        objects.tcb(sender).state = ThreadState::Inactive;
        return;
    };
    objects.set_reply_cap(receiver, Some(reply));
    let s = objects.tcb(sender);
    s.state = ThreadState::BlockedOnReply;
    s.reply_from = receiver;
}

/// `holder` loses the right to reply it holds, if any: the reply cap in
/// its caller slot is deleted. Its caller stays waiting (as in seL4, where
/// deleting a reply cap leaves the caller blocked until it is cancelled).
pub fn drop_reply_right(objects: &mut impl Objects, holder: u64) {
    let Some(reply) = objects.reply_cap(holder) else {
        return;
    };
    objects.set_reply_cap(holder, None);
    reply_cap_gone(objects, reply);
}

/// The reply cap `reply` went (used, dropped, or deleted with its holder's
/// slots). It was the only one naming its caller, which is live (a
/// caller's cancelled wait deletes it first), so the caller no longer
/// knows anyone who may answer it.
pub fn reply_cap_gone(objects: &mut impl Objects, reply: ReplyCap) {
    objects.tcb(reply.caller()).reply_from = 0;
}

/// `receiver` receives on the endpoint at `endpoint` through a cap that
/// has the grant right if `can_grant`: the first waiting sender's message
/// at once (a caller then waits for `receiver`'s reply; any other sender
/// goes on), or it queues.
pub fn recv(objects: &mut impl Objects, receiver: u64, endpoint: u64, can_grant: bool) -> Next {
    let ep = *objects.endpoint(endpoint);
    if queued_state(objects, ep.head) == Some(ThreadState::BlockedOnSend) {
        let (queue, sender) = pop(objects, (ep.head, ep.tail));
        *objects.endpoint(endpoint) = Endpoint {
            head: queue.0,
            tail: queue.1,
        };
        let pending = objects.tcb(sender).ipc;
        objects.transfer(sender, receiver, pending.badge, pending.grant);
        let s = objects.tcb(sender);
        s.blocked_on = 0;
        s.ipc = PendingSend::default();
        if pending.call {
            await_reply(objects, sender, receiver, pending, can_grant);
        } else {
            s.state = ThreadState::Running;
            objects.wake(sender);
        }
        return Next::Continue;
    }
    let queue = push(objects, (ep.head, ep.tail), receiver);
    *objects.endpoint(endpoint) = Endpoint {
        head: queue.0,
        tail: queue.1,
    };
    let r = objects.tcb(receiver);
    r.state = ThreadState::BlockedOnRecv;
    r.blocked_on = endpoint;
    r.recv_grant = can_grant;
    Next::Block
}

/// `replier` answers the call it received last, if the caller still
/// waits for this very reply; whether there was one to answer. Caps go
/// along if the endpoint cap `replier` received the call through had the
/// grant right.
pub fn reply(objects: &mut impl Objects, replier: u64) -> bool {
    let Some(reply) = objects.reply_cap(replier) else {
        return false;
    };
    // One-shot: used up whatever comes of it.
    drop_reply_right(objects, replier);
    let caller = reply.caller();
    if objects.tcb(caller).state != ThreadState::BlockedOnReply {
        return false;
    }
    let grant = reply.rights().contains(Rights::GRANT);
    objects.transfer(replier, caller, 0, grant);
    objects.tcb(caller).state = ThreadState::Running;
    objects.wake(caller);
    true
}

/// Signals the notification at `notification` with the bits `badge`: the
/// first waiting thread gets them, or they are kept and the notification
/// is active (a signal is pending, even of badge 0, as in seL4).
pub fn signal(objects: &mut impl Objects, notification: u64, badge: u64) {
    let n = *objects.notification(notification);
    if n.head == 0 {
        let n = objects.notification(notification);
        n.word |= badge;
        n.active = 1;
        return;
    }
    let (queue, waiter) = pop(objects, (n.head, n.tail));
    *objects.notification(notification) = Notification {
        word: 0,
        head: queue.0,
        tail: queue.1,
        active: 0,
    };
    let t = objects.tcb(waiter);
    t.state = ThreadState::Running;
    t.blocked_on = 0;
    objects.deliver_signal(waiter, n.word | badge);
    objects.wake(waiter);
}

/// `waiter` waits on the notification at `notification`: takes the bits
/// signalled so far if a signal is pending (even of badge 0: the bits are
/// then 0), or queues.
pub fn wait(objects: &mut impl Objects, waiter: u64, notification: u64) -> Next {
    let n = *objects.notification(notification);
    if n.active != 0 {
        let pending = objects.notification(notification);
        (pending.word, pending.active) = (0, 0);
        objects.deliver_signal(waiter, n.word);
        return Next::Continue;
    }
    let queue = push(objects, (n.head, n.tail), waiter);
    let n = objects.notification(notification);
    (n.head, n.tail) = queue;
    let t = objects.tcb(waiter);
    t.state = ThreadState::BlockedOnNotification;
    t.blocked_on = notification;
    Next::Block
}

/// Ends `thread`'s wait (when it is suspended, stopped or what it waits
/// on is deleted): takes it out of the queue of the endpoint or
/// notification it waits on, or takes the right to reply to it from the
/// thread that holds it; `thread` is left inactive.
pub fn cancel(objects: &mut impl Objects, thread: u64) {
    // A fault waiting to be sent, or answered, goes with the wait.
    objects.tcb(thread).fault = crate::abi::FaultMessage::NONE;
    let t = *objects.tcb(thread);
    if t.state == ThreadState::BlockedOnReply {
        // The reply cap naming it goes (seL4's cancelIPC deletes the
        // caller cap).
        if t.reply_from != 0
            && objects
                .reply_cap(t.reply_from)
                .is_some_and(|r| r.caller() == thread)
        {
            objects.set_reply_cap(t.reply_from, None);
        }
        let t = objects.tcb(thread);
        t.reply_from = 0;
        t.state = ThreadState::Inactive;
        return;
    }
    let at = t.blocked_on;
    if at == 0 {
        return;
    }
    let (head, tail) = match t.state {
        ThreadState::BlockedOnSend | ThreadState::BlockedOnRecv => {
            let ep = *objects.endpoint(at);
            (ep.head, ep.tail)
        }
        ThreadState::BlockedOnNotification => {
            let n = *objects.notification(at);
            (n.head, n.tail)
        }
        _ => return,
    };
    let (mut new_head, mut new_tail, mut previous, mut cursor) = (head, tail, 0, head);
    while cursor != 0 {
        let next = objects.tcb(cursor).sched_next;
        if cursor == thread {
            if previous == 0 {
                new_head = next;
            } else {
                objects.tcb(previous).sched_next = next;
            }
            if new_tail == thread {
                new_tail = previous;
            }
            break;
        }
        previous = cursor;
        cursor = next;
    }
    match t.state {
        ThreadState::BlockedOnNotification => {
            let n = objects.notification(at);
            (n.head, n.tail) = (new_head, new_tail);
        }
        _ => {
            *objects.endpoint(at) = Endpoint {
                head: new_head,
                tail: new_tail,
            }
        }
    }
    let t = objects.tcb(thread);
    t.sched_next = 0;
    t.blocked_on = 0;
    t.state = ThreadState::Inactive;
}

/// Restarts, with an error, every sender queued on the endpoint at
/// `endpoint` with `badge` (seL4's cancelBadgedSends): called when the last
/// cap carrying the badge goes, so that no message with a badge nobody
/// holds is delivered. Others stay queued in order.
pub fn cancel_badged_sends(objects: &mut impl Objects, endpoint: u64, badge: u64) {
    let ep = *objects.endpoint(endpoint);
    if queued_state(objects, ep.head) != Some(ThreadState::BlockedOnSend) {
        return;
    }
    let mut cursor = ep.head;
    while cursor != 0 {
        let next = objects.tcb(cursor).sched_next;
        if objects.tcb(cursor).ipc.badge == badge {
            restart(objects, cursor);
        }
        cursor = next;
    }
}

/// Restarts, with an error, every thread queued on the endpoint or
/// notification at `at` (seL4's cancelAllIPC and cancelAllSignals): called
/// when its last cap goes.
pub fn cancel_all(objects: &mut impl Objects, at: u64, notification: bool) {
    // Every round takes one thread off; a queue is no longer than the
    // threads there are, but a broken one must not loop forever.
    for _ in 0..=u16::MAX {
        let head = if notification {
            objects.notification(at).head
        } else {
            objects.endpoint(at).head
        };
        if head == 0 {
            return;
        }
        restart(objects, head);
    }
}

/// Ends `thread`'s wait because what it waited on went: a system call
/// returns with an error (`Objects::fail_wait`); a thread whose fault was
/// on its way to its handler runs again from the faulting instruction (as
/// seL4 restarts it), so it faults anew.
fn restart(objects: &mut impl Objects, thread: u64) {
    let faulted = objects.tcb(thread).fault.is_fault();
    cancel(objects, thread);
    if faulted {
        objects.tcb(thread).state = ThreadState::Running;
        objects.wake(thread);
    } else {
        objects.fail_wait(thread);
    }
}

/// Objects in maps for host tests of IPC and finalisation: a transfer
/// records who sent what to whom, a failed wait who was restarted.
#[cfg(test)]
pub(crate) mod test_world {
    use std::collections::BTreeMap;

    use super::*;

    /// Objects in maps; a transfer records who sent what to whom.
    #[derive(Default)]
    pub(crate) struct World {
        pub(crate) tcbs: BTreeMap<u64, Tcb>,
        pub(crate) endpoints: BTreeMap<u64, Endpoint>,
        pub(crate) notifications: BTreeMap<u64, Notification>,
        pub(crate) transfers: Vec<(u64, u64, u64, bool)>,
        pub(crate) signals: Vec<(u64, u64)>,
        pub(crate) woken: Vec<u64>,
        pub(crate) failed: Vec<u64>,
        /// The reply caps in the threads' caller slots.
        pub(crate) replies: BTreeMap<u64, ReplyCap>,
    }

    impl Objects for World {
        fn tcb(&mut self, at: u64) -> &mut Tcb {
            self.tcbs.entry(at).or_default()
        }
        fn endpoint(&mut self, at: u64) -> &mut Endpoint {
            self.endpoints.entry(at).or_default()
        }
        fn notification(&mut self, at: u64) -> &mut Notification {
            self.notifications.entry(at).or_default()
        }
        fn transfer(&mut self, from: u64, to: u64, badge: u64, grant: bool) {
            self.transfers.push((from, to, badge, grant));
        }
        fn deliver_signal(&mut self, to: u64, word: u64) {
            self.signals.push((to, word));
        }
        fn wake(&mut self, thread: u64) {
            self.woken.push(thread);
        }
        fn fail_wait(&mut self, thread: u64) {
            self.tcb(thread).state = ThreadState::Running;
            self.failed.push(thread);
        }
        fn reply_cap(&mut self, holder: u64) -> Option<ReplyCap> {
            self.replies.get(&holder).copied()
        }
        fn set_reply_cap(&mut self, holder: u64, cap: Option<ReplyCap>) {
            match cap {
                Some(cap) => {
                    assert!(
                        self.replies.insert(holder, cap).is_none(),
                        "the caller slot was full"
                    );
                }
                None => {
                    self.replies.remove(&holder);
                }
            }
        }
    }

    impl World {
        /// The caller the reply cap in `holder`'s caller slot names (0:
        /// none).
        pub(crate) fn reply_to(&self, holder: u64) -> u64 {
            self.replies.get(&holder).map_or(0, |r| r.caller())
        }
    }

    /// A call with `badge` through a cap with grant.
    pub(crate) fn call(badge: u64) -> PendingSend {
        PendingSend {
            badge,
            grant: true,
            grant_reply: false,
            call: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_world::{World, call};
    use super::*;

    const EP: u64 = 0x9000;
    const A: u64 = 0x1000;
    const B: u64 = 0x1800;
    const C: u64 = 0x2000;

    #[test]
    fn a_call_meets_a_waiting_receiver_and_the_reply_wakes_the_caller() {
        let mut w = World::default();
        assert_eq!(recv(&mut w, B, EP, true), Next::Block);
        assert_eq!(w.tcb(B).state, ThreadState::BlockedOnRecv);
        assert_eq!(send(&mut w, A, EP, call(7)), Next::Block);
        assert_eq!(w.transfers, [(A, B, 7, true)]);
        assert_eq!(w.woken, [B]);
        assert_eq!(w.tcb(A).state, ThreadState::BlockedOnReply);
        assert_eq!(w.reply_to(B), A);
        assert_eq!(*w.endpoint(EP), Endpoint::default());
        assert!(reply(&mut w, B));
        assert_eq!(
            w.transfers[1],
            (B, A, 0, true),
            "the receiver's cap had grant"
        );
        assert_eq!(w.tcb(A).state, ThreadState::Running);
        assert!(!reply(&mut w, B), "one reply per call");
    }

    #[test]
    fn senders_queue_in_order_and_a_plain_send_goes_on() {
        let mut w = World::default();
        let plain = PendingSend {
            badge: 1,
            grant: false,
            grant_reply: false,
            call: false,
        };
        assert_eq!(send(&mut w, A, EP, plain), Next::Block);
        assert_eq!(send(&mut w, C, EP, call(3)), Next::Block);
        assert_eq!(*w.endpoint(EP), Endpoint { head: A, tail: C });
        assert_eq!(recv(&mut w, B, EP, true), Next::Continue);
        assert_eq!(w.transfers, [(A, B, 1, false)]);
        assert_eq!(w.tcb(A).state, ThreadState::Running);
        assert_eq!(w.woken, [A]);
        assert_eq!(recv(&mut w, B, EP, true), Next::Continue);
        assert_eq!(w.transfers[1], (C, B, 3, true));
        assert_eq!(w.tcb(C).state, ThreadState::BlockedOnReply);
        assert_eq!(w.reply_to(B), C);
        assert_eq!(recv(&mut w, B, EP, true), Next::Block);
    }

    #[test]
    fn a_cancelled_waiter_leaves_the_queue() {
        let mut w = World::default();
        for t in [A, B, C] {
            recv(&mut w, t, EP, true);
        }
        cancel(&mut w, B);
        assert_eq!(*w.endpoint(EP), Endpoint { head: A, tail: C });
        assert_eq!(w.tcb(A).sched_next, C);
        cancel(&mut w, C);
        assert_eq!(*w.endpoint(EP), Endpoint { head: A, tail: A });
        cancel(&mut w, A);
        assert_eq!(*w.endpoint(EP), Endpoint::default());
        assert_eq!(w.tcb(A).state, ThreadState::Inactive);
    }

    #[test]
    fn a_reply_right_dies_with_the_callers_wait() {
        const EP2: u64 = 0x9100;
        let mut w = World::default();
        recv(&mut w, B, EP, true);
        send(&mut w, A, EP, call(1));
        assert_eq!(w.tcb(A).reply_from, B);
        // A is suspended: B's right to reply to it goes.
        cancel(&mut w, A);
        assert_eq!((w.tcb(A).state, w.reply_to(B)), (ThreadState::Inactive, 0));
        // Resumed, A calls C; B's old reply must not reach it.
        recv(&mut w, C, EP2, true);
        send(&mut w, A, EP2, call(2));
        assert!(!reply(&mut w, B));
        assert_eq!(w.tcb(A).state, ThreadState::BlockedOnReply);
        assert!(reply(&mut w, C));
        assert_eq!(w.transfers.last(), Some(&(C, A, 0, true)));
    }

    #[test]
    fn a_receiver_that_takes_another_call_loses_the_first_reply_right() {
        let mut w = World::default();
        send(&mut w, A, EP, call(1));
        send(&mut w, C, EP, call(2));
        recv(&mut w, B, EP, true);
        recv(&mut w, B, EP, true);
        assert_eq!((w.reply_to(B), w.tcb(A).reply_from), (C, 0));
        assert!(reply(&mut w, B));
        assert_eq!(w.tcb(C).state, ThreadState::Running);
        assert_eq!(
            w.tcb(A).state,
            ThreadState::BlockedOnReply,
            "left waiting, as seL4"
        );
        assert!(!reply(&mut w, B));
    }

    #[test]
    fn grant_rights_decide_the_reply_as_in_sel4() {
        let mut w = World::default();
        // The receiver's cap has no grant: the reply carries no caps.
        recv(&mut w, B, EP, false);
        send(&mut w, A, EP, call(1));
        assert!(reply(&mut w, B));
        assert_eq!(w.transfers.last(), Some(&(B, A, 0, false)));
        // grant-reply alone is enough for a reply right.
        let grant_reply = PendingSend {
            grant: false,
            grant_reply: true,
            ..call(2)
        };
        recv(&mut w, B, EP, true);
        send(&mut w, A, EP, grant_reply);
        assert_eq!(w.reply_to(B), A);
        assert!(reply(&mut w, B));
        // Neither right: the caller gets no reply right and stays inactive.
        let neither = PendingSend {
            grant_reply: false,
            ..grant_reply
        };
        recv(&mut w, B, EP, true);
        assert_eq!(send(&mut w, A, EP, neither), Next::Block);
        assert_eq!((w.tcb(A).state, w.reply_to(B)), (ThreadState::Inactive, 0));
    }

    #[test]
    fn cancelling_a_badge_restarts_only_its_senders() {
        let mut w = World::default();
        let send_with = |badge| PendingSend { badge, ..call(0) };
        send(&mut w, A, EP, send_with(7));
        send(&mut w, B, EP, send_with(1));
        send(&mut w, C, EP, send_with(7));
        cancel_badged_sends(&mut w, EP, 7);
        assert_eq!(w.failed, [A, C]);
        assert_eq!(*w.endpoint(EP), Endpoint { head: B, tail: B });
        assert_eq!(w.tcb(A).blocked_on, 0);
        // Receivers are left alone.
        let mut w = World::default();
        recv(&mut w, A, EP, true);
        cancel_badged_sends(&mut w, EP, 0);
        assert_eq!(*w.endpoint(EP), Endpoint { head: A, tail: A });
    }

    #[test]
    fn deleting_an_object_restarts_every_waiter_with_an_error() {
        let mut w = World::default();
        for t in [A, B, C] {
            recv(&mut w, t, EP, true);
        }
        cancel_all(&mut w, EP, false);
        assert_eq!(w.failed, [A, B, C]);
        assert_eq!(*w.endpoint(EP), Endpoint::default());
        const N: u64 = 0xa000;
        wait(&mut w, A, N);
        cancel_all(&mut w, N, true);
        assert_eq!(w.failed[3], A);
        assert_eq!(w.notification(N).head, 0);
    }

    #[test]
    fn a_fault_on_its_way_restarts_the_thread_and_a_cancelled_one_is_forgotten() {
        use crate::abi::{FaultLabel, FaultMessage};
        let fault = FaultMessage::of(14, 0x4, 0x1000, 0x2000, 0xdead_0000);
        assert_eq!(fault.label, FaultLabel::VmFault as u64);
        assert_eq!(fault.words, [0x1000, 0xdead_0000, 0, 0x4]);
        let gp = FaultMessage::of(13, 0x10, 0x1000, 0x2000, 0);
        assert_eq!(
            (gp.label, gp.words),
            (FaultLabel::UserException as u64, [0x1000, 0x2000, 13, 0x10])
        );
        // A, faulted, queues its fault on the handler's endpoint; B made a
        // system call there. The endpoint goes: B's call fails, A runs
        // again from the faulting instruction (no error for it).
        let mut w = World::default();
        w.tcb(A).fault = fault;
        send(&mut w, A, EP, call(0));
        send(&mut w, B, EP, call(0));
        cancel_all(&mut w, EP, false);
        assert_eq!(w.failed, [B]);
        assert_eq!(w.woken, [A]);
        assert_eq!(w.tcb(A).state, ThreadState::Running);
        assert_eq!(w.tcb(A).fault, FaultMessage::NONE);
        // A fault whose handler took it: suspending the thread forgets it,
        // so a later message of the thread is its own.
        let mut w = World::default();
        recv(&mut w, B, EP, true);
        w.tcb(A).fault = fault;
        send(&mut w, A, EP, call(0));
        assert_eq!(w.tcb(A).state, ThreadState::BlockedOnReply);
        cancel(&mut w, A);
        assert_eq!(w.tcb(A).fault, FaultMessage::NONE);
    }

    #[test]
    fn signals_accumulate_until_someone_waits() {
        let mut w = World::default();
        const N: u64 = 0xa000;
        signal(&mut w, N, 0b01);
        signal(&mut w, N, 0b10);
        assert_eq!(wait(&mut w, A, N), Next::Continue);
        assert_eq!(w.signals, [(A, 0b11)]);
        assert_eq!(wait(&mut w, A, N), Next::Block);
        signal(&mut w, N, 0b100);
        assert_eq!(w.signals[1], (A, 0b100));
        assert_eq!(w.tcb(A).state, ThreadState::Running);
        assert_eq!(w.notification(N).word, 0);
    }

    /// seL4: a signal of badge 0 nobody waits for leaves the notification
    /// active, and the next wait returns at once with the bits 0.
    #[test]
    fn a_signal_of_badge_0_is_kept_for_the_next_wait() {
        let mut w = World::default();
        const N: u64 = 0xa000;
        signal(&mut w, N, 0);
        assert_eq!(w.notification(N).active, 1);
        assert_eq!(wait(&mut w, A, N), Next::Continue);
        assert_eq!(w.signals, [(A, 0)]);
        assert_eq!(w.notification(N).active, 0);
        assert_eq!(wait(&mut w, A, N), Next::Block, "taken once");
    }
}
