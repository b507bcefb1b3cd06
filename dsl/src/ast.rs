//! The syntax tree of one `.cap` file, exactly as written.
//!
//! Produced by [`crate::parse`], consumed by [`crate::check`]. Nothing here is
//! resolved or validated beyond what the grammar guarantees; every name and
//! every expression carries the [`Span`] it was written at so later passes can
//! point at it.

use crate::source::Span;

/// A name as written, with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    /// The name, case preserved (names are case-sensitive).
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// A parsed file: its inner docs (`//!`) and its items in source order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// The `//!` lines at the top of the file.
    pub docs: Vec<String>,
    /// Items in the order they were written.
    pub items: Vec<Item>,
}

/// One top-level declaration with its doc comment and attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The `///` lines above the item, without the slashes.
    pub docs: Vec<String>,
    /// `#[...]` attributes written above the item.
    pub attrs: Vec<Attribute>,
    /// The declaration itself.
    pub kind: ItemKind,
    /// The whole item, docs excluded.
    pub span: Span,
}

/// The kinds of top-level declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemKind {
    /// `use "path.cap";`
    Use(UseItem),
    /// `const NAME = expr;`
    Const(ConstItem),
    /// `target name { setting = expr; ... }`
    Target(TargetItem),
    /// `rights { read, write }`
    Rights(Vec<RightDecl>),
    /// `untyped`/`frame`/`object Name(param in domain) { ... }`
    Object(Box<ObjectItem>),
    /// `errors Name { Variant(payload), ... }`
    Errors(ErrorsItem),
    /// `cap Name for Object { fields }`
    Cap(CapItem),
    /// `retype SourceCap { into = ...; fan_out = ...; }`
    Retype(RetypeItem),
    /// `derive TargetCap from SourceCap;`
    Derive(DeriveItem),
    /// `invocations CapType -> ErrorSet { methods }`
    Invocations(MethodSet),
    /// `interface Name -> ErrorSet { methods }`
    Interface(MethodSet),
    /// `struct Name { field: Type, ... }`
    Struct(StructItem),
    /// `enum Name { Variant, Variant(Type, ...), ... }`
    Enum(EnumItem),
    /// `type Name = Type;`
    TypeAlias(TypeAlias),
    /// `config { mcs, smp }`: configuration options (they share the
    /// declaration type of rights: a documented name).
    Config(Vec<RightDecl>),
    /// `system name { ... }`: a whole system (domains, objects, caps).
    System(SystemItem),
    /// `bitfield Name { field: uN, ... }`: a record packed into message
    /// words, for kernel invocation parameters and results.
    Bitfield(BitfieldItem),
    /// `syscalls Name { Send = -3 { sends on EndpointCap(send); } ... }`:
    /// a kernel's system calls.
    Syscalls(SyscallsItem),
}

/// `syscalls Name { ... }`: a kernel's system calls, each a number the
/// trapping thread passes and what the call sends and receives on which
/// cap types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyscallsItem {
    /// The name of the generated enumeration.
    pub name: Ident,
    /// Its system calls in declaration order.
    pub syscalls: Vec<SyscallDecl>,
}

/// `Send = -3 { sends on EndpointCap(send) | NotificationCap(can_send); }`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyscallDecl {
    /// Doc comment.
    pub docs: Vec<String>,
    /// `#[cfg(...)]` conditions (the only attribute it takes).
    pub attrs: Vec<Attribute>,
    /// Its name.
    pub name: Ident,
    /// `-` before the number: the number is negative.
    pub negative: bool,
    /// The number (its magnitude when `negative`).
    pub number: Expr,
    /// Span of the number as written, sign included.
    pub number_span: Span,
    /// `sends ...;` and `receives ...;` in order.
    pub clauses: Vec<SyscallClause>,
}

/// `sends on A(r) | B;` or `receives;`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyscallClause {
    /// `receives` (else `sends`).
    pub receives: bool,
    /// Span of the keyword.
    pub span: Span,
    /// The cap types the named cap may be, each with the rights (or
    /// `bool` fields) it needs; empty without `on`.
    pub caps: Vec<(Ident, Vec<Ident>)>,
}

