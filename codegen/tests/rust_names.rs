//! Names the generated code once could not carry: each spec here either
//! fails `check` with `E0107` or generates a module that rustc compiles
//! without warnings, and none makes the generator panic.

mod common;

use capc::{Options, render_spec};
use common::{Scratch, rustc_lib, workspace};

const TARGET: &str = "target tiny {
    address_bits = 32;
    tag_bits = 4;
    message_registers = 1;
    message_words = 1;
    caps_per_message = 0;
}
";

/// A spec of one cap type `ty` with one `u8` field `field`, and no object
/// types.
fn spec(ty: &str, field: &str) -> String {
    format!("{TARGET}\ncap {ty} {{\n    {field}: u8,\n}}\n")
}

/// `(spec, rejected)`: every name that once broke the build.
fn cases() -> Vec<(String, bool)> {
    let mut cases = vec![(TARGET.to_string(), false)];
    for bad in ["super", "self", "Self", "crate", "_", "__", "SELF"] {
        cases.push((spec("Token", bad), true));
        cases.push((spec(bad, "value"), true));
    }
    // Underscores that make two in a row in a generated name (`set__pad0`).
    for (name, rejected) in [("_pad0", true), ("cookie__id", true), ("pad_", false)] {
        cases.push((spec("Token", name), rejected));
    }
    for (method, rejected) in [("_go", true), ("go_", true), ("a__b", true), ("go", false)] {
        cases.push((
            format!(
                "{TARGET}\nerrors Failure {{ Failed }}\ncap Token {{}}\ninvocations Token -> Failure {{\n    fn {method}(_x: word);\n}}\n"
            ),
            rejected,
        ));
    }
    // An invoked cap type's client is `<Cap>Client`, a tuple struct of its
    // transport: a type of that name clashes, and methods named like an
    // RPC client's members (or `invoke`, its private helper) compile.
    let invoked = "errors Failure { Failed }\ncap Token {}\ninvocations Token -> Failure {\n    fn go(x: word) -> (y: u8);\n}\n";
    cases.push((format!("{TARGET}\n{invoked}cap TokenClient {{}}\n"), true));
    cases.push((
        format!("{TARGET}\n{invoked}errors TokenClient {{ Other }}\n"),
        true,
    ));
    cases.push((format!("{TARGET}\n{invoked}cap TokenClients {{}}\n"), false));
    for method in [
        "new",
        "transport",
        "into_transport",
        "call",
        "invoke",
        "reply",
    ] {
        cases.push((
            format!(
                "{TARGET}\nerrors Failure {{ Failed }}\ncap Token {{}}\ninvocations Token -> Failure {{\n    fn {method}(msg: word) -> (reply: u8) {{\n        errors Failed;\n    }}\n}}\n"
            ),
            false,
        ));
    }
    // Members of every generated client and callback sender; the same
    // names as methods of a kernel invocation set compile.
    for (method, rejected) in [
        ("call", true),
        ("new", true),
        ("transport", true),
        ("into_transport", true),
        ("calls", false),
    ] {
        cases.push((
            format!(
                "{TARGET}\nerrors Failure {{ Failed }}\ninterface Store -> Failure {{\n    fn {method}(key: u8);\n}}\n"
            ),
            rejected,
        ));
    }
    for (message, rejected) in [("new", true), ("slots", false)] {
        cases.push((
            format!(
                "{TARGET}\nerrors Failure {{ Failed }}\ncallback interface Changes -> Failure {{\n    fn {message}(key: u8);\n}}\n"
            ),
            rejected,
        ));
    }
    for member in [
        "cap",
        "new",
        "from_cap",
        "TAG",
        "VALID_RIGHTS",
        "is_mapped",
        "Some",
        "None",
    ] {
        cases.push((spec("Token", member), true));
    }
    // Type names the module has itself, or takes from the prelude.
    for taken in [
        "Cap", "Rights", "Some", "None", "Ok", "Err", "Option", "Result",
    ] {
        cases.push((spec(taken, "value"), true));
        cases.push((format!("{TARGET}\nerrors {taken} {{ Failed }}\n"), true));
    }
    cases.push((
        format!("{TARGET}\ncap Token {{\n    level: u8,\n    set_level: bool,\n}}\n"),
        true,
    ));
    // Types the module names after an interface or its methods, or has
    // itself: as an error set, a struct, an enum or a type alias.
    let interface = "interface Store -> Failure {\n    fn get(key: u8) -> (value: u8);\n}\n";
    for taken in [
        "StoreLabel",
        "StoreRequest",
        "StoreServer",
        "StoreClient",
        "StoreGetReply",
        "StoreGetBudget",
        "StoreGetClass",
        "ProtocolError",
        "Transport",
        "Donation",
        "CallError",
        "Wire",
        "BoundedArray",
        "BoundedString",
        "Result",
    ] {
        cases.push((
            format!(
                "{TARGET}\nerrors Failure {{ Failed }}\nerrors {taken} {{ Other }}\n{interface}"
            ),
            true,
        ));
        for item in [
            format!("struct {taken} {{ a: u8 }}"),
            format!("enum {taken} {{ A }}"),
            format!("type {taken} = u8;"),
        ] {
            cases.push((
                format!("{TARGET}\nerrors Failure {{ Failed }}\n{item}\n{interface}"),
                true,
            ));
        }
    }
    // Message types whose field names are Rust keywords or the generated
    // code's own parameter names: they compile.
    cases.push((
        format!(
            "{TARGET}\nerrors Failure {{ Failed }}\nstruct Words {{ words: u8, at: bool, match: i8, type: u8 }}\nenum Value {{ Words(Words), At }}\ninterface Store -> Failure {{\n    fn get(words: Words) -> (at: Option<Value>);\n}}\n"
        ),
        false,
    ));
    // Constants: upper case, and none of the module's own.
    for (constant, rejected) in [
        ("cap", true),
        ("msg", true),
        ("Limit", true),
        ("PAGE_BITS", true),
        ("USER_SPACE", true),
        ("LIMIT", false),
        ("MAX_2", false),
    ] {
        let text = format!(
            "{TARGET}\nconst {constant} = 4;\nconst USED = {constant} + 1;\ncap Token {{\n    value: u8,\n}}\n"
        );
        cases.push((text, rejected));
    }
    // Sessions: parameters named like the locals and parameters dispatch
    // and the server trait add (`session`, `charge`, `total`, `kept`,
    // `scratch`), a method named like a session function; and a type named
    // like the generated session or charge type.
    let session = "interface Store -> Failure {\n    session {\n        donates quota 64;\n        keeps 8;\n        out_of_budget Quota;\n    }\n    fn put(session: u8 in 1..=3) -> (total: u8) {\n        keeps 4 for total;\n        errors Quota;\n    }\n    fn take(total: u8) {\n        refunds total from put;\n    }\n    fn charge(kept: u8 in 0..=1) {\n        keeps 1;\n        errors Quota;\n    }\n    fn refund(scratch: u8 in 0..=1) -> (charge: u32) {\n        keeps 2 for charge;\n        errors Quota;\n    }\n}\n";
    cases.push((
        format!("{TARGET}\nerrors Failure {{ Failed, Quota(needed) }}\n#[allow(never_refunded)]\n{session}"),
        false,
    ));
    for clash in ["StoreSession", "StoreCharge"] {
        cases.push((
            format!("{TARGET}\nerrors Failure {{ Failed, Quota(needed) }}\nstruct {clash} {{ x: u8 }}\n#[allow(never_refunded)]\n{session}"),
            true,
        ));
    }
    // Enumerations: variants named like the prelude's (`None`, `Some`,
    // `Ok`), in a field a `creates` clause sets from a parameter, a field
    // it leaves (its first variant) and a cap `derive` makes.
    cases.push((
        "target wide {\n    address_bits = 48;\n    tag_bits = 5;\n    message_registers = 4;\n    message_words = 8;\n    caps_per_message = 2;\n}\n\
         untyped Untyped(bits in 4..=47) { size = 1 << bits; }\n\
         cap UntypedCap for Untyped {\n    #[identity] #[object] base: ptr(align = 16),\n    #[size_arg] bits: u6,\n    #[watermark(unit = 16)] free: u44,\n}\n\
         object CNode(radix in 1..=24) { size = 1 << (radix + 5); }\n\
         cap CNodeCap for CNode {\n    #[identity] #[object] cnode: ptr(align = 32),\n    #[size_arg] radix: u5,\n    #[guard] guard: u32,\n}\n\
         retype UntypedCap { into = Untyped | CNode; fan_out = 4; }\n\
         errors Failure { Failed }\n\
         enum Mode: u3 { Some = 5, None = 1, Ok }\n\
         #[never_copy]\ncap PortControlCap {}\n\
         cap PortCap {\n    #[identity] first: u16,\n    mode: Mode,\n    spare: Mode,\n}\n\
         #[multiple]\nderive PortCap from PortControlCap;\n\
         invocations PortControlCap -> Failure {\n    fn issue(first: word, mode: Mode, root: cap CNodeCap, index: word) -> (old: Mode) {\n        creates PortCap(first = first, mode = mode) in root;\n    }\n}\n"
            .to_string(),
        false,
    ));
    // RPC parameters named like the locals of the generated client around
    // its copies (`error`, `copy`, `moved`): it names its own apart.
    cases.push((
        "target rpc {\n    address_bits = 32;\n    tag_bits = 4;\n    message_registers = 1;\n    message_words = 4;\n    caps_per_message = 2;\n}\n\
         rights { read, write }\n\
         errors Failure { Failed }\n\
         cap Token {\n    #[identity] id: u8,\n    rights: rights(read, write),\n}\n\
         interface Names -> Failure {\n    fn lend_two(error: lend cap Token(write), copy: lend cap Token(read));\n    fn give(moved: move cap Token(read));\n}\n"
            .to_string(),
        false,
    ));
    // Fields named like trait methods: the generated Debug and is_mapped
    // call the view's getter by path, so the trait's method never wins.
    for fine in [
        "from", "type", "move", "match", "eq", "ne", "fmt", "into", "try_into", "clone",
    ] {
        cases.push((spec("Token", fine), false));
    }
    cases
}

