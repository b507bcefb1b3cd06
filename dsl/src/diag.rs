//! Diagnostics: the catalogue of error codes and the plain data every pass
//! reports.
//!
//! A [`Diagnostic`] is data (code, message, primary span, secondary spans,
//! notes, a hint). Rendering happens only at the edge: [`render`] turns it into
//! the codespan-reporting text the CLI prints and the proc macro embeds in
//! `compile_error!`, so every front end says the same words.

use codespan_reporting::diagnostic::{self as cs, LabelStyle};
use codespan_reporting::term::{self, Config, termcolor::WriteColor};

use crate::source::{SourceMap, Span};

macro_rules! catalogue {
    ($($variant:ident = $code:literal, $severity:ident, $title:literal;)*) => {
        /// Every diagnostic capc can report, each with a stable code.
        ///
        /// Codes never change meaning once released; docs/language.md explains
        /// each one with an example, and dsl/tests/ui/fail has a failing spec
        /// for each.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $(
                #[doc = $title]
                $variant,
            )*
        }

        impl Code {
            /// Every code, in catalogue order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The stable code, e.g. `E0400`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// One line saying what the code is about.
            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title,)* }
            }

            /// Whether the code is an error or a warning by default.
            pub fn default_severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$severity,)* }
            }
        }
    };
}

