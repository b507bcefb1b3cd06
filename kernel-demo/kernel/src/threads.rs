//! Every thread the kernel knows, without a table: a doubly linked list
//! through the TCBs themselves (`Tcb::thread_next`, `Tcb::thread_prev`), as
//! seL4's debug list of TCBs. A TCB joins it when retype makes it and
//! leaves it when its last cap goes (its `stop_thread` finaliser), so the
//! memory the list takes is the TCBs', paid for by whoever retyped them,
//! and the kernel's own part is one word, the head, whatever the number of
//! threads.
//!
//! Used by what must find threads not reached through a queue: the
//! finalisation of memory (threads waiting on objects in it), the audit,
//! the idle check and the final report. Touches only the TCBs it is
//! handed, through [`Tcbs`], so it is unit-tested on the host.

use crate::runqueue::Tcbs;

/// The threads the kernel knows, linked through their TCBs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadList {
    /// The TCB added last (0: none).
    head: u64,
}

impl ThreadList {
    /// No thread.
    pub const fn new() -> ThreadList {
        ThreadList { head: 0 }
    }

    /// Adds the TCB at `thread`, which must not be in the list (a TCB
    /// retype just made).
    pub fn insert(&mut self, tcbs: &mut impl Tcbs, thread: u64) {
        let old = self.head;
        let t = tcbs.tcb(thread);
        t.thread_next = old;
        t.thread_prev = 0;
        if old != 0 {
            tcbs.tcb(old).thread_prev = thread;
        }
        self.head = thread;
    }

    /// Takes the TCB at `thread` out of the list if it is there (its last
    /// cap went, or its memory is handed out again); whether it was.
    pub fn remove(&mut self, tcbs: &mut impl Tcbs, thread: u64) -> bool {
        let (next, prev) = {
            let t = tcbs.tcb(thread);
            (t.thread_next, t.thread_prev)
        };
        if prev == 0 && self.head != thread {
            return false;
        }
        match prev {
            0 => self.head = next,
            p => tcbs.tcb(p).thread_next = next,
        }
        if next != 0 {
            tcbs.tcb(next).thread_prev = prev;
        }
        let t = tcbs.tcb(thread);
        (t.thread_next, t.thread_prev) = (0, 0);
        true
    }

    /// The first thread of the list (0: none); [`next`](ThreadList::next)
    /// goes on from there.
    pub fn first(&self) -> u64 {
        self.head
    }

    /// The thread after `thread` (0: it was the last). A caller that
    /// removes `thread` reads its successor first.
    pub fn next(tcbs: &mut impl Tcbs, thread: u64) -> u64 {
        tcbs.tcb(thread).thread_next
    }

    /// Whether no thread is known.
    pub fn is_empty(&self) -> bool {
        self.head == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runqueue::tests::Map;

    fn all(list: &ThreadList, tcbs: &mut Map) -> std::vec::Vec<u64> {
        let mut out = std::vec::Vec::new();
        let mut at = list.first();
        while at != 0 {
            out.push(at);
            at = ThreadList::next(tcbs, at);
        }
        out
    }

    #[test]
    fn threads_join_and_leave_in_any_order() {
        let mut tcbs = Map::default();
        let mut list = ThreadList::new();
        assert!(list.is_empty());
        for t in [0x1000, 0x1800, 0x2000, 0x2800] {
            list.insert(&mut tcbs, t);
        }
        assert_eq!(all(&list, &mut tcbs), [0x2800, 0x2000, 0x1800, 0x1000]);
        assert!(list.remove(&mut tcbs, 0x2000), "from the middle");
        assert!(list.remove(&mut tcbs, 0x2800), "the head");
        assert!(list.remove(&mut tcbs, 0x1000), "the tail");
        assert!(!list.remove(&mut tcbs, 0x1000), "not twice");
        assert!(!list.remove(&mut tcbs, 0x3000), "never added");
        assert_eq!(all(&list, &mut tcbs), [0x1800]);
        list.insert(&mut tcbs, 0x1000);
        assert_eq!(all(&list, &mut tcbs), [0x1000, 0x1800]);
        assert!(list.remove(&mut tcbs, 0x1800));
        assert!(list.remove(&mut tcbs, 0x1000));
        assert!(list.is_empty());
    }

    #[test]
    fn a_thousand_threads_cost_the_kernel_one_word() {
        let mut tcbs = Map::default();
        let mut list = ThreadList::new();
        for round in 0..1000u64 {
            let t = 0x10_0000 + (round % 100) * 0x800;
            if round >= 100 {
                assert!(list.remove(&mut tcbs, t));
            }
            list.insert(&mut tcbs, t);
        }
        assert_eq!(all(&list, &mut tcbs).len(), 100);
        assert_eq!(core::mem::size_of::<ThreadList>(), 8);
    }
}
