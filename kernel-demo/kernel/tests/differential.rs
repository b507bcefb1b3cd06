//! Differential tests of the capability core against the spec's meaning:
//! random sequences of operations run on the reference interpreter
//! (`capc_interp`, which reads only the checked model of
//! kernel-demo/spec/kernel.cap) and on this kernel's own `ops` (copy, mint,
//! move, delete, revoke, retype) over a window of slot memory, its
//! derivation tree kept by `mdb` as seL4 keeps it.
//!
//! After every operation both must give the same result (Ok with the same
//! placement or count of removed caps, or the same error with the same
//! payload), the same cap in every slot (bit for bit: the interpreter's caps
//! are packed with the model's layout), and the same parent of every cap
//! (the kernel's computed from its list: the deepest cap whose
//! `mdb::descendants` reach it). Both must keep the invariants: no two live
//! objects overlap, every copy's rights are within its parent's, a revoked
//! cap has no descendant left, every object lies in memory some boot
//! Untyped covers (and what is in use never exceeds it), no watermark
//! exceeds its Untyped's size; and the kernel's list stays consistent.
//!
//! Minting or mutating a CNode cap with a nonzero word sets its guard on
//! both sides (seL4's updateCapData; the interpreter reads the spec's
//! `#[guard]` and `#[guard_bits]` fields), so CNode caps compare like any
//! other.
//!
//! The sequences also configure TCBs (`Ops::WithOwnedSlots`): the
//! interpreter's `configure` against the kernel's `tcb::configure`, so the
//! owned slots of every TCB are compared like CNode slots, and after every
//! step both sides must keep the reference invariant
//! (`harness::check_references`): every cap held in an object's slot (a
//! CNode's, a TCB's own) belongs to a live object of that type, so no slot
//! lies in memory that was handed out again.
//!
//! Frames and tables are mapped too (`Ops::WithLifecycle`): the
//! interpreter walks the tables kernel.cap declares (`table = 512 x ...`,
//! its user space), the kernel runs its own `mapping` and `vspace` over page
//! tables in a word-addressed memory (`Ram`), zeroed and made ready on
//! retype as the kernel does, with its removal hook's `mapping::removed`.
//! After every step both sides report the same address-space numbers and,
//! walking each from its root, the same entry at every level (what each
//! maps and links, by page and entry size), and every entry reached names a
//! live frame or table of the type its level holds.
//!
//! Threads run too (`Ops::WithThreads`): resume, suspend, send, call,
//! receive and reply, on the interpreter's `interp::threads` and on the
//! kernel's `ipc` over TCB, endpoint and notification structs kept beside
//! the window (`Structs`), the removal hook finalising through
//! `finalise::removed` as the kernel's does. After every step both report
//! the same thread states, queues and IPC events (restarts of threads the
//! step also stopped aside: see `observable`), and every waiting thread,
//! queue entry and reply right names a live object of its type. A reply
//! with nothing to answer is `IllegalOperation` on both sides (the system
//! call ignores it); resume asks for a cap in each `#[required]` slot (the
//! address space) on both sides, as the kernel's Resume does.
//!
//! The spec is kernel.cap with one RPC interface, tests/donations.cap's
//! `Service`, so that the sequences also make calls that take a donation.
//! The kernel serves them as the QEMU demo's decompression service does:
//! the generated budget of the method hands out each object of the donated
//! Untyped, and the server makes it with the kernel's own retype. The
//! addresses the retypes produce must be the ones the interpreter's budget
//! (and so the generated one) gave, and the calls' accounting must agree.
//!
//! proptest shrinks a divergence to a short sequence, printed as a case
//! file. Every divergence found stays as a case file in
//! harness/differential-cases/, replayed here (`case_files_agree`) and by
//! the generated code's differential test.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::OnceLock;

use capc_demo_kernel::asid::{self, AsidTable};
use capc_demo_kernel::caps::{
    self, CNodeCap, Cap, EndpointCap, KernelError, NotificationCap, ObjectType, Placement,
    ReplyCap, RetypeRequest, Rights, TcbCap, UntypedMemory,
};
use capc_demo_kernel::cspace::{self, Removal, SlotAddr, SlotMemory, Table};
use capc_demo_kernel::tcb::{self, PendingSend, Tcb, TcbSlot};
use capc_demo_kernel::vspace::{self, PhysMem};
use capc_demo_kernel::{finalise, ipc, mapping, mdb, ops};
use capc_dsl::model::Spec;
use capc_harness::*;
use capc_interp::{self as interp, CNodeId, IpcEvent, Machine, OpError, Slot};
use proptest::prelude::*;

// The operations, the interpreter's side and the invariants are shared
// with the generated code's differential test: `capc_harness`.

/// A refusal: one of the interpreter's errors, or a kernel error the
/// interpreter has no counterpart for (always a divergence).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Refused {
    Op(OpError),
    KernelOnly(KernelError),
}

type Answer = Result<Outcome, Refused>;

/// The interpreter's answer to `op`, in this test's terms.
fn run_interp(m: &mut Machine<'_>, op: &Op) -> Answer {
    capc_harness::run_interp(m, op).map_err(Refused::Op)
}

// ----- the spec and the boot caps -----

fn load(relative: &str) -> Spec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    capc_dsl::compile(&path, &capc_dsl::FsLoader)
        .expect("readable")
        .spec
        .unwrap_or_else(|| panic!("{relative} checks clean"))
}

/// The spec both sides run: kernel.cap with the `Service` interface of
/// tests/donations.cap, whose calls the kernel serves with its own retype.
/// Its objects, caps and retype rules are kernel.cap's
/// (`the_test_spec_is_kernel_cap_with_a_service`).
fn kernel_spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| load("tests/donations.cap"))
}

/// The generated code of tests/donations.cap: only its RPC part (the
/// budget of `Service.make`) is used; the caps are the kernel's.
#[allow(dead_code, unused_imports)]
mod donations {
    capc_macros::include_spec!("tests/donations.cap");
}

/// The physical address of the kernel's slot memory; the root CNode's
/// table is its first 16 slots.
const WINDOW_BASE: u64 = 0x10_0000;
/// The RAM Untyped regions (4 KiB and 32 KiB) lie in the window, so that
/// CNodes can be made from them (the kernel refuses CNodes outside slot
/// memory).
const RAM0: u64 = 0x10_8000;
const RAM1: u64 = 0x10_1000;
/// Slots in the window (64 KiB): up to the end of the larger RAM Untyped.
const WINDOW_SLOTS: usize = ((RAM0 + 0x8000 - WINDOW_BASE) / 32) as usize;

/// RAM Untyped of 32 KiB and 4 KiB, 8 KiB of device memory outside the
/// window, the IRQ control cap (never copied) and an IRQ handler.
const BOOT: &[BootCap] = &[
    (0, "UntypedCap", RAM0, 15, false, &[]),
    (1, "UntypedCap", RAM1, 12, false, &[]),
    (2, "UntypedCap", 0xfe00_0000, 13, true, &[]),
    (3, "IrqControlCap", 0, 0, false, &[]),
    (4, "IrqHandlerCap", 0, 0, false, &[("irq", 3)]),
];

fn boot_interp(spec: &Spec) -> Machine<'_> {
    boot_machine(spec, BOOT)
}

// ----- the kernel's side -----

const SOURCE: Refused = Refused::Op(OpError::FailedLookup { source: 1 });
const TARGET: Refused = Refused::Op(OpError::FailedLookup { source: 0 });

/// The interpreter's error for a kernel error, variant for variant.
fn refused(e: KernelError) -> Refused {
    Refused::Op(match e {
        KernelError::InvalidArgument { index } => OpError::InvalidArgument { index },
        KernelError::RangeError { min, max } => OpError::RangeError { min, max },
        KernelError::NotEnoughMemory { left } => OpError::NotEnoughMemory { left },
        KernelError::DeleteFirst => OpError::DeleteFirst,
        KernelError::RevokeFirst => OpError::RevokeFirst,
        KernelError::FailedLookup { source } => OpError::FailedLookup { source },
        KernelError::IllegalOperation => OpError::IllegalOperation,
        KernelError::InvalidCapability { index } => OpError::InvalidCapability { index },
        KernelError::AlignmentError => OpError::AlignmentError,
        other => return Refused::KernelOnly(other),
    })
}

/// The full slots of the kernel's window, with their addresses.
type Live = Vec<(SlotAddr, cspace::Slot)>;

/// The server's CNode: the objects a call makes from its donation go into
/// it. Its table lies in the window between RAM1 and RAM0, where no Untyped
/// reaches; no cap names it, as the interpreter's server holds its objects
/// outside every CNode.
const SERVER_TABLE: u64 = 0x10_4000;
const SERVER_RADIX: u32 = 9;

