//! What every cap type has in a way of its own, over plain [`Cap`]s: its
//! rights, its badge, and the cap retype makes for a new object. The
//! generated code has these per typed view (`EndpointCap::rights`,
//! `FrameCap::set_rights`, `NotificationCap::set_badge`, the `new`
//! constructors) and `badge_of` over `Cap`, but no `rights_of`, no badge
//! or rights setter over `Cap` and no constructor by object type, so they
//! are matched here by type. The matches are exhaustive: a cap or object
//! type added to the spec does not compile until it is handled here.

use crate::caps::{
    CNodeCap, Cap, CapType, EndpointCap, FrameCap, NotificationCap, ObjectType, PageDirectoryCap,
    PageTableCap, PdptCap, Pml4Cap, Rights, TcbCap, UntypedCap,
};

/// The rights `cap` carries; `Rights::NONE` for types without a rights
/// field and for the null cap.
pub fn rights_of(cap: Cap) -> Rights {
    match cap.cap_type() {
        Some(CapType::EndpointCap) => EndpointCap::from_cap(cap).map(EndpointCap::rights),
        Some(CapType::NotificationCap) => {
            NotificationCap::from_cap(cap).map(NotificationCap::rights)
        }
        Some(CapType::FrameCap) => FrameCap::from_cap(cap).map(FrameCap::rights),
        Some(
            CapType::UntypedCap
            | CapType::CNodeCap
            | CapType::TcbCap
            | CapType::Pml4Cap
            | CapType::PdptCap
            | CapType::PageDirectoryCap
            | CapType::PageTableCap
            | CapType::IrqControlCap
            | CapType::IrqHandlerCap,
        )
        | None => None,
    }
    .unwrap_or(Rights::NONE)
}

/// `cap` keeping only the rights also in `keep`: masking never adds one.
/// Caps without a rights field come back unchanged. `None` only if the
/// generated setter refused the masked set, which it cannot.
pub fn mask_rights(cap: Cap, keep: Rights) -> Option<Cap> {
    let rights = rights_of(cap).mask(keep);
    match cap.cap_type() {
        Some(CapType::EndpointCap) => {
            let mut view = EndpointCap::from_cap(cap)?;
            view.set_rights(rights).ok()?;
            Some(view.cap())
        }
        Some(CapType::NotificationCap) => {
            let mut view = NotificationCap::from_cap(cap)?;
            view.set_rights(rights).ok()?;
            Some(view.cap())
        }
        Some(CapType::FrameCap) => {
            let mut view = FrameCap::from_cap(cap)?;
            view.set_rights(rights).ok()?;
            Some(view.cap())
        }
        _ => Some(cap),
    }
}

/// `cap` with its `#[badge]` field set to `badge`; `None` for types
/// without one.
pub fn with_badge(cap: Cap, badge: u64) -> Option<Cap> {
    match cap.cap_type()? {
        CapType::EndpointCap => {
            let mut view = EndpointCap::from_cap(cap)?;
            view.set_badge(badge).ok()?;
            Some(view.cap())
        }
        CapType::NotificationCap => {
            let mut view = NotificationCap::from_cap(cap)?;
            view.set_badge(badge).ok()?;
            Some(view.cap())
        }
        _ => None,
    }
}

/// The cap retype puts in a slot for a new object: its `#[object]` field
/// at `address`, its `#[size_arg]` field (if any) at `size_arg`, every
/// right its type may carry, no badge, guard or mapping, and for Untyped
/// and frames the `#[device]` flag of the memory it came from. `None` if
/// a field refuses its value.
pub fn object_cap(
    object_type: ObjectType,
    address: u64,
    size_arg: u64,
    device: bool,
) -> Option<Cap> {
    match object_type {
        ObjectType::Untyped => UntypedCap::new(address, size_arg, 0, device).map(Cap::from),
        ObjectType::CNode => CNodeCap::new(address, size_arg, 0, 0).map(Cap::from),
        ObjectType::Tcb => TcbCap::new(address).map(Cap::from),
        ObjectType::Endpoint => {
            EndpointCap::new(address, EndpointCap::VALID_RIGHTS, 0).map(Cap::from)
        }
        ObjectType::Notification => {
            NotificationCap::new(address, NotificationCap::VALID_RIGHTS, 0).map(Cap::from)
        }
        ObjectType::Frame => {
            FrameCap::new(address, size_arg, FrameCap::VALID_RIGHTS, 0, device).map(Cap::from)
        }
        ObjectType::Pml4 => Pml4Cap::new(address).map(Cap::from),
        ObjectType::Pdpt => PdptCap::new(address, 0).map(Cap::from),
        ObjectType::PageDirectory => PageDirectoryCap::new(address, 0).map(Cap::from),
        ObjectType::PageTable => PageTableCap::new(address, 0).map(Cap::from),
    }
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::{badge_of, region};

    #[test]
    fn object_caps_name_the_object_retype_placed() {
        for object_type in ObjectType::ALL {
            let (min, max) = object_type.arg_bounds();
            for size_arg in [min, max] {
                let Ok(bits) = object_type.size_bits(size_arg) else {
                    continue;
                };
                let address = 1 << bits.max(12);
                let cap = object_cap(object_type, address, size_arg, false).unwrap();
                assert_eq!(
                    cap.cap_type().and_then(CapType::object_type),
                    Some(object_type)
                );
                assert_eq!(region(cap), Some((address, 1 << bits)), "{object_type:?}");
                let valid = cap.cap_type().map(CapType::valid_rights);
                assert_eq!(
                    Some(rights_of(cap)),
                    valid,
                    "{object_type:?} has full rights"
                );
                assert_eq!(badge_of(cap).unwrap_or(0), 0);
            }
        }
        // A misaligned address is refused by the generated setter.
        assert_eq!(object_cap(ObjectType::Tcb, 0x100, 0, false), None);
        let device = object_cap(ObjectType::Frame, 0x1000, 12, true).unwrap();
        assert!(FrameCap::from_cap(device).unwrap().is_device());
    }

    #[test]
    fn masking_only_removes_rights() {
        let ep = EndpointCap::new(0x100, Rights::READ.union(Rights::GRANT), 5)
            .unwrap()
            .cap();
        let masked = mask_rights(ep, Rights::READ.union(Rights::WRITE)).unwrap();
        assert_eq!(rights_of(masked), Rights::READ);
        assert_eq!(badge_of(masked), Some(5));
        let frame = FrameCap::new(0x1000, 12, Rights::READ, 0, false)
            .unwrap()
            .cap();
        assert_eq!(
            rights_of(mask_rights(frame, Rights::ALL).unwrap()),
            Rights::READ
        );
        let tcb = TcbCap::new(0x800).unwrap().cap();
        assert_eq!(mask_rights(tcb, Rights::NONE), Some(tcb));
        assert_eq!(rights_of(Cap::NULL), Rights::NONE);
    }

    #[test]
    fn only_badged_types_take_a_badge() {
        let ep = EndpointCap::new(0x100, Rights::ALL, 0).unwrap().cap();
        assert_eq!(with_badge(ep, 9).and_then(badge_of), Some(9));
        let tcb = TcbCap::new(0x800).unwrap().cap();
        assert_eq!(with_badge(tcb, 9), None);
        assert_eq!(with_badge(Cap::NULL, 9), None);
    }
}
