//! Cap types: field roles, field widths and the two-word layout.
//!
//! Layout: the tag takes bits `tag_shift..tag_shift + tag_bits` of word 0
//! (the low bits unless the target says); fields placed with
//! `#[at(word = W, bit = B)]` take those bits, and must not overlap each
//! other or the tag, cross a word boundary or lie outside the cap's words;
//! then each other field, in declaration order, goes at the lowest run of
//! free bits that holds it whole in the first word that has one. Pointers
//! are stored shifted right by their alignment. When a field fits nowhere,
//! the error shows the bit budget of every word.

use std::collections::BTreeMap;

use crate::ast::{self, FieldType};
use crate::diag::{Code, Diagnostic};
use crate::model::{self, CapField, CopyPolicy, FieldKind, Mapping, Role};

use super::eval::{bits_for, bytes};
use super::{Ctx, TypeSym};
use crate::source::Span;

const ROLE_ATTRS: [(&str, Role); 11] = [
    ("object", Role::Object),
    ("size_arg", Role::SizeArg),
    ("watermark", Role::Watermark),
    ("badge", Role::Badge),
    ("device", Role::Device),
    ("guard", Role::Guard),
    ("guard_bits", Role::GuardBits),
    ("mapped_at", Role::MappedAt),
    ("mapped_in", Role::MappedIn),
    ("asid", Role::Asid),
    ("caller", Role::Caller),
];
/// The attributes a cap type may carry.
pub const CAP_ATTRS: [&str; 5] = ["always_copy", "never_copy", "copy", "allow", "tag"];

/// The attributes a cap field may carry (its roles, its place and how a
/// pointer is read).
pub const FIELD_ATTRS: [&str; 15] = [
    "identity",
    "object",
    "size_arg",
    "watermark",
    "badge",
    "device",
    "guard",
    "guard_bits",
    "mapped_at",
    "mapped_in",
    "asid",
    "caller",
    "at",
    "sign_extend",
    "whole_word",
];

/// Where `#[at(word = W, bit = B)]` puts a field.
#[derive(Clone, Copy)]
pub(super) struct Pin {
    pub(super) word: u64,
    pub(super) bit: u64,
    /// The attribute.
    pub(super) span: crate::source::Span,
}