/// The kernel's threads, endpoints and notifications, for `ipc` and
/// `finalise`: the structs the kernel keeps at the start of each object,
/// kept here by address beside the slot window (a retype makes them fresh
/// and drops whatever lay in the memory it hands out, as the kernel's
/// `zero_objects` does). What the IPC code did is logged as the
/// interpreter's events.
#[derive(Default)]
struct Structs {
    tcbs: BTreeMap<u64, Tcb>,
    /// What each thread's IPC buffer names (the kernel reads `caps` and
    /// `receive_slots` there): the cap its messages carry, the slot a cap
    /// it receives goes into.
    buffers: BTreeMap<u64, (Option<Path2>, Option<Path2>)>,
    /// Reply caps the IPC code deleted (without the removal hook, as the
    /// kernel does), counted into the step's removals.
    reply_deletions: u64,
    endpoints: BTreeMap<u64, ipc::Endpoint>,
    notifications: BTreeMap<u64, ipc::Notification>,
    /// Addresses the IPC code reached where no such object was made: each
    /// is a divergence (the code reached memory that is something else).
    stray: Vec<String>,
    scratch: (Tcb, ipc::Endpoint, ipc::Notification),
    events: Vec<IpcEvent>,
}

impl Structs {
    /// A retype placed `p`: what lay in its memory is gone, its threads
    /// and IPC objects start fresh.
    fn placed(&mut self, p: &Placement) {
        let (start, end) = (p.first, p.first + (p.count << p.size_bits));
        self.tcbs.retain(|a, _| !(start..end).contains(a));
        self.buffers.retain(|a, _| !(start..end).contains(a));
        self.endpoints.retain(|a, _| !(start..end).contains(a));
        self.notifications.retain(|a, _| !(start..end).contains(a));
        for at in (0..p.count).map(|i| p.first + (i << p.size_bits)) {
            match p.object_type {
                ObjectType::Tcb => {
                    self.tcbs.insert(at, Tcb::new());
                }
                ObjectType::Endpoint => {
                    self.endpoints.insert(at, ipc::Endpoint::default());
                }
                ObjectType::Notification => {
                    self.notifications.insert(at, ipc::Notification::default());
                }
                _ => {}
            }
        }
    }

    /// The thread at `at` as the interpreter models it.
    fn thread(&self, at: u64) -> Result<interp::Thread, String> {
        use capc_demo_kernel::tcb::ThreadState as K;
        use interp::ThreadState as I;
        let t = self
            .tcbs
            .get(&at)
            .ok_or(format!("kernel: no TCB struct at {at:#x}"))?;
        let state = match t.state {
            K::Inactive => I::Inactive,
            K::Running => I::Running,
            K::BlockedOnSend => I::Sending {
                endpoint: t.blocked_on,
                pending: interp::Pending {
                    badge: t.ipc.badge,
                    grant: t.ipc.grant,
                    grant_reply: t.ipc.grant_reply,
                    call: t.ipc.call,
                },
            },
            K::BlockedOnRecv => I::Receiving {
                endpoint: t.blocked_on,
                grant: t.recv_grant,
            },
            K::BlockedOnReply => I::AwaitingReply,
            K::BlockedOnNotification => I::Waiting {
                notification: t.blocked_on,
            },
            other => return Err(format!("kernel: thread {at:#x} is {other:?}")),
        };
        Ok(interp::Thread {
            state,
            reply_from: (t.reply_from != 0).then_some(t.reply_from),
        })
    }

    /// The queue from `head` through the TCBs' links; a cycle or a stray
    /// link is an error.
    fn queue(&self, mut head: u64) -> Result<Vec<u64>, String> {
        let mut out = Vec::new();
        while head != 0 {
            if out.len() > self.tcbs.len() {
                return Err(format!("kernel: a queue through {head:#x} loops"));
            }
            out.push(head);
            head = self.tcbs.get(&head).map_or(0, |t| t.sched_next);
        }
        Ok(out)
    }
}

/// What IPC reaches of the objects; [`Objs`] adds the caller slots.
impl Structs {
    fn tcb(&mut self, at: u64) -> &mut Tcb {
        if !self.tcbs.contains_key(&at) {
            self.stray.push(format!("TCB at {at:#x}"));
            return &mut self.scratch.0;
        }
        self.tcbs.get_mut(&at).expect("present")
    }
    fn endpoint(&mut self, at: u64) -> &mut ipc::Endpoint {
        if !self.endpoints.contains_key(&at) {
            self.stray.push(format!("endpoint at {at:#x}"));
            return &mut self.scratch.1;
        }
        self.endpoints.get_mut(&at).expect("present")
    }
    fn notification(&mut self, at: u64) -> &mut ipc::Notification {
        if !self.notifications.contains_key(&at) {
            self.stray.push(format!("notification at {at:#x}"));
            return &mut self.scratch.2;
        }
        self.notifications.get_mut(&at).expect("present")
    }
    fn deliver_signal(&mut self, to: u64, word: u64) {
        self.events.push(IpcEvent::Signal { to, word });
    }
    fn wake(&mut self, _thread: u64) {}
    fn fail_wait(&mut self, thread: u64) {
        self.tcb(thread).state = tcb::ThreadState::Running;
        self.events.push(IpcEvent::Restarted { thread });
    }
}

/// The objects IPC reaches, with the slot memory the TCBs' caller slots
/// are in (the kernel's `Machine`): a reply cap is put into or deleted
/// from a caller slot as the kernel does, through the derivation tree.
struct Objs<'a, 'm> {
    structs: &'a mut Structs,
    memory: &'a mut SlotMemory<'m>,
    root: CNodeCap,
}

/// The slot a path names, as the interpreter resolves it: every index
/// within its CNode, the first through a CNode cap in the root CNode.
fn resolve_in(memory: &SlotMemory<'_>, root: CNodeCap, path: Path2) -> Option<SlotAddr> {
    let root = Table::of(root)?;
    let table = match path.via {
        None => root,
        Some(via) => memory.table(CNodeCap::from_cap(memory.cap(root.slot(via)?)?)?)?,
    };
    table.slot(path.index)
}

impl ipc::Objects for Objs<'_, '_> {
    fn tcb(&mut self, at: u64) -> &mut Tcb {
        self.structs.tcb(at)
    }
    fn endpoint(&mut self, at: u64) -> &mut ipc::Endpoint {
        self.structs.endpoint(at)
    }
    fn notification(&mut self, at: u64) -> &mut ipc::Notification {
        self.structs.notification(at)
    }
    /// The message goes with the cap `from`'s buffer names, into the slot
    /// `to`'s names, through the kernel's `ops::transfer_caps` (the lookups
    /// are this test's paths, not a CSpace walk).
    fn transfer(&mut self, from: u64, to: u64, badge: u64, grant: bool) {
        let send = self.structs.buffers.get(&from).and_then(|b| b.0);
        let receive = self.structs.buffers.get(&to).and_then(|b| b.1);
        let caps = match (grant, send, receive) {
            (true, Some(send), Some(receive)) => {
                let root = self.root;
                ops::transfer_caps(self.memory, 1, |memory, _| {
                    Some((
                        resolve_in(memory, root, send)?,
                        resolve_in(memory, root, receive)?,
                    ))
                }) as u64
            }
            _ => 0,
        };
        self.structs.events.push(IpcEvent::Message {
            from,
            to,
            badge,
            grant,
            caps,
        });
    }
    fn deliver_signal(&mut self, to: u64, word: u64) {
        self.structs.deliver_signal(to, word);
    }
    fn wake(&mut self, thread: u64) {
        self.structs.wake(thread);
    }
    fn fail_wait(&mut self, thread: u64) {
        self.structs.fail_wait(thread);
    }
    fn reply_cap(&mut self, holder: u64) -> Option<ReplyCap> {
        let at = tcb::slot_of(holder, TcbSlot::Caller)?;
        self.memory.cap(at).and_then(ReplyCap::from_cap)
    }
    fn set_reply_cap(&mut self, holder: u64, cap: Option<ReplyCap>) {
        let Some(at) = tcb::slot_of(holder, TcbSlot::Caller) else {
            self.structs
                .stray
                .push(format!("caller slot of {holder:#x}"));
            return;
        };
        // Without the hook, as the kernel's `Machine` does: what a reply
        // cap's going does, `ipc` did.
        let mut memory = self.memory.unhooked();
        let done = match cap {
            Some(cap) => mdb::insert_root(&mut memory, at, cap.cap()).is_ok(),
            None => match ops::delete(&mut memory, at) {
                Ok(deleted) => {
                    self.structs.reply_deletions += deleted.map_or(0, |d| d.removed);
                    true
                }
                Err(_) => false,
            },
        };
        if !done {
            self.structs
                .stray
                .push(format!("caller slot at {:#x}", at.get()));
        }
    }
}

