//! The generated boot plans of kernel-demo/spec/client_pays.cap, walked by
//! the demo's generic loader (kernel-demo/user/src/loader.rs) on a
//! simulated kernel: Untypeds with watermarks (an object goes at the
//! watermark rounded up to its size), CNodes of `1 << radix` slots that
//! refuse an occupied slot, and threads that are started. After the boot,
//! every domain's CSpace must hold what the checked model says each named
//! slot holds, at the index its generated constant names; every object
//! must lie at the offset the checker placed it at; and every domain must
//! run on its own TCB and CSpace. A pool retyped from before the plan is
//! refused at the first step, a budget too small for the program at its
//! load, and a domain with interrupts or without a TCB by the walk itself.

use std::collections::BTreeMap;
use std::path::Path;

use capc_generated_tests::loader::{BootErrorKind, Machine, boot};
use capc_generated_tests::system::ObjectType;
use capc_generated_tests::system::boot::{Domain, Plan, client_pays, server_pays};

/// A cap of the simulated kernel: the object it names, its rights and
/// badge (a CNode cap's guard bits).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Cap {
    object: usize,
    rights: u64,
    badge: u64,
}

/// An object of the simulated kernel.
#[derive(Clone, Debug)]
struct Object {
    kind: ObjectType,
    /// Its Untyped (`None`: the pool) and offset in it.
    parent: Option<usize>,
    offset: u64,
    bytes: u64,
    /// An Untyped's watermark.
    watermark: u64,
    /// A CNode's slots.
    slots: BTreeMap<u64, Cap>,
}

/// The simulated kernel: the pool, every object, the loader's slots and
/// the threads started (domain, TCB object, CSpace root cap).
struct Sim {
    pool_bytes: u64,
    pool_watermark: u64,
    objects: Vec<Object>,
    loader: BTreeMap<u64, Cap>,
    started: Vec<(usize, usize, Cap)>,
    /// Pages each `load` takes from the budget (a PML4 and its image).
    image_pages: u64,
}

#[derive(Debug, PartialEq, Eq)]
enum SimError {
    Occupied(u64),
    Empty(u64),
    NotEnoughMemory,
    Range,
}

impl Sim {
    fn new(plan: &Plan) -> Sim {
        Sim {
            pool_bytes: 1 << plan.pool_bits,
            pool_watermark: 0,
            objects: Vec::new(),
            loader: BTreeMap::new(),
            started: Vec::new(),
            image_pages: 40,
        }
    }

    fn cap(&self, slot: u64) -> Result<Cap, SimError> {
        self.loader.get(&slot).cloned().ok_or(SimError::Empty(slot))
    }

    /// Places `bytes` (a power of two) in the Untyped `from`.
    fn carve(&mut self, from: Option<u64>, bytes: u64) -> Result<(Option<usize>, u64), SimError> {
        let (parent, watermark, size) = match from {
            None => (None, self.pool_watermark, self.pool_bytes),
            Some(slot) => {
                let u = self.cap(slot)?.object;
                let o = &self.objects[u];
                assert_eq!(o.kind, ObjectType::Untyped, "retype from a non-Untyped");
                (Some(u), o.watermark, o.bytes)
            }
        };
        let at = watermark.next_multiple_of(bytes);
        if at + bytes > size {
            return Err(SimError::NotEnoughMemory);
        }
        match parent {
            None => self.pool_watermark = at + bytes,
            Some(u) => self.objects[u].watermark = at + bytes,
        }
        Ok((parent, at))
    }

    fn put(&mut self, (cnode, radix, index): (u64, u32, u64), cap: Cap) -> Result<(), SimError> {
        let table = self.cap(cnode)?.object;
        if index >= 1 << radix {
            return Err(SimError::Range);
        }
        let slots = &mut self.objects[table].slots;
        if slots.contains_key(&index) {
            return Err(SimError::Occupied(index));
        }
        slots.insert(index, cap);
        Ok(())
    }
}

impl Machine for Sim {
    type Error = SimError;

    fn retype(
        &mut self,
        from: Option<u64>,
        object: ObjectType,
        arg: u64,
        to: u64,
    ) -> Result<(), SimError> {
        if self.loader.contains_key(&to) {
            return Err(SimError::Occupied(to));
        }
        let bits = object.size_bits(arg).map_err(|_| SimError::Range)?;
        let bytes = 1u64 << bits;
        let (parent, offset) = self.carve(from, bytes)?;
        self.objects.push(Object {
            kind: object,
            parent,
            offset,
            bytes,
            watermark: 0,
            slots: BTreeMap::new(),
        });
        let cap = Cap {
            object: self.objects.len() - 1,
            rights: 15,
            badge: 0,
        };
        self.loader.insert(to, cap);
        Ok(())
    }

