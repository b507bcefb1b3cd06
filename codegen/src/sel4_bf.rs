//! seL4's bitfield_gen input for a spec's cap types (`capc build --lang
//! bf`): one standalone `block` per cap type, every field at its word and
//! bits, so that seL4's own generator (`bitfield_gen.py`) can be run on
//! what capc lays out and its accessors compared with capc's.
//!
//! The format, as `bitfield_gen.py` reads it:
//! - `base 64` says the blocks are made of 64-bit words; `base 64(A, 1)`
//!   adds that `field_high` fields hold the top bits of an `A`-bit address
//!   and read back sign-extended from bit `A - 1`. It is written when a cap
//!   field is `#[sign_extend]` (`A` is the target's `address_bits`).
//! - A block's entries (`field NAME BITS`, `field_high NAME BITS`,
//!   `padding BITS`) fill its words from the top bit of its last word
//!   down: the first entry takes the highest bits of the last word, the
//!   last entry bit 0 of word 0. So each block lists word `cap_words - 1`
//!   first and word 0 last, each word from bit 63 down, with `padding` for
//!   the bits no field takes (capc's padding, always 0).
//! - The tag is the field `capType`, as wide as the target's `tag_bits`,
//!   at `tag_shift` in word 0. A block does not say its tag's value: the
//!   comment before it does, and a user of the generated code passes it
//!   to `new`.
//!
//! Pointers:
//! - `#[sign_extend]` `ptr(align = N)` is `field_high`: capc stores bits
//!   `log2 N..A` of the address in `A - log2 N` bits, which is exactly what
//!   `field_high` of that width stores (the top bits of the `A`-bit
//!   address), and both read back a canonical address;
//! - any other `ptr(align = N)` is a plain `field` holding what capc
//!   stores, the address shifted right by `log2 N` (bitfield_gen has no
//!   shifted field without sign extension: a `field_high` in a block with
//!   sign extension would sign-extend it, one without would take the top
//!   bits of a 64-bit address);
//! - `#[whole_word]` pointers are a plain 64-bit field holding the address.
//!
//! Standalone blocks rather than a `tagged_union`: a tagged union's
//! generated accessors are named by field only in Robigalia's Rust
//! generator, so two cap types with a field of the same name would
//! collide.
//!
//! Blocks are named in snake_case (`PageTableCap` is `page_table_cap`,
//! `CNodeCap` `cnode_cap`) and fields as in the spec, but a field named as
//! one of bitfield_gen's keywords (`base`, `block`, `field`, `field_high`,
//! `mask`, `padding`, `tag`, `tagged_union`), which its parser would not
//! read as a name, gets a `_` after it: `base_`.
//!
//! What the format cannot state is a diagnostic at the cap type or field:
//! a field named `capType` (the tag's name, E0934), a keyword-named field
//! whose `_` name another field has (E0935), two cap types whose block
//! names are equal (E0936), and a sign-extended pointer whose width is not
//! `A - log2 N` (E0937).
//!
//! Output is deterministic: declaration order, no paths but the spec
//! file's name.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use capc_dsl::diag::{Code, Diagnostic};
use capc_dsl::model::{CapType, FieldKind, Spec};

use crate::backend::snake;

/// The name of the tag field in every block (seL4's).
pub const TAG_FIELD: &str = "capType";

/// bitfield_gen's reserved words: a field so named would not parse.
const KEYWORDS: &[&str] = &[
    "block",
    "base",
    "field",
    "field_high",
    "mask",
    "padding",
    "tagged_union",
    "tag",
];

/// One cap type as a bitfield_gen block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The cap type's name in the spec (`PageTableCap`).
    pub cap: String,
    /// The block's name (`page_table_cap`).
    pub name: String,
    /// The cap type's tag value.
    pub tag: u32,
    /// The entries in bitfield_gen's order: the last word first, each
    /// word from its top bit down.
    pub entries: Vec<Entry>,
}

