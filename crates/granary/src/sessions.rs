//! Upload sessions remembered across runs, so that a push cut off (client killed, server
//! restarted, network gone) resumes where the registry stopped instead of from byte 0.
//!
//! Each session the CLI opens is written to `$GRANARY_CACHE_DIR/uploads/<key>` (default
//! `~/.cache/granary/uploads/`) before any byte is sent, keyed by the registry, org and the
//! file's path, size, modification time and inode; it is removed once the blob is
//! committed. A later push of the same unchanged file asks the registry how much of the
//! session it holds (`GET` on the session) and sends the rest; a session the registry no
//! longer knows (expired, collected) is forgotten and the file is sent anew. Entries older
//! than [`MAX_AGE`] are removed when the store is opened.

use sha2::Digest as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Sessions older than this are forgotten (the registry expires idle sessions sooner).
pub const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The directory of remembered sessions; `None` when there is no cache directory.
pub struct UploadSessions {
    dir: Option<PathBuf>,
}

/// The remembered session of one file, if any.
pub struct SavedSession {
    file: Option<PathBuf>,
}

impl UploadSessions {
    /// Opens the store, removing entries older than [`MAX_AGE`].
    pub fn open() -> Self {
        let dir = crate::digests::cache_dir().map(|d| d.join("uploads"));
        if let Some(entries) = dir.as_ref().and_then(|d| std::fs::read_dir(d).ok()) {
            let now = SystemTime::now();
            for e in entries.flatten() {
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| now.duration_since(t).ok())
                    .is_some_and(|age| age > MAX_AGE);
                if old {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        UploadSessions { dir }
    }

    /// The slot of `path` (with `meta`, its current metadata) pushed to `org` on `server`.
    pub fn for_file(&self, server: &str, org: &str, path: &Path, meta: &std::fs::Metadata) -> SavedSession {
        let Some(dir) = &self.dir else {
            return SavedSession { file: None };
        };
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let inode = 0u64;
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let key = format!("{server}\n{org}\n{}\n{}\n{mtime}\n{inode}", abs.display(), meta.len());
        let name = hex::encode(&sha2::Sha256::digest(key.as_bytes())[..16]);
        SavedSession {
            file: Some(dir.join(name)),
        }
    }
}

impl SavedSession {
    /// The session URL saved by an earlier run.
    pub fn location(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.file.as_ref()?).ok()?;
        let loc = text.trim();
        (!loc.is_empty()).then(|| loc.to_string())
    }

    /// Remembers the session URL (written whole, then renamed into place).
    pub fn save(&self, location: &str) {
        let Some(file) = &self.file else { return };
        if let Some(dir) = file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = file.with_extension("tmp");
        if std::fs::write(&tmp, location).is_ok() {
            let _ = std::fs::rename(&tmp, file);
        }
    }

    /// Forgets the session (its blob is committed, or the registry no longer has it).
    pub fn clear(&self) {
        if let Some(file) = &self.file {
            let _ = std::fs::remove_file(file);
        }
    }
}