/// The physical memory page tables live in, word by word (a word never
/// written reads 0): the kernel's `vspace` and `mapping` walk and change
/// it as they do RAM through the kernel's identity map. Retype zeroes what
/// it places, as the kernel does.
#[derive(Default)]
struct Ram(BTreeMap<u64, u64>);

impl PhysMem for Ram {
    fn read(&self, paddr: u64) -> u64 {
        self.0.get(&paddr).copied().unwrap_or(0)
    }
    fn write(&mut self, paddr: u64, value: u64) {
        if value == 0 {
            self.0.remove(&paddr);
        } else {
            self.0.insert(paddr, value);
        }
    }
}

impl Ram {
    /// The nonzero words of the 4 KiB table at `table`, by index.
    fn entries(&self, table: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0
            .range(table..table + 4096)
            .map(move |(at, value)| ((at - table) / 8, *value))
    }
}

/// The kernel's own PML4, whose entry 0 every new PML4 gets (outside every
/// boot Untyped: nothing is made there).
const KERNEL_PML4: u64 = 0x1000;

/// The caps removed for good, as the slot memory's removal hook reports
/// them; the test finalises them after each step, in order (finalisers
/// touch only the structs, never the slots, so that is the kernel's order).
type Removals = Rc<RefCell<Vec<Removal>>>;

/// The kernel's capability core over a window of slots, the root CNode's
/// cap held outside it (as a thread's CSpace root is).
struct Kernel<'m> {
    memory: SlotMemory<'m>,
    structs: Structs,
    removals: Removals,
    root: CNodeCap,
    server: CNodeCap,
    /// The interpreter's name of each server slot in use: the call and the
    /// object's place in it.
    server_places: BTreeMap<u64, Place>,
    calls: Vec<CallRecord>,
    /// The memory of page tables.
    ram: Ram,
    /// Address-space numbers.
    asids: AsidTable,
}

