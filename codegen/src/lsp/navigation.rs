//! Hover and go to definition.

use super::Server;
use super::documents::{Document, location};
use super::index::Symbol;
use super::position::{position_to_offset, word_at};
use capc_dsl::Span;
use capc_dsl::model::{Finaliser, Object, ObjectId, OwnedSlot, Spec};
use lsp_types::{
    GotoDefinitionParams, GotoDefinitionResponse, Hover, HoverContents, HoverParams, Location,
    MarkupContent, MarkupKind, Position, Uri,
};

impl Server {
    /// The name under the cursor and the document it is in.
    pub(super) fn word_at(&self, uri: &Uri, position: Position) -> Option<(&Document, String)> {
        let document = self.documents.get(uri.as_str())?;
        let offset = position_to_offset(&document.text, position);
        let word = word_at(&document.text, offset)?;
        Some((document, word.to_string()))
    }

    pub(super) fn hover(&self, p: &HoverParams) -> Option<Hover> {
        let position = &p.text_document_position_params;
        let (document, word) = self.word_at(&position.text_document.uri, position.position)?;
        let (spec, _) = document.model()?;
        // Methods have a namespace of their own: the index says whether the
        // name is a method's; without one (a text that does not parse),
        // whether it follows `fn`.
        let indexed = self
            .graph(&position.text_document.uri)
            .and_then(|g| g.at(position.position).map(|o| o.symbol.clone()));
        let after_fn = match indexed {
            Some(symbol) => matches!(symbol, Symbol::Method { .. }),
            None => follows_fn(&document.text, position.position),
        };
        let text = hover_text(spec, &word, after_fn)?;
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: text,
            }),
            range: None,
        })
    }

    /// The declarations of the symbol under the cursor, from the index
    /// (so in the namespace of the name, in a spec that does not check);
    /// by name in the last model that checked when the text does not parse.
    pub(super) fn definition(&self, p: &GotoDefinitionParams) -> Option<GotoDefinitionResponse> {
        let position = &p.text_document_position_params;
        let uri = &position.text_document.uri;
        let indexed = self.graph(uri).and_then(|graph| {
            let symbol = &graph.at(position.position)?.symbol;
            Some(
                graph
                    .declarations(symbol)
                    .filter_map(|o| graph.location(o.span))
                    .collect::<Vec<Location>>(),
            )
        });
        let locations = match indexed {
            Some(locations) => locations,
            None => {
                let (document, word) = self.word_at(uri, position.position)?;
                let (spec, sources) = document.model()?;
                definitions(spec, &word)
                    .into_iter()
                    .filter_map(|span| location(uri, sources, span))
                    .collect()
            }
        };
        match locations.len() {
            0 => None,
            1 => locations
                .into_iter()
                .next()
                .map(GotoDefinitionResponse::Scalar),
            _ => Some(GotoDefinitionResponse::Array(locations)),
        }
    }
}

/// Whether the name at `position` follows the keyword `fn`.
fn follows_fn(text: &str, position: Position) -> bool {
    let offset = position_to_offset(text, position);
    let start = text[..offset]
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    let before = text[..start].trim_end();
    before.len() < start
        && before
            .strip_suffix("fn")
            .is_some_and(|rest| !rest.ends_with(|c: char| c.is_alphanumeric() || c == '_'))
}

