//! `capc model --json`: the checked model as JSON, every number resolved.
//!
//! The schema is versioned ([`SCHEMA_VERSION`]) and described by
//! docs/model.schema.json (JSON Schema draft 2020-12); docs/tools.md says
//! what each part means. The JSON is built from the model with
//! `serde_json::json!`, whose maps keep their keys sorted, and every list is
//! in the model's order (declaration order, which is ABI order), so the
//! output is deterministic. Spans and file names are left out: the JSON is
//! what a spec means, not where it says it.

use std::path::PathBuf;
use std::process::ExitCode;

use capc_dsl::ast::{ObjectKind, Scalar, Transfer};
use capc_dsl::model::{
    CapField, CapType, CopyPolicy, DataDef, DonationKind, FieldKind, Mapping, Method, MethodParam,
    MethodSet, Object, ParamKind, Role, Spec,
};
use serde_json::{Value, json};

use crate::diagnostics::{self, DiagnosticArgs};

/// The version of the JSON's layout: raised whenever a key is removed or
/// changes meaning (adding a key does not raise it).
pub const SCHEMA_VERSION: u64 = 1;

pub const MODEL_EXAMPLES: &str = "\
Examples:
  capc model --json kernel-demo/spec/kernel.cap
  capc model --json spec.cap | jq '.caps[] | {name, tag}'

The JSON's layout is docs/model.schema.json (JSON Schema draft 2020-12);
its \"schema_version\" is 1. On errors the diagnostics are printed as by
`capc check` (to stderr) and nothing goes to stdout.
Exit status: 0 printed, 1 the spec has errors, 2 usage or I/O error.";

#[derive(clap::Args)]
pub struct ModelArgs {
    /// The spec whose checked model to print (with the files it imports).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print the model as JSON (the only format; required so that another
    /// can be added later without changing what this command prints).
    #[arg(long, required = true)]
    pub json: bool,
    /// Turn on this option of the spec's `config` block (repeatable): the
    /// model printed is that configuration's.
    #[arg(long = "cfg", value_name = "OPTION")]
    pub cfg: Vec<String>,
    #[command(flatten)]
    pub diagnostics: DiagnosticArgs,
}

pub fn run(args: &ModelArgs) -> ExitCode {
    let compilation =
        match diagnostics::checked_configured(&args.file, &args.cfg, &args.diagnostics) {
            Ok(c) => c,
            Err(code) => return code,
        };
    let Some(spec) = &compilation.spec else {
        return ExitCode::from(1);
    };
    let text = match serde_json::to_string_pretty(&model_json(spec)) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: cannot write the model as JSON: {e}");
            return ExitCode::from(2);
        }
    };
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write the model: {e}");
            ExitCode::from(2)
        }
    }
}