impl<'m> Kernel<'m> {
    /// The kernel with the interpreter's boot caps, as words, each the root
    /// of a list of its own (`mdb::insert_root`, as the boot code does).
    fn boot(
        m: &Machine<'_>,
        slots: &'m mut [cspace::Slot],
        hook: &'m mut dyn FnMut(Removal),
        removals: Removals,
    ) -> Kernel<'m> {
        let mut memory = SlotMemory::new(WINDOW_BASE, slots)
            .expect("window")
            .with_on_remove(hook);
        let root =
            CNodeCap::new(WINDOW_BASE, u8::try_from(ROOT_RADIX).unwrap(), 0, 0).expect("root");
        let table = Table::of(root).expect("root table");
        assert!(memory.clear_table(table));
        for (slot, node) in m.occupied() {
            let at = table.slot(slot.index).expect("root slot");
            mdb::insert_root(
                &mut memory,
                at,
                Cap::from_words(pack(m, &node.cap).try_into().expect("two words")),
            )
            .expect("boot cap");
        }
        let server =
            CNodeCap::new(SERVER_TABLE, u8::try_from(SERVER_RADIX).unwrap(), 0, 0).expect("server");
        assert!(memory.clear_table(Table::of(server).expect("server table")));
        Kernel {
            memory,
            structs: Structs::default(),
            removals,
            root,
            server,
            server_places: BTreeMap::new(),
            calls: Vec::new(),
            ram: Ram(BTreeMap::from([(
                KERNEL_PML4,
                0x2000 | vspace::PRESENT | vspace::WRITABLE,
            )])),
            asids: AsidTable::new(),
        }
    }

    /// What the kernel does to new objects' memory (user/lifecycle.rs
    /// `zero_objects`): zeroed, and a table made ready (`prepare_table`:
    /// a PML4 gets the kernel's entry).
    fn placed(&mut self, p: &Placement) {
        self.structs.placed(p);
        let end = p.first + (p.count << p.size_bits);
        let stale: Vec<u64> = self.ram.0.range(p.first..end).map(|(a, _)| *a).collect();
        for at in stale {
            self.ram.0.remove(&at);
        }
        for i in 0..p.count {
            let at = p.first + (i << p.size_bits);
            mapping::prepare_table(&mut self.ram, p.object_type, at, KERNEL_PML4);
        }
    }

    fn root_table(&self) -> Table {
        Table::of(self.root).expect("root table")
    }

    /// The CNode cap in root slot `index`, if there is one.
    fn cnode_in_root(&self, index: u64) -> Option<CNodeCap> {
        let at = self.root_table().slot(index)?;
        CNodeCap::from_cap(self.memory.cap(at)?)
    }

    /// The slot a path names, as the interpreter resolves it.
    fn resolve(&self, path: Path2) -> Option<SlotAddr> {
        resolve_in(&self.memory, self.root, path)
    }

    /// The slots of a copy, mint or move, as the kernel's `invoke_cnode`
    /// takes them: the destination, that it is empty (`ops::ensure_empty`),
    /// then the source (seL4's order).
    fn source_and_dest(&self, source: Path2, dest: Path2) -> Result<(SlotAddr, SlotAddr), Refused> {
        let to = self.resolve(dest).ok_or(TARGET)?;
        ops::ensure_empty(&self.memory, to).map_err(refused)?;
        let from = self.resolve(source).ok_or(SOURCE)?;
        Ok((from, to))
    }

    /// A step, then the finalisation of what it removed.
    fn run_step(&mut self, step: &Step) -> Answer {
        let answer = self.run_step_alone(step);
        let removed: Vec<Removal> = self.removals.borrow_mut().drain(..).collect();
        let before = self.structs.reply_deletions;
        for removal in removed {
            // The kernel's removal hook: address spaces first, then IPC.
            mapping::removed(&mut self.ram, &mut self.asids, &removal);
            finalise::removed(&mut self.objects(), removal);
        }
        // The kernel finalises inside the hook, so a reply cap its caller's
        // finalisation deletes is gone before the step goes on: count it,
        // as the interpreter does.
        let extra = self.structs.reply_deletions - before;
        match answer {
            Ok(Outcome::Removed(n)) => Ok(Outcome::Removed(n + extra)),
            other => other,
        }
    }

    /// A step: a capability operation, a TCB's configuration, a map or
    /// unmap, or a thread's step.
    fn run_step_alone(&mut self, step: &Step) -> Answer {
        let (target, sources) = match step {
            Step::Op(op) => return self.run_op(op),
            Step::Lifecycle(LifecycleOp::Configure { target, sources }) => (target, sources),
            Step::Lifecycle(LifecycleOp::Map { cap, space, page }) => {
                return self.map(*cap, *space, *page);
            }
            Step::Lifecycle(LifecycleOp::Unmap(at)) => return self.unmap(*at),
            Step::Lifecycle(LifecycleOp::MakePool { untyped, dest }) => {
                return self.make_pool(*untyped, *dest);
            }
            Step::Lifecycle(LifecycleOp::Assign { pool, root }) => {
                return self.assign(*pool, *root);
            }
            Step::Lifecycle(other) => return self.run_thread(other),
        };
        // As the interpreter checks, in its order: the target, an object
        // owning one slot per source, then each source in turn.
        let illegal = Refused::Op(OpError::IllegalOperation);
        let at = self.resolve(*target).ok_or(TARGET)?;
        let cap = self.memory.cap(at).filter(|c| !c.is_null()).ok_or(TARGET)?;
        if caps::owned_slots_of(cap).is_none() || sources.len() > TcbSlot::ALL.len() {
            return Err(illegal);
        }
        let (tcb_at, _) = caps::region(cap).ok_or(illegal)?;
        let mut given = [None; TcbSlot::ALL.len()];
        for ((given, source), which) in given.iter_mut().zip(sources).zip(TcbSlot::ALL) {
            let Some(path) = source else { continue };
            let from = self.resolve(*path).ok_or(SOURCE)?;
            let found = self
                .memory
                .cap(from)
                .filter(|c| !c.is_null())
                .ok_or(SOURCE)?;
            tcb::admit(which, found).map_err(refused)?;
            *given = Some((from, found));
        }
        let removed = tcb::configure(&mut self.memory, tcb_at, &given).map_err(refused)?;
        Ok(Outcome::Removed(removed))
    }

    /// A frame or table cap's `map`, as user/invoke.rs runs it after
    /// decoding (`mapping::map_frame`, `mapping::map_table`), at virtual
    /// address `page << 12`, with every right the cap has. Before that, as
    /// the interpreter checks: the cap (`FailedLookup`), one that records
    /// a mapping (`IllegalOperation`), the address space's root
    /// (`FailedLookup`, a PML4 cap or `IllegalOperation`).
    fn map(&mut self, at: Path2, space: Option<Path2>, page: u64) -> Answer {
        let illegal = Refused::Op(OpError::IllegalOperation);
        let at = self.resolve(at).ok_or(SOURCE)?;
        let cap = self.memory.cap(at).filter(|c| !c.is_null()).ok_or(SOURCE)?;
        caps::mapping_of(cap).ok_or(illegal.clone())?;
        let space = self.resolve(space.ok_or(TARGET)?).ok_or(TARGET)?;
        let root = self
            .memory
            .cap(space)
            .filter(|c| !c.is_null())
            .ok_or(TARGET)?;
        let vspace = caps::Pml4Cap::from_cap(root).ok_or(illegal)?;
        // A page past every address stands for the last page, which no
        // cap can record either.
        let vaddr = page.checked_mul(4096).unwrap_or(!0xfff);
        let mapped = if caps::FrameCap::from_cap(cap).is_some() {
            let rights = Rights::ALL.bits();
            mapping::map_frame(&mut self.ram, &self.asids, cap, vspace, vaddr, rights)
        } else {
            mapping::map_table(&mut self.ram, &self.asids, cap, vspace, vaddr)
        }
        .map_err(refused)?;
        ops::update_cap(&mut self.memory, at, mapped);
        Ok(Outcome::Done)
    }

    /// The ASID-control cap's `make_pool`, as user/invoke.rs runs it
    /// (`asid::make_pool`), with the Untyped's slot as the syscall layer
    /// finds it (`FailedLookup { source: 1 }` when it does not resolve, as
    /// the interpreter says; the kernel's extra cap is then the null cap).
    fn make_pool(&mut self, untyped: Path2, dest: Path2) -> Answer {
        let from = self
            .resolve(untyped)
            .filter(|&s| self.memory.cap(s).is_some_and(|c| !c.is_null()));
        if from.is_none() && !self.asids.pools().iter().all(|&p| p != 0) {
            return Err(SOURCE);
        }
        let to = self
            .resolve(dest)
            .ok_or(KernelError::FailedLookup { source: 0 });
        asid::make_pool(&mut self.asids, &mut self.memory, &mut self.ram, from, to)
            .map_err(refused)?;
        Ok(Outcome::Done)
    }

    /// A pool cap's `assign` (`AsidTable::assign`), with the pool's cap and
    /// the PML4 cap's slot as the syscall layer finds them.
    fn assign(&mut self, pool: Path2, root: Path2) -> Answer {
        let pool = self.resolve(pool).ok_or(SOURCE)?;
        let pool = self
            .memory
            .cap(pool)
            .filter(|c| !c.is_null())
            .ok_or(SOURCE)?;
        caps::AsidPoolCap::from_cap(pool).ok_or(Refused::Op(OpError::IllegalOperation))?;
        let at = self.resolve(root).ok_or(TARGET)?;
        self.memory.cap(at).filter(|c| !c.is_null()).ok_or(TARGET)?;
        self.asids
            .assign(&mut self.memory, &mut self.ram, pool, at)
            .map_err(refused)?;
        Ok(Outcome::Done)
    }

    /// A frame cap's `unmap` (`mapping::unmap_frame`), or a table cap's
    /// for its last cap (`mdb::is_final`, then `mapping::unmap_table`), as
    /// user/invoke.rs runs them; any other cap is `IllegalOperation`.
    fn unmap(&mut self, at: Path2) -> Answer {
        let at = self.resolve(at).ok_or(SOURCE)?;
        let cap = self.memory.cap(at).filter(|c| !c.is_null()).ok_or(SOURCE)?;
        if caps::FrameCap::from_cap(cap).is_none() {
            vspace::table_mapping(cap).ok_or(Refused::Op(OpError::IllegalOperation))?;
            if !mdb::is_final(&self.memory, at) {
                return Err(Refused::Op(OpError::RevokeFirst));
            }
            let (unmapped, _) =
                mapping::unmap_table(&mut self.ram, &self.asids, cap).map_err(refused)?;
            ops::update_cap(&mut self.memory, at, unmapped);
            return Ok(Outcome::Done);
        }
        let (unmapped, _) = mapping::unmap_frame(&mut self.ram, &self.asids, cap);
        ops::update_cap(&mut self.memory, at, unmapped);
        Ok(Outcome::Done)
    }

    /// What every live address space maps, walking its page tables from
    /// the PML4 over user space: each present entry by number, page and
    /// the bytes it covers, with the object there and its type (from the
    /// level, and a page directory entry's huge bit).
    fn spaces(&self) -> Spaces {
        let mut spaces = Spaces::default();
        for (asid, pml4) in self.asids.numbers(&self.ram) {
            spaces.asids.insert(asid, pml4);
            self.walk(&mut spaces, asid, pml4, ObjectType::Pml4, 0);
        }
        spaces
    }

    fn walk(&self, spaces: &mut Spaces, asid: u64, table: u64, level: ObjectType, base: u64) {
        let shape = level.table().expect("a table level");
        for (index, entry) in self.ram.entries(table) {
            let vaddr = base + (index << shape.entry_bits);
            let user = capc_demo_kernel::abi::USER_BASE..capc_demo_kernel::abi::USER_END;
            if entry & vspace::PRESENT == 0 || !user.contains(&vaddr) {
                continue;
            }
            let object = entry & vspace::ADDRESS_MASK;
            let below = match level {
                ObjectType::Pml4 => ObjectType::Pdpt,
                ObjectType::Pdpt => ObjectType::PageDirectory,
                ObjectType::PageDirectory if entry & vspace::HUGE == 0 => ObjectType::PageTable,
                _ => ObjectType::Frame,
            };
            spaces.entries.insert(
                (asid, vaddr >> 12, shape.entry_bits),
                (object, below as u64),
            );
            if below != ObjectType::Frame {
                self.walk(spaces, asid, object, below, vaddr);
            }
        }
    }

    /// The thread whose cap is at `path`: `FailedLookup` without a cap,
    /// `IllegalOperation` for another cap (or, with `running`, a thread
    /// that cannot make a system call).
    fn thread_at(&self, path: Path2, running: bool) -> Result<u64, Refused> {
        let at = self.resolve(path).ok_or(TARGET)?;
        let cap = self.memory.cap(at).filter(|c| !c.is_null()).ok_or(TARGET)?;
        let illegal = Refused::Op(OpError::IllegalOperation);
        let thread = TcbCap::from_cap(cap).ok_or(illegal.clone())?.tcb();
        let state = self.structs.tcbs.get(&thread).map(|t| t.state);
        if running && state != Some(tcb::ThreadState::Running) {
            return Err(illegal);
        }
        Ok(thread)
    }

    /// A thread's step, as the kernel's TCB invocations and system calls
    /// (user/invoke.rs, user/syscall.rs) run it through `ipc`: resume,
    /// suspend, send or call, receive, reply. Refusals are the
    /// interpreter's: a reply with nothing to answer is `IllegalOperation`
    /// (the system call ignores it).
    fn run_thread(&mut self, op: &LifecycleOp) -> Answer {
        let illegal = Refused::Op(OpError::IllegalOperation);
        match *op {
            LifecycleOp::Resume(at) => {
                let at = self.thread_at(at, false)?;
                // As the kernel's Resume: not without a cap in each
                // `#[required]` slot (its address space).
                let cap_in = |which| {
                    tcb::slot_of(at, which)
                        .and_then(|slot| self.memory.cap(slot))
                        .unwrap_or(Cap::NULL)
                };
                if tcb::missing_required_slot(cap_in) {
                    return Err(illegal);
                }
                let t = self.structs.tcbs.get_mut(&at).ok_or(illegal)?;
                if t.state == tcb::ThreadState::Inactive {
                    t.state = tcb::ThreadState::Running;
                }
            }
            LifecycleOp::Suspend(at) => {
                let at = self.thread_at(at, false)?;
                ipc::cancel(&mut self.objects(), at);
                self.structs.tcb(at).state = tcb::ThreadState::Inactive;
            }
            LifecycleOp::Send { tcb, cap, call } => {
                let sender = self.thread_at(tcb, true)?;
                let at = self.resolve(cap).ok_or(SOURCE)?;
                let cap = self.memory.cap(at).filter(|c| !c.is_null()).ok_or(SOURCE)?;
                let objects = &mut self.objects();
                if let Some(e) =
                    EndpointCap::from_cap(cap).filter(|e| e.rights().contains(Rights::WRITE))
                {
                    let pending = PendingSend {
                        badge: e.badge(),
                        grant: e.rights().contains(Rights::GRANT),
                        grant_reply: call && e.rights().contains(Rights::GRANT_REPLY),
                        call,
                    };
                    ipc::send(objects, sender, e.endpoint(), pending);
                } else if let Some(n) = NotificationCap::from_cap(cap)
                    .filter(|n| n.rights().contains(Rights::WRITE) && !call)
                {
                    ipc::signal(objects, n.notification(), n.badge());
                } else {
                    return Err(illegal);
                }
            }
            LifecycleOp::Recv { tcb, cap } => {
                let receiver = self.thread_at(tcb, true)?;
                let at = self.resolve(cap).ok_or(SOURCE)?;
                let cap = self.memory.cap(at).filter(|c| !c.is_null()).ok_or(SOURCE)?;
                let objects = &mut self.objects();
                if let Some(e) =
                    EndpointCap::from_cap(cap).filter(|e| e.rights().contains(Rights::READ))
                {
                    let grant = e.rights().contains(Rights::GRANT);
                    ipc::recv(objects, receiver, e.endpoint(), grant);
                } else if let Some(n) =
                    NotificationCap::from_cap(cap).filter(|n| n.rights().contains(Rights::READ))
                {
                    ipc::wait(objects, receiver, n.notification());
                } else {
                    return Err(illegal);
                }
            }
            LifecycleOp::Reply(at) => {
                let replier = self.thread_at(at, true)?;
                if !ipc::reply(&mut self.objects(), replier) {
                    return Err(illegal);
                }
            }
            LifecycleOp::SetBuffer { tcb, send, receive } => {
                let at = self.thread_at(tcb, false)?;
                self.structs.buffers.insert(at, (send, receive));
            }
            _ => unreachable!("not a thread's step: {op:?}"),
        }
        Ok(Outcome::Done)
    }

    /// The objects IPC reaches, with the slot memory.
    fn objects(&mut self) -> Objs<'_, 'm> {
        Objs {
            structs: &mut self.structs,
            memory: &mut self.memory,
            root: self.root,
        }
    }

    /// The kernel's live threads and IPC objects (those live caps name), as
    /// the interpreter reports its own.
    fn threads(&self) -> Result<Threads, String> {
        let (live, _) = self.live()?;
        let mut out = Threads::default();
        for (_, s) in &live {
            let cap = s.cap();
            if let Some(t) = TcbCap::from_cap(cap) {
                out.threads.insert(t.tcb(), self.structs.thread(t.tcb())?);
                let reply = tcb::slot_of(t.tcb(), TcbSlot::Caller)
                    .and_then(|at| self.memory.cap(at))
                    .and_then(ReplyCap::from_cap);
                if let Some(r) = reply {
                    let grant = r.rights().contains(Rights::GRANT);
                    out.replies.insert(t.tcb(), (r.caller(), grant));
                }
            } else if let Some(e) = EndpointCap::from_cap(cap) {
                let at = e.endpoint();
                let ep = self
                    .structs
                    .endpoints
                    .get(&at)
                    .ok_or(format!("kernel: no endpoint struct at {at:#x}"))?;
                out.queues.insert(at, (self.structs.queue(ep.head)?, None));
            } else if let Some(n) = NotificationCap::from_cap(cap) {
                let at = n.notification();
                let n = self
                    .structs
                    .notifications
                    .get(&at)
                    .ok_or(format!("kernel: no notification struct at {at:#x}"))?;
                let pending = (n.active != 0).then_some(n.word);
                out.queues
                    .insert(at, (self.structs.queue(n.head)?, pending));
            }
        }
        Ok(out)
    }

    fn run_op(&mut self, op: &Op) -> Answer {
        match *op {
            Op::Retype {
                source,
                object_type,
                size_arg,
                dest,
                offset,
                count,
            } => {
                let at = self.resolve(source).ok_or(SOURCE)?;
                let cnode = match dest {
                    None => Some(self.root),
                    Some(i) => self.cnode_in_root(i),
                };
                let request = RetypeRequest {
                    object_type,
                    size_arg,
                    offset,
                    count,
                };
                let placement =
                    ops::retype(&mut self.memory, at, &request, cnode).map_err(refused)?;
                self.placed(&placement);
                Ok(Outcome::Retyped {
                    object_type: placement.object_type as u64,
                    size_bits: placement.size_bits,
                    first: placement.first,
                    count: placement.count,
                    new_watermark: placement.new_watermark,
                    reset: placement.reset,
                })
            }
            Op::Copy {
                source,
                dest,
                rights,
            } => {
                let (from, to) = self.source_and_dest(source, dest)?;
                let rights = Rights::from_bits_truncate(rights);
                ops::copy(&mut self.memory, from, to, rights).map_err(refused)?;
                Ok(Outcome::Done)
            }
            Op::Mint {
                source,
                dest,
                rights,
                badge,
            } => {
                let (from, to) = self.source_and_dest(source, dest)?;
                let masked = Rights::from_bits_truncate(rights);
                ops::mint(&mut self.memory, from, to, masked, badge).map_err(refused)?;
                Ok(Outcome::Done)
            }
            Op::Mutate { source, dest, data } => {
                let (from, to) = self.source_and_dest(source, dest)?;
                ops::mutate(&mut self.memory, from, to, data).map_err(refused)?;
                Ok(Outcome::Done)
            }
            Op::Move { source, dest } => {
                let (from, to) = self.source_and_dest(source, dest)?;
                ops::move_cap(&mut self.memory, from, to).map_err(refused)?;
                Ok(Outcome::Done)
            }
            Op::Delete(at) => {
                let at = self.resolve(at).ok_or(TARGET)?;
                let deleted = ops::delete(&mut self.memory, at).map_err(refused)?;
                Ok(Outcome::Removed(deleted.map_or(0, |d| d.removed)))
            }
            Op::Revoke(at) => {
                let at = self.resolve(at).ok_or(TARGET)?;
                Ok(Outcome::Removed(
                    ops::revoke(&mut self.memory, at).map_err(refused)?,
                ))
            }
            Op::Call {
                ref interface,
                ref method,
                payment,
                ref allocations,
            } => {
                let mut record = CallRecord::new(interface, method);
                let answer = self.call(payment, allocations, &mut record);
                record.ok = answer.is_ok();
                self.calls.push(record);
                answer
            }
        }
    }

    /// A call of `Service.make`, served as the QEMU demo's decompression
    /// service serves one: the budget generated for the method (from
    /// tests/donations.cap) takes the free part of the donated Untyped and
    /// hands out each object, and the server makes it with the kernel's own
    /// retype from the donation into its CNode. The answer carries the
    /// addresses the retypes produced, the interpreter's the budget's: they
    /// must be the same.
    fn call(
        &mut self,
        payment: Payment,
        allocations: &[(u64, u64)],
        record: &mut CallRecord,
    ) -> Answer {
        use donations::{
            DonationKind, ServiceError, ServiceLabel, ServiceMakeBudget, ServiceMakeClass,
        };
        let Payment::Untyped(path) = payment else {
            unreachable!("Service.make takes an Untyped");
        };
        let illegal = Refused::Op(OpError::IllegalOperation);
        let at = self.resolve(path).ok_or(SOURCE)?;
        let cap = self.memory.cap(at).filter(|c| !c.is_null()).ok_or(SOURCE)?;
        let memory = UntypedMemory::of(cap).ok_or(illegal.clone())?;
        let Some(DonationKind::Untyped(wanted)) = ServiceLabel::Make.donation() else {
            unreachable!("Service.make takes an Untyped");
        };
        if cap.cap_type().map(|t| t as u64) != Some(wanted as u64) {
            return Err(illegal);
        }
        // Device memory must hold every object the method declares.
        let ram_only = |c: &ServiceMakeClass| !c.object_type().memory().1;
        if memory.device && ServiceMakeClass::ALL.iter().any(ram_only) {
            return Err(illegal);
        }
        let free = if mdb::has_children(&self.memory, at) {
            memory.watermark.min(memory.size)
        } else {
            0
        };
        let donation = donations::Donation {
            base: memory.base + free,
            bytes: memory.size - free,
        };
        record.donated = donation.bytes;
        let out_of_budget =
            |ServiceError::OutOfBudget { needed }| Refused::Op(OpError::OutOfBudget { needed });
        let mut budget = ServiceMakeBudget::from_donation(donations::Slot::new(0), donation)
            .map_err(out_of_budget)?;
        for &(object, arg) in allocations {
            let class = ServiceMakeClass::ALL
                .into_iter()
                .find(|c| (c.object_type() as u64, c.size_arg()) == (object, arg))
                .expect("the strategy allocates declared classes");
            budget.alloc(class).map_err(out_of_budget)?;
        }
        // The server's retypes, one object each.
        let number = self.calls.len();
        let server = Table::of(self.server).expect("server table");
        let mut addresses = Vec::new();
        for (index, &(object_type, size_arg)) in allocations.iter().enumerate() {
            let slot = (0..1 << SERVER_RADIX)
                .find(|i| self.memory.cap(server.slot(*i).unwrap()) == Some(Cap::NULL))
                .expect("a free server slot");
            let request = RetypeRequest {
                object_type,
                size_arg,
                offset: slot,
                count: 1,
            };
            let placement =
                ops::retype(&mut self.memory, at, &request, Some(self.server)).map_err(refused)?;
            self.placed(&placement);
            addresses.push(placement.first);
            self.server_places.insert(
                slot,
                Place::Server {
                    call: number,
                    index,
                },
            );
        }
        record.used = budget.used_bytes();
        Ok(Outcome::Called {
            addresses,
            used: budget.used_bytes(),
        })
    }

    /// Every slot holding a cap, in address order, and every live table of
    /// slots with the object that holds it (the root CNode's, the CNodes
    /// caps name, the slots of the TCBs caps name), from one pass over the
    /// window; an empty slot with links is an error.
    fn live(&self) -> Result<(Live, Vec<Held>), String> {
        let mut live = Vec::new();
        let root = self.root_table();
        let mut tables = vec![Held {
            table: root,
            object: root.first().get(),
            object_type: caps::ObjectType::CNode as u64,
        }];
        for (at, s) in self.memory.iter() {
            if s.is_empty() {
                if s.links() != mdb::MdbNode::EMPTY {
                    return Err(format!(
                        "kernel: empty slot {at:?} has links {:?}",
                        s.links()
                    ));
                }
                continue;
            }
            if let Some(table) = ops::held_slots(&self.memory, s.cap())
                && let Some((object, _)) = caps::region(s.cap())
                && !tables.iter().any(|h| h.table == table)
            {
                let object_type = s.cap().cap_type().and_then(|t| t.object_type());
                tables.push(Held {
                    table,
                    object,
                    object_type: object_type.map_or(u64::MAX, |o| o as u64),
                });
            }
            live.push((at, *s));
        }
        Ok((live, tables))
    }

    /// Where the interpreter holds the cap in a kernel slot: a slot, or by
    /// the server.
    fn place(&self, tables: &[Held], at: SlotAddr) -> Result<Place, String> {
        let server = Table::of(self.server).expect("server table");
        match server.index_of(at) {
            Some(index) => self
                .server_places
                .get(&index)
                .copied()
                .ok_or(format!("kernel: server slot {index} was never filled")),
            None => self.slot_name(tables, at).map(Place::Slot),
        }
    }

    /// The interpreter's name of a kernel slot: the object that holds it
    /// (a CNode, or a TCB for its owned slots) and its index there.
    fn slot_name(&self, tables: &[Held], at: SlotAddr) -> Result<Slot, String> {
        let root = self.root_table();
        for held in tables {
            if let Some(index) = held.table.index_of(at) {
                let cnode = if held.table == root {
                    CNodeId::Root
                } else {
                    CNodeId::Object(held.object)
                };
                return Ok(Slot { cnode, index });
            }
        }
        Err(format!("kernel: {at:?} lies in no live CNode or TCB"))
    }

    /// The kernel's references for the reference invariant: every cap held
    /// in a slot of an object (a CNode other than the root, a TCB's own
    /// slots) refers to that object.
    fn references(&self) -> Result<Vec<Reference>, String> {
        let (live, tables) = self.live()?;
        let root = self.root_table();
        let mut out = Vec::new();
        for (at, _) in &live {
            let Some(held) = tables.iter().find(|h| h.table.index_of(*at).is_some()) else {
                continue;
            };
            if held.table == root {
                continue;
            }
            out.push(Reference {
                from: Referrer::Slot(self.place(&tables, *at)?),
                object_type: held.object_type,
                address: held.object,
            });
        }
        let spaces = self.spaces();
        for (&(asid, page, bits), &(address, object_type)) in &spaces.entries {
            out.push(Reference {
                from: Referrer::Mapping { asid, page, bits },
                object_type,
                address,
            });
        }
        for (&asid, &address) in &spaces.asids {
            out.push(Reference {
                from: Referrer::AddressSpace(asid),
                object_type: ObjectType::Pml4 as u64,
                address,
            });
        }
        for (place, &address) in self.asids.pools().iter().enumerate() {
            if address != 0 {
                out.push(Reference {
                    from: Referrer::Pool(place as u64),
                    object_type: ObjectType::AsidPool as u64,
                    address,
                });
            }
        }
        Ok(out)
    }

    /// Every slot's cap and its parent (the last cap before it in its list
    /// whose run of descendants, `mdb::descendants`, reaches it), and the
    /// caps as the invariants see them. Checks that the list is consistent:
    /// a full slot's neighbours point back at it.
    fn state(&self) -> Result<(State, Vec<Seen>), String> {
        let (live, tables) = self.live()?;
        let by_addr: BTreeMap<SlotAddr, cspace::Slot> = live.iter().copied().collect();
        for (at, s) in &live {
            let links = s.links();
            let prev_ok = links.prev().is_none_or(|p| {
                by_addr
                    .get(&p)
                    .is_some_and(|o| o.links().next() == Some(*at))
            });
            let next_ok = links.next().is_none_or(|n| {
                by_addr
                    .get(&n)
                    .is_some_and(|o| o.links().prev() == Some(*at))
            });
            if !prev_ok || !next_ok {
                return Err(format!("kernel: the links of {at:?} do not point back"));
            }
        }
        let mut parents: BTreeMap<SlotAddr, SlotAddr> = BTreeMap::new();
        for (head, _) in live.iter().filter(|(_, s)| s.links().prev().is_none()) {
            let mut at = Some(*head);
            while let Some(s) = at {
                for d in mdb::descendants(&self.memory, s) {
                    parents.insert(d, s);
                }
                at = mdb::next_of(&self.memory, s);
            }
        }
        let mut state = State::new();
        let mut seen = Vec::new();
        for (at, s) in &live {
            let place = self.place(&tables, *at)?;
            let parent = match parents.get(at) {
                Some(p) => Some(self.place(&tables, *p)?),
                None => None,
            };
            let cap = s.cap();
            state.insert(place, (cap.words().to_vec(), parent));
            seen.push(Seen {
                place,
                parent,
                tag: cap.tag(),
                region: caps::region(cap),
                memory: UntypedMemory::of(cap).map(|m| (m.size, m.watermark)),
                rights: cap.rights().bits(),
            });
        }
        Ok((state, seen))
    }
}