/// Markdown about every declaration called `name`.
pub(super) fn hover_text(spec: &Spec, name: &str, after_fn: bool) -> Option<String> {
    let (mut parts, mut methods) = (Vec::new(), Vec::new());
    let docs = |docs: &[String]| {
        if docs.is_empty() {
            String::new()
        } else {
            format!("\n\n{}", docs.join("\n"))
        }
    };
    if let Some(c) = spec.consts.iter().find(|c| c.name == name) {
        parts.push(format!(
            "```cap\nconst {} = {}\n```{}",
            c.name,
            c.value,
            docs(&c.docs)
        ));
    }
    if let Some((bit, r)) = spec.rights.iter().enumerate().find(|(_, r)| r.name == name) {
        parts.push(format!("right `{}` (bit {bit}){}", r.name, docs(&r.docs)));
    }
    if let Some(index) = spec.objects.iter().position(|o| o.name == name) {
        parts.push(object_hover(spec, ObjectId(index as u32)));
    }
    for o in &spec.objects {
        for slot in o.slots.iter().filter(|s| s.name == name) {
            parts.push(format!(
                "slot `{}.{}`: `{}` at byte {} of `{}`\n\n\
                 A cap put there must carry {}; it is deleted when the last cap to `{}` goes.{}",
                o.name,
                slot.name,
                slot_type(spec, slot),
                crate::doc::slot_offset(slot),
                o.name,
                crate::doc::required_rights(spec, &slot.rights),
                o.name,
                docs(&slot.docs)
            ));
        }
    }
    if let Some(f) = Finaliser::from_name(name) {
        let users: Vec<(usize, &Object)> = spec
            .objects
            .iter()
            .enumerate()
            .filter(|(_, o)| o.finalisers.contains(&f))
            .collect();
        for (index, o) in users {
            parts.push(format!(
                "finaliser `{}` of `{}`: when the last cap to it goes, the kernel {}",
                f.name(),
                o.name,
                crate::doc::finaliser_text(spec, ObjectId(index as u32), f)
            ));
        }
    }
    if let Some(cap) = spec.caps.iter().find(|c| c.name == name) {
        let mut text = format!(
            "cap `{}` (tag {}){}\n\n",
            cap.name,
            cap.tag,
            docs(&cap.docs)
        );
        crate::doc::layout(&mut text, spec, cap);
        parts.push(text.trim_end().to_string());
    }
    for set in spec.error_sets.iter().filter(|s| s.name == name) {
        let variants: Vec<String> = set
            .variants
            .iter()
            .map(|v| format!("`{}`", v.name))
            .collect();
        parts.push(format!(
            "errors `{}`: {}{}",
            set.name,
            variants.join(", "),
            docs(&set.docs)
        ));
    }
    for set in &spec.error_sets {
        for (i, v) in set
            .variants
            .iter()
            .enumerate()
            .filter(|(_, v)| v.name == name)
        {
            parts.push(format!(
                "`{}::{}` (number {}){}",
                set.name,
                v.name,
                i + 1,
                docs(&v.docs)
            ));
        }
    }
    for t in spec.data_types.iter().filter(|t| t.name == name) {
        use capc_dsl::model::DataDef;
        let what = match &t.def {
            DataDef::Record(fields) => {
                let fields: Vec<String> = fields
                    .iter()
                    .map(|f| {
                        format!(
                            "`{}: {}` at byte {}",
                            f.name,
                            f.ty.spelling(&spec.data_types),
                            f.offset
                        )
                    })
                    .collect();
                format!("struct `{}`: {}", t.name, fields.join(", "))
            }
            DataDef::Enum { variants, .. } => {
                let variants: Vec<String> =
                    variants.iter().map(|v| format!("`{}`", v.name)).collect();
                format!("enum `{}`: {}", t.name, variants.join(", "))
            }
            DataDef::Alias(ty) => {
                format!("type `{}` = `{}`", t.name, ty.spelling(&spec.data_types))
            }
            DataDef::Range { ty, min, max } => format!(
                "type `{}` = `{} in {min}..={max}`",
                t.name,
                ty.spelling(&spec.data_types)
            ),
        };
        parts.push(format!(
            "{what} ({} bytes on the wire){}",
            t.bytes,
            docs(&t.docs)
        ));
    }
    for set in spec.invocations.iter().chain(&spec.interfaces) {
        if set.name == name && set.cap.is_none() {
            let methods: Vec<String> = set
                .methods
                .iter()
                .map(|m| format!("`{}`", m.name))
                .collect();
            parts.push(format!(
                "interface `{}`: {}{}",
                set.name,
                methods.join(", "),
                docs(&set.docs)
            ));
        }
        for method in set.methods.iter().filter(|m| m.name == name) {
            let mut text = String::new();
            crate::doc::method(&mut text, spec, set, method);
            let text = text.replacen(
                &format!("#### `{}`", method.name),
                &format!("`{}.{}`", set.name, method.name),
                1,
            );
            methods.push(text.trim_end().to_string());
        }
    }
    // Methods have a namespace of their own: after `fn` the name is a
    // method's, elsewhere anything else of the name (a right `read` is not
    // the method `read`), and a method only when nothing else is.
    let shown = match (after_fn, parts.is_empty()) {
        (true, _) | (false, true) => methods,
        (false, false) => parts,
    };
    (!shown.is_empty()).then(|| shown.join("\n\n---\n\n"))
}

