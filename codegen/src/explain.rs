//! `capc explain CODE`: the catalogue's entry for a diagnostic code, as
//! `rustc --explain` prints one. The text is docs/language.md's section for
//! the code (docs/tools.md's for `capc breaking`'s `B` codes), compiled into
//! the binary, so the explanation needs no checkout and is the one the docs
//! show (a test checks every code has one).

use std::process::ExitCode;

use clap::Args;

/// docs/language.md: its "Diagnostics" chapter is the catalogue. Read
/// through codegen/docs/, symlinks to the repository's docs/ that
/// `cargo package` turns into the files, so the published crate has them.
const CATALOGUE: &str = include_str!("../docs/language.md");

/// docs/tools.md: its `capc breaking` section lists the `B` codes.
const BREAKING_CATALOGUE: &str = include_str!("../docs/tools.md");

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The code, e.g. E0703, W0001 or B0002 (case does not matter).
    pub code: String,
}

pub const EXPLAIN_EXAMPLES: &str = "\
Examples:
  capc explain E0703      why the worst-case allocation must fit the donation
  capc explain w0001      the unused-type warning
  capc explain B0002      a cap type's tag changed (capc breaking)";

/// The catalogue's section for `code` (`E0703`, `W0001`): its heading and
/// text up to the next heading; `None` if there is none.
pub fn explanation(code: &str) -> Option<String> {
    let code = code.trim().to_ascii_uppercase();
    let heading = format!("#### {code}: ");
    let catalogue = if code.starts_with('B') {
        BREAKING_CATALOGUE
    } else {
        CATALOGUE
    };
    let start = catalogue.find(&heading)?;
    let body = &catalogue[start..];
    let end = body[heading.len()..]
        .find("\n#")
        .map_or(body.len(), |i| i + heading.len());
    let section = body[..end].trim_end();
    Some(format!("{}\n", section.trim_start_matches("#### ")))
}

pub fn run(args: &ExplainArgs) -> ExitCode {
    match explanation(&args.code) {
        Some(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        None => {
            eprintln!(
                "error: `{}` is not a capc diagnostic code (codes look like E0703, W0001 or B0002; docs/language.md and docs/tools.md list them)",
                args.code
            );
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::explanation;
    use capc_dsl::Code;

    /// Every code the checker can give has its entry, headed by the code and
    /// the title the diagnostic carries, with an example and a fix.
    #[test]
    fn every_code_is_explained_under_its_title() {
        for code in Code::ALL {
            let text = explanation(code.as_str())
                .unwrap_or_else(|| panic!("{} has no section in docs/language.md", code.as_str()));
            let heading = format!("{}: {}", code.as_str(), code.title());
            assert!(
                text.starts_with(&heading),
                "{}: the section is headed `{}`, the code's title is `{heading}`",
                code.as_str(),
                text.lines().next().unwrap_or("")
            );
        }
    }

    #[test]
    fn codes_are_found_in_any_case_and_nothing_else_is() {
        assert_eq!(explanation("e0703"), explanation("E0703"));
        assert!(explanation(" W0001 ").is_some());
        for not_a_code in ["E9999", "", "E070", "Names", "B9999", "B000"] {
            assert_eq!(explanation(not_a_code), None, "{not_a_code:?}");
        }
    }
}
