//! Systems: each `system` of the spec becomes its boot plan, as data, and
//! the typed slots of each domain's CSpace.
//!
//! The plan is a const table of steps in the style of capDL's loader: a
//! generic loader in the root task walks it and makes each step one kernel
//! invocation (or, for `Load` and `Start`, the few that load a program and
//! start its thread). Every number in it comes from the checked model: the
//! placement of each object in its Untyped (the checker's `E0905`/`E0909`
//! packing), the pool that holds every budget and shared object, and each
//! domain's CSpace layout (`E0912`, `E0913`). The loader's own slots are
//! numbered from 0 in the order the steps fill them; the loader adds the
//! first free slot of its CSpace. Nothing is generated for a spec without
//! systems.

use capc_dsl::ast::ObjectKind;
use capc_dsl::model::{Domain, Role, System};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{Gen, Part, article, ident, lit, snake};

/// The section's parts: the plan's types, then one part per system.
pub fn parts<'a>(g: &'a Gen<'_>) -> Vec<Part<'a>> {
    if !g.spec.systems.iter().any(|s| g.here(s.span)) {
        return Vec::new();
    }
    let mut parts: Vec<Part<'a>> = Vec::new();
    parts.push(Box::new(move || {
        let systems = g
            .spec
            .systems
            .iter()
            .filter(|s| g.here(s.span))
            .map(|s| system(g, s));
        let types = types();
        quote! {
            /// The boot plans of the spec's systems, and the typed slots of
            /// each domain's CSpace. A plan is data: a generic loader in the
            /// root task makes each step one kernel invocation.
            pub mod boot {
                #types
                #(#systems)*
            }
        }
    }));
    parts
}

