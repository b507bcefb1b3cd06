//! Pools of address-space numbers: `asid_pool = N;` on an object, and the
//! `#[asid]` field of the address-space root's cap.
//!
//! Runs after [`super::tables`], since a pool hands out numbers for the
//! address-space root (the object with `finalise = release_asid`). Every
//! rule is `E0419`:
//! - the pool is a fixed-size kernel object of `N` one-word entries, `N` a
//!   power of two of at least 2, and there is one pool type;
//! - it is made from an Untyped of exactly its size (as seL4's
//!   ASIDControl_MakePool), so some `untyped` type has that size, and no
//!   retype rule makes it;
//! - the root's cap records the number it was given in an `#[asid]` field
//!   wide enough for one pool, no narrower than any `#[mapped_in]` field
//!   (a mapping records that number); `#[asid]` belongs on the root's cap
//!   only, and only with a pool.

use crate::ast::{ObjectItem, ObjectKind};
use crate::diag::{Code, Diagnostic};
use crate::model::{self, AsidPool, Finaliser, Role};

use super::Ctx;
use super::eval::bytes;

/// The bytes of one pool entry: a word (the root's address).
const ENTRY_BYTES: u64 = 8;

impl Ctx<'_> {
    /// Fills in the pool of the object that declares one, and rejects
    /// (sets to `None`) objects and cap types that break a rule.
    pub(super) fn check_asid_pools(
        &mut self,
        objects: &mut [Option<model::Object>],
        caps: &mut [Option<model::CapType>],
    ) {
        let mut pool: Option<usize> = None;
        for index in 0..self.items.objects.len() {
            let (_, item) = self.items.objects[index];
            let Some(decl) = item.asid_pools.first() else {
                continue;
            };
            if let Some(extra) = item.asid_pools.get(1) {
                self.diags.push(
                    Diagnostic::new(
                        Code::DuplicateStatement,
                        extra.span,
                        format!("`asid_pool` of `{}` is given twice", item.name.name),
                    )
                    .label("given again here")
                    .with_secondary(decl.span, "first given here")
                    .help("keep one `asid_pool` statement"),
                );
            }
            let Some(object) = objects[index].as_ref() else {
                continue;
            };
            match self.pool_shape(object, item) {
                Some(shape) => {
                    if let Some(first) = pool {
                        let first_name = &self.items.objects[first].1.name;
                        self.diags.push(
                            pool_error(
                                format!(
                                    "`{}` is a second pool of address-space numbers",
                                    item.name.name
                                ),
                                decl.span,
                                "a second pool type",
                            )
                            .with_secondary(
                                first_name.span,
                                format!("`{}` is the first", first_name.name),
                            )
                            .note(
                                "every number is found through one directory of pools of one size",
                            )
                            .help("keep one object type with `asid_pool`"),
                        );
                        objects[index] = None;
                        continue;
                    }
                    pool = Some(index);
                    objects[index].as_mut().expect("checked").asid_pool = Some(shape);
                }
                None => objects[index] = None,
            }
        }
        self.check_asid_fields(pool, objects, caps);
    }

    /// The pool of one object; `None` after an error.
    fn pool_shape(&mut self, object: &model::Object, item: &ObjectItem) -> Option<AsidPool> {
        let decl = item.asid_pools.first()?;
        let name = &object.name;
        let error = |message: String, label: &str| {
            pool_error(message, decl.span, label)
                .with_secondary(item.name.span, format!("`{name}` is declared here"))
        };
        if item.kind != ObjectKind::Kernel
            || item.param.is_some()
            || !object.slots.is_empty()
            || object.table.is_some()
            || !object.finalisers.is_empty()
        {
            self.diags.push(
                error(format!("`{name}` cannot be a pool of address-space numbers"), "pool declared here")
                    .note("a pool is kernel state of a fixed size and nothing else: its entries say which address space each number stands for, and removing its last cap releases them all")
                    .help(format!("declare `{name}` as a fixed-size `object` with only `size` and `asid_pool`")),
            );
            return None;
        }
        let numbers = self.eval_reported(&decl.entries, None)?;
        if numbers < 2 || !numbers.is_power_of_two() {
            self.diags.push(
                pool_error(
                    format!("`{name}` holds {numbers} numbers, not a power of two of at least 2"),
                    decl.entries.span,
                    "numbers in one pool",
                )
                .help("a number's low bits choose its entry: give 2, 4, ... 512 numbers (seL4 has 512)"),
            );
            return None;
        }
        let size = 1u64 << object.size.max_bits();
        if numbers
            .checked_mul(ENTRY_BYTES)
            .is_none_or(|need| need > size)
        {
            self.diags.push(
                pool_error(
                    format!("`{name}` is too small for {numbers} numbers"),
                    decl.entries.span,
                    "numbers in one pool",
                )
                .with_secondary(item.name.span, format!("`{name}` is {}", bytes(size)))
                .note(format!("each number takes one {ENTRY_BYTES}-byte entry"))
                .help(format!(
                    "give `{name}` at most {} numbers, or make it {}",
                    size / ENTRY_BYTES,
                    bytes(numbers.saturating_mul(ENTRY_BYTES))
                )),
            );
            return None;
        }
        Some(AsidPool {
            numbers,
            span: decl.span,
        })
    }

    /// The `#[asid]` fields against the pool (`pool`: its object's index)
    /// and the address-space root.
    fn check_asid_fields(
        &mut self,
        pool: Option<usize>,
        objects: &mut [Option<model::Object>],
        caps: &mut [Option<model::CapType>],
    ) {
        let root = objects.iter().position(|o| {
            o.as_ref()
                .is_some_and(|o| o.finalisers.contains(&Finaliser::ReleaseAsid))
        });
        let pool_info = pool.and_then(|p| {
            let o = objects[p].as_ref()?;
            Some((
                p,
                o.name.clone(),
                o.asid_pool.clone()?,
                1u64 << o.size.max_bits(),
            ))
        });
        let widest_mapped_in = caps
            .iter()
            .flatten()
            .filter_map(|c| c.field_with(Role::MappedIn))
            .map(|f| (f.width, f.span))
            .max_by_key(|(w, _)| *w);
        // A pool declared but rejected was reported: what follows from it
        // is not news.
        let declared = self
            .items
            .objects
            .iter()
            .any(|(_, o)| !o.asid_pools.is_empty());
        if declared && pool_info.is_none() {
            return;
        }
        let mut root_has_asid = false;
        let mut root_rejected = false;
        for slot in caps.iter_mut() {
            let Some(cap) = slot.as_ref() else { continue };
            let Some(field) = cap.field_with(Role::Asid) else {
                continue;
            };
            let span = field.span;
            let on_root = root.is_some() && cap.object.map(|o| o.index()) == root;
            let problem = match (&pool_info, on_root) {
                (None, _) => Some((
                    format!(
                        "`{}` records an address-space number, but no pool gives numbers",
                        cap.name
                    ),
                    "add an object with `asid_pool = 512;` (seL4's ASID pool), or remove `#[asid]`"
                        .to_string(),
                )),
                (Some(_), false) => Some((
                    format!("`{}` is not the cap of the address-space root", cap.name),
                    "put `#[asid]` on the cap of the object with `finalise = release_asid`"
                        .to_string(),
                )),
                (Some((_, pool_name, shape, _)), true) => {
                    let need = shape.numbers.trailing_zeros();
                    if u32::from(field.width) < need {
                        Some((
                            format!(
                                "`{}` is too narrow for one pool of `{pool_name}`",
                                field.name
                            ),
                            format!(
                                "make it at least u{need}: one pool holds {} numbers",
                                shape.numbers
                            ),
                        ))
                    } else if let Some((width, _)) =
                        widest_mapped_in.filter(|(w, _)| *w < field.width)
                    {
                        Some((
                            format!(
                                "`{}` holds numbers a `#[mapped_in]` field cannot",
                                field.name
                            ),
                            format!(
                                "make it u{width}, as wide as the `#[mapped_in]` fields, or widen those"
                            ),
                        ))
                    } else {
                        None
                    }
                }
            };
            match problem {
                Some((message, help)) => {
                    root_rejected |= on_root;
                    self.diags.push(
                        pool_error(message, span, "this field has `#[asid]`")
                            .with_secondary(cap.span, format!("`{}` is declared here", cap.name))
                            .help(help),
                    );
                    *slot = None;
                }
                None => root_has_asid = true,
            }
        }
        let Some((p, pool_name, shape, size)) = pool_info else {
            return;
        };
        let pool_span = shape.span;
        let Some(root) = root else {
            self.diags.push(
                pool_error(
                    format!("`{pool_name}` gives numbers to no address space"),
                    pool_span,
                    "pool declared here",
                )
                .help("declare the address-space root: an object with `finalise = release_asid;` and its `table`"),
            );
            objects[p] = None;
            return;
        };
        if root_rejected {
            objects[p] = None;
            return;
        }
        if !root_has_asid {
            let root_name = objects[root]
                .as_ref()
                .map_or("", |o| o.name.as_str())
                .to_string();
            let root_cap = caps
                .iter()
                .flatten()
                .find(|c| c.object.map(|o| o.index()) == Some(root));
            let mut d = pool_error(
                format!(
                    "the cap of `{root_name}` does not record the number `{pool_name}` gives it"
                ),
                pool_span,
                "pool declared here",
            );
            if let Some(c) = root_cap {
                d = d.with_secondary(c.span, format!("`{}` has no `#[asid]` field", c.name));
            }
            let width = widest_mapped_in.map_or(shape.numbers.trailing_zeros() as u8, |(w, _)| w);
            self.diags.push(
                d.note("a task maps into an address space by naming its root's cap; the number in it finds the address space")
                    .help(format!("add `#[asid] asid: u{width},` to the root's cap")),
            );
            objects[p] = None;
            return;
        }
        // Made from an Untyped of exactly its size.
        let made = objects.iter().flatten().any(|o| {
            o.kind == ObjectKind::Untyped
                && o.ram
                && o.size.table.iter().any(|(_, b)| 1u64 << b == size)
        });
        if !made {
            self.diags.push(
                pool_error(
                    format!("no Untyped can become a `{pool_name}`"),
                    pool_span,
                    "pool declared here",
                )
                .note(format!(
                    "a pool is made from an Untyped of exactly its size ({}), in RAM",
                    bytes(size)
                ))
                .help("allow that size in an `untyped` type, or change the pool's size"),
            );
            objects[p] = None;
        }
    }
}

fn pool_error(message: String, span: crate::source::Span, label: &str) -> Diagnostic {
    Diagnostic::new(Code::AsidPoolMisuse, span, message).label(label.to_string())
}