catalogue! {
    Syntax = "E0001", Error, "syntax error";
    ImportUnreadable = "E0002", Error, "imported file cannot be read";
    LiteralTooLarge = "E0003", Error, "integer literal does not fit in 64 bits";
    TooComplex = "E0004", Error, "expression nested too deeply or too long";

    UnknownName = "E0100", Error, "unknown name";
    DuplicateName = "E0101", Error, "name defined twice";
    WrongKind = "E0102", Error, "name refers to the wrong kind of item";
    UnknownAttribute = "E0103", Error, "unknown attribute";
    UnknownSetting = "E0104", Error, "unknown target setting";
    DuplicateStatement = "E0105", Error, "statement given twice";
    MissingStatement = "E0106", Error, "required statement missing";
    RustName = "E0107", Error, "name the generated Rust code cannot carry";

    Overflow = "E0200", Error, "integer overflow";
    Underflow = "E0201", Error, "subtraction below zero";
    RecursiveConst = "E0202", Error, "constant defined in terms of itself";
    SettingOutOfRange = "E0203", Error, "target setting out of range";

    SizeNotPowerOfTwo = "E0300", Error, "object size is not a power of two";
    SizeRuleUndefined = "E0301", Error, "size rule not defined over its whole range";
    SizeOverflow = "E0302", Error, "object size overflows 64 bits";
    EmptyDomain = "E0303", Error, "size argument range is empty";
    DomainTooLarge = "E0304", Error, "size argument range too large";
    AlignNotPowerOfTwo = "E0305", Error, "alignment is not a power of two";
    AlignAboveSize = "E0306", Error, "alignment larger than the object";
    DeviceKernelObject = "E0307", Error, "kernel object allowed in device memory";
    SizeAboveAddressSpace = "E0308", Error, "object larger than the address space";

    LayoutOverflow = "E0400", Error, "capability does not fit in its words";
    FieldWidth = "E0401", Error, "field width out of range";
    MisalignedPointer = "E0402", Error, "pointer alignment does not fit the object";
    FieldTooNarrow = "E0403", Error, "field too narrow for the values it must hold";
    AttributeMisuse = "E0404", Error, "attribute not valid here";
    TooManyCapTypes = "E0405", Error, "more capability types than the tag can number";
    MissingObjectField = "E0406", Error, "capability lacks a field its object needs";
    DuplicateRole = "E0407", Error, "two fields claim the same role";
    ConflictingCopyFlags = "E0408", Error, "both always_copy and never_copy";
    UncappedObject = "E0409", Error, "object type has no capability type";
    SlotInSizedObject = "E0410", Error, "owned slots in an object that is not fixed-size kernel state";
    SlotsDoNotFit = "E0411", Error, "owned slots do not fit in the object";
    SlotCapWithoutObject = "E0412", Error, "owned slot's cap type names no object";
    UnmapMismatch = "E0413", Error, "mapping field and `unmap` finaliser disagree";
    MappedInWithoutMappedAt = "E0414", Error, "`#[mapped_in]` without `#[mapped_at]`";
    TableShape = "E0415", Error, "translation table of the wrong shape";
    TableHolds = "E0416", Error, "table entry holds an object it cannot";
    TableTree = "E0417", Error, "translation tables do not form one tree under the address-space root";
    InheritanceMisuse = "E0418", Error, "cap inheritance misused";
    AsidPoolMisuse = "E0419", Error, "address-space number pool misdeclared";
    ReplyCapMisuse = "E0420", Error, "reply cap misdeclared";
    FieldOverlap = "E0430", Error, "field placed on bits another field or the tag holds";
    FieldCrossesWord = "E0431", Error, "field placed across a word boundary";
    FieldOutsideCap = "E0432", Error, "field placed in a word caps do not have";
    DuplicateNumber = "E0433", Error, "two cap types with one tag, or two object types with one number";
    NumberOutOfRange = "E0434", Error, "cap tag or object-type number out of range";
    UnknownOption = "E0440", Error, "unknown configuration option";
    MalformedCondition = "E0441", Error, "malformed configuration condition";
    TooManyOptions = "E0442", Error, "more configuration options than capc checks";
    UnknownChosenOption = "E0443", Error, "configuration chosen with an option the spec does not declare";
    CreationWithoutDerive = "E0444", Error, "created cap type not derived from the invoked cap type";
    CreationDestination = "E0445", Error, "created cap's destination is not a CNode cap parameter";
    CreationField = "E0446", Error, "created cap's field set from a parameter it cannot hold";
    CreationSource = "E0485", Error, "created object's `from` is not an Untyped cap parameter";
    CreationObject = "E0486", Error, "created cap type names no object of one size made from RAM";
    CapAlternativeNotHere = "E0487", Error, "cap parameter with alternatives outside a kernel invocation's parameters";
    CapAlternativeTwice = "E0488", Error, "cap type or `null` named twice as alternatives";
    CapAlternativeChecks = "E0489", Error, "cap parameter with alternatives and required rights or `#[unchecked]`";
    NumbersPerSize = "E0447", Error, "object-type numbers do not match the size argument's values";
    EnumerationVariant = "E0450", Error, "enumeration variant with values, or a message enum's variant with `= value`";
    EnumerationValueRange = "E0451", Error, "enumeration value does not fit its width";
    EnumerationValueTwice = "E0452", Error, "two variants of an enumeration with one value";
    EnumerationFieldRole = "E0453", Error, "enumerated field with a role its values cannot hold";
    BitfieldOverlap = "E0470", Error, "bitfield field placed on bits another field holds";
    BitfieldCrossesWord = "E0471", Error, "bitfield field placed across a word boundary";
    BitfieldFieldType = "E0472", Error, "bitfield field of a type a bitfield cannot hold";
    BitfieldSize = "E0473", Error, "bitfield without fields, or larger than 64 words";
    AnyCapQualified = "E0474", Error, "`cap any` with rights, alternatives or `#[unchecked]`";

    RightsAmplification = "E0500", Error, "rights the capability cannot carry";

    UnreachableObject = "E0600", Error, "object type not reachable from untyped memory";
    RetypeCycle = "E0601", Error, "retype cycle";
    RetypeFromNonMemory = "E0602", Error, "retype source is not untyped memory";
    FanOutOutOfRange = "E0603", Error, "fan-out out of range";
    DeviceRetype = "E0604", Error, "device memory retyped into kernel objects";
    DeriveKind = "E0605", Error, "derivation rule between caps that cannot be derived";
    DeriveObject = "E0606", Error, "derived cap cannot name its source's object";
    DeriveCycle = "E0607", Error, "derivation cycle";
    DeriveTwice = "E0608", Error, "cap type derived from two sources";
    AtOffsetDisagree = "E0610", Error, "retype rules for one cap type disagree on `#[at_offset]`";
    VirtualOffsetMisaligned = "E0611", Error, "virtual offset not a multiple of the pointer's alignment";
    VirtualOffsetTooLarge = "E0612", Error, "virtual offset outside the address space";
    RangeFields = "E0613", Error, "range of a splitting rule not held in two identity integer fields";
    SizeBytesRule = "E0614", Error, "size held in bytes of an object whose size is not 2^argument";
    BytesAttribute = "E0615", Error, "malformed `#[bytes]` on an object type";
    BytesSizeRule = "E0616", Error, "byte-sized object whose size is not its size argument";
    BytesGranule = "E0617", Error, "byte-sized object without a granule, or sizes not multiples of it";
    BytesMaximum = "E0618", Error, "byte-sized object larger than the address space";
    BytesMixedUse = "E0619", Error, "byte-sized object where sizes must be powers of two";
    ExternKernelItem = "E0620", Error, "kernel item apart from the module that holds the target";
    ExternUnknown = "E0621", Error, "extern names no file the spec imports";
    ExternAmbiguous = "E0622", Error, "extern names several files, or a file twice";
    ExternPath = "E0623", Error, "extern module path is not a Rust path";

    MessageTooLong = "E0700", Error, "message exceeds the target's message words";
    TooManyCaps = "E0701", Error, "message carries more capabilities than the target allows";
    AllocationWithoutDonation = "E0702", Error, "method allocates without a donation";
    DonationTooSmall = "E0703", Error, "worst-case allocation exceeds the minimum donation";
    AllocationNotRetypable = "E0704", Error, "donation cannot be retyped into the allocated object";
    DonationNotMemory = "E0705", Error, "donated capability is not untyped memory";
    OutOfBudgetError = "E0706", Error, "out-of-budget error missing or not declared";
    AllocationSizeArg = "E0707", Error, "allocation's size argument does not fit the object";
    EmptyArray = "E0708", Error, "array length out of range";
    NotValidHere = "E0709", Error, "clause or transfer mode not valid for this kind of method";
    DuplicateLabel = "E0710", Error, "two methods of one cap type have the same label";
    LabelOutOfRange = "E0711", Error, "method label out of range";
    RecursiveType = "E0720", Error, "message type contains itself";
    EmptyEnum = "E0721", Error, "enum has no variants";
    OnewayReply = "E0722", Error, "one-way method has results or errors";
    OnewayDonation = "E0723", Error, "one-way method donates or allocates";
    OnewayLend = "E0724", Error, "one-way method lends a cap";
    ErrorNumberPastLabels = "E0725", Error, "error number past the target's labels";
    CopyConditionSyntax = "E0726", Error, "malformed `#[copy(...)]` condition";
    CopyConditionUnknownField = "E0727", Error, "copy condition names no field of the cap type";
    CopyConditionFieldType = "E0728", Error, "copy requirement on a field that is not `bool` or `uN`";
    CopyConditionTwice = "E0729", Error, "copy condition stated twice";
    CopyClearsIdentity = "E0730", Error, "copy clears a field that names the object";
    CopyConditionOnNeverCopy = "E0731", Error, "copy conditions on a cap type that is never copied";
    CopyConditionConflict = "E0732", Error, "copy condition undoes the mapping rule";
    TypedErrorsInInvocations = "E0760", Error, "error set with typed payloads used by kernel invocations";
    MethodErrorSet = "E0761", Error, "method's own error set misused";
    MethodErrorSetCharges = "E0762", Error, "method with its own error set donates or charges its session";
    IdempotentOneway = "E0763", Error, "one-way method marked idempotent";
    TypeRangeInvalid = "E0764", Error, "type's range is empty, does not fit it, or is on a type that is not an unsigned integer";
    FloatWithoutTarget = "E0765", Error, "floating-point value on a target without floats";
    CallbackReply = "E0780", Error, "callback message has results or errors, or a callback interface has a session";
    BindsNotCallback = "E0781", Error, "`binds` names an interface that is not a callback interface";
    BindingMisplaced = "E0782", Error, "`binds` on something other than a granted cap parameter of a call";
    BindingUnpaid = "E0783", Error, "method binds a callback but is one-way or keeps nothing for it";
    SessionBindingUnpaid = "E0784", Error, "session binds a callback but keeps nothing for the bound cap";
    SessionBindsNothing = "E0785", Error, "session binds a callback interface that has no messages";
    LeaseRights = "E0766", Error, "lease's directions are not `read` and `write`, declared rights its frame cap type carries";
    LeaseFrame = "E0767", Error, "no single frame cap type carries the lease";
    LeaseType = "E0768", Error, "lease does not hold an array of integers";
    LeaseLength = "E0769", Error, "lease's length is 0 or larger than a frame";
    RangeInvalid = "E0740", Error, "parameter range is empty or does not fit its type";
    SessionInvalid = "E0741", Error, "session lacks its quota or error, or its quota is below its own state";
    UnpaidState = "E0742", Error, "server keeps state beyond a call that no session pays for";
    HandedToInvalid = "E0743", Error, "charge handed out with something the client does not keep";
    RefundInvalid = "E0744", Error, "refund names nothing the named method hands out";
    AmountNotRange = "E0745", Error, "charge sized by a parameter without a usable range";
    AllocationForValue = "E0746", Error, "allocation not valid for a value in its argument's range";
    ChargeInDonation = "E0747", Error, "allocation handed out or sized by an argument outside a session";
    SessionErrorMissing = "E0748", Error, "charging method does not return the session's out-of-quota error";
    ServerPaysInvalid = "E0749", Error, "server-paid method exceeds its bound or also charges its client";
    SystemSetting = "E0900", Error, "system or domain setting missing or given twice";
    SystemObjectSize = "E0901", Error, "system object's size argument missing or not allowed";
    SlotCapMismatch = "E0902", Error, "slot's cap type is not for its object's type";
    SlotRights = "E0903", Error, "slot carries a right or badge its cap type cannot";
    SystemValue = "E0904", Error, "budget, priority, stack or calls in flight out of range";
    DomainOverBudget = "E0905", Error, "domain's own objects do not fit its budget";
    SystemOverMemory = "E0906", Error, "the boot plan does not fit the machine's memory";
    ChannelInvalid = "E0907", Error, "serves or calls on a slot that cannot carry the calls";
    ServerWouldPay = "E0908", Error, "a server pays for a method it serves";
    ClientUnderBudget = "E0909", Error, "client's budget cannot pay for its calls in flight";
    DenyViolated = "E0910", Error, "a domain can come to hold a right a `deny` forbids";
    HardwareConflict = "E0911", Error, "interrupt or device memory given twice or misaligned";
    NoCSpace = "E0912", Error, "domain has no CSpace the boot plan can fill";
    CSpaceTooSmall = "E0913", Error, "domain's CSpace cannot hold the slots the boot plan fills";
    PlanNameClash = "E0914", Error, "system, domain, slot or object name clashes in the generated boot plan";
    PackedCrossesWord = "E0915", Error, "packed invocation parameter crosses its word";
    PackedOverlap = "E0916", Error, "packed invocation parameters overlap";
    PackedOutOfRange = "E0917", Error, "packed invocation parameter outside the message";
    PackedType = "E0918", Error, "invocation parameter of a type that cannot be packed";
    WholeWordNotPointer = "E0919", Error, "`#[whole_word]` on a field that is not a pointer";
    WholeWordSignExtend = "E0920", Error, "`#[whole_word]` and `#[sign_extend]` on one field";
    PayloadRestNotLast = "E0921", Error, "variable-length error payload value is not the variant's last";
    PayloadRestNotWords = "E0922", Error, "variable-length error payload is not an error set of words";
    PayloadRestInTypedSet = "E0923", Error, "variable-length error payload in a set with typed payloads";
    SyscallNumberTaken = "E0924", Error, "two system calls with one number";
    SyscallNumberRange = "E0925", Error, "system call number does not fit a word";
    SyscallRightLacking = "E0926", Error, "system call needs a right or flag the cap type lacks";
    SyscallClauseTwice = "E0927", Error, "system call sends or receives twice";
    SyscallCapTwice = "E0928", Error, "cap type named twice in one system call clause";

    ScriptSyntax = "E0800", Error, "simulation script: syntax error";
    ScriptUnknownName = "E0801", Error, "simulation script: unknown slot name";
    ScriptUnknownItem = "E0802", Error, "simulation script: the spec has no such item";
    ScriptNumber = "E0803", Error, "simulation script: number out of range";
    ScriptDuplicate = "E0804", Error, "simulation script: defined twice";
    ScriptInvalid = "E0805", Error, "simulation script: statement not valid here";
    UntypedMisaligned = "E0930", Error, "simulation script: boot Untyped not aligned to its size";
    UntypedOverlap = "E0931", Error, "simulation script: boot Untypeds overlap";
    SystemNotBootable = "E0932", Error, "simulation script: system cannot be booted in the interpreter";
    ExpectationMissed = "E0933", Error, "simulation script: expectation not met";

    BfTagName = "E0934", Error, "seL4 bitfield_gen export: field named like the tag, `capType`";
    BfKeywordName = "E0935", Error, "seL4 bitfield_gen export: keyword-named field whose `_` name is another field's";
    BfBlockName = "E0936", Error, "seL4 bitfield_gen export: two cap types with one block name";
    BfHighWidth = "E0937", Error, "seL4 bitfield_gen export: sign-extended pointer that is not a `field_high` of the address";
    XmlLabelTwice = "E0938", Error, "seL4 interface XML export: two methods with one label";
    XmlLabelGap = "E0939", Error, "seL4 interface XML export: labels not numbered 1, 2, 3, ...";
    XmlPlacement = "E0940", Error, "seL4 interface XML export: parameter where seL4's stubs would not put it";
    XmlType = "E0941", Error, "seL4 interface XML export: parameter or result of a type the format cannot name";
    CNameCollision = "E0942", Error, "C header: two spec names with one C name";

    UnusedType = "W0001", Warning, "unused type";
    UnusedRight = "W0002", Warning, "unused right";
    UnusedConst = "W0003", Warning, "unused constant";
    MissingIdentity = "W0004", Warning, "cap type names an object but has no identity field";
    DonationSize = "W0005", Warning, "minimum donation is no size the donated Untyped can have";
    NeverConfigured = "W0012", Warning, "condition true in no configuration";
    UnusedOption = "W0013", Warning, "configuration option no condition names";
    ServerPays = "W0014", Warning, "the server pays for what a method keeps or allocates";
    NeverRefunded = "W0015", Warning, "what a method hands out is refunded only when its session closes";
    UndeclaredRefusal = "W0016", Warning, "kernel invocation's decoder can refuse with an error the method does not declare";
    UnheldObject = "W0020", Warning, "system object no domain holds a cap to";
}

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The spec is rejected.
    Error,
    /// The spec is accepted unless warnings are denied.
    Warning,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A span with a short message, shown under the code it points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// What it points at.
    pub span: Span,
    /// What it says there.
    pub message: String,
}

