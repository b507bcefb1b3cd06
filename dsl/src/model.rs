//! The checked model: what a spec means, with every name resolved to an id,
//! every expression evaluated and every cap laid out.
//!
//! Produced by [`crate::check`] only when there are no errors; the code
//! generator, the interpreter and the docs generator read it and never look at
//! the syntax tree. Ids index the vectors of [`Spec`]; order is declaration
//! order (imports first, in `use` order), which is also ABI order.

use crate::ast::{ObjectKind, Scalar, Transfer};
use crate::source::{FileId, Span};

macro_rules! id {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u32);
        impl $name {
            /// The index into the matching vector of [`Spec`].
            pub fn index(self) -> usize { self.0 as usize }
        }
    )*};
}

id! {
    /// Index of an object type in [`Spec::objects`].
    ObjectId;
    /// Index of a cap type in [`Spec::caps`].
    CapId;
    /// Index of a right in [`Spec::rights`]; also its bit in a rights mask.
    RightId;
    /// Index of an error set in [`Spec::error_sets`].
    ErrorSetId;
    /// Index of a declared message type in [`Spec::data_types`].
    DataTypeId;
    /// Index of an enumeration in [`Spec::enumerations`].
    EnumerationId;
    /// Index of a bitfield in [`Spec::bitfields`].
    BitfieldId;
}

/// A checked spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// `//!` docs of the root file.
    pub docs: Vec<String>,
    /// The target machine's limits.
    pub target: Target,
    /// Named constants with their values.
    pub consts: Vec<Const>,
    /// Declared rights; a right's index is its bit.
    pub rights: Vec<Right>,
    /// Object types.
    pub objects: Vec<Object>,
    /// Cap types; a cap's tag is its `#[tag(N)]`, else the lowest free tag
    /// in declaration order (index + 1 when none is numbered; tag 0 is the
    /// null cap).
    pub caps: Vec<CapType>,
    /// Retype rules.
    pub retypes: Vec<Retype>,
    /// Derivation rules between cap types, in declaration order.
    pub derives: Vec<Derive>,
    /// Error sets.
    pub error_sets: Vec<ErrorSet>,
    /// Message types (`struct`, `enum`, `type`), in declaration order.
    pub data_types: Vec<DataType>,
    /// Enumerations (`enum Name: uN { ... }`), in declaration order.
    pub enumerations: Vec<Enumeration>,
    /// Bitfields (`bitfield Name { ... }`), in declaration order.
    pub bitfields: Vec<Bitfield>,
    /// Kernel invocations, one set per invoked cap type.
    pub invocations: Vec<MethodSet>,
    /// RPC interfaces between user tasks.
    pub interfaces: Vec<MethodSet>,
    /// The spec's configuration options (`config { ... }`) in declaration
    /// order, each on or off in the configuration this model is of.
    pub configuration: Vec<ConfigOption>,
    /// `syscalls` blocks: a kernel's system calls, in declaration order.
    pub syscalls: Vec<SyscallSet>,
    /// Whole systems (`system name { ... }`), in declaration order.
    pub systems: Vec<System>,
    /// Which spec file imports which, `(importer, imported)`: file 0 is the
    /// root, the others are its imports (the backend generates an imported
    /// file's items elsewhere when told where, `capc build --extern`).
    pub imports: Vec<(FileId, FileId)>,
}

/// A bitfield: a record of `bool`, `uN` and enumeration fields packed into
/// `words` message words, each field at its word and bits (seL4's
/// `seL4_CapRights_t`, `seL4_CNode_CapData`). A kernel invocation
/// parameter or result of this type takes its words; the bits no field
/// holds are 0 when encoded, and ignored when decoded unless `strict`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bitfield {
    /// Doc comment.
    pub docs: Vec<String>,
    /// Its name.
    pub name: String,
    /// Message words it takes (the highest word a field is in, plus 1).
    pub words: u64,
    /// Its fields, in declaration order.
    pub fields: Vec<BitfieldField>,
    /// `#[strict]`: the decoder refuses a value with a bit set that no
    /// field holds.
    pub strict: bool,
    /// Where it is declared (its name).
    pub span: Span,
}

impl Bitfield {
    /// The bits of word `word` that some field holds.
    pub fn used_mask(&self, word: u64) -> u64 {
        self.fields
            .iter()
            .filter(|f| f.word == word)
            .fold(0, |m, f| m | f.mask())
    }
}

/// One field of a [`Bitfield`]: bits `bit..bit + width` of word `word`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BitfieldField {
    /// Doc comment.
    pub docs: Vec<String>,
    /// Its name.
    pub name: String,
    /// The message word it is in, from 0.
    pub word: u64,
    /// Its lowest bit in that word.
    pub bit: u32,
    /// Bits it takes (1 for a `bool`, N for a `uN`, an enumeration's N).
    pub width: u32,
    /// Whether it is a `bool`.
    pub boolean: bool,
    /// The enumeration whose named values it holds.
    pub values: Option<EnumerationId>,
    /// Where it is declared (its name).
    pub span: Span,
}

impl BitfieldField {
    /// Its bits within its word.
    pub fn mask(&self) -> u64 {
        (u64::MAX >> (64 - self.width)) << self.bit
    }
}

/// An enumeration: named values of `bits` bits, which a cap field or a
/// kernel invocation parameter of this type holds. The generated Rust enum
/// converts from a word only for a named value; a setter or decoder refuses
/// others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enumeration {
    /// Doc comment.
    pub docs: Vec<String>,
    /// Its name.
    pub name: String,
    /// Bits a value takes (`uN`).
    pub bits: u32,
    /// Its values in declaration order, each distinct and below `2^bits`.
    pub values: Vec<EnumerationValue>,
    /// Where it is declared (its name).
    pub span: Span,
}

impl Spec {
    /// The value a cap the kernel makes (by retype, `creates` or `derive`)
    /// holds in a plain field it sets nothing for: 0, or for an enumerated
    /// field its enumeration's first variant.
    pub fn initial_value(&self, field: &CapField) -> u64 {
        field
            .values
            .and_then(|e| self.enumerations[e.index()].values.first())
            .map_or(0, |v| v.value)
    }
}

impl Enumeration {
    /// The variant named with this value, if any.
    pub fn named(&self, value: u64) -> Option<&EnumerationValue> {
        self.values.iter().find(|v| v.value == value)
    }
}

/// One named value of an enumeration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnumerationValue {
    /// Doc comment.
    pub docs: Vec<String>,
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: u64,
    /// Where it is declared (its name).
    pub span: Span,
}

/// One configuration option and whether this model's configuration has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigOption {
    /// Its name (`mcs`).
    pub name: String,
    /// Its doc comment.
    pub docs: Vec<String>,
    /// Whether it is on.
    pub enabled: bool,
}

/// Limits of the target machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The target's name.
    pub name: String,
    /// Width of a physical/virtual address in bits.
    pub address_bits: u32,
    /// Whether messages may carry `f32` and `f64` (`floats = 1;`, 0 unless
    /// set).
    pub floats: bool,
    /// Width of the cap type tag in bits.
    pub tag_bits: u32,
    /// The tag's lowest bit in word 0 (`tag_shift`, 0 unless set): the
    /// tag is bits `tag_shift..tag_shift + tag_bits` of word 0 in every
    /// cap type.
    pub tag_shift: u32,
    /// Message words passed in registers.
    pub message_registers: u32,
    /// Words a message may carry in all (registers + IPC buffer).
    pub message_words: u32,
    /// Channel messages an RPC message may take (`fragments`, 1 unless
    /// set): a transport that fragments, as Flounder's backends do, carries
    /// an RPC message of up to `message_words × fragments` words in that
    /// many messages of `message_words` (kernel invocations: one).
    pub fragments: u32,
    /// Bits of a message's label (`label_bits`, 64 unless set): every
    /// method label, error number and protocol error label is below
    /// 2^`label_bits` (seL4's 64-bit `MessageInfo` has 52).
    pub label_bits: u32,
    /// Capabilities a message may carry.
    pub caps_per_message: u32,
    /// 64-bit words of one capability (`cap_words`, 2 unless set).
    pub cap_words: u32,
    /// log2 of the bytes of one capability slot (`slot_bits`), if set;
    /// required when an object owns slots.
    pub slot_bits: Option<u32>,
    /// The virtual addresses a task may map, `[start, end)` (`user_base`,
    /// `user_end`); `None`: every address the tables cover.
    pub user_space: Option<(u64, u64)>,
    /// Where the target block is.
    pub span: Span,
}