/// `bitfield Name { #[at(word = W, bit = B)] field: uN, ... }`: a record
/// of `bool`, `uN` and enumeration fields packed into message words (seL4's
/// `seL4_CapRights_t`, `seL4_CNode_CapData`). A field without `#[at]`
/// starts where the field before it ends (the first at bit 0 of word 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BitfieldItem {
    /// The bitfield's name.
    pub name: Ident,
    /// Its fields, in declaration order (cap fields' syntax).
    pub fields: Vec<Field>,
}

/// `struct Name { field: Type, ... }`: a record of message values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructItem {
    /// The record's name.
    pub name: Ident,
    /// Its fields in order (their order is their order on the wire).
    pub fields: Vec<DataField>,
}

/// One field of a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataField {
    /// Doc comment.
    pub docs: Vec<String>,
    /// The field's name.
    pub name: Ident,
    /// Its type.
    pub ty: TypeExpr,
}

/// `enum Name { ... }`: one of several variants, each with its own values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnumItem {
    /// The enum's name.
    pub name: Ident,
    /// `: uN` after the name (with the span of `uN`): an enumeration, whose
    /// variants are named values of N bits (cap fields and kernel
    /// invocation parameters), not a message type.
    pub width: Option<(u32, Span)>,
    /// Its variants in order (their order is their discriminant).
    pub variants: Vec<EnumVariant>,
}

/// One variant of an enum and the types of the values it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnumVariant {
    /// Doc comment.
    pub docs: Vec<String>,
    /// `#[cfg(...)]` conditions (the only attribute a variant takes).
    pub attrs: Vec<Attribute>,
    /// The variant's name.
    pub name: Ident,
    /// The types of its values, in order.
    pub fields: Vec<TypeExpr>,
    /// `= expr`: its value, in an enumeration (`enum Name: uN`).
    pub value: Option<Expr>,
}

/// `type Name = Type;`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeAlias {
    /// The new name.
    pub name: Ident,
    /// The type it names.
    pub ty: TypeExpr,
    /// `in lo..=hi`: a new type of the integer's values in the range, and
    /// the span of the range.
    pub range: Option<(Domain, Span)>,
}

/// The type of a message value, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeExpr {
    /// What it is.
    pub kind: TypeExprKind,
    /// Where it is written.
    pub span: Span,
}

/// The forms of a message value's type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeExprKind {
    /// `word`, `bool` or `uN`.
    Scalar(Scalar),
    /// `iN`: a signed integer of N bits.
    Int(u32),
    /// `f32` or `f64`: a floating-point number of 32 or 64 bits.
    Float(u32),
    /// `[T; N]`: exactly N values.
    Array(Box<TypeExpr>, Expr),
    /// `[T; ..=N]`: up to N values.
    Bounded(Box<TypeExpr>, Expr),
    /// `string<=N>`: UTF-8 text of up to N bytes.
    String(Expr),
    /// `Option<T>`: a value or none.
    Option(Box<TypeExpr>),
    /// A declared `struct`, `enum` or `type`.
    Named(Ident),
}

/// `#[name]` or `#[name(key = expr, ...)]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute's name.
    pub name: Ident,
    /// Its `key = expr` arguments.
    pub args: Vec<(Ident, Expr)>,
    /// Its bare-name arguments (`unused` in `#[allow(unused)]`).
    pub flags: Vec<Ident>,
    /// Its value arguments (`17` in `#[label(17)]`).
    pub values: Vec<Expr>,
    /// Its arguments that are names applied to arguments (`not(mcs)` in
    /// `#[cfg(not(mcs))]`).
    pub calls: Vec<AttrCall>,
    /// Every argument in the order written (what `#[cfg(...)]` reads).
    pub all: Vec<AttrArg>,
    /// The whole attribute.
    pub span: Span,
}

impl Attribute {
    /// Whether anything is written in its parentheses.
    pub fn has_args(&self) -> bool {
        !self.all.is_empty()
    }
}