/// The model of `spec` as the JSON `capc model --json` prints.
pub fn model_json(spec: &Spec) -> Value {
    let target = &spec.target;
    let mut model = json!({
        "schema_version": SCHEMA_VERSION,
        "docs": spec.docs,
        "target": {
            "name": target.name,
            "address_bits": target.address_bits,
            "floats": target.floats,
            "tag_bits": target.tag_bits,
            "tag_shift": target.tag_shift,
            "message_registers": target.message_registers,
            "message_words": target.message_words,
            "caps_per_message": target.caps_per_message,
            "cap_words": target.cap_words,
            "slot_bits": target.slot_bits,
            "user_space": target.user_space.map(|(start, end)| json!({"start": start, "end": end})),
        },
        "page_bits": spec.page_bits(),
        "table_root": spec.table_root().map(|o| spec.objects[o.index()].name.clone()),
        "consts": spec.consts.iter().map(|c| json!({
            "name": c.name,
            "value": c.value,
            "docs": c.docs,
        })).collect::<Vec<_>>(),
        "rights": spec.rights.iter().enumerate().map(|(bit, r)| json!({
            "name": r.name,
            "bit": bit,
            "mask": 1u64 << bit,
            "docs": r.docs,
        })).collect::<Vec<_>>(),
        "objects": spec.objects.iter().map(|o| object(spec, o)).collect::<Vec<_>>(),
        "caps": spec.caps.iter().map(|c| cap(spec, c)).collect::<Vec<_>>(),
        "retypes": spec.retypes.iter().map(|r| json!({
            "source": spec.caps[r.source.index()].name,
            "targets": r.targets.iter().map(|t| json!({
                "name": spec.objects[t.index()].name,
                "number": spec.objects[t.index()].number,
            })).collect::<Vec<_>>(),
            "fan_out": r.fan_out,
            "at_offset": r.at_offset,
            "docs": r.docs,
        })).collect::<Vec<_>>(),
        "derives": spec.derives.iter().map(|d| json!({
            "target": spec.caps[d.target.index()].name,
            "source": spec.caps[d.source.index()].name,
            "multiple": d.multiple,
            "at_offset": d.at_offset,
            "range": d.range.map(|(a, b)| {
                let fields = &spec.caps[d.target.index()].fields;
                [fields[a].name.clone(), fields[b].name.clone()]
            }),
            "docs": d.docs,
        })).collect::<Vec<_>>(),
        "error_sets": spec.error_sets.iter().map(|e| json!({
            "name": e.name,
            "variants": e.variants.iter().enumerate().map(|(i, v)| {
                let mut variant = json!({
                    "name": v.name,
                    "number": i + 1,
                    "payload": v.payload,
                    "payload_types": v.payload.iter().zip(&v.payload_types).map(|(name, (t, at))| json!({
                        "name": name,
                        "type": t.spelling(spec),
                        "offset": at,
                    })).collect::<Vec<_>>(),
                    "payload_bytes": v.payload_bytes,
                    "docs": v.docs,
                });
                // Only a variant with a variable-length rest has the key.
                if let Some((name, id)) = &v.rest {
                    variant["rest"] = json!({
                        "name": name,
                        "errors": spec.error_sets[id.index()].name,
                    });
                }
                variant
            }).collect::<Vec<_>>(),
            "typed": e.typed,
            "discriminant_bytes": e.discriminant_bytes,
            "bytes": e.bytes,
            "docs": e.docs,
        })).collect::<Vec<_>>(),
        "data_types": spec.data_types.iter().map(|t| data_type(spec, t)).collect::<Vec<_>>(),
        "enumerations": spec.enumerations.iter().map(|e| json!({
            "name": e.name,
            "bits": e.bits,
            "values": e.values.iter().map(|v| json!({
                "name": v.name,
                "value": v.value,
                "docs": v.docs,
            })).collect::<Vec<_>>(),
            "docs": e.docs,
        })).collect::<Vec<_>>(),
        "bitfields": spec.bitfields.iter().map(|b| json!({
            "name": b.name,
            "words": b.words,
            "strict": b.strict,
            "fields": b.fields.iter().map(|f| {
                let mut v = json!({
                    "name": f.name,
                    "word": f.word,
                    "bit": f.bit,
                    "bits": f.width,
                    "type": if f.boolean { "bool" } else if f.values.is_some() { "enumeration" } else { "uint" },
                    "docs": f.docs,
                });
                if let Some(e) = f.values {
                    v["enumeration"] = json!(spec.enumerations[e.index()].name);
                }
                v
            }).collect::<Vec<_>>(),
            "docs": b.docs,
        })).collect::<Vec<_>>(),
        "syscalls": spec.syscalls.iter().map(|set| json!({
            "name": set.name,
            "syscalls": set.syscalls.iter().map(|c| json!({
                "name": c.name,
                "number": c.number,
                "word": c.number as u64,
                "sends": c.sends.as_ref().map(|t| syscall_targets(spec, t)),
                "receives": c.receives.as_ref().map(|t| syscall_targets(spec, t)),
                "docs": c.docs,
            })).collect::<Vec<_>>(),
            "docs": set.docs,
        })).collect::<Vec<_>>(),
        "invocations": spec.invocations.iter().map(|s| method_set(spec, s)).collect::<Vec<_>>(),
        "interfaces": spec.interfaces.iter().map(|s| method_set(spec, s)).collect::<Vec<_>>(),
    });
    // The `config` block's options (none without one), each on or off in
    // the configuration printed (`--cfg`).
    model["configuration"] = spec
        .configuration
        .iter()
        .map(|o| json!({ "name": o.name, "enabled": o.enabled, "docs": o.docs }))
        .collect();
    model["systems"] = spec.systems.iter().map(|s| system(spec, s)).collect();
    // Only a target that sets it, so other specs' models do not change.
    if target.fragments > 1 {
        model["target"]["fragments"] = json!(target.fragments);
    }
    if target.label_bits < 64 {
        model["target"]["label_bits"] = json!(target.label_bits);
    }
    model
}