/// How sure a [`Suggestion`] is, as rustc says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Applicability {
    /// The replacement is the fix: a tool may apply it unasked.
    MachineApplicable,
    /// Probably the fix, but someone should look.
    MaybeIncorrect,
}

impl Applicability {
    /// rustc's name for it (`MachineApplicable`), as JSON output writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Applicability::MachineApplicable => "MachineApplicable",
            Applicability::MaybeIncorrect => "MaybeIncorrect",
        }
    }
}

/// A fix written out: replace the text of `span` with `replacement`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suggestion {
    /// What to replace.
    pub span: Span,
    /// What to put there.
    pub replacement: String,
    /// How sure it is.
    pub applicability: Applicability,
}

/// One problem found in a spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The stable code.
    pub code: Code,
    /// Error or warning (warnings may be promoted with `--deny-warnings`).
    pub severity: Severity,
    /// The headline.
    pub message: String,
    /// Where the problem is.
    pub primary: Label,
    /// Other places that explain it (the first definition, the cap type ...).
    pub secondary: Vec<Label>,
    /// Facts that explain it (the arithmetic, the layout ...).
    pub notes: Vec<String>,
    /// How to fix it.
    pub help: Option<String>,
    /// The fix as an edit, where there is one (the help says it in words).
    pub suggestions: Vec<Suggestion>,
}