/// A live table of slots and the object that holds it (its address and
/// object type number).
#[derive(Clone, Copy, Debug)]
struct Held {
    table: Table,
    object: u64,
    object_type: u64,
}

/// How a run went: the operations run, of them refused, and whether it was
/// cut short.
#[derive(Debug, Default)]
struct Tally {
    ops: u64,
    refused: u64,
    /// Revokes that deleted their own cap on the way.
    self_deleting_revokes: u64,
}

/// Runs `ops` on both sides; the first divergence or broken invariant.
fn differ(ops: &[Op]) -> Result<Tally, String> {
    let steps: Vec<Step> = ops.iter().cloned().map(Step::Op).collect();
    differ_steps(&steps)
}

/// What a step's IPC events show of it: every message and signal, and the
/// restart of a thread that is still live after the step. A step that
/// removes several caps (a revoke, a CNode's last cap) may finalise them in
/// another order on each side: the interpreter's revoke goes by creation,
/// the kernel's along its derivation list. That shows only in threads
/// restarted and then stopped within the step, which nobody can observe.
fn observable(events: &[IpcEvent], after: &Threads) -> Vec<IpcEvent> {
    events
        .iter()
        .filter(|e| match e {
            IpcEvent::Restarted { thread } => after.threads.contains_key(thread),
            _ => true,
        })
        .copied()
        .collect()
}

