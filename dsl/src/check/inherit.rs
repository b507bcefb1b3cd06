//! Cap inheritance, before every other pass: `abstract cap Memory { ... }`
//! declares fields (with their attributes and doc comments) that cap types
//! declared `cap RamCap for Ram inherits Memory { ... }` start with, as
//! Barrelfish's Hamlet `abstract` caps and `inherit` do. An abstract cap
//! may inherit another; the farthest ancestor's fields come first. The
//! result is the same files with every inheriting cap's fields written
//! out, so the later passes see only plain cap types (and abstract caps,
//! which they treat as names of no cap type).
//!
//! Errors: `inherits` naming something that is not an abstract cap
//! (`E0100` for an unknown name, `E0418` for a cap type that is not
//! abstract), a cycle of abstract caps, an abstract cap with `for`
//! (`E0418`), and a field named both by an ancestor and by the cap
//! (`E0101`).

use std::collections::{BTreeMap, BTreeSet};

use crate::ast::{self, CapItem, ItemKind};
use crate::diag::{Code, Diagnostic, closest};
use crate::source::FileId;

/// The files with inherited fields written out, what went wrong, the
/// names of the abstract caps something inherits (for the unused lint) and
/// of the caps whose inheritance failed (checked no further: their fields
/// are not what the spec means).
pub(super) struct Expanded {
    /// The files, every inheriting cap's fields the ancestors' then its own.
    pub files: Vec<(FileId, ast::File)>,
    /// Errors found.
    pub diags: Vec<Diagnostic>,
    /// Abstract caps some cap (or abstract cap) inherits.
    pub inherited: BTreeSet<String>,
    /// Caps whose `inherits` failed.
    pub failed: BTreeSet<String>,
}