impl Diagnostic {
    /// A diagnostic with the code's default severity.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: code.default_severity(),
            message: message.into(),
            primary: Label {
                span,
                message: String::new(),
            },
            secondary: Vec::new(),
            notes: Vec::new(),
            help: None,
            suggestions: Vec::new(),
        }
    }

    /// Sets the text under the primary span.
    pub fn label(mut self, message: impl Into<String>) -> Diagnostic {
        self.primary.message = message.into();
        self
    }

    /// Adds a secondary span.
    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    /// Adds a note.
    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// Sets the hint.
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Adds a fix: replacing the text of `span` with `replacement`.
    pub fn suggest(
        mut self,
        span: Span,
        replacement: impl Into<String>,
        applicability: Applicability,
    ) -> Diagnostic {
        self.suggestions.push(Suggestion {
            span,
            replacement: replacement.into(),
            applicability,
        });
        self
    }

    /// Whether this diagnostic rejects the spec.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The codespan-reporting form of this diagnostic.
    pub fn to_codespan(&self) -> cs::Diagnostic<crate::source::FileId> {
        let severity = match self.severity {
            Severity::Error => cs::Severity::Error,
            Severity::Warning => cs::Severity::Warning,
        };
        let mut labels = vec![
            cs::Label::new(
                LabelStyle::Primary,
                self.primary.span.file,
                self.primary.span.range(),
            )
            .with_message(&self.primary.message),
        ];
        for label in &self.secondary {
            labels.push(
                cs::Label::new(LabelStyle::Secondary, label.span.file, label.span.range())
                    .with_message(&label.message),
            );
        }
        let mut notes = self.notes.clone();
        if let Some(help) = &self.help {
            notes.push(format!("help: {help}"));
        }
        cs::Diagnostic::new(severity)
            .with_code(self.code.as_str())
            .with_message(&self.message)
            .with_labels(labels)
            .with_notes(notes)
    }
}

