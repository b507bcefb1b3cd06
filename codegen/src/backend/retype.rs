//! Retype and derivation: the spec's retype rules as data, the pure function
//! a kernel calls to check a retype call and place its objects, and the
//! predicates its derivation tree is built on (which object a cap names, which
//! memory it covers, which cap is derived from which).
//!
//! The per-cap-type knowledge (which field is the address, the size argument,
//! the watermark; which objects a source may become) is generated as small
//! match arms; the algorithm around it is written once and follows seL4's
//! `decodeUntypedInvocation`, so the error a kernel reports matches seL4's.
//! Nothing here touches memory or slots: the kernel applies the [`Placement`]
//! it gets back.

use std::collections::BTreeSet;

use capc_dsl::model::{CapField, CapId, CapType, Derive, FieldKind, Object, Retype, Role};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::caps::{get_u64, is_narrow, set_u64, uint_type};
use super::{Gen, doc_lines, ident, lit, snake};

pub fn generate(g: &Gen<'_>) -> TokenStream {
    let predicates = predicates(g);
    let retype = if g.spec.retypes.is_empty() {
        TokenStream::new()
    } else {
        retype(g)
    };
    let derivation = if g.spec.derives.is_empty() {
        TokenStream::new()
    } else {
        derivation(g)
    };
    quote! {
        #predicates
        #retype
        #derivation
    }
}

/// The object a cap type names, if any.
fn object_of<'a>(g: &'a Gen<'_>, c: &CapType) -> Option<&'a Object> {
    c.object.map(|o| &g.spec.objects[o.index()])
}