impl Ctx<'_> {
    pub(super) fn check_caps(
        &mut self,
        target: Option<&model::Target>,
        objects: &[Option<model::Object>],
        rights: &[model::Right],
    ) -> Vec<Option<model::CapType>> {
        let tags = self.cap_tags(target);
        let mut out = Vec::new();
        for index in 0..self.items.caps.len() {
            let mut cap = self.check_cap(index, target, objects, rights);
            match (&mut cap, &tags) {
                (Some(c), Some(tags)) => c.tag = tags[index],
                _ => cap = None,
            }
            out.push(cap);
        }
        // Every object needs a cap type to name it. A duplicate object is
        // reported as such, and an object a misspelt `for` probably meant is
        // reported at the misspelling: neither is reported again here.
        let mut named = vec![false; objects.len()];
        let mut misspelt: Vec<&str> = Vec::new();
        for (_, cap) in &self.items.caps {
            match cap.object.as_ref().map(|o| (o, self.types.get(&o.name))) {
                Some((_, Some((TypeSym::Object(i), _)))) => named[*i] = true,
                Some((o, None)) => misspelt.push(&o.name),
                _ => {}
            }
        }
        for (i, (_, object)) in self.items.objects.iter().enumerate() {
            let name = object.name.name.as_str();
            let duplicate =
                !matches!(self.types.get(name), Some((TypeSym::Object(j), _)) if *j == i);
            let meant = misspelt
                .iter()
                .any(|m| crate::diag::closest(m, [name]).is_some());
            if !named[i] && objects[i].is_some() && !duplicate && !meant {
                let align = objects[i].as_ref().map_or("...".to_string(), |o| {
                    literal(1 << guaranteed_align_bits(o))
                });
                // The usual name may be taken (by a cap type for no object,
                // or for another one): then say so rather than suggest a
                // second type of that name.
                let usual = format!("{name}Cap");
                let help = match self.items.caps.iter().find(|(_, c)| c.name.name == usual) {
                    Some((_, taken)) => match &taken.object {
                        None => format!(
                            "`{usual}` names no object: write `cap {usual} for {name} {{ ... }}` with an `#[identity] #[object]` field, or add a cap type of another name"
                        ),
                        Some(other) => format!(
                            "`{usual}` is taken (it names `{}`): add `cap {name}Ref for {name} {{ #[identity] #[object] ptr: ptr(align = {align}) }}`",
                            other.name
                        ),
                    },
                    None => format!(
                        "add `cap {usual} for {name} {{ #[identity] #[object] ptr: ptr(align = {align}) }}`"
                    ),
                };
                self.diags.push(
                    Diagnostic::new(
                        Code::UncappedObject,
                        object.name.span,
                        format!("object type `{}` has no cap type", object.name.name),
                    )
                    .label("nothing can name objects of this type")
                    .help(help),
                );
            }
        }
        out
    }

    fn check_cap(
        &mut self,
        index: usize,
        target: Option<&model::Target>,
        objects: &[Option<model::Object>],
        rights: &[model::Right],
    ) -> Option<model::CapType> {
        let (item, cap) = self.items.caps[index];
        let name = &cap.name.name;
        // Its fields are not what the spec means: `inherits` was reported.
        if self.failed_inheritance.contains(name) {
            return None;
        }
        let mut ok = true;

        // Cap-level attributes.
        let mut copy = CopyPolicy::Normal;
        let mut copy_span = None;
        let mut copy_attrs: Vec<&ast::Attribute> = Vec::new();
        for attr in &item.attrs {
            let policy = match attr.name.name.as_str() {
                "always_copy" => CopyPolicy::Always,
                "never_copy" => CopyPolicy::Never,
                "copy" => {
                    copy_attrs.push(attr);
                    continue;
                }
                "allow" => continue, // the item pass's
                "tag" => continue,   // the numbering pass's
                other => {
                    self.unknown_attribute(&attr.name, other, &CAP_ATTRS, "cap type");
                    ok = false;
                    continue;
                }
            };
            if attr.has_args() {
                self.attr_takes_no_args(attr);
                ok = false;
            }
            if let Some(first) = copy_span
                && copy != policy
            {
                self.diags.push(
                    Diagnostic::new(
                        Code::ConflictingCopyFlags,
                        attr.span,
                        format!("`{name}` is both always-copy and never-copy"),
                    )
                    .label("conflicts")
                    .with_secondary(first, "with this")
                    .help("keep one of the two attributes"),
                );
                ok = false;
            }
            copy = policy;
            copy_span = Some(attr.span);
        }

        // The object it names.
        let object_id = match &cap.object {
            Some(ident) => match self.resolve(ident, "an object type", |s| match s {
                TypeSym::Object(i) => Some(i),
                _ => None,
            }) {
                Some(i) => Some(i),
                None => return None,
            },
            None => None,
        };
        let object = object_id.and_then(|i| objects[i].as_ref());
        if object_id.is_some() && object.is_none() {
            ok = false; // the object's own errors are reported already
        }

        let address_bits = target.map_or(64, |t| t.address_bits);
        let mut fields: Vec<CapField> = Vec::new();
        let mut seen: BTreeMap<&str, crate::source::Span> = BTreeMap::new();
        let mut roles: BTreeMap<Role, crate::source::Span> = BTreeMap::new();
        let mut cap_rights = Vec::new();
        let mut rights_field: Option<crate::source::Span> = None;
        let mut pins: Vec<Option<Pin>> = Vec::new();
        for field in &cap.fields {
            if let Some(first) = seen.insert(&field.name.name, field.name.span) {
                self.diags.push(
                    Diagnostic::new(
                        Code::DuplicateName,
                        field.name.span,
                        format!("field `{}` of `{name}` is defined twice", field.name.name),
                    )
                    .label("defined again here")
                    .with_secondary(first, "first defined here")
                    .help("rename one of them"),
                );
                ok = false;
                continue;
            }
            match self.check_field(name, field, object, address_bits, rights) {
                Some((f, pin)) => {
                    pins.push(pin);
                    if f.role != Role::Plain {
                        if let Some(first) = roles.get(&f.role) {
                            self.diags.push(
                                Diagnostic::new(
                                    Code::DuplicateRole,
                                    field.name.span,
                                    format!(
                                        "two fields of `{name}` have the role `{}`",
                                        role_name(f.role)
                                    ),
                                )
                                .label("second one here")
                                .with_secondary(*first, "first one here")
                                .help(format!(
                                    "keep `#[{}]` on one field only: a cap has at most one field per role",
                                    role_name(f.role)
                                )),
                            );
                            ok = false;
                        }
                        roles.insert(f.role, field.name.span);
                    }
                    if let FieldKind::Rights { allowed } = &f.kind {
                        if let Some(first) = rights_field {
                            self.diags.push(
                                Diagnostic::new(
                                    Code::DuplicateRole,
                                    field.name.span,
                                    format!("`{name}` has two rights fields"),
                                )
                                .label("second one here")
                                .with_secondary(first, "first one here")
                                .help("list every right in one `rights(...)` field"),
                            );
                            ok = false;
                        }
                        rights_field = Some(field.name.span);
                        cap_rights = allowed.clone();
                    }
                    fields.push(f);
                }
                None => ok = false,
            }
        }

        // Fields the object requires.
        // (A reply cap declared `for` an object is refused below instead.)
        if let (Some(object), true, false) = (object, ok, roles.contains_key(&Role::Caller)) {
            let mut needs: Vec<(Role, String)> = Vec::new();
            needs.push((
                Role::Object,
                format!(
                    "`#[identity] #[object] ptr: ptr(align = {})` to hold its address",
                    literal(1 << guaranteed_align_bits(object))
                ),
            ));
            if object.size.table.len() > 1 || object.size.is_bytes() {
                let param = object.size.param.as_deref().unwrap_or("size_arg");
                needs.push((
                    Role::SizeArg,
                    format!(
                        "`#[size_arg] {param}: u{}` to hold its size argument ({})",
                        bits_for(object.size.max_arg()),
                        allowed_args(&object.size)
                    ),
                ));
            }
            if object.kind == ast::ObjectKind::Untyped {
                let unit_bits = object.size.min_bits().min(4);
                needs.push((
                    Role::Watermark,
                    format!(
                        "`#[watermark(unit = {})] free_index: u{}` to record how much of it is retyped",
                        1u64 << unit_bits,
                        bits_for((1u64 << object.size.max_bits().min(63)) >> unit_bits)
                    ),
                ));
                if object.device {
                    needs.push((
                        Role::Device,
                        "`#[device] is_device: bool` since it may be device memory".into(),
                    ));
                }
            }
            for (role, what) in needs {
                if !roles.contains_key(&role) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::MissingObjectField,
                            cap.name.span,
                            format!(
                                "`{name}` names `{}` but has no `{}` field",
                                object.name,
                                role_name(role)
                            ),
                        )
                        .label(format!("missing the `#[{}]` field", role_name(role)))
                        .with_secondary(object.span, "object type declared here")
                        .help(format!("add a field {what}")),
                    );
                    ok = false;
                }
            }
        }
        if object_id.is_none() {
            for f in &fields {
                if matches!(
                    f.role,
                    Role::Object
                        | Role::SizeArg
                        | Role::Watermark
                        | Role::MappedAt
                        | Role::MappedIn
                        | Role::Asid
                ) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::AttributeMisuse,
                            f.span,
                            format!("`#[{}]` on a cap that names no object", role_name(f.role)),
                        )
                        .label("there is no object for this field to describe")
                        .with_secondary(cap.name.span, format!("`{name}` has no `for Object`"))
                        .help(format!(
                            "write `cap {name} for SomeObject`, or remove the attribute"
                        )),
                    );
                    ok = false;
                }
            }
        }
        if let (Some(&mapped_in), None) = (roles.get(&Role::MappedIn), roles.get(&Role::MappedAt)) {
            self.diags.push(
                Diagnostic::new(
                    Code::MappedInWithoutMappedAt,
                    mapped_in,
                    format!("`{name}` records an address space but no address"),
                )
                .label("this field has `#[mapped_in]`")
                .with_secondary(cap.name.span, format!("`{name}` has no `#[mapped_at]` field"))
                .note("the address space only means something together with where in it the object is mapped")
                .help("add `#[mapped_at] mapped_page: u36` (the virtual page number), or remove `#[mapped_in]`"),
            );
            ok = false;
        }
        // A reply cap names its caller without keeping it alive: it is no
        // cap to the caller's object, and (as seL4's) is never copied.
        if let Some(&caller) = roles.get(&Role::Caller) {
            if let Some(ident) = &cap.object {
                self.diags.push(
                    Diagnostic::new(
                        Code::ReplyCapMisuse,
                        caller,
                        format!("reply cap `{name}` is declared `for {}`", ident.name),
                    )
                    .label("`#[caller]` makes this a reply cap")
                    .with_secondary(ident.span, "a cap for an object keeps it alive")
                    .note("a reply cap names the thread waiting for a reply without being a cap to it: deleting the thread's last cap must stop it, whatever reply caps remain")
                    .help(format!("declare it `cap {name} {{ ... }}`, without `for`")),
                );
                ok = false;
            }
            if copy == CopyPolicy::Always {
                self.diags.push(
                    Diagnostic::new(
                        Code::ReplyCapMisuse,
                        copy_span.unwrap_or(cap.name.span),
                        format!("reply cap `{name}` is `#[always_copy]`"),
                    )
                    .label("a reply cap is never copied")
                    .with_secondary(caller, "`#[caller]` makes this a reply cap")
                    .note("the right to reply is one-shot: a copy would answer the same call twice")
                    .help("remove `#[always_copy]`"),
                );
                ok = false;
            }
            copy = CopyPolicy::Never;
        }
        // A frame's mapping is each cap's own (seL4 derives frame caps
        // unmapped); any other object's is the object's, shared by its caps.
        let mapping = roles.contains_key(&Role::MappedAt).then(|| match object {
            Some(o) if o.kind == ast::ObjectKind::Frame => Mapping::EachCap,
            _ => Mapping::Shared,
        });
        let never_span = match copy {
            CopyPolicy::Never => copy_span.or_else(|| roles.get(&Role::Caller).copied()),
            _ => None,
        };
        let copy_conditions = if ok {
            self.copy_conditions(name, &copy_attrs, &fields, copy, never_span, mapping)
        } else {
            None
        };
        let copy_conditions = copy_conditions?;
        let target = target?;
        if !self.lay_out(name, cap, target, &pins, &mut fields) {
            return None;
        }
        Some(model::CapType {
            docs: item.docs.clone(),
            name: name.clone(),
            tag: 0, // set by `check_caps` from the numbering pass
            object: object_id.map(|i| model::ObjectId(i as u32)),
            fields,
            rights: cap_rights,
            copy,
            mapping,
            copy_conditions,
            span: cap.name.span,
        })
    }

    fn check_field(
        &mut self,
        cap: &str,
        field: &ast::Field,
        object: Option<&model::Object>,
        address_bits: u32,
        rights: &[model::Right],
    ) -> Option<(CapField, Option<Pin>)> {
        let fname = &field.name.name;
        let mut values: Option<(usize, Span)> = None;
        let (kind, width) = match &field.ty {
            FieldType::Bool => (FieldKind::Bool, 1),
            FieldType::Enumeration(name) => {
                let i = self.resolve(name, "an enumeration", |s| match s {
                    TypeSym::Enumeration(i) => Some(i),
                    _ => None,
                })?;
                // A failed enumeration was reported with it.
                let bits = self.enumerations.get(i)?.as_ref()?.bits;
                values = Some((i, name.span));
                (FieldKind::Uint, bits)
            }
            FieldType::Uint(n) => {
                if !(1..=64).contains(n) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::FieldWidth,
                            field.ty_span,
                            format!("field `{fname}` of `{cap}` is {n} bits wide"),
                        )
                        .label("not in 1..=64")
                        .note("a field must fit in one 64-bit word")
                        .help("use `u1` to `u64`"),
                    );
                    return None;
                }
                (FieldKind::Uint, *n)
            }
            FieldType::Ptr { align } => {
                let value = self.eval_reported(align, None)?;
                if !value.is_power_of_two() {
                    self.diags.push(
                        Diagnostic::new(Code::AlignNotPowerOfTwo, align.span, format!("pointer `{fname}` of `{cap}` has an alignment that is not a power of two"))
                            .label(format!("{value} bytes"))
                            .help(format!("use {} bytes", value.checked_next_power_of_two().unwrap_or(1 << 63))),
                    );
                    return None;
                }
                let align_bits = value.trailing_zeros();
                if align_bits >= address_bits {
                    self.diags.push(
                        Diagnostic::new(
                            Code::FieldWidth,
                            align.span,
                            format!("pointer `{fname}` of `{cap}` would be stored in 0 bits"),
                        )
                        .label(format!("alignment 2^{align_bits}"))
                        .note(format!("the target has {address_bits}-bit addresses"))
                        .help("use a smaller alignment"),
                    );
                    return None;
                }
                (FieldKind::Ptr { align_bits }, address_bits - align_bits)
            }
            FieldType::Rights(names) => {
                let mut allowed = Vec::new();
                for r in names {
                    if let Some(id) = self.resolve_right(r) {
                        if allowed.contains(&id) {
                            self.diags.push(
                                Diagnostic::new(
                                    Code::DuplicateName,
                                    r.span,
                                    format!("right `{}` is listed twice", r.name),
                                )
                                .label("listed again here")
                                .help("list each right once"),
                            );
                            return None;
                        }
                        allowed.push(id);
                    } else {
                        return None;
                    }
                }
                allowed.sort();
                let width = rights.len() as u32;
                if width == 0 || width > 64 {
                    self.diags.push(
                        Diagnostic::new(
                            Code::FieldWidth,
                            field.ty_span,
                            format!("rights field `{fname}` of `{cap}` would be {width} bits wide"),
                        )
                        .label("a rights mask has one bit per declared right")
                        .help("declare between 1 and 64 rights in a `rights { ... }` block"),
                    );
                    return None;
                }
                (FieldKind::Rights { allowed }, width)
            }
        };

        let mut role = Role::Plain;
        let mut role_span = field.name.span;
        let mut identity = false;
        let mut unit_bits = 0;
        let mut pin: Option<Pin> = None;
        let mut sign_extend: Option<crate::source::Span> = None;
        let mut whole_word: Option<crate::source::Span> = None;
        let mut virtual_offset: Option<(u64, crate::source::Span)> = None;
        let mut size_bytes: Option<crate::source::Span> = None;
        for attr in &field.attrs {
            let aname = attr.name.name.as_str();
            if !FIELD_ATTRS.contains(&aname) {
                self.unknown_attribute(&attr.name, aname, &FIELD_ATTRS, "field");
                return None;
            }
            if aname == "at" {
                if let Some(first) = pin {
                    self.attr_given_twice(attr, first.span, fname);
                    return None;
                }
                pin = Some(self.field_pin(attr, "word")?);
                continue;
            }
            if aname == "sign_extend" {
                if let Some(first) = sign_extend {
                    self.attr_given_twice(attr, first, fname);
                    return None;
                }
                if attr.has_args() {
                    self.attr_takes_no_args(attr);
                    return None;
                }
                self.check_sign_extend(attr, field, &kind, width, address_bits)?;
                sign_extend = Some(attr.span);
                continue;
            }
            if aname == "whole_word" {
                if let Some(first) = whole_word {
                    self.attr_given_twice(attr, first, fname);
                    return None;
                }
                if attr.has_args() {
                    self.attr_takes_no_args(attr);
                    return None;
                }
                self.check_whole_word(attr, field, &kind)?;
                whole_word = Some(attr.span);
                continue;
            }
            if aname == "identity" {
                if attr.has_args() {
                    self.attr_takes_no_args(attr);
                    return None;
                }
                identity = true;
                continue;
            }
            let new_role = ROLE_ATTRS
                .iter()
                .find(|(n, _)| *n == aname)
                .map(|(_, r)| *r)
                .expect("listed");
            if role == new_role {
                self.diags.push(
                    Diagnostic::new(
                        Code::AttributeMisuse,
                        attr.span,
                        format!("`#[{aname}]` is given twice on field `{fname}`"),
                    )
                    .label("given again here")
                    .with_secondary(role_span, "first given here")
                    .help("remove one of them"),
                );
                return None;
            }
            if role != Role::Plain {
                self.diags.push(
                    Diagnostic::new(
                        Code::AttributeMisuse,
                        attr.span,
                        format!("field `{fname}` has two roles"),
                    )
                    .label(format!("`#[{aname}]` after `#[{}]`", role_name(role)))
                    .with_secondary(role_span, "first role given here")
                    .help("a field has at most one role; `#[identity]` may be added to any"),
                );
                return None;
            }
            let wanted = match new_role {
                Role::Object | Role::Caller => matches!(kind, FieldKind::Ptr { .. })
                    .then_some(())
                    .ok_or(("a `ptr(...)`", "ptr(align = ...)")),
                Role::Device => matches!(kind, FieldKind::Bool)
                    .then_some(())
                    .ok_or(("a `bool`", "bool")),
                _ => matches!(kind, FieldKind::Uint)
                    .then_some(())
                    .ok_or(("an integer `uN`", "uN")),
            };
            if let Err((expected, written)) = wanted {
                self.diags.push(
                    Diagnostic::new(
                        Code::AttributeMisuse,
                        attr.span,
                        format!(
                            "`#[{aname}]` needs {expected} field, but `{fname}` is {}",
                            describe_field_type(&field.ty)
                        ),
                    )
                    .label(format!("needs {expected} field"))
                    .with_secondary(field.ty_span, format!("not {expected}"))
                    .help(format!(
                        "write `{fname}: {written}`, or remove `#[{aname}]`"
                    )),
                );
                return None;
            }
            if new_role == Role::Watermark {
                let unit = match attr.args.as_slice() {
                    [(key, value)] if key.name == "unit" && attr.flags.is_empty() => {
                        self.eval_reported(value, None)?
                    }
                    _ => {
                        self.diags.push(
                            Diagnostic::new(Code::AttributeMisuse, attr.span, "`#[watermark]` needs its unit")
                                .label("expected `#[watermark(unit = N)]`")
                                .note("the watermark counts bytes in units of N (a power of two, e.g. 16)")
                                .help("write `#[watermark(unit = 16)]`"),
                        );
                        return None;
                    }
                };
                if !unit.is_power_of_two() {
                    self.diags.push(
                        Diagnostic::new(
                            Code::AlignNotPowerOfTwo,
                            attr.span,
                            format!("the watermark unit of `{fname}` is not a power of two"),
                        )
                        .label(format!("{unit} bytes"))
                        .help("use a power of two such as 16"),
                    );
                    return None;
                }
                unit_bits = unit.trailing_zeros();
            } else if new_role == Role::SizeArg && attr.has_args() {
                match attr.flags.as_slice() {
                    [flag]
                        if flag.name == "bytes"
                            && attr.args.is_empty()
                            && attr.values.is_empty() =>
                    {
                        size_bytes = Some(attr.span);
                    }
                    _ => {
                        self.diags.push(
                            Diagnostic::new(Code::AttributeMisuse, attr.span, "`#[size_arg]` takes one argument, `bytes`")
                                .label("expected `#[size_arg]` or `#[size_arg(bytes)]`")
                                .note("with `bytes` the field holds the object's size in bytes, `1 << arg`, rather than its size argument")
                                .help("write `#[size_arg]`, or `#[size_arg(bytes)]`"),
                        );
                        return None;
                    }
                }
            } else if new_role == Role::Object && attr.has_args() {
                match attr.args.as_slice() {
                    [(key, value)]
                        if key.name == "virtual_offset"
                            && attr.flags.is_empty()
                            && attr.values.is_empty() =>
                    {
                        virtual_offset = Some((self.eval_reported(value, None)?, value.span));
                    }
                    _ => {
                        self.diags.push(
                            Diagnostic::new(Code::AttributeMisuse, attr.span, "`#[object]` takes one argument, `virtual_offset`")
                                .label("expected `#[object]` or `#[object(virtual_offset = N)]`")
                                .note("with `virtual_offset = N` the field holds the object's kernel-virtual address, its address plus N")
                                .help("write `#[object]`, or `#[object(virtual_offset = N)]`"),
                        );
                        return None;
                    }
                }
            } else if attr.has_args() {
                self.attr_takes_no_args(attr);
                return None;
            }
            role = new_role;
            role_span = attr.span;
        }

        // A role the named object has no use for.
        if let Some(o) = object {
            let misuse = match role {
                Role::SizeArg if o.size.param.is_none() => Some(format!(
                    "`{}` has a fixed size, so there is no size argument to hold",
                    o.name
                )),
                Role::Watermark if o.kind != ast::ObjectKind::Untyped => Some(format!(
                    "`{}` is not `untyped`, so nothing is retyped from it",
                    o.name
                )),
                _ => None,
            };
            if let Some(why) = misuse {
                self.diags.push(
                    Diagnostic::new(
                        Code::AttributeMisuse,
                        role_span,
                        format!("`#[{}]` on a cap to `{}`", role_name(role), o.name),
                    )
                    .label("not valid for this object")
                    .with_secondary(o.span, "object type declared here")
                    .note(why)
                    .help(format!("remove `#[{}]`", role_name(role))),
                );
                return None;
            }
        }

        // A size in bytes stands for one argument only if the size is
        // `1 << arg` for every argument.
        if let (Some(span), Some(o)) = (size_bytes, object) {
            if o.size.is_bytes() {
                self.diags.push(
                    Diagnostic::new(
                        Code::BytesMixedUse,
                        span,
                        format!(
                            "`{fname}` says `{}`'s size argument is a log2, but `{}` is byte-sized",
                            o.name, o.name
                        ),
                    )
                    .label("`(bytes)` converts a log2 to bytes")
                    .with_secondary(
                        o.span,
                        "byte-sized (`#[bytes]`): its size argument is already in bytes",
                    )
                    .help("write `#[size_arg]`: the field holds the size in bytes as it is"),
                );
                return None;
            }
            if let Some((arg, bits)) = o.size.table.iter().find(|(a, b)| u64::from(*b) != *a) {
                self.diags.push(
                    Diagnostic::new(
                        Code::SizeBytesRule,
                        span,
                        format!("`{fname}` cannot hold `{}`'s size in bytes", o.name),
                    )
                    .label("the size in bytes")
                    .with_secondary(o.span, format!("size argument {arg} gives 2^{bits} bytes"))
                    .note("a size in bytes is read back as its argument, log2 of the bytes, so the object's size must be `1 << arg` for every argument")
                    .help(format!("write `size = 1 << {};` with the argument the log2 of the size, or use `#[size_arg]`", o.size.param.as_deref().unwrap_or("arg"))),
                );
                return None;
            }
        }
        if let Some((i, span)) = values {
            self.check_enumerated_role(cap, fname, i, span, role, role_span, size_bytes, object)?;
        }
        // Does the field hold every value it must?
        let needed: Option<(u64, String)> = match (role, object) {
            (Role::SizeArg, Some(o)) if size_bytes.is_some() => Some((
                1u64 << o.size.max_arg().min(63),
                format!("the largest `{}` in bytes", o.name),
            )),
            (Role::SizeArg, Some(o)) => Some((
                o.size.max_arg(),
                format!("the largest size argument of `{}`", o.name),
            )),
            (Role::Watermark, Some(o)) if o.size.is_bytes() => {
                let max = o.size.max_arg();
                let units = max.div_ceil(1u64 << unit_bits.min(63));
                Some((
                    units,
                    format!(
                        "a full `{}` of {} is {} units of {}",
                        o.name,
                        literal(max),
                        count(units),
                        pow2_bytes(unit_bits)
                    ),
                ))
            }
            (Role::Watermark, Some(o)) => {
                let max_bits = o.size.max_bits().min(63);
                let units = (1u64 << max_bits) >> unit_bits;
                Some((
                    units,
                    format!(
                        "a full `{}` of {} is {} units of {}",
                        o.name,
                        pow2_bytes(max_bits),
                        count(units),
                        pow2_bytes(unit_bits)
                    ),
                ))
            }
            _ => None,
        };
        if let Some((max, what)) = needed
            && bits_for(max) > width
        {
            let held = if width >= 64 {
                count(u64::MAX)
            } else if width > 16 {
                format!("2^{width} - 1")
            } else {
                ((1u64 << width) - 1).to_string()
            };
            self.diags.push(
                Diagnostic::new(
                    Code::FieldTooNarrow,
                    field.ty_span,
                    format!("field `{fname}` of `{cap}` is too narrow"),
                )
                .label(format!("{width} bits hold at most {held}"))
                .note(format!(
                    "it must hold {} ({what}), which needs {} bits",
                    count(max),
                    bits_for(max)
                ))
                .help(format!("make it `u{}`", bits_for(max))),
            );
            return None;
        }
        if let (Role::Object, Some(o), FieldKind::Ptr { align_bits }) = (role, object, &kind) {
            let guaranteed = guaranteed_align_bits(o);
            if *align_bits > guaranteed {
                self.diags.push(
                    Diagnostic::new(
                        Code::MisalignedPointer,
                        field.ty_span,
                        format!(
                            "pointer `{fname}` assumes more alignment than `{}` has",
                            o.name
                        ),
                    )
                    .label(format!(
                        "stores addresses aligned to {}",
                        bytes(1 << align_bits)
                    ))
                    .with_secondary(
                        o.span,
                        format!(
                            "the smallest `{}` is aligned to {}",
                            o.name,
                            bytes(1 << guaranteed)
                        ),
                    )
                    .note("the low bits of the address would be dropped when the pointer is stored")
                    .help(format!("use `ptr(align = {})`", 1u64 << guaranteed)),
                );
                return None;
            }
        }
        if let (Some(whole), Some(extend)) = (whole_word, sign_extend) {
            self.diags.push(
                Diagnostic::new(
                    Code::WholeWordSignExtend,
                    whole,
                    format!("`#[whole_word]` and `#[sign_extend]` on field `{fname}`"),
                )
                .label("the pointer is stored as the whole 64-bit address")
                .with_secondary(extend, "this reads back bits the field does not store")
                .note("a whole-word pointer keeps all 64 bits of the address, so there are no bits above it to sign-extend")
                .help("remove `#[sign_extend]` (a whole word reads back `0xffff8...` addresses as they were set), or `#[whole_word]`"),
            );
            return None;
        }
        // A whole-word pointer keeps its address unshifted in all 64 bits.
        let width = if whole_word.is_some() { 64 } else { width };
        if let (Some((offset, span)), FieldKind::Ptr { align_bits }) = (virtual_offset, &kind) {
            if let Some(extend) = sign_extend {
                self.diags.push(
                    Diagnostic::new(
                        Code::AttributeMisuse,
                        extend,
                        format!("`#[sign_extend]` with a virtual offset on field `{fname}`"),
                    )
                    .label("not with `virtual_offset`")
                    .with_secondary(span, "the field holds the address plus this offset")
                    .note("a field holds either a canonical address or an address plus an offset")
                    .help("remove `#[sign_extend]`, or the virtual offset"),
                );
                return None;
            }
            if address_bits < 64 && offset >> address_bits != 0 {
                self.diags.push(
                    Diagnostic::new(
                        Code::VirtualOffsetTooLarge,
                        span,
                        format!("the virtual offset of `{fname}` is outside the address space"),
                    )
                    .label(format!("{offset:#x} needs more than {address_bits} bits"))
                    .with_secondary(field.ty_span, format!("holds {address_bits}-bit addresses"))
                    .note("the field holds the address plus the offset, which must be an address the target has")
                    .help(format!("use an offset below 2^{address_bits}, or a target with `address_bits = 64`")),
                );
                return None;
            }
            let align = 1u64 << (*align_bits).min(63);
            if offset % align != 0 {
                self.diags.push(
                    Diagnostic::new(
                        Code::VirtualOffsetMisaligned,
                        span,
                        format!("the virtual offset of `{fname}` is not a multiple of its alignment"),
                    )
                    .label(format!("{offset:#x} is not a multiple of {}", bytes(align)))
                    .with_secondary(field.ty_span, format!("stores addresses aligned to {}", bytes(align)))
                    .note("the field stores the address plus the offset, shifted right by the alignment: the offset's low bits would be lost")
                    .help(format!(
                        "use an offset that is a multiple of {}, or `ptr(align = 1)`",
                        bytes(align)
                    )),
                );
                return None;
            }
        }
        Some((
            CapField {
                docs: field.docs.clone(),
                name: fname.clone(),
                kind,
                role,
                identity,
                unit_bits,
                sign_extend: sign_extend.is_some(),
                whole_word: whole_word.is_some(),
                virtual_offset: virtual_offset.map_or(0, |(offset, _)| offset),
                size_bytes: size_bytes.is_some(),
                word: 0,
                shift: 0,
                width: width as u8,
                values: values.map(|(i, _)| model::EnumerationId(i as u32)),
                span: field.name.span,
            },
            pin,
        ))
    }

    /// `#[at(word = W, bit = B)]`: both keys, once each, nothing else
    /// (`E0404`), on a field of a cap (its `words` are the cap's words, its
    /// values checked against them by [`Self::lay_out`]) or of a bitfield
    /// (message words).
    pub(super) fn field_pin(&mut self, attr: &ast::Attribute, words: &str) -> Option<Pin> {
        let mut word = None;
        let mut bit = None;
        let mut wrong = !attr.flags.is_empty() || !attr.values.is_empty() || !attr.calls.is_empty();
        for (key, value) in &attr.args {
            let slot = match key.name.as_str() {
                "word" => &mut word,
                "bit" => &mut bit,
                _ => {
                    wrong = true;
                    continue;
                }
            };
            if slot.is_some() {
                wrong = true;
            }
            *slot = Some(value);
        }
        let (Some(word), Some(bit), false) = (word, bit, wrong) else {
            self.diags.push(
                Diagnostic::new(
                    Code::AttributeMisuse,
                    attr.span,
                    "`#[at]` needs the field's word and lowest bit",
                )
                .label("expected `#[at(word = W, bit = B)]`")
                .note(format!(
                    "the field takes bits B..B + its width of {words} W (words count from 0)"
                ))
                .help("write e.g. `#[at(word = 0, bit = 0)]`"),
            );
            return None;
        };
        let word = self.eval_reported(word, None)?;
        let bit = self.eval_reported(bit, None)?;
        Some(Pin {
            word,
            bit,
            span: attr.span,
        })
    }

    /// `#[sign_extend]` goes on a pointer narrower than a word once its
    /// alignment is put back (`E0404`).
    /// An enumerated field holds a plain value or, with `#[size_arg]`, the
    /// object's size argument when the enumeration names every one
    /// (`E0453`): the generated code reads it back as the enumeration.
    #[allow(clippy::too_many_arguments)]
    fn check_enumerated_role(
        &mut self,
        cap: &str,
        fname: &str,
        enumeration: usize,
        ty_span: Span,
        role: Role,
        role_span: Span,
        size_bytes: Option<Span>,
        object: Option<&model::Object>,
    ) -> Option<()> {
        let e = self.enumerations[enumeration].as_ref()?;
        let ename = e.name.clone();
        let unnamed = match (role, object) {
            (Role::Plain, _) => None,
            (Role::SizeArg, Some(o)) if size_bytes.is_none() => o
                .size
                .table
                .iter()
                .map(|(arg, _)| *arg)
                .find(|arg| e.named(*arg).is_none())
                .map(|arg| {
                    (
                        "its values are not all named",
                        format!("`{ename}` names no size argument {arg} of `{}`", o.name),
                        format!("every size argument of `{}` must be one of `{ename}`'s values", o.name),
                        format!("add a variant `= {arg}` to `{ename}`, or make `{fname}` a `uN`"),
                    )
                }),
            (Role::SizeArg, _) if size_bytes.is_none() => None,
            _ => Some((
                "not a role of an enumerated field",
                format!(
                    "`#[{}]` on enumerated field `{fname}` of `{cap}`",
                    if size_bytes.is_some() {
                        "size_arg(bytes)"
                    } else {
                        role_name(role)
                    }
                ),
                "an enumerated field holds one of its enumeration's values: a plain field, or with `#[size_arg]` the object's size argument".to_string(),
                format!("make `{fname}` a `uN`, or remove the attribute"),
            )),
        };
        let Some((label, message, note, help)) = unnamed else {
            return Some(());
        };
        self.diags.push(
            Diagnostic::new(Code::EnumerationFieldRole, role_span, message)
                .label(label)
                .with_secondary(ty_span, format!("`{fname}` holds a `{ename}`"))
                .note(note)
                .help(help),
        );
        None
    }

    /// `#[whole_word]` is only for a pointer: `E0919` on any other field.
    fn check_whole_word(
        &mut self,
        attr: &ast::Attribute,
        field: &ast::Field,
        kind: &FieldKind,
    ) -> Option<()> {
        if matches!(kind, FieldKind::Ptr { .. }) {
            return Some(());
        }
        let fname = &field.name.name;
        self.diags.push(
            Diagnostic::new(
                Code::WholeWordNotPointer,
                attr.span,
                format!("`#[whole_word]` on field `{fname}`, which is not a pointer"),
            )
            .label("only a `ptr(...)` field is stored as a whole word")
            .with_secondary(field.ty_span, "this type")
            .note(format!(
                "`{fname}` is {}; an integer field is as wide as its type says (`u64` is a whole word)",
                describe_field_type(&field.ty)
            ))
            .help("make the field a `ptr(align = ...)`, or remove `#[whole_word]` (a `u64` already takes a whole word)"),
        );
        None
    }

    fn check_sign_extend(
        &mut self,
        attr: &ast::Attribute,
        field: &ast::Field,
        kind: &FieldKind,
        width: u32,
        address_bits: u32,
    ) -> Option<()> {
        let fname = &field.name.name;
        let why = match kind {
            FieldKind::Ptr { align_bits } if width + align_bits < 64 => return Some(()),
            FieldKind::Ptr { .. } => format!(
                "the target's addresses are {address_bits} bits: the pointer is a whole word, with no bits above it to fill"
            ),
            _ => format!(
                "`{fname}` is {}; only an address is sign-extended",
                describe_field_type(&field.ty)
            ),
        };
        self.diags.push(
            Diagnostic::new(
                Code::AttributeMisuse,
                attr.span,
                format!("`#[sign_extend]` on field `{fname}` has nothing to extend"),
            )
            .label("not valid on this field")
            .with_secondary(field.ty_span, "this type")
            .note(why)
            .help("put `#[sign_extend]` only on a `ptr(...)` field of a target with `address_bits` below 64 (x86_64's canonical addresses: `address_bits = 48`), or remove it"),
        );
        None
    }

    fn attr_given_twice(&mut self, attr: &ast::Attribute, first: crate::source::Span, fname: &str) {
        self.diags.push(
            Diagnostic::new(
                Code::AttributeMisuse,
                attr.span,
                format!("`#[{}]` is given twice on field `{fname}`", attr.name.name),
            )
            .label("given again here")
            .with_secondary(first, "first given here")
            .help("remove one of them"),
        );
    }

    /// Places the tag and the fields with `#[at]` where they say, then each
    /// other field at the lowest run of free bits that holds it in the
    /// first word that has one; reports a misplaced field (`E0430` to
    /// `E0432`), or the budget of every word when one does not fit
    /// (`E0400`).
    fn lay_out(
        &mut self,
        name: &str,
        cap: &ast::CapItem,
        target: &model::Target,
        pins: &[Option<Pin>],
        fields: &mut [CapField],
    ) -> bool {
        let (tag_bits, tag_shift, cap_words) =
            (target.tag_bits, target.tag_shift, target.cap_words);
        let mut used = vec![0u64; cap_words as usize];
        used[0] = low_bits(tag_bits) << tag_shift;
        let mut placed = vec![false; fields.len()];
        let mut ok = true;
        for (i, pin) in pins.iter().enumerate() {
            let Some(pin) = pin else { continue };
            let width = u32::from(fields[i].width);
            if let Some(d) = self.misplaced(name, target, fields, &placed, i, *pin, &used) {
                self.diags.push(d);
                ok = false;
                continue;
            }
            let (word, bit) = (pin.word as usize, pin.bit as u32);
            fields[i].word = word as u8;
            fields[i].shift = bit as u8;
            used[word] |= low_bits(width) << bit;
            placed[i] = true;
        }
        if !ok {
            return false;
        }
        for i in 0..fields.len() {
            if placed[i] {
                continue;
            }
            let width = fields[i].width as u32;
            match (0..used.len()).find_map(|w| Some((w, free_run(used[w], width)?))) {
                Some((word, bit)) => {
                    fields[i].word = word as u8;
                    fields[i].shift = bit as u8;
                    used[word] |= low_bits(width) << bit;
                    placed[i] = true;
                }
                None => {
                    let mut budget = vec![Vec::new(); used.len()];
                    budget[0].push(format!("tag {tag_bits}"));
                    for (f, _) in fields.iter().zip(&placed).filter(|(_, p)| **p) {
                        budget[f.word as usize].push(format!("{} {}", f.name, f.width));
                    }
                    let total: u32 = tag_bits + fields.iter().map(|f| f.width as u32).sum::<u32>();
                    let words = match cap_words {
                        2 => "two".to_string(),
                        n => n.to_string(),
                    };
                    let mut d = Diagnostic::new(
                        Code::LayoutOverflow,
                        cap.name.span,
                        format!("cap type `{name}` does not fit in {words} 64-bit words"),
                    )
                    .label(format!("{total} bits of fields and tag"))
                    .with_secondary(
                        fields[i].span,
                        format!("`{}` needs {width} bits", fields[i].name),
                    );
                    for (w, parts) in budget.iter().enumerate() {
                        let list = if parts.is_empty() {
                            "empty".to_string()
                        } else {
                            parts.join(" + ")
                        };
                        let taken = used[w].count_ones();
                        d = d.note(format!(
                            "word {w}: {list} = {taken} of 64 bits used, {} free",
                            64 - taken
                        ));
                    }
                    if used.iter().any(|u| 64 - u.count_ones() >= width) {
                        d = d.note(format!(
                            "a word has {width} free bits, but not side by side: the fields placed with `#[at]` split them"
                        ));
                    }
                    self.diags.push(
                        d.note("no field may cross a word boundary")
                            .help("narrow a field, store a pointer with a larger alignment, move a field to another cap type, or give caps more words (`cap_words` in the target)"),
                    );
                    return false;
                }
            }
        }
        true
    }

    /// Why field `i` cannot go where its `#[at]` says, if it cannot: a word
    /// the cap does not have (`E0432`), bits past the word's end (`E0431`)
    /// or bits the tag or an earlier placed field holds (`E0430`).
    #[allow(clippy::too_many_arguments)]
    fn misplaced(
        &self,
        name: &str,
        target: &model::Target,
        fields: &[CapField],
        placed: &[bool],
        i: usize,
        pin: Pin,
        used: &[u64],
    ) -> Option<Diagnostic> {
        let field = &fields[i];
        let fname = &field.name;
        let width = u64::from(field.width);
        let cap_words = target.cap_words;
        if pin.word >= u64::from(cap_words) {
            return Some(
                Diagnostic::new(
                    Code::FieldOutsideCap,
                    pin.span,
                    format!("field `{fname}` of `{name}` is placed in word {}, which caps do not have", pin.word),
                )
                .label(format!("word {}", pin.word))
                .with_secondary(target.span, format!("caps are {cap_words} words here (`cap_words`)"))
                .note(format!("the words of a cap are numbered 0..{cap_words}"))
                .help(if pin.word < 8 {
                    format!("use a word below {cap_words}, or give caps more words (`cap_words = {};` in the target)", pin.word + 1)
                } else {
                    format!("use a word below {cap_words}: a cap has at most 8 words (`cap_words`)")
                }),
            );
        }
        if pin.bit.saturating_add(width) > 64 {
            let end = pin.bit.saturating_add(width);
            return Some(
                Diagnostic::new(
                    Code::FieldCrossesWord,
                    pin.span,
                    format!(
                        "field `{fname}` of `{name}` runs past the end of word {}",
                        pin.word
                    ),
                )
                .label(format!("bits {}..{end}", pin.bit))
                .with_secondary(field.span, format!("`{fname}` is {width} bits wide"))
                .note("a field lies in one 64-bit word (bits 0..64): none crosses into the next")
                .help(format!("start it at bit {} or lower", 64 - width)),
            );
        }
        let (word, bit) = (pin.word as usize, pin.bit as u32);
        let mine = low_bits(width as u32) << bit;
        if used[word] & mine == 0 {
            return None;
        }
        let range = |shift: u32, width: u32| format!("bits {shift}..{}", shift + width);
        let mut d = Diagnostic::new(
            Code::FieldOverlap,
            pin.span,
            format!("field `{fname}` of `{name}` overlaps"),
        )
        .label(format!("{} of word {word}", range(bit, width as u32)));
        let tag = low_bits(target.tag_bits) << target.tag_shift;
        let other = fields
            .iter()
            .zip(placed)
            .find(|(f, p)| {
                **p && usize::from(f.word) == word
                    && low_bits(f.width.into()) << f.shift & mine != 0
            })
            .map(|(f, _)| f);
        d = match other {
            Some(f) => d.with_secondary(
                f.span,
                format!(
                    "`{}` is at {} of word {word}",
                    f.name,
                    range(f.shift.into(), f.width.into())
                ),
            ),
            None if word == 0 && tag & mine != 0 => d.with_secondary(
                target.span,
                format!(
                    "the tag is at {} of word 0",
                    range(target.tag_shift, target.tag_bits)
                ),
            ),
            None => d,
        };
        let free = (0..used.len()).find_map(|w| Some((w, free_run(used[w], width as u32)?)));
        let help = match free {
            Some((w, b)) => format!(
                "move it to free bits, e.g. `#[at(word = {w}, bit = {b})]`, or remove `#[at]` and let capc place it"
            ),
            None => "move one of the two fields to another cap type, or give caps more words (`cap_words`)".to_string(),
        };
        Some(
            d.note("two fields, or a field and the tag, cannot share a bit")
                .help(help),
        )
    }

    pub(super) fn unknown_attribute(
        &mut self,
        ident: &ast::Ident,
        name: &str,
        known: &[&str],
        on: &str,
    ) {
        let mut d = Diagnostic::new(
            Code::UnknownAttribute,
            ident.span,
            format!("unknown {on} attribute `#[{name}]`"),
        )
        .label("not an attribute capc knows");
        d = match crate::diag::closest(name, known.iter().copied()) {
            Some(c) => d.help(format!("did you mean `#[{c}]`?")).suggest(
                ident.span,
                c,
                crate::diag::closeness(name, c, known.iter().copied()),
            ),
            None => d.help(format!("{on} attributes are {}", super::list(known))),
        };
        self.diags.push(d);
    }

    pub(super) fn attr_takes_no_args(&mut self, attr: &ast::Attribute) {
        self.diags.push(
            Diagnostic::new(
                Code::AttributeMisuse,
                attr.span,
                format!("`#[{}]` takes no arguments", attr.name.name),
            )
            .label("unexpected arguments")
            .help(format!("write `#[{}]`", attr.name.name)),
        );
    }
}

