//! The kernel side of the loopback tests' transports: one CSpace the client
//! and the server share (a loopback server sees the client's slot numbers),
//! with the caps each slot holds, which the server's dispatch checks
//! (`held`), and the mint, revoke and delete a client's transport makes
//! for the caps it sends (`Transport::mint`, `end_lend`, `delete`).
//!
//! `cspace!(path::to::module)` defines `CSpace` over that generated
//! module's `Cap` and `Rights`; `minting_through!(field)`, inside an `impl
//! Transport`, makes the transport's `mint`, `end_lend` and `delete` those
//! of its `CSpace` in `field`.

macro_rules! cspace {
    ($($m:ident)::+) => {
        /// A CSpace: the cap in each slot, and what the client's transport
        /// did to it.
        #[derive(Debug, Default)]
        #[allow(dead_code)] // each test uses what its interfaces send
        pub struct CSpace {
            /// The caps, by slot.
            pub caps: std::collections::BTreeMap<u64, $($m)::+::Cap>,
            /// Every mint: (the slot minted from, the copy's slot, the
            /// rights asked for).
            pub minted: Vec<(u64, u64, $($m)::+::Rights)>,
            /// The slots taken back with `end_lend`, in order.
            pub ended: Vec<u64>,
            /// The slots deleted with `delete`, in order.
            pub deleted: Vec<u64>,
        }

        /// Where minted copies go: above every slot a test names.
        pub const FIRST_COPY: u64 = 1000;

        #[allow(dead_code)]
        impl CSpace {
            /// A CSpace holding `caps`.
            pub fn with(caps: impl IntoIterator<Item = (u64, $($m)::+::Cap)>) -> CSpace {
                CSpace {
                    caps: caps.into_iter().collect(),
                    ..CSpace::default()
                }
            }

            /// The cap in `slot`, as the server's runtime learns it from the
            /// kernel.
            pub fn held(&self, slot: u64) -> Option<$($m)::+::Cap> {
                self.caps.get(&slot).copied()
            }

            /// seL4's mint into the first free slot from [`FIRST_COPY`]:
            /// the copy's rights are the cap's masked by `rights`.
            pub fn mint(&mut self, slot: u64, rights: $($m)::+::Rights) -> Option<u64> {
                let cap = self.held(slot)?;
                let copy = (FIRST_COPY..).find(|s| !self.caps.contains_key(s))?;
                self.caps.insert(copy, cap.with_rights_masked(rights));
                self.minted.push((slot, copy, rights));
                Some(copy)
            }

            /// Revokes what derives from `copy` (in a loopback, the server
            /// holds the copy itself) and deletes it.
            pub fn end_lend(&mut self, copy: u64) {
                assert!(
                    self.caps.remove(&copy).is_some(),
                    "slot {copy} ended twice, or never minted"
                );
                self.ended.push(copy);
            }

            /// Deletes the cap in `slot`.
            pub fn delete(&mut self, slot: u64) {
                assert!(
                    self.caps.remove(&slot).is_some(),
                    "slot {slot} deleted twice, or empty"
                );
                self.deleted.push(slot);
            }

            /// The slots holding a copy the client minted and has not
            /// taken back or deleted: none after a call.
            pub fn copies_left(&self) -> Vec<u64> {
                self.caps.range(FIRST_COPY..).map(|(s, _)| *s).collect()
            }
        }
    };
}

macro_rules! minting_through {
    ($field:ident) => {
        fn mint(&mut self, slot: u64, rights: Rights) -> Option<u64> {
            self.$field.mint(slot, rights)
        }

        fn end_lend(&mut self, copy: u64) {
            self.$field.end_lend(copy);
        }

        fn delete(&mut self, slot: u64) {
            self.$field.delete(slot);
        }
    };
}