#[test]
fn previously_breaking_names_are_rejected_or_compile() {
    let scratch = Scratch::new("rust_names", "compile");
    for (i, (text, rejected)) in cases().into_iter().enumerate() {
        let path = scratch.path(&format!("case{i}.cap"));
        std::fs::write(&path, &text).unwrap();
        let result = std::panic::catch_unwind(|| render_spec(&path, &Options::default()));
        let result = result.unwrap_or_else(|_| panic!("the generator panicked on\n{text}"));
        match result {
            Err(e) => {
                assert!(rejected, "rejected unexpectedly:\n{text}\n{e}");
                assert!(format!("{e}").contains("E0107"), "{text}\n{e}");
            }
            Ok((module, _)) => {
                assert!(!rejected, "accepted, want E0107:\n{text}");
                let out = rustc_lib(&scratch, &format!("case{i}"), &module);
                assert!(
                    out.status.success(),
                    "generated code does not compile:\n{text}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
}

/// The checker's list of type names the generated module has whatever the
/// spec says (`RESERVED_TYPE_NAMES`) holds every type of the example specs'
/// modules that no declared name accounts for: so a new fixed type in the
/// backend cannot be shadowed by a spec's cap type, error set or interface
/// without this test saying so.
/// Every constant the generated module has at its top level that no spec
/// constant accounts for is in `RESERVED_CONST_NAMES`.
#[test]
fn every_fixed_constant_of_the_generated_module_is_reserved() {
    for relative in [
        "kernel-demo/spec/kernel.cap",
        "kernel-demo/spec/decompress.cap",
        "examples/everything.cap",
        "examples/barrelfish/caps.cap",
        "examples/messages.cap",
    ] {
        let path = workspace().join(relative);
        let (module, compilation) = render_spec(&path, &Options::default()).expect("checks");
        let spec = compilation.spec.expect("a model");
        let file = syn::parse_file(&module).expect("the module parses");
        for item in &file.items {
            let name = match item {
                syn::Item::Const(c) => c.ident.to_string(),
                syn::Item::Static(s) => s.ident.to_string(),
                _ => continue,
            };
            if name == "_" || spec.consts.iter().any(|c| c.name == name) {
                continue;
            }
            assert!(
                capc_dsl::check::RESERVED_CONST_NAMES.contains(&name.as_str()),
                "{relative}: the generated constant `{name}` is not in RESERVED_CONST_NAMES"
            );
        }
    }
}

#[test]
fn every_fixed_type_of_the_generated_module_is_reserved() {
    let specs = [
        "kernel-demo/spec/kernel.cap",
        "kernel-demo/spec/decompress.cap",
        "examples/everything.cap",
        "examples/barrelfish/caps.cap",
        "examples/messages.cap",
    ];
    for relative in specs {
        let path = workspace().join(relative);
        let (module, compilation) = render_spec(&path, &Options::default()).expect("checks");
        let spec = compilation.spec.expect("a model");
        let declared: Vec<&str> = spec
            .caps
            .iter()
            .map(|c| c.name.as_str())
            .chain(spec.objects.iter().map(|o| o.name.as_str()))
            .chain(spec.error_sets.iter().map(|e| e.name.as_str()))
            .chain(spec.interfaces.iter().map(|i| i.name.as_str()))
            .chain(spec.data_types.iter().map(|t| t.name.as_str()))
            .chain(spec.enumerations.iter().map(|e| e.name.as_str()))
            .chain(spec.bitfields.iter().map(|b| b.name.as_str()))
            .chain(spec.syscalls.iter().map(|s| s.name.as_str()))
            .collect();
        let file = syn::parse_file(&module).expect("the module parses");
        for item in &file.items {
            let name = match item {
                syn::Item::Struct(i) => i.ident.to_string(),
                syn::Item::Enum(i) => i.ident.to_string(),
                syn::Item::Trait(i) => i.ident.to_string(),
                syn::Item::Type(i) => i.ident.to_string(),
                _ => continue,
            };
            if declared.iter().any(|d| name.starts_with(d)) {
                continue;
            }
            assert!(
                capc_dsl::check::RESERVED_TYPE_NAMES.contains(&name.as_str()),
                "{relative}: the generated type `{name}` is not in RESERVED_TYPE_NAMES"
            );
        }
    }
}

/// Names a spec author could write, the awkward ones (Rust keywords,
/// prelude and generated names, view members, odd case) among plain ones.
const NAMES: &[&str] = &[
    "token",
    "Token",
    "level",
    "base",
    "cap",
    "new",
    "from",
    "into",
    "eq",
    "fmt",
    "clone",
    "type",
    "match",
    "move",
    "fn",
    "loop",
    "impl",
    "dyn",
    "async",
    "ref",
    "where",
    "Some",
    "None",
    "Ok",
    "Err",
    "Option",
    "Result",
    "Cap",
    "Rights",
    "Transport",
    "self",
    "Self",
    "super",
    "crate",
    "_",
    "x",
    "set_x",
    "TAG",
    "Level",
    "IPCBuffer",
    "cnode_cap",
    "CNodeCap",
    "u8",
    "bool",
    "word",
    "value",
    "Value",
    "Frame",
    "Endpoint",
    "read",
    "write",
    "error",
    "copy",
    "moved",
    "held",
    "sent",
    "slot",
    "handed_nothing",
];

/// Marsaglia's xorshift64: a fixed sequence, no dependencies.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x % n as u64) as usize
    }

    /// Like [`XorShift::name`], awkward one time in twelve: for the many
    /// names of message types, so that enough specs check.
    fn rare_name(&mut self, camel: bool) -> String {
        if self.below(3) == 0 {
            self.name(camel)
        } else {
            let n = self.below(1000);
            if camel {
                format!("Item{n}")
            } else {
                format!("item_{n}")
            }
        }
    }

    /// Mostly a plain name of the right case (`cap` for a field or method,
    /// `Cap` for a type), one time in four an awkward one from [`NAMES`].
    fn name(&mut self, camel: bool) -> String {
        if self.below(4) == 0 {
            return NAMES[self.below(NAMES.len())].to_string();
        }
        let n = self.below(1000);
        if camel {
            format!("Item{n}")
        } else {
            format!("item_{n}")
        }
    }
}

/// A random small spec: rights, an error set, cap types with fields, a
/// derivation rule, an interface, the names plain or awkward
/// ([`XorShift::name`]).
fn random_spec(rng: &mut XorShift) -> String {
    // Caps of 2 to 4 words, and fields wide enough to need them; the tag
    // sometimes high in word 0 (seL4's place).
    let cap_words = 2 + rng.below(3);
    let tag_shift = [0, 0, 60, 27][rng.below(4)];
    let mut text = TARGET.replace(
        "caps_per_message = 0;",
        &format!(
            "caps_per_message = 0;\n    cap_words = {cap_words};\n    tag_shift = {tag_shift};"
        ),
    );
    // Sometimes a field placed with `#[at]`: from the top of a word down,
    // the free bits left to the fields placed by capc; one time in eight
    // anywhere (it may overlap: then the spec is rejected). Sometimes a
    // sign-extended pointer or a whole-word one. `tops` is each word's lowest bit placed so far
    // (`None`: an abstract cap's field, never placed).
    let floor = |word: usize| if word == 0 && tag_shift == 0 { 4 } else { 0 };
    let field = |rng: &mut XorShift, tops: Option<&mut Vec<usize>>| {
        let (ty, width) = [
            ("u8", 8),
            ("bool", 1),
            ("u16", 16),
            ("u40", 40),
            ("u64", 64),
            ("ptr(align = 16)", 28),
            ("#[sign_extend]\n    ptr(align = 4)", 30),
            ("#[whole_word]\n    ptr(align = 8)", 64),
        ][rng.below(8)];
        let word = rng.below(cap_words);
        let at = match tops {
            Some(_) if rng.below(8) == 0 => format!(
                "#[at(word = {word}, bit = {})]\n    ",
                rng.below(65 - width)
            ),
            Some(tops) if rng.below(3) == 0 && tops[word] >= width + floor(word) => {
                tops[word] -= width;
                format!("#[at(word = {word}, bit = {})]\n    ", tops[word])
            }
            _ => String::new(),
        };
        let (attrs, ty) = match ty.split_once("\n    ") {
            Some((attr, ty)) => (format!("{at}{attr}\n    "), ty),
            None => (at, ty),
        };
        format!("    {attrs}{}: {ty},\n", rng.name(false))
    };
    // Sometimes an abstract cap some caps inherit.
    let parent = (rng.below(2) == 0).then(|| rng.name(true));
    if let Some(parent) = &parent {
        let fields: Vec<String> = (0..1 + rng.below(2)).map(|_| field(rng, None)).collect();
        text.push_str(&format!(
            "abstract cap {parent} {{\n{}}}\n",
            fields.concat()
        ));
    }
    if rng.below(2) == 0 {
        text.push_str(&format!(
            "rights {{ {}, {} }}\n",
            rng.name(false),
            rng.name(false)
        ));
    }
    let errors = rng.name(true);
    let (a, b, payload) = (rng.name(true), rng.name(true), rng.name(false));
    text.push_str(&format!("errors {errors} {{ {a}, {b}({payload}) }}\n"));
    let mut caps = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let cap = rng.name(true);
        caps.push(cap.clone());
        let mut tops = vec![64; cap_words];
        tops[0] = if tag_shift == 0 { 64 } else { tag_shift };
        let fields: Vec<String> = (0..rng.below(4))
            .map(|_| field(rng, Some(&mut tops)))
            .collect();
        let inherits = match &parent {
            Some(parent) if rng.below(2) == 0 => format!(" inherits {parent}"),
            _ => String::new(),
        };
        // Sometimes a tag by hand (a repeated one is rejected, the others
        // take the lowest free tags).
        let tag = match rng.below(4) {
            0 => format!("#[tag({})]\n", 1 + rng.below(15)),
            _ => String::new(),
        };
        text.push_str(&format!(
            "{tag}cap {cap}{inherits} {{\n{}}}\n",
            fields.concat()
        ));
    }
    // Sometimes invocations on the first cap type, numbered from a base
    // and some by hand (a repeated label is rejected).
    if rng.below(2) == 0
        && let Some(cap) = text
            .lines()
            .find_map(|l| l.strip_prefix("cap ")?.split(' ').next())
            .map(str::to_string)
    {
        let base = match rng.below(3) {
            0 => String::new(),
            _ => format!("#[label_base({})]\n", 1 + rng.below(100)),
        };
        let methods: Vec<String> = (0..1 + rng.below(3))
            .map(|i| {
                let label = match rng.below(3) {
                    0 => format!("    #[label({})]\n", 1 + rng.below(100)),
                    _ => String::new(),
                };
                format!("{label}    fn call_{i}();\n")
            })
            .collect();
        text.push_str(&format!(
            "{base}invocations {cap} -> {errors} {{\n{}}}\n",
            methods.concat()
        ));
    }
    // Sometimes one cap type derived from another (none has identity
    // fields, so any may be derived from any other).
    if caps.len() >= 2 && rng.below(2) == 0 {
        let multiple = ["", "#[multiple]\n"][rng.below(2)];
        text.push_str(&format!("{multiple}derive {} from {};\n", caps[1], caps[0]));
    }
    // Sometimes message types: structs, enums with and without data and
    // aliases, of small types and each other, with a wider message.
    let mut declared: Vec<String> = Vec::new();
    if rng.below(2) == 0 {
        text = text.replace("message_words = 1;", "message_words = 64;\n    floats = 1;");
        for _ in 0..1 + rng.below(3) {
            let name = rng.rare_name(true);
            let item = match rng.below(3) {
                0 => {
                    let fields: Vec<String> = (0..rng.below(3))
                        .map(|_| format!("{}: {}", rng.rare_name(false), data_type(rng, &declared)))
                        .collect();
                    format!("struct {name} {{ {} }}", fields.join(", "))
                }
                1 => {
                    let variants: Vec<String> = (0..1 + rng.below(3))
                        .map(|_| {
                            let v = rng.rare_name(true);
                            match rng.below(3) {
                                0 => v,
                                _ => format!("{v}({})", data_type(rng, &declared)),
                            }
                        })
                        .collect();
                    format!("enum {name} {{ {} }}", variants.join(", "))
                }
                // Sometimes a range type (by the name's length).
                _ if name.len() % 3 == 0 => {
                    let lo = name.len() % 5;
                    format!("type {name} = u16 in {lo}..={};", lo + 9)
                }
                _ => format!("type {name} = {};", data_type(rng, &declared)),
            };
            text.push_str(&item);
            text.push('\n');
            declared.push(name);
        }
    }
    if rng.below(2) == 0 || !declared.is_empty() {
        let (interface, method, arg, result) = (
            rng.rare_name(true),
            rng.rare_name(false),
            rng.rare_name(false),
            rng.rare_name(false),
        );
        let (arg_ty, result_ty) = if declared.is_empty() {
            ("word".to_string(), "word".to_string())
        } else {
            (data_type(rng, &declared), data_type(rng, &declared))
        };
        // A call, a one-way message beside it, or one-way messages only
        // (a client with no call to make), chosen without drawing from
        // `rng`, so the specs before and after stay as they were.
        let call = format!("    fn {method}({arg}: {arg_ty}) -> ({result}: {result_ty});\n");
        let oneway = format!("    #[oneway]\n    fn {method}_sent({arg}: {arg_ty});\n");
        let methods = match (method.len() + arg.len()) % 3 {
            0 => call,
            1 => format!("{call}{oneway}"),
            _ => oneway,
        };
        // Sometimes used through sessions, with a method that hands out a
        // charged handle and one that takes it back (again chosen without
        // drawing from `rng`).
        let (session, methods) = if (interface.len() + result.len()) % 2 == 0 {
            (
                format!(
                    "    session {{\n        donates quota 64;\n        keeps 8;\n        out_of_budget {a};\n    }}\n"
                ),
                format!(
                    "{methods}    fn {method}_kept({arg}_n: u8 in 1..=2) -> ({result}_h: u32) {{\n        keeps 4 for {result}_h;\n        errors {a};\n    }}\n    fn {method}_back({result}_h: u32) {{\n        refunds {result}_h from {method}_kept;\n    }}\n"
                ),
            )
        } else {
            (String::new(), methods)
        };
        // Sometimes an idempotent method whose errors are of a set of its
        // own, with typed payloads, one nesting the interface's set. Drawn
        // from a generator of its own, so the other draws stay as they were.
        let mut errs = XorShift(rng.0 ^ 0x2545_f491_4f6c_dd1d);
        let methods = if errs.below(2) == 0 {
            let typed = format!("{errors}Typed");
            let (x, y) = (errs.rare_name(true), errs.rare_name(true));
            let (p, q) = (errs.rare_name(false), errs.rare_name(false));
            let ty = data_type(&mut errs, &declared);
            text.push_str(&format!(
                "errors {typed} {{ {x}({p}: {ty}), {y}({q}: {errors}) }}\n"
            ));
            format!(
                "{methods}    #[idempotent]\n    fn {method}_typed() {{\n        errors of {typed};\n    }}\n"
            )
        } else {
            methods
        };
        text.push_str(&format!(
            "interface {interface} -> {errors} {{\n{session}{methods}}}\n"
        ));
    }
    // Sometimes memory: untyped memory retyped (at offsets or not) into
    // itself, a frame that splits (at offsets or not) and a kernel object
    // whose cap holds a kernel-virtual pointer (sometimes misaligned, then
    // rejected). Drawn from a generator of its own, so the draws above, and
    // the specs after this one, stay as they were.
    let mut mem = XorShift(rng.0 ^ 0x5851_f42d_4c95_7f2d);
    if mem.below(2) == 0 {
        // Plain names (awkward ones are drawn above), so that enough of
        // these specs check.
        let n = mem.below(1000);
        let [untyped, untyped_cap, frame, frame_cap, object, object_cap] =
            ["Ut", "UtCap", "Fr", "FrCap", "Ob", "ObCap"].map(|name| format!("{name}{n}"));
        let [base, bits, free, pointer] = ["base", "bits", "free", "pointer"];
        let at_retype = ["", "#[at_offset]\n"][mem.below(2)];
        let at_split = ["", "#[at_offset]\n"][mem.below(2)];
        let offset: u64 = [0, 0x1000_0000, 0x8000_0000, 0x8][mem.below(4)];
        // The untyped size as its argument, or in bytes.
        let (size_arg, size_ty) =
            [("#[size_arg]", "u5"), ("#[size_arg(bytes)]", "u21")][mem.below(2)];
        // Sometimes the frame is byte-sized (`#[bytes]`: any whole number
        // of pages), so the module counts in bytes; drawn from a generator
        // of its own, so the draws above stay as they were.
        let mut bytes = XorShift(rng.0 ^ 0x9e37_79b9_7f4a_7c15);
        let (frame_decl, frame_arg) = if bytes.below(3) == 0 {
            (
                format!(
                    "#[bytes]\nframe {frame}(bytes in 4 KiB..=20 KiB) {{ size = bytes; align = 4 KiB; }}"
                ),
                "u15",
            )
        } else {
            (
                format!("frame {frame}(bits in 12..=14) {{ size = 1 << bits; }}"),
                "u4",
            )
        };
        text.push_str(&format!(
            "untyped {untyped}(bits in 12..=20) {{ size = 1 << bits; }}\n\
             cap {untyped_cap} for {untyped} {{\n    #[identity] #[object] {base}: ptr(align = 16),\n    \
             #[identity] {size_arg} {bits}: {size_ty},\n    #[watermark(unit = 16)] {free}: u20,\n}}\n\
             {frame_decl}\n\
             cap {frame_cap} for {frame} {{\n    #[identity] #[object] {base}: ptr(align = 4096),\n    \
             #[identity] #[size_arg] {bits}: {frame_arg},\n}}\n\
             {at_split}derive {frame_cap} from {frame_cap};\n\
             object {object} {{ size = 64; }}\n\
             cap {object_cap} for {object} {{\n    \
             #[identity] #[object(virtual_offset = {offset:#x})] {pointer}: ptr(align = 16),\n}}\n\
             {at_retype}retype {untyped_cap} {{ into = {untyped} | {frame} | {object}; fan_out = 4; }}\n"
        ));
        // Sometimes a cap type that splits by a range of numbers.
        if mem.below(2) == 0 {
            let range_cap = format!("Range{n}");
            let [first, last] = [mem.rare_name(false), mem.rare_name(false)];
            text.push_str(&format!(
                "cap {range_cap} {{\n    #[identity] {first}: u16,\n    #[identity] {last}: u16,\n}}\n\
                 #[range({first}, {last})]\nderive {range_cap} from {range_cap};\n"
            ));
        }
    }
    // Sometimes an enumeration (values counted on or given, some twice or
    // too wide: then rejected; a variant's name sometimes an awkward one)
    // in an identity field of a cap type of its own and in that cap
    // type's invocation, as parameter and result. Drawn from a generator
    // of its own, as memory is.
    let mut en = XorShift(rng.0 ^ 0x2545_f491_4f6c_dd1d);
    if en.below(2) == 0 {
        let n = en.below(1000);
        let name = format!("Kind{n}");
        let bits = 1 + en.below(8);
        let variants: Vec<String> = (0..1 + en.below(4))
            .map(|i| {
                let v = match en.below(4) {
                    0 => en.rare_name(true),
                    _ => format!("V{i}"),
                };
                match en.below(3) {
                    0 if en.below(8) == 0 => format!("{v} = {}", en.below(1 << (bits + 1))),
                    0 => format!("{v} = {}", en.below(1 << bits)),
                    _ => v,
                }
            })
            .collect();
        let [field, method, arg, result] = ["kind", "set_kind", "new_kind", "old_kind"];
        text.push_str(&format!(
            "enum {name}: u{bits} {{ {} }}\ncap En{n} {{\n    #[identity] {field}: {name},\n}}\n\
             invocations En{n} -> {errors} {{\n    fn {method}({arg}: {name}) -> ({result}: {name});\n}}\n",
            variants.join(", ")
        ));
    }
    text
}

/// A message value's type: a small built-in one, or one of `declared`.
fn data_type(rng: &mut XorShift, declared: &[String]) -> String {
    const BUILT_IN: &[&str] = &[
        "u8",
        "i16",
        "bool",
        "u32",
        "i64",
        "word",
        "[u8; 3]",
        "[i8; ..=2]",
        "string<=5>",
        "Option<u16>",
        "[bool; 2]",
        "f32",
        "[f64; ..=2]",
    ];
    match (rng.below(3), declared.is_empty()) {
        (0, false) => {
            let named = declared[rng.below(declared.len())].clone();
            match rng.below(3) {
                0 => format!("Option<{named}>"),
                1 => format!("[{named}; ..=2]"),
                _ => named,
            }
        }
        _ => BUILT_IN[rng.below(BUILT_IN.len())].to_string(),
    }
}

/// Random specs: none makes the generator panic, and every one that checks
/// generates a module that rustc compiles without warnings (all of them in
/// one crate, one module each). `RANDOM_SPECS` sets how many (default 300).
#[test]
fn every_random_spec_that_checks_generates_code_that_compiles() {
    let count: usize = std::env::var("RANDOM_SPECS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let scratch = Scratch::new("rust_names", "random");
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut crate_root = String::new();
    let mut accepted = Vec::new();
    let mut rejected = 0;
    for i in 0..count {
        let text = random_spec(&mut rng);
        let path = scratch.path(&format!("spec{i}.cap"));
        std::fs::write(&path, &text).unwrap();
        let result = std::panic::catch_unwind(|| render_spec(&path, &Options::default()));
        match result.unwrap_or_else(|_| panic!("the generator panicked on\n{text}")) {
            Err(e) => {
                if std::env::var_os("RANDOM_SPECS_SHOW").is_some() {
                    eprintln!("{e}");
                }
                rejected += 1
            }
            Ok((module, _)) => {
                std::fs::write(scratch.path(&format!("spec{i}.rs")), module).unwrap();
                crate_root.push_str(&format!("#[path = \"spec{i}.rs\"]\npub mod spec{i};\n"));
                accepted.push(text);
            }
        }
    }
    // Both kinds must come up, or the generator tests nothing.
    assert!(
        accepted.len() >= count / 10,
        "{} of {count} checked",
        accepted.len()
    );
    assert!(rejected >= count / 10, "{rejected} of {count} rejected");
    // And among the accepted, each kind of placement and numbering.
    if count >= 100 {
        for construct in [
            "#[at(",
            "#[sign_extend]",
            "#[whole_word]",
            "tag_shift = 60",
            "#[label_base(",
            "#[label(",
            "#[tag(",
            "#[oneway]",
            "#[idempotent]",
            "errors of ",
            " = u16 in ",
            "f32",
            "#[at_offset]\nretype",
            "#[at_offset]\nderive",
            "virtual_offset = 0x80000000",
            "#[range(",
            "#[size_arg(bytes)]",
            "#[bytes]\nframe",
            "    session {",
            "\nenum Kind",
        ] {
            assert!(
                accepted.iter().any(|text| text.contains(construct)),
                "no accepted spec has `{construct}`"
            );
        }
    }
    let typed = accepted
        .iter()
        .filter(|t| {
            ["\nstruct ", "\nenum ", "\ntype "]
                .iter()
                .any(|k| t.contains(k))
        })
        .count();
    assert!(
        typed >= count / 40,
        "{typed} of {count} with message types checked"
    );
    let out = rustc_lib(&scratch, "random_specs", &crate_root);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Name the spec of the first error, if rustc names its file.
    let culprit = stderr
        .split("spec")
        .nth(1)
        .and_then(|s| s.split(".rs").next())
        .and_then(|n| n.parse::<usize>().ok())
        .map(|n| {
            std::fs::read_to_string(scratch.path(&format!("spec{n}.cap"))).unwrap_or_default()
        });
    assert!(
        out.status.success(),
        "generated code does not compile ({} specs checked):\n{}\n{stderr}",
        accepted.len(),
        culprit.unwrap_or_default()
    );
}

/// Text a spec carries into comments of the generated code: doc comments
/// with a bare carriage return or bidirectional-text controls (rustc
/// refuses both), and a file name with a line break (which would end the
/// `@generated` line comment). Each compiles, shown as its escape.
#[test]
fn text_in_comments_compiles() {
    let scratch = Scratch::new("rust_names", "comments");
    let docs = [
        "/// a bare \r carriage return\n",
        "/// reads \u{202e}backwards\u{202c} here, \u{2066}isolated\u{2069}\n",
        "/// a bell \u{7} and a tab\t\n",
    ];
    for (i, (doc, file)) in docs
        .iter()
        .zip(["plain.cap", "line\nbreak.cap", "tab\tname.cap"])
        .enumerate()
    {
        let text = format!("{TARGET}\n{doc}cap Token {{\n    {doc}    value: u8,\n}}\n");
        let path = scratch.path(file);
        std::fs::write(&path, &text).unwrap();
        let (module, _) = render_spec(&path, &Options::default()).expect("checks");
        for c in ['\r', '\u{202e}', '\u{2066}', '\u{7}'] {
            assert!(!module.contains(c), "{c:?} copied into\n{module}");
        }
        let out = rustc_lib(&scratch, &format!("comments{i}"), &module);
        assert!(
            out.status.success(),
            "generated code does not compile:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