/// The low `width` bits set.
fn low_bits(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1 << width) - 1
    }
}

/// The lowest bit of the first run of `width` bits that are clear in
/// `used`, if the word has one.
fn free_run(used: u64, width: u32) -> Option<u32> {
    (0..=64u32.checked_sub(width)?).find(|b| used & (low_bits(width) << b) == 0)
}

/// The attribute that gives a field `role`.
pub fn role_name(role: Role) -> &'static str {
    ROLE_ATTRS
        .iter()
        .find(|(_, r)| *r == role)
        .map_or("plain", |(n, _)| n)
}

/// log2 of the alignment every object of type `o` has, whatever its size argument.
fn guaranteed_align_bits(o: &model::Object) -> u32 {
    if let Some(b) = o.size.bytes {
        return o.align_bits.unwrap_or(b.granule_bits);
    }
    o.size
        .table
        .iter()
        .map(|(_, b)| o.align_bits_for(*b))
        .min()
        .unwrap_or(0)
}

/// A byte count as a `.cap` literal: `2 KiB`, `16`.
pub(super) fn literal(value: u64) -> String {
    const UNITS: [(u32, &str); 4] = [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")];
    for (shift, unit) in UNITS {
        if value >= 1 << shift && value % (1 << shift) == 0 {
            return format!("{} {unit}", value >> shift);
        }
    }
    value.to_string()
}

/// `2^bits` bytes, short: `128 TiB`, `16 bytes`.
pub(super) fn pow2_bytes(bits: u32) -> String {
    match literal(1u64 << bits.min(63)) {
        _ if bits == 0 => "1 byte".to_string(),
        s if bits < 10 => format!("{s} bytes"),
        s => s,
    }
}

/// A count as people read it: small numbers in full, large powers of two as `2^n`.
fn count(value: u64) -> String {
    if value > 1 << 16 && value.is_power_of_two() {
        format!("2^{}", value.trailing_zeros())
    } else {
        value.to_string()
    }
}

/// The values a size argument may take: `12 or 21`, `4..=47`.
fn allowed_args(size: &model::SizeRule) -> String {
    if let Some(b) = size.bytes {
        return format!(
            "{}..={} bytes, multiples of {}",
            b.min,
            b.max,
            1u64 << b.granule_bits
        );
    }
    let span = (size.max_arg() - size.min_arg()).checked_add(1);
    let contiguous = span == Some(size.table.len() as u64);
    if size.table.len() > 1 && (contiguous || size.table.len() > 8) {
        return format!("{}..={}", size.min_arg(), size.max_arg());
    }
    let values: Vec<String> = size.table.iter().map(|(a, _)| a.to_string()).collect();
    match values.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// A field type as written, for messages: `u8`, `bool`, `a pointer`.
fn describe_field_type(ty: &FieldType) -> String {
    match ty {
        FieldType::Enumeration(name) => format!("an enumeration (`{}`)", name.name),
        FieldType::Bool => "a `bool`".to_string(),
        FieldType::Uint(n) => format!("a `u{n}`"),
        FieldType::Ptr { .. } => "a `ptr(...)`".to_string(),
        FieldType::Rights(_) => "a `rights(...)` mask".to_string(),
    }
}