/// One argument of an attribute, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttrArg {
    /// A bare name (`mcs`).
    Name(Ident),
    /// A name applied to arguments (`not(mcs)`).
    Call(AttrCall),
    /// `key = value` or a value alone, with where it is written.
    Other(Span),
}

impl AttrArg {
    /// Where the argument is written.
    pub fn span(&self) -> Span {
        match self {
            AttrArg::Name(n) => n.span,
            AttrArg::Call(c) => c.span,
            AttrArg::Other(s) => *s,
        }
    }
}

/// `name(arg, ...)` inside an attribute's parentheses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrCall {
    /// The name applied (`not`, `all`, `any`).
    pub name: Ident,
    /// Its arguments in order.
    pub args: Vec<AttrArg>,
    /// The whole call.
    pub span: Span,
}

/// `use "path";`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UseItem {
    /// The path as written, relative to the importing file.
    pub path: String,
    /// Span of the string literal.
    pub path_span: Span,
}

/// `const NAME = expr;`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConstItem {
    /// The constant's name.
    pub name: Ident,
    /// Its value.
    pub value: Expr,
}

/// `target name { key = expr; ... }`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetItem {
    /// The target's name (e.g. `x86_64`).
    pub name: Ident,
    /// Settings in source order.
    pub settings: Vec<Setting>,
}

/// One `key = expr;` line of a target block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// Doc comment of the setting.
    pub docs: Vec<String>,
    /// The setting's name.
    pub key: Ident,
    /// Its value.
    pub value: Expr,
}

/// One right in a `rights { ... }` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RightDecl {
    /// Doc comment of the right.
    pub docs: Vec<String>,
    /// The right's name.
    pub name: Ident,
}

/// What memory an object type is made of, as the keyword that opens it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    /// `untyped`: raw memory that can be retyped; a root of the retype graph.
    Untyped,
    /// `frame`: memory mapped into user address spaces; the kernel keeps no
    /// state in it, so it may be device memory.
    Frame,
    /// `object`: kernel state (TCB, endpoint, CNode, page table ...).
    Kernel,
}

/// An object type declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectItem {
    /// `untyped`, `frame` or `object`.
    pub kind: ObjectKind,
    /// Span of the kind keyword.
    pub kind_span: Span,
    /// The type's name.
    pub name: Ident,
    /// The size argument, if the size is parameterised.
    pub param: Option<SizeParam>,
    /// `size = expr;` statements (exactly one is valid).
    pub sizes: Vec<Expr>,
    /// `align = expr;` statements (at most one is valid).
    pub aligns: Vec<Expr>,
    /// `memory = ram | device;` statements (at most one is valid).
    pub memories: Vec<Vec<Ident>>,
    /// `finalise = unmap | release_asid;` statements (at most one is valid).
    pub finalises: Vec<Vec<Ident>>,
    /// `slot name: CapType(rights);` statements, in order.
    pub slots: Vec<SlotDecl>,
    /// `table = N x SIZE of A | B;` statements (at most one is valid).
    pub tables: Vec<TableDecl>,
    /// `asid_pool = N;` statements (at most one is valid).
    pub asid_pools: Vec<AsidPoolDecl>,
}

/// `asid_pool = 512;`: the object is a pool of address-space numbers
/// (seL4's ASID pool) for the address-space root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsidPoolDecl {
    /// How many numbers the pool holds.
    pub entries: Expr,
    /// The whole statement.
    pub span: Span,
}

/// `table = 512 x 2 MiB of PageTable | Frame;`: the object is a translation
/// table whose one-word entries each cover `covers` bytes of an address
/// space and hold an object of one of the `holds` types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDecl {
    /// How many entries.
    pub entries: Expr,
    /// Bytes of address space one entry covers.
    pub covers: Expr,
    /// The object types an entry may hold.
    pub holds: Vec<Ident>,
    /// The whole statement.
    pub span: Span,
}

