//! Byte counts as people read them: the one place the front end, the
//! generated docs and every command write sizes, in a few named styles.
//!
//! - [`sum`]: `1 MiB + 8 KiB + 128 B`, exact, largest unit first (`0 B`);
//! - [`sum_short`]: the same, or `1056896 B` when it would take more than
//!   three terms (pictures, tables);
//! - [`sum_and_bytes`]: `1 MiB + 8 KiB (1056768 bytes)`, or `48 bytes`
//!   below a KiB (generated documentation);
//! - [`bytes_and_unit`]: `4096 bytes (4 KiB)`, the unit only when it is
//!   exact (diagnostics);
//! - [`pow`] and [`pow_bytes_and_unit`]: the same for `2^bits` bytes, also
//!   past 2^63.

/// The binary units, largest first, as shifts.
const UNITS: [(u32, &str); 6] = [
    (60, "EiB"),
    (50, "PiB"),
    (40, "TiB"),
    (30, "GiB"),
    (20, "MiB"),
    (10, "KiB"),
];

/// `n` as whole binary units, largest first (`["1 MiB", "8 KiB"]`), and
/// the bytes left below a KiB.
pub fn terms(n: u64) -> (Vec<String>, u64) {
    let mut terms = Vec::new();
    let mut rest = n;
    for (shift, unit) in UNITS {
        if rest >> shift > 0 {
            terms.push(format!("{} {unit}", rest >> shift));
            rest &= (1 << shift) - 1;
        }
    }
    (terms, rest)
}

/// `1 MiB + 8 KiB + 128 B`: exact, largest unit first; `0 B` for nothing.
pub fn sum(n: u64) -> String {
    let (mut terms, rest) = terms(n);
    if rest > 0 || terms.is_empty() {
        terms.push(format!("{rest} B"));
    }
    terms.join(" + ")
}

/// [`sum`], or the plain count (`1056896 B`) when that would take more
/// than three terms.
pub fn sum_short(n: u64) -> String {
    let text = sum(n);
    if text.matches(" + ").count() < 3 {
        text
    } else {
        format!("{n} B")
    }
}

/// `1 MiB + 8 KiB (1056768 bytes)`, or `48 bytes` below a KiB.
pub fn sum_and_bytes(n: u64) -> String {
    let (mut terms, rest) = terms(n);
    if terms.is_empty() {
        return format!("{n} bytes");
    }
    if rest > 0 {
        terms.push(format!("{rest} bytes"));
    }
    format!("{} ({n} bytes)", terms.join(" + "))
}

/// `4096 bytes (4 KiB)`: the count, and the largest unit that divides it;
/// `1 byte`.
pub fn bytes_and_unit(n: u64) -> String {
    for (shift, unit) in UNITS.iter().skip(2) {
        if n >= 1 << shift && n % (1 << shift) == 0 {
            return format!("{n} bytes ({} {unit})", n >> shift);
        }
    }
    if n == 1 {
        "1 byte".to_string()
    } else {
        format!("{n} bytes")
    }
}

/// [`sum_short`] of `2^bits` bytes, or `2^bits B` past 2^63.
pub fn pow(bits: u32) -> String {
    match 1u64.checked_shl(bits) {
        Some(n) if bits < 64 => sum_short(n),
        _ => format!("2^{bits} B"),
    }
}

/// [`bytes_and_unit`] of `2^bits` bytes, or `2^bits bytes` past 2^63.
pub fn pow_bytes_and_unit(bits: u32) -> String {
    match 1u64.checked_shl(bits) {
        Some(n) if bits < 64 => bytes_and_unit(n),
        _ => format!("2^{bits} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_style() {
        let n = (1 << 20) + (8 << 10) + 128;
        assert_eq!(sum(n), "1 MiB + 8 KiB + 128 B");
        assert_eq!(sum(0), "0 B");
        assert_eq!(sum(1 << 40), "1 TiB");
        assert_eq!(sum_short(n), "1 MiB + 8 KiB + 128 B");
        assert_eq!(sum_short((1 << 30) + n), "1074798720 B");
        assert_eq!(sum_and_bytes(n - 128), "1 MiB + 8 KiB (1056768 bytes)");
        assert_eq!(
            sum_and_bytes(n),
            "1 MiB + 8 KiB + 128 bytes (1056896 bytes)"
        );
        assert_eq!(sum_and_bytes(48), "48 bytes");
        assert_eq!(bytes_and_unit(4096), "4096 bytes (4 KiB)");
        assert_eq!(bytes_and_unit(4097), "4097 bytes");
        assert_eq!(bytes_and_unit(1), "1 byte");
        assert_eq!(pow(12), "4 KiB");
        assert_eq!(pow(64), "2^64 B");
        assert_eq!(pow_bytes_and_unit(21), "2097152 bytes (2 MiB)");
        assert_eq!(pow_bytes_and_unit(70), "2^70 bytes");
    }
}
