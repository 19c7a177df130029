//! The digests of files this machine has pushed, so pushing an unchanged file again asks the
//! server whether it has the blob instead of uploading it: a push streams a large file
//! while hashing it (one read), so its digest is known only after it was sent.
//!
//! A file is known by its absolute path, size, modification and status-change times (ns)
//! and inode; any change to those makes it unknown again (the status-change time moves on
//! every write, even when a tool puts the old modification time back). The cache is a text
//! file, one `digest size mtime ctime inode path` line per file, in `$GRANARY_CACHE_DIR` (else the platform's cache directory +
//! `granary`), `digests`; at most [`MAX_ENTRIES`] are kept. A cache that cannot be read or
//! written is ignored: it only saves uploads.

use granary_core::Digest;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Files remembered; the oldest are dropped beyond this.
const MAX_ENTRIES: usize = 20_000;

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    path: PathBuf,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    inode: u64,
}

/// The entries (each with the number of its last use), the last number given, and whether
/// anything changed since loading.
#[derive(Default)]
struct Entries {
    map: HashMap<Key, (Digest, u64)>,
    last: u64,
    changed: bool,
}

pub struct DigestCache {
    file: Option<PathBuf>,
    entries: Mutex<Entries>,
}

fn key(path: &Path, meta: &std::fs::Metadata) -> Option<Key> {
    let mtime = meta.modified().ok()?;
    let mtime_ns = match mtime.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    #[cfg(unix)]
    let (inode, ctime_ns) = {
        use std::os::unix::fs::MetadataExt;
        (
            meta.ino(),
            meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
        )
    };
    #[cfg(not(unix))]
    let (inode, ctime_ns) = (0, 0);
    Some(Key {
        path: std::path::absolute(path).ok()?,
        size: meta.len(),
        mtime_ns,
        ctime_ns,
        inode,
    })
}

/// Where the CLI keeps what it remembers between runs: `$GRANARY_CACHE_DIR`, else the
/// platform's cache directory + `granary`; `None` when there is neither.
pub fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("GRANARY_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("granary")))
}

impl DigestCache {
    pub fn load() -> Self {
        let file = cache_dir().map(|d| d.join("digests"));
        let mut map = HashMap::new();
        let mut n = 0u64;
        if let Some(text) = file.as_ref().and_then(|f| std::fs::read_to_string(f).ok()) {
            for line in text.lines() {
                let mut parts = line.splitn(6, ' ');
                let (Some(d), Some(size), Some(mtime), Some(ctime), Some(inode), Some(path)) = (
                    parts.next(),
                    parts.next(),
                    parts.next(),
                    parts.next(),
                    parts.next(),
                    parts.next(),
                ) else {
                    continue;
                };
                let (Ok(d), Ok(size), Ok(mtime_ns), Ok(ctime_ns), Ok(inode)) = (
                    d.parse::<Digest>(),
                    size.parse(),
                    mtime.parse(),
                    ctime.parse(),
                    inode.parse(),
                ) else {
                    continue;
                };
                n += 1;
                map.insert(
                    Key {
                        path: PathBuf::from(path),
                        size,
                        mtime_ns,
                        ctime_ns,
                        inode,
                    },
                    (d, n),
                );
            }
        }
        DigestCache {
            file,
            entries: Mutex::new(Entries {
                map,
                last: n,
                changed: false,
            }),
        }
    }

    /// The digest recorded for this file as it is now, if any.
    pub fn get(&self, path: &Path, meta: &std::fs::Metadata) -> Option<Digest> {
        let k = key(path, meta)?;
        self.entries
            .lock()
            .expect("poisoned")
            .map
            .get(&k)
            .map(|(d, _)| d.clone())
    }

    pub fn put(&self, path: &Path, meta: &std::fs::Metadata, digest: &Digest) {
        let Some(k) = key(path, meta) else { return };
        let mut e = self.entries.lock().expect("poisoned");
        e.last += 1;
        let n = e.last;
        e.map.insert(k, (digest.clone(), n));
        e.changed = true;
    }

    /// Writes the cache back (whole, through a temporary file renamed into place) if it
    /// changed, keeping the newest entries.
    pub fn save(&self) {
        let Some(file) = &self.file else { return };
        let e = self.entries.lock().expect("poisoned");
        if !e.changed {
            return;
        }
        let mut all: Vec<(&Key, &(Digest, u64))> = e.map.iter().collect();
        all.sort_by_key(|(_, (_, n))| std::cmp::Reverse(*n));
        all.truncate(MAX_ENTRIES);
        all.reverse();
        let mut text = String::new();
        for (k, (d, _)) in all {
            let Some(path) = k.path.to_str().filter(|p| !p.contains('\n')) else {
                continue;
            };
            text.push_str(&format!(
                "{d} {} {} {} {} {path}\n",
                k.size, k.mtime_ns, k.ctime_ns, k.inode
            ));
        }
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        let written = file
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&tmp, text))
            .and_then(|()| std::fs::rename(&tmp, file));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}