/// `slot name: CapType(rights);`: a capability slot inside an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotDecl {
    /// Doc comment.
    pub docs: Vec<String>,
    /// `#[...]` attributes (`#[required]`).
    pub attrs: Vec<Attribute>,
    /// The slot's name.
    pub name: Ident,
    /// The cap type the slot holds.
    pub cap: Ident,
    /// Rights a cap must carry to be put there.
    pub rights: Vec<Ident>,
    /// The whole statement, docs excluded.
    pub span: Span,
}

/// `(name in domain)` after an object's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SizeParam {
    /// The parameter's name, usable in the size expression.
    pub name: Ident,
    /// The values it may take.
    pub domain: Domain,
}

/// The values a size argument may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Domain {
    /// `lo..=hi`
    Inclusive(Expr, Expr),
    /// `lo..hi`
    Exclusive(Expr, Expr),
    /// `{a, b, c}`
    Set(Vec<Expr>),
}

/// `errors Name { ... }`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorsItem {
    /// The error set's name.
    pub name: Ident,
    /// Its variants in order (their order is their number in the ABI).
    pub variants: Vec<Variant>,
}

/// One error variant with its payload values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    /// Doc comment.
    pub docs: Vec<String>,
    /// The variant's name.
    pub name: Ident,
    /// Names of its payload values.
    pub payload: Vec<Ident>,
    /// Their types (as many as `payload`): `None` for a bare name, a word
    /// (and for a value written `name: ..Set`, which `rest` lists).
    pub payload_types: Vec<Option<TypeExpr>>,
    /// The values written `name: ..Set` (a variable-length rest of the
    /// payload, an error of `Set`): each one's position in `payload` and
    /// the set's name.
    pub rest: Vec<(usize, Ident)>,
}

/// `cap Name for Object { fields }`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapItem {
    /// `abstract cap`: fields for cap types to inherit, not a cap type.
    pub is_abstract: bool,
    /// The cap type's name.
    pub name: Ident,
    /// The object type it names, if any (caps such as an IRQ handler name none).
    pub object: Option<Ident>,
    /// `inherits Name`: the abstract cap whose fields come first.
    pub inherits: Option<Ident>,
    /// Fields in declaration order.
    pub fields: Vec<Field>,
}

/// One field of a cap type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// Doc comment.
    pub docs: Vec<String>,
    /// Role attributes such as `#[identity]`.
    pub attrs: Vec<Attribute>,
    /// The field's name.
    pub name: Ident,
    /// Its type.
    pub ty: FieldType,
    /// Span of the type.
    pub ty_span: Span,
}

/// The type of a cap field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// `ptr(align = expr)`: an address stored compressed by its alignment.
    Ptr {
        /// The alignment in bytes.
        align: Expr,
    },
    /// `uN`: an unsigned integer of N bits.
    Uint(u32),
    /// `bool`: one bit.
    Bool,
    /// `rights(r1, r2)`: the rights this cap type may carry.
    Rights(Vec<Ident>),
    /// A declared enumeration (`enum Name: uN`): one of its named values,
    /// in its N bits.
    Enumeration(Ident),
}

/// `retype SourceCap { into = A | B; fan_out = N; }`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetypeItem {
    /// The cap type that is retyped.
    pub source: Ident,
    /// Every `into = ...;` statement (their targets are joined).
    pub into: Vec<Ident>,
    /// `fan_out = expr;` statements (at most one is valid).
    pub fan_outs: Vec<Expr>,
}

/// `derive TargetCap from SourceCap;`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeriveItem {
    /// The cap type that is made.
    pub target: Ident,
    /// The cap type it is made from.
    pub source: Ident,
}

/// `invocations Cap -> Errors { ... }` or `interface Name -> Errors { ... }`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodSet {
    /// The cap type invoked, or the interface's name.
    pub name: Ident,
    /// The error set the methods draw their errors from.
    pub errors: Ident,
    /// Methods in order (a method's label is one more than the one
    /// before's unless it gives its own).
    pub methods: Vec<Method>,
    /// `session { ... }` (interfaces only): the interface is used through
    /// sessions with a donated quota.
    pub session: Option<SessionDecl>,
    /// `callback interface`: the messages a server sends to a client that
    /// bound them, with the span of `callback`.
    pub callback: Option<Span>,
}