/// Writes `diagnostic` in codespan-reporting's rustc-like format.
pub fn emit(
    out: &mut dyn WriteColor,
    sources: &SourceMap,
    diagnostic: &Diagnostic,
) -> std::io::Result<()> {
    let config = Config::default();
    term::emit_to_write_style(out, &config, sources, &diagnostic.to_codespan())
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Renders `diagnostic` to plain text (no colour), as the proc macro and the
/// snapshot tests show it.
pub fn render(sources: &SourceMap, diagnostic: &Diagnostic) -> String {
    let mut buffer = codespan_reporting::term::termcolor::NoColor::new(Vec::new());
    // Writing to a Vec cannot fail; a failure to find a file is rendered as text.
    if let Err(e) = emit(&mut buffer, sources, diagnostic) {
        return format!(
            "{}[{}]: {} ({e})\n",
            diagnostic.severity.as_str(),
            diagnostic.code.as_str(),
            diagnostic.message
        );
    }
    String::from_utf8_lossy(&buffer.into_inner()).into_owned()
}

/// The closest name to `wanted` among `candidates`, if one is close enough to
/// be a likely typo (case differences count as close).
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let distance = distance(wanted, candidate);
        let limit = (wanted.chars().count().max(3)) / 3;
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, name)| name)
}