/// `(base, size_bits)` of a cap's object, read from the view `V(cap)`; `None`
/// for cap types that name no object.
fn region_arm(g: &Gen<'_>, c: &CapType) -> Option<TokenStream> {
    let object = object_of(g, c)?;
    let field = c.fields.iter().find(|f| f.role == Role::Object)?;
    let base = ident(&field.name);
    let view = ident(&c.name);
    // A kernel-virtual pointer: the address is the field less its offset.
    let address = |view: TokenStream| match field.virtual_offset {
        0 => quote!(#view.#base()),
        offset => {
            let offset = lit(offset);
            quote!(#view.#base().wrapping_sub(#offset))
        }
    };
    if let [(_, bits)] = object.size.table.as_slice() {
        let address = address(quote!(#view(cap)));
        if g.byte_sizes() {
            let Some(bytes) = 1u64.checked_shl(*bits) else {
                return Some(quote!(CapType::#view => return None));
            };
            let bytes = lit(bytes);
            return Some(quote!(CapType::#view => (#address, #bytes)));
        }
        let bits = lit((*bits).into());
        return Some(quote!(CapType::#view => (#address, #bits)));
    }
    let arg_field = c.field_with(Role::SizeArg)?;
    let arg = ident(&arg_field.name);
    let object = ident(&object.name);
    let address = address(quote!(view));
    // A size in bytes stands for the argument log2 of it.
    let arg = if arg_field.size_bytes {
        quote! {{
            let bytes = view.#arg();
            if !bytes.is_power_of_two() {
                return None;
            }
            u64::from(bytes.trailing_zeros())
        }}
    } else if arg_field.values.is_some() {
        // An enumerated size argument, as its word.
        let place = super::caps::place(arg_field);
        quote!(view.cap().field(#place))
    } else {
        get_u64(quote!(view), arg_field)
    };
    let size = if g.byte_sizes() {
        quote!(ObjectType::#object.size_bytes(#arg).ok()?)
    } else {
        quote!(ObjectType::#object.size_bits(#arg).ok()?)
    };
    Some(quote! {
        CapType::#view => {
            let view = #view(cap);
            (#address, #size)
        }
    })
}

/// `#[copy(requires(...))]`: `&&` and, per cap type that states it,
/// whether each field it names is not 0 in `cap` (read from its bits, so
/// that an enumerated field's unnamed value counts as its number does);
/// nothing for a spec without requirements.
fn copy_requirements(g: &Gen<'_>) -> TokenStream {
    let arms: Vec<TokenStream> = g
        .spec
        .caps
        .iter()
        .filter(|c| !c.copy_conditions.requires.is_empty())
        .map(|c| {
            let v = ident(&c.name);
            let tests = c.copy_conditions.requires.iter().map(|&i| {
                let f = &c.fields[i];
                let word = lit(f.word.into());
                if f.mask() == u64::MAX {
                    return quote!(words[#word] != 0);
                }
                let mask = super::lifecycle::hex(f.mask());
                quote!(words[#word] & #mask != 0)
            });
            quote!(Some(CapType::#v) => #(#tests)&&*)
        })
        .collect();
    if arms.is_empty() {
        return quote!();
    }
    quote! {
        && {
            let words = cap.words();
            match cap.cap_type() {
                #(#arms,)*
                _ => true,
            }
        }
    }
}

fn predicates(g: &Gen<'_>) -> TokenStream {
    let requirements = copy_requirements(g);
    let region = region_fn(g);
    let same_object = same_object_fn(g);
    let badge = badge_fn(g);
    let badged = if badge.is_empty() {
        quote!(false)
    } else {
        quote! {
            same_object(parent, child)
                && badge_of(parent) == Some(0)
                && badge_of(child).is_some_and(|badge| badge != 0)
                && child.cap_type().map(CapType::copy_policy) != Some(CopyPolicy::Always)
        }
    };
    let badge_rule = if badge.is_empty() {
        "- no cap type of this spec has a badge, so caps that name the same \
         object are never parent and child."
    } else {
        "- `parent` and `child` name the same object, `parent` is unbadged and \
         `child` is badged (a mint), and `child`'s type is not `#[always_copy]` \
         (whose derivations are always copies)."
    };
    let derive_rule = if g.spec.derives.is_empty() {
        ""
    } else {
        "- `child`'s type is derived from `parent`'s by one or more `derive` rules \
         (`CapType::is_derived_from`), or both are of one type whose caps split \
         (`CapType::splits`) and do not name the same object; and, when `child` \
         names an object, it lies within `parent`'s region (both ends included), \
         and when its type splits by `#[range]`, its range (`range_of`) lies within \
         `parent`'s;"
    };
    // A piece of a `#[range]` split holds a sub-range of its parent's.
    let range_ancestry = g.spec.derives.iter().any(|r| r.range.is_some()).then(|| {
        quote! {
            if let (Some((start, end)), Some((first, last))) = (range_of(parent), range_of(child)) {
                return start <= first && last <= end;
            }
        }
    });
    let derived = (!g.spec.derives.is_empty()).then(|| {
        quote! {
            if let (Some(ancestor), Some(derived)) = (parent.cap_type(), child.cap_type())
                && (derived.is_derived_from(ancestor)
                    || (derived == ancestor && derived.splits() && !same_object(parent, child)))
            {
                if derived.object_type().is_none() {
                    #range_ancestry
                    return true;
                }
                let (Some((outer, outer_size)), Some((inner, inner_size))) = (region(parent), region(child))
                else {
                    return false;
                };
                return match (outer.checked_add(outer_size), inner.checked_add(inner_size)) {
                    (Some(outer_end), Some(inner_end)) => inner >= outer && inner_end <= outer_end,
                    _ => false,
                };
            }
        }
    });
    let mut paragraphs = vec![
        "Whether the contents of the two caps alone show `child` derived from \
         `parent`. True exactly when:",
        "- `parent` is untyped memory and `child`'s object lies within `parent`'s \
         region (both ends included), unless the two name the same object;",
        badge_rule,
        "",
        "False for every other pair, in particular for two caps that name the same \
         object with the same badge (what `is_copy` calls copies).",
        "",
        "This is what the fields can tell, not where a cap sits in a derivation \
         tree. In seL4 a copy is inserted as a child of the cap it was copied from \
         when that cap is revocable (every cap retype made, every Untyped cap, a cap \
         a mint gave a new badge); copies of other caps are siblings. A badged cap \
         is a child of a revocable cap with the same badge unless it is first-badged \
         (made by a mint of its own). So for caps that name the same object the \
         tree's revocable and first-badged bits decide parenthood, not this \
         predicate: a kernel keeps them per slot and combines them with \
         `same_object`, as seL4's `isMDBParentOf` does.",
        "",
        "An Untyped retyped into one Untyped of the same size has the same identity \
         as its parent, so the caps alone call it a copy; the tree tells them apart \
         by the order in which they were made.",
    ];
    if !derive_rule.is_empty() {
        paragraphs.insert(1, derive_rule);
    }
    let doc = doc_lines(&wrap(&paragraphs));
    quote! {
        #region
        #same_object
        #badge

        #doc
        pub fn is_ancestor(parent: Cap, child: Cap) -> bool {
            #derived
            let parent_is_untyped = parent
                .cap_type()
                .and_then(CapType::object_type)
                .is_some_and(ObjectType::is_untyped);
            if !parent_is_untyped {
                return #badged;
            }
            if same_object(parent, child) {
                return false;
            }
            let (Some((outer, outer_size)), Some((inner, inner_size))) = (region(parent), region(child))
            else {
                return false;
            };
            match (outer.checked_add(outer_size), inner.checked_add(inner_size)) {
                (Some(outer_end), Some(inner_end)) => inner >= outer && inner_end <= outer_end,
                _ => false,
            }
        }

        /// Whether `a` and `b` are copies by their contents: they name the
        /// same object (`same_object`) and neither `is_ancestor(a, b)` nor
        /// `is_ancestor(b, a)` holds.
        ///
        /// It does not say they are siblings in a derivation tree: in seL4 the
        /// copy of a revocable cap (one retype made, any Untyped cap, a cap a
        /// mint gave a new badge) is its child, and revoking the original
        /// deletes it; only copies of other caps are siblings. For caps that
        /// name the same object, the tree's revocable and first-badged bits
        /// decide which is the parent.
        pub fn is_copy(a: Cap, b: Cap) -> bool {
            same_object(a, b) && !is_ancestor(a, b) && !is_ancestor(b, a)
        }

        /// Whether `cap` may be copied or minted into another slot: false
        /// for the null cap, an unknown tag, `#[never_copy]` cap types (of
        /// which there is exactly one cap), and an unmapped cap whose mapping
        /// is its object's (`Mapping::Shared`: seL4 refuses to derive an
        /// unmapped page-table cap), and an address-space root's cap that
        /// no pool has given a number yet (`asid_of` is 0: seL4 refuses to
        /// derive an unassigned PML4 cap), and a cap whose type's
        /// `#[copy(requires(...))]` names a field that is 0 (false) in it
        /// (seL4's `deriveCap` refuses an unmapped table cap). The copy
        /// itself starts from `derived(cap)`; a type with
        /// `#[copy(no_children)]` (`CapType::copy_needs_no_children`) is
        /// copied only while the cap has no children, which the kernel's
        /// derivation tree knows. Moving a cap needs none of this.
        pub fn may_copy(cap: Cap) -> bool {
            cap.cap_type().is_some_and(|t| {
                let shared = matches!(t.mapping(), Some(Mapping::Shared));
                let unassigned = matches!(asid_of(cap), Some(0));
                t.copy_policy() != CopyPolicy::Never && (!shared || is_mapped(cap)) && !unassigned #requirements
            })
        }
    }
}

fn region_fn(g: &Gen<'_>) -> TokenStream {
    let mut arms = Vec::new();
    let mut without = Vec::new();
    for c in &g.spec.caps {
        match region_arm(g, c) {
            Some(arm) => arms.push(arm),
            None => without.push(ident(&c.name)),
        }
    }
    let doc = quote! {
        /// The memory the object of `cap` occupies: `(base, size in bytes)`,
        /// from its `#[object]` field and the size its object type has for its
        /// `#[size_arg]` field. `None` for the null cap, an unknown tag, cap
        /// types that name no object, and a size argument the object type does
        /// not allow.
    };
    if arms.is_empty() {
        return quote! {
            #doc
            pub fn region(_cap: Cap) -> Option<(u64, u64)> {
                None
            }
        };
    }
    let without = (!without.is_empty()).then(|| quote!(#(CapType::#without)|* => return None,));
    if g.byte_sizes() {
        return quote! {
            #doc
            pub fn region(cap: Cap) -> Option<(u64, u64)> {
                let (base, size) = match cap.cap_type()? {
                    #(#arms,)*
                    #without
                };
                Some((base, size))
            }
        };
    }
    quote! {
        #doc
        pub fn region(cap: Cap) -> Option<(u64, u64)> {
            let (base, size_bits) = match cap.cap_type()? {
                #(#arms,)*
                #without
            };
            Some((base, 1u64.checked_shl(size_bits)?))
        }
    }
}

fn same_object_fn(g: &Gen<'_>) -> TokenStream {
    let mut arms = Vec::new();
    let mut anonymous = Vec::new();
    for c in &g.spec.caps {
        let view = ident(&c.name);
        let fields: Vec<_> = c
            .fields
            .iter()
            .filter(|f| f.identity)
            .map(|f| ident(&f.name))
            .collect();
        match fields.as_slice() {
            [] => anonymous.push(view),
            [f] => arms.push(quote!(Some(CapType::#view) => #view(a).#f() == #view(b).#f())),
            _ => arms.push(quote! {
                Some(CapType::#view) => {
                    let (a, b) = (#view(a), #view(b));
                    #(a.#fields() == b.#fields())&&*
                }
            }),
        }
    }
    let anonymous =
        (!anonymous.is_empty()).then(|| quote!(Some(#(CapType::#anonymous)|*) => true,));
    quote! {
        /// Whether `a` and `b` name the same object: they have the same cap
        /// type and equal `#[identity]` fields (rights, badges and other
        /// fields may differ). Caps of a type without identity fields all
        /// name the one object of that type. The null cap names nothing.
        pub fn same_object(a: Cap, b: Cap) -> bool {
            if a.tag() != b.tag() {
                return false;
            }
            match a.cap_type() {
                #(#arms,)*
                #anonymous
                None => false,
            }
        }
    }
}

/// `badge_of`, or nothing when no cap type has a badge.
fn badge_fn(g: &Gen<'_>) -> TokenStream {
    let arms: Vec<_> = g
        .spec
        .caps
        .iter()
        .filter_map(|c| {
            let f = c.field_with(Role::Badge)?;
            if f.kind != FieldKind::Uint {
                return None;
            }
            let view = ident(&c.name);
            let badge = get_u64(quote!(#view(cap)), f);
            Some(quote!(Some(CapType::#view) => Some(#badge)))
        })
        .collect();
    if arms.is_empty() {
        return TokenStream::new();
    }
    quote! {
        /// The badge of `cap` (0: unbadged), if its type has a `#[badge]`
        /// field. `Cap::with_badge` sets it.
        pub fn badge_of(cap: Cap) -> Option<u64> {
            match cap.cap_type() {
                #(#arms,)*
                _ => None,
            }
        }
    }
}

/// The rules to generate: the first rule for each source cap type (later
/// rules for the same source would be unreachable).
fn rules<'a>(g: &'a Gen<'_>) -> Vec<&'a Retype> {
    let mut seen = BTreeSet::<CapId>::new();
    g.spec
        .retypes
        .iter()
        .filter(|r| seen.insert(r.source))
        .collect()
}

fn rule_const(g: &Gen<'_>, r: &Retype) -> proc_macro2::Ident {
    format_ident!(
        "{}",
        snake(&g.spec.caps[r.source.index()].name).to_ascii_uppercase()
    )
}

/// How a generated retype reads the request's object type and size
/// argument: `(the placement's size_arg field, the type's number, the size
/// argument, the statements that read them)`. A spec with a type numbered
/// per size argument reads both through `ObjectType::sized_number`; any
/// other spec's retype reads the request as it is.
fn sized_request(g: &Gen<'_>) -> (TokenStream, TokenStream, TokenStream, TokenStream) {
    let per_size = g.spec.objects.iter().any(|o| !o.numbers.is_empty());
    if !per_size {
        return (
            quote!(size_arg: request.size_arg),
            quote!(request.object_type),
            quote!(request.size_arg),
            quote!(),
        );
    }
    (
        quote!(size_arg),
        quote!(number),
        quote!(size_arg),
        quote! {
            // A number of a type numbered per size argument names the
            // size argument too: the request's size argument is not read.
            let (number, size_arg) = match ObjectType::sized_number(request.object_type) {
                Some((object_type, arg)) => (object_type as u64, arg),
                None => (request.object_type, request.size_arg),
            };
        },
    )
}

/// How generated retype and split code sizes objects: in log2 sizes
/// (`size_bits`, as every spec without a byte-sized object type), or in
/// bytes (`size`, `placement`) for a spec with one.
struct Sizing {
    /// `let size_bits = match object_type.size_bits(ARG) {` or `let (size,
    /// align_bits) = match object_type.placement(ARG) {`.
    lookup: TokenStream,
    /// The placement's size member: `size_bits` or `size`.
    member: TokenStream,
    /// `left` holds fewer than `count` objects.
    too_few: TokenStream,
    /// The bytes of `count` objects (`count` no more than fit).
    bytes: TokenStream,
    /// log2 of the objects' alignment.
    align: TokenStream,
    /// The lookup's `Ok` arm.
    ok: TokenStream,
}

fn sizing(g: &Gen<'_>, size_arg: &TokenStream, left: TokenStream) -> Sizing {
    if g.byte_sizes() {
        Sizing {
            lookup: quote!(let (size, align_bits) = match object_type.placement(#size_arg)),
            member: quote!(size),
            too_few: quote!(#left / size < request.count),
            bytes: quote!(request.count * size),
            align: quote!(align_bits),
            ok: quote!(Ok(placement) => placement),
        }
    } else {
        Sizing {
            lookup: quote!(let size_bits = match object_type.size_bits(#size_arg)),
            member: quote!(size_bits),
            too_few: quote!(#left.checked_shr(size_bits).unwrap_or(0) < request.count),
            bytes: quote!(request.count << size_bits),
            align: quote!(object_type.align_bits(size_bits)),
            ok: quote!(Ok(bits) => bits),
        }
    }
}

fn retype(g: &Gen<'_>) -> TokenStream {
    let rules = rules(g);
    let (size_arg_field, number, size_arg, normalise) = sized_request(g);
    let Sizing {
        lookup,
        member,
        too_few,
        bytes: count_bytes,
        align,
        ok,
    } = sizing(g, &size_arg, quote!(left));
    let (size_member, size_doc, address_step) = if g.byte_sizes() {
        (
            quote!(size: u64),
            quote!(#[doc = " One object's size in bytes."]),
            quote!(i.checked_mul(self.size)?),
        )
    } else {
        (
            quote!(size_bits: u32),
            quote!(#[doc = " log2 of one object's size in bytes."]),
            quote!(i.checked_mul(1u64.checked_shl(self.size_bits)?)?),
        )
    };
    let consts = rules.iter().map(|r| {
        let c = &g.spec.caps[r.source.index()];
        let name = rule_const(g, r);
        let view = ident(&c.name);
        let doc = g.docs(
            &r.docs,
            &format!("How `{}` caps are retyped.", c.name),
            r.span,
        );
        let targets = r.targets.iter().map(|t| {
            let t = ident(&g.spec.objects[t.index()].name);
            quote!(ObjectType::#t)
        });
        let fan_out = lit(r.fan_out);
        quote! {
            #doc
            pub const #name: RetypeRule = RetypeRule {
                source: CapType::#view,
                targets: &[#(#targets),*],
                fan_out: #fan_out,
            };
        }
    });
    let all = rules.iter().map(|r| {
        let name = rule_const(g, r);
        quote!(RetypeRule::#name)
    });
    let count = lit(rules.len() as u64);
    let of_arms = rules.iter().map(|r| {
        let view = ident(&g.spec.caps[r.source.index()].name);
        let name = rule_const(g, r);
        quote!(CapType::#view => Some(RetypeRule::#name))
    });
    let of_rest = (rules.len() < g.spec.caps.len()).then(|| quote!(_ => None,));
    let memory_arms: Vec<_> = rules
        .iter()
        .filter_map(|r| memory_arm(g, &g.spec.caps[r.source.index()]))
        .collect();
    let memory_rest = (memory_arms.len() < g.spec.caps.len()).then(|| quote!(_ => None,));
    let store_arms: Vec<_> = rules
        .iter()
        .filter_map(|r| store_arm(&g.spec.caps[r.source.index()]))
        .collect();
    let store_rest = (store_arms.len() < g.spec.caps.len()).then(|| quote!(_ => None,));
    let at_offset = rules.iter().any(|r| r.at_offset);
    let at_offset_variants = at_offset.then(|| {
        quote! {
            /// `retype_at` only: the first object's address (the region's
            /// base plus the offset) is not aligned to the object's
            /// alignment.
            AlignmentError,
            /// `retype_at` only: a live copy of the source, or a descendant
            /// of it or of a copy, names memory the objects would take.
            RevokeFirst,
        }
    });
    let retype_at = at_offset.then(|| retype_at(g, &rules));
    quote! {
        /// Why a retype was refused. The variants and their payloads are
        /// seL4's; `retype` lists the order of its checks and returns the
        /// first failure.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum RetypeError {
            /// Argument `index` is invalid: 0 for an object type that is
            /// unknown or that this source may not become, 1 for an object
            /// that the source's kind of memory (RAM or device) may not become.
            InvalidArgument {
                /// Which argument: 0 is the object type, 1 the size argument.
                index: u64,
            },
            /// A value lies outside `min..=max`: the size argument, the
            /// destination offset, the count, or the window of slots.
            RangeError {
                /// The smallest allowed value.
                min: u64,
                /// The largest allowed value.
                max: u64,
            },
            /// The source has `left` bytes from the first suitably aligned
            /// free address to its end: fewer than the objects need.
            NotEnoughMemory {
                /// Bytes usable for objects of the requested type.
                left: u64,
            },
            /// A destination slot is occupied.
            DeleteFirst,
            /// The destination CNode was not found: the kernel's lookup
            /// failed or found a cap that is not a CNode.
            FailedLookup,
            /// The source cap cannot be retyped: no retype rule applies to its
            /// type, or its own size argument is not one its object allows.
            IllegalOperation,
            /// The message is shorter than a retype call needs. Reported by
            /// the invocation decoder before `retype` runs; `retype` itself
            /// never returns it.
            TruncatedMessage,
            #at_offset_variants
        }

        /// The word arguments of a retype call, as the decoder read them from
        /// the message. Nothing is checked yet: `retype` does that.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
        pub struct RetypeRequest {
            /// The object type's number (see `ObjectType::from_word`).
            pub object_type: u64,
            /// The object type's size argument (0 for fixed-size types).
            pub size_arg: u64,
            /// The first destination slot: an index into the destination CNode.
            pub offset: u64,
            /// How many objects to make, one per slot from `offset` on.
            pub count: u64,
        }

        /// The destination CNode of a retype, as the kernel's lookup of the
        /// call's (root, index, depth) found it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct Destination {
            /// How many slots it has (2^radix).
            pub slots: u64,
        }

        impl Destination {
            /// Checks the window of `count` slots from `offset` on, as seL4
            /// does and in its order: `offset` must be a slot of the CNode
            /// (`RangeError { min: 0, max: slots - 1 }`), `count` must be in
            /// `1..=fan_out` (`RangeError { min: 1, max: fan_out }`), and the
            /// window must end within the CNode (`RangeError { min: 1, max:
            /// slots - offset }`).
            pub fn check_window(&self, offset: u64, count: u64, fan_out: u64) -> Result<(), RetypeError> {
                if offset >= self.slots {
                    return Err(RetypeError::RangeError { min: 0, max: self.slots.saturating_sub(1) });
                }
                if count == 0 || count > fan_out {
                    return Err(RetypeError::RangeError { min: 1, max: fan_out });
                }
                let room = self.slots - offset;
                if count > room {
                    return Err(RetypeError::RangeError { min: 1, max: room });
                }
                Ok(())
            }
        }

        /// Where a successful retype puts its objects, and the source cap to
        /// store back. Computing it changes nothing; the kernel applies it:
        /// makes `count` objects from `first` on (zeroing their memory), puts
        /// a cap to each in the slots from `first_slot` on, and writes
        /// `updated_source` back to the source's slot.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct Placement {
            /// The type of the new objects.
            pub object_type: ObjectType,
            /// The request's size argument (0 for fixed-size types).
            pub size_arg: u64,
            #size_doc
            pub #size_member,
            /// Address of the first object: the source's watermark rounded up
            /// to the object's alignment. The others follow back to back.
            pub first: u64,
            /// How many objects.
            pub count: u64,
            /// The destination slot of the first object's cap; object `i`'s
            /// cap goes in slot `first_slot + i`.
            pub first_slot: u64,
            /// The new watermark in bytes from the source's base: the end of
            /// the last object. Alignment padding below `first` is lost until
            /// the watermark is reset.
            pub new_watermark: u64,
            /// The source had no children, so its watermark was taken as 0
            /// whatever the cap said: everything once made from it is gone.
            pub reset: bool,
            /// The source cap with its watermark field set to `new_watermark`
            /// (in the field's units, rounded up) through its setter.
            pub updated_source: Cap,
        }

        impl Placement {
            /// Address of object `i`, if `i < count`.
            pub fn address(&self, i: u64) -> Option<u64> {
                if i >= self.count {
                    return None;
                }
                self.first.checked_add(#address_step)
            }

            /// The cap to put in slot `slot(i)` for object `i`, if `i < count`:
            /// `ObjectType::cap_for` at `address(i)` with the request's size
            /// argument, and `device` when the source is device memory (see
            /// `UntypedMemory::device`). Its rights are every right its type
            /// may carry, its badge and watermark 0.
            pub fn cap(&self, i: u64, device: bool) -> Option<Cap> {
                self.object_type.cap_for(self.address(i)?, self.size_arg, device)
            }

            /// The destination slot of object `i`'s cap, if `i < count`.
            pub fn slot(&self, i: u64) -> Option<u64> {
                if i >= self.count {
                    return None;
                }
                self.first_slot.checked_add(i)
            }
        }

        /// A retype rule of the spec: which objects caps of one type may
        /// become, and how many one call may make.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct RetypeRule {
            /// The cap type that is retyped.
            pub source: CapType,
            /// The object types it may become, in spec order.
            pub targets: &'static [ObjectType],
            /// Most objects one call may make.
            pub fan_out: u64,
        }

        impl RetypeRule {
            #(#consts)*

            /// Every rule, in spec order.
            pub const ALL: [RetypeRule; #count] = [#(#all),*];

            /// The rule for caps of `cap_type`, if they can be retyped.
            pub const fn of(cap_type: CapType) -> Option<RetypeRule> {
                match cap_type {
                    #(#of_arms,)*
                    #of_rest
                }
            }

            /// Whether the rule lets the source become `object_type`.
            pub fn allows(&self, object_type: ObjectType) -> bool {
                self.targets.contains(&object_type)
            }
        }

        /// The memory of a cap that can be retyped, read from its fields.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct UntypedMemory {
            /// The cap it was read from.
            pub cap: Cap,
            /// Address of the region's first byte.
            pub base: u64,
            /// Bytes in the region.
            pub size: u64,
            /// Bytes already retyped, from the `#[watermark]` field (converted
            /// from its units to bytes; saturated if that overflows).
            pub watermark: u64,
            /// The region is device memory: always for `memory = device`
            /// objects, never for `memory = ram` ones, else the `#[device]`
            /// field.
            pub device: bool,
        }

        impl UntypedMemory {
            /// The memory of `cap`, if a retype rule applies to its type and
            /// its size argument is one its object type allows.
            pub fn of(cap: Cap) -> Option<UntypedMemory> {
                let (base, size) = region(cap)?;
                match cap.cap_type()? {
                    #(#memory_arms,)*
                    #memory_rest
                }
            }

            /// Whether objects of `object_type` may be made from this memory:
            /// the object type's `memory` must allow RAM or device memory, as
            /// this region is.
            pub fn may_hold(&self, object_type: ObjectType) -> bool {
                let (ram, device) = object_type.memory();
                if self.device { device } else { ram }
            }

            /// The first address at least `watermark` bytes into the region
            /// that is aligned to `2^align_bits`, and the bytes from there to
            /// the region's end; `None` if that address is past the end (or
            /// the arithmetic overflows).
            pub fn free_from(&self, watermark: u64, align_bits: u32) -> Option<(u64, u64)> {
                let end = self.base.checked_add(self.size)?;
                let align_mask = 1u64.checked_shl(align_bits)? - 1;
                let start = self.base.checked_add(watermark)?.checked_add(align_mask)? & !align_mask;
                Some((start, end.checked_sub(start)?))
            }

            /// The cap with its watermark set to `bytes` (rounded up to the
            /// field's unit); `None` if the value does not fit the field.
            pub fn with_watermark(&self, bytes: u64) -> Option<Cap> {
                match self.cap.cap_type()? {
                    #(#store_arms,)*
                    #store_rest
                }
            }
        }

        /// Checks a retype call and works out where its objects go, changing
        /// nothing.
        ///
        /// `source` is the invoked cap and `has_children` whether it has
        /// children in the derivation tree: without children its watermark
        /// is taken as 0, as seL4 resets it. The kernel looks the destination
        /// CNode up itself and passes `None` when the lookup failed or found
        /// no CNode; `slot_is_empty(i)` says whether slot `i` of that CNode is
        /// empty and is asked only about the window's slots, in order.
        ///
        /// The checks, in seL4's order (`decodeUntypedInvocation`), each
        /// with its error:
        /// 1. a retype rule applies to `source`'s type and its size argument
        ///    is valid, else `IllegalOperation`;
        /// 2. `object_type` is a known type the rule allows, else
        ///    `InvalidArgument { index: 0 }`;
        /// 3. `size_arg` is not below the type's smallest, else
        ///    `InvalidArgument { index: 1 }` (seL4's answer for a CNode of
        ///    radix 0 or an Untyped below the minimum), and is one the type
        ///    allows, else `RangeError` with its smallest and largest
        ///    argument (fixed-size types take 0);
        /// 4. the destination was found, else `FailedLookup`;
        /// 5. the window of `count` slots from `offset` on lies in the CNode
        ///    and `count` is in `1..=fan_out`, else `RangeError` (see
        ///    `Destination::check_window`);
        /// 6. every slot of the window is empty, else `DeleteFirst`;
        /// 7. `count` objects fit in the free bytes from the watermark (0
        ///    without children) to the region's end, and the new watermark
        ///    fits its field, else `NotEnoughMemory { left }` with those
        ///    free bytes (seL4's `untypedFreeBytes`); the objects start at
        ///    the watermark rounded up to their alignment, which leaves room
        ///    for as many as the free bytes hold;
        /// 8. the source's kind of memory may hold the object (device memory
        ///    only frames and untyped memory, as each object's `memory`
        ///    says), else `InvalidArgument { index: 1 }`;
        /// 9. the cap of the last (highest) object can be made, else
        ///    `IllegalOperation`: the source names memory beyond what the
        ///    new cap type's `#[object]` field can address, which only a
        ///    malformed source cap (one the kernel never makes) can do. So
        ///    `Placement::cap` is `Some` for every object of a placement.
        ///
        /// All arithmetic is checked: no input makes it panic.
        pub fn retype(
            source: Cap,
            has_children: bool,
            request: &RetypeRequest,
            destination: Option<Destination>,
            slot_is_empty: impl Fn(u64) -> bool,
        ) -> Result<Placement, RetypeError> {
            let rule = source.cap_type().and_then(RetypeRule::of).ok_or(RetypeError::IllegalOperation)?;
            let memory = UntypedMemory::of(source).ok_or(RetypeError::IllegalOperation)?;
            #normalise
            let object_type = ObjectType::from_word(#number)
                .filter(|t| rule.allows(*t))
                .ok_or(RetypeError::InvalidArgument { index: 0 })?;
            #lookup {
                #ok,
                // Below the smallest: seL4's InvalidArgument (a CNode of
                // radix 0, an Untyped below the minimum).
                Err(e) if #size_arg < e.min => {
                    return Err(RetypeError::InvalidArgument { index: 1 });
                }
                Err(e) => return Err(RetypeError::RangeError { min: e.min, max: e.max }),
            };
            let destination = destination.ok_or(RetypeError::FailedLookup)?;
            destination.check_window(request.offset, request.count, rule.fan_out)?;
            if !(request.offset..request.offset + request.count).all(slot_is_empty) {
                return Err(RetypeError::DeleteFirst);
            }

            let watermark = if has_children { memory.watermark } else { 0 };
            let left = memory.size.saturating_sub(watermark);
            let no_room = RetypeError::NotEnoughMemory { left };
            if #too_few {
                return Err(no_room);
            }
            let bytes = #count_bytes;
            let first = memory
                .free_from(watermark, #align)
                .filter(|(_, room)| bytes <= *room)
                .ok_or(no_room)?
                .0;
            let new_watermark = first - memory.base + bytes;
            let updated_source = memory.with_watermark(new_watermark).ok_or(no_room)?;
            if !memory.may_hold(object_type) {
                return Err(RetypeError::InvalidArgument { index: 1 });
            }
            let placement = Placement {
                object_type,
                #size_arg_field,
                #member,
                first,
                count: request.count,
                first_slot: request.offset,
                new_watermark,
                reset: !has_children,
                updated_source,
            };
            // Addresses grow with `i`, so if the last object's cap can be
            // made, every earlier one can.
            placement
                .cap(request.count - 1, memory.device)
                .ok_or(RetypeError::IllegalOperation)?;
            Ok(placement)
        }

        #retype_at
    }
}

/// `RetypeRule::at_offset` and `retype_at`, for a spec with an
/// `#[at_offset]` retype rule.
fn retype_at(g: &Gen<'_>, rules: &[&Retype]) -> TokenStream {
    let (size_arg_field, number, size_arg, normalise) = sized_request(g);
    let Sizing {
        lookup,
        member,
        too_few,
        bytes: count_bytes,
        align,
        ok,
    } = sizing(g, &size_arg, quote!(left));
    let arms = rules.iter().filter(|r| r.at_offset).map(|r| {
        let view = ident(&g.spec.caps[r.source.index()].name);
        quote!(CapType::#view)
    });
    quote! {
        impl RetypeRule {
            /// Whether the rule's source may also be retyped at an explicit
            /// offset (`#[at_offset]` in the spec): see `retype_at`.
            pub const fn at_offset(&self) -> bool {
                matches!(self.source, #(#arms)|*)
            }
        }

        /// Checks a retype call that places its objects `at` bytes into the
        /// source's region (Barrelfish's retype), not at its watermark, and
        /// works out where they go, changing nothing.
        ///
        /// The arguments are `retype`'s, with `at`, and
        /// `meets_live_memory(first, bytes)`: whether a live cap other than
        /// the invoked one names memory (`region`) with a byte among the
        /// `bytes` from address `first` on, and is a copy of `source` (a cap
        /// that is `same_object` with it) or a descendant of `source` or of
        /// such a copy. The kernel answers it from its derivation tree; it
        /// is asked once, after checks 1 to 6 and 7.1 to 7.3. A live copy
        /// always meets the objects (its region is the source's), so
        /// memory with a live copy is never retyped at an offset: the
        /// copy's own `retype` at its watermark would not see the objects.
        ///
        /// The checks, each with its error:
        /// 1. `retype`'s check 1, and the rule has `#[at_offset]`
        ///    (`RetypeRule::at_offset`), else `IllegalOperation`;
        /// 2. to 6. `retype`'s;
        /// 7. in order: `at` lies in the region, else `RangeError { min: 0,
        ///    max: size - 1 }`; the region's base plus `at` is aligned to
        ///    the object's alignment, else `AlignmentError`; `count`
        ///    objects fit from there to the region's end, else
        ///    `NotEnoughMemory { left }` with the bytes from `at` to the
        ///    end; no live memory meets them (`meets_live_memory`), else
        ///    `RevokeFirst`; the watermark (0 without children), raised to
        ///    the objects' end if it is below, fits its field, else
        ///    `NotEnoughMemory { left }`;
        /// 8. and 9. `retype`'s.
        ///
        /// The placement's `new_watermark` is that watermark: every child
        /// stays below it, so a later `retype` at the watermark places
        /// nothing over these objects. All arithmetic is checked: no input
        /// makes it panic.
        #[allow(clippy::too_many_arguments)]
        pub fn retype_at(
            source: Cap,
            has_children: bool,
            request: &RetypeRequest,
            at: u64,
            destination: Option<Destination>,
            slot_is_empty: impl Fn(u64) -> bool,
            meets_live_memory: impl Fn(u64, u64) -> bool,
        ) -> Result<Placement, RetypeError> {
            let rule = source
                .cap_type()
                .and_then(RetypeRule::of)
                .filter(RetypeRule::at_offset)
                .ok_or(RetypeError::IllegalOperation)?;
            let memory = UntypedMemory::of(source).ok_or(RetypeError::IllegalOperation)?;
            #normalise
            let object_type = ObjectType::from_word(#number)
                .filter(|t| rule.allows(*t))
                .ok_or(RetypeError::InvalidArgument { index: 0 })?;
            #lookup {
                #ok,
                Err(e) if #size_arg < e.min => {
                    return Err(RetypeError::InvalidArgument { index: 1 });
                }
                Err(e) => return Err(RetypeError::RangeError { min: e.min, max: e.max }),
            };
            let destination = destination.ok_or(RetypeError::FailedLookup)?;
            destination.check_window(request.offset, request.count, rule.fan_out)?;
            if !(request.offset..request.offset + request.count).all(slot_is_empty) {
                return Err(RetypeError::DeleteFirst);
            }

            if at >= memory.size {
                return Err(RetypeError::RangeError { min: 0, max: memory.size.saturating_sub(1) });
            }
            let first = memory.base.checked_add(at).ok_or(RetypeError::IllegalOperation)?;
            let aligned = 1u64
                .checked_shl(#align)
                .is_some_and(|align| first & (align - 1) == 0);
            if !aligned {
                return Err(RetypeError::AlignmentError);
            }
            let left = memory.size - at;
            let no_room = RetypeError::NotEnoughMemory { left };
            if #too_few {
                return Err(no_room);
            }
            let bytes = #count_bytes;
            if meets_live_memory(first, bytes) {
                return Err(RetypeError::RevokeFirst);
            }
            let watermark = if has_children { memory.watermark } else { 0 };
            let new_watermark = watermark.max(at + bytes);
            let updated_source = memory.with_watermark(new_watermark).ok_or(no_room)?;
            if !memory.may_hold(object_type) {
                return Err(RetypeError::InvalidArgument { index: 1 });
            }
            let placement = Placement {
                object_type,
                #size_arg_field,
                #member,
                first,
                count: request.count,
                first_slot: request.offset,
                new_watermark,
                reset: !has_children,
                updated_source,
            };
            placement
                .cap(request.count - 1, memory.device)
                .ok_or(RetypeError::IllegalOperation)?;
            Ok(placement)
        }
    }
}

/// `CapType::V => Some(UntypedMemory { .. })` reading a source cap's
/// watermark and device fields.
fn memory_arm(g: &Gen<'_>, c: &CapType) -> Option<TokenStream> {
    let object = object_of(g, c)?;
    let view = ident(&c.name);
    let field = c.field_with(Role::Watermark)?;
    let get = get_u64(quote!(view), field);
    let watermark = if field.unit_bits == 0 {
        get
    } else {
        let unit = lit(1u64 << field.unit_bits);
        if u32::from(field.width) + field.unit_bits <= 64 {
            quote!(#get * #unit)
        } else if super::caps::is_narrow(field) {
            quote!((#get).saturating_mul(#unit))
        } else {
            quote!(#get.saturating_mul(#unit))
        }
    };
    let device = match (object.ram, object.device, c.field_with(Role::Device)) {
        (false, _, _) => quote!(true),
        (true, true, Some(f)) => {
            let getter = ident(&f.name);
            quote!(view.#getter())
        }
        (true, _, _) => quote!(false),
    };
    Some(quote! {
        CapType::#view => {
            let view = #view(cap);
            Some(UntypedMemory { cap, base, size, watermark: #watermark, device: #device })
        }
    })
}

/// `CapType::V => { .. }` storing a new watermark (bytes) into a source cap.
fn store_arm(c: &CapType) -> Option<TokenStream> {
    let view = ident(&c.name);
    let field = c.field_with(Role::Watermark)?;
    let units = if field.unit_bits == 0 {
        quote!(bytes)
    } else {
        let unit = lit(1u64 << field.unit_bits);
        quote!(bytes.div_ceil(#unit))
    };
    let set = set_u64(quote!(view), field, units);
    Some(quote! {
        CapType::#view => {
            let mut view = #view(self.cap);
            #set.ok()?;
            Some(view.cap())
        }
    })
}

/// Doc paragraphs wrapped at 76 columns; a line starting with `- ` is a list
/// item whose continuation lines are indented by two spaces.
fn wrap(paragraphs: &[&str]) -> Vec<String> {
    let mut lines = Vec::new();
    for p in paragraphs {
        let indent = if p.starts_with("- ") { "  " } else { "" };
        let mut line = String::new();
        for word in p.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > 76 {
                lines.push(std::mem::take(&mut line));
                line.push_str(indent);
            }
            if !line.is_empty() && line != indent {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

/// The value a cap derived by `rule` stores in field `f` of its type, read
/// from the source's view `s` (see `derive`), and whether it reads `s`. An
/// enumerated field takes its variant of that value (refusing the
/// derivation when none names it), or its first variant when the value
/// is not read from the source.
fn derived_value(
    g: &Gen<'_>,
    f: &CapField,
    view: &proc_macro2::Ident,
    rule: &Derive,
) -> (TokenStream, bool) {
    let (value, reads) = derived_raw(g, f, view, rule);
    // A `u64` read from the source, for a field of a narrower type: one
    // that type cannot hold refuses the derivation, as the field would.
    if reads && is_narrow(f) {
        let t = uint_type(f.width.into());
        let value = quote!(#t::try_from(#value).map_err(|_| DeriveError::IllegalOperation)?);
        return (value, reads);
    }
    let Some(e) = f
        .values
        .map(|e| ident(&g.spec.enumerations[e.index()].name))
    else {
        return (value, reads);
    };
    if !reads {
        let first = super::caps::initial_variant(g, f).expect("an enumerated field");
        return (first, false);
    }
    let variant = quote! {
        match #e::from_value(#value) {
            Some(v) => v,
            None => return Err(DeriveError::IllegalOperation),
        }
    };
    (variant, true)
}

fn derived_raw(
    g: &Gen<'_>,
    f: &CapField,
    view: &proc_macro2::Ident,
    rule: &Derive,
) -> (TokenStream, bool) {
    let source = &g.spec.caps[rule.source.index()];
    let getter = |sf: &CapField| {
        // An enumerated field's bits, as a word; an integer as a `u64`.
        let value = if sf.values.is_some() {
            let place = super::caps::place(sf);
            quote!(s.cap().field(#place))
        } else {
            get_u64(quote!(s), sf)
        };
        match (&sf.kind, &f.kind) {
            (FieldKind::Bool, FieldKind::Bool) => value,
            (FieldKind::Bool, _) => quote!(#value as u64),
            (_, FieldKind::Bool) => quote!(#value != 0),
            _ => value,
        }
    };
    match (f.role, &f.kind) {
        (_, FieldKind::Rights { .. }) => {
            match source
                .fields
                .iter()
                .find(|sf| matches!(sf.kind, FieldKind::Rights { .. }))
            {
                Some(sf) => {
                    let getter = ident(&sf.name);
                    (quote!(#view::VALID_RIGHTS.mask(s.#getter())), true)
                }
                None => (quote!(#view::VALID_RIGHTS), false),
            }
        }
        (Role::Object, _) => match source.field_with(f.role) {
            // The object's address, from the source's virtual offset to
            // the target's.
            Some(sf) => {
                let value = getter(sf);
                let value = match (sf.virtual_offset, f.virtual_offset) {
                    (from, to) if from == to => value,
                    (0, to) => {
                        let to = lit(to);
                        quote!(#value.wrapping_add(#to))
                    }
                    (from, 0) => {
                        let from = lit(from);
                        quote!(#value.wrapping_sub(#from))
                    }
                    (from, to) => {
                        let (from, to) = (lit(from), lit(to));
                        quote!(#value.wrapping_sub(#from).wrapping_add(#to))
                    }
                };
                (value, true)
            }
            None => (zero(f), false),
        },
        (Role::SizeArg, _) => match source.field_with(f.role) {
            // From the source's encoding (argument, or bytes) to the
            // target's.
            Some(sf) => {
                let value = getter(sf);
                let value = match (sf.size_bytes, f.size_bytes) {
                    (true, false) => quote!(u64::from(#value.trailing_zeros())),
                    (false, true) => {
                        quote!(1u64.checked_shl(if #value < 64 { #value as u32 } else { 64 }).unwrap_or(0))
                    }
                    _ => value,
                };
                (value, true)
            }
            None => (zero(f), false),
        },
        (Role::Device, _) => {
            let memory = source
                .object
                .map(|o| &g.spec.objects[o.index()])
                .map(|o| (o.ram, o.device));
            let device = match (memory, source.field_with(Role::Device)) {
                (Some((true, true)), Some(sf)) => return (getter(sf), true),
                (Some((false, _)), _) => quote!(true),
                _ => quote!(false),
            };
            let t = if is_narrow(f) {
                uint_type(f.width.into())
            } else {
                quote!(u64)
            };
            match f.kind {
                FieldKind::Bool => (device, false),
                _ => (quote!(#device as #t), false),
            }
        }
        _ => (zero(f), false),
    }
}

fn zero(f: &CapField) -> TokenStream {
    match f.kind {
        FieldKind::Bool => quote!(false),
        _ => quote!(0),
    }
}

/// `DeriveRule`, `DERIVE_RULES`, `CapType::derived_from`,
/// `CapType::is_derived_from`, `DeriveError` and `derive`.
fn derivation(g: &Gen<'_>) -> TokenStream {
    let spec = g.spec;
    let name = |c: CapId| ident(&spec.caps[c.index()].name);
    let rules = spec.derives.iter().map(|r| {
        let (source, target, multiple) = (name(r.source), name(r.target), r.multiple);
        let at_offset = r.at_offset;
        quote!(DeriveRule {
            source: CapType::#source,
            target: CapType::#target,
            multiple: #multiple,
            at_offset: #at_offset,
        })
    });
    let count = lit(spec.derives.len() as u64);
    let from_arms = spec.derives.iter().enumerate().map(|(i, r)| {
        let target = name(r.target);
        let i = lit(i as u64);
        quote!(CapType::#target => Some(DERIVE_RULES[#i]))
    });
    let from_rest = (spec.derives.len() < spec.caps.len()).then(|| quote!(_ => None,));
    // Every (ancestor, descendant) pair the rules lead through, in order.
    let mut pairs: Vec<(CapId, Vec<CapId>)> = Vec::new();
    for (i, _) in spec.caps.iter().enumerate() {
        let descendant = CapId(i as u32);
        let ancestors: Vec<CapId> = (0..spec.caps.len())
            .map(|j| CapId(j as u32))
            .filter(|a| spec.derives_from(*a, descendant))
            .collect();
        if !ancestors.is_empty() {
            pairs.push((descendant, ancestors));
        }
    }
    let is_arms = pairs.iter().map(|(d, ancestors)| {
        let d = name(*d);
        let ancestors = ancestors.iter().map(|a| name(*a));
        quote!(CapType::#d => matches!(ancestor, #(CapType::#ancestors)|*))
    });
    let is_rest = (pairs.len() < spec.caps.len()).then(|| quote!(_ => false,));
    // With splitting rules only, no type is derived from another.
    let is_body = if pairs.is_empty() {
        quote! {
            let _ = (self, ancestor);
            false
        }
    } else {
        quote! {
            match self {
                #(#is_arms,)*
                #is_rest
            }
        }
    };
    let make_arms = spec
        .derives
        .iter()
        .filter(|r| r.source != r.target)
        .map(|r| {
            let target = &spec.caps[r.target.index()];
            let view = ident(&target.name);
            let source = name(r.source);
            let (values, reads): (Vec<_>, Vec<_>) = target
                .fields
                .iter()
                .map(|f| derived_value(g, f, &view, r))
                .unzip();
            let reads_source = reads.contains(&true);
            let binding = reads_source.then(|| quote!(let s = #source(source);));
            quote! {
                CapType::#view => {
                    #binding
                    #view::new(#(#values),*).map(Cap::from)
                }
            }
        });
    let made = spec.derives.iter().filter(|r| r.source != r.target).count();
    let make_rest =
        (made < spec.caps.len()).then(|| quote!(_ => return Err(DeriveError::IllegalOperation),));
    // With splitting rules only, no rule derives one type from another:
    // the first check refuses every call (a `match` of one `_ => return`
    // arm would be unreachable code).
    let derive_body = if made == 0 {
        quote! {
            let _ = (source, target, has_derived_children);
            Err(DeriveError::IllegalOperation)
        }
    } else {
        quote! {
            let rule = target
                .derived_from()
                .filter(|r| source.cap_type() == Some(r.source) && r.source != r.target)
                .ok_or(DeriveError::IllegalOperation)?;
            if !rule.multiple && has_derived_children {
                return Err(DeriveError::RevokeFirst);
            }
            let cap = match target {
                #(#make_arms,)*
                #make_rest
            };
            cap.map_err(|_| DeriveError::IllegalOperation)
        }
    };
    let split_types: Vec<_> = spec
        .derives
        .iter()
        .filter(|r| r.source == r.target)
        .map(|r| name(r.source))
        .collect();
    let splits = if split_types.is_empty() {
        quote!(false)
    } else {
        quote!(matches!(self, #(CapType::#split_types)|*))
    };
    let split = split_fn(g);
    let split_range = split_range_fn(g);
    quote! {
        /// A derivation rule of the spec (`derive Target from Source;`): caps
        /// of `target` are made from caps of `source` without memory, name
        /// the source's object (or the one object of a source type without
        /// identity fields), and are children of the source cap.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct DeriveRule {
            /// The cap type derived from.
            pub source: CapType,
            /// The cap type made.
            pub target: CapType,
            /// `#[multiple]`: a source cap may have any number of caps
            /// derived by this rule; without it, one at a time.
            pub multiple: bool,
            /// `#[at_offset]`, on a splitting rule: caps of its type also
            /// split into pieces from an offset (`split_at`).
            pub at_offset: bool,
        }

        /// Every derivation rule, in spec order.
        pub const DERIVE_RULES: [DeriveRule; #count] = [#(#rules),*];

        impl CapType {
            /// The rule that derives caps of this type, if they are derived.
            pub const fn derived_from(self) -> Option<DeriveRule> {
                match self {
                    #(#from_arms,)*
                    #from_rest
                }
            }

            /// Whether caps of this type split into smaller pieces of their
            /// own type (`derive T from T;`, see `split`).
            pub const fn splits(self) -> bool {
                #splits
            }

            /// Whether caps of this type are derived, through one or more
            /// rules between distinct types, from caps of `ancestor`.
            pub const fn is_derived_from(self, ancestor: CapType) -> bool {
                #is_body
            }
        }

        /// Why `derive` or `split` refused.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum DeriveError {
            /// No rule derives the target type from the source's type, or
            /// splits it (the null cap and unknown tags included), or a field
            /// of the new cap refuses the source's value (only a malformed
            /// source can make one do so).
            IllegalOperation,
            /// The rule allows one derived cap (or one split) per source cap
            /// at a time, and the source has one.
            RevokeFirst,
            /// `split`: the size argument is not one the object type allows
            /// for pieces smaller than the source's object (index 1), or
            /// (`split_at`) the offset is outside the object or misaligned
            /// (index 2).
            InvalidArgument {
                /// 1: the size argument; 2: the offset.
                index: u64,
            },
            /// `split`: the count is outside `min..=max` (how many pieces fit).
            RangeError {
                /// Smallest allowed.
                min: u64,
                /// Largest allowed.
                max: u64,
            },
        }

        /// The cap a kernel derives from `source` as a cap of `target`:
        /// its `#[object]`, `#[size_arg]` and `#[device]` fields from the
        /// source's, its rights those its type may carry that the source
        /// carries (all it may carry when the source's type has no rights),
        /// every other field 0 for the kernel to fill through the view's
        /// setters. The kernel inserts it as a child of `source`, whose
        /// revoke then deletes it; it allocates nothing, and removing it
        /// finalises nothing.
        ///
        /// `has_derived_children` says whether `source` has a live
        /// descendant of a derived type that is not a copy of it (what
        /// `is_ancestor(source, d) && !same_object(source, d)` says of its
        /// derivation-tree descendants `d` whose type `is_derived_from`
        /// `source`'s).
        ///
        /// The checks, in order: a rule derives `target` from `source`'s
        /// type, else `IllegalOperation`; the rule is `multiple` or the
        /// source has no derived children, else `RevokeFirst`; the new cap's
        /// fields take their values, else `IllegalOperation`.
        pub fn derive(source: Cap, target: CapType, has_derived_children: bool) -> Result<Cap, DeriveError> {
            #derive_body
        }

        #split_range

        #split
    }
}

/// `Split` and `split`, or nothing when no cap type splits.
fn split_fn(g: &Gen<'_>) -> TokenStream {
    let spec = g.spec;
    let arms: Vec<_> = spec
        .derives
        .iter()
        .filter(|r| r.source == r.target)
        .filter_map(|r| {
            let c = &spec.caps[r.source.index()];
            let view = ident(&c.name);
            let object = c.field_with(Role::Object)?;
            let base = format_ident!("set_{}", snake(&object.name));
            let address = match object.virtual_offset {
                0 => quote!(address),
                offset => {
                    let offset = lit(offset);
                    quote!(address.wrapping_add(#offset))
                }
            };
            let arg_field = c.field_with(Role::SizeArg)?;
            let arg_value = if arg_field.size_bytes {
                quote!(1u64.checked_shl(u32::try_from(self.size_arg).ok()?)?)
            } else if let Some(e) = arg_field.values {
                let e = ident(&spec.enumerations[e.index()].name);
                quote!(#e::from_value(self.size_arg)?)
            } else {
                quote!(self.size_arg)
            };
            let set_arg = if arg_field.values.is_some() {
                let arg = format_ident!("set_{}", snake(&arg_field.name));
                quote!(view.#arg(#arg_value))
            } else {
                set_u64(quote!(view), arg_field, arg_value)
            };
            let cleared = c
                .fields
                .iter()
                .filter(|f| matches!(f.role, Role::MappedAt | Role::MappedIn | Role::Asid))
                .map(|f| {
                    let set = format_ident!("set_{}", snake(&f.name));
                    let zero = zero(f);
                    quote!(view.#set(#zero).ok()?;)
                });
            Some(quote! {
                CapType::#view => {
                    let mut view = #view(self.source);
                    view.#base(#address).ok()?;
                    #set_arg.ok()?;
                    #(#cleared)*
                    Some(view.cap())
                }
            })
        })
        .collect();
    if arms.is_empty() {
        return TokenStream::new();
    }
    let split_at = split_at_fn(g);
    let (size_doc, size_member, address_step, lookup, piece_size, pieces) = if g.byte_sizes() {
        (
            quote!(#[doc = " A piece's size in bytes."]),
            quote!(size: u64),
            quote!(i.checked_mul(self.size)?),
            quote! {
                let (piece, _) = object_type
                    .placement(size_arg)
                    .ok()
                    .filter(|(piece, _)| *piece < size)
                    .ok_or(DeriveError::InvalidArgument { index: 1 })?;
            },
            quote!(size: piece),
            quote!(size / piece),
        )
    } else {
        (
            quote!(#[doc = " log2 of a piece's size."]),
            quote!(size_bits: u32),
            quote!(i.checked_shl(self.size_bits)?),
            quote! {
                let size_bits = object_type
                    .size_bits(size_arg)
                    .ok()
                    .filter(|bits| 1u64.checked_shl(*bits).is_some_and(|piece| piece < size))
                    .ok_or(DeriveError::InvalidArgument { index: 1 })?;
            },
            quote!(size_bits),
            quote!(size >> size_bits),
        )
    };
    let split_doc = if g.byte_sizes() {
        quote! {
            /// Where `split` puts the pieces of a cap: `count` pieces of
            /// `size` bytes, back to back from `first` (the start of the
            /// source's object, or `split_at`'s offset into it).
        }
    } else {
        quote! {
            /// Where `split` puts the pieces of a cap: `count` pieces of
            /// `1 << size_bits` bytes, back to back from `first` (the start of
            /// the source's object).
        }
    };
    quote! {
        #split_doc
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct Split {
            /// The cap split.
            pub source: Cap,
            /// The pieces' size argument.
            pub size_arg: u64,
            #size_doc
            pub #size_member,
            /// Address of the first piece.
            pub first: u64,
            /// How many pieces.
            pub count: u64,
        }

        impl Split {
            /// The cap of piece `i`: the source's with the piece's address
            /// and size argument, unmapped; `None` past the last piece or if
            /// a field refuses its value (never for a `split` result).
            pub fn cap(&self, i: u64) -> Option<Cap> {
                if i >= self.count {
                    return None;
                }
                let address = self.first.checked_add(#address_step)?;
                match self.source.cap_type()? {
                    #(#arms,)*
                    _ => None,
                }
            }
        }

        /// Splits `source` by its type's splitting rule (`derive T from T;`,
        /// Barrelfish's `from_self`) into `count` caps of its type naming
        /// the pieces of `size_arg`'s size, back to back from the start of
        /// its object. The kernel inserts each piece (`Split::cap`) as a
        /// child of `source`; the pieces allocate nothing.
        ///
        /// `has_pieces` says whether a live cap that is not a copy of
        /// `source` lies within its region and is of its type (a piece of an
        /// earlier split, of it or of a copy) or of a type derived from it.
        ///
        /// The checks, in order: a splitting rule applies to `source`'s type
        /// and it names a valid region, else `IllegalOperation`; `size_arg`
        /// is one its object type allows, for pieces smaller than the
        /// source's object, else `InvalidArgument { index: 1 }`; `count` is in
        /// `1..=` the pieces that fit, else `RangeError`; `has_pieces` is
        /// false, else `RevokeFirst`; the last piece's cap can be made, else
        /// `IllegalOperation`.
        pub fn split(source: Cap, size_arg: u64, count: u64, has_pieces: bool) -> Result<Split, DeriveError> {
            let cap_type = source
                .cap_type()
                .filter(|t| t.splits())
                .ok_or(DeriveError::IllegalOperation)?;
            let (first, size) = region(source).ok_or(DeriveError::IllegalOperation)?;
            let object_type = cap_type.object_type().ok_or(DeriveError::IllegalOperation)?;
            #lookup
            let pieces = #pieces;
            if count == 0 || count > pieces {
                return Err(DeriveError::RangeError { min: 1, max: pieces });
            }
            if has_pieces {
                return Err(DeriveError::RevokeFirst);
            }
            let split = Split { source, size_arg, #piece_size, first, count };
            split.cap(count - 1).ok_or(DeriveError::IllegalOperation)?;
            Ok(split)
        }

        #split_at
    }
}

/// `range_of` and `split_range`, for a spec with a `#[range]` splitting
/// rule.
fn split_range_fn(g: &Gen<'_>) -> TokenStream {
    let spec = g.spec;
    let rules: Vec<_> = spec
        .derives
        .iter()
        .filter_map(|r| Some((&spec.caps[r.target.index()], r.range?)))
        .collect();
    if rules.is_empty() {
        return TokenStream::new();
    }
    let get_arms = rules.iter().map(|(c, (a, b))| {
        let view = ident(&c.name);
        let (a, b) = (
            get_u64(quote!(view), &c.fields[*a]),
            get_u64(quote!(view), &c.fields[*b]),
        );
        quote! {
            CapType::#view => {
                let view = #view(cap);
                Some((#a, #b))
            }
        }
    });
    let set_arms = rules.iter().map(|(c, (a, b))| {
        let view = ident(&c.name);
        let set_a = set_u64(quote!(view), &c.fields[*a], quote!(first));
        let set_b = set_u64(quote!(view), &c.fields[*b], quote!(last));
        quote! {
            CapType::#view => {
                let mut view = #view(source);
                let set = #set_a.is_ok() && #set_b.is_ok();
                set.then_some(view.cap())
            }
        }
    });
    let rest = (rules.len() < spec.caps.len()).then(|| quote!(_ => None,));
    quote! {
        /// The numbers `first..=last` a cap holds, for a cap type that
        /// splits by `#[range(first, last)]` (Barrelfish's IRQSrc
        /// vectors); `None` for any other cap.
        pub fn range_of(cap: Cap) -> Option<(u64, u64)> {
            match cap.cap_type()? {
                #(#get_arms,)*
                #rest
            }
        }

        /// The cap a kernel splits off `source` for the numbers
        /// `first..=last`, by its type's `#[range]` splitting rule: the
        /// source's with its range set to them. The kernel inserts it as a
        /// child of `source`; it allocates nothing.
        ///
        /// `meets_pieces(first, last)` says whether a live cap of `source`'s
        /// type that is not a copy of it (`same_object`), and whose range
        /// lies within `source`'s, holds a number in `first..=last`. It is
        /// asked once, after the other checks but the last.
        ///
        /// The checks, in order: a `#[range]` splitting rule applies to
        /// `source`'s type, else `IllegalOperation`; `first..=last` lies in
        /// the source's range, else `RangeError` with the source's range;
        /// it is smaller than the source's, else `InvalidArgument { index:
        /// 1 }`; `meets_pieces` is false, else `RevokeFirst`; the cap can
        /// hold the numbers, else `IllegalOperation`.
        pub fn split_range(
            source: Cap,
            first: u64,
            last: u64,
            meets_pieces: impl Fn(u64, u64) -> bool,
        ) -> Result<Cap, DeriveError> {
            let (start, end) = range_of(source).ok_or(DeriveError::IllegalOperation)?;
            if !(start <= first && first <= last && last <= end) {
                return Err(DeriveError::RangeError { min: start, max: end });
            }
            if (first, last) == (start, end) {
                return Err(DeriveError::InvalidArgument { index: 1 });
            }
            if meets_pieces(first, last) {
                return Err(DeriveError::RevokeFirst);
            }
            let piece = match source.cap_type().ok_or(DeriveError::IllegalOperation)? {
                #(#set_arms,)*
                #rest
            };
            piece.ok_or(DeriveError::IllegalOperation)
        }
    }
}

/// `split_at`, for a spec with a splitting rule that has `#[at_offset]`.
fn split_at_fn(g: &Gen<'_>) -> TokenStream {
    if !g.spec.derives.iter().any(|r| r.at_offset) {
        return TokenStream::new();
    }
    let (lookup, align, pieces, bytes, piece_size) = if g.byte_sizes() {
        (
            quote! {
                let (piece, align_bits) = object_type
                    .placement(size_arg)
                    .ok()
                    .filter(|(piece, _)| *piece < size)
                    .ok_or(DeriveError::InvalidArgument { index: 1 })?;
            },
            quote!(align_bits),
            quote!((size - at) / piece),
            quote!(count * piece),
            quote!(size: piece),
        )
    } else {
        (
            quote! {
                let size_bits = object_type
                    .size_bits(size_arg)
                    .ok()
                    .filter(|bits| 1u64.checked_shl(*bits).is_some_and(|piece| piece < size))
                    .ok_or(DeriveError::InvalidArgument { index: 1 })?;
            },
            quote!(object_type.align_bits(size_bits)),
            quote!((size - at) >> size_bits),
            quote!(count << size_bits),
            quote!(size_bits),
        )
    };
    quote! {
        /// Splits `source` as `split` does, but into pieces back to back
        /// from `at` bytes into its object (Barrelfish's retype of a Frame
        /// at an offset), by a splitting rule with `#[at_offset]`
        /// (`DeriveRule::at_offset`). A cap splits at offsets any number of
        /// times while the pieces do not meet.
        ///
        /// `meets_pieces(first, bytes)` says whether a live cap that is not
        /// a copy of `source`, lies within its region and is of its type (a
        /// piece of an earlier split, of it or of a copy) or of a type
        /// derived from it, names memory with a byte among the `bytes` from
        /// address `first` on. It is asked once, after the other checks
        /// but the last.
        ///
        /// The checks, in order: a splitting rule with `#[at_offset]`
        /// applies to `source`'s type and it names a valid region, else
        /// `IllegalOperation`; `size_arg` is as for `split`, else
        /// `InvalidArgument { index: 1 }`; `at` lies in the object and the
        /// first piece's address is aligned to the pieces' alignment, else
        /// `InvalidArgument { index: 2 }`; `count` is in `1..=` the pieces
        /// that fit from `at` to the object's end, else `RangeError`;
        /// `meets_pieces` is false, else `RevokeFirst`; the last piece's cap
        /// can be made, else `IllegalOperation`.
        pub fn split_at(
            source: Cap,
            size_arg: u64,
            at: u64,
            count: u64,
            meets_pieces: impl Fn(u64, u64) -> bool,
        ) -> Result<Split, DeriveError> {
            let cap_type = source
                .cap_type()
                .filter(|t| t.splits() && t.derived_from().is_some_and(|r| r.at_offset))
                .ok_or(DeriveError::IllegalOperation)?;
            let (base, size) = region(source).ok_or(DeriveError::IllegalOperation)?;
            let object_type = cap_type.object_type().ok_or(DeriveError::IllegalOperation)?;
            #lookup
            let first = base
                .checked_add(at)
                .filter(|first| {
                    at < size
                        && 1u64
                            .checked_shl(#align)
                            .is_some_and(|align| first & (align - 1) == 0)
                })
                .ok_or(DeriveError::InvalidArgument { index: 2 })?;
            let pieces = #pieces;
            if count == 0 || count > pieces {
                return Err(DeriveError::RangeError { min: 1, max: pieces });
            }
            if meets_pieces(first, #bytes) {
                return Err(DeriveError::RevokeFirst);
            }
            let split = Split { source, size_arg, #piece_size, first, count };
            split.cap(count - 1).ok_or(DeriveError::IllegalOperation)?;
            Ok(split)
        }
    }
}
