//! Translation tables: `table = N x SIZE of A | B;` on an object.
//!
//! Runs after [`super::lifecycle`], since what a table holds must be
//! unmapped when its last cap goes. Three rules, each with its code:
//! - the shape (`E0415`): a table is a fixed-size kernel object made of its
//!   entries, one 8-byte word each, a power of two of them, each covering a
//!   power of two of bytes, within the address width;
//! - what an entry holds (`E0416`): a table type whose whole span is one
//!   entry, or a frame type with a size equal to an entry's, each unmapped
//!   when its last cap goes;
//! - the tree (`E0417`): every table type and frame size has one place,
//!   and the one table no table holds is the address-space root
//!   (`finalise = release_asid`), whose span holds the target's user space.

use crate::units::pow_bytes_and_unit as bytes_bits;
use std::collections::BTreeMap;

use crate::ast::{ObjectKind, TableDecl};
use crate::diag::{Code, Diagnostic};
use crate::model::{self, Finaliser, ObjectId, Table};
use crate::source::Span;

use super::Ctx;
use super::TypeSym;
use super::eval::bytes;

/// The bytes of one table entry: a word.
const ENTRY_BYTES: u64 = 8;

impl Ctx<'_> {
    /// Fills in the table of every accepted object that declares one, and
    /// rejects (sets to `None`) objects whose table breaks a rule.
    pub(super) fn check_tables(
        &mut self,
        target: Option<&model::Target>,
        objects: &mut [Option<model::Object>],
    ) {
        // Where each held type is named, for the tree's diagnostics.
        let mut named: BTreeMap<(usize, ObjectId), Span> = BTreeMap::new();
        for (index, slot) in objects.iter_mut().enumerate() {
            let (_, item) = self.items.objects[index];
            let Some(decl) = item.tables.first() else {
                continue;
            };
            if let Some(extra) = item.tables.get(1) {
                self.diags.push(
                    Diagnostic::new(
                        Code::DuplicateStatement,
                        extra.span,
                        format!("`table` of `{}` is given twice", item.name.name),
                    )
                    .label("given again here")
                    .with_secondary(decl.span, "first given here")
                    .help("an object is one table: keep one `table` statement"),
                );
            }
            let Some(object) = slot.as_mut() else {
                continue;
            };
            match self.table_shape(object, item, decl, target) {
                Some((table, spans)) => {
                    for (held, span) in table.holds.iter().zip(spans) {
                        named.insert((index, *held), span);
                    }
                    object.table = Some(table);
                }
                None => *slot = None,
            }
        }
        let rejected = self.check_holds(objects, &named);
        for index in rejected {
            objects[index] = None;
        }
        self.check_tree(target, objects, &named);
    }

    /// The shape of one table, its held types resolved; `None` after an
    /// error. The spans are the held types', in order.
    fn table_shape(
        &mut self,
        object: &model::Object,
        item: &crate::ast::ObjectItem,
        decl: &TableDecl,
        target: Option<&model::Target>,
    ) -> Option<(Table, Vec<Span>)> {
        let name = &object.name;
        let shape_error = |message: String, span: Span, label: &str, help: String| {
            Diagnostic::new(Code::TableShape, span, message)
                .label(label.to_string())
                .with_secondary(item.name.span, format!("`{name}` is declared here"))
                .help(help)
        };
        if item.kind != ObjectKind::Kernel || item.param.is_some() {
            self.diags.push(
                shape_error(
                    format!("`{name}` cannot be a translation table"),
                    decl.span,
                    "table declared here",
                    format!("declare `{name}` as a fixed-size `object`"),
                )
                .note(if item.kind != ObjectKind::Kernel {
                    "a table is kernel state: a task that could write its entries could map any memory"
                } else {
                    "a table's entries fill it, so its size is fixed"
                }),
            );
            return None;
        }
        let entries = self.eval_reported(&decl.entries, None);
        let covers = self.eval_reported(&decl.covers, None);
        let (entries, covers) = (entries?, covers?);
        if entries < 2 || !entries.is_power_of_two() {
            self.diags.push(shape_error(
                format!("`{name}` has {entries} entries, not a power of two of at least 2"),
                decl.entries.span,
                "entry count",
                "an entry is chosen by bits of the address: give 2, 4, ... 512 entries".to_string(),
            ));
            return None;
        }
        if !covers.is_power_of_two() {
            self.diags.push(shape_error(
                format!("an entry of `{name}` covers {covers} bytes, not a power of two"),
                decl.covers.span,
                "bytes one entry covers",
                "an entry covers an aligned power-of-two piece of the address space, e.g. `2 MiB`"
                    .to_string(),
            ));
            return None;
        }
        let size = 1u64 << object.size.max_bits();
        if entries.checked_mul(ENTRY_BYTES) != Some(size) || !object.slots.is_empty() {
            self.diags.push(
                shape_error(
                    format!("the entries of `{name}` do not fill it"),
                    decl.entries.span,
                    "entry count",
                    format!(
                        "give `{name}` {} entries, or make it {}",
                        size / ENTRY_BYTES,
                        bytes(entries.saturating_mul(ENTRY_BYTES))
                    ),
                )
                .note(format!(
                    "each entry is one {ENTRY_BYTES}-byte word and a table is nothing else: \
                     {entries} entries are {}, `{name}` is {}{}",
                    bytes(entries.saturating_mul(ENTRY_BYTES)),
                    bytes(size),
                    if object.slots.is_empty() {
                        ""
                    } else {
                        " and owns capability slots"
                    }
                )),
            );
            return None;
        }
        let span_bits = covers.trailing_zeros() + entries.trailing_zeros();
        let address_bits = target.map_or(64, |t| t.address_bits);
        if span_bits > address_bits {
            self.diags.push(
                shape_error(
                    format!("`{name}` covers more than the address space"),
                    decl.covers.span.to(decl.entries.span),
                    "entries times the bytes each covers",
                    "cover fewer bytes per entry, or use fewer entries".to_string(),
                )
                .note(format!(
                    "{entries} entries of {} span 2^{span_bits} bytes; addresses are {address_bits} bits",
                    bytes(covers)
                )),
            );
            return None;
        }
        let mut holds = Vec::new();
        let mut spans = Vec::new();
        let mut ok = true;
        for ident in &decl.holds {
            let Some(held) = self.resolve(ident, "an object type", |s| match s {
                TypeSym::Object(i) => Some(ObjectId(i as u32)),
                _ => None,
            }) else {
                ok = false;
                continue;
            };
            if let Some(at) = holds.iter().position(|h| *h == held) {
                self.diags.push(
                    Diagnostic::new(
                        Code::DuplicateName,
                        ident.span,
                        format!("`{}` is listed twice in the table of `{name}`", ident.name),
                    )
                    .label("listed again here")
                    .with_secondary(spans[at], "first listed here")
                    .help("list each object type once"),
                );
                ok = false;
                continue;
            }
            holds.push(held);
            spans.push(ident.span);
        }
        ok.then(|| {
            (
                Table {
                    entries,
                    entry_bits: covers.trailing_zeros(),
                    holds,
                    span: decl.span,
                },
                spans,
            )
        })
    }

    /// What each entry holds: a table spanning one entry, or a frame of an
    /// entry's size, unmapped when its last cap goes. Returns the holders
    /// to reject.
    fn check_holds(
        &mut self,
        objects: &[Option<model::Object>],
        named: &BTreeMap<(usize, ObjectId), Span>,
    ) -> Vec<usize> {
        let mut rejected = Vec::new();
        for (&(holder, held), &span) in named {
            let (Some(h), Some(x)) = (&objects[holder], &objects[held.index()]) else {
                continue;
            };
            let table = h.table.as_ref().expect("named only for tables");
            if self.reject_byte_object(x, span, "held in a translation table") {
                rejected.push(holder);
                continue;
            }
            let entry = bytes(1 << table.entry_bits);
            let problem = match (&x.table, x.kind) {
                (Some(t), _) if t.span_bits() != table.entry_bits => Some((
                    format!(
                        "`{}` spans {}, but an entry of `{}` covers {entry}",
                        x.name,
                        bytes_bits(t.span_bits()),
                        h.name
                    ),
                    "a table in an entry spans exactly that entry".to_string(),
                )),
                (None, ObjectKind::Frame)
                    if !x.size.table.iter().any(|(_, b)| *b == table.entry_bits) =>
                {
                    Some((
                        format!(
                            "no `{}` is {entry}, the size of an entry of `{}`",
                            x.name, h.name
                        ),
                        format!(
                            "a frame in an entry is mapped at the entry's size; give `{}` a size of {entry}, or hold it in a table whose entries cover its size",
                            x.name
                        ),
                    ))
                }
                (None, ObjectKind::Frame) | (Some(_), _) => None,
                (None, _) => Some((
                    format!("`{}` is neither a table nor a frame", x.name),
                    format!(
                        "an entry links a table or maps a frame; give `{}` a `table = ...;` or declare it `frame`",
                        x.name
                    ),
                )),
            };
            let problem = problem.or_else(|| {
                (!x.finalisers.contains(&Finaliser::Unmap)).then(|| {
                    (
                        format!(
                            "`{}` is never unmapped, but `{}` holds it",
                            x.name, h.name
                        ),
                        format!(
                            "add `finalise = unmap;` to `{}` (and `#[mapped_at]` to its caps), so an entry never outlives it",
                            x.name
                        ),
                    )
                })
            });
            if let Some((message, help)) = problem {
                self.diags.push(
                    Diagnostic::new(Code::TableHolds, span, message)
                        .label("held here")
                        .with_secondary(x.span, format!("`{}` is declared here", x.name))
                        .help(help),
                );
                rejected.push(holder);
            }
        }
        rejected
    }

    /// One place for every table type and frame size, one root, and that
    /// root the address-space root, covering the user space.
    fn check_tree(
        &mut self,
        target: Option<&model::Target>,
        objects: &[Option<model::Object>],
        named: &BTreeMap<(usize, ObjectId), Span>,
    ) {
        let tables: Vec<(usize, &Table)> = objects
            .iter()
            .enumerate()
            .filter_map(|(i, o)| Some((i, o.as_ref()?.table.as_ref()?)))
            .collect();
        if tables.is_empty() {
            return;
        }
        // Every (held type, entry size) has one holder.
        let mut place: BTreeMap<(ObjectId, u32), usize> = BTreeMap::new();
        for &(holder, table) in &tables {
            for &held in &table.holds {
                if let Some(&first) = place.get(&(held, table.entry_bits)) {
                    let x = &objects[held.index()].as_ref().expect("held").name;
                    self.diags.push(
                        Diagnostic::new(
                            Code::TableTree,
                            named[&(holder, held)],
                            format!(
                                "`{x}` of {} has two places: in `{}` and in `{}`",
                                bytes(1 << table.entry_bits),
                                objects[first].as_ref().expect("table").name,
                                objects[holder].as_ref().expect("table").name,
                            ),
                        )
                        .label("held here too")
                        .with_secondary(named[&(first, held)], "held here first")
                        .note("a map finds its entry by walking down from the root; one object of one size has one level")
                        .help(format!("hold `{x}` in one table type")),
                    );
                    continue;
                }
                place.insert((held, table.entry_bits), holder);
            }
        }
        let held = |i: usize| {
            tables
                .iter()
                .any(|(_, t)| t.holds.contains(&ObjectId(i as u32)))
        };
        let roots: Vec<usize> = tables
            .iter()
            .map(|(i, _)| *i)
            .filter(|&i| !held(i))
            .collect();
        let root_name = |i: usize| objects[i].as_ref().expect("table").name.clone();
        if let [first, second, ..] = roots[..] {
            self.diags.push(
                Diagnostic::new(
                    Code::TableTree,
                    objects[second].as_ref().expect("table").span,
                    format!(
                        "`{}` and `{}` are both held by no table",
                        root_name(first),
                        root_name(second)
                    ),
                )
                .label("a second root")
                .with_secondary(
                    objects[first].as_ref().expect("table").span,
                    "the first root",
                )
                .note("an address space is one tree of tables; only its root is held by no table")
                .help(format!(
                    "list `{}` in the table of the type above it",
                    root_name(second)
                )),
            );
            return;
        }
        let root = roots[0];
        let space = objects.iter().position(|o| {
            o.as_ref()
                .is_some_and(|o| o.finalisers.contains(&Finaliser::ReleaseAsid))
        });
        if space != Some(root) {
            let r = objects[root].as_ref().expect("table");
            let mut d = Diagnostic::new(
                Code::TableTree,
                r.table.as_ref().expect("table").span,
                format!(
                    "`{}` is the root of the tables, but not an address space",
                    r.name
                ),
            )
            .label("the table no table holds");
            d = match space.and_then(|s| objects[s].as_ref()) {
                Some(s) => d
                    .with_secondary(s.span, format!("`{}` is the address-space root", s.name))
                    .help(format!(
                        "give `{}` the root table, or hold `{}` in its entries",
                        s.name, r.name
                    )),
                None => d.help(format!("add `finalise = release_asid;` to `{}`", r.name)),
            };
            self.diags.push(d.note(
                "a task maps into an address space by naming its root; the tables hang under it",
            ));
            return;
        }
        let (Some(target), Some(t)) = (
            target,
            objects[root].as_ref().and_then(|o| o.table.as_ref()),
        ) else {
            return;
        };
        let page_bits = tables.iter().map(|(_, t)| t.entry_bits).min().unwrap_or(0);
        let top = 1u128 << t.span_bits();
        if let Some((base, end)) = target.user_space {
            let page = 1u64 << page_bits;
            if u128::from(end) > top || base % page != 0 || end % page != 0 {
                self.diags.push(
                    Diagnostic::new(
                        Code::SettingOutOfRange,
                        target.span,
                        format!("user space `{base:#x}..{end:#x}` does not fit the tables"),
                    )
                    .label("`user_base` and `user_end` are set here")
                    .with_secondary(t.span, format!("`{}` spans 2^{} bytes", root_name(root), t.span_bits()))
                    .note(format!(
                        "user space lies inside what the root table spans, in whole {} pages",
                        bytes(page)
                    ))
                    .help("move `user_base` and `user_end` onto page boundaries below the root's span"),
                );
            }
        }
    }
}