pub(super) fn expand(files: &[(FileId, ast::File)]) -> Expanded {
    let caps = || {
        files
            .iter()
            .flat_map(|(_, f)| &f.items)
            .filter_map(|item| match &item.kind {
                ItemKind::Cap(c) => Some(c),
                _ => None,
            })
    };
    // The first of a name wins; a second is the names pass's duplicate.
    let mut by_name: BTreeMap<&str, &CapItem> = BTreeMap::new();
    for cap in caps() {
        by_name.entry(cap.name.name.as_str()).or_insert(cap);
    }
    let mut diags = Vec::new();
    let mut inherited = BTreeSet::new();
    // Each cap's ancestors, nearest first, or `None` after an error.
    let mut ancestry: BTreeMap<&str, Option<Vec<&CapItem>>> = BTreeMap::new();
    let mut reported_cycles: BTreeSet<String> = BTreeSet::new();
    let mut failed = BTreeSet::new();
    for cap in caps() {
        if cap.is_abstract
            && let Some(object) = &cap.object
        {
            diags.push(
                Diagnostic::new(
                    Code::InheritanceMisuse,
                    object.span,
                    format!("abstract cap `{}` names an object", cap.name.name),
                )
                .label("an abstract cap names no object")
                .note("an abstract cap is a set of fields for cap types to inherit; it is not a cap type, so it names nothing")
                .help(format!(
                    "remove `for {}`, and write it on each cap type that inherits `{}`",
                    object.name, cap.name.name
                )),
            );
        }
        let mut chain: Vec<&CapItem> = Vec::new();
        let mut next = cap.inherits.as_ref();
        let mut ok = true;
        while let Some(name) = next {
            inherited.insert(name.name.clone());
            match by_name.get(name.name.as_str()) {
                Some(parent) if parent.is_abstract => {
                    if chain.iter().any(|c| std::ptr::eq(*c, *parent)) {
                        // A cycle further up, which its own members report.
                        ok = false;
                        break;
                    }
                    if std::ptr::eq(*parent, cap) {
                        let path: Vec<&str> = std::iter::once(cap)
                            .chain(chain.iter().copied())
                            .chain(std::iter::once(cap))
                            .map(|c| c.name.name.as_str())
                            .collect();
                        let mut members = path[1..].to_vec();
                        members.sort_unstable();
                        if reported_cycles.insert(members.join(",")) {
                            diags.push(
                                Diagnostic::new(
                                    Code::InheritanceMisuse,
                                    name.span,
                                    format!("`{}` inherits itself", cap.name.name),
                                )
                                .label("the chain of `inherits` comes back here")
                                .note(format!("the chain: {}", path.join(" inherits ")))
                                .help("break the cycle: an abstract cap's ancestors must end"),
                            );
                        }
                        ok = false;
                        break;
                    }
                    chain.push(parent);
                    next = parent.inherits.as_ref();
                }
                Some(other) => {
                    diags.push(
                        Diagnostic::new(
                            Code::InheritanceMisuse,
                            name.span,
                            format!("`{}` is not an abstract cap", name.name),
                        )
                        .label("a cap type, which cannot be inherited")
                        .with_secondary(other.name.span, "declared here without `abstract`")
                        .note("only an `abstract cap` gives its fields to others; a cap type has a tag and a view of its own")
                        .help(format!(
                            "move the shared fields into `abstract cap {}Fields {{ ... }}` and let both inherit it",
                            name.name
                        )),
                    );
                    ok = false;
                    break;
                }
                None => {
                    let abstracts = by_name
                        .values()
                        .filter(|c| c.is_abstract)
                        .map(|c| c.name.name.as_str());
                    let mut d = Diagnostic::new(
                        Code::UnknownName,
                        name.span,
                        format!("no abstract cap is called `{}`", name.name),
                    )
                    .label("unknown");
                    d = match closest(&name.name, abstracts) {
                        Some(s) => d.help(format!("did you mean `{s}`?")),
                        None => d.help(format!(
                            "declare it: `abstract cap {} {{ ... }}`",
                            name.name
                        )),
                    };
                    diags.push(d);
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            failed.insert(cap.name.name.clone());
        }
        ancestry.insert(cap.name.name.as_str(), ok.then_some(chain));
    }

    let files = files
        .iter()
        .map(|(id, file)| {
            let mut file = file.clone();
            for item in &mut file.items {
                let ItemKind::Cap(cap) = &mut item.kind else {
                    continue;
                };
                let Some(Some(chain)) = ancestry.get(cap.name.name.as_str()) else {
                    continue;
                };
                if chain.is_empty() {
                    continue;
                }
                // The farthest ancestor's fields first, the cap's own last.
                let own = cap.fields.clone();
                let lists = chain
                    .iter()
                    .rev()
                    .map(|a| (a.name.name.as_str(), &a.fields))
                    .chain(std::iter::once((cap.name.name.as_str(), &own)));
                let mut fields: Vec<ast::Field> = Vec::new();
                let mut from: BTreeMap<String, &str> = BTreeMap::new();
                for (owner, list) in lists {
                    for field in list {
                        if let Some(first) = fields.iter().find(|f| f.name.name == field.name.name)
                        {
                            let ancestor = from[&first.name.name];
                            diags.push(duplicate(field, first, ancestor, &cap.name.name));
                            continue;
                        }
                        from.insert(field.name.name.clone(), owner);
                        fields.push(field.clone());
                    }
                }
                cap.fields = fields;
            }
            (*id, file)
        })
        .collect();
    Expanded {
        files,
        diags,
        inherited,
        failed,
    }
}

/// `E0101` for a field `field` of `cap` that `first`, inherited from
/// `ancestor`, already names.
fn duplicate(field: &ast::Field, first: &ast::Field, ancestor: &str, cap: &str) -> Diagnostic {
    Diagnostic::new(
        Code::DuplicateName,
        field.name.span,
        format!("`{cap}` has two fields called `{}`", field.name.name),
    )
    .label("named again here")
    .with_secondary(first.name.span, format!("inherited from `{ancestor}`"))
    .help("rename one of them: an inherited field cannot be redefined")
}
