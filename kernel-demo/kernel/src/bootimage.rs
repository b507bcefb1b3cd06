//! The boot image: the user programs, packed by `cargo xtask` into the one
//! boot module QEMU passes (`-initrd`). The kernel starts the program named
//! [`ROOT`]; the root task finds the others in it (the kernel maps the
//! whole image into the root task's address space, read-only).
//!
//! Layout, little-endian: the 8-byte [`MAGIC`], the number of programs and
//! the image's total size as `u64`s, then per program a 32-byte name
//! (NUL-padded UTF-8), its offset and its size from the start of the image
//! (`u64` each), then the programs.

/// The first 8 bytes of a boot image.
pub const MAGIC: [u8; 8] = *b"capcboot";
/// The program the kernel starts.
pub const ROOT: &str = "root";
/// Bytes of a program's name in its entry.
pub const NAME_BYTES: usize = 32;
/// Bytes of one entry: the name, the offset, the size.
const ENTRY_BYTES: usize = NAME_BYTES + 16;
/// Bytes before the entries: the magic, the count and the total size.
pub const HEADER_BYTES: usize = 24;

/// Why a boot image was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootImageError {
    /// It does not start with [`MAGIC`].
    BadMagic,
    /// An entry or a program lies past the end.
    Truncated,
    /// A name is not UTF-8.
    BadName,
}

/// A parsed boot image over its bytes.
#[derive(Clone, Copy, Debug)]
pub struct BootImage<'a> {
    bytes: &'a [u8],
    count: usize,
}

fn word(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

impl<'a> BootImage<'a> {
    /// The total size the header at the start of `header` (at least
    /// [`HEADER_BYTES`] long) claims, for a reader that maps the header
    /// before the rest.
    pub fn total_len(header: &[u8]) -> Result<usize, BootImageError> {
        if header.get(..8) != Some(&MAGIC[..]) {
            return Err(BootImageError::BadMagic);
        }
        let total = word(header, 16).ok_or(BootImageError::Truncated)?;
        usize::try_from(total).map_err(|_| BootImageError::Truncated)
    }

    /// Checks the header and every entry of `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<BootImage<'a>, BootImageError> {
        if Self::total_len(bytes)? > bytes.len() {
            return Err(BootImageError::Truncated);
        }
        let count = word(bytes, 8).ok_or(BootImageError::Truncated)?;
        let count = usize::try_from(count).map_err(|_| BootImageError::Truncated)?;
        let table_end = count
            .checked_mul(ENTRY_BYTES)
            .and_then(|t| t.checked_add(HEADER_BYTES))
            .ok_or(BootImageError::Truncated)?;
        if table_end > bytes.len() {
            return Err(BootImageError::Truncated);
        }
        let image = BootImage { bytes, count };
        for i in 0..count {
            image.entry(i)?;
        }
        Ok(image)
    }

    /// The number of programs.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the image holds no program.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Program `index`: its name and its bytes.
    pub fn entry(&self, index: usize) -> Result<(&'a str, &'a [u8]), BootImageError> {
        let at = HEADER_BYTES + index * ENTRY_BYTES;
        let name = self
            .bytes
            .get(at..at + NAME_BYTES)
            .ok_or(BootImageError::Truncated)?;
        let name = name.split(|&b| b == 0).next().unwrap_or(&[]);
        let name = core::str::from_utf8(name).map_err(|_| BootImageError::BadName)?;
        let offset = word(self.bytes, at + NAME_BYTES).ok_or(BootImageError::Truncated)?;
        let size = word(self.bytes, at + NAME_BYTES + 8).ok_or(BootImageError::Truncated)?;
        let range = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(size).ok())
            .and_then(|(o, s)| Some(o..o.checked_add(s)?))
            .ok_or(BootImageError::Truncated)?;
        let program = self.bytes.get(range).ok_or(BootImageError::Truncated)?;
        Ok((name, program))
    }

    /// The program called `name`, if the image has it.
    pub fn find(&self, name: &str) -> Option<&'a [u8]> {
        (0..self.count)
            .filter_map(|i| self.entry(i).ok())
            .find(|(n, _)| *n == name)
            .map(|(_, bytes)| bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An image as `cargo xtask` packs it.
    fn pack(programs: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend((programs.len() as u64).to_le_bytes());
        let data: usize = programs.iter().map(|(_, b)| b.len()).sum();
        let total = HEADER_BYTES + programs.len() * ENTRY_BYTES + data;
        out.extend((total as u64).to_le_bytes());
        let mut offset = HEADER_BYTES + programs.len() * ENTRY_BYTES;
        for (name, bytes) in programs {
            let mut padded = [0u8; NAME_BYTES];
            padded[..name.len()].copy_from_slice(name.as_bytes());
            out.extend(padded);
            out.extend((offset as u64).to_le_bytes());
            out.extend((bytes.len() as u64).to_le_bytes());
            offset += bytes.len();
        }
        for (_, bytes) in programs {
            out.extend(*bytes);
        }
        out
    }

    #[test]
    fn programs_are_found_by_name() {
        let bytes = pack(&[("root", b"\x7fELF-root"), ("hello", b"\x7fELF-hello")]);
        let image = BootImage::parse(&bytes).unwrap();
        assert_eq!(image.len(), 2);
        assert_eq!(image.find("hello"), Some(&b"\x7fELF-hello"[..]));
        assert_eq!(image.find(ROOT), Some(&b"\x7fELF-root"[..]));
        assert_eq!(image.find("nope"), None);
        assert_eq!(
            BootImage::total_len(&bytes[..HEADER_BYTES]),
            Ok(bytes.len())
        );
    }

    #[test]
    fn a_damaged_image_is_refused() {
        let bytes = pack(&[("root", b"0123456789")]);
        assert_eq!(
            BootImage::parse(&bytes[..bytes.len() - 1]).unwrap_err(),
            BootImageError::Truncated
        );
        assert_eq!(
            BootImage::parse(b"\x7fELF").unwrap_err(),
            BootImageError::BadMagic
        );
        let mut many = bytes.clone();
        many[8] = 0xff;
        assert_eq!(
            BootImage::parse(&many).unwrap_err(),
            BootImageError::Truncated
        );
    }
}
