//! How the commands write sizes, counts and lists in their text output
//! (`doc`, `graph`, `breaking`): one spelling for each, so a size reads
//! the same in every report.

pub use capc_dsl::units::{pow as bytes_pow, sum_short as bytes};

/// `n` and its noun, singular for one: "1 reply word", "0 reply words".
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A number of bytes in binary units, with the exact number when the units
/// do not already say it: "1 MiB + 8 KiB (1056768 bytes)", "1 KiB (1024
/// bytes)", but "48 bytes".
pub fn exact_bytes(n: u64) -> String {
    let units = bytes(n);
    if units == format!("{n} B") {
        count(n, "byte", "bytes")
    } else {
        format!("{units} ({n} bytes)")
    }
}

/// Names in backticks, joined by `, `: "`read`, `write`".
pub fn code_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_counts_and_lists() {
        assert_eq!(count(1u64, "word", "words"), "1 word");
        assert_eq!(count(0u64, "word", "words"), "0 words");
        assert_eq!(exact_bytes(48), "48 bytes");
        assert_eq!(exact_bytes(1), "1 byte");
        assert_eq!(exact_bytes(1024), "1 KiB (1024 bytes)");
        assert_eq!(exact_bytes(1056768), "1 MiB + 8 KiB (1056768 bytes)");
        assert_eq!(bytes_pow(12), "4 KiB");
        let names = ["read".to_string(), "write".to_string()];
        assert_eq!(code_list(&names), "`read`, `write`");
    }
}
