//! The hardware-free part of finalisation: what removing a cap does to
//! threads and IPC queues, as the spec's `cancel_waiters` and `stop_thread`
//! finalisers declare it (seL4's finaliseCap for endpoints, notifications
//! and TCBs) and as seL4's cancelBadgedSends does for the last cap with a
//! badge.
//!
//! The kernel's removal hook (`user/lifecycle.rs`) runs these pieces along
//! with the hardware's part (unmapping, the run queue, reports); the
//! differential test runs [`removed`], which is the same pieces in the
//! hook's order, against the spec's interpreter. Touches only what
//! [`Objects`] reaches.

use crate::caps::{Cap, EndpointCap, Finaliser, NotificationCap, ReplyCap};
use crate::cspace::Removal;
use crate::ipc::{self, Objects};
use crate::tcb::ThreadState;

/// The last cap with a badge to an endpoint went: the sends queued with
/// that badge are restarted with an error, so no message carries a badge
/// nobody holds.
pub fn cancel_badged_sends(objects: &mut impl Objects, removal: &Removal) {
    if let Some(endpoint) = EndpointCap::from_cap(removal.cap)
        && removal.last_with_badge
    {
        ipc::cancel_badged_sends(objects, endpoint.endpoint(), endpoint.badge());
    }
}

/// A reply cap went (with its holder's slots, or deleted by the kernel):
/// its caller keeps waiting, as in seL4, but nobody may answer it.
pub fn reply_cap_removed(objects: &mut impl Objects, removal: &Removal) {
    if let Some(reply) = ReplyCap::from_cap(removal.cap) {
        ipc::reply_cap_gone(objects, reply);
    }
}

/// `cancel_waiters`: the last cap to the endpoint or notification `cap`
/// names went; every thread queued on it restarts with an error.
pub fn cancel_waiters(objects: &mut impl Objects, cap: Cap) {
    if let Some(endpoint) = EndpointCap::from_cap(cap) {
        ipc::cancel_all(objects, endpoint.endpoint(), false);
    } else if let Some(notification) = NotificationCap::from_cap(cap) {
        ipc::cancel_all(objects, notification.notification(), true);
    }
}

/// `stop_thread`, for IPC: the thread at `thread` leaves the queue it is in
/// (or, awaiting a reply, the right to give it goes), the right to reply it
/// holds goes (its caller stays waiting, as in seL4), and it is inactive.
/// Taking it off the run queue is the scheduler's part.
pub fn stop_thread(objects: &mut impl Objects, thread: u64) {
    ipc::cancel(objects, thread);
    ipc::drop_reply_right(objects, thread);
    objects.tcb(thread).state = ThreadState::Inactive;
}

/// Everything removing a cap does to threads and IPC, in the removal
/// hook's order: badged sends first, then, for the last cap to an object,
/// the object's finalisers as the spec lists them.
pub fn removed(objects: &mut impl Objects, removal: Removal) {
    reply_cap_removed(objects, &removal);
    cancel_badged_sends(objects, &removal);
    let (true, Some(object), Some((base, _))) = (
        removal.last,
        removal.cap.cap_type().and_then(|t| t.object_type()),
        crate::caps::region(removal.cap),
    ) else {
        return;
    };
    for finaliser in object.finalisers() {
        match finaliser {
            Finaliser::CancelWaiters => cancel_waiters(objects, removal.cap),
            Finaliser::StopThread => stop_thread(objects, base),
            Finaliser::Unmap | Finaliser::ReleaseAsid => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::{Rights, TcbCap};
    use crate::ipc::Endpoint;
    use crate::ipc::test_world::{World, call};

    const EP: u64 = 0x9000;
    const A: u64 = 0x1_0000;
    const B: u64 = 0x1_0800;
    const C: u64 = 0x1_1000;

    fn removal(cap: Cap, last: bool, last_with_badge: bool) -> Removal {
        Removal {
            cap,
            last,
            last_with_badge,
        }
    }

    #[test]
    fn deleting_a_caller_takes_the_right_to_reply_to_it() {
        let mut w = World::default();
        ipc::recv(&mut w, B, EP, true);
        ipc::send(&mut w, A, EP, call(1));
        assert_eq!(w.reply_to(B), A);
        let tcb = TcbCap::new(A).unwrap().cap();
        removed(&mut w, removal(tcb, true, false));
        assert_eq!((w.tcb(A).state, w.reply_to(B)), (ThreadState::Inactive, 0));
        assert!(!ipc::reply(&mut w, B));
    }

    #[test]
    fn deleting_a_receiver_leaves_its_caller_waiting_without_a_replier() {
        let mut w = World::default();
        ipc::recv(&mut w, B, EP, true);
        ipc::send(&mut w, A, EP, call(1));
        removed(&mut w, removal(TcbCap::new(B).unwrap().cap(), true, false));
        assert_eq!(w.tcb(A).state, ThreadState::BlockedOnReply);
        assert_eq!((w.tcb(A).reply_from, w.reply_to(B)), (0, 0));
    }

    #[test]
    fn the_last_badged_cap_cancels_its_sends_and_the_last_cap_all_waiters() {
        let mut w = World::default();
        ipc::send(&mut w, A, EP, call(7));
        ipc::send(&mut w, B, EP, call(3));
        let badged = EndpointCap::new(EP, Rights::ALL, 7).unwrap().cap();
        removed(&mut w, removal(badged, false, false));
        assert!(w.failed.is_empty(), "another cap with badge 7 is left");
        removed(&mut w, removal(badged, false, true));
        assert_eq!(w.failed, [A]);
        let plain = EndpointCap::new(EP, Rights::ALL, 0).unwrap().cap();
        ipc::recv(&mut w, C, 0xa000, true);
        removed(&mut w, removal(plain, true, false));
        assert_eq!(w.failed, [A, B]);
        assert_eq!(*w.endpoint(EP), Endpoint::default());
        assert_eq!(
            w.tcb(C).state,
            ThreadState::BlockedOnRecv,
            "another endpoint"
        );
    }
}
