//! Leases (Idol's leases): the generated types through which a client lends
//! a range of one of its frames for a call and a server reads or writes it.
//!
//! A lease parameter travels as a frame cap the client's transport mints
//! with exactly the lease's rights (the request's cap) and two words, the
//! offset into the frame and the length, in bytes. The request carries a
//! [`Lease`]-typed value: `Lease<LeaseRead, u8, FrameCap, 512>` for `lease(read) [u8;
//! ..=512]`. Its only accessors read and write within its range, and only
//! in the declared directions: a read lease has no `write` method, so a
//! server that writes one does not compile. The decoder refuses a length
//! over the bound (or not exactly the bound of `[T; N]`), not a whole number
//! of elements, or an end past the largest frame the cap type names.

use capc_dsl::model::{Lease, Method, MethodSet, ParamKind, Ty};
use proc_macro2::TokenStream;
use quote::quote;

use super::super::{Gen, lit};

/// Whether some method of these interfaces takes a lease.
pub(super) fn any(interfaces: &[&MethodSet]) -> bool {
    interfaces.iter().flat_map(|s| &s.methods).any(has)
}

/// Whether `m` takes a lease.
pub(super) fn has(m: &Method) -> bool {
    m.params
        .iter()
        .any(|p| matches!(p.kind, ParamKind::Lease(_)))
}

