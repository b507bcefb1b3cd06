//! Lifecycle: the cap slots objects own, and what their finalisation needs
//! from their cap types.
//!
//! Runs after [`super::caps`], since an owned slot names a cap type and the
//! `unmap` finaliser needs the `#[mapped_at]` field of the object's caps.
//! Owned slots are only for fixed-size kernel objects, lie at the object's
//! end in declaration order, `slot_bits` bytes each, and must fit; each
//! holds a cap type that names an object, with rights that type can carry.
//! `unmap` and `#[mapped_at]` come together: an object that is unmapped when
//! its last cap goes must have caps that record where it is mapped, and a
//! cap that records a mapping must name an object that is unmapped.

use std::collections::BTreeMap;

use crate::ast::ObjectKind;
use crate::diag::{Code, Diagnostic};
use crate::model::{self, CapId, Finaliser, OwnedSlot, Role};

use super::eval::bytes;
use super::{Ctx, TypeSym};

impl Ctx<'_> {
    /// Fills in the owned slots of every accepted object and checks the
    /// `unmap` finaliser against the cap types' mapping fields.
    pub(super) fn check_lifecycle(
        &mut self,
        target: Option<&model::Target>,
        objects: &mut [Option<model::Object>],
        caps: &[Option<model::CapType>],
        rights: &[model::Right],
    ) {
        for (index, slot) in objects.iter_mut().enumerate() {
            if let Some(object) = slot {
                match self.owned_slots(index, object, target, caps, rights) {
                    Some(slots) => object.slots = slots,
                    None => *slot = None,
                }
            }
        }
        self.check_unmap(objects, caps);
    }

    fn owned_slots(
        &mut self,
        index: usize,
        object: &model::Object,
        target: Option<&model::Target>,
        caps: &[Option<model::CapType>],
        rights: &[model::Right],
    ) -> Option<Vec<OwnedSlot>> {
        let (_, item) = self.items.objects[index];
        let Some(first) = item.slots.first() else {
            return Some(Vec::new());
        };
        let name = &object.name;
        if item.param.is_some() || item.kind != ObjectKind::Kernel {
            let why = if item.kind != ObjectKind::Kernel {
                format!(
                    "`{name}` is not kernel state: its memory is the user's, who could overwrite the slots"
                )
            } else {
                format!(
                    "the size of `{name}` depends on its size argument, so the slots would have no fixed place"
                )
            };
            self.diags.push(
                Diagnostic::new(
                    Code::SlotInSizedObject,
                    first.span,
                    format!("`{name}` may not own capability slots"),
                )
                .label("owned slot")
                .with_secondary(item.name.span, "declared here")
                .note(why)
                .help("own slots only in a fixed-size `object`, or keep the caps in a CNode"),
            );
            return None;
        }
        let mut ok = true;
        let mut seen: BTreeMap<&str, crate::source::Span> = BTreeMap::new();
        let mut slots = Vec::new();
        let mut reply_slot = None;
        for decl in &item.slots {
            if let Some(first) = seen.insert(&decl.name.name, decl.name.span) {
                self.diags.push(
                    Diagnostic::new(
                        Code::DuplicateName,
                        decl.name.span,
                        format!("slot `{}` of `{name}` is defined twice", decl.name.name),
                    )
                    .label("defined again here")
                    .with_secondary(first, "first defined here")
                    .help("rename one of them"),
                );
                ok = false;
                continue;
            }
            let Some(cap_index) = self.resolve(&decl.cap, "a cap type", |s| match s {
                TypeSym::Cap(i) => Some(i),
                _ => None,
            }) else {
                ok = false;
                continue;
            };
            let Some(cap) = caps[cap_index].as_ref() else {
                ok = false; // the cap type's own errors are reported already
                continue;
            };
            if cap.is_reply() {
                // The caller slot: what it names is a thread, so only a
                // thread holds one, and one answers one call at a time.
                if !object.finalisers.contains(&Finaliser::StopThread) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::ReplyCapMisuse,
                            decl.cap.span,
                            format!("slot `{}` of `{name}` holds reply cap `{}`, but `{name}` is no thread", decl.name.name, cap.name),
                        )
                        .label("a reply cap")
                        .with_secondary(item.name.span, format!("`{name}` does not finalise with `stop_thread`"))
                        .note("the kernel puts a reply cap in the caller slot of the thread that receives a call; only threads receive calls")
                        .help(format!("move the slot into the thread object, or add `finalise = stop_thread;` to `{name}`")),
                    );
                    ok = false;
                    continue;
                }
                if let Some(first) = reply_slot.replace(decl.name.span) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::ReplyCapMisuse,
                            decl.name.span,
                            format!("`{name}` has two caller slots"),
                        )
                        .label("second slot holding a reply cap")
                        .with_secondary(first, "first one here")
                        .note("a thread holds the right to reply to the one call it took last")
                        .help("keep one slot of a reply cap type"),
                    );
                    ok = false;
                    continue;
                }
            } else if cap.object.is_none() {
                self.diags.push(
                    Diagnostic::new(
                        Code::SlotCapWithoutObject,
                        decl.cap.span,
                        format!("slot `{}` holds `{}`, which names no object", decl.name.name, cap.name),
                    )
                    .label("a cap type without `for Object`")
                    .with_secondary(cap.span, format!("`{}` is declared here", cap.name))
                    .note("an owned slot is a reference from one object to another; a cap that names no object refers to nothing")
                    .help("name a cap type declared `cap Name for Object`"),
                );
                ok = false;
                continue;
            }
            let mut slot_rights = Vec::new();
            for right in &decl.rights {
                let Some(id) = self.resolve_right(right) else {
                    ok = false;
                    continue;
                };
                if !cap.rights.contains(&id) {
                    let carried: Vec<&str> = cap
                        .rights
                        .iter()
                        .map(|r| rights[r.index()].name.as_str())
                        .collect();
                    self.diags.push(
                        Diagnostic::new(
                            Code::RightsAmplification,
                            right.span,
                            format!(
                                "slot `{}` requires `{}`, which `{}` cannot carry",
                                decl.name.name, right.name, cap.name
                            ),
                        )
                        .label("no cap of this type carries it")
                        .with_secondary(cap.span, format!("`{}` is declared here", cap.name))
                        .help(match carried.as_slice() {
                            [] => format!(
                                "`{}` carries no rights: write `slot {}: {};`",
                                cap.name, decl.name.name, cap.name
                            ),
                            _ => format!(
                                "require only rights `{}` carries: {}",
                                cap.name,
                                super::list(&carried)
                            ),
                        }),
                    );
                    ok = false;
                    continue;
                }
                if slot_rights.contains(&id) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::DuplicateName,
                            right.span,
                            format!(
                                "right `{}` is listed twice for slot `{}`",
                                right.name, decl.name.name
                            ),
                        )
                        .label("listed again here")
                        .help("list each right once"),
                    );
                    ok = false;
                    continue;
                }
                slot_rights.push(id);
            }
            let Some(required) = self.slot_attrs(object, decl) else {
                ok = false;
                continue;
            };
            slots.push(OwnedSlot {
                docs: decl.docs.clone(),
                name: decl.name.name.clone(),
                cap: CapId(cap_index as u32),
                rights: slot_rights,
                offset: 0,
                required,
                span: decl.name.span,
            });
        }
        let Some(target) = target else {
            return None; // the missing target is reported already
        };
        let Some(slot_bits) = target.slot_bits else {
            self.diags.push(
                Diagnostic::new(
                    Code::MissingStatement,
                    first.span,
                    format!("`{name}` owns capability slots, but the target does not say how large a slot is"),
                )
                .label("owned slot")
                .with_secondary(target.span, "no `slot_bits` here")
                .note("slots lie at the end of the object, `1 << slot_bits` bytes each")
                .help("add `slot_bits = 5;` (log2 of the bytes of one slot) to the target"),
            );
            return None;
        };
        if !ok {
            return None;
        }
        let size_bits = object.size.max_bits();
        let size = 1u64 << size_bits;
        let n = item.slots.len() as u64;
        let needed = n << slot_bits;
        if needed > size {
            let last = item.slots[item.slots.len() - 1].span;
            self.diags.push(
                Diagnostic::new(
                    Code::SlotsDoNotFit,
                    first.span.to(last),
                    format!("the slots of `{name}` do not fit in it"),
                )
                .label(format!(
                    "{n} slots of {} need {}",
                    bytes(1 << slot_bits),
                    bytes(needed)
                ))
                .with_secondary(item.name.span, format!("`{name}` is {}", bytes(size)))
                .note("owned slots lie inside the object, at its end")
                .help(format!(
                    "make `{name}` at least {} or own fewer slots",
                    bytes(needed.next_power_of_two())
                )),
            );
            return None;
        }
        for (i, slot) in slots.iter_mut().enumerate() {
            slot.offset = size - ((n - i as u64) << slot_bits);
        }
        Some(slots)
    }

    /// A slot's attributes: `#[required]` (no arguments), only in a
    /// thread's object (one that finalises with `stop_thread`), since it
    /// is what resuming the thread asks. `None` after an error.
    fn slot_attrs(&mut self, object: &model::Object, decl: &crate::ast::SlotDecl) -> Option<bool> {
        let mut required = false;
        for attr in &decl.attrs {
            if attr.name.name != "required" {
                self.unknown_attribute(&attr.name, &attr.name.name, &["required"], "owned slot");
                return None;
            }
            if attr.has_args() {
                self.attr_takes_no_args(attr);
                return None;
            }
            if !object.finalisers.contains(&Finaliser::StopThread) {
                self.diags.push(
                    Diagnostic::new(
                        Code::AttributeMisuse,
                        attr.span,
                        format!("`#[required]` on a slot of `{}`, which is not a thread", object.name),
                    )
                    .label("only a thread is resumed")
                    .note("a required slot is one a thread cannot run without; resuming it without a cap there is refused")
                    .help(format!("add `finalise = stop_thread;` to `{}`, or remove `#[required]`", object.name)),
                );
                return None;
            }
            required = true;
        }
        Some(required)
    }

    /// `unmap` needs `#[mapped_at]` on every cap of the object, and a cap
    /// with `#[mapped_at]` needs `unmap` on its object.
    fn check_unmap(&mut self, objects: &[Option<model::Object>], caps: &[Option<model::CapType>]) {
        for (index, object) in objects.iter().enumerate() {
            let Some(object) = object else { continue };
            let (_, item) = self.items.objects[index];
            let Some(unmap) = item
                .finalises
                .first()
                .and_then(|actions| actions.iter().find(|a| a.name == Finaliser::Unmap.name()))
            else {
                continue;
            };
            for cap in caps.iter().flatten() {
                if cap.object.map(|o| o.index()) != Some(index)
                    || cap.field_with(Role::MappedAt).is_some()
                {
                    continue;
                }
                self.diags.push(
                    Diagnostic::new(
                        Code::UnmapMismatch,
                        unmap.span,
                        format!("`{}` is unmapped when its last cap goes, but `{}` does not record where it is mapped", object.name, cap.name),
                    )
                    .label("`unmap` needs to know where the object is mapped")
                    .with_secondary(cap.span, format!("`{}` has no `#[mapped_at]` field", cap.name))
                    .help(format!("add `#[mapped_at] mapped_page: u36` to `{}`, or remove `unmap`", cap.name)),
                );
            }
        }
        for cap in caps.iter().flatten() {
            let (Some(field), Some(object)) = (cap.field_with(Role::MappedAt), cap.object) else {
                continue;
            };
            let Some(object) = objects[object.index()].as_ref() else {
                continue;
            };
            if object.finalisers.contains(&Finaliser::Unmap) {
                continue;
            }
            self.diags.push(
                Diagnostic::new(
                    Code::UnmapMismatch,
                    field.span,
                    format!("`{}` records where `{}` is mapped, but `{}` is never unmapped", cap.name, object.name, object.name),
                )
                .label("mapping recorded here")
                .with_secondary(object.span, format!("`{}` has no `finalise = unmap;`", object.name))
                .note("a mapping that outlives the last cap to its object points into memory that may be reused")
                .help(format!("add `finalise = unmap;` to `{}`", object.name)),
            );
        }
    }
}