/// An object's size, docs, what removing its last cap undoes and its slots.
pub(super) fn object_hover(spec: &Spec, object: ObjectId) -> String {
    let o = &spec.objects[object.index()];
    let size = match &o.size.param {
        None => crate::present::bytes_pow(o.size.min_bits()),
        Some(param) => format!(
            "by `{param}` from {} ({}) to {} ({})",
            o.size.min_arg(),
            crate::present::bytes_pow(o.size.min_bits()),
            o.size.max_arg(),
            crate::present::bytes_pow(o.size.max_bits())
        ),
    };
    let memory = match (o.ram, o.device) {
        (true, true) => "RAM or device memory",
        (false, true) => "device memory",
        _ => "RAM",
    };
    let mut text = format!(
        "object `{}`: size {size}, alignment {}, in {memory}",
        o.name,
        o.align_bits
            .map_or("its size".to_string(), crate::present::bytes_pow),
    );
    if !o.docs.is_empty() {
        text.push_str("\n\n");
        text.push_str(&o.docs.join("\n"));
    }
    let undone = crate::doc::finalisation(spec, object);
    if !undone.is_empty() {
        let order = if undone.len() > 1 { ", in order" } else { "" };
        text.push_str(&format!("\n\nWhen its last cap goes, the kernel{order}:\n"));
        for (i, step) in undone.iter().enumerate() {
            text.push_str(&format!("\n{}. {step}", i + 1));
        }
    }
    if !o.slots.is_empty() {
        let slot_bits = spec.target.slot_bits.unwrap_or_default();
        text.push_str(&format!(
            "\n\nOwned slots, {} each:\n",
            crate::present::bytes_pow(slot_bits)
        ));
        for slot in &o.slots {
            text.push_str(&format!(
                "\n- `{}`: `{}` at byte {}",
                slot.name,
                slot_type(spec, slot),
                crate::doc::slot_offset(slot)
            ));
        }
    }
    text
}

/// A slot's cap type with the rights it requires, as the spec writes it:
/// `FrameCap(read, write)`.
pub(super) fn slot_type(spec: &Spec, slot: &OwnedSlot) -> String {
    let cap = &spec.caps[slot.cap.index()].name;
    format!("{cap}{}", crate::graph::rights_list(spec, &slot.rights))
}

/// Where every declaration called `name` is.
pub(super) fn definitions(spec: &Spec, name: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    spans.extend(
        spec.consts
            .iter()
            .filter(|c| c.name == name)
            .map(|c| c.span),
    );
    spans.extend(
        spec.rights
            .iter()
            .filter(|r| r.name == name)
            .map(|r| r.span),
    );
    spans.extend(
        spec.objects
            .iter()
            .filter(|o| o.name == name)
            .map(|o| o.span),
    );
    spans.extend(spec.caps.iter().filter(|c| c.name == name).map(|c| c.span));
    spans.extend(
        spec.error_sets
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.span),
    );
    spans.extend(
        spec.interfaces
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.span),
    );
    if spans.is_empty() {
        for o in &spec.objects {
            spans.extend(o.slots.iter().filter(|s| s.name == name).map(|s| s.span));
        }
        for set in spec.invocations.iter().chain(&spec.interfaces) {
            spans.extend(
                set.methods
                    .iter()
                    .filter(|m| m.name == name)
                    .map(|m| m.span),
            );
        }
    }
    spans
}
