//! What objects refer to and what removing them undoes: the finalisers of
//! each object type, the capability slots objects own (one enum per object
//! type with slots), and the mapping state caps record, with the copy rule
//! that follows from it (`derived`; `may_copy` in the retype section refuses
//! an unmapped `Shared` cap).
//!
//! The kernel executes this description; the reference interpreter reads the
//! same facts from the model, and the differential tests compare the two.

use capc_dsl::model::{CapType, Finaliser, Mapping, Object, Role};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::caps::{get_u64, rights_const, set_u64};
use super::{Gen, camel, ident, lit};

pub fn generate(g: &Gen<'_>) -> TokenStream {
    let finalisers = finalisers(g);
    let mapping = mapping(g);
    let owned = owned_slots(g);
    let tables = tables(g);
    let pools = asid_pools(g);
    let slot_enums = g
        .spec
        .objects
        .iter()
        .filter(|o| !o.slots.is_empty())
        .map(|o| slot_enum(g, o));
    quote! {
        #finalisers
        #mapping
        #owned
        #tables
        #pools
        #(#slot_enums)*
    }
}

/// Pools of address-space numbers (`asid_pool = N;`): the pool type and
/// its shape, and the number an address-space root's cap records
/// (`#[asid]`).
fn asid_pools(g: &Gen<'_>) -> TokenStream {
    let spec = g.spec;
    let pool = match (spec.asid_pool(), spec.asid_places()) {
        (Some((object, pool)), Some(places)) => {
            let v = ident(&spec.objects[object.index()].name);
            let numbers = lit(pool.numbers);
            let places = lit(places);
            quote!(Some(AsidPoolShape {
                object: ObjectType::#v,
                numbers: #numbers,
                places: #places,
            }))
        }
        _ => quote!(None),
    };
    let with: Vec<(&CapType, &capc_dsl::model::CapField)> = spec
        .caps
        .iter()
        .filter_map(|c| Some((c, c.field_with(Role::Asid)?)))
        .collect();
    let of_arms = with.iter().map(|(c, f)| {
        let v = ident(&c.name);
        let get = get_u64(quote!(#v(cap)), f);
        quote!(Some(CapType::#v) => Some(#get))
    });
    let set_arms = with.iter().map(|(c, f)| {
        let v = ident(&c.name);
        let set = set_u64(quote!(view), f, quote!(asid));
        quote!(Some(CapType::#v) => {
            let mut view = #v(cap);
            match #set {
                Ok(()) => Some(view.cap()),
                Err(_) => None,
            }
        })
    });
    let (of_param, of_body, set_params, set_body) = if with.is_empty() {
        (
            quote!(_cap),
            quote!(None),
            quote!(_cap: Cap, _asid: u64),
            quote!(None),
        )
    } else {
        (
            quote!(cap),
            quote!(match cap.cap_type() { #(#of_arms,)* _ => None }),
            quote!(cap: Cap, asid: u64),
            quote!(match cap.cap_type() { #(#set_arms,)* _ => None }),
        )
    };
    quote! {
        /// A pool of address-space numbers (`asid_pool = N;` in the spec,
        /// seL4's ASID pool): `numbers` one-word entries, each the
        /// address-space root a number stands for (0: free). Pool `p` of
        /// the kernel's directory of `places` pools holds the numbers
        /// `p * numbers ..(p + 1) * numbers`; number 0 is never given.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct AsidPoolShape {
            /// The pool's object type.
            pub object: ObjectType,
            /// How many numbers one pool holds.
            pub numbers: u64,
            /// How many pools the directory has room for.
            pub places: u64,
        }

        /// The spec's pool of address-space numbers, if it has one.
        pub const ASID_POOL: Option<AsidPoolShape> = #pool;

        /// The address-space number the root's cap `cap` records (its
        /// `#[asid]` field; 0: none yet), `None` for any other cap.
        pub const fn asid_of(#of_param: Cap) -> Option<u64> {
            #of_body
        }

        /// `cap`, an address-space root's cap, recording number `asid`;
        /// `None` for any other cap, or a number its field cannot hold.
        pub const fn with_asid(#set_params) -> Option<Cap> {
            #set_body
        }
    }
}

/// The translation tables: each table type's shape, where each mapped
/// object goes, and the target's user space.
fn tables(g: &Gen<'_>) -> TokenStream {
    let spec = g.spec;
    let variant = |i: capc_dsl::model::ObjectId| ident(&spec.objects[i.index()].name);
    let shape_arms: Vec<TokenStream> = spec
        .objects
        .iter()
        .filter_map(|o| {
            let t = o.table.as_ref()?;
            let v = ident(&o.name);
            let entries = lit(t.entries);
            let entry_bits = lit(t.entry_bits.into());
            let holds = t.holds.iter().map(|h| variant(*h));
            Some(quote! {
                ObjectType::#v => Some(TableShape {
                    entries: #entries,
                    entry_bits: #entry_bits,
                    holds: &[#(ObjectType::#holds),*],
                })
            })
        })
        .collect();
    // (held type, size) -> holder, from the model's one rule.
    let mut held_arms: Vec<TokenStream> = Vec::new();
    for (i, o) in spec.objects.iter().enumerate() {
        let id = capc_dsl::model::ObjectId(i as u32);
        let mut sizes: Vec<u32> = o.size.table.iter().map(|(_, b)| *b).collect();
        if let Some(t) = &o.table {
            sizes = vec![t.span_bits()];
        }
        sizes.sort_unstable();
        sizes.dedup();
        for bits in sizes {
            if let Some(holder) = spec.table_holding(id, bits) {
                let (v, h, b) = (ident(&o.name), variant(holder), lit(bits.into()));
                held_arms.push(quote!((ObjectType::#v, #b) => Some(ObjectType::#h)));
            }
        }
    }
    let (shape_body, held_body) = if shape_arms.is_empty() {
        (quote!(None), quote!(None))
    } else {
        (
            quote!(match self { #(#shape_arms,)* _ => None }),
            quote!(match (self, size_bits) { #(#held_arms,)* _ => None }),
        )
    };
    let bits_param = if shape_arms.is_empty() {
        quote!(_size_bits)
    } else {
        quote!(size_bits)
    };
    let root = match spec.table_root() {
        Some(r) => {
            let v = variant(r);
            quote!(Some(ObjectType::#v))
        }
        None => quote!(None),
    };
    let page_bits = lit(spec.page_bits().into());
    let user_space = match spec.target.user_space {
        Some((base, end)) => {
            let (base, end) = (hex(base), hex(end));
            quote!(Some((#base, #end)))
        }
        None => quote!(None),
    };
    quote! {
        /// The shape of a translation table (`table = N x SIZE of ...;` in
        /// the spec): one-word entries, each covering `1 << entry_bits`
        /// bytes and holding one object of a type in `holds`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct TableShape {
            /// How many entries.
            pub entries: u64,
            /// log2 of the bytes of address space one entry covers.
            pub entry_bits: u32,
            /// The object types an entry may hold.
            pub holds: &'static [ObjectType],
        }

        impl TableShape {
            /// log2 of the bytes the whole table covers.
            pub const fn span_bits(self) -> u32 {
                self.entry_bits + self.entries.trailing_zeros()
            }

            /// The index of the entry that covers `vaddr`.
            pub const fn index(self, vaddr: u64) -> u64 {
                (vaddr >> self.entry_bits) & (self.entries - 1)
            }
        }

        impl ObjectType {
            /// The object's shape if it is a translation table.
            pub const fn table(self) -> Option<TableShape> {
                #shape_body
            }

            /// The table type whose entries hold an object of this type of
            /// `1 << size_bits` bytes (a table: its whole span), if one does.
            pub const fn held_in(self, #bits_param: u32) -> Option<ObjectType> {
                #held_body
            }
        }

        /// The root of every address space's tables (the table type no
        /// table holds), if the spec has tables.
        pub const TABLE_ROOT: Option<ObjectType> = #root;
        /// log2 of the unit of a `#[mapped_at]` page number: the bytes the
        /// smallest table entry covers (0 without tables).
        pub const PAGE_BITS: u32 = #page_bits;
        /// The virtual addresses a task may map, `[user_base, user_end)`,
        /// if the target sets them.
        pub const USER_SPACE: Option<(u64, u64)> = #user_space;
    }
}

fn finaliser_variant(f: Finaliser) -> proc_macro2::Ident {
    format_ident!("{}", camel(f.name()))
}

fn finalisers(g: &Gen<'_>) -> TokenStream {
    let arms = g
        .spec
        .objects
        .iter()
        .filter(|o| !o.finalisers.is_empty())
        .map(|o| {
            let v = ident(&o.name);
            let fs = o.finalisers.iter().map(|f| finaliser_variant(*f));
            quote!(ObjectType::#v => &[#(Finaliser::#fs),*])
        });
    let body = if g.spec.objects.iter().any(|o| !o.finalisers.is_empty()) {
        quote!(match self { #(#arms,)* _ => &[] })
    } else {
        quote!(&[])
    };
    quote! {
        /// One action of an object's finalisation: what the kernel undoes
        /// when the last cap to the object goes (`finalise = ...;` in the
        /// spec).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Finaliser {
            /// `stop_thread`: the thread stops and leaves any queue; its
            /// pending reply, and any reply owed to it, is cancelled.
            StopThread,
            /// `cancel_waiters`: threads queued on the object restart with
            /// an error.
            CancelWaiters,
            /// `unmap`: the object is unmapped from (or unlinked out of)
            /// where its caps record it is mapped.
            Unmap,
            /// `release_asid`: the object is an address-space root; its
            /// address space number is released, so every mapping recorded
            /// under it is dead.
            ReleaseAsid,
        }

        impl ObjectType {
            /// What removing the last cap to an object of this type undoes,
            /// in the order the spec lists it.
            pub const fn finalisers(self) -> &'static [Finaliser] {
                #body
            }
        }
    }
}

/// The `#[mapped_at]` and `#[mapped_in]` fields of `c`.
fn mapping_fields(c: &CapType) -> impl Iterator<Item = &capc_dsl::model::CapField> {
    c.fields
        .iter()
        .filter(|f| matches!(f.role, Role::MappedAt | Role::MappedIn))
}

fn mapping(g: &Gen<'_>) -> TokenStream {
    let mapped: Vec<&CapType> = g.spec.caps.iter().filter(|c| c.mapping.is_some()).collect();
    let mapping_arms = mapped.iter().map(|c| {
        let v = ident(&c.name);
        let m = match c.mapping {
            Some(Mapping::EachCap) => quote!(Mapping::EachCap),
            _ => quote!(Mapping::Shared),
        };
        quote!(CapType::#v => Some(#m))
    });
    let mapping_body = if mapped.is_empty() {
        quote!(None)
    } else {
        quote!(match self { #(#mapping_arms,)* _ => None })
    };
    let is_mapped_arms = mapped.iter().map(|c| {
        let v = ident(&c.name);
        quote!(Some(CapType::#v) => #v(cap).is_mapped())
    });
    let (is_mapped_param, is_mapped_body) = if mapped.is_empty() {
        (quote!(_cap), quote!(false))
    } else {
        (
            quote!(cap),
            quote!(match cap.cap_type() { #(#is_mapped_arms,)* _ => false }),
        )
    };
    // A copy keeps every bit but the fields it clears: an EachCap cap's
    // mapping fields and a cap type's `#[copy(clears(...))]` ones.
    let words = g.spec.target.cap_words as usize;
    let clear_arms: Vec<TokenStream> = g
        .spec
        .caps
        .iter()
        .filter_map(|c| {
            let cleared = cleared_fields(c);
            if cleared.is_empty() {
                return None;
            }
            let v = ident(&c.name);
            let mut masks = vec![0u64; words];
            for f in cleared {
                masks[f.word as usize] |= f.mask();
            }
            let each = masks.iter().enumerate().map(|(i, m)| {
                let i = lit(i as u64);
                match *m {
                    0 => quote!(words[#i]),
                    u64::MAX => quote!(0),
                    m => {
                        let m = hex(m);
                        quote!(words[#i] & !#m)
                    }
                }
            });
            Some(quote!(Some(CapType::#v) => Cap::from_words([#(#each),*])))
        })
        .collect();
    let derived_body = if clear_arms.is_empty() {
        quote!(cap)
    } else {
        quote! {
            let words = cap.words();
            match cap.cap_type() {
                #(#clear_arms,)*
                _ => cap,
            }
        }
    };
    // `#[copy(no_children)]`: the kernel, which knows the derivation tree,
    // refuses a copy of such a cap with children (`RevokeFirst`).
    let no_children: Vec<TokenStream> = g
        .spec
        .caps
        .iter()
        .filter(|c| c.copy_conditions.no_children)
        .map(|c| {
            let v = ident(&c.name);
            quote!(CapType::#v)
        })
        .collect();
    let no_children_body = if no_children.is_empty() {
        quote!(false)
    } else {
        quote!(matches!(self, #(#no_children)|*))
    };
    // Reading and writing the mapping fields of any mapped cap type.
    let mapping_of_arms = mapped.iter().map(|c| {
        let v = ident(&c.name);
        let at = c.field_with(Role::MappedAt).expect("a mapped cap type");
        let at = get_u64(quote!(view), at);
        let asid = match c.field_with(Role::MappedIn) {
            Some(f) => get_u64(quote!(view), f),
            None => quote!(0),
        };
        quote!(Some(CapType::#v) => { let view = #v(cap); Some((#at, #asid)) })
    });
    let with_mapping_arms = mapped.iter().map(|c| {
        let v = ident(&c.name);
        let at = c.field_with(Role::MappedAt).expect("a mapped cap type");
        let set_at = set_u64(quote!(view), at, quote!(page));
        let set_asid = match c.field_with(Role::MappedIn) {
            Some(f) => {
                let set = set_u64(quote!(view), f, quote!(asid));
                quote!(#set.ok()?;)
            }
            None => quote!(if asid != 0 {
                return None;
            }),
        };
        quote!(Some(CapType::#v) => {
            let mut view = #v(cap);
            #set_at.ok()?;
            #set_asid
            Some(view.cap())
        })
    });
    let (mapping_of_param, mapping_of_body, with_mapping_params, with_mapping_body) =
        if mapped.is_empty() {
            (
                quote!(_cap),
                quote!(None),
                quote!(_cap: Cap, _page: u64, _asid: u64),
                quote!(None),
            )
        } else {
            (
                quote!(cap),
                quote!(match cap.cap_type() { #(#mapping_of_arms,)* _ => None }),
                quote!(cap: Cap, page: u64, asid: u64),
                quote!(match cap.cap_type() { #(#with_mapping_arms,)* _ => None }),
            )
        };
    let view_methods = mapped.iter().map(|c| {
        let v = ident(&c.name);
        let at = ident(
            &c.field_with(Role::MappedAt)
                .expect("a mapped cap type")
                .name,
        );
        let doc = format!(" Whether `{}` is not 0: see [`is_mapped`].", at);
        quote! {
            impl #v {
                #[doc = #doc]
                pub const fn is_mapped(&self) -> bool {
                    #v::#at(*self) != 0
                }
            }
        }
    });
    quote! {
        /// Whose the mapping recorded in a cap's `#[mapped_at]` field is.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Mapping {
            /// Each cap's own (frames, as seL4's): a copy starts unmapped,
            /// and removing a mapped cap unmaps it.
            EachCap,
            /// The object's, shared by its caps (page tables): an unmapped
            /// cap cannot be copied, a copy keeps the mapping, and removing
            /// the last cap unlinks the object.
            Shared,
        }

        impl CapType {
            /// Whose the mapping caps of this type record is; `None` for cap
            /// types without a `#[mapped_at]` field.
            pub const fn mapping(self) -> Option<Mapping> {
                #mapping_body
            }
        }

        #(#view_methods)*

        /// Whether `cap` records a mapping (its `#[mapped_at]` field is not
        /// 0); false for cap types without one, the null cap and an unknown
        /// tag.
        pub const fn is_mapped(#is_mapped_param: Cap) -> bool {
            #is_mapped_body
        }

        /// Where `cap` records it is mapped: its `#[mapped_at]` page and its
        /// `#[mapped_in]` address space (0 for a cap type without one);
        /// `None` for cap types without a `#[mapped_at]` field.
        pub const fn mapping_of(#mapping_of_param: Cap) -> Option<(u64, u64)> {
            #mapping_of_body
        }

        /// `cap` recording the mapping at `page` in address space `asid`
        /// (both 0: unmapped); `None` for cap types without a
        /// `#[mapped_at]` field, or values that do not fit the fields (an
        /// `asid` other than 0 without a `#[mapped_in]` field).
        pub fn with_mapping(#with_mapping_params) -> Option<Cap> {
            #with_mapping_body
        }

        /// The cap a copy or mint of `cap` starts from: `cap` itself, except
        /// that a cap whose mapping is its own (`Mapping::EachCap`) comes
        /// back with its `#[mapped_at]` and `#[mapped_in]` fields cleared,
        /// as seL4 derives frame caps unmapped, and the fields its type's
        /// `#[copy(clears(...))]` names are 0. Whether the copy is allowed
        /// at all is `may_copy` (and `CapType::copy_needs_no_children`).
        pub const fn derived(cap: Cap) -> Cap {
            #derived_body
        }

        impl CapType {
            /// Whether a cap of this type is copied or minted only while it
            /// has no children in the derivation tree
            /// (`#[copy(no_children)]`, as seL4's `ensureNoChildren` for an
            /// Untyped): a kernel refuses such a copy with `RevokeFirst`.
            /// `may_copy` cannot say, as a cap does not record its children.
            pub const fn copy_needs_no_children(self) -> bool {
                #no_children_body
            }
        }
    }
}

/// The fields a copy of a cap of type `c` has cleared: its mapping
/// fields if its mapping is its own (`Mapping::EachCap`), and those its
/// `#[copy(clears(...))]` names.
fn cleared_fields(c: &CapType) -> Vec<&capc_dsl::model::CapField> {
    let mut out: Vec<&capc_dsl::model::CapField> = Vec::new();
    if c.mapping == Some(Mapping::EachCap) {
        out.extend(mapping_fields(c));
    }
    for &i in &c.copy_conditions.clears {
        let f = &c.fields[i];
        if !out.iter().any(|o| o.name == f.name) {
            out.push(f);
        }
    }
    out
}

/// A mask as a hex literal (unsuffixed).
pub(super) fn hex(value: u64) -> proc_macro2::Literal {
    let text = format!("{value:#x}");
    text.parse().expect("a hex literal")
}

fn owned_slots(g: &Gen<'_>) -> TokenStream {
    let with: Vec<&Object> = g
        .spec
        .objects
        .iter()
        .filter(|o| !o.slots.is_empty())
        .collect();
    let slots_arms = with.iter().map(|o| {
        let v = ident(&o.name);
        let e = slot_enum_name(o);
        quote!(ObjectType::#v => &#e::OWNED)
    });
    let slots_body = if with.is_empty() {
        quote!(&[])
    } else {
        quote!(match self { #(#slots_arms,)* _ => &[] })
    };
    let of_arms = with.iter().map(|o| {
        let v = ident(&o.name);
        let first = lit(o.slots[0].offset);
        let n = lit(o.slots.len() as u64);
        quote!(ObjectType::#v => (#first, #n))
    });
    let of_fn = if with.is_empty() {
        quote! {
            pub fn owned_slots_of(_cap: Cap) -> Option<(u64, u64)> {
                None
            }
        }
    } else {
        quote! {
            pub fn owned_slots_of(cap: Cap) -> Option<(u64, u64)> {
                let (first, count) = match cap.cap_type()?.object_type()? {
                    #(#of_arms,)*
                    _ => return None,
                };
                let (base, _) = region(cap)?;
                Some((base.checked_add(first)?, count))
            }
        }
    };
    quote! {
        /// A capability slot inside an object (`slot name: CapType(rights);`
        /// in the spec). It is in the derivation tree like any CNode slot,
        /// and the caps in it are deleted when the last cap to the object
        /// goes.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct OwnedSlot {
            /// The slot's name in the spec.
            pub name: &'static str,
            /// The cap type it holds.
            pub cap_type: CapType,
            /// Rights a cap must carry to be put there.
            pub rights: Rights,
            /// Byte offset of the slot from the start of the object: slots
            /// lie at the object's end, in declaration order.
            pub offset: u64,
            /// `#[required]`: the object's thread resumes only with a cap
            /// here.
            pub required: bool,
        }

        impl ObjectType {
            /// The capability slots each object of this type owns, in
            /// declaration order (empty for most types).
            pub const fn owned_slots(self) -> &'static [OwnedSlot] {
                #slots_body
            }
        }

        /// The address of the first owned slot of the object `cap` names,
        /// and how many slots it owns (they follow one another, one slot
        /// apart). `None` for objects without owned slots, cap types that
        /// name no object, the null cap and an unknown tag.
        #of_fn
    }
}

fn slot_enum_name(o: &Object) -> proc_macro2::Ident {
    format_ident!("{}Slot", o.name)
}

fn slot_enum(g: &Gen<'_>, o: &Object) -> TokenStream {
    let name = slot_enum_name(o);
    let doc = format!(" The capability slots a `{}` owns.", o.name);
    let spec_line = format!(" Spec: `{}`.", g.location(o.span));
    let variants: Vec<_> = o
        .slots
        .iter()
        .map(|s| format_ident!("{}", camel(&s.name)))
        .collect();
    let decls = o.slots.iter().zip(&variants).map(|(s, v)| {
        let doc = g.docs(&s.docs, &format!("The `{}` slot.", s.name), s.span);
        quote!(#doc #v)
    });
    let count = lit(o.slots.len() as u64);
    let owned = o.slots.iter().map(|s| {
        let n = &s.name;
        let cap = ident(&g.spec.caps[s.cap.index()].name);
        let rights = rights_const(g, &s.rights);
        let offset = lit(s.offset);
        let required = s.required;
        quote!(OwnedSlot {
            name: #n,
            cap_type: CapType::#cap,
            rights: #rights,
            offset: #offset,
            required: #required,
        })
    });
    // Without required rights the slot's cap type may have no rights field,
    // and then `Cap::rights` may not exist.
    let admits = if o.slots.iter().all(|s| s.rights.is_empty()) {
        quote!(cap.tag() == self.cap_type() as u64)
    } else {
        quote!(cap.tag() == self.cap_type() as u64 && cap.rights().contains(self.rights()))
    };
    quote! {
        #[doc = #doc]
        #[doc = ""]
        #[doc = #spec_line]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[allow(non_camel_case_types)]
        pub enum #name {
            #(#decls,)*
        }

        impl #name {
            /// Every slot, in declaration order (which is their order in
            /// the object).
            pub const ALL: [#name; #count] = [#(#name::#variants),*];

            /// The slots as `ObjectType::owned_slots` lists them.
            pub const OWNED: [OwnedSlot; #count] = [#(#owned),*];

            /// The slot's description.
            pub const fn owned_slot(self) -> OwnedSlot {
                // Variants are numbered in declaration order, as `OWNED` is.
                #name::OWNED[self as usize]
            }

            /// Byte offset of the slot from the start of the object.
            pub const fn offset(self) -> u64 {
                self.owned_slot().offset
            }

            /// The cap type the slot holds.
            pub const fn cap_type(self) -> CapType {
                self.owned_slot().cap_type
            }

            /// Rights a cap must carry to be put there.
            pub const fn rights(self) -> Rights {
                self.owned_slot().rights
            }

            /// Whether the object's thread resumes only with a cap here
            /// (`#[required]`).
            pub const fn required(self) -> bool {
                self.owned_slot().required
            }

            /// Whether `cap` may be put in the slot: it is of the slot's cap
            /// type and carries the rights the slot requires.
            pub const fn admits(self, cap: Cap) -> bool {
                #admits
            }
        }
    }
}