    fn watermark(&mut self, from: Option<u64>) -> Option<u64> {
        match from {
            None => Some(self.pool_watermark),
            Some(slot) => Some(self.objects[self.loader.get(&slot)?.object].watermark),
        }
    }

    fn mint(
        &mut self,
        at: (u64, u32, u64),
        from: u64,
        rights: u64,
        badge: u64,
    ) -> Result<(), SimError> {
        let source = self.cap(from)?;
        let cap = Cap {
            object: source.object,
            rights: source.rights & rights,
            badge,
        };
        self.put(at, cap)
    }

    fn guard(&mut self, from: u64, to: u64, guard_bits: u32) -> Result<(), SimError> {
        let source = self.cap(from)?;
        if self.loader.contains_key(&to) {
            return Err(SimError::Occupied(to));
        }
        let cap = Cap {
            badge: guard_bits.into(),
            ..source
        };
        self.loader.insert(to, cap);
        Ok(())
    }

    fn load(
        &mut self,
        _which: usize,
        domain: &Domain,
        budget: u64,
        cnode: u64,
    ) -> Result<(), SimError> {
        for _ in 0..self.image_pages {
            self.carve(Some(budget), 4096)?;
        }
        let (parent, offset) = self.carve(Some(budget), 4096)?;
        self.objects.push(Object {
            kind: ObjectType::Pml4,
            parent,
            offset,
            bytes: 4096,
            watermark: 0,
            slots: BTreeMap::new(),
        });
        let vspace = Cap {
            object: self.objects.len() - 1,
            rights: 15,
            badge: 0,
        };
        self.put((cnode, domain.radix, domain.vspace), vspace)
    }

    fn move_cap(&mut self, at: (u64, u32, u64), from: u64) -> Result<(), SimError> {
        let cap = self.loader.remove(&from).ok_or(SimError::Empty(from))?;
        self.put(at, cap)
    }

    fn start(
        &mut self,
        which: usize,
        _domain: &Domain,
        tcb: u64,
        cspace_root: u64,
    ) -> Result<(), SimError> {
        let tcb = self.cap(tcb)?.object;
        let root = self.cap(cspace_root)?;
        self.started.push((which, tcb, root));
        Ok(())
    }
}

/// The checked model of client_pays.cap.
fn model() -> capc_dsl::model::Spec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kernel-demo/spec/client_pays.cap");
    let compilation = capc_dsl::compile(&path, &capc_dsl::FsLoader).expect("loads");
    assert!(
        compilation.diagnostics.is_empty(),
        "{}",
        compilation.render()
    );
    compilation.spec.expect("checks")
}