/// `session { donates quota N; keeps N; out_of_budget V; }`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionDecl {
    /// Doc comment.
    pub docs: Vec<String>,
    /// `donates ...;` clauses (exactly one is valid): the quota a client
    /// donates to open a session.
    pub donations: Vec<Donation>,
    /// `keeps N;` clauses (at most one is valid, without `for`): bytes the
    /// server keeps per session.
    pub keeps: Vec<Keep>,
    /// `out_of_budget V;` clauses (exactly one is valid): the error of a
    /// charge that does not fit the session's quota.
    pub out_of_budget: Vec<Ident>,
    /// `binds Name;` clauses (at most one is valid): the callback interface
    /// a session may be opened bound to, with the clause's span.
    pub binds: Vec<(Ident, Span)>,
    /// The `session` keyword.
    pub span: Span,
}

/// `keeps N;` or `keeps N for result;`: bytes of server state kept beyond
/// a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keep {
    /// Bytes.
    pub bytes: Expr,
    /// The result the state is kept for (`for mem_cap`).
    pub handed_to: Option<Ident>,
    /// The whole clause.
    pub span: Span,
}

/// `refunds param from method | method2;`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    /// The argument that is what one of `methods` handed out.
    pub param: Ident,
    /// The methods that may have handed it out.
    pub methods: Vec<Ident>,
    /// The whole clause.
    pub span: Span,
}

/// `fn name(params) -> (results) { clauses }`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Method {
    /// Doc comment.
    pub docs: Vec<String>,
    /// `#[...]` attributes (`#[label(17)]`).
    pub attrs: Vec<Attribute>,
    /// The method's name.
    pub name: Ident,
    /// Input parameters.
    pub params: Vec<Param>,
    /// Results returned on success.
    pub results: Vec<Param>,
    /// `requires r1, r2;` clauses, joined.
    pub requires: Vec<Ident>,
    /// `errors E1, E2;` clauses, joined.
    pub errors: Vec<Ident>,
    /// The `of Set` of each `errors ... of Set;` clause: the error set the
    /// method's errors are of, when not its block's.
    pub error_sets: Vec<Ident>,
    /// `donates ...;` clauses (at most one is valid).
    pub donations: Vec<Donation>,
    /// `allocates N * Object(arg);` clauses.
    pub allocations: Vec<Allocation>,
    /// `out_of_budget Variant;` clauses (at most one is valid).
    pub out_of_budget: Vec<Ident>,
    /// `creates CapType(field = param, ...) in root;` clauses (at most one
    /// is valid).
    pub creates: Vec<Creates>,
    /// `keeps N;` and `keeps N for result;` clauses.
    pub keeps: Vec<Keep>,
    /// `refunds param from method;` clauses.
    pub refunds: Vec<Refund>,
    /// `server_pays N;` clauses (at most one is valid), each with its span.
    pub server_pays: Vec<(Expr, Span)>,
    /// The whole method.
    pub span: Span,
}

/// `creates CapType(field = param, ...) [from untyped] in root;`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creates {
    /// The cap type made.
    pub cap: Ident,
    /// `field = param` pairs: the new cap's fields set from parameters.
    pub fields: Vec<(Ident, Ident)>,
    /// `from untyped`: the Untyped cap parameter a new object is made of.
    pub from: Option<Ident>,
    /// The cap parameter naming the CNode the new cap goes into.
    pub into: Ident,
    /// The whole clause.
    pub span: Span,
}

/// `name: type`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// Attributes written before it (`#[unchecked]`).
    pub attrs: Vec<Attribute>,
    /// The parameter's name.
    pub name: Ident,
    /// Its type.
    pub ty: ParamType,
    /// Span of the type.
    pub ty_span: Span,
    /// `in 12..=30`: the values it may have, and the span of the range.
    pub range: Option<(Domain, Span)>,
    /// `binds WatchEvents`: the callback interface whose messages the
    /// server sends through this cap.
    pub binds: Option<Ident>,
}