/// A `system`: its objects, domains and `deny` assertions, every index
/// resolved to a name.
fn system(spec: &Spec, s: &capc_dsl::model::System) -> Value {
    let object_name = |i: usize| s.objects[i].name.clone();
    let right_names = |rights: &[capc_dsl::model::RightId]| {
        rights
            .iter()
            .map(|r| spec.rights[r.0 as usize].name.clone())
            .collect::<Vec<_>>()
    };
    json!({
        "name": s.name,
        "memory": s.memory,
        "objects": s.objects.iter().map(|o| json!({
            "name": o.name,
            "type": spec.objects[o.object.index()].name,
            "arg": o.arg,
            "size_bits": o.size_bits,
            "owner": o.owner.map(|d| s.domains[d].name.clone()),
        })).collect::<Vec<_>>(),
        "domains": s.domains.iter().map(|d| json!({
            "name": d.name,
            "program": d.program,
            "budget": d.budget,
            "priority": d.priority,
            "stack": d.stack,
            "trusted": d.trusted,
            "cspace": d.cspace.map(object_name),
            "slots": d.slots.iter().map(|sl| json!({
                "name": sl.name,
                "cap": spec.caps[sl.cap.index()].name,
                "rights": right_names(&sl.rights),
                "rights_mask": sl.rights.iter().fold(0u64, |m, r| m | 1 << r.0),
                "object": object_name(sl.object),
                "badge": sl.badge,
            })).collect::<Vec<_>>(),
            "serves": d.serves.iter().map(|&(i, sl)| json!({
                "interface": spec.interfaces[i].name,
                "slot": d.slots[sl].name,
            })).collect::<Vec<_>>(),
            "calls": d.calls.iter().map(|c| json!({
                "interface": spec.interfaces[c.interface].name,
                "slot": d.slots[c.slot].name,
                "in_flight": c.in_flight,
                "reserve_bytes": c.reserve_bytes,
            })).collect::<Vec<_>>(),
            "irqs": d.irqs,
            "devices": d.devices.iter().map(|dev| json!({
                "name": dev.name,
                "base": dev.base,
                "bytes": dev.bytes,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "denies": s.denies.iter().map(|x| json!({
            "domain": s.domains[x.domain].name,
            "right": spec.rights[x.right.0 as usize].name,
            "object": object_name(x.object),
        })).collect::<Vec<_>>(),
    })
}

/// A declared message type with its wire layout, types as a spec spells
/// them.
fn data_type(spec: &Spec, t: &capc_dsl::model::DataType) -> Value {
    let types = &spec.data_types;
    let value = |ty: &capc_dsl::model::Ty, offset: u64| json!({"type": ty.spelling(types), "offset": offset, "bytes": ty.bytes(types)});
    let mut v = match &t.def {
        DataDef::Record(fields) => json!({
            "kind": "struct",
            "fields": fields.iter().map(|f| {
                let mut field = value(&f.ty, f.offset);
                field["name"] = json!(f.name);
                field["docs"] = json!(f.docs);
                field
            }).collect::<Vec<_>>(),
        }),
        DataDef::Enum {
            discriminant_bytes,
            variants,
        } => json!({
            "kind": "enum",
            "discriminant_bytes": discriminant_bytes,
            "variants": variants.iter().enumerate().map(|(i, v)| json!({
                "name": v.name,
                "number": i,
                "values": v.fields.iter().map(|(ty, at)| value(ty, *at)).collect::<Vec<_>>(),
                "end": v.end,
                "docs": v.docs,
            })).collect::<Vec<_>>(),
        }),
        DataDef::Alias(ty) => json!({"kind": "alias", "type": ty.spelling(types)}),
        DataDef::Range { ty, min, max } => json!({
            "kind": "range",
            "type": ty.spelling(types),
            "min": min,
            "max": max,
        }),
    };
    v["name"] = json!(t.name);
    v["bytes"] = json!(t.bytes);
    v["docs"] = json!(t.docs);
    v
}

fn names(spec: &Spec, rights: &[capc_dsl::model::RightId]) -> Vec<String> {
    rights
        .iter()
        .map(|r| spec.rights[r.index()].name.clone())
        .collect()
}

fn mask(rights: &[capc_dsl::model::RightId]) -> u64 {
    rights.iter().fold(0, |m, r| m | 1u64 << r.index())
}

/// The name of an object kind as the JSON writes it.
pub fn kind_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Untyped => "untyped",
        ObjectKind::Frame => "frame",
        ObjectKind::Kernel => "object",
    }
}

fn object(spec: &Spec, o: &Object) -> Value {
    let mut value = json!({
        "name": o.name,
        "number": o.number,
        "kind": kind_name(o.kind),
        "size": {
            "param": o.size.param,
            "min_arg": o.size.min_arg(),
            "max_arg": o.size.max_arg(),
            "table": o.size.table.iter().map(|&(arg, bits)| json!({
                "arg": arg,
                "size_bits": bits,
                "align_bits": o.align_bits_for(bits),
            })).collect::<Vec<_>>(),
        },
        "align_bits": o.align_bits,
        "ram": o.ram,
        "device": o.device,
        "finalisers": o.finalisers.iter().map(|f| f.name()).collect::<Vec<_>>(),
        "slots": o.slots.iter().map(|s| json!({
            "name": s.name,
            "cap": spec.caps[s.cap.index()].name,
            "rights": names(spec, &s.rights),
            "offset": s.offset,
            "required": s.required,
            "docs": s.docs,
        })).collect::<Vec<_>>(),
        "table": o.table.as_ref().map(|t| json!({
            "entries": t.entries,
            "entry_bits": t.entry_bits,
            "span_bits": t.span_bits(),
            "holds": t.holds.iter().map(|h| spec.objects[h.index()].name.clone()).collect::<Vec<_>>(),
        })),
        "asid_pool": o.asid_pool.as_ref().map(|p| json!({ "numbers": p.numbers })),
        "docs": o.docs,
    });
    // A byte-sized type (`#[bytes]`): its sizes are bytes, not listed.
    if let Some(b) = o.size.bytes {
        value["size"]["bytes"] = json!({
            "granule_bits": b.granule_bits,
            "min": b.min,
            "max": b.max,
        });
    }
    // `null` unless the type is numbered per size argument.
    value["numbers_by_arg"] = if o.numbers.is_empty() {
        Value::Null
    } else {
        o.numbers
            .iter()
            .map(|&(arg, number)| json!({ "arg": arg, "number": number }))
            .collect()
    };
    value
}

/// The name of a field role as the JSON writes it (the attribute's name).
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Plain => "plain",
        Role::Object => "object",
        Role::SizeArg => "size_arg",
        Role::Watermark => "watermark",
        Role::Badge => "badge",
        Role::Device => "device",
        Role::Guard => "guard",
        Role::GuardBits => "guard_bits",
        Role::MappedAt => "mapped_at",
        Role::Asid => "asid",
        Role::Caller => "caller",
        Role::MappedIn => "mapped_in",
    }
}

fn cap(spec: &Spec, c: &CapType) -> Value {
    json!({
        "name": c.name,
        "tag": c.tag,
        "object": c.object.map(|o| spec.objects[o.index()].name.clone()),
        "rights": names(spec, &c.rights),
        "rights_mask": mask(&c.rights),
        "copy": match c.copy {
            CopyPolicy::Normal => "normal",
            CopyPolicy::Always => "always",
            CopyPolicy::Never => "never",
        },
        "mapping": c.mapping.map(|m| match m {
            Mapping::EachCap => "each_cap",
            Mapping::Shared => "shared",
        }),
        "copy_conditions": {
            "requires": c.copy_conditions.requires.iter().map(|&i| &c.fields[i].name).collect::<Vec<_>>(),
            "clears": c.copy_conditions.clears.iter().map(|&i| &c.fields[i].name).collect::<Vec<_>>(),
            "no_children": c.copy_conditions.no_children,
        },
        "fields": c.fields.iter().map(|f| field(spec, f)).collect::<Vec<_>>(),
        "docs": c.docs,
    })
}

fn field(spec: &Spec, f: &CapField) -> Value {
    let ty = match &f.kind {
        FieldKind::Ptr { align_bits } => {
            json!({
                "type": "ptr",
                "align_bits": align_bits,
                "sign_extend": f.sign_extend,
                "whole_word": f.whole_word,
                "virtual_offset": f.virtual_offset,
            })
        }
        FieldKind::Uint if f.role == Role::SizeArg => {
            json!({"type": "uint", "size_bytes": f.size_bytes})
        }
        FieldKind::Uint => json!({"type": "uint"}),
        FieldKind::Bool => json!({"type": "bool"}),
        FieldKind::Rights { allowed } => json!({"type": "rights", "allowed": names(spec, allowed)}),
    };
    let mut ty = ty;
    // Only an enumerated field names its enumeration.
    if let Some(e) = f.values {
        ty["enumeration"] = json!(spec.enumerations[e.index()].name);
    }
    json!({
        "name": f.name,
        "type": ty,
        "role": role_name(f.role),
        "identity": f.identity,
        "unit_bits": if f.role == Role::Watermark { Some(f.unit_bits) } else { None },
        "word": f.word,
        "shift": f.shift,
        "width": f.width,
        "mask": f.mask(),
        "docs": f.docs,
    })
}

/// A scalar's name and bits, as the JSON writes them.
pub fn scalar(s: Scalar) -> (&'static str, u32) {
    match s {
        Scalar::Word => ("word", 64),
        Scalar::Bool => ("bool", 1),
        Scalar::Uint(bits) => ("uint", bits),
    }
}

/// Where a parameter travels: `(word_start, word_count)` for data, the
/// cap index for a cap; as the generated code lays messages out (data in
/// message words in order, caps in the message's caps in order).
pub fn places(params: &[MethodParam]) -> Vec<Place> {
    capc_dsl::model::Layout::of(params)
        .places
        .into_iter()
        .map(|wire| match wire {
            capc_dsl::model::Wire::Words { start, count } => Place::Words(start, count),
            capc_dsl::model::Wire::Cap { index } => Place::Cap(index),
            capc_dsl::model::Wire::Lease { words, cap } => Place::Lease(words, cap),
        })
        .collect()
}

/// Where one parameter travels in a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Message words `start..start + count`.
    Words(u64, u64),
    /// The message's cap number `index`.
    Cap(u64),
    /// A lease: its offset and length in message words `start` and
    /// `start + 1`, its frame the message's cap number `index`.
    Lease(u64, u64),
}

fn transfer_name(t: Transfer) -> &'static str {
    match t {
        Transfer::Lookup => "lookup",
        Transfer::Grant => "grant",
        Transfer::Lend => "lend",
        Transfer::Move => "move",
    }
}

