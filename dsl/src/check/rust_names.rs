//! Names the generated Rust code cannot carry (`E0107`).
//!
//! Every name in a spec becomes a Rust identifier, as written, in
//! snake_case or in CamelCase. Rust keywords that raw identifiers can carry
//! (`type`, `move`, `fn` ...) are escaped by the backend (`r#type`); the
//! names rejected here are those no escape makes valid, and cap field names
//! that would clash with what every cap view already has. Checking them here
//! keeps the promise that a spec that checks generates code that compiles,
//! and means the backend never meets a name it cannot spell.

use std::collections::BTreeMap;

use crate::ast::{Ident, ItemKind};
use crate::diag::{Code, Diagnostic};
use crate::source::Span;

use super::Ctx;
use super::types::DataDecl;

/// Members every generated cap view has besides its field accessors.
const VIEW_MEMBERS: &[&str] = &[
    "new",
    "from_cap",
    "cap",
    "TAG",
    "VALID_RIGHTS",
    "is_mapped",
    "with_cap_data",
];

/// Members of every generated `<Interface>Client` besides its methods (the
/// private `call` sends a request).
const CLIENT_MEMBERS: &[&str] = &["new", "transport", "into_transport", "call"];

/// Members of every generated `<Callback>Sender` besides its messages.
const SENDER_MEMBERS: &[&str] = &["new", "slot"];

/// Constants the generated module defines at its top level whatever the
/// spec says: a spec constant of one of these names would clash. (A test
/// in codegen/tests/rust_names.rs checks that the list is complete.)
pub const RESERVED_CONST_NAMES: &[&str] = &[
    "ASID_POOL",
    "DERIVE_RULES",
    "PAGE_BITS",
    "TABLE_ROOT",
    "USER_SPACE",
];

/// Type names the generated module defines whatever the spec says, and the
/// names of Rust's prelude it uses unqualified: a cap type, error set or
/// interface of one of these names would clash with them. (A test in
/// codegen/tests/rust_names.rs checks that every fixed type of the
/// generated modules is listed.)
pub const RESERVED_TYPE_NAMES: &[&str] = &[
    // The generated module's own types.
    "AsidPoolShape",
    "BoundedArray",
    "BoundedString",
    "CallError",
    "Cap",
    "CapType",
    "CopyPolicy",
    "DecodeError",
    "DeriveError",
    "DeriveRule",
    "Destination",
    "Donation",
    "DonationKind",
    "FieldError",
    "Finaliser",
    "FrameRange",
    "InvocationError",
    "KernelObject",
    "Lease",
    "LeaseAccess",
    "LeaseElement",
    "LeaseError",
    "LeaseMemory",
    "LeaseRead",
    "LeaseReadWrite",
    "LeaseReadable",
    "LeaseWritable",
    "LeaseWrite",
    "Mapping",
    "MessageInfo",
    "Notifier",
    "ObjectType",
    "OwnedSlot",
    "Placement",
    "ProtocolError",
    "RetypeError",
    "RetypeRequest",
    "RetypeRule",
    "Rights",
    "SendError",
    "SizeError",
    "Slot",
    "Split",
    "TableShape",
    "Transport",
    "UntypedMemory",
    "Wire",
    // Rust's prelude, as the generated code uses it.
    "Clone",
    "Copy",
    "Debug",
    "Default",
    "Eq",
    "Err",
    "From",
    "Hash",
    "Into",
    "None",
    "Ok",
    "Option",
    "Ord",
    "PartialEq",
    "PartialOrd",
    "Result",
    "Some",
];

/// `CNodeCap` -> `cnode_cap`: how the backend turns a name into a function
/// name (it calls this, so the checker and the generated code agree).
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            // Length of the run of capitals just before this one: `IPCBuffer`
            // splits before `B`, but a single capital (`CNode`) stays whole.
            let run = chars[..i]
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_uppercase())
                .count();
            if i > 0 && (prev_lower || (run >= 2 && next_lower)) && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(*c);
        }
    }
    out
}

