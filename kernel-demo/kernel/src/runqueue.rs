//! The run queues: seL4's fixed-priority scheduling without MCS. There is
//! one FIFO queue of runnable threads per priority (256 levels, 0 the
//! lowest), linked through `Tcb::sched_next`, and a bitmap of the levels
//! that are not empty, so the highest runnable thread is found with two
//! leading-zero counts. A thread is in at most one queue, at its
//! `Tcb::priority`, and only while it is runnable and not running.
//!
//! Nothing allocates: the queues are 4 KiB of heads and tails in the
//! kernel's state. Touches only the TCBs it is handed, through [`Tcbs`],
//! so the policy is unit-tested on the host with TCBs in a map.

use crate::tcb::Tcb;

/// How many priorities there are (seL4's `seL4_MaxPrio + 1`).
pub const PRIORITIES: usize = 256;

/// Timer ticks in a time slice (seL4's `CONFIG_TIME_SLICE`).
pub const TIME_SLICE: u8 = 10;

/// A timer tick while `thread` runs (seL4's timerTick): one tick of its
/// slice goes; whether the slice ran out, in which case it is refilled
/// and the thread goes to the back of its level. A thread keeps what is
/// left of its slice across a block or a preemption, so one switched to
/// just before a tick still gets its ticks.
pub fn tick(thread: &mut Tcb) -> bool {
    if thread.time_slice > 1 {
        thread.time_slice -= 1;
        false
    } else {
        thread.time_slice = TIME_SLICE;
        true
    }
}

/// Where the scheduler finds TCBs.
pub trait Tcbs {
    /// The TCB at `at`.
    fn tcb(&mut self, at: u64) -> &mut Tcb;
}

/// The queues of runnable threads, one per priority.
#[derive(Clone, Debug)]
pub struct RunQueues {
    heads: [u64; PRIORITIES],
    tails: [u64; PRIORITIES],
    /// Bit `p % 64` of word `p / 64` is set when level `p` is not empty.
    levels: [u64; PRIORITIES / 64],
}

impl Default for RunQueues {
    fn default() -> RunQueues {
        RunQueues::new()
    }
}

impl RunQueues {
    /// No thread is runnable.
    pub const fn new() -> RunQueues {
        RunQueues {
            heads: [0; PRIORITIES],
            tails: [0; PRIORITIES],
            levels: [0; PRIORITIES / 64],
        }
    }

    /// The highest priority with a queued thread.
    pub fn highest(&self) -> Option<u8> {
        let word = self.levels.iter().rposition(|&w| w != 0)?;
        let bit = 63 - self.levels[word].leading_zeros() as usize;
        Some((word * 64 + bit) as u8)
    }

    /// Whether no thread is queued.
    pub fn is_empty(&self) -> bool {
        self.levels.iter().all(|&w| w == 0)
    }

    fn mark(&mut self, level: usize, queued: bool) {
        let bit = 1u64 << (level % 64);
        if queued {
            self.levels[level / 64] |= bit;
        } else {
            self.levels[level / 64] &= !bit;
        }
    }

    /// Puts `thread` at the back of its priority's queue (it has had its
    /// turn: a yield, a time slice used up, or it was woken).
    pub fn append(&mut self, tcbs: &mut impl Tcbs, thread: u64) {
        let level = usize::from(tcbs.tcb(thread).priority);
        tcbs.tcb(thread).sched_next = 0;
        match self.tails[level] {
            0 => self.heads[level] = thread,
            tail => tcbs.tcb(tail).sched_next = thread,
        }
        self.tails[level] = thread;
        self.mark(level, true);
    }

    /// Puts `thread` at the front of its priority's queue (it was
    /// preempted by a higher priority and keeps its place, as seL4's
    /// `tcbSchedEnqueue` of the current thread).
    pub fn prepend(&mut self, tcbs: &mut impl Tcbs, thread: u64) {
        let level = usize::from(tcbs.tcb(thread).priority);
        tcbs.tcb(thread).sched_next = self.heads[level];
        if self.heads[level] == 0 {
            self.tails[level] = thread;
        }
        self.heads[level] = thread;
        self.mark(level, true);
    }

    /// Takes the first thread of the highest non-empty level.
    pub fn take_highest(&mut self, tcbs: &mut impl Tcbs) -> Option<u64> {
        let level = usize::from(self.highest()?);
        let head = self.heads[level];
        let next = tcbs.tcb(head).sched_next;
        tcbs.tcb(head).sched_next = 0;
        self.heads[level] = next;
        if next == 0 {
            self.tails[level] = 0;
            self.mark(level, false);
        }
        Some(head)
    }

    /// Takes `thread` out of the queue of its priority if it is there;
    /// whether it was.
    pub fn remove(&mut self, tcbs: &mut impl Tcbs, thread: u64) -> bool {
        let level = usize::from(tcbs.tcb(thread).priority);
        let (mut previous, mut at) = (0, self.heads[level]);
        // A queue holds each thread once, so it is no longer than the
        // threads there are; a broken one must not loop forever.
        for _ in 0..=u16::MAX {
            if at == 0 {
                return false;
            }
            let next = tcbs.tcb(at).sched_next;
            if at == thread {
                match previous {
                    0 => self.heads[level] = next,
                    p => tcbs.tcb(p).sched_next = next,
                }
                if self.tails[level] == thread {
                    self.tails[level] = previous;
                }
                tcbs.tcb(at).sched_next = 0;
                if self.heads[level] == 0 {
                    self.mark(level, false);
                }
                return true;
            }
            (previous, at) = (at, next);
        }
        false
    }