fn params(spec: &Spec, list: &[MethodParam]) -> Vec<Value> {
    list.iter()
        .zip(places(list))
        .map(|(p, place)| {
            let mut v = match &p.kind {
                ParamKind::Scalar(s) => {
                    let (name, bits) = scalar(*s);
                    let mut v = json!({"kind": "scalar", "type": name, "bits": bits});
                    // Only a parameter with a range has one (sessions).
                    if let Some((lo, hi)) = p.range {
                        v["range"] = json!([lo, hi]);
                    }
                    // Only an enumerated one names its enumeration.
                    if let Some(e) = p.values {
                        v["enumeration"] = json!(spec.enumerations[e.index()].name);
                    }
                    if let Some(b) = p.bitfield {
                        v["bitfield"] = json!(spec.bitfields[b.index()].name);
                    }
                    // Only a packed one (`#[at]`) has a lowest bit in its word.
                    if let Some(at) = p.at {
                        v["bit"] = json!(at.bit);
                    }
                    v
                }
                ParamKind::Array {
                    element,
                    len,
                    words,
                } => {
                    let (name, bits) = scalar(*element);
                    let mut v = json!({"kind": "array", "type": name, "bits": bits, "len": len, "words": words});
                    if let Some(b) = p.bitfield {
                        v["bitfield"] = json!(spec.bitfields[b.index()].name);
                    }
                    v
                }
                ParamKind::Data { ty, bytes, words } => json!({
                    "kind": "data",
                    "type": ty.spelling(&spec.data_types),
                    "bytes": bytes,
                    "words": words,
                }),
                // A cap of any type: `"cap": "any"`, no rights.
                ParamKind::AnyCap { transfer } => json!({
                    "kind": "cap",
                    "transfer": transfer_name(*transfer),
                    "cap": "any",
                    "rights": [],
                    "unchecked": false,
                }),
                ParamKind::Cap {
                    transfer,
                    cap,
                    rights,
                    unchecked,
                    alternatives,
                    nullable,
                } => {
                    let mut v = json!({
                        "kind": "cap",
                        "transfer": transfer_name(*transfer),
                        "cap": spec.caps[cap.index()].name,
                        "rights": names(spec, rights),
                        "unchecked": unchecked,
                    });
                    // Only for `cap A | B` and `cap A | null`, so other
                    // specs' models do not change.
                    if !alternatives.is_empty() {
                        v["alternatives"] = json!(
                            alternatives
                                .iter()
                                .map(|c| spec.caps[c.index()].name.as_str())
                                .collect::<Vec<_>>()
                        );
                    }
                    if *nullable {
                        v["nullable"] = json!(true);
                    }
                    v
                }
                ParamKind::Lease(l) => json!({
                    "kind": "lease",
                    "cap": spec.caps[l.cap.index()].name,
                    "rights": names(spec, &l.rights),
                    "read": l.read,
                    "write": l.write,
                    "element": l.element.spelling(&spec.data_types),
                    "max": l.max,
                    "exact": l.exact,
                    "max_bytes": l.max_bytes(),
                    "frame_bytes": l.frame_bytes,
                }),
            };
            v["name"] = json!(p.name);
            // Only a parameter that binds a callback interface names it.
            if let Some(i) = p.binds {
                v["binds"] = json!(spec.interfaces[i].name);
            }
            match place {
                Place::Words(start, count) => {
                    v["word_start"] = json!(start);
                    v["word_count"] = json!(count);
                }
                Place::Cap(index) => v["cap_index"] = json!(index),
                Place::Lease(start, index) => {
                    v["word_start"] = json!(start);
                    v["word_count"] = json!(2);
                    v["cap_index"] = json!(index);
                }
            }
            v
        })
        .collect()
}