/// For a cap field starting with `_`, or a method starting or ending with
/// one: the generated name that would have two underscores in a row at the
/// joint (`set__pad0`), and the hint.
fn joint_underscore(
    name: &Ident,
    fields: &[&Ident],
    methods: &[&Ident],
) -> Option<(String, String)> {
    let n = &name.name;
    let trimmed = n.trim_matches('_');
    if fields.contains(&name) && n.starts_with('_') {
        return Some((
            format!("its setter would be `set_{n}`"),
            format!(
                "rename it `{trimmed}`; a field only there to skip bits is not needed: place the next field with `#[at(word = W, bit = B)]`"
            ),
        ));
    }
    if methods.contains(&name) && (n.starts_with('_') || n.ends_with('_')) {
        return Some((
            format!(
                "the method's functions would be `encode_<cap>_{n}` and `decode_<cap>_{n}_reply`"
            ),
            format!("rename it `{trimmed}`"),
        ));
    }
    None
}

/// `name` with every run of underscores inside it made one.
fn collapse_underscores(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out
}

/// Why `name` cannot be a Rust identifier in any form the backend makes of
/// it, if it cannot. Its snake_case form only lowercases and adds
/// underscores, and its CamelCase form drops underscores, so comparing with
/// underscores dropped and case ignored covers all three.
fn unspellable(name: &str) -> Option<&'static str> {
    let bare: String = name
        .chars()
        .filter(|c| *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    match bare.as_str() {
        "" => Some(
            "a name made only of underscores has no CamelCase form and `_` is not a name in Rust",
        ),
        "self" | "super" | "crate" => Some(
            "`self`, `Self`, `super` and `crate` are Rust path keywords that no raw identifier can carry, and the generated code writes names in snake_case and CamelCase",
        ),
        _ => None,
    }
}