/// A removal hook that logs into `removals`.
fn removal_hook(removals: &Removals) -> impl FnMut(Removal) + use<> {
    let removals = Rc::clone(removals);
    move |r| removals.borrow_mut().push(r)
}

/// Runs `steps` on both sides; the first divergence or broken invariant.
fn differ_steps(ops: &[Step]) -> Result<Tally, String> {
    let spec = kernel_spec();
    let mut m = boot_interp(spec);
    let mut slots = vec![cspace::Slot::EMPTY; WINDOW_SLOTS];
    let removals = Removals::default();
    let mut hook = removal_hook(&removals);
    let mut k = Kernel::boot(&m, &mut slots, &mut hook, removals);
    let boot = boot_regions(&m);
    let mut tally = Tally::default();
    for (i, op) in ops.iter().enumerate() {
        let revoking = match op {
            Step::Op(Op::Revoke(at)) => m.resolve(&at.path()).and_then(|s| m.id_at(s)),
            _ => None,
        };
        let events = (m.ipc_events().len(), k.structs.events.len());
        let want = run_step(&mut m, op).map_err(Refused::Op);
        let got = k.run_step(op);
        if revoking.is_some_and(|id| m.node(id).is_none()) {
            // A revoke that deleted its own cap on the way (see
            // `a_revoke_that_deletes_its_own_cap`): counted, and compared.
            tally.self_deleting_revokes += 1;
        }
        if want != got {
            return Err(format!(
                "op {i} {op:?}: interpreter {want:?}, kernel {got:?}"
            ));
        }
        let (theirs, kernel_seen) = k.state().map_err(|e| format!("op {i} {op:?}: {e}"))?;
        let ours = interp_state(&m);
        if ours != theirs {
            let diff: Vec<String> = ours
                .keys()
                .chain(theirs.keys())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .filter(|s| ours.get(s) != theirs.get(s))
                .map(|s| {
                    format!(
                        "{s:?}: interpreter {:x?}, kernel {:x?}",
                        ours.get(s),
                        theirs.get(s)
                    )
                })
                .collect();
            return Err(format!("op {i} {op:?}: states differ\n{}", diff.join("\n")));
        }
        let revoked = match op {
            Step::Op(Op::Revoke(at)) if want.is_ok() => m.resolve(&at.path()),
            _ => None,
        };
        let calls = interp_calls(&m);
        if calls != k.calls {
            return Err(format!(
                "op {i} {op:?}: accounting differs\ninterpreter: {calls:?}\nkernel:      {:?}",
                k.calls
            ));
        }
        let (ours, theirs) = (
            interp_threads(&m),
            k.threads().map_err(|e| format!("op {i} {op:?}: {e}"))?,
        );
        if ours != theirs {
            return Err(format!(
                "op {i} {op:?}: threads differ\ninterpreter: {ours:x?}\nkernel:      {theirs:x?}"
            ));
        }
        let (ours, theirs_events) = (
            observable(&m.ipc_events()[events.0..], &ours),
            observable(&k.structs.events[events.1..], &theirs),
        );
        if ours != theirs_events {
            return Err(format!(
                "op {i} {op:?}: IPC differs\ninterpreter: {ours:x?}\nkernel:      {theirs_events:x?}"
            ));
        }
        if !k.structs.stray.is_empty() {
            return Err(format!(
                "op {i} {op:?}: kernel: IPC reached {:?}",
                k.structs.stray
            ));
        }
        let (our_spaces, their_spaces) = (interp_spaces(&m), k.spaces());
        if our_spaces != their_spaces {
            return Err(format!(
                "op {i} {op:?}: address spaces differ\ninterpreter: {our_spaces:x?}\nkernel:      {their_spaces:x?}"
            ));
        }
        let interp_seen = interp_seen(&m);
        let mut kernel_refs = k.references().map_err(|e| format!("op {i} {op:?}: {e}"))?;
        kernel_refs.extend(thread_references(&m, &theirs));
        check_invariants("interpreter", &interp_seen, revoked, &boot, &calls)
            .and_then(|()| check_invariants("kernel", &kernel_seen, revoked, &boot, &k.calls))
            .and_then(|()| {
                check_references("interpreter", spec, &interp_seen, &interp_references(&m))
            })
            .and_then(|()| check_references("kernel", spec, &kernel_seen, &kernel_refs))
            .and_then(|()| check_accounting("interpreter", &m, &interp_seen))
            .and_then(|()| check_accounting("kernel", &m, &kernel_seen))
            .map_err(|e| format!("op {i} {op:?}: {e}"))?;
        tally.ops += 1;
        tally.refused += u64::from(want.is_err());
    }
    Ok(tally)
}