fn method_set(spec: &Spec, s: &MethodSet) -> Value {
    let set = &spec.error_sets[s.errors.index()];
    let error = |i: usize| json!({"name": set.variants[i].name, "number": i + 1});
    let methods = s.methods.iter().map(|m| {
        let own = &spec.error_sets[m.error_set.index()];
        let error = |i: usize| json!({"name": own.variants[i].name, "number": i + 1});
        method(spec, s, m, &error)
    });
    let mut v = json!({
        "name": s.name,
        "cap": s.cap.map(|c| spec.caps[c.index()].name.clone()),
        "errors": set.name,
        "methods": methods.collect::<Vec<_>>(),
        "docs": s.docs,
    });
    // Only a callback interface says so.
    if s.callback {
        v["callback"] = json!(true);
    }
    // Only an interface used through sessions has one.
    if let Some(session) = &s.session {
        let (kind, cap) = match &session.kind {
            DonationKind::Quota => ("quota", None),
            DonationKind::Untyped(c) => ("untyped", Some(spec.caps[c.index()].name.clone())),
        };
        v["session"] = json!({
            "kind": kind,
            "cap": cap,
            "min_bytes": session.min_bytes,
            "keeps": session.keeps,
            "out_of_budget": error(session.out_of_budget),
            "docs": session.docs,
        });
        // Only a session that may be opened bound to a callback says so.
        if let Some(b) = session.binds {
            v["session"]["binds"] = json!(spec.interfaces[b].name);
        }
    }
    v
}

