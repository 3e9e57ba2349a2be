//! Deterministic tar and gzip: the same files give the same bytes, whatever the machine.
//! Shared by build.rs (the embedded chat-server source archive) and the local image layer.

use std::io::Write;

/// One regular file to put in an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path inside the archive, relative, with `/` separators (e.g. `chat-server/src/main.rs`).
    pub path: String,
    /// Unix permission bits (e.g. 0o644, 0o755).
    pub mode: u32,
    pub data: Vec<u8>,
}

/// Owner written into every entry's header (numeric only; user and group names stay empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u64,
    pub gid: u64,
}

/// A tar archive of `entries`, sorted by path, with fixed mtime (0), the given owner and mode.
/// GNU headers, so long paths are stored faithfully.
pub fn tar(entries: &[FileEntry], owner: Owner) -> std::io::Result<Vec<u8>> {
    let mut sorted: Vec<&FileEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut builder = tar::Builder::new(Vec::new());
    for entry in sorted {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(entry.data.len() as u64);
        header.set_mode(entry.mode);
        header.set_uid(owner.uid);
        header.set_gid(owner.gid);
        header.set_mtime(0);
        builder.append_data(&mut header, &entry.path, entry.data.as_slice())?;
    }
    builder.into_inner()
}

/// Gzip with a fixed header (no file name, mtime 0, OS "unknown") and a fixed level.
pub fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::default());
    encoder.write_all(data)?;
    encoder.finish()
}