/// How sure replacing `wanted` by `chosen` (what [`closest`] picked among
/// `candidates`) is: machine-applicable when no other candidate is as
/// close, else maybe incorrect.
pub fn closeness<'a>(
    wanted: &str,
    chosen: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Applicability {
    let best = distance(wanted, chosen);
    let tied = candidates
        .into_iter()
        .any(|c| c != chosen && distance(wanted, c) <= best);
    if tied {
        Applicability::MaybeIncorrect
    } else {
        Applicability::MachineApplicable
    }
}

/// How far apart two names are as typos go: 0 for a difference of case
/// only, else the edit distance.
fn distance(wanted: &str, candidate: &str) -> usize {
    if candidate.eq_ignore_ascii_case(wanted) {
        0
    } else {
        edit_distance(wanted, candidate)
    }
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(previous + 1).min(row[j] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for code in Code::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} used twice");
            let (letter, digits) = text.split_at(1);
            assert!(letter == "E" || letter == "W");
            assert_eq!(digits.len(), 4);
            assert_eq!(letter == "W", code.default_severity() == Severity::Warning);
        }
    }

    #[test]
    fn closest_finds_typos_and_case_slips() {
        let names = ["Endpoint", "Notification", "Tcb"];
        assert_eq!(closest("Endpiont", names), Some("Endpoint"));
        assert_eq!(closest("endpoint", names), Some("Endpoint"));
        assert_eq!(closest("TCB", names), Some("Tcb"));
        assert_eq!(closest("Frame", names), None);
    }

    #[test]
    fn a_pick_is_sure_only_without_a_tie() {
        let names = ["X", "XX", "Tcb"];
        assert_eq!(closest("XY", names), Some("X"));
        assert_eq!(closeness("XY", "X", names), Applicability::MaybeIncorrect);
        assert_eq!(closest("XXY", names), Some("XX"));
        assert_eq!(
            closeness("XXY", "XX", names),
            Applicability::MachineApplicable
        );
    }
}