/// What a method charges its caller's session, for `capc model --json`.
fn charges(spec: &Spec, set: &MethodSet, m: &Method) -> Option<Value> {
    use capc_dsl::model::{Amount, Charged};
    let c = m.charges.as_ref()?;
    let amount = |a: Amount| match a {
        Amount::Const(v) => json!(v),
        Amount::Param(i) => json!({"param": m.params[i].name}),
        Amount::Pow2(i) => json!({"pow2_of_param": m.params[i].name}),
    };
    let list = c.charges.iter().map(|ch| {
        let mut v = match &ch.what {
            Charged::Bytes(b) => json!({"kind": "bytes", "bytes": b}),
            Charged::Objects { object, count, arg } => json!({
                "kind": "objects",
                "object": spec.objects[object.index()].name,
                "count": amount(*count),
                "arg": amount(*arg),
            }),
        };
        v["lasts"] = json!(match ch.handed_to {
            Some(_) => "handed_out",
            None if ch.for_the_call() => "call",
            None => "session",
        });
        v["handed_to"] = json!(ch.handed_to.map(|r| m.results[r].name.clone()));
        v
    });
    let refunds = c.refunds.iter().map(|r| {
        json!({
            "param": m.params[r.param].name,
            "from": r.from.iter().map(|(mi, ri)| json!({
                "method": set.methods[*mi].name,
                "result": set.methods[*mi].results[*ri].name,
            })).collect::<Vec<_>>(),
        })
    });
    Some(json!({
        "charges": list.collect::<Vec<_>>(),
        "refunds": refunds.collect::<Vec<_>>(),
    }))
}