/// Cases, and runs of steps per case (uniform, so 150.5 on average; a run
/// is one step or a setup of several, about 2.8 steps on average with
/// threads): 200 × 150.5 × 2.8 ≈ 84,000 steps per run of each of the two
/// properties (threads; maps). A failing case shrinks down to the few
/// steps that matter.
const CASES: u32 = 200;
const OPS_PER_CASE: std::ops::RangeInclusive<usize> = 1..=300;

proptest! {
    // PROPTEST_CASES overrides the count for a longer hunt, e.g.
    // `PROPTEST_CASES=20000 cargo test --release --no-default-features
    // --target <host> --test differential`.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(CASES)
    ))]

    #[test]
    fn kernel_core_agrees_with_the_interpreter(
        ops in steps(kernel_spec(), Ops::WithThreads, OPS_PER_CASE)
    ) {
        if let Err(e) = differ_steps(&ops) {
            let case = steps_text("kernel", &ops);
            prop_assert!(false, "{e}\n\nAs a case file for harness/differential-cases/:\n{case}");
        }
    }

    /// The same with maps and unmaps of frames and tables instead of
    /// threads: the kernel's page tables, walked level by level, map what
    /// the interpreter's tables do.
    #[test]
    fn kernel_address_spaces_agree_with_the_interpreter(
        ops in steps(kernel_spec(), Ops::WithLifecycle, OPS_PER_CASE)
    ) {
        if let Err(e) = differ_steps(&ops) {
            let case = steps_text("kernel", &ops);
            prop_assert!(false, "{e}\n\nAs a case file for harness/differential-cases/:\n{case}");
        }
    }
}

// ----- named cases -----

/// Retype, copy, mint with a badge, copy of the badged cap, revoke: the
/// common path agrees and ends with the Untyped's subtree gone.
#[test]
fn retype_mint_copy_revoke_agree() {
    let ops = retype_mint_copy_revoke();
    assert_eq!(differ(&ops).unwrap().refused, 0);
}

/// tests/donations.cap is kernel.cap and a `Service`: the same objects,
/// caps (tags and every field's place) and retype rules, so the kernel's
/// caps are the interpreter's, bit for bit.
#[test]
fn the_test_spec_is_kernel_cap_with_a_service() {
    let (test, kernel) = (kernel_spec(), load("../spec/kernel.cap"));
    let objects = |s: &Spec| -> Vec<String> {
        let o = s.objects.iter();
        o.map(|o| {
            format!(
                "{} {:?} {:?} {} {} {:?}",
                o.name,
                o.size.table,
                o.align_bits,
                o.ram,
                o.device,
                o.table
                    .as_ref()
                    .map(|t| (t.entries, t.entry_bits, &t.holds))
            )
        })
        .collect()
    };
    let caps = |s: &Spec| -> Vec<String> {
        let fields = |c: &capc_dsl::model::CapType| -> Vec<String> {
            let f = c.fields.iter();
            f.map(|f| {
                format!(
                    "{} {:?} {:?} {} {} {} {} {}",
                    f.name, f.kind, f.role, f.identity, f.unit_bits, f.word, f.shift, f.width
                )
            })
            .collect()
        };
        s.caps
            .iter()
            .map(|c| format!("{} {} {:?} {:?}", c.name, c.tag, c.copy, fields(c)))
            .collect()
    };
    let retypes = |s: &Spec| -> Vec<String> {
        let r = s.retypes.iter();
        r.map(|r| format!("{:?} {:?} {}", r.source, r.targets, r.fan_out))
            .collect()
    };
    assert_eq!(objects(test), objects(&kernel));
    assert_eq!(caps(test), caps(&kernel));
    assert_eq!(retypes(test), retypes(&kernel));
    assert_eq!(donating_methods(test).len(), 1);
    assert!(donating_methods(&kernel).is_empty());
}

/// The regression case files (`capc_harness::Case`), shared
/// with the generated code's differential test.
fn case_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../harness/differential-cases")
}

/// The operations of one case file for kernel.cap.
fn case(name: &str) -> Vec<Op> {
    cases(&case_dir(), "kernel")
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no case file {name}"))
        .1
}

/// Every case file for kernel.cap agrees, the ones the generated code's
/// test found as well as this test's.
#[test]
fn case_files_agree() {
    let all = thread_cases(&case_dir(), "kernel");
    assert!(!all.is_empty());
    for (name, steps) in all {
        differ_steps(&steps)
            .unwrap_or_else(|e| panic!("{name}: {e}\n\nops:\n{}", steps_text("kernel", &steps)));
    }
}

/// Caps carried by messages (kernel-caps-carried-by-messages.ops): the
/// call's cap and the reply's land in the slots the buffers name, a full
/// slot takes none; both sides agree on every step and on the slots.
#[test]
fn messages_carry_the_caps_their_buffers_name() {
    let steps = thread_case("kernel-caps-carried-by-messages.ops");
    differ_steps(&steps).unwrap();
    let mut m = boot_interp(kernel_spec());
    for step in &steps {
        let _ = run_step(&mut m, step);
    }
    let carried: Vec<u64> = m
        .ipc_events()
        .iter()
        .filter_map(|e| match e {
            IpcEvent::Message { caps, .. } => Some(*caps),
            _ => None,
        })
        .collect();
    assert_eq!(carried, [1, 1, 0]);
    let held = |index| {
        m.node_at(Slot {
            cnode: CNodeId::Root,
            index,
        })
        .map(|n| n.cap.object)
    };
    assert_eq!(held(7), held(12), "the notification cap went to B");
    assert_eq!(held(6), held(11), "the endpoint cap went back to A");
}

