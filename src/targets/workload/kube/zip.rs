//! Just enough of the zip format for an MKE client bundle (`POST /api/clientbundle` answers a
//! zip of a few PEM and text files, written by Go's `archive/zip`): the central directory, and
//! entries stored or deflated, each checked against its CRC-32. Encrypted entries and zip64 are
//! refused (a bundle is a few kilobytes); an entry may not inflate past [`MAX_ENTRY`].

/// The largest entry inflated: a bundle's files are a few kilobytes.
pub const MAX_ENTRY: usize = 4 << 20;

const END_OF_DIRECTORY: u32 = 0x0605_4b50;
const DIRECTORY_ENTRY: u32 = 0x0201_4b50;
const LOCAL_HEADER: u32 = 0x0403_4b50;

/// One file of an archive, located but not yet read.
#[derive(Clone, Debug)]
struct Entry {
    name: String,
    method: u16,
    flags: u16,
    crc: u32,
    compressed: usize,
    size: usize,
    local_header: usize,
}

/// A zip archive in memory.
pub struct Archive<'a> {
    bytes: &'a [u8],
    entries: Vec<Entry>,
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

impl<'a> Archive<'a> {
    /// Read the central directory. `Err`: why this is not a zip archive stigfix can read.
    pub fn parse(bytes: &'a [u8]) -> Result<Archive<'a>, String> {
        // The end record is the last 22 bytes plus a comment of up to 64 KiB.
        let floor = bytes.len().saturating_sub(22 + 0xFFFF);
        let end = (floor..=bytes.len().saturating_sub(22))
            .rev()
            .find(|&at| u32_at(bytes, at) == Some(END_OF_DIRECTORY))
            .ok_or("not a zip archive (no end-of-central-directory record)")?;
        let truncated = || "a truncated zip archive".to_string();
        let count = usize::from(u16_at(bytes, end + 10).ok_or_else(truncated)?);
        let offset = u32_at(bytes, end + 16).ok_or_else(truncated)?;
        if count == 0xFFFF || offset == 0xFFFF_FFFF {
            return Err("a zip64 archive, which a client bundle never is".into());
        }
        let mut at = offset as usize;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            if u32_at(bytes, at) != Some(DIRECTORY_ENTRY) {
                return Err("a damaged zip archive (bad central directory)".into());
            }
            let field16 = |offset: usize| u16_at(bytes, at + offset).ok_or_else(truncated);
            let field32 = |offset: usize| u32_at(bytes, at + offset).ok_or_else(truncated);
            let name_length = usize::from(field16(28)?);
            let skip = usize::from(field16(30)?) + usize::from(field16(32)?);
            let name = bytes
                .get(at + 46..at + 46 + name_length)
                .ok_or_else(truncated)?;
            entries.push(Entry {
                name: String::from_utf8_lossy(name).into_owned(),
                flags: field16(8)?,
                method: field16(10)?,
                crc: field32(16)?,
                compressed: field32(20)? as usize,
                size: field32(24)? as usize,
                local_header: field32(42)? as usize,
            });
            at += 46 + name_length + skip;
        }
        Ok(Archive { bytes, entries })
    }

    /// The names of its files (folders end in `/`).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|entry| entry.name.as_str())
    }

    /// The file `name` (a path inside the archive), inflated and checked; `None` when there is
    /// no such file.
    pub fn read(&self, name: &str) -> Option<Result<Vec<u8>, String>> {
        let entry = self.entries.iter().find(|entry| entry.name == name)?;
        Some(self.extract(entry).map_err(|why| format!("{name}: {why}")))
    }

    fn extract(&self, entry: &Entry) -> Result<Vec<u8>, String> {
        if entry.flags & 1 != 0 {
            return Err("encrypted, which a client bundle never is".into());
        }
        if entry.size > MAX_ENTRY {
            return Err(format!(
                "{} bytes, more than a client bundle's file",
                entry.size
            ));
        }
        let at = entry.local_header;
        if u32_at(self.bytes, at) != Some(LOCAL_HEADER) {
            return Err("damaged (bad local header)".into());
        }
        let skip = usize::from(u16_at(self.bytes, at + 26).unwrap_or(0))
            + usize::from(u16_at(self.bytes, at + 28).unwrap_or(0));
        let start = at + 30 + skip;
        let data = self
            .bytes
            .get(start..start + entry.compressed)
            .ok_or("truncated")?;
        let inflated = match entry.method {
            0 => data.to_vec(),
            8 => miniz_oxide::inflate::decompress_to_vec_with_limit(data, MAX_ENTRY)
                .map_err(|error| format!("cannot inflate ({:?})", error.status))?,
            other => {
                return Err(format!(
                    "compressed with method {other} (only stored and deflated are read)"
                ));
            }
        };
        if inflated.len() != entry.size || crc32(&inflated) != entry.crc {
            return Err("damaged (size or CRC-32 does not match)".into());
        }
        Ok(inflated)
    }
}