impl Target {
    /// The most words an RPC message carries: `message_words × fragments`.
    pub fn rpc_words(&self) -> u64 {
        u64::from(self.message_words) * u64::from(self.fragments)
    }

    /// The highest label a message may carry: 2^`label_bits` − 1. The
    /// top five are the protocol errors' reply labels and the one below
    /// them is a transport's "server died".
    pub fn last_label(&self) -> u64 {
        u64::MAX >> (64 - self.label_bits)
    }

    /// The highest label a method or an error number may have: below the
    /// protocol errors' labels and the transport's "server died".
    pub fn last_method_label(&self) -> u64 {
        self.last_label() - 6
    }
}

/// A named constant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Const {
    /// Doc comment.
    pub docs: Vec<String>,
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: u64,
    /// Where it is declared.
    pub span: Span,
}

/// A right.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Right {
    /// Doc comment.
    pub docs: Vec<String>,
    /// Its name.
    pub name: String,
    /// Where it is declared.
    pub span: Span,
}

/// The values an object's size argument may take, all of them listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SizeRule {
    /// The parameter's name, if the size is parameterised.
    pub param: Option<String>,
    /// `(argument, size_bits)` for every allowed argument, ascending; one entry
    /// with argument 0 for a fixed-size object. Empty for a byte-sized
    /// object (`bytes` is set).
    pub table: Vec<(u64, u32)>,
    /// `#[bytes]`: the size argument is the object's size in bytes, any
    /// multiple of a granule in a range, not a power of two chosen by the
    /// argument (Barrelfish's RAM, Frame and CNode sizes).
    pub bytes: Option<ByteSizes>,
}

/// The sizes of a byte-sized object type (`#[bytes]`): every multiple of
/// `1 << granule_bits` from `min` to `max`. Objects are aligned to the
/// type's `align` (no larger than the granule, which it is unless
/// `#[bytes(granule = N)]` says otherwise), not to their size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSizes {
    /// log2 of the granule in bytes: every size is a multiple of it.
    pub granule_bits: u32,
    /// The smallest size, a multiple of the granule, at least one granule.
    pub min: u64,
    /// The largest size, a multiple of the granule.
    pub max: u64,
}

impl SizeRule {
    /// log2 of the size for `arg`, if `arg` is allowed and the object's
    /// sizes are powers of two (never for a byte-sized object: use
    /// [`SizeRule::size_of`]).
    pub fn size_bits(&self, arg: u64) -> Option<u32> {
        self.table
            .binary_search_by_key(&arg, |(a, _)| *a)
            .ok()
            .map(|i| self.table[i].1)
    }

    /// The size in bytes for `arg`, if `arg` is allowed: `1 << size_bits`,
    /// or for a byte-sized object `arg` itself when it is a multiple of the
    /// granule in range.
    pub fn size_of(&self, arg: u64) -> Option<u64> {
        match self.bytes {
            Some(b) => (arg >= b.min && arg <= b.max && arg & ((1u64 << b.granule_bits) - 1) == 0)
                .then_some(arg),
            None => self.size_bits(arg).and_then(|bits| 1u64.checked_shl(bits)),
        }
    }

    /// Whether the object is byte-sized (`#[bytes]`).
    pub fn is_bytes(&self) -> bool {
        self.bytes.is_some()
    }

    /// The smallest allowed argument.
    pub fn min_arg(&self) -> u64 {
        match self.bytes {
            Some(b) => b.min,
            None => self.table.first().map_or(0, |(a, _)| *a),
        }
    }

    /// The largest allowed argument.
    pub fn max_arg(&self) -> u64 {
        match self.bytes {
            Some(b) => b.max,
            None => self.table.last().map_or(0, |(a, _)| *a),
        }
    }

    /// The smallest size (log2, rounded down) over every argument.
    pub fn min_bits(&self) -> u32 {
        match self.bytes {
            Some(b) => b.min.ilog2(),
            None => self.table.iter().map(|(_, b)| *b).min().unwrap_or(0),
        }
    }

    /// The largest size (log2, rounded up) over every argument.
    pub fn max_bits(&self) -> u32 {
        match self.bytes {
            Some(b) => 64 - (b.max - 1).leading_zeros(),
            None => self.table.iter().map(|(_, b)| *b).max().unwrap_or(0),
        }
    }
}

/// An object type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// Doc comment.
    pub docs: Vec<String>,
    /// Its name.
    pub name: String,
    /// Untyped, frame or kernel object.
    pub kind: ObjectKind,
    /// Size (log2 bytes) for every allowed size argument.
    pub size: SizeRule,
    /// log2 of the alignment when it differs from the size; `None` means
    /// naturally aligned (the alignment is the size).
    pub align_bits: Option<u32>,
    /// May be made from RAM.
    pub ram: bool,
    /// May be made from device memory.
    pub device: bool,
    /// What removing the last cap to an object of this type undoes, in the
    /// order the kernel does it (declaration order).
    pub finalisers: Vec<Finaliser>,
    /// Capability slots inside each object, at its end, in declaration order.
    pub slots: Vec<OwnedSlot>,
    /// The object is a translation table (`table = N x SIZE of A | B;`).
    pub table: Option<Table>,
    /// The object is a pool of address-space numbers (`asid_pool = N;`).
    pub asid_pool: Option<AsidPool>,
    /// Its object-type number (`#[number(N)]`, else the lowest free in
    /// declaration order: its index when no object type is numbered): the
    /// `ObjectType` discriminant and retype's type argument.
    pub number: u32,
    /// `#[number(A, B, ...)]` on a sized type: one number per size
    /// argument, `(argument, number)` in ascending argument order, the first
    /// being `number` (seL4's one frame cap for three frame object types).
    /// A retype whose type argument is one of these makes the object with
    /// that size argument, whatever its size argument word says. Empty
    /// otherwise.
    pub numbers: Vec<(u64, u32)>,
    /// Where it is declared.
    pub span: Span,
}

/// A translation table (`table = 512 x 2 MiB of PageTable | Frame;`): an
/// object of `entries` one-word entries, each covering `1 << entry_bits`
/// bytes of an address space. The tables of a spec form one tree, rooted
/// at the address-space root (`finalise = release_asid`): a table type an
/// entry holds spans exactly one entry, a frame type it holds is mapped
/// there at the entry's size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// How many entries (a power of two).
    pub entries: u64,
    /// log2 of the bytes of address space one entry covers.
    pub entry_bits: u32,
    /// The object types an entry may hold, as written.
    pub holds: Vec<ObjectId>,
    /// Where the `table` statement is.
    pub span: Span,
}

impl Table {
    /// log2 of the bytes of address space the whole table covers.
    pub fn span_bits(&self) -> u32 {
        self.entry_bits + self.entries.trailing_zeros()
    }
}

/// A pool of address-space numbers (`asid_pool = 512;`, seL4's ASID pool):
/// an object of `numbers` one-word entries, each the address-space root a
/// number stands for (0: free). A number is the pool's place in the
/// kernel's directory of pools times `numbers`, plus the entry's index; the
/// directory has `2^bits / numbers` places, where `bits` is the width of
/// the root cap's `#[asid]` field. Pools are made from an Untyped of
/// exactly their size by the kernel's pool-making invocation (seL4's
/// ASIDControl), never by retype; removing a pool's last cap releases every
/// number in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsidPool {
    /// How many numbers one pool holds (a power of two).
    pub numbers: u64,
    /// Where the `asid_pool` statement is.
    pub span: Span,
}

/// One action of an object's finalisation (`finalise = ...;`): what the
/// kernel undoes when the last cap to the object goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Finaliser {
    /// `stop_thread`: the thread stops, leaves any queue, and its pending
    /// reply (and any reply owed to it) is cancelled.
    StopThread,
    /// `cancel_waiters`: threads queued on the object restart with an error.
    CancelWaiters,
    /// `unmap`: the object is unmapped from (or unlinked out of) where its
    /// caps record it is mapped.
    Unmap,
    /// `release_asid`: the object is an address-space root; its address
    /// space number is released, so mappings recorded under it are dead.
    ReleaseAsid,
}

impl Finaliser {
    /// Every action, in the order of the vocabulary.
    pub const ALL: [Finaliser; 4] = [
        Finaliser::StopThread,
        Finaliser::CancelWaiters,
        Finaliser::Unmap,
        Finaliser::ReleaseAsid,
    ];