/// The Rust type of a lease's element.
fn element_ty(l: &Lease) -> TokenStream {
    match l.element {
        Ty::Int { signed, bits } => {
            let name = quote::format_ident!("{}{bits}", if signed { 'i' } else { 'u' });
            quote!(#name)
        }
        _ => unreachable!("the checker allows leases of integers only"),
    }
}

/// The access marker of a lease's directions.
fn access(l: &Lease) -> TokenStream {
    match (l.read, l.write) {
        (true, true) => quote!(LeaseReadWrite),
        (true, false) => quote!(LeaseRead),
        _ => quote!(LeaseWrite),
    }
}

/// The type a request, and the server, hold for a lease.
pub(super) fn lease_ty(l: &Lease, spec: &capc_dsl::model::Spec) -> TokenStream {
    let (a, t, n) = (access(l), element_ty(l), lit(l.max));
    let f = frame_view(l, spec);
    quote!(Lease<#a, #t, #f, #n>)
}

/// The view of a lease's frame cap type (`FrameCap`).
pub(super) fn frame_view(l: &Lease, spec: &capc_dsl::model::Spec) -> TokenStream {
    let f = super::super::ident(&spec.caps[l.cap.index()].name);
    quote!(#f)
}

/// The statements writing lease `value` at words `at`, `at + 1` and cap `cap`.
pub(super) fn encode(at: usize, cap: usize, value: TokenStream) -> TokenStream {
    let (offset, len, cap) = (lit(at as u64), lit(at as u64 + 1), lit(cap as u64));
    quote! {
        msg[#offset] = #value.offset;
        msg[#len] = #value.bytes;
        caps[#cap] = #value.frame.index();
    }
}

/// The expression decoding a lease from words `at`, `at + 1` and cap `cap`.
pub(super) fn decode(l: &Lease, at: usize, cap: usize, invalid: &TokenStream) -> TokenStream {
    let (offset, len, cap) = (lit(at as u64), lit(at as u64 + 1), lit(cap as u64));
    let (exact, frame) = (l.exact, lit(l.frame_bytes));
    quote!(Lease::checked(Slot::new(caps[#cap]), msg[#offset], msg[#len], #exact, #frame).ok_or(#invalid)?)
}

/// For docs: what a lease is.
pub(super) fn describe(g: &Gen<'_>, l: &Lease) -> String {
    let cap = &g.spec.caps[l.cap.index()].name;
    let how = match (l.read, l.write) {
        (true, true) => "read and written",
        (true, false) => "read (never written)",
        _ => "written (never read)",
    };
    let rights: Vec<String> = l
        .rights
        .iter()
        .map(|r| format!("`{}`", g.spec.rights[r.index()].name))
        .collect();
    let len = if l.exact {
        format!("exactly {}", l.max)
    } else {
        format!("up to {}", l.max)
    };
    let element = match l.element {
        Ty::Int { signed, bits } => format!("{}{bits}", if signed { 'i' } else { 'u' }),
        _ => String::new(),
    };
    format!(
        "A lease of {len} `{element}` of the caller's memory, {how} by the server within its range: a `{cap}` minted with exactly {} for the call, and the offset and length in bytes.",
        rights.join(" and ")
    )
}

/// The lease types shared by every interface of a spec with a lease.
pub(super) fn shared(g: &Gen<'_>) -> TokenStream {
    // The rights a lease's cap is minted with: bits of the rights `read`
    // and `write` (a direction whose right the spec lacks is never used:
    // the checker refuses such a lease).
    let bit = |name: &str| -> u64 {
        g.spec
            .rights
            .iter()
            .position(|r| r.name == name)
            .map_or(0, |i| 1 << i)
    };
    let (read, write) = (bit("read"), bit("write"));
    let (read_bits, write_bits, both_bits) = (lit(read), lit(write), lit(read | write));
    let elements = [
        ("u8", 1u64),
        ("u16", 2),
        ("u32", 4),
        ("u64", 8),
        ("i8", 1),
        ("i16", 2),
        ("i32", 4),
        ("i64", 8),
    ]
    .map(|(name, bytes)| {
        let t = quote::format_ident!("{name}");
        let n = lit(bytes);
        quote! {
            impl LeaseElement for #t {
                const BYTES: u64 = #n;
                fn to_le(self, bytes: &mut [u8]) {
                    bytes.copy_from_slice(&self.to_le_bytes());
                }
                fn from_le(bytes: &[u8]) -> #t {
                    let mut le = [0; #n];
                    le.copy_from_slice(bytes);
                    #t::from_le_bytes(le)
                }
            }
        }
    });
    // Only a server reads and writes a lease's memory (through a
    // `LeaseMemory`, generated with the servers).
    let place = g.options.servers.then(|| {
        quote! {
            /// The frame offset of element `at`, if `count` elements from it
            /// lie within the lease.
            fn place(&self, at: usize, count: usize) -> Result<u64, LeaseError> {
                match at.checked_add(count) {
                    Some(end) if end <= self.len() => Ok(self.offset + at as u64 * T::BYTES),
                    _ => Err(LeaseError::OutOfBounds),
                }
            }
        }
    });
    let mut out = quote! {
        /// An element a lease holds: an integer, little-endian in memory.
        pub trait LeaseElement: Copy {
            /// Bytes of one element.
            const BYTES: u64;
            /// Writes the element's little-endian bytes into `bytes`
            /// (exactly [`LeaseElement::BYTES`] long).
            fn to_le(self, bytes: &mut [u8]);
            /// The element `bytes` (exactly [`LeaseElement::BYTES`] long)
            /// hold, little-endian.
            fn from_le(bytes: &[u8]) -> Self;
        }

        #(#elements)*

        /// What a lease lets its server do: read, write or both. The
        /// transport mints the lent frame cap with exactly
        /// [`LeaseAccess::RIGHTS`].
        pub trait LeaseAccess {
            /// The rights of the lent cap.
            const RIGHTS: Rights;
        }

        /// A lease its server may read (`lease(read)`, `lease(read, write)`).
        pub trait LeaseReadable: LeaseAccess {}

        /// A lease its server may write (`lease(write)`, `lease(read, write)`).
        pub trait LeaseWritable: LeaseAccess {}

        /// `lease(read)`: the server reads the lent memory and never writes it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct LeaseRead;

        /// `lease(write)`: the server writes the lent memory and never reads it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct LeaseWrite;

        /// `lease(read, write)`: the server reads and writes the lent memory.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct LeaseReadWrite;

        impl LeaseAccess for LeaseRead {
            const RIGHTS: Rights = Rights::from_bits_truncate(#read_bits);
        }

        impl LeaseAccess for LeaseWrite {
            const RIGHTS: Rights = Rights::from_bits_truncate(#write_bits);
        }

        impl LeaseAccess for LeaseReadWrite {
            const RIGHTS: Rights = Rights::from_bits_truncate(#both_bits);
        }

        impl LeaseReadable for LeaseRead {}
        impl LeaseReadable for LeaseReadWrite {}
        impl LeaseWritable for LeaseWrite {}
        impl LeaseWritable for LeaseReadWrite {}

        /// A range of one of the caller's frames, which a client method
        /// lends for the call: the slot of the frame cap, and the offset
        /// and length of the range in bytes. The client checks the length
        /// against the lease's bound and has the transport mint the cap
        /// with exactly the lease's rights before sending.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct FrameRange<F> {
            /// The slot of the caller's frame cap.
            pub frame: Slot<F>,
            /// The first byte of the range in the frame.
            pub offset: u64,
            /// Its length in bytes: a whole number of elements.
            pub bytes: u64,
        }

        /// Memory lent for one call: `MAX` elements of `T` at most (exactly
        /// `MAX` for a lease of `[T; MAX]`), of the frame the cap in
        /// [`Lease::frame`] names, from a byte offset. Its accessors read
        /// and write within its range only, and only in the directions `A`
        /// allows: a `Lease<LeaseRead, ..>` has no `write`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct Lease<A: LeaseAccess, T: LeaseElement, F, const MAX: usize> {
            frame: Slot<F>,
            offset: u64,
            bytes: u64,
            access: ::core::marker::PhantomData<(A, T)>,
        }

        /// Why a lease's accessor failed; nothing was read or written.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum LeaseError {
            /// The elements asked for lie past the lease's length.
            OutOfBounds,
            /// The memory refused the access (the frame is not mapped, or
            /// not with the right).
            Fault,
        }

        impl<A: LeaseAccess, T: LeaseElement, F, const MAX: usize> Lease<A, T, F, MAX> {
            /// The lease of `bytes` bytes from `offset` of the frame in
            /// slot `frame`, if the length is a whole number of elements, at
            /// most `MAX` of them (exactly `MAX` when `exact`), and the range
            /// ends within `frame_bytes`.
            fn checked(frame: Slot<F>, offset: u64, bytes: u64, exact: bool, frame_bytes: u64) -> Option<Lease<A, T, F, MAX>> {
                let max = MAX as u64 * T::BYTES;
                if bytes.checked_rem(T::BYTES) != Some(0) || bytes > max || (exact && bytes != max) {
                    return None;
                }
                match offset.checked_add(bytes) {
                    Some(end) if end <= frame_bytes => Some(Lease {
                        frame,
                        offset,
                        bytes,
                        access: ::core::marker::PhantomData,
                    }),
                    _ => None,
                }
            }

            /// The slot of the lent frame cap (the server's copy).
            pub const fn frame(&self) -> Slot<F> {
                self.frame
            }

            /// Elements lent.
            pub const fn len(&self) -> usize {
                (self.bytes / T::BYTES) as usize
            }

            /// Whether no element is lent.
            pub const fn is_empty(&self) -> bool {
                self.bytes == 0
            }

            #place
        }
    };
    if g.options.servers {
        out.extend(quote! {
            impl<A: LeaseReadable, T: LeaseElement, F, const MAX: usize> Lease<A, T, F, MAX> {
                /// Reads `values.len()` elements from element `at` of the lease.
                pub fn read(&self, memory: &mut impl LeaseMemory, at: usize, values: &mut [T]) -> Result<(), LeaseError> {
                    let start = self.place(at, values.len())?;
                    let size = T::BYTES as usize;
                    let mut bytes = [0u8; 8];
                    for (i, value) in values.iter_mut().enumerate() {
                        if !memory.read(self.frame.index(), start + (i * size) as u64, &mut bytes[..size]) {
                            return Err(LeaseError::Fault);
                        }
                        *value = T::from_le(&bytes[..size]);
                    }
                    Ok(())
                }
            }

            impl<A: LeaseWritable, T: LeaseElement, F, const MAX: usize> Lease<A, T, F, MAX> {
                /// Writes `values` from element `at` of the lease.
                pub fn write(&self, memory: &mut impl LeaseMemory, at: usize, values: &[T]) -> Result<(), LeaseError> {
                    let start = self.place(at, values.len())?;
                    let size = T::BYTES as usize;
                    let mut bytes = [0u8; 8];
                    for (i, value) in values.iter().enumerate() {
                        value.to_le(&mut bytes[..size]);
                        if !memory.write(self.frame.index(), start + (i * size) as u64, &bytes[..size]) {
                            return Err(LeaseError::Fault);
                        }
                    }
                    Ok(())
                }
            }

            /// How a server reaches the memory of the frames lent to it: the
            /// frame cap in slot `frame` (the index of the lease's
            /// [`Lease::frame`]; mapped read-only for a read lease;
            /// the kernel refuses more than its rights), at byte `at`. A
            /// [`Lease`] calls it only within its range.
            pub trait LeaseMemory {
                /// Copies `bytes.len()` bytes from byte `at` of the frame
                /// into `bytes`; `false` when the memory refused.
                fn read(&mut self, frame: u64, at: u64, bytes: &mut [u8]) -> bool;
                /// Copies `bytes` to byte `at` of the frame; `false` when the
                /// memory refused.
                fn write(&mut self, frame: u64, at: u64, bytes: &[u8]) -> bool;
            }
        });
    }
    out
}

/// The clients' private helper that checks a range and mints its cap: a
/// function of the module, not a client method, so that no RPC method's
/// name can clash with it.
pub(super) fn client_helper() -> TokenStream {
    quote! {
        /// The lease of `range`, lent through `transport`:
        /// `CallError::Argument` when its length is not a whole number of
        /// elements within the bound, or it ends past `frame_bytes`;
        /// `CallError::NotMinted` when the transport could not mint a copy
        /// of the frame cap with `A`'s rights.
        fn lend<T: Transport, A: LeaseAccess, U: LeaseElement, F, const MAX: usize, E>(
            transport: &mut T,
            field: &'static str,
            range: FrameRange<F>,
            exact: bool,
            frame_bytes: u64,
        ) -> Result<Lease<A, U, F, MAX>, CallError<E>> {
            let lease: Lease<A, U, F, MAX> = Lease::checked(range.frame, range.offset, range.bytes, exact, frame_bytes)
                .ok_or(CallError::Argument(FieldError { field, value: range.bytes }))?;
            let minted = transport.mint(range.frame.index(), A::RIGHTS).ok_or(CallError::NotMinted)?;
            Ok(Lease { frame: Slot::new(minted), ..lease })
        }
    }
}