    /// The threads queued at `level`, first to run first (for reports and
    /// tests).
    pub fn queued_at(&self, tcbs: &mut impl Tcbs, level: u8, out: &mut [u64]) -> usize {
        let mut at = self.heads[usize::from(level)];
        let mut n = 0;
        while at != 0 && n < out.len() {
            out[n] = at;
            n += 1;
            at = tcbs.tcb(at).sched_next;
        }
        n
    }
}

/// Whether a thread of priority `priority` may be given priority `new` by
/// the holder of a TCB cap to `authority` (seL4's `checkPrio`): not above
/// the authority's maximum controlled priority. The error is seL4's
/// `RangeError` with `0..=mcp`.
pub fn check_priority(new: u64, authority: &Tcb) -> Result<u8, (u64, u64)> {
    let mcp = u64::from(authority.mcp);
    if new > mcp {
        return Err((0, mcp));
    }
    Ok(new as u8)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// TCBs in a map, made on first use: for the host tests of what links
    /// threads through their TCBs.
    #[derive(Default)]
    pub(crate) struct Map(BTreeMap<u64, Tcb>);

    impl Tcbs for Map {
        fn tcb(&mut self, at: u64) -> &mut Tcb {
            self.0.entry(at).or_default()
        }
    }

    fn with_priorities(threads: &[(u64, u8)]) -> Map {
        let mut map = Map::default();
        for &(at, priority) in threads {
            map.tcb(at).priority = priority;
        }
        map
    }

    #[test]
    fn a_slice_lasts_its_ticks_whenever_they_come() {
        let mut t = Tcb::new();
        assert_eq!(t.time_slice, TIME_SLICE);
        for _ in 1..TIME_SLICE {
            assert!(!tick(&mut t), "ticks left");
        }
        assert!(tick(&mut t), "the last tick ends the slice");
        assert_eq!(t.time_slice, TIME_SLICE, "and refills it");
        // A slice half used stays half used across whatever happens
        // between two ticks.
        for _ in 0..TIME_SLICE / 2 {
            tick(&mut t);
        }
        assert_eq!(t.time_slice, TIME_SLICE - TIME_SLICE / 2);
        t.time_slice = 0;
        assert!(tick(&mut t), "0 counts as used up");
    }

    #[test]
    fn the_highest_priority_runs_first_and_each_level_in_turn() {
        let mut tcbs = with_priorities(&[(1, 10), (2, 200), (3, 10), (4, 0), (5, 255)]);
        let mut q = RunQueues::new();
        assert_eq!(q.take_highest(&mut tcbs), None);
        for t in [1, 2, 3, 4, 5] {
            q.append(&mut tcbs, t);
        }
        assert_eq!(q.highest(), Some(255));
        let order: Vec<u64> = core::iter::from_fn(|| q.take_highest(&mut tcbs)).collect();
        assert_eq!(order, [5, 2, 1, 3, 4]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_preempted_thread_keeps_its_place_and_a_yielding_one_goes_last() {
        let mut tcbs = with_priorities(&[(1, 7), (2, 7), (3, 7)]);
        let mut q = RunQueues::new();
        q.append(&mut tcbs, 2);
        q.append(&mut tcbs, 3);
        q.prepend(&mut tcbs, 1);
        let mut out = [0; 4];
        assert_eq!(q.queued_at(&mut tcbs, 7, &mut out), 3);
        assert_eq!(out[..3], [1, 2, 3]);
        assert_eq!(q.take_highest(&mut tcbs), Some(1));
        q.append(&mut tcbs, 1);
        assert_eq!(q.queued_at(&mut tcbs, 7, &mut out), 3);
        assert_eq!(out[..3], [2, 3, 1]);
    }

    #[test]
    fn removal_keeps_the_rest_in_order_and_empties_the_level() {
        let mut tcbs = with_priorities(&[(1, 64), (2, 64), (3, 64), (4, 63)]);
        let mut q = RunQueues::new();
        for t in [1, 2, 3, 4] {
            q.append(&mut tcbs, t);
        }
        assert!(q.remove(&mut tcbs, 3));
        assert!(!q.remove(&mut tcbs, 3));
        assert!(q.remove(&mut tcbs, 1));
        assert_eq!(q.take_highest(&mut tcbs), Some(2));
        // Level 64 is empty now (bit 0 of the second word): 63 is next.
        assert_eq!(q.highest(), Some(63));
        assert!(q.remove(&mut tcbs, 4));
        assert_eq!(q.highest(), None);
        // A tail removed: appending after it links from the new tail.
        for t in [1, 2, 3] {
            q.append(&mut tcbs, t);
        }
        assert!(q.remove(&mut tcbs, 3));
        q.append(&mut tcbs, 3);
        let order: Vec<u64> = core::iter::from_fn(|| q.take_highest(&mut tcbs)).collect();
        assert_eq!(order, [1, 2, 3]);
    }

    #[test]
    fn priorities_are_bounded_by_the_authoritys_mcp() {
        let mut authority = Tcb::new();
        authority.mcp = 100;
        assert_eq!(check_priority(100, &authority), Ok(100));
        assert_eq!(check_priority(101, &authority), Err((0, 100)));
        assert_eq!(check_priority(u64::MAX, &authority), Err((0, 100)));
        authority.mcp = 0;
        assert_eq!(check_priority(0, &authority), Ok(0));
    }
}