/// A scalar message value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    /// `word`: a machine word.
    Word,
    /// `bool`
    Bool,
    /// `uN`
    Uint(u32),
}

/// How a capability argument travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transfer {
    /// No keyword: the cap is looked up in the caller's CSpace (kernel invocations).
    Lookup,
    /// `grant`: the receiver gets a copy (derived from the sender's cap,
    /// as the kernel copies every cap a message carries) to keep.
    Grant,
    /// `lend`: the receiver gets such a copy for the call only; the sender
    /// revokes it afterwards.
    Lend,
    /// `move`: the receiver gets such a copy to keep, and the sender
    /// deletes its own cap once the call succeeded (Flounder's
    /// `give_away_cap`).
    Move,
}

impl Transfer {
    /// The keyword as written before `cap`, with its space: `"grant "`;
    /// `""` for a looked-up cap.
    pub fn prefix(self) -> &'static str {
        match self {
            Transfer::Lookup => "",
            Transfer::Grant => "grant ",
            Transfer::Lend => "lend ",
            Transfer::Move => "move ",
        }
    }
}

/// The type of a method parameter or result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamType {
    /// A scalar in one message word.
    Scalar(Scalar),
    /// `[scalar; N]`: a fixed-size array packed into message words.
    Array(Scalar, Expr),
    /// Any other message value (`i32`, `[T; ..=N]`, `string<=N>`,
    /// `Option<T>`, a declared type): RPC interfaces only, laid out in bytes.
    Data(TypeExpr),
    /// `lease(read, write) [T; ..=N]` or `lease FrameCap(read) [T; N]`:
    /// memory the caller lends for the call, carried as a frame cap minted
    /// with exactly these rights plus an offset and a length (RPC
    /// parameters only).
    Lease {
        /// The frame cap type, when named.
        cap: Option<Ident>,
        /// The directions: `read`, `write` or both.
        rights: Vec<Ident>,
        /// The array type the lent memory holds.
        ty: TypeExpr,
    },
    /// `grant|lend cap Name(rights)`
    Cap {
        /// How the cap travels.
        transfer: Transfer,
        /// The cap type expected.
        cap: Ident,
        /// Rights the cap must carry.
        rights: Vec<Ident>,
        /// `| OtherCap ...`: other cap types the cap may have instead.
        alternatives: Vec<Ident>,
        /// `| null`: where each `null` alternative is written (the cap may
        /// be the null cap).
        null: Vec<Span>,
    },
}

/// What the caller of a method donates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Donation {
    /// `donates quota expr;`: a byte quota charged to the caller.
    Quota {
        /// Minimum bytes.
        bytes: Expr,
        /// The whole clause.
        span: Span,
    },
    /// `donates UntypedCap >= expr;`: an Untyped cap of at least that many bytes.
    Untyped {
        /// The cap type donated.
        cap: Ident,
        /// Minimum bytes.
        bytes: Expr,
        /// The whole clause.
        span: Span,
    },
}

impl Donation {
    /// The whole clause.
    pub fn span(&self) -> Span {
        match self {
            Donation::Quota { span, .. } | Donation::Untyped { span, .. } => *span,
        }
    }

    /// The minimum size of the donation in bytes, as written.
    pub fn bytes(&self) -> &Expr {
        match self {
            Donation::Quota { bytes, .. } | Donation::Untyped { bytes, .. } => bytes,
        }
    }
}

/// `allocates count * Object(arg);`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// Upper bound on how many objects are allocated per call.
    pub count: Expr,
    /// The object type.
    pub object: Ident,
    /// Its size argument, for parameterised types.
    pub arg: Option<Expr>,
    /// `for result`: the objects are handed to the client with this result.
    pub handed_to: Option<Ident>,
    /// The whole clause.
    pub span: Span,
}