    /// The action as a spec writes it.
    pub fn name(self) -> &'static str {
        match self {
            Finaliser::StopThread => "stop_thread",
            Finaliser::CancelWaiters => "cancel_waiters",
            Finaliser::Unmap => "unmap",
            Finaliser::ReleaseAsid => "release_asid",
        }
    }

    /// The action a spec's word names.
    pub fn from_name(name: &str) -> Option<Finaliser> {
        Finaliser::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// A capability slot an object owns (`slot name: CapType(rights);`): in the
/// derivation tree like any CNode slot, deleted with the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedSlot {
    /// Doc comment.
    pub docs: Vec<String>,
    /// Its name.
    pub name: String,
    /// The cap type it holds; the type names an object.
    pub cap: CapId,
    /// Rights a cap must carry to be put there.
    pub rights: Vec<RightId>,
    /// Byte offset from the start of the object: slot `i` of `n` lies at
    /// `size - (n - i) << slot_bits`.
    pub offset: u64,
    /// `#[required]`: the object's thread resumes only with a cap here.
    pub required: bool,
    /// Where it is declared.
    pub span: Span,
}

impl Object {
    /// log2 of the alignment for size argument `arg`.
    pub fn align_bits_for(&self, size_bits: u32) -> u32 {
        self.align_bits.unwrap_or(size_bits)
    }

    /// The size in bytes and log2 of the alignment of an object of size
    /// argument `arg`, if `arg` is allowed: a byte-sized object is aligned
    /// to its granule, any other to `align` or its size.
    pub fn placement_of(&self, arg: u64) -> Option<(u64, u32)> {
        match self.size.bytes {
            Some(b) => Some((
                self.size.size_of(arg)?,
                self.align_bits.unwrap_or(b.granule_bits),
            )),
            None => {
                let bits = self.size.size_bits(arg)?;
                Some((1u64.checked_shl(bits)?, self.align_bits_for(bits)))
            }
        }
    }
}

/// What a field means to the kernel, beyond its bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// No role: plain data.
    Plain,
    /// `#[object]`: the address of the named object (and of the region the cap covers).
    Object,
    /// `#[size_arg]`: the object's size argument.
    SizeArg,
    /// `#[watermark(unit = N)]`: bytes already retyped, in units of N bytes.
    Watermark,
    /// `#[badge]`: set once by mint, never changed after.
    Badge,
    /// `#[device]`: the region is device memory.
    Device,
    /// `#[guard]`: the CNode guard value.
    Guard,
    /// `#[guard_bits]`: how many bits of the guard are significant.
    GuardBits,
    /// `#[mapped_at]`: the virtual page number the object is mapped at (0: unmapped).
    MappedAt,
    /// `#[mapped_in]`: the address space (ASID) it is mapped in (0: none).
    MappedIn,
    /// `#[asid]`: on the address-space root's cap, the number a pool gave
    /// the address space (0: none yet; such a cap cannot be copied).
    Asid,
    /// `#[caller]`: on a reply cap (a cap type without `for`), the thread
    /// waiting for the reply. The cap names it without keeping it alive.
    Caller,
}

/// Whose the mapping recorded in a cap's `#[mapped_at]` field is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mapping {
    /// Each cap's own (frames, as seL4's): a copy starts unmapped, and
    /// removing a mapped cap unmaps it.
    EachCap,
    /// The object's, shared by its caps (page tables): an unmapped cap
    /// cannot be copied, a copy keeps the mapping, and removing the last cap
    /// unlinks the object.
    Shared,
}

/// The checked type of a cap field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// An address stored shifted right by `align_bits`.
    Ptr {
        /// log2 of the pointer's alignment.
        align_bits: u32,
    },
    /// An unsigned integer.
    Uint,
    /// One bit.
    Bool,
    /// A rights mask over the declared rights; `allowed` are those this cap may carry.
    Rights {
        /// Rights this cap type may carry.
        allowed: Vec<RightId>,
    },
}

/// A field of a cap, laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapField {
    /// Doc comment.
    pub docs: Vec<String>,
    /// Its name.
    pub name: String,
    /// Its type.
    pub kind: FieldKind,
    /// What it means to the kernel.
    pub role: Role,
    /// Part of the object's identity (`#[identity]`): two caps with equal
    /// identity fields name the same object.
    pub identity: bool,
    /// For `#[watermark]`: log2 of its unit in bytes.
    pub unit_bits: u32,
    /// `#[sign_extend]` on a pointer: its getter copies the address's top
    /// stored bit into the bits above it (canonical addresses, seL4's
    /// `field_high` on x86_64), and its setter takes only such addresses.
    pub sign_extend: bool,
    /// `#[whole_word]` on a pointer: the field is 64 bits and holds the
    /// address itself, not shifted right by its alignment (seL4's
    /// `field capPML4BasePtr 64`); its setter still refuses a misaligned
    /// address.
    pub whole_word: bool,
    /// `#[object(virtual_offset = N)]`: the field holds the object's
    /// address plus `N` (modulo 2^64), a kernel-virtual pointer whose
    /// object lies at `field - N` (Barrelfish's `mem_to_phys(field)`); 0
    /// otherwise.
    pub virtual_offset: u64,
    /// `#[size_arg(bytes)]`: the field holds the object's size in bytes,
    /// `1 << arg`, rather than its size argument `arg` (the object's size
    /// is `1 << arg` for every argument).
    pub size_bytes: bool,
    /// Which of the two words holds it.
    pub word: u8,
    /// Lowest bit in that word.
    pub shift: u8,
    /// Width in bits.
    pub width: u8,
    /// An enumerated field (`page_size: FrameSize`, its kind `Uint`): the
    /// enumeration whose named values it holds.
    pub values: Option<EnumerationId>,
    /// Where it is declared.
    pub span: Span,
}

impl CapField {
    /// Its bits within its word.
    pub fn mask(&self) -> u64 {
        u64::MAX
            .checked_shr(64 - u32::from(self.width))
            .unwrap_or(0)
            << self.shift
    }

    /// The bits the field's `value` takes in its word: a pointer shifted
    /// right by its alignment (a `#[whole_word]` one as it is), its low `width` bits (a sign-extended
    /// pointer's bits above its top stored bit are the ones it repeats), at
    /// `shift`. The one rule by which a cap's fields are placed in its
    /// words, which [`CapType::words`] applies to every field.
    pub fn placed(&self, value: u64) -> u64 {
        let value = match self.kind {
            FieldKind::Ptr { align_bits } if !self.whole_word => {
                value.checked_shr(align_bits).unwrap_or(0)
            }
            _ => value,
        };
        (value << self.shift) & self.mask()
    }
}

/// How copies of a cap behave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyPolicy {
    /// Copies and derivations follow the usual rules.
    Normal,
    /// `#[always_copy]`: every derivation is a copy (never a child).
    Always,
    /// `#[never_copy]`: the cap cannot be copied at all.
    Never,
}

/// A cap type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapType {
    /// Doc comment.
    pub docs: Vec<String>,
    /// Its name.
    pub name: String,
    /// Its tag, at `Target::tag_shift` in word 0.
    pub tag: u32,
    /// The object type it names, if any.
    pub object: Option<ObjectId>,
    /// Fields with their positions (the tag is not listed).
    pub fields: Vec<CapField>,
    /// Rights this cap type may carry (empty when it has no rights field).
    pub rights: Vec<RightId>,
    /// Copy behaviour.
    pub copy: CopyPolicy,
    /// Whose the mapping is, for a cap type with a `#[mapped_at]` field.
    pub mapping: Option<Mapping>,
    /// `#[copy(...)]`: the conditions it states on copying and minting
    /// its caps, on top of the implicit ones (`#[never_copy]`, `mapping`,
    /// `#[asid]`, an Untyped's children).
    pub copy_conditions: CopyConditions,
    /// Where it is declared.
    pub span: Span,
}

/// A cap type's own conditions on a copy or mint (`#[copy(requires(f),
/// clears(g, h), no_children)]`), as seL4's `deriveCap` has them per type.
/// Fields are indices into [`CapType::fields`], in the order written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyConditions {
    /// `requires(f, ...)`: a cap is copied only while each of these `bool`
    /// fields is true (a `uN` field: not 0). seL4: an unmapped page-table
    /// cap is not derived (`IllegalOperation`).
    pub requires: Vec<usize>,
    /// `clears(f, ...)`: the copy has these fields 0; the source keeps
    /// them. seL4: a frame cap's copy has no mapping type and no ASID.
    pub clears: Vec<usize>,
    /// `no_children`: a cap is copied only while it has no children in
    /// the derivation tree (`RevokeFirst`), as seL4's `ensureNoChildren`
    /// for an Untyped.
    pub no_children: bool,
}

impl CopyConditions {
    /// Whether the cap type states no condition.
    pub fn is_empty(&self) -> bool {
        self.requires.is_empty() && self.clears.is_empty() && !self.no_children
    }
}