/// A reply cap its caller's deletion removes is counted with the
/// deletion (kernel-reply-cap-deleted-with-its-caller.ops): both sides
/// remove the same caps in the revoke.
#[test]
fn a_reply_cap_deleted_with_its_caller_agrees() {
    let steps = thread_case("kernel-reply-cap-deleted-with-its-caller.ops");
    differ_steps(&steps).unwrap();
}

/// Issue 12's first takeover as a case file: a CNode that is a live
/// thread's CSpace keeps its memory (the retype over it is refused) until
/// the TCB goes; kernel and interpreter agree step by step and the
/// reference invariant holds throughout.
#[test]
fn a_cnode_under_a_live_cspace_is_not_reused() {
    let (_, steps) = step_cases(&case_dir(), "kernel")
        .into_iter()
        .find(|(n, _)| n == "kernel-cnode-reused-under-a-live-cspace.ops")
        .expect("the case file");
    let tally = differ_steps(&steps).unwrap();
    assert!(tally.refused >= 1, "the retype over the CNode is refused");
}

/// The steps of one case file for kernel.cap, thread steps or not.
fn thread_case(name: &str) -> Vec<Step> {
    thread_cases(&case_dir(), "kernel")
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no case file {name}"))
        .1
}

/// Issue 12's stale reply (kernel-stale-reply.ops): a server's right to
/// reply dies with its caller's wait, so after the caller is suspended,
/// resumed and calls another server, the old reply is refused and only the
/// new server's reaches it; both sides agree step by step.
#[test]
fn a_stale_reply_is_refused() {
    let steps = thread_case("kernel-stale-reply.ops");
    assert_eq!(differ_steps(&steps).unwrap().refused, 1);
    let mut m = boot_interp(kernel_spec());
    let answers: Vec<_> = steps.iter().map(|s| run_step(&mut m, s)).collect();
    let n = answers.len();
    assert_eq!(answers[n - 2], Err(OpError::IllegalOperation));
    assert_eq!(answers[n - 1], Ok(Outcome::Done));
    let (a, c) = (RAM0, RAM0 + 0x1000);
    let to_a: Vec<_> = m
        .ipc_events()
        .iter()
        .filter(|e| matches!(e, IpcEvent::Message { to, .. } if *to == a))
        .collect();
    assert_eq!(
        to_a,
        [&IpcEvent::Message {
            from: c,
            to: a,
            badge: 0,
            grant: true,
            caps: 0,
        }],
        "only C's reply reaches A"
    );
    assert_eq!(m.threads()[&a].state, interp::ThreadState::Running);
}

/// Issue 12's queued send after revoke
/// (kernel-queued-send-after-revoke.ops): revoking the last cap with a
/// badge restarts the send queued with it, so the receiver that comes
/// later queues and gets no message.
#[test]
fn a_queued_send_dies_with_its_badge() {
    let steps = thread_case("kernel-queued-send-after-revoke.ops");
    assert_eq!(differ_steps(&steps).unwrap().refused, 0);
    let mut m = boot_interp(kernel_spec());
    for s in &steps {
        run_step(&mut m, s).unwrap();
    }
    let (a, b) = (RAM0, RAM0 + 0x800);
    assert_eq!(m.ipc_events(), [IpcEvent::Restarted { thread: a }]);
    assert_eq!(m.threads()[&a].state, interp::ThreadState::Running);
    assert!(matches!(
        m.threads()[&b].state,
        interp::ThreadState::Receiving { .. }
    ));
}

/// A CNode made from an Untyped, caps copied into it, its last cap deleted:
/// both delete what it held, and agree on every slot's name on the way
/// (kernel-last-cap-to-a-cnode.ops), with nothing refused.
#[test]
fn deleting_the_last_cap_to_a_cnode_agrees() {
    let ops = case("kernel-last-cap-to-a-cnode.ops");
    assert_eq!(differ(&ops).unwrap().refused, 0);
}

/// Minting a CNode cap with a nonzero word sets its guard (seL4's cap
/// data) on both sides; a guard too large for the radix is refused on
/// both (sel4-cnode-guard.ops, in `sel4_conformance_cases_hold`).
#[test]
fn a_guard_mint_agrees() {
    let ops = [
        Op::Retype {
            source: root(0),
            object_type: 1,
            size_arg: 2,
            dest: None,
            offset: 6,
            count: 1,
        },
        Op::Mint {
            source: root(6),
            dest: root(7),
            rights: 0b1111,
            badge: (5 << 6) | 3,
        },
    ];
    assert_eq!(differ(&ops).unwrap().refused, 0);
}

/// The random sequences reach what they are meant to test: every kind of
/// operation succeeds sometimes, and the errors come up.
#[test]
fn random_sequences_reach_every_outcome() {
    let seen = outcomes(
        kernel_spec(),
        || boot_interp(kernel_spec()),
        40,
        OPS_PER_CASE,
    );
    eprintln!("{seen:#?}");
    assert_reached(&seen, CAP_OUTCOMES);
    assert_reached(
        &seen,
        [
            "call make allocated",
            "call make OutOfBudget",
            "call make IllegalOperation",
            "call make FailedLookup",
        ],
    );
    // The lifecycle steps this side runs: configure, and the finalisation
    // of owned slots over reused memory; threads' steps, with every path
    // of IPC and its finalisation.
    let seen = step_outcomes(
        kernel_spec(),
        || boot_interp(kernel_spec()),
        40,
        OPS_PER_CASE,
        Ops::WithThreads,
    );
    let configure: Vec<&str> = LIFECYCLE_OUTCOMES
        .iter()
        .copied()
        .filter(|o| !o.starts_with("map") && !o.starts_with("unmap") && !o.contains("unmap"))
        .filter(|o| !o.contains("unlink") && !o.contains("release_asid"))
        .collect();
    eprintln!("{seen:#?}\n{configure:?}");
    assert_reached(&seen, configure);
    assert_reached(&seen, THREAD_OUTCOMES);
    // Maps and unmaps through the four levels: every lifecycle path, and
    // each refusal of a walk down the tables (more cases: a chain of tables
    // needs most of the 32 KiB Untyped).
    let seen = step_outcomes(
        kernel_spec(),
        || boot_interp(kernel_spec()),
        100,
        OPS_PER_CASE,
        Ops::WithLifecycle,
    );
    eprintln!("{seen:#?}");
    assert_reached(&seen, LIFECYCLE_OUTCOMES);
    assert_reached(&seen, TABLE_OUTCOMES);
    assert_reached(&seen, POOL_OUTCOMES);
}

/// A divergence this test found (kernel-revoke-deletes-its-own-cap.ops,
/// which says how): revoking X deletes, through the CNode that held X, the
/// cap X itself; the kernel stops there as seL4's `cteRevoke` does, with 2
/// caps gone and the Endpoint E left under root[0]. The interpreter, and
/// later the generated code's test kernel replaying the case file, deleted
/// E too.
#[test]
fn a_revoke_that_deletes_its_own_cap() {
    let ops = case("kernel-revoke-deletes-its-own-cap.ops");
    let (setup, revoke) = ops.split_at(ops.len() - 1);
    let revoke = revoke[0].clone();
    assert!(matches!(revoke, Op::Revoke(_)));
    assert_eq!(differ(setup).unwrap().refused, 0);
    assert_eq!(differ(&ops).map(|t| t.self_deleting_revokes), Ok(1));

    let mut m = boot_interp(kernel_spec());
    let mut slots = vec![cspace::Slot::EMPTY; WINDOW_SLOTS];
    let removals = Removals::default();
    let mut hook = removal_hook(&removals);
    let mut k = Kernel::boot(&m, &mut slots, &mut hook, removals);
    for op in setup {
        assert_eq!(run_interp(&mut m, op), k.run_op(op));
    }
    assert_eq!(run_interp(&mut m, &revoke), Ok(Outcome::Removed(2)));
    assert_eq!(k.run_op(&revoke), Ok(Outcome::Removed(2)));
    let root_slot = |index| {
        Place::Slot(Slot {
            cnode: CNodeId::Root,
            index,
        })
    };
    let endpoint = root_slot(10);
    let (state, _) = k.state().unwrap();
    assert_eq!(state[&endpoint].1, Some(root_slot(0)));
    assert_eq!(interp_state(&m)[&endpoint], state[&endpoint]);
}

/// The seL4 conformance cases (`sel4-*.ops`, each rule citing the seL4
/// function it follows) give on the interpreter the outcome every step
/// names, and the kernel agrees with the interpreter on every step of them
/// (`differ_steps`): so the kernel gives seL4's outcomes too.
#[test]
fn sel4_conformance_cases_hold() {
    let cases = expectation_cases(&case_dir(), "kernel");
    assert!(cases.iter().any(|(name, _)| name.starts_with("sel4-")));
    for (name, case) in cases {
        let mut m = boot_interp(kernel_spec());
        check_expectations(&mut m, &case).unwrap_or_else(|e| panic!("{name}: {e}"));
        differ_steps(&case.steps).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
