//! Byte counts as people read them: `2 MiB`, `126 MiB + 704 KiB`.

use core::fmt;

/// A byte count that displays in binary units, exactly: the largest units
/// first, every non-zero one, so a power of two prints as one term.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u32, &str); 5] =
            [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB"), (0, "B")];
        if self.0 == 0 {
            return f.write_str("0 B");
        }
        let mut first = true;
        for (shift, unit) in UNITS {
            let upper = if shift == 40 { u64::MAX } else { 1023 };
            let count = (self.0 >> shift) & upper;
            if count != 0 {
                if !first {
                    f.write_str(" + ")?;
                }
                write!(f, "{count} {unit}")?;
                first = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Bytes;

    #[test]
    fn powers_of_two_are_one_term_and_sums_are_exact() {
        assert_eq!(Bytes(0).to_string(), "0 B");
        assert_eq!(Bytes(16).to_string(), "16 B");
        assert_eq!(Bytes(2 << 20).to_string(), "2 MiB");
        assert_eq!(Bytes(1 << 47).to_string(), "128 TiB");
        assert_eq!(Bytes(132_841_472).to_string(), "126 MiB + 704 KiB");
        assert_eq!(Bytes((1 << 30) + 5).to_string(), "1 GiB + 5 B");
    }
}