/// The CRC-32 (IEEE) table.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut index = 0;
    while index < 256 {
        let mut value = index as u32;
        let mut bit = 0;
        while bit < 8 {
            value = if value & 1 == 1 {
                0xEDB8_8320 ^ (value >> 1)
            } else {
                value >> 1
            };
            bit += 1;
        }
        table[index] = value;
        index += 1;
    }
    table
};

/// CRC-32 as zip uses it.
pub fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |crc, &byte| {
        CRC_TABLE[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8)
    })
}

/// A zip archive of `files` (name, contents), each deflated, as Go's `archive/zip` writes a
/// client bundle; `comment` is the archive's comment (UCP puts the bundle's ID there).
#[cfg(any(test, feature = "sim"))]
pub fn write(files: &[(&str, &[u8])], comment: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut directory = Vec::new();
    for (name, contents) in files {
        let deflated = miniz_oxide::deflate::compress_to_vec(contents, 6);
        let offset = out.len() as u32;
        let crc = crc32(contents);
        let mut common = Vec::new();
        common.extend_from_slice(&20u16.to_le_bytes()); // version needed
        common.extend_from_slice(&0u16.to_le_bytes()); // flags
        common.extend_from_slice(&8u16.to_le_bytes()); // deflate
        common.extend_from_slice(&0u32.to_le_bytes()); // time, date
        common.extend_from_slice(&crc.to_le_bytes());
        common.extend_from_slice(&(deflated.len() as u32).to_le_bytes());
        common.extend_from_slice(&(contents.len() as u32).to_le_bytes());
        common.extend_from_slice(&(name.len() as u16).to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes()); // extra
        out.extend_from_slice(&LOCAL_HEADER.to_le_bytes());
        out.extend_from_slice(&common);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&deflated);
        directory.extend_from_slice(&DIRECTORY_ENTRY.to_le_bytes());
        directory.extend_from_slice(&20u16.to_le_bytes()); // version made by
        directory.extend_from_slice(&common);
        directory.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        directory.extend_from_slice(&(0o100_600u32 << 16).to_le_bytes());
        directory.extend_from_slice(&offset.to_le_bytes());
        directory.extend_from_slice(name.as_bytes());
    }
    let start = out.len() as u32;
    out.extend_from_slice(&directory);
    out.extend_from_slice(&END_OF_DIRECTORY.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // disks
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(directory.len() as u32).to_le_bytes());
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&(comment.len() as u16).to_le_bytes());
    out.extend_from_slice(comment.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_of_a_known_text() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn an_archive_written_is_read_back() {
        let big = "line of text\n".repeat(500);
        let bytes = write(
            &[
                ("ca.pem", b"ca"),
                ("env.sh", big.as_bytes()),
                ("empty", b""),
            ],
            "bundle-id",
        );
        let archive = Archive::parse(&bytes).unwrap();
        assert_eq!(
            archive.names().collect::<Vec<_>>(),
            ["ca.pem", "env.sh", "empty"]
        );
        assert_eq!(archive.read("ca.pem").unwrap().unwrap(), b"ca");
        assert_eq!(archive.read("env.sh").unwrap().unwrap(), big.as_bytes());
        assert_eq!(archive.read("empty").unwrap().unwrap(), b"");
        assert!(archive.read("key.pem").is_none());
    }

    #[test]
    fn damage_is_told_not_read() {
        let mut bytes = write(&[("kube.yml", b"server: https://x:6443\n")], "");
        assert!(Archive::parse(b"not a zip at all").is_err());
        // Flip a byte of the deflated data: the CRC no longer matches (or it does not inflate).
        bytes[30 + "kube.yml".len() + 2] ^= 0x55;
        let archive = Archive::parse(&bytes).unwrap();
        let error = archive.read("kube.yml").unwrap().unwrap_err();
        assert!(error.starts_with("kube.yml: "), "{error}");
        // Cut short: the directory is gone.
        assert!(Archive::parse(&bytes[..20]).is_err());
    }
}