/// The types every plan is made of.
fn types() -> TokenStream {
    quote! {
        /// A slot of a CSpace, typed by the cap it holds at boot: the
        /// module's one [`Slot`](super::Slot) type. A program names its
        /// caps by these constants instead of numbering them.
        pub use super::Slot;

        /// The Untyped a step retypes from.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Untyped {
            /// The pool: an Untyped of `1 << Plan::pool_bits` bytes the
            /// loader is given, from which every budget and shared object is
            /// made.
            Pool,
            /// The Untyped in this slot of the loader.
            Slot(u64),
        }

        /// One step of a boot plan. Slots named `to`, `from`, `cnode` are
        /// the loader's own, counted from the first slot it gives the plan;
        /// `index` is a slot of a domain's CSpace.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Step {
            /// Retype one `object` (size argument `arg`) from `from` into
            /// slot `to`. The checker placed it `offset` bytes into the
            /// Untyped: the steps retype each Untyped in the order of the
            /// offsets, so the Untyped's watermark is `offset` before this
            /// step (a loader may check it).
            Retype {
                /// The Untyped it is made from.
                from: Untyped,
                /// Its object type.
                object: super::ObjectType,
                /// Its size argument.
                arg: u64,
                /// The loader's slot it goes to.
                to: u64,
                /// Its byte offset in `from`.
                offset: u64,
            },
            /// Mint the cap in slot `from` into slot `index` of the CNode in
            /// slot `cnode` (of `1 << radix` slots) with `rights` and `badge`.
            /// For a cap with a guard (a CNode's) `badge` is the guard's
            /// bits instead: the CNode then resolves a whole 64-bit address.
            Mint {
                /// The domain's CNode, in the loader's slots.
                cnode: u64,
                /// log2 of its slots.
                radix: u32,
                /// The slot of the domain's CSpace.
                index: u64,
                /// The cap minted, in the loader's slots.
                from: u64,
                /// The rights it keeps.
                rights: super::Rights,
                /// Its badge (0: none), or a CNode cap's guard bits.
                badge: u64,
            },
            /// Mint the CNode cap in slot `from` into the loader's slot `to`
            /// with `guard_bits` of guard, for the domain's thread to run on
            /// (a CSpace root resolving 64-bit addresses).
            Guard {
                /// The domain's CNode.
                from: u64,
                /// Where the guarded cap goes.
                to: u64,
                /// The guard's bits: 64 minus the CNode's radix.
                guard_bits: u32,
            },
            /// Load the domain's program from the boot image into a new
            /// address space made from what is left of its first budget
            /// Untyped after its objects, and put the address space's root
            /// into its CSpace (`Domain::vspace`).
            Load {
                /// Index in `Plan::domains`.
                domain: usize,
            },
            /// Move the Untyped in slot `from` into slot `index` of the CNode
            /// in slot `cnode`: the budget becomes the domain's, with every
            /// object made from it still its child.
            Move {
                /// The domain's CNode, in the loader's slots.
                cnode: u64,
                /// log2 of its slots.
                radix: u32,
                /// The slot of the domain's CSpace.
                index: u64,
                /// The cap moved, in the loader's slots.
                from: u64,
            },
            /// Configure the domain's thread (its CSpace root is the guarded
            /// cap, its address space the one `Load` made, its priority the
            /// domain's) and start it.
            Start {
                /// Index in `Plan::domains`.
                domain: usize,
            },
        }

        /// An object the plan makes, and where it leaves its cap.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct Object {
            /// Its name in the system.
            pub name: &'static str,
            /// Its object type.
            pub object: super::ObjectType,
            /// The loader's slot holding its cap.
            pub slot: u64,
        }

        /// Device memory given to a domain.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct Device {
            /// Its name in the system.
            pub name: &'static str,
            /// Physical base address.
            pub base: u64,
            /// Size in bytes.
            pub bytes: u64,
        }

        /// A protection domain of a plan.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct Domain {
            /// Its name in the system.
            pub name: &'static str,
            /// The program of the boot image it runs.
            pub program: &'static str,
            /// Its scheduling priority.
            pub priority: u8,
            /// The bytes of stack the loader maps for its thread, a whole
            /// number of pages (`stack = ...;` in the description, 64 KiB
            /// when not given).
            pub stack: u64,
            /// The loader's slot of its CNode.
            pub cnode: u64,
            /// log2 of its CNode's slots.
            pub radix: u32,
            /// The loader's slot of the guarded cap its thread runs on.
            pub cspace_root: u64,
            /// The slot of its CSpace that gets its address space's root.
            pub vspace: u64,
            /// The loader's slots of its budget Untypeds, the first paying
            /// for its address space.
            pub budget: &'static [u64],
            /// Its own objects, in the order they are made.
            pub objects: &'static [Object],
            /// Interrupts it handles.
            pub irqs: &'static [u64],
            /// Device memory it is given.
            pub devices: &'static [Device],
        }

        /// A system's boot plan.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct Plan {
            /// The system's name.
            pub name: &'static str,
            /// log2 of the bytes of the pool the loader must give.
            pub pool_bits: u32,
            /// How many of the loader's slots the plan fills.
            pub slots: u64,
            /// Its domains, in declaration order.
            pub domains: &'static [Domain],
            /// Its steps, in order.
            pub steps: &'static [Step],
        }
    }
}

/// What the plan retypes from its pool.
enum PoolItem {
    /// Budget Untyped `.1` of domain `.0`.
    Budget(usize, usize),
    /// The shared object of this index.
    Shared(usize),
}