/// A binary operator of integer expressions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `<<`
    Shl,
}

impl BinOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Shl => "<<",
        }
    }
}

/// An integer expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it is.
    pub span: Span,
}

/// The forms of integer expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExprKind {
    /// A literal, unit already applied (`4 KiB` is 4096).
    Int(u64),
    /// A constant or size-parameter name.
    Name(String),
    /// `lhs op rhs`
    Binary(Box<Expr>, BinOp, Box<Expr>),
}

/// `system name { memory = ...; object ...; domain ... { ... } deny ...; }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemItem {
    /// The system's name.
    pub name: Ident,
    /// `memory = expr;` statements (one is expected).
    pub memory: Vec<(Expr, Span)>,
    /// Objects shared between domains (paid for by the boot plan).
    pub objects: Vec<SystemObject>,
    /// Protection domains in declaration order.
    pub domains: Vec<DomainItem>,
    /// `deny DOMAIN holds RIGHT on OBJECT;` assertions.
    pub denies: Vec<DenyItem>,
}

/// `object name: Type(arg);`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemObject {
    /// Doc comment.
    pub docs: Vec<String>,
    /// The object's name.
    pub name: Ident,
    /// Its object type.
    pub ty: Ident,
    /// Its size argument, for a sized type.
    pub arg: Option<Expr>,
    /// The whole statement.
    pub span: Span,
}

/// `domain name { ... }`: a protection domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainItem {
    /// Doc comment.
    pub docs: Vec<String>,
    /// The domain's name.
    pub name: Ident,
    /// `program = "name";` (the string without quotes, with its span).
    pub program: Vec<(String, Span)>,
    /// `budget = size, ...;` statements: the sizes of its Untypeds.
    pub budget: Vec<(Vec<Expr>, Span)>,
    /// `priority = expr;` statements.
    pub priority: Vec<(Expr, Span)>,
    /// `stack = expr;` statements.
    pub stack: Vec<(Expr, Span)>,
    /// `trusted;` statements.
    pub trusted: Vec<((), Span)>,
    /// `cspace = object;` statements.
    pub cspace: Vec<Ident>,
    /// Objects the domain owns and pays for from its budget.
    pub objects: Vec<SystemObject>,
    /// Named CSpace slots and the caps in them.
    pub slots: Vec<SlotItem>,
    /// `serves Interface on slot;`
    pub serves: Vec<(Ident, Ident)>,
    /// `calls Interface on slot x n;` (`n` is 1 unless given).
    pub calls: Vec<CallsItem>,
    /// `irq N;`
    pub irqs: Vec<(Expr, Span)>,
    /// `device name at base size bytes;`
    pub devices: Vec<DeviceItem>,
}

/// `slot name: CapType(rights) = object badge N;`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotItem {
    /// Doc comment.
    pub docs: Vec<String>,
    /// The slot's name.
    pub name: Ident,
    /// The cap type of the cap in it.
    pub cap: Ident,
    /// The rights it carries (`None`: none written).
    pub rights: Option<Vec<Ident>>,
    /// The object it names.
    pub object: Ident,
    /// Its badge.
    pub badge: Option<Expr>,
    /// The whole statement.
    pub span: Span,
}

/// `calls Interface on slot x n;`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallsItem {
    /// The interface called.
    pub interface: Ident,
    /// The slot holding the cap it is called through.
    pub slot: Ident,
    /// Calls in flight at once (1 unless given).
    pub in_flight: Option<Expr>,
    /// The whole statement.
    pub span: Span,
}

/// `device name at base size bytes;`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceItem {
    /// The region's name.
    pub name: Ident,
    /// Its physical base address.
    pub base: Expr,
    /// Its size in bytes.
    pub size: Expr,
    /// The whole statement.
    pub span: Span,
}

/// `deny domain holds right on object;`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DenyItem {
    /// The domain.
    pub domain: Ident,
    /// The right.
    pub right: Ident,
    /// The object.
    pub object: Ident,
    /// The whole statement.
    pub span: Span,
}