/// An entry of a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// `field capType BITS`: the tag.
    Tag {
        /// Its width.
        bits: u32,
    },
    /// `field NAME BITS` or `field_high NAME BITS`: a cap field.
    Field {
        /// Its position among the cap type's fields (`Cap::fields`).
        index: usize,
        /// Its name: the spec's, with `_` appended to a bitfield_gen
        /// keyword (`base_`).
        name: String,
        /// Its width.
        bits: u32,
        /// `field_high`: a sign-extended pointer.
        high: bool,
    },
    /// `padding BITS`.
    Padding {
        /// Its width.
        bits: u32,
    },
}

/// Every cap type of `spec` as a block, in declaration order; a
/// diagnostic (E0934–E0937) for each thing bitfield_gen's format cannot
/// state.
pub fn blocks(spec: &Spec) -> Result<Vec<Block>, Vec<Diagnostic>> {
    let target = &spec.target;
    let mut names: BTreeMap<String, &CapType> = BTreeMap::new();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for cap in &spec.caps {
        let name = snake(&cap.name);
        if let Some(first) = names.get(&name) {
            errors.push(
                Diagnostic::new(
                    Code::BfBlockName,
                    cap.span,
                    format!(
                        "cap types `{}` and `{}` would both be bitfield_gen's block `{name}`",
                        first.name, cap.name
                    ),
                )
                .label(format!("block `{name}` again"))
                .with_secondary(first.span, format!("block `{name}` first"))
                .help(format!(
                    "rename `{}` or `{}` so that their snake_case names differ",
                    first.name, cap.name
                )),
            );
            continue;
        }
        names.insert(name.clone(), cap);
        // (word, lowest bit, entry) for every field and the tag.
        let mut placed: Vec<(u32, u32, Entry)> = Vec::new();
        if target.tag_bits > 0 {
            placed.push((
                0,
                target.tag_shift,
                Entry::Tag {
                    bits: target.tag_bits,
                },
            ));
        }
        for (index, field) in cap.fields.iter().enumerate() {
            if field.name == TAG_FIELD {
                errors.push(
                    Diagnostic::new(
                        Code::BfTagName,
                        field.span,
                        format!(
                            "field `{}.{}` has the name bitfield_gen's blocks give the tag",
                            cap.name, field.name
                        ),
                    )
                    .label(format!("`{TAG_FIELD}` is the tag's field in every block"))
                    .help(format!(
                        "rename the field: `{TAG_FIELD}` is taken by the tag"
                    )),
                );
                continue;
            }
            // A keyword would not parse: `base` is `base_` (bitfield_gen's
            // names are `[A-Za-z_]\w+`).
            let bf_name = if KEYWORDS.contains(&field.name.as_str()) {
                let escaped = format!("{}_", field.name);
                if let Some(other) = cap.fields.iter().find(|f| f.name == escaped) {
                    errors.push(
                        Diagnostic::new(
                            Code::BfKeywordName,
                            field.span,
                            format!(
                                "field `{}.{}` is a bitfield_gen keyword, and its block name `{escaped}` is another field's",
                                cap.name, field.name
                            ),
                        )
                        .label(format!("a keyword: bitfield_gen would call it `{escaped}`"))
                        .with_secondary(other.span, format!("`{escaped}` is this field"))
                        .help(format!(
                            "rename `{}` or `{escaped}` (bitfield_gen's keywords cannot be field names)",
                            field.name
                        )),
                    );
                    continue;
                }
                escaped
            } else {
                field.name.clone()
            };
            let high = match field.kind {
                FieldKind::Ptr { align_bits } if field.sign_extend && !field.whole_word => {
                    if u32::from(field.width) + align_bits != target.address_bits {
                        let wanted = target.address_bits.saturating_sub(align_bits);
                        errors.push(
                            Diagnostic::new(
                                Code::BfHighWidth,
                                field.span,
                                format!(
                                    "field `{}.{}`: a sign-extended pointer of {} bits aligned to 2^{align_bits} \
                                     is not bitfield_gen's `field_high` of a {}-bit address",
                                    cap.name, field.name, field.width, target.address_bits
                                ),
                            )
                            .label(format!(
                                "{} bits, but a `field_high` of this address is {wanted}",
                                field.width
                            ))
                            .help(format!(
                                "give the pointer {wanted} bits (`address_bits` {} minus its alignment's {align_bits}), or drop `#[sign_extend]`",
                                target.address_bits
                            )),
                        );
                        continue;
                    }
                    true
                }
                _ => false,
            };
            placed.push((
                u32::from(field.word),
                u32::from(field.shift),
                Entry::Field {
                    index,
                    name: bf_name,
                    bits: u32::from(field.width),
                    high,
                },
            ));
        }
        // The last word first, each from its top bit down.
        placed.sort_by_key(|p| std::cmp::Reverse((p.0, p.1)));
        let mut entries = Vec::new();
        for word in (0..target.cap_words).rev() {
            let mut top = 64;
            for (_, shift, entry) in placed.iter().filter(|p| p.0 == word) {
                let bits = match entry {
                    Entry::Tag { bits } | Entry::Field { bits, .. } | Entry::Padding { bits } => {
                        *bits
                    }
                };
                let end = shift + bits;
                if end < top {
                    entries.push(Entry::Padding { bits: top - end });
                }
                entries.push(entry.clone());
                top = *shift;
            }
            if top > 0 {
                entries.push(Entry::Padding { bits: top });
            }
        }
        out.push(Block {
            cap: cap.name.clone(),
            name,
            tag: cap.tag,
            entries,
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The `base` line: with sign extension when some field is `field_high`.
pub fn base(spec: &Spec, blocks: &[Block]) -> String {
    let high = blocks.iter().any(|b| {
        b.entries
            .iter()
            .any(|e| matches!(e, Entry::Field { high: true, .. }))
    });
    if high {
        format!("base 64({}, 1)", spec.target.address_bits)
    } else {
        "base 64".to_string()
    }
}

/// bitfield_gen's input for `spec`'s cap types; `root_name` is the spec
/// file's path (only its file name is written); the diagnostics of
/// [`blocks`] when the format cannot state the cap types.
pub fn render(spec: &Spec, root_name: &str) -> Result<String, Vec<Diagnostic>> {
    let blocks = blocks(spec)?;
    let file = root_name.rsplit(['/', '\\']).next().unwrap_or(root_name);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "-- The cap types of {file}, laid out by capc, as input for seL4's bitfield_gen\n\
         -- (`capc build --lang bf`). Generated: do not edit.\n\
         --\n\
         -- Each block lists its last word first, each word from bit 63 down. `{TAG_FIELD}`\n\
         -- is the tag; the comment before a block gives its value. `field_high` is a\n\
         -- sign-extended pointer (the top bits of a {}-bit address); a plain field\n\
         -- holding a pointer holds the address shifted right by its alignment, or the\n\
         -- whole address when it is 64 bits wide.\n",
        spec.target.address_bits
    );
    let _ = writeln!(out, "{}\n", base(spec, &blocks));
    for block in &blocks {
        let _ = writeln!(out, "-- {}: tag {}", block.cap, block.tag);
        let _ = writeln!(out, "block {} {{", block.name);
        let mut left = 64;
        for entry in &block.entries {
            let bits = match entry {
                Entry::Tag { bits } => {
                    let _ = writeln!(out, "    field {TAG_FIELD} {bits}");
                    *bits
                }
                Entry::Field {
                    name, bits, high, ..
                } => {
                    let kind = if *high { "field_high" } else { "field" };
                    let _ = writeln!(out, "    {kind} {name} {bits}");
                    *bits
                }
                Entry::Padding { bits } => {
                    let _ = writeln!(out, "    padding {bits}");
                    *bits
                }
            };
            left -= bits;
            if left == 0 {
                left = 64;
                if !std::ptr::eq(entry, block.entries.last().expect("an entry")) {
                    out.push('\n');
                }
            }
        }
        out.push_str("}\n\n");
    }
    out.pop();
    Ok(out)
}