impl CapType {
    /// The field with `role`, if any.
    pub fn field_with(&self, role: Role) -> Option<&CapField> {
        self.fields.iter().find(|f| f.role == role)
    }

    /// Whether it is a reply cap: the right to answer one call, naming the
    /// caller (its `#[caller]` field) without keeping it alive.
    pub fn is_reply(&self) -> bool {
        self.field_with(Role::Caller).is_some()
    }

    /// The `target.cap_words` words of a cap of this type whose fields
    /// hold `value(field)`: its tag at `target.tag_shift` in word 0, each
    /// field [placed](CapField::placed) in its word; every other bit 0.
    pub fn words(&self, target: &Target, value: impl Fn(&CapField) -> u64) -> Vec<u64> {
        let mut words = vec![0; target.cap_words as usize];
        words[0] = u64::from(self.tag) << target.tag_shift;
        for f in &self.fields {
            words[usize::from(f.word)] |= f.placed(value(f));
        }
        words
    }
}

/// A retype rule: caps of `source` may be retyped into `targets`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retype {
    /// Doc comment.
    pub docs: Vec<String>,
    /// The cap type that is retyped.
    pub source: CapId,
    /// Object types it may become, in declaration order.
    pub targets: Vec<ObjectId>,
    /// Most objects one retype call may create.
    pub fan_out: u64,
    /// `#[at_offset]`: the source may also be retyped at an explicit byte
    /// offset into its region (Barrelfish's retype), not only at its
    /// watermark; the objects must not overlap a live cap to memory in it.
    pub at_offset: bool,
    /// Where it is declared.
    pub span: Span,
}

/// A derivation rule (`derive Target from Source;`): a cap of `target` is
/// made from a cap of `source` without allocating memory. It names the
/// source's object (or, for a source without identity fields, the one
/// object of its type), is a child of the source cap in the derivation tree,
/// and goes when the source is revoked. A derived cap never owns its
/// object: removing the last one finalises nothing.
///
/// With `source == target` it is a splitting rule (Barrelfish's
/// `from_self`): a cap is split into caps of its own type, each naming a
/// smaller piece of its object, back to back from its start; the pieces are
/// children of the cap and objects in their own right.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Derive {
    /// Doc comment.
    pub docs: Vec<String>,
    /// The cap type it is made from; not untyped memory.
    pub source: CapId,
    /// The cap type that is made; names `source`'s object type or none.
    pub target: CapId,
    /// `#[multiple]` (Barrelfish's `can_retype_multiple`): a source cap may
    /// have any number of caps derived by this rule; without it, one at a
    /// time (a derivation while one is live is `RevokeFirst`). Never set on
    /// a splitting rule: pieces must not overlap.
    pub multiple: bool,
    /// `#[at_offset]`, on a splitting rule only: a cap may also be split
    /// into pieces from an explicit byte offset into its object (Barrelfish's
    /// retype of a Frame at an offset), any number of times while the
    /// pieces do not meet.
    pub at_offset: bool,
    /// `#[range(first, last)]`, on a splitting rule of a cap type that
    /// names no object (Barrelfish's IRQSrc `from_self`): a cap holds the
    /// numbers `first..=last` of these two identity fields (indices into
    /// the type's fields), and splits into caps for sub-ranges of them, any
    /// number of times while the sub-ranges do not meet.
    pub range: Option<(usize, usize)>,
    /// Where it is declared (the target's name).
    pub span: Span,
}

/// A set of errors with payloads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorSet {
    /// Doc comment.
    pub docs: Vec<String>,
    /// Its name.
    pub name: String,
    /// Variants; a variant's number is its index + 1 (0 means success).
    pub variants: Vec<ErrorVariant>,
    /// Whether some payload value has a type (`len: u32`) rather than
    /// being a bare word: the set is an RPC's, its payload laid out in
    /// bytes as message values are.
    pub typed: bool,
    /// Bytes of the variant's index when the set is nested in another's
    /// payload: [`length_prefix_bytes`] of the last index.
    pub discriminant_bytes: u64,
    /// Bytes a nested error of the set takes: the discriminant and the
    /// widest payload.
    pub bytes: u64,
    /// Where it is declared.
    pub span: Span,
}

/// One error variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorVariant {
    /// Doc comment.
    pub docs: Vec<String>,
    /// Its name.
    pub name: String,
    /// Names of its payload values.
    pub payload: Vec<String>,
    /// The type of each payload value (as many as `payload`), and its first
    /// byte in a reply's words.
    pub payload_types: Vec<(PayloadTy, u64)>,
    /// Bytes its payload takes (the sum of its values'; with `rest`, the
    /// most it takes: the rest's number word and its set's longest payload).
    pub payload_bytes: u64,
    /// `name: ..Set` after the payload words (a set of bare words only): the
    /// rest of the message is an error of `Set`, its number in one word,
    /// then its payload words, so the payload's length depends on which
    /// error it is (seL4's FailedLookup and its lookup fault). The value's
    /// name and the set.
    pub rest: Option<(String, ErrorSetId)>,
    /// Where it is declared (its name).
    pub span: Span,
}

/// The type of an error's payload value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PayloadTy {
    /// A bare name (`index`): one word, a `u64`.
    Word,
    /// `name: T`: a message value.
    Data(Ty),
    /// `name: OtherErrors`: an error of another set, nested (sprot's errors
    /// that carry another's), laid out as an enum: the variant's index
    /// (its number − 1) in [`ErrorSet::discriminant_bytes`], then its
    /// payload, then zeros to [`ErrorSet::bytes`].
    Errors(ErrorSetId),
}

impl PayloadTy {
    /// The type as a spec writes it (`word` for a bare name).
    pub fn spelling(&self, spec: &Spec) -> String {
        match self {
            PayloadTy::Word => "word".to_string(),
            PayloadTy::Data(ty) => ty.spelling(&spec.data_types),
            PayloadTy::Errors(id) => spec.error_sets[id.index()].name.clone(),
        }
    }
}

/// What a method's parameter is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// A scalar in one word.
    Scalar(Scalar),
    /// A fixed-size array packed into words.
    Array {
        /// The element type.
        element: Scalar,
        /// How many elements.
        len: u64,
        /// Message words it takes.
        words: u64,
    },
    /// Any other value (RPC interfaces only): laid out in bytes from the
    /// first byte of its first word (see [`Ty`]), the bytes after it in
    /// its last word zero.
    Data {
        /// Its type.
        ty: Ty,
        /// Bytes it takes.
        bytes: u64,
        /// Message words it takes: `bytes` rounded up to whole words.
        words: u64,
    },
    /// A lease (RPC parameters only): memory the caller lends for the call,
    /// a frame cap minted with exactly the lease's rights (the one cap it
    /// takes) and two words, the offset into the frame and the length, in
    /// bytes.
    Lease(Lease),
    /// A capability.
    Cap {
        /// How it travels.
        transfer: Transfer,
        /// Its cap type.
        cap: CapId,
        /// Rights it must carry.
        rights: Vec<RightId>,
        /// `#[unchecked]` (kernel invocations): the decoder hands the cap
        /// over as it was looked up, and the method checks its type and
        /// rights where its semantics say (seL4's order), not the decoder.
        unchecked: bool,
        /// `cap A | B`: the other cap types the cap may have (kernel
        /// invocations; seL4's SchedContext Bind takes a TCB or a
        /// notification), in the order written after `cap`.
        alternatives: Vec<CapId>,
        /// `cap A | null`: the cap may be the null cap (seL4's optional
        /// fault endpoint).
        nullable: bool,
    },
    /// `cap any` (RPC interfaces only): a capability of any type, with
    /// whatever rights it has (Flounder's `cap`).
    AnyCap {
        /// How it travels.
        transfer: Transfer,
    },
}

/// A lease: a range of a frame the caller lends for one call, which the
/// server may read and write only as declared and only within its length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The frame cap type that carries it.
    pub cap: CapId,
    /// The server may read it (the right `read`).
    pub read: bool,
    /// The server may write it (the right `write`).
    pub write: bool,
    /// Exactly the rights the lent cap is minted with: `read`, `write` or
    /// both, in declaration order.
    pub rights: Vec<RightId>,
    /// The element type: an integer (`Ty::Int`), laid out little-endian.
    pub element: Ty,
    /// Bytes of one element.
    pub element_bytes: u64,
    /// The most elements it holds (`[T; ..=N]`), or exactly this many
    /// (`[T; N]`).
    pub max: u64,
    /// `[T; N]`: the length is exactly `max` elements.
    pub exact: bool,
    /// The largest size of the frame type's object, in bytes: no lease
    /// reaches past it (`offset + length`).
    pub frame_bytes: u64,
}