/// Boots `plan` from slot `base` and checks the result against the model's
/// system `name`.
fn boots_as_described(plan: &Plan, name: &str, base: u64) {
    let spec = model();
    let system = spec
        .systems
        .iter()
        .find(|s| s.name == name)
        .expect("the system");
    let slot_bits = spec.target.slot_bits.expect("kernel.cap gives slot_bits");
    let mut sim = Sim::new(plan);
    boot(plan, base, &mut sim).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    // Each domain's program, priority and stack as described (the demo's
    // server gives `stack = 64 KiB;`, the others take the default).
    for (dom, d) in plan.domains.iter().zip(&system.domains) {
        assert_eq!(
            (dom.name, dom.program, u64::from(dom.priority), dom.stack),
            (d.name.as_str(), d.program.as_str(), d.priority, d.stack),
        );
        assert_eq!(dom.stack, 64 * 1024, "{}", dom.name);
    }
    // The plan stays in its slots.
    assert!(
        sim.loader
            .keys()
            .all(|&s| (base..base + plan.slots).contains(&s))
    );
    // Every object where the checker placed it, in the Untyped it said.
    for (i, o) in system.objects.iter().enumerate() {
        // Every object keeps its first cap in the loader's slot.
        let made = &sim.objects[sim.loader[&(base + object_slot(plan, system, i))].object];
        assert_eq!(made.offset, o.placement.offset, "{}", o.name);
        assert_eq!(made.bytes, 1 << o.size_bits, "{}", o.name);
        match (made.parent, o.placement.untyped) {
            (None, None) => {}
            (Some(u), Some(b)) => {
                let owner = o.owner.expect("an owned object");
                let budget_slot = plan.domains[owner].budget[b];
                // The budget was moved into the domain's CSpace.
                let cnode = sim.loader[&(base + plan.domains[owner].cnode)].object;
                let index = system.domains[owner].layout.budget[b];
                assert_eq!(sim.objects[cnode].slots[&index].object, u, "{}", o.name);
                assert!(!sim.loader.contains_key(&(base + budget_slot)));
            }
            other => panic!("{}: placed in {other:?}", o.name),
        }
    }
    // Every domain's CSpace holds what its slots say, where its layout says.
    for (d, dom) in system.domains.iter().enumerate() {
        let cnode = sim.loader[&(base + plan.domains[d].cnode)].object;
        let slots = &sim.objects[cnode].slots;
        for (slot, &index) in dom.slots.iter().zip(&dom.layout.slots) {
            let cap = &slots[&index];
            let object = &system.objects[slot.object];
            let expected = sim.loader[&(base + object_slot(plan, system, slot.object))].object;
            assert_eq!(cap.object, expected, "{}.{}", dom.name, slot.name);
            let rights: u64 = slot.rights.iter().map(|r| 1 << r.index()).sum();
            assert_eq!(cap.rights, rights, "{}.{}", dom.name, slot.name);
            // A CNode cap's guard takes the bits its radix leaves of 64.
            let badge = if sim.objects[cap.object].kind == ObjectType::CNode {
                64 - u64::from(object.size_bits - slot_bits)
            } else {
                slot.badge.unwrap_or(0)
            };
            assert_eq!(cap.badge, badge, "{}.{}", dom.name, slot.name);
        }
        // Slot 0 and the free slots stay empty; nothing else is there.
        let filled: Vec<u64> = slots.keys().copied().collect();
        let mut expected: Vec<u64> = dom.layout.slots.clone();
        expected.extend(&dom.layout.budget);
        expected.push(dom.layout.vspace);
        expected.sort_unstable();
        assert_eq!(filled, expected, "{}", dom.name);
        assert_eq!(
            sim.objects[slots[&dom.layout.vspace].object].kind,
            ObjectType::Pml4
        );
        // Its thread: started once, on its own TCB and CSpace, guarded.
        let runs: Vec<&(usize, usize, Cap)> = sim.started.iter().filter(|s| s.0 == d).collect();
        assert_eq!(runs.len(), 1, "{}", dom.name);
        let (_, tcb, root) = runs[0];
        assert_eq!(sim.objects[*tcb].kind, ObjectType::Tcb);
        assert_eq!(root.object, cnode);
        assert_eq!(root.badge, 64 - u64::from(dom.layout.radix));
    }
}

/// The loader's slot of a shared object, by its name.
fn shared_slot(plan: &Plan, name: &str) -> u64 {
    match (plan.name, name) {
        ("client_pays", "dec_ep") => client_pays::objects::DEC_EP,
        ("client_pays", "done") => client_pays::objects::DONE,
        ("client_pays", "go") => client_pays::objects::GO,
        ("server_pays", "dec_ep") => server_pays::objects::DEC_EP,
        ("server_pays", "done") => server_pays::objects::DONE,
        ("server_pays", "go") => server_pays::objects::GO,
        other => panic!("no shared object {other:?}"),
    }
}

/// The loader's slot of any object of `system`.
fn object_slot(plan: &Plan, system: &capc_dsl::model::System, object: usize) -> u64 {
    let o = &system.objects[object];
    match o.owner {
        Some(d) => {
            plan.domains[d]
                .objects
                .iter()
                .find(|p| p.name == o.name)
                .expect("listed")
                .slot
        }
        None => shared_slot(plan, &o.name),
    }
}

#[test]
fn both_demo_systems_boot_as_described() {
    boots_as_described(&client_pays::PLAN, "client_pays", 0);
    // Anywhere in the loader's CSpace.
    boots_as_described(&client_pays::PLAN, "client_pays", 1000);
    boots_as_described(&server_pays::PLAN, "server_pays", 7);
}

#[test]
fn programs_name_their_caps_by_the_generated_constants() {
    use client_pays::{bomber1, bomber2, client, decompressor};
    let spec = model();
    let system = &spec.systems[0];
    // The constants are the layout of the checked model.
    let dec = &system.domains[decompressor::DOMAIN];
    assert_eq!(dec.name, "decompressor");
    let ep = dec.slots.iter().position(|s| s.name == "ep").expect("ep");
    assert_eq!(decompressor::EP.index(), dec.layout.slots[ep]);
    assert_eq!(decompressor::BUDGET[0].index(), dec.layout.budget[0]);
    assert_eq!(decompressor::VSPACE, dec.layout.vspace);
    assert_eq!(decompressor::FIRST_FREE, dec.layout.first_free);
    // The three clients run one program: their slots are the same.
    for (d, dec_slot, go, budget) in [
        (client::DOMAIN, client::DEC, client::GO, client::BUDGET),
        (bomber1::DOMAIN, bomber1::DEC, bomber1::GO, bomber1::BUDGET),
        (bomber2::DOMAIN, bomber2::DEC, bomber2::GO, bomber2::BUDGET),
    ] {
        let dom = &system.domains[d];
        let at = |name: &str| {
            dom.layout.slots[dom.slots.iter().position(|s| s.name == name).expect(name)]
        };
        assert_eq!(dec_slot.index(), at("dec"));
        assert_eq!(go.index(), at("go"));
        assert_eq!(budget[0].index(), dom.layout.budget[0]);
        assert_eq!(dec_slot, client::DEC);
    }
    // A domain's budget pays first for its objects: the client's 4 MiB
    // holds its frame, TCB and CNode from offset 0, and the pool every
    // budget and the shared objects.
    assert_eq!(client_pays::PLAN.pool_bits, 24);
    assert_eq!(server_pays::PLAN.pool_bits, 24);
}

