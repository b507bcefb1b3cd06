//! The budgets of donating methods: the allocation classes of a donation,
//! laid out as the checker placed its worst case, the class enums and the
//! budget structs a server allocates from.

use capc_dsl::model::{Allocation, Donation, Method};
use capc_dsl::units::sum_and_bytes as bytes;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::messages::donated_cap;
use super::{Iface, doc_lines, ident, lit, snake, wrap};

/// One allocation class of a budget: the objects of one type and size,
/// with the region the layout gives them.
struct Class<'a> {
    /// The allocation (counts of repeated clauses of one object and size
    /// added together).
    alloc: Allocation,
    object: &'a capc_dsl::model::Object,
    align_bits: u32,
    /// Bytes from the start of the layout.
    offset: u64,
}

impl Class<'_> {
    /// `Frame12`, or `Endpoint` for a fixed-size object.
    fn variant(&self) -> Ident {
        match self.object.size.param {
            Some(_) => format_ident!("{}{}", self.object.name, self.alloc.arg),
            None => ident(&self.object.name),
        }
    }

    /// `alloc_frame_12`, or `alloc_endpoint`.
    fn alloc_fn(&self) -> Ident {
        match self.object.size.param {
            Some(_) => format_ident!("alloc_{}_{}", snake(&self.object.name), self.alloc.arg),
            None => format_ident!("alloc_{}", snake(&self.object.name)),
        }
    }

    fn size(&self) -> u64 {
        1 << self.alloc.size_bits
    }
}

/// The classes of a donation laid out as the checker placed its worst case:
/// in the model's order (largest alignment first, then larger objects), each
/// starting at the running total rounded up to its alignment. Returns the
/// classes and the end of the layout.
fn classes<'a>(i: &Iface<'a>, d: &Donation) -> (Vec<Class<'a>>, u64) {
    let mut classes: Vec<Class<'a>> = Vec::new();
    for a in &d.allocations {
        if let Some(c) = classes
            .iter_mut()
            .find(|c| c.alloc.object == a.object && c.alloc.arg == a.arg)
        {
            c.alloc.count += a.count;
            continue;
        }
        let object = &i.g.spec.objects[a.object.index()];
        classes.push(Class {
            alloc: a.clone(),
            object,
            align_bits: object.align_bits_for(a.size_bits),
            offset: 0,
        });
    }
    let mut end: u64 = 0;
    for c in &mut classes {
        c.offset = end.next_multiple_of(1 << c.align_bits);
        end = c.offset + c.alloc.count * c.size();
    }
    debug_assert_eq!(end, d.worst_case_bytes, "the layout is the checker's");
    (classes, end)
}