impl Lease {
    /// Message words a lease takes: its offset and its length.
    pub const WORDS: u64 = 2;

    /// The most bytes it holds.
    pub fn max_bytes(&self) -> u64 {
        self.max * self.element_bytes
    }
}

/// A declared message type with its wire layout.
///
/// Every message value is laid out in bytes, packed (no padding between
/// fields), little-endian: see [`Ty::bytes`]. The layout is computed once,
/// here, by the checker; the backend and the docs read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataType {
    /// Doc comment.
    pub docs: Vec<String>,
    /// Its name.
    pub name: String,
    /// What it is.
    pub def: DataDef,
    /// Bytes a value takes in a message.
    pub bytes: u64,
    /// Where it is declared (its name).
    pub span: Span,
}

/// What a declared message type is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataDef {
    /// `struct`: its fields, each at its byte offset.
    Record(Vec<RecordField>),
    /// `enum`: a discriminant (the variant's index, little-endian) then
    /// the variant's values; bytes a shorter variant leaves are zero.
    Enum {
        /// Bytes of the discriminant: [`length_prefix_bytes`] of the last index.
        discriminant_bytes: u64,
        /// Its variants in discriminant order.
        variants: Vec<EnumVariant>,
    },
    /// `type Name = T;`: the layout of `T`.
    Alias(Ty),
    /// `type Name = uN in lo..=hi;`: a new type of the unsigned integer
    /// `ty`'s values from `min` to `max`, laid out as `ty`; decoding
    /// refuses the others.
    Range {
        /// The integer type.
        ty: Ty,
        /// The least value.
        min: u64,
        /// The greatest value.
        max: u64,
    },
}

impl DataDef {
    /// Whether a value of the type holds a floating-point number.
    pub fn has_float(&self, types: &[DataType]) -> bool {
        match self {
            DataDef::Record(fields) => fields.iter().any(|f| f.ty.has_float(types)),
            DataDef::Enum { variants, .. } => variants
                .iter()
                .any(|v| v.fields.iter().any(|(t, _)| t.has_float(types))),
            DataDef::Alias(t) | DataDef::Range { ty: t, .. } => t.has_float(types),
        }
    }
}

/// One field of a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordField {
    /// Doc comment.
    pub docs: Vec<String>,
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Ty,
    /// Its first byte, from the record's first byte.
    pub offset: u64,
    /// Where it is declared (its name).
    pub span: Span,
}

/// One variant of an enum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnumVariant {
    /// Doc comment.
    pub docs: Vec<String>,
    /// Its name.
    pub name: String,
    /// Its values' types, each with its first byte from the enum's first
    /// byte (after the discriminant).
    pub fields: Vec<(Ty, u64)>,
    /// Bytes its discriminant and values take; the rest of the enum's
    /// bytes are zero.
    pub end: u64,
    /// Where it is declared (its name).
    pub span: Span,
}

/// The type of a message value laid out in bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ty {
    /// One byte, 0 or 1.
    Bool,
    /// An integer of `bits` bits (8, 16, 32 or 64), two's complement when
    /// signed.
    Int {
        /// `iN` rather than `uN` (`word` is `u64`).
        signed: bool,
        /// Its width.
        bits: u32,
    },
    /// `f32` or `f64`: IEEE 754 binary32 or binary64, its bits
    /// little-endian (every bit pattern is a value, each NaN kept as sent).
    Float {
        /// 32 or 64.
        bits: u32,
    },
    /// `[T; N]`: exactly N values, one after the other.
    Array(Box<Ty>, u64),
    /// `[T; ..=N]`: a length (of [`length_prefix_bytes`]`(N)` bytes), then
    /// room for N values; the values past the length are zero.
    Bounded(Box<Ty>, u64),
    /// `string<=N>`: a length, then N bytes of which the first `length`
    /// are UTF-8 and the rest zero.
    String(u64),
    /// `Option<T>`: one byte, 0 (none) or 1 (some), then room for a `T`,
    /// zero when none.
    Option(Box<Ty>),
    /// A declared `struct`, `enum` or `type`.
    Named(DataTypeId),
}

impl Ty {
    /// Whether a value of this type holds a floating-point number, however
    /// deeply (its Rust type then has no `Eq` or `Hash`: NaN is not equal
    /// to itself).
    pub fn has_float(&self, types: &[DataType]) -> bool {
        match self {
            Ty::Float { .. } => true,
            Ty::Bool | Ty::Int { .. } | Ty::String(_) => false,
            Ty::Array(t, _) | Ty::Bounded(t, _) | Ty::Option(t) => t.has_float(types),
            Ty::Named(id) => types[id.index()].def.has_float(types),
        }
    }

    /// Bytes a value of this type takes in a message, given the declared
    /// types (whose sizes the checker computed).
    pub fn bytes(&self, types: &[DataType]) -> u64 {
        match self {
            Ty::Bool => 1,
            Ty::Int { bits, .. } | Ty::Float { bits } => u64::from(*bits) / 8,
            Ty::Array(t, n) => n * t.bytes(types),
            Ty::Bounded(t, n) => length_prefix_bytes(*n) + n * t.bytes(types),
            Ty::String(n) => length_prefix_bytes(*n) + n,
            Ty::Option(t) => 1 + t.bytes(types),
            Ty::Named(id) => types[id.index()].bytes,
        }
    }

    /// The type as a spec writes it.
    pub fn spelling(&self, types: &[DataType]) -> String {
        match self {
            Ty::Bool => "bool".to_string(),
            Ty::Int { signed, bits } => format!("{}{bits}", if *signed { 'i' } else { 'u' }),
            Ty::Float { bits } => format!("f{bits}"),
            Ty::Array(t, n) => format!("[{}; {n}]", t.spelling(types)),
            Ty::Bounded(t, n) => format!("[{}; ..={n}]", t.spelling(types)),
            Ty::String(n) => format!("string<={n}>"),
            Ty::Option(t) => format!("Option<{}>", t.spelling(types)),
            Ty::Named(id) => types[id.index()].name.clone(),
        }
    }
}

/// Bytes of the length of a bounded array or string of at most `max`
/// elements (and of an enum's discriminant whose last index is `max`): the
/// fewest of 1, 2, 4 or 8 that hold `max`.
pub const fn length_prefix_bytes(max: u64) -> u64 {
    if max <= 0xff {
        1
    } else if max <= 0xffff {
        2
    } else if max <= 0xffff_ffff {
        4
    } else {
        8
    }
}

/// A parameter or result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodParam {
    /// Its name.
    pub name: String,
    /// Its type.
    pub kind: ParamKind,
    /// `in lo..=hi` (an integer parameter of an interface): the least and
    /// the greatest value it may have. The decoder refuses others.
    pub range: Option<(u64, u64)>,
    /// A kernel invocation parameter or result of an enumeration's type
    /// (its kind `Scalar(Uint(bits))`): the enumeration whose named values
    /// it takes. The decoder refuses others.
    pub values: Option<EnumerationId>,
    /// `binds Events` (a granted cap parameter of an interface): the index in
    /// [`Spec::interfaces`] of the callback interface whose messages the
    /// server sends through this cap.
    pub binds: Option<usize>,
    /// A kernel invocation parameter or result of a bitfield's type (its
    /// kind `Scalar(Word)` for one word, else an `Array` of words): the
    /// bitfield it holds.
    pub bitfield: Option<BitfieldId>,
    /// `#[at(word = W, bit = B)]` (a kernel invocation parameter of type
    /// `bool`, `uN`, `word` or an enumeration): it takes bits
    /// `bit..bit + width` of message word `word`, sharing the word with
    /// other packed parameters (seL4's stubs pack parameters narrower than
    /// a word together). `None`: a word of its own, as [`Layout::of`] lays
    /// it out.
    pub at: Option<Packed>,
    /// Where it is declared (its name).
    pub span: Span,
}

/// Where a packed parameter ([`MethodParam::at`]) lies: bits
/// `bit..bit + width` of message word `word`, within the word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Packed {
    /// Its message word, from 0.
    pub word: u64,
    /// Its lowest bit in that word.
    pub bit: u32,
    /// Its bits: 1 for a `bool`, N for a `uN` or an enumeration of N bits,
    /// 64 for a `word`.
    pub width: u32,
}

impl Packed {
    /// The bits it takes in its word.
    pub fn mask(&self) -> u64 {
        let ones = if self.width >= 64 {
            u64::MAX
        } else {
            (1u64 << self.width) - 1
        };
        ones << self.bit
    }
}