#[test]
fn a_pool_used_before_the_plan_is_refused() {
    let plan = &client_pays::PLAN;
    let mut sim = Sim::new(plan);
    sim.pool_watermark = 16;
    let error = boot(plan, 0, &mut sim).expect_err("the pool's watermark moved");
    assert_eq!(error.step, 0);
    assert_eq!(
        error.kind,
        BootErrorKind::Misplaced {
            expected: 0,
            found: 16
        }
    );
}

#[test]
fn a_budget_too_small_for_the_program_fails_at_its_load() {
    let plan = &client_pays::PLAN;
    let mut sim = Sim::new(plan);
    // The server's 1 MiB budget holds its TCB and CNode and 255 pages, not
    // 300.
    sim.image_pages = 300;
    let error = boot(plan, 0, &mut sim).expect_err("the image does not fit");
    assert!(matches!(
        plan.steps[error.step],
        capc_generated_tests::system::boot::Step::Load { domain: 0 }
    ));
    assert_eq!(
        error.kind,
        BootErrorKind::Machine(SimError::NotEnoughMemory)
    );
}

/// A plan of one domain with `irqs` and `objects`, loaded and started.
fn one_domain(irqs: &'static [u64], objects: &'static [PlanObject]) -> Plan {
    use capc_generated_tests::system::boot::Step;
    static STEPS: [Step; 2] = [Step::Load { domain: 0 }, Step::Start { domain: 0 }];
    Plan {
        name: "one",
        pool_bits: 12,
        slots: 0,
        domains: Box::leak(Box::new([Domain {
            name: "d",
            program: "p",
            priority: 1,
            stack: 64 * 1024,
            cnode: 0,
            radix: 4,
            cspace_root: 0,
            vspace: 1,
            budget: &[0],
            objects,
            irqs,
            devices: &[],
        }])),
        steps: &STEPS,
    }
}

use capc_generated_tests::system::boot::Object as PlanObject;

/// A machine that accepts every step: what the walk refuses, it refuses
/// on its own.
struct Accepting;

impl Machine for Accepting {
    type Error = ();
    fn retype(&mut self, _: Option<u64>, _: ObjectType, _: u64, _: u64) -> Result<(), ()> {
        Ok(())
    }
    fn watermark(&mut self, _: Option<u64>) -> Option<u64> {
        None
    }
    fn mint(&mut self, _: (u64, u32, u64), _: u64, _: u64, _: u64) -> Result<(), ()> {
        Ok(())
    }
    fn guard(&mut self, _: u64, _: u64, _: u32) -> Result<(), ()> {
        Ok(())
    }
    fn load(&mut self, _: usize, _: &Domain, _: u64, _: u64) -> Result<(), ()> {
        Ok(())
    }
    fn move_cap(&mut self, _: (u64, u32, u64), _: u64) -> Result<(), ()> {
        Ok(())
    }
    fn start(&mut self, _: usize, _: &Domain, _: u64, _: u64) -> Result<(), ()> {
        Ok(())
    }
}

#[test]
fn the_loader_refuses_hardware_and_a_domain_without_a_thread() {
    const TCB: PlanObject = PlanObject {
        name: "t",
        object: ObjectType::Tcb,
        slot: 0,
    };
    assert_eq!(boot(&one_domain(&[], &[TCB]), 0, &mut Accepting), Ok(()));
    let error = boot(&one_domain(&[4], &[TCB]), 0, &mut Accepting).expect_err("an IRQ");
    assert_eq!((error.step, error.kind), (0, BootErrorKind::Hardware));
    let error = boot(&one_domain(&[], &[]), 0, &mut Accepting).expect_err("no TCB");
    assert_eq!((error.step, error.kind), (1, BootErrorKind::NoThread));
}