/// A model index as a loader slot, a count or a size.
fn num(value: u64) -> TokenStream {
    let v = lit(value);
    quote!(#v)
}

/// One system's module: its plan, the loader's slot of each object and
/// one module per domain with its typed slots.
fn system(g: &Gen<'_>, s: &System) -> TokenStream {
    let spec = g.spec;
    let slot_bits = spec.target.slot_bits.unwrap_or(0);
    // The Untyped type budgets are made of, and its size argument for a
    // size in bytes.
    let untyped = spec
        .objects
        .iter()
        .find(|o| o.kind == ObjectKind::Untyped && o.ram);
    let untyped_arg = |bytes: u64| -> u64 {
        let bits = bytes.trailing_zeros();
        untyped.map_or(0, |u| {
            (u.size.min_arg()..=u.size.max_arg())
                .find(|&a| u.size.size_bits(a) == Some(bits))
                .unwrap_or(0)
        })
    };
    let object_type = |id: capc_dsl::model::ObjectId| {
        let v = ident(&spec.objects[id.index()].name);
        quote!(super::super::ObjectType::#v)
    };
    let mut next_slot = 0u64;
    let mut steps: Vec<TokenStream> = Vec::new();
    let mut object_slot: Vec<u64> = vec![0; s.objects.len()];
    let mut budget_slots: Vec<Vec<u64>> = vec![Vec::new(); s.domains.len()];

    // The pool: budgets and shared objects, in the order of their offsets.
    let mut pool: Vec<(u64, PoolItem)> = Vec::new();
    for (d, dom) in s.domains.iter().enumerate() {
        for (b, offset) in dom.budget_offsets.iter().enumerate() {
            pool.push((*offset, PoolItem::Budget(d, b)));
        }
    }
    for (i, o) in s.objects.iter().enumerate() {
        if o.owner.is_none() {
            pool.push((o.placement.offset, PoolItem::Shared(i)));
        }
    }
    pool.sort_by_key(|p| p.0);
    for (offset, item) in pool {
        let to = next_slot;
        next_slot += 1;
        let (object, arg) = match item {
            PoolItem::Budget(d, b) => {
                budget_slots[d].push(to);
                let bytes = s.domains[d].budget[b];
                let u = untyped.map_or_else(|| ident("Untyped"), |u| ident(&u.name));
                (quote!(super::super::ObjectType::#u), untyped_arg(bytes))
            }
            PoolItem::Shared(i) => {
                object_slot[i] = to;
                (object_type(s.objects[i].object), s.objects[i].arg)
            }
        };
        let (to, offset, arg) = (num(to), num(offset), num(arg));
        steps.push(quote! {
            super::Step::Retype { from: super::Untyped::Pool, object: #object, arg: #arg, to: #to, offset: #offset }
        });
    }
    // Each domain's objects from its budget, in the order of their offsets.
    let mut domain_objects: Vec<Vec<usize>> = vec![Vec::new(); s.domains.len()];
    for (d, _) in s.domains.iter().enumerate() {
        let mut own: Vec<usize> = (0..s.objects.len())
            .filter(|&i| s.objects[i].owner == Some(d))
            .collect();
        own.sort_by_key(|&i| {
            (
                s.objects[i].placement.untyped,
                s.objects[i].placement.offset,
            )
        });
        for i in own {
            let o = &s.objects[i];
            let to = next_slot;
            next_slot += 1;
            object_slot[i] = to;
            domain_objects[d].push(i);
            let from = budget_slots[d][o.placement.untyped.unwrap_or(0)];
            let object = object_type(o.object);
            let (from, to, offset, arg) = (num(from), num(to), num(o.placement.offset), num(o.arg));
            steps.push(quote! {
                super::Step::Retype { from: super::Untyped::Slot(#from), object: #object, arg: #arg, to: #to, offset: #offset }
            });
        }
    }
    // Each domain's slots, its guarded CSpace root, its program, its budget
    // and its thread.
    let guard_of = |object: usize| -> Option<u64> {
        let o = &s.objects[object];
        let guarded = spec
            .caps
            .iter()
            .any(|c| c.object == Some(o.object) && c.field_with(Role::Guard).is_some());
        guarded.then(|| 64 - u64::from(o.size_bits.saturating_sub(slot_bits)))
    };
    let mut cspace_roots: Vec<u64> = Vec::new();
    for (d, dom) in s.domains.iter().enumerate() {
        let cnode = object_slot[dom.cspace.unwrap_or(0)];
        let radix = lit(dom.layout.radix.into());
        for (slot, &index) in dom.slots.iter().zip(&dom.layout.slots) {
            let rights = rights(g, &slot.rights);
            let badge = guard_of(slot.object).unwrap_or(slot.badge.unwrap_or(0));
            let (from, index, badge, cnode) = (
                num(object_slot[slot.object]),
                num(index),
                num(badge),
                num(cnode),
            );
            steps.push(quote! {
                super::Step::Mint { cnode: #cnode, radix: #radix, index: #index, from: #from, rights: #rights, badge: #badge }
            });
        }
        let to = next_slot;
        next_slot += 1;
        cspace_roots.push(to);
        let guard_bits = lit(64 - u64::from(dom.layout.radix));
        let (from, to_t) = (num(cnode), num(to));
        steps.push(quote!(super::Step::Guard { from: #from, to: #to_t, guard_bits: #guard_bits }));
        let domain = lit(d as u64);
        steps.push(quote!(super::Step::Load { domain: #domain }));
        for (&from, &index) in budget_slots[d].iter().zip(&dom.layout.budget) {
            let (from, index, cnode) = (num(from), num(index), num(cnode));
            steps.push(quote! {
                super::Step::Move { cnode: #cnode, radix: #radix, index: #index, from: #from }
            });
        }
        steps.push(quote!(super::Step::Start { domain: #domain }));
    }

    let domains = s.domains.iter().enumerate().map(|(d, dom)| {
        let name = &dom.name;
        let program = &dom.program;
        let priority = lit(dom.priority);
        let stack = num(dom.stack);
        let cnode = num(object_slot[dom.cspace.unwrap_or(0)]);
        let radix = lit(dom.layout.radix.into());
        let cspace_root = num(cspace_roots[d]);
        let vspace = num(dom.layout.vspace);
        let budget = budget_slots[d].iter().map(|&b| num(b));
        let objects = domain_objects[d].iter().map(|&i| {
            let o = &s.objects[i];
            let name = &o.name;
            let object = object_type(o.object);
            let slot = num(object_slot[i]);
            quote!(super::Object { name: #name, object: #object, slot: #slot })
        });
        let irqs = dom.irqs.iter().map(|&i| num(i));
        let devices = dom.devices.iter().map(|dev| {
            let name = &dev.name;
            let (base, bytes) = (num(dev.base), num(dev.bytes));
            quote!(super::Device { name: #name, base: #base, bytes: #bytes })
        });
        quote! {
            super::Domain {
                name: #name,
                program: #program,
                priority: #priority,
                stack: #stack,
                cnode: #cnode,
                radix: #radix,
                cspace_root: #cspace_root,
                vspace: #vspace,
                budget: &[#(#budget),*],
                objects: &[#(#objects),*],
                irqs: &[#(#irqs),*],
                devices: &[#(#devices),*],
            }
        }
    });
    let name = &s.name;
    let module = ident(&snake(&s.name));
    let doc = g.docs(
        &[format!(
            "The system `{name}`: its boot plan, where the plan leaves each object in the loader's slots, and one module per domain with the slots of its CSpace."
        )],
        "",
        s.span,
    );
    let pool_bits = lit(s.pool_bytes.trailing_zeros().into());
    let slots = num(next_slot);
    let plan_doc = format!(
        " The boot plan of `{name}`: {} steps, {} of the loader's slots, a pool of {} bytes.",
        steps.len(),
        next_slot,
        s.pool_bytes
    );
    let object_consts = s.objects.iter().enumerate().map(|(i, o)| {
        let c = format_ident!("{}", snake(&o.name).to_ascii_uppercase());
        let doc = g.docs(
            &[format!(
                "`{}`: the loader's slot holding its cap, counted from the first slot the loader gives the plan.",
                o.name
            )],
            "",
            o.span,
        );
        let slot = num(object_slot[i]);
        quote!(#doc pub const #c: u64 = #slot;)
    });
    let domain_modules = s
        .domains
        .iter()
        .enumerate()
        .map(|(d, dom)| domain_module(g, s, d, dom));
    quote! {
        #doc
        pub mod #module {
            #[doc = #plan_doc]
            pub const PLAN: super::Plan = super::Plan {
                name: #name,
                pool_bits: #pool_bits,
                slots: #slots,
                domains: &[#(#domains),*],
                steps: &[#(#steps),*],
            };

            /// Where the plan leaves each object's cap in the loader's
            /// slots.
            pub mod objects {
                #(#object_consts)*
            }

            #(#domain_modules)*
        }
    }
}

/// A rights set as a constant of the generated module, from a system
/// module.
fn rights(g: &Gen<'_>, rights: &[capc_dsl::model::RightId]) -> TokenStream {
    if rights.is_empty() {
        return quote!(super::super::Rights::NONE);
    }
    if rights.len() == g.spec.rights.len() {
        return quote!(super::super::Rights::ALL);
    }
    let mut names = rights
        .iter()
        .map(|r| format_ident!("{}", g.spec.rights[r.index()].name.to_ascii_uppercase()));
    let first = names.next().expect("not empty");
    quote!(super::super::Rights::#first #(.union(super::super::Rights::#names))*)
}

/// A domain's module: its index, its CSpace's radix, a typed constant per
/// named slot, its budget's slots, its address space's slot and the first
/// free slot.
fn domain_module(g: &Gen<'_>, s: &System, d: usize, dom: &Domain) -> TokenStream {
    let spec = g.spec;
    let module = ident(&snake(&dom.name));
    let doc = g.docs(
        &[format!(
            "Domain `{}` (program `{}`): the slots of its CSpace.",
            dom.name, dom.program
        )],
        "",
        dom.span,
    );
    let index = lit(d as u64);
    let radix = lit(dom.layout.radix.into());
    let slots = dom.slots.iter().zip(&dom.layout.slots).map(|(slot, &at)| {
        let c = format_ident!("{}", snake(&slot.name).to_ascii_uppercase());
        let cap = ident(&spec.caps[slot.cap.index()].name);
        let rights: Vec<&str> = slot
            .rights
            .iter()
            .map(|r| spec.rights[r.index()].name.as_str())
            .collect();
        let cap_name = &spec.caps[slot.cap.index()].name;
        let mut line = format!(
            "`{}`: {} `{cap_name}` to `{}`",
            slot.name,
            article(cap_name).to_ascii_lowercase(),
            s.objects[slot.object].name
        );
        if !rights.is_empty() {
            line.push_str(&format!(" with {}", rights.join(", ")));
        }
        if let Some(b) = slot.badge {
            line.push_str(&format!(", badge {b}"));
        }
        line.push('.');
        let doc = g.docs(&[line], "", slot.span);
        let at = lit(at);
        quote!(#doc pub const #c: super::super::Slot<super::super::super::#cap> = super::super::Slot::new(#at);)
    });
    let untyped_cap = spec
        .objects
        .iter()
        .find(|o| o.kind == ObjectKind::Untyped && o.ram)
        .and_then(|u| {
            let id = spec.objects.iter().position(|o| std::ptr::eq(o, u))?;
            spec.caps
                .iter()
                .find(|c| c.object.map(|o| o.index()) == Some(id))
        });
    let budget = dom.layout.budget.iter().map(|&b| lit(b));
    let count = lit(dom.layout.budget.len() as u64);
    let budget = match untyped_cap {
        Some(c) => {
            let cap = ident(&c.name);
            quote! {
                /// Its budget Untypeds, what is left of each after its
                /// objects (and, in the first, its address space).
                pub const BUDGET: [super::super::Slot<super::super::super::#cap>; #count] =
                    [#(super::super::Slot::new(#budget)),*];
            }
        }
        None => quote! {
            /// Its budget Untypeds, what is left of each after its objects
            /// (and, in the first, its address space).
            pub const BUDGET: [u64; #count] = [#(#budget),*];
        },
    };
    let vspace = lit(dom.layout.vspace);
    let first_free = lit(dom.layout.first_free);
    quote! {
        #doc
        pub mod #module {
            /// Its index in the plan's domains.
            pub const DOMAIN: usize = #index;
            /// log2 of its CSpace's slots.
            pub const RADIX: u32 = #radix;
            #(#slots)*
            #budget
            /// The root of the address space the loader makes for its
            /// program.
            pub const VSPACE: u64 = #vspace;
            /// The first slot the plan leaves free.
            pub const FIRST_FREE: u64 = #first_free;
        }
    }
}