fn method(spec: &Spec, set: &MethodSet, m: &Method, error: &dyn Fn(usize) -> Value) -> Value {
    let request_caps = m
        .params
        .iter()
        .filter(|p| {
            matches!(
                p.kind,
                ParamKind::Cap { .. } | ParamKind::AnyCap { .. } | ParamKind::Lease(_)
            )
        })
        .count();
    let donation = m.donation.as_ref().map(|d| {
        let (kind, cap, cap_index) = match &d.kind {
            DonationKind::Quota => ("quota", None, None),
            DonationKind::Untyped(c) => (
                "untyped",
                Some(spec.caps[c.index()].name.clone()),
                Some(request_caps),
            ),
        };
        json!({
            "kind": kind,
            "cap": cap,
            "cap_index": cap_index,
            "min_bytes": d.min_bytes,
            "worst_case_bytes": d.worst_case_bytes,
            "out_of_budget": error(d.out_of_budget),
            "allocations": d.allocations.iter().map(|a| json!({
                "object": spec.objects[a.object.index()].name,
                "arg": a.arg,
                "size_bits": a.size_bits,
                "count": a.count,
            })).collect::<Vec<_>>(),
        })
    });
    let mut value = json!({
        "name": m.name,
        "label": m.label,
        "kind": if m.oneway { "oneway" } else { "call" },
        "params": params(spec, &m.params),
        "results": params(spec, &m.results),
        "requires": names(spec, &m.requires),
        "requires_mask": mask(&m.requires),
        "error_set": spec.error_sets[m.error_set.index()].name,
        "errors": m.errors.iter().map(|&i| error(i)).collect::<Vec<_>>(),
        "idempotent": m.idempotent,
        "donation": donation,
        "request_words": m.request_words,
        "reply_words": m.reply_words,
        "docs": m.docs,
    });
    // `null` unless the method creates a cap (`creates`).
    value["creates"] = m.creates.as_ref().map_or(Value::Null, |c| {
        let cap = &spec.caps[c.cap.index()];
        json!({
            "cap": cap.name,
            "into": m.params[c.into].name,
            "from": c.from.map(|u| m.params[u].name.clone()),
            "fields": c.fields.iter().map(|&(f, p)| json!({
                "field": cap.fields[f].name,
                "param": m.params[p].name,
            })).collect::<Vec<_>>(),
        })
    });
    // Only in a spec that says who pays beyond a call (sessions).
    if let Some(c) = charges(spec, set, m) {
        value["session_charges"] = c;
    }
    if let Some(bound) = m.server_pays {
        value["server_pays"] = json!(bound);
    }
    value
}

/// The cap types one half of a system call acts on, each with the rights
/// and `bool` fields it needs (`[]`: no cap named).
fn syscall_targets(spec: &Spec, t: &capc_dsl::model::SyscallTargets) -> Value {
    json!(t.caps.iter().map(|c| {
        let cap = &spec.caps[c.cap.index()];
        json!({
            "cap": cap.name,
            "rights": c.rights.iter().map(|r| spec.rights[r.index()].name.clone()).collect::<Vec<_>>(),
            "flags": c.flags.iter().map(|f| cap.fields[*f].name.clone()).collect::<Vec<_>>(),
        })
    }).collect::<Vec<_>>())
}