/// Where one parameter (or result) travels in a message: the one layout
/// of every request and reply, kernel invocations and RPCs alike, which
/// the generated encoders and decoders, the C header and the differential
/// harness all follow. Words are message words from 0 (the first
/// `message_registers` in registers, the rest in the IPC buffer); caps
/// are the message's cap slots from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Wire {
    /// A scalar (one word), an array packed `64 / bits` elements to a word
    /// with element 0 in the low bits, or a message type's bytes from the
    /// first byte of the first word: `count` words from `start`.
    Words {
        /// Its first word.
        start: u64,
        /// How many words.
        count: u64,
    },
    /// A cap: the message's cap slot `index`.
    Cap {
        /// Its cap slot.
        index: u64,
    },
    /// A lease: its frame cap in cap slot `cap`, its offset and length in
    /// words `words` and `words + 1`.
    Lease {
        /// The offset's word; the length is the next.
        words: u64,
        /// Its frame cap's slot.
        cap: u64,
    },
}

/// The layout of a request's parameters or a reply's results: each in
/// declaration order at the next free words or cap slot ([`Wire`]). A
/// packed parameter ([`MethodParam::at`]) is in its own word (`count` 1,
/// its bits in [`MethodParam::at`]); the words packed parameters use are
/// skipped by the others, which take the next words no packed parameter
/// uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Where each travels, in declaration order.
    pub places: Vec<Wire>,
    /// Message words in all.
    pub words: u64,
    /// Cap slots in all.
    pub caps: u64,
}

impl Layout {
    /// The layout of `params`, in declaration order.
    pub fn of(params: &[MethodParam]) -> Layout {
        let packed: std::collections::BTreeSet<u64> =
            params.iter().filter_map(|p| p.at.map(|a| a.word)).collect();
        // The first of `count` words from `from` on that no packed
        // parameter uses.
        let free = |from: u64, count: u64| {
            let mut start = from;
            while let Some(&used) = packed.range(start..start.saturating_add(count)).next_back() {
                start = used + 1;
            }
            start
        };
        let (mut words, mut caps) = (0, 0);
        let places = params
            .iter()
            .map(|p| {
                if let Some(at) = p.at {
                    return Wire::Words {
                        start: at.word,
                        count: 1,
                    };
                }
                let count = match &p.kind {
                    ParamKind::Scalar(_) => 1,
                    ParamKind::Array { words, .. } | ParamKind::Data { words, .. } => *words,
                    ParamKind::Cap { .. } | ParamKind::AnyCap { .. } => {
                        caps += 1;
                        return Wire::Cap { index: caps - 1 };
                    }
                    ParamKind::Lease(_) => {
                        words = free(words, Lease::WORDS) + Lease::WORDS;
                        caps += 1;
                        return Wire::Lease {
                            words: words - Lease::WORDS,
                            cap: caps - 1,
                        };
                    }
                };
                words = free(words, count) + count;
                Wire::Words {
                    start: words - count,
                    count,
                }
            })
            .collect();
        let words = packed.last().map_or(words, |&last| words.max(last + 1));
        Layout {
            places,
            words,
            caps,
        }
    }
}

/// What the caller donates to pay for a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DonationKind {
    /// A byte quota.
    Quota,
    /// An Untyped cap of this type.
    Untyped(CapId),
}

/// A method's donation and what the server may allocate from it per call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Donation {
    /// Quota or Untyped.
    pub kind: DonationKind,
    /// Minimum donation in bytes.
    pub min_bytes: u64,
    /// Upper bounds on allocations per call.
    pub allocations: Vec<Allocation>,
    /// Worst case in bytes of all allocations, placed largest alignment first.
    pub worst_case_bytes: u64,
    /// Index into the method set's error set of the out-of-budget variant.
    pub out_of_budget: usize,
}

/// Up to `count` objects of one type and size per call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// The object type.
    pub object: ObjectId,
    /// Its size argument.
    pub arg: u64,
    /// log2 of one object's size.
    pub size_bits: u32,
    /// Most objects per call.
    pub count: u64,
}

/// A method: a kernel invocation or an RPC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Method {
    /// Doc comment.
    pub docs: Vec<String>,
    /// Its name.
    pub name: String,
    /// Its label: `#[label(N)]`, else one more than the method before's
    /// (the first's is the block's `#[label_base(N)]`, else 1).
    pub label: u32,
    /// Inputs.
    pub params: Vec<MethodParam>,
    /// Outputs.
    pub results: Vec<MethodParam>,
    /// Rights the invoked cap must carry.
    pub requires: Vec<RightId>,
    /// The error set the method's errors are of: its block's, or the one
    /// its `errors ... of Set;` names (interfaces only).
    pub error_set: ErrorSetId,
    /// Indices of the variants of [`Method::error_set`] this method may
    /// return.
    pub errors: Vec<usize>,
    /// `#[idempotent]` (interfaces only): calling it twice does what calling
    /// it once does, so a client whose server died may call it again.
    pub idempotent: bool,
    /// The donation, for methods that allocate on the caller's behalf.
    pub donation: Option<Donation>,
    /// Message words of the request (inputs).
    pub request_words: u64,
    /// Message words of the reply (outputs).
    pub reply_words: u64,
    /// A one-way method (`#[oneway]`, interfaces only): sent without
    /// waiting, never answered; it has no results, errors, donation or
    /// lent caps.
    pub oneway: bool,
    /// The cap the invocation creates (`creates ...;`), if any.
    pub creates: Option<Creation>,
    /// What the method charges to the caller's session (interfaces with a
    /// session only); `None` when it charges nothing.
    pub charges: Option<Charges>,
    /// `server_pays N;`: the server pays, from its own memory, up to this
    /// many bytes per call.
    pub server_pays: Option<u64>,
    /// Where it is declared.
    pub span: Span,
}

/// A number in a charge: a constant, or the value of an integer parameter
/// (by its index in the method's parameters), which lies in its range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Amount {
    /// A constant.
    Const(u64),
    /// The argument at this index.
    Param(usize),
    /// `1 << p`: two to the power of the argument at this index (whose
    /// range ends at 63 or below), the size in bytes of a byte-sized
    /// object given by a log2 (Barrelfish's mem.if: RAM of 2^bits bytes).
    Pow2(usize),
}

impl Amount {
    /// Its value given the arguments' values (by parameter index).
    pub fn value(self, args: &[u64]) -> u64 {
        match self {
            Amount::Const(v) => v,
            Amount::Param(i) => args.get(i).copied().unwrap_or(0),
            Amount::Pow2(i) => u32::try_from(args.get(i).copied().unwrap_or(0))
                .ok()
                .and_then(|bits| 1u64.checked_shl(bits))
                .unwrap_or(0),
        }
    }

    /// The parameter it reads, if any.
    pub fn param(self) -> Option<usize> {
        match self {
            Amount::Const(_) => None,
            Amount::Param(i) | Amount::Pow2(i) => Some(i),
        }
    }
}

/// What a session's charge is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Charged {
    /// `count` objects of `object` with size argument `arg`.
    Objects {
        /// The object type.
        object: ObjectId,
        /// How many.
        count: Amount,
        /// Their size argument (`Const(0)` for a fixed-size type).
        arg: Amount,
    },
    /// Bytes of server state.
    Bytes(u64),
}

/// One charge of a method to the caller's session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charge {
    /// What is charged.
    pub what: Charged,
    /// `for result`: the index of the result it is handed out with (it
    /// stays charged until a `refunds` method takes it back, or the session
    /// closes); `None` for state kept until the session closes (`keeps N;`)
    /// or, for objects, memory for the call only.
    pub handed_to: Option<usize>,
}

/// `refunds param from method | ...;`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    /// The index of the parameter that is what one of `from` handed out.
    pub param: usize,
    /// What it may be: the index of a method in its set, and of the result
    /// that method hands it out with.
    pub from: Vec<(usize, usize)>,
}

/// What one method charges to its caller's session.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Charges {
    /// Charges in declaration order.
    pub charges: Vec<Charge>,
    /// Handles it takes back, whose charges return to the session.
    pub refunds: Vec<Refund>,
}

impl Charge {
    /// Its bytes for the arguments `args` (by parameter index), saturating
    /// (the checker proved the sums fit for every argument in range);
    /// `size` gives an object type's bytes for a size argument.
    pub fn bytes(&self, args: &[u64], size: &impl Fn(ObjectId, u64) -> Option<u64>) -> u64 {
        match &self.what {
            Charged::Bytes(b) => *b,
            Charged::Objects { object, count, arg } => count
                .value(args)
                .saturating_mul(size(*object, arg.value(args)).unwrap_or(u64::MAX)),
        }
    }