/// `get_page` -> `GetPage`: how the backend turns a method name into part
/// of a type name (the one function both use, so the reserved names are
/// the generated ones).
pub fn camel(name: &str) -> String {
    name.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

impl Ctx<'_> {
    /// The types the backend names after declarations, each with what it
    /// is and the declaration it comes from.
    fn derived_type_names(&self) -> BTreeMap<String, (String, Span)> {
        let mut out = BTreeMap::new();
        for (_, set) in &self.items.interfaces {
            let i = &set.name.name;
            let mut add = |name: String, what: String| {
                out.entry(name).or_insert((what, set.name.span));
            };
            // A callback interface's client handles its messages, its
            // server sends them.
            let (serving, calling) = if set.callback.is_some() {
                (("Sender", "the sender"), ("Handler", "the handler trait"))
            } else {
                (("Server", "the server trait"), ("Client", "the client"))
            };
            for (suffix, what) in [
                ("Label", "the label enum"),
                ("Request", "the request enum"),
                serving,
                calling,
            ] {
                add(format!("{i}{suffix}"), format!("{what} of interface `{i}`"));
            }
            if set.session.is_some() {
                add(
                    format!("{i}Session"),
                    format!("the session of interface `{i}`"),
                );
                add(
                    format!("{i}Charge"),
                    format!("the session charge of interface `{i}`"),
                );
            }
            for m in &set.methods {
                let method = camel(&m.name.name);
                for (suffix, what) in [
                    ("Reply", "the reply"),
                    ("Budget", "the budget"),
                    ("Class", "the allocation classes"),
                ] {
                    add(
                        format!("{i}{method}{suffix}"),
                        format!("{what} of `{i}::{}`", m.name.name),
                    );
                }
            }
        }
        for (_, set) in &self.items.invocations {
            let c = &set.name.name;
            let mut add = |name: String, what: String| {
                out.entry(name).or_insert((what, set.name.span));
            };
            add(
                format!("{c}Label"),
                format!("the label enum of the invocations of `{c}`"),
            );
            add(
                format!("{c}Invocation"),
                format!("the decoded invocations of `{c}`"),
            );
            add(
                format!("{c}Client"),
                format!("the client of the invocations of `{c}`"),
            );
            for m in &set.methods {
                let method = camel(&m.name.name);
                add(
                    format!("{c}{method}"),
                    format!("the arguments of `{c}::{}`", m.name.name),
                );
                for p in &m.params {
                    if let crate::ast::ParamType::Cap {
                        cap, alternatives, ..
                    } = &p.ty
                        && !alternatives.is_empty()
                    {
                        let names: Vec<&str> = std::iter::once(cap)
                            .chain(alternatives)
                            .map(|a| a.name.as_str())
                            .collect();
                        add(
                            names.join("Or"),
                            format!(
                                "the cap types of `{c}::{}`'s `{}`",
                                m.name.name, p.name.name
                            ),
                        );
                    }
                }
                add(
                    format!("{c}{method}Reply"),
                    format!("the reply of `{c}::{}`", m.name.name),
                );
            }
        }
        for (_, o) in &self.items.objects {
            if !o.slots.is_empty() {
                out.entry(format!("{}Slot", o.name.name)).or_insert((
                    format!("the slot enum of object `{}`", o.name.name),
                    o.name.span,
                ));
            }
        }
        out
    }

    /// Reports every declared name the generated code cannot carry, and cap
    /// fields that clash with a cap view's own members or with each other.
    pub(super) fn check_rust_names(&mut self) {
        let mut names: Vec<&Ident> = Vec::new();
        for (_, c) in &self.items.consts {
            names.push(&c.name);
        }
        for r in &self.items.rights {
            names.push(&r.name);
        }
        for (_, o) in &self.items.objects {
            names.push(&o.name);
            names.extend(o.param.as_ref().map(|p| &p.name));
            names.extend(o.slots.iter().map(|s| &s.name));
        }
        for (_, e) in &self.items.errors {
            names.push(&e.name);
            for v in &e.variants {
                names.push(&v.name);
                names.extend(&v.payload);
            }
        }
        for (_, c) in &self.items.caps {
            names.push(&c.name);
            names.extend(c.fields.iter().map(|f| &f.name));
        }
        for (_, d) in &self.items.data {
            names.push(d.name());
            match d {
                DataDecl::Struct(s) => names.extend(s.fields.iter().map(|f| &f.name)),
                DataDecl::Enum(e) => names.extend(e.variants.iter().map(|v| &v.name)),
                DataDecl::Alias(_) => {}
            }
        }
        for (_, e) in &self.items.enumerations {
            names.push(&e.name);
            names.extend(e.variants.iter().map(|v| &v.name));
        }
        for (_, b) in &self.items.bitfields {
            names.push(&b.name);
            names.extend(b.fields.iter().map(|f| &f.name));
        }
        for (item, set) in self.items.invocations.iter().chain(&self.items.interfaces) {
            if matches!(item.kind, ItemKind::Interface(_)) {
                names.push(&set.name);
            }
            for m in &set.methods {
                names.push(&m.name);
                names.extend(m.params.iter().chain(&m.results).map(|p| &p.name));
            }
        }
        let mut diags = Vec::new();
        // Fields and methods are also parts of longer names (`set_x`,
        // `encode_cap_x_reply`): an underscore at the joint would make two.
        let fields: Vec<&Ident> = self
            .items
            .caps
            .iter()
            .flat_map(|(_, c)| c.fields.iter().map(|f| &f.name))
            .collect();
        let methods: Vec<&Ident> = self
            .items
            .invocations
            .iter()
            .chain(&self.items.interfaces)
            .flat_map(|(_, set)| set.methods.iter().map(|m| &m.name))
            .collect();
        for name in names {
            if let Some(why) = unspellable(&name.name) {
                diags.push(
                    Diagnostic::new(
                        Code::RustName,
                        name.span,
                        format!(
                            "`{}` cannot be a name in the generated Rust code",
                            name.name
                        ),
                    )
                    .label("not a Rust identifier")
                    .note(why)
                    .help("rename it"),
                );
            } else if name.name.trim_matches('_').contains("__") {
                diags.push(
                    Diagnostic::new(
                        Code::RustName,
                        name.span,
                        format!("`{}` has two underscores in a row", name.name),
                    )
                    .label("not snake_case or CamelCase in Rust")
                    .note("rustc warns about a name with `__` inside it, and the generated code must compile without warnings")
                    .help(format!("rename it, e.g. `{}`", collapse_underscores(&name.name))),
                );
            } else if let Some((why, help)) = joint_underscore(name, &fields, &methods) {
                diags.push(
                    Diagnostic::new(
                        Code::RustName,
                        name.span,
                        format!("`{}` starts or ends with an underscore", name.name),
                    )
                    .label("becomes part of longer generated names")
                    .note(format!(
                        "{why}, with two underscores in a row, which rustc warns about"
                    ))
                    .help(help),
                );
            }
        }
        // Names that become types of the module: cap types, error sets,
        // interfaces.
        let mut types: Vec<&Ident> = Vec::new();
        types.extend(self.items.caps.iter().map(|(_, c)| &c.name));
        types.extend(self.items.errors.iter().map(|(_, e)| &e.name));
        for (item, set) in &self.items.interfaces {
            if matches!(item.kind, ItemKind::Interface(_)) {
                types.push(&set.name);
            }
        }
        types.extend(self.items.data.iter().map(|(_, d)| d.name()));
        types.extend(self.items.enumerations.iter().map(|(_, e)| &e.name));
        types.extend(self.items.bitfields.iter().map(|(_, b)| &b.name));
        // Objects and error, enum and enumeration variants become variants
        // (and `<Object>Slot` types).
        let mut objects: Vec<&Ident> = self.items.objects.iter().map(|(_, o)| &o.name).collect();
        for (_, e) in &self.items.enumerations {
            objects.extend(e.variants.iter().map(|v| &v.name));
        }
        for (_, e) in &self.items.errors {
            objects.extend(e.variants.iter().map(|v| &v.name));
        }
        for (_, d) in &self.items.data {
            if let DataDecl::Enum(e) = d {
                objects.extend(e.variants.iter().map(|v| &v.name));
            }
        }
        for name in types.iter().chain(&objects) {
            if unspellable(&name.name).is_none()
                && !name.name.starts_with(|c: char| c.is_ascii_uppercase())
            {
                diags.push(
                    Diagnostic::new(
                        Code::RustName,
                        name.span,
                        format!("type name `{}` does not start with a capital letter", name.name),
                    )
                    .label("becomes a Rust type")
                    .note("a lowercase type would shadow the generated code's parameters and bindings of that name (`cap`, `word`, `value`)")
                    .help("start it with a capital letter, in CamelCase"),
                );
            }
        }
        // Names that become parameters, bindings or methods: error payloads,
        // method parameters and results, methods, rights.
        let mut values: Vec<&Ident> = Vec::new();
        for (_, e) in &self.items.errors {
            for v in &e.variants {
                values.extend(&v.payload);
            }
        }
        for (_, set) in self.items.invocations.iter().chain(&self.items.interfaces) {
            for m in &set.methods {
                values.push(&m.name);
                values.extend(m.params.iter().chain(&m.results).map(|p| &p.name));
            }
        }
        values.extend(self.items.rights.iter().map(|r| &r.name));
        for (_, d) in &self.items.data {
            if let DataDecl::Struct(s) = d {
                values.extend(s.fields.iter().map(|f| &f.name));
            }
        }
        for (_, b) in &self.items.bitfields {
            values.extend(b.fields.iter().map(|f| &f.name));
            // A field's getter is named after it, beside the generated
            // constructor and conversions.
            for f in &b.fields {
                if ["new", "words", "from_words"].contains(&f.name.name.as_str()) {
                    diags.push(
                        Diagnostic::new(
                            Code::RustName,
                            f.name.span,
                            format!("bitfield field `{}` is named as a generated method", f.name.name),
                        )
                        .label("its getter would clash")
                        .note("a bitfield's Rust type has `new`, `words` and `from_words` besides one getter per field")
                        .help(format!("rename it, e.g. `{}_value`", f.name.name)),
                    );
                }
            }
        }
        for name in values {
            if unspellable(&name.name).is_none()
                && name.name.starts_with(|c: char| c.is_ascii_uppercase())
            {
                diags.push(
                    Diagnostic::new(
                        Code::RustName,
                        name.span,
                        format!("`{}` starts with a capital letter", name.name),
                    )
                    .label("becomes a parameter, binding or method")
                    .note("a capitalised binding can name a type, variant or constant instead (`Some`, `Rights`, a constant) and is not snake_case")
                    .help(format!("rename it, e.g. `{}`", snake_case(&name.name))),
                );
            }
        }
        // Constants become `pub const`s of the module: upper case, so that
        // no parameter or binding of the generated code (`cap`, `msg`) is
        // taken for one, and none of the module's own.
        for (_, c) in &self.items.consts {
            let name = &c.name;
            if unspellable(&name.name).is_some() {
                continue;
            }
            let upper = name.name.starts_with(|c: char| c.is_ascii_uppercase())
                && !name.name.chars().any(|c| c.is_lowercase());
            if !upper {
                diags.push(
                    Diagnostic::new(
                        Code::RustName,
                        name.span,
                        format!("constant `{}` is not in upper case", name.name),
                    )
                    .label("becomes a `pub const` of the generated module")
                    .note("a lower-case constant would capture the generated code's bindings of that name (`cap`, `msg`, `value`) in patterns, and is not a Rust constant's case")
                    .help(format!("rename it `{}`", name.name.to_uppercase())),
                );
            } else if RESERVED_CONST_NAMES.contains(&name.name.as_str()) {
                diags.push(
                    Diagnostic::new(
                        Code::RustName,
                        name.span,
                        format!("constant `{}` is a constant the generated Rust code already has", name.name),
                    )
                    .label("clashes with a generated constant")
                    .note("the generated module defines it from the spec's translation tables and target")
                    .help(format!("rename it, e.g. `SPEC_{}`", name.name)),
                );
            }
        }
        for r in &self.items.rights {
            if ["none", "all"].contains(&r.name.name.to_ascii_lowercase().as_str()) {
                diags.push(
                    Diagnostic::new(
                        Code::RustName,
                        r.name.span,
                        format!(
                            "right `{}` clashes with the generated `Rights::{}`",
                            r.name.name,
                            r.name.name.to_ascii_uppercase()
                        ),
                    )
                    .label("a right becomes a constant of `Rights`")
                    .note("`Rights::NONE` and `Rights::ALL` are the empty and the full set")
                    .help("rename the right"),
                );
            }
        }
        // Types the backend names after a declaration: a declared type of
        // the same name would be defined twice.
        let derived = self.derived_type_names();
        for name in &types {
            if let Some((what, from)) = derived.get(name.name.as_str()) {
                diags.push(
                    Diagnostic::new(
                        Code::RustName,
                        name.span,
                        format!("`{}` is the name of a type the generated Rust code makes", name.name),
                    )
                    .label("clashes with a generated type")
                    .with_secondary(*from, format!("the generated `{}` is {what}", name.name))
                    .note("the generated module names types after interfaces, their methods, invoked cap types and objects with slots (`<Interface>Label`, `<Interface>Request`, `<Interface>Server`, `<Interface>Client`, `<Interface>Sender`, `<Interface>Handler`, `<Interface><Method>Reply`, `<Interface><Method>Budget`, `<Interface><Method>Class`, `<Cap>Label`, `<Cap>Invocation`, `<Cap>Client`, `<Cap><Method>`, `<Cap><Method>Reply`, `<Object>Slot`)")
                    .help(format!("rename it, e.g. `My{}`", name.name)),
                );
            }
        }
        for name in types {
            if RESERVED_TYPE_NAMES.contains(&name.name.as_str()) {
                diags.push(
                    Diagnostic::new(
                        Code::RustName,
                        name.span,
                        format!("`{}` is a type the generated Rust code already has", name.name),
                    )
                    .label("clashes with a generated or prelude type")
                    .note("a cap type, error set, interface, struct, enum, type alias or bitfield becomes a type of the generated module, which defines or uses a type of this name itself")
                    .help(format!("rename it, e.g. `My{}`", name.name)),
                );
            }
        }
        // An interface's methods are methods of its client, a callback
        // interface's messages methods of its sender.
        for (_, set) in &self.items.interfaces {
            let (members, ty) = if set.callback.is_some() {
                (SENDER_MEMBERS, "Sender")
            } else {
                (CLIENT_MEMBERS, "Client")
            };
            for m in &set.methods {
                let name = m.name.name.as_str();
                if !members.contains(&name) {
                    continue;
                }
                let owner = format!("{}{ty}", set.name.name);
                diags.push(
                    Diagnostic::new(
                        Code::RustName,
                        m.name.span,
                        format!("method `{name}` clashes with the generated `{owner}::{name}`"),
                    )
                    .label(format!("a member every `{ty}` has"))
                    .note(format!(
                        "each method becomes a method of `{owner}`, which already has {}",
                        members
                            .iter()
                            .map(|m| format!("`{m}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .help(format!(
                        "rename the method, e.g. `{name}_{}`",
                        snake_case(&set.name.name)
                    )),
                );
            }
        }
        for (_, c) in &self.items.caps {
            for (i, f) in c.fields.iter().enumerate() {
                let name = &f.name.name;
                if unspellable(name).is_some() {
                    continue;
                }
                if VIEW_MEMBERS.contains(&name.as_str()) {
                    diags.push(
                        Diagnostic::new(
                            Code::RustName,
                            f.name.span,
                            format!("field `{name}` clashes with the generated `{}::{name}`", c.name.name),
                        )
                        .label("a member every cap view has")
                        .note(format!(
                            "each field gets a getter of its own name on the cap view, which already has {}",
                            VIEW_MEMBERS.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
                        ))
                        .help(format!("rename the field; `{name}` is the name of a member every cap view has")),
                    );
                    continue;
                }
                if name.starts_with(|c: char| c.is_ascii_uppercase()) {
                    diags.push(
                        Diagnostic::new(
                            Code::RustName,
                            f.name.span,
                            format!("field `{name}` starts with a capital letter"),
                        )
                        .label("becomes a method and a parameter name")
                        .note("a field is a getter, a setter and a parameter of the view's `new`; a parameter starting with a capital letter can name a type, variant or constant instead (`Some`, `Cap`, a constant) and is not snake_case")
                        .help(format!("rename the field, e.g. `{}`", snake_case(name))),
                    );
                    continue;
                }
                let setter = format!("set_{}", snake_case(name));
                for other in &c.fields[..i] {
                    let other_setter = format!("set_{}", snake_case(&other.name.name));
                    let clash = if other.name.name == setter {
                        Some(format!(
                            "`{}` is the setter of field `{name}`",
                            other.name.name
                        ))
                    } else if *name == other_setter {
                        Some(format!(
                            "`{name}` is the setter of field `{}`",
                            other.name.name
                        ))
                    } else if setter == other_setter {
                        Some(format!("both fields get the setter `{setter}`"))
                    } else {
                        None
                    };
                    if let Some(clash) = clash {
                        diags.push(
                            Diagnostic::new(
                                Code::RustName,
                                f.name.span,
                                format!(
                                    "fields `{}` and `{name}` clash in the generated `{}`",
                                    other.name.name, c.name.name
                                ),
                            )
                            .label("clashes with an earlier field's accessor")
                            .with_secondary(other.name.span, "this field")
                            .note(clash)
                            .help("rename one of the fields; each field `x` has a getter `x` and a setter `set_x`"),
                        );
                        break;
                    }
                }
            }
        }
        self.diags.extend(diags);
    }
}