/// The fields of the out-of-budget variant: `needed` where the payload has a
/// word of that name, 0 elsewhere. Whether `needed` is used.
fn out_of_budget(i: &Iface<'_>, d: &Donation) -> (TokenStream, bool) {
    let variant = &i.errors.variants[d.out_of_budget];
    let (ty, v) = (&i.error_ty, ident(&variant.name));
    if variant.payload.is_empty() {
        return (quote!(#ty::#v), false);
    }
    let fields = variant.payload.iter().map(|w| {
        let name = ident(w);
        if w == "needed" {
            quote!(#name)
        } else {
            quote!(#name: 0)
        }
    });
    let used = variant.payload.iter().any(|w| w == "needed");
    (quote!(#ty::#v { #(#fields),* }), used)
}

/// The class enum and budget type of a donating method.
pub(super) fn budget(i: &Iface<'_>, m: &Method) -> TokenStream {
    let Some(d) = &m.donation else {
        return TokenStream::new();
    };
    let (classes, end) = classes(i, d);
    let table: Vec<String> = classes
        .iter()
        .map(|c| {
            format!(
                "- `{}`: {} × `{}` of {} each, at offset {}",
                c.variant(),
                c.alloc.count,
                i.object(&c.alloc),
                bytes(c.size()),
                c.offset
            )
        })
        .collect();
    let class_enum = if classes.is_empty() {
        TokenStream::new()
    } else {
        class_enum(i, m, &classes, &table)
    };
    let budget = budget_struct(i, m, d, &classes, end);
    quote! {
        #class_enum
        #budget
    }
}

/// The enum of a budget's allocation classes, with each class's place in
/// the layout.
fn class_enum(i: &Iface<'_>, m: &Method, classes: &[Class<'_>], table: &[String]) -> TokenStream {
    let class = i.class(m);
    let mut lines = wrap(&format!(
        "The allocation classes of `{}`, one per object type and size it allocates, in the order its budget lays them out (largest alignment first):",
        i.path(m)
    ));
    lines.extend(table.iter().cloned());
    let doc = i.docs(lines, m);
    let variants = classes.iter().map(|c| {
        let doc = doc_lines(&[format!(
            "`{}`: up to {} per call.",
            i.object(&c.alloc),
            c.alloc.count
        )]);
        let v = c.variant();
        quote!(#doc #v)
    });
    let count = lit(classes.len() as u64);
    let arms = |f: &dyn Fn(&Class<'_>) -> TokenStream| -> Vec<TokenStream> {
        classes
            .iter()
            .map(|c| {
                let v = c.variant();
                let value = f(c);
                quote!(#class::#v => #value,)
            })
            .collect()
    };
    let all = classes.iter().map(|c| {
        let v = c.variant();
        quote!(#class::#v)
    });
    let object_type = arms(&|c| {
        let o = ident(&c.object.name);
        quote!(ObjectType::#o)
    });
    let size_arg = arms(&|c| {
        let a = lit(c.alloc.arg);
        quote!(#a)
    });
    let size = arms(&|c| {
        let s = lit(c.size());
        quote!(#s)
    });
    let align = arms(&|c| {
        let s = lit(1 << c.align_bits);
        quote!(#s)
    });
    let count_arms = arms(&|c| {
        let n = lit(c.alloc.count);
        quote!(#n)
    });
    let offset = arms(&|c| {
        let n = lit(c.offset);
        quote!(#n)
    });
    quote! {
        #doc
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[allow(non_camel_case_types)]
        pub enum #class {
            #(#variants,)*
        }

        impl #class {
            /// Every class, in layout order.
            pub const ALL: [#class; #count] = [#(#all),*];

            /// The object type to retype the donation into.
            pub const fn object_type(self) -> ObjectType {
                match self {
                    #(#object_type)*
                }
            }

            /// The size argument of the retype (0 for a fixed-size type).
            pub const fn size_arg(self) -> u64 {
                match self {
                    #(#size_arg)*
                }
            }

            /// Bytes of one object.
            pub const fn size(self) -> u64 {
                match self {
                    #(#size)*
                }
            }

            /// The alignment of one object in bytes.
            pub const fn align(self) -> u64 {
                match self {
                    #(#align)*
                }
            }

            /// The most objects of this class one call may allocate.
            pub const fn count(self) -> u64 {
                match self {
                    #(#count_arms)*
                }
            }

            /// Where the class starts in the worst case: in bytes from an
            /// `ALIGN`ed start, with every class before it in layout order
            /// allocated to its count.
            pub const fn offset(self) -> u64 {
                match self {
                    #(#offset)*
                }
            }
        }
    }
}

/// The budget type of a donating method.
fn budget_struct(
    i: &Iface<'_>,
    m: &Method,
    d: &Donation,
    classes: &[Class<'_>],
    end: u64,
) -> TokenStream {
    let (budget, class, error) = (i.budget(m), i.class(m), &i.error_ty);
    let oob_variant = &i.errors.variants[d.out_of_budget].name;
    let (oob, uses_needed) = out_of_budget(i, d);
    let needed = if uses_needed {
        format_ident!("needed")
    } else {
        format_ident!("_needed")
    };
    let untyped = donated_cap(m).map(|cap| &i.g.spec.caps[cap.index()].name);
    // How a budget works is said once, in the budgets section of
    // `Donation`'s docs; the budget says what is its own.
    let mut lines = wrap(&format!(
        "The budget of one `{}` call, the only memory the server has for it, paid for by the caller as [`{}::{}`] says ([budgets](Donation#budgets)).",
        i.path(m),
        i.label,
        i.variant(m)
    ));
    lines.push(String::new());
    if classes.is_empty() {
        lines.push("The method allocates nothing: the budget only holds the donation.".to_string());
    } else {
        lines.extend(wrap(&format!(
            "Its classes, in layout order: [`{class}`]. Out of budget: `{error}::{oob_variant}`."
        )));
    }
    let doc = i.docs(lines, m);
    let min = lit(d.min_bytes);
    let worst = lit(end);
    let align = lit(classes
        .iter()
        .map(|c| 1u64 << c.align_bits)
        .max()
        .unwrap_or(1));
    let n = lit(classes.len() as u64);
    let (untyped_field, untyped_init, untyped_param, untyped_getter) = match untyped {
        Some(cap) => {
            let getter_doc = doc_lines(&wrap(&format!(
                "The slot of the donated `{cap}`, which the objects `alloc` hands out are retyped from."
            )));
            let view = ident(cap);
            (
                quote!(untyped: Slot<#view>,),
                quote!(untyped,),
                quote!(untyped: Slot<#view>,),
                quote! {
                    #getter_doc
                    pub const fn untyped(&self) -> Slot<#view> {
                        self.untyped
                    }
                },
            )
        }
        None => (quote!(), quote!(), quote!(), quote!()),
    };
    let from_doc = doc_lines(&wrap(&match untyped {
        Some(cap) => format!(
            "The budget of a call that donated the `{cap}` in slot `untyped`, whose free part is `donation`, or `{error}::{oob_variant}` ([budgets](Donation#budgets))."
        ),
        None => format!(
            "The budget of a call whose caller donated the quota `donation`, or `{error}::{oob_variant}` ([budgets](Donation#budgets))."
        ),
    }));
    let payload_note = if uses_needed {
        "with `needed` bytes (other payload words 0)"
    } else {
        "(its payload words 0: it has no `needed` word)"
    };
    let oob_doc = doc_lines(&wrap(&format!(
        "The error this method returns when its donation runs out: `{error}::{oob_variant}` {payload_note}."
    )));
    let (alloc_field, alloc_init, allocation) = if classes.is_empty() {
        (
            quote!(),
            quote!(),
            quote! {
                /// Bytes handed out so far: always 0, the method allocates
                /// nothing.
                pub const fn used_bytes(&self) -> u64 {
                    0
                }
            },
        )
    } else {
        let shortcuts = classes.iter().map(|c| {
            let f = c.alloc_fn();
            let v = c.variant();
            let doc = doc_lines(&wrap(&format!(
                "Allocates one `{}`: [`alloc`](Self::alloc) of [`{class}::{v}`].",
                i.object(&c.alloc)
            )));
            quote! {
                #doc
                pub fn #f(&mut self) -> Result<u64, #error> {
                    self.alloc(#class::#v)
                }
            }
        });
        let alloc_doc = doc_lines(&wrap(&format!(
            "The address of the next object of `class`, or `{error}::{oob_variant}` ([budgets](Donation#budgets))."
        )));
        (
            quote!(used: u64, allocated: [u64; #n],),
            quote!(used: 0, allocated: [0; #n],),
            quote! {
                #alloc_doc
                pub fn alloc(&mut self, class: #class) -> Result<u64, #error> {
                    let index = class as usize;
                    // The new running total: from `base`, past the object.
                    let end = (self.base + self.used)
                        .checked_next_multiple_of(class.align())
                        .and_then(|start| start.checked_add(class.size()))
                        .map_or(u64::MAX, |end| end - self.base);
                    if self.allocated[index] == class.count() || end > self.bytes {
                        return Err(Self::out_of_budget(end));
                    }
                    self.allocated[index] += 1;
                    self.used = end;
                    Ok(self.base + end - class.size())
                }

                #(#shortcuts)*

                /// Bytes of the donation used so far in this call: from
                /// [`base`](Self::base) to the end of the last object,
                /// alignment gaps included.
                pub const fn used_bytes(&self) -> u64 {
                    self.used
                }

                /// How many more objects of `class` this call may allocate.
                pub const fn remaining(&self, class: #class) -> u64 {
                    class.count() - self.allocated[class as usize]
                }
            },
        )
    };
    let from_body = if classes.is_empty() {
        // Nothing to align: the donation only has to be large enough.
        quote! {
            if donation.bytes < Self::MIN_DONATION || donation.base.checked_add(donation.bytes).is_none() {
                return Err(Self::out_of_budget(Self::MIN_DONATION));
            }
            Ok(#budget {
                #untyped_init
                base: donation.base,
                bytes: donation.bytes,
            })
        }
    } else {
        quote! {
            let padding = donation.base.wrapping_neg() % Self::ALIGN;
            let needed = Self::MIN_DONATION.max(Self::WORST_CASE_BYTES.saturating_add(padding));
            if donation.bytes < needed || donation.base.checked_add(donation.bytes).is_none() {
                return Err(Self::out_of_budget(needed));
            }
            Ok(#budget {
                #untyped_init
                base: donation.base,
                bytes: donation.bytes,
                #alloc_init
            })
        }
    };
    quote! {
        #doc
        #[derive(Debug, PartialEq, Eq)]
        #[allow(non_camel_case_types)]
        pub struct #budget {
            #untyped_field
            base: u64,
            bytes: u64,
            #alloc_field
        }

        impl #budget {
            /// The least bytes the caller donates.
            pub const MIN_DONATION: u64 = #min;
            /// Bytes of every class at its declared count, in layout
            /// order from an address aligned to `ALIGN`: at most
            /// `MIN_DONATION`, as `capc check` proved.
            pub const WORST_CASE_BYTES: u64 = #worst;
            /// The largest alignment of any class: a donation starting
            /// below it needs the difference on top of the worst case.
            pub const ALIGN: u64 = #align;

            #from_doc
            pub fn from_donation(#untyped_param donation: Donation) -> Result<#budget, #error> {
                #from_body
            }

            #oob_doc
            pub const fn out_of_budget(#needed: u64) -> #error {
                #oob
            }

            #untyped_getter

            /// The donation's first free address: where the running total
            /// of [`alloc`](Self::alloc) starts.
            pub const fn base(&self) -> u64 {
                self.base
            }

            /// Bytes of the donation from [`base`](Self::base).
            pub const fn bytes(&self) -> u64 {
                self.bytes
            }

            #allocation
        }
    }
}