    /// Whether it is memory for the call only: objects not handed out.
    pub fn for_the_call(&self) -> bool {
        self.handed_to.is_none() && matches!(self.what, Charged::Objects { .. })
    }

    /// Whether it is kept until the session closes: bytes not handed out.
    pub fn until_close(&self) -> bool {
        self.handed_to.is_none() && matches!(self.what, Charged::Bytes(_))
    }
}

impl Charges {
    /// Bytes of the charges matching `which` for the arguments `args`.
    pub fn bytes(
        &self,
        args: &[u64],
        which: impl Fn(&Charge) -> bool,
        size: impl Fn(ObjectId, u64) -> Option<u64>,
    ) -> u64 {
        self.charges
            .iter()
            .filter(|c| which(c))
            .map(|c| c.bytes(args, &size))
            .fold(0u64, u64::saturating_add)
    }
}

/// `session { ... }`: the interface is used through sessions; a client
/// opens one with a donated quota, which pays for everything the server
/// keeps for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Doc comment.
    pub docs: Vec<String>,
    /// What the client donates: a quota, or an Untyped that backs it.
    pub kind: DonationKind,
    /// The least quota a session is opened with.
    pub min_bytes: u64,
    /// Bytes the server keeps per session, charged when it opens.
    pub keeps: u64,
    /// Index into the set's error set of the error of a charge that does
    /// not fit the session's quota.
    pub out_of_budget: usize,
    /// `binds Name;`: the callback interface (its index in
    /// [`Spec::interfaces`]) a session may be opened bound to, with the cap
    /// the client receives its messages on; the server keeps that cap,
    /// paid by [`keeps`](Self::keeps), until the session closes.
    pub binds: Option<usize>,
    /// Where it is declared.
    pub span: Span,
}

/// `creates CapType(field = param, ...) in root;`: a kernel invocation that
/// makes a cap of `cap`, a child of the invoked cap by a `derive` rule
/// (seL4's IRQControl Get, IOPortControl Issue), in the CNode of parameter
/// `into`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creation {
    /// The cap type made.
    pub cap: CapId,
    /// Index in the method's parameters of the destination CNode's cap.
    pub into: usize,
    /// `from untyped`: index in the method's parameters of the Untyped cap
    /// a new object of the cap type's (fixed-size) object type is made of,
    /// all of it: the new cap is the Untyped's child, not the invoked
    /// cap's (seL4's ASIDControl MakePool). `None`: the new cap names no
    /// new object and is the invoked cap's child by a `derive` rule.
    pub from: Option<usize>,
    /// `(field index in the cap type, parameter index)`: the fields set
    /// from parameters, in the order written; every other field is 0.
    pub fields: Vec<(usize, usize)>,
    /// Where the clause is.
    pub span: Span,
}

/// Kernel invocations on one cap type, or one RPC interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodSet {
    /// Doc comment.
    pub docs: Vec<String>,
    /// The interface's name, or the invoked cap type's name.
    pub name: String,
    /// For invocations: the invoked cap type.
    pub cap: Option<CapId>,
    /// The error set.
    pub errors: ErrorSetId,
    /// Methods in label order.
    pub methods: Vec<Method>,
    /// The session, for an interface used through sessions.
    pub session: Option<Session>,
    /// A callback interface (`callback interface`): its messages go from a
    /// server to a client that bound them with a `binds` parameter, and
    /// every one is one-way.
    pub callback: bool,
    /// Where it is declared.
    pub span: Span,
}

impl Spec {
    /// The object type numbered `number` (its `#[number(N)]` or the one
    /// it was given): what retype's type argument names.
    pub fn object_by_number(&self, number: u64) -> Option<ObjectId> {
        self.objects
            .iter()
            .position(|o| {
                u64::from(o.number) == number
                    || o.numbers.iter().any(|&(_, n)| u64::from(n) == number)
            })
            .map(|i| ObjectId(i as u32))
    }

    /// The size argument a retype type argument names by itself: `Some`
    /// for a number of an object type numbered per size argument
    /// ([`Object::numbers`]), whose size argument word is then not read.
    pub fn size_arg_of_number(&self, number: u64) -> Option<u64> {
        self.objects
            .iter()
            .flat_map(|o| &o.numbers)
            .find(|&&(_, n)| u64::from(n) == number)
            .map(|&(arg, _)| arg)
    }

    /// The cap type whose tag is `tag` (`None` for 0, the null cap).
    pub fn cap_by_tag(&self, tag: u64) -> Option<CapId> {
        self.caps
            .iter()
            .position(|c| u64::from(c.tag) == tag)
            .map(|i| CapId(i as u32))
    }

    /// The number of object type `object` (retype's type argument).
    pub fn object_number(&self, object: ObjectId) -> u64 {
        u64::from(self.objects[object.index()].number)
    }

    /// The type argument a retype of `object` with size argument `arg`
    /// passes: the number of that size for a type numbered per size
    /// argument (seL4's frames), else the type's number.
    pub fn retype_number(&self, object: ObjectId, arg: u64) -> u64 {
        let o = &self.objects[object.index()];
        o.numbers
            .iter()
            .find(|&&(a, _)| a == arg)
            .map_or(u64::from(o.number), |&(_, n)| u64::from(n))
    }

    /// The object type called `name`.
    pub fn object(&self, name: &str) -> Option<ObjectId> {
        self.objects
            .iter()
            .position(|o| o.name == name)
            .map(|i| ObjectId(i as u32))
    }

    /// The cap type called `name`.
    pub fn cap(&self, name: &str) -> Option<CapId> {
        self.caps
            .iter()
            .position(|c| c.name == name)
            .map(|i| CapId(i as u32))
    }

    /// The derivation rule that makes caps of `target` from caps of another
    /// type, if any (a cap type is derived from at most one other type).
    /// Such caps never own their object.
    pub fn derive_rule(&self, target: CapId) -> Option<&Derive> {
        self.derives
            .iter()
            .find(|d| d.target == target && d.source != target)
    }

    /// The splitting rule of `cap` (`derive T from T;`), if its caps may be
    /// split into smaller pieces of their own type.
    pub fn split_rule(&self, cap: CapId) -> Option<&Derive> {
        self.derives
            .iter()
            .find(|d| d.target == cap && d.source == cap)
    }

    /// Whether caps of `descendant` may be derived, through one or more
    /// derivation rules between distinct types, from caps of `ancestor`.
    pub fn derives_from(&self, ancestor: CapId, descendant: CapId) -> bool {
        let mut at = descendant;
        // The checker rejects cycles; the bound keeps a malformed model finite.
        for _ in 0..self.derives.len() {
            match self.derive_rule(at) {
                Some(d) if d.source == ancestor => return true,
                Some(d) => at = d.source,
                None => return false,
            }
        }
        false
    }

    /// The object type that is a pool of address-space numbers, and its
    /// pool; `None` when the spec has none (numbers are then given on an
    /// address space's first mapping).
    pub fn asid_pool(&self) -> Option<(ObjectId, &AsidPool)> {
        self.objects
            .iter()
            .enumerate()
            .find_map(|(i, o)| Some((ObjectId(i as u32), o.asid_pool.as_ref()?)))
    }

    /// How many pools the kernel's directory has room for: `2^bits /
    /// numbers`, `bits` the width of the root cap's `#[asid]` field (at
    /// least 1); `None` without a pool type.
    pub fn asid_places(&self) -> Option<u64> {
        let (_, pool) = self.asid_pool()?;
        let numbers = 1u64.checked_shl(self.asid_bits()?).unwrap_or(u64::MAX);
        Some((numbers / pool.numbers).max(1))
    }

    /// The address-space root: the first object type that finalises with
    /// `release_asid`; `None` without one.
    pub fn address_space_root(&self) -> Option<ObjectId> {
        self.objects
            .iter()
            .position(|o| o.finalisers.contains(&Finaliser::ReleaseAsid))
            .map(|i| ObjectId(i as u32))
    }

    /// The width of the address-space root cap's `#[asid]` field: numbers
    /// run from 1 to `2^bits - 1`. `None` without one.
    pub fn asid_bits(&self) -> Option<u32> {
        self.caps
            .iter()
            .find_map(|c| c.field_with(Role::Asid))
            .map(|f| u32::from(f.width))
    }

    /// The root of the spec's translation tables: the table type no
    /// table holds (the address-space root); `None` without tables.
    pub fn table_root(&self) -> Option<ObjectId> {
        let held = |i: usize| {
            self.objects
                .iter()
                .filter_map(|o| o.table.as_ref())
                .any(|t| t.holds.contains(&ObjectId(i as u32)))
        };
        (0..self.objects.len())
            .find(|&i| self.objects[i].table.is_some() && !held(i))
            .map(|i| ObjectId(i as u32))
    }

    /// The table type whose entries hold an object of type `object` whose
    /// size is `1 << size_bits`: the one table listing it whose entries
    /// cover that size (the checker makes it unique).
    pub fn table_holding(&self, object: ObjectId, size_bits: u32) -> Option<ObjectId> {
        self.objects
            .iter()
            .position(|o| {
                o.table
                    .as_ref()
                    .is_some_and(|t| t.entry_bits == size_bits && t.holds.contains(&object))
            })
            .map(|i| ObjectId(i as u32))
    }

    /// log2 of the unit of a `#[mapped_at]` page number: the smallest size
    /// a table entry covers (12 for x86_64's 4 KiB); 0 without tables.
    pub fn page_bits(&self) -> u32 {
        self.objects
            .iter()
            .filter_map(|o| o.table.as_ref())
            .map(|t| t.entry_bits)
            .min()
            .unwrap_or(0)
    }

    /// The tables from the root down to the table of type `holder`: each
    /// step's table type, root first; `None` if `holder` is not in the
    /// tree.
    pub fn table_path(&self, holder: ObjectId) -> Option<Vec<ObjectId>> {
        let mut path = vec![holder];
        let mut at = holder;
        for _ in 0..=self.objects.len() {
            if Some(at) == self.table_root() {
                path.reverse();
                return Some(path);
            }
            let parent = self
                .objects
                .iter()
                .position(|o| o.table.as_ref().is_some_and(|t| t.holds.contains(&at)))?;
            at = ObjectId(parent as u32);
            path.push(at);
        }
        None
    }
}

/// A whole system: the kernel objects, the protection domains and the caps
/// each holds at boot (`system name { ... }`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct System {
    /// Its name.
    pub name: String,
    /// The machine's memory in bytes the boot plan must fit.
    pub memory: u64,
    /// Every object: shared ones (`owner: None`) and domains' own.
    pub objects: Vec<SystemObject>,
    /// Protection domains in declaration order.
    pub domains: Vec<Domain>,
    /// `deny` assertions.
    pub denies: Vec<Deny>,
    /// Bytes of the Untyped the boot plan retypes every budget and shared
    /// object from (the least power of two that holds them).
    pub pool_bytes: u64,
    /// Where it is declared.
    pub span: Span,
}

/// Where the boot plan makes an object or a budget: in which Untyped, at
/// which byte offset. Objects are placed largest first, naturally aligned,
/// from the Untyped's start, so retyping them in the order of their offsets
/// puts each where its placement says (a retype goes at the Untyped's
/// watermark).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// `None`: the boot plan's pool; `Some(i)`: the owner's `i`-th budget
    /// Untyped.
    pub untyped: Option<usize>,
    /// Byte offset in that Untyped.
    pub offset: u64,
}

/// A domain's CSpace as the boot plan fills it: slot 0 stays empty, then
/// its named slots in declaration order, its budget Untypeds, the root of
/// the address space the loader makes for its program, and free slots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CSpaceLayout {
    /// log2 of the CSpace's slots.
    pub radix: u32,
    /// The index of each named slot, in declaration order.
    pub slots: Vec<u64>,
    /// The index of each budget Untyped.
    pub budget: Vec<u64>,
    /// The index of the address space's root.
    pub vspace: u64,
    /// The first slot the boot plan leaves free.
    pub first_free: u64,
}

/// One kernel object of a system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemObject {
    /// Its name.
    pub name: String,
    /// Its object type.
    pub object: ObjectId,
    /// Its size argument (0 for a fixed-size type).
    pub arg: u64,
    /// log2 of its size in bytes.
    pub size_bits: u32,
    /// The domain that owns it and pays for it, `None` for a shared object
    /// the boot plan pays for.
    pub owner: Option<usize>,
    /// Where the boot plan makes it (in its owner's budget, or in the pool
    /// for a shared object).
    pub placement: Placement,
    /// Where it is declared.
    pub span: Span,
}

/// The stack a domain gets when its description gives none: 64 KiB.
pub const DEFAULT_STACK: u64 = 64 * 1024;

/// A protection domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Domain {
    /// Its name.
    pub name: String,
    /// The program from the boot image it runs.
    pub program: String,
    /// The sizes in bytes of the Untypeds it is given (powers of two).
    pub budget: Vec<u64>,
    /// Its scheduling priority (0..=255).
    pub priority: u64,
    /// The bytes of stack the loader maps for its thread (`stack = ...;`,
    /// [`DEFAULT_STACK`] when not given): a whole number of pages.
    pub stack: u64,
    /// Whether it is `trusted`: the authority closure takes it to pass on
    /// no cap it holds (it still receives them, and a domain that holds its
    /// CSpace can still take them).
    pub trusted: bool,
    /// Index in the system's objects of the CNode that is its CSpace.
    pub cspace: Option<usize>,
    /// Its named CSpace slots, in declaration order.
    pub slots: Vec<Slot>,
    /// Interfaces it serves: (interface index in `Spec::interfaces`, slot index).
    pub serves: Vec<(usize, usize)>,
    /// Interfaces it calls.
    pub calls: Vec<Call>,
    /// Interrupts it handles.
    pub irqs: Vec<u64>,
    /// Device memory regions mapped to it.
    pub devices: Vec<Device>,
    /// The byte offset of each budget Untyped in the boot plan's pool.
    pub budget_offsets: Vec<u64>,
    /// Its CSpace as the boot plan fills it.
    pub layout: CSpaceLayout,
    /// Where it is declared.
    pub span: Span,
}

/// A named CSpace slot and the cap in it at boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Its name.
    pub name: String,
    /// The cap type.
    pub cap: CapId,
    /// The rights the cap carries (every right, for a cap type without a
    /// rights field: such a cap is full authority over its object).
    pub rights: Vec<RightId>,
    /// Index in the system's objects of the object it names.
    pub object: usize,
    /// Its badge, if minted with one.
    pub badge: Option<u64>,
    /// Where it is declared.
    pub span: Span,
}

/// `calls Interface on slot x n;`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// Index in `Spec::interfaces`.
    pub interface: usize,
    /// Index in the domain's slots.
    pub slot: usize,
    /// Calls in flight at once.
    pub in_flight: u64,
    /// Bytes the domain reserves for these calls: `in_flight` times the
    /// largest donation a method of the interface asks for (an Untyped's
    /// donation rounded up to a power of two), plus a session's least quota
    /// for each call in flight.
    pub reserve_bytes: u64,
    /// Where it is declared.
    pub span: Span,
}

/// A device memory region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Its name.
    pub name: String,
    /// Physical base address.
    pub base: u64,
    /// Size in bytes.
    pub bytes: u64,
}

/// `deny domain holds right on object;`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deny {
    /// Index of the domain.
    pub domain: usize,
    /// The right.
    pub right: RightId,
    /// Index of the object.
    pub object: usize,
    /// Where it is written.
    pub span: Span,
}

/// A `syscalls` block: a kernel's system calls, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyscallSet {
    /// Doc comment.
    pub docs: Vec<String>,
    /// The name of the generated enumeration.
    pub name: String,
    /// The system calls in declaration order.
    pub syscalls: Vec<Syscall>,
    /// Where it is declared.
    pub span: Span,
}

/// One system call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Syscall {
    /// Doc comment.
    pub docs: Vec<String>,
    /// Its name.
    pub name: String,
    /// Its number: the trapping thread passes it as a word, two's
    /// complement when negative (`number as u64`).
    pub number: i64,
    /// `sends ...;`: what it sends on, if it sends.
    pub sends: Option<SyscallTargets>,
    /// `receives ...;`: what it receives on, if it receives.
    pub receives: Option<SyscallTargets>,
    /// Where it is declared.
    pub span: Span,
}

/// The caps one half of a system call acts on; empty `caps`: no cap is
/// named (`sends;` the caller's reply, `receives;` the reply to the call).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyscallTargets {
    /// Each cap type the named cap may be, with what a cap of it needs.
    pub caps: Vec<SyscallCap>,
}

/// A cap type a system call acts on and what a cap of it must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyscallCap {
    /// The cap type.
    pub cap: CapId,
    /// Rights of its rights field it must carry.
    pub rights: Vec<RightId>,
    /// Its `bool` fields that must be set (by index into its fields).
    pub flags: Vec<usize>,
}
