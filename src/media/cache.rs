//! The image cache: the bytes of the photos in conversations, kept on disk under the data directory so that
//! later turns can show the model a picture again without downloading it, capped at `IMAGE_CACHE_MB`. The least
//! recently used images go first; an image evicted is fetched again from Telegram by its `file_id` (Telegram
//! keeps files fetchable). Nothing here is precious: the directory may be deleted at any time.
//!
//! Blocking file I/O (a few megabytes at most per call): callers run it off the async threads.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A directory of image files, one per `file_unique_id`, at most `cap_bytes` in all.
#[derive(Debug, Clone)]
pub struct ImageCache {
    dir: PathBuf,
    cap_bytes: u64,
}

impl ImageCache {
    /// A cache in `dir` (created when first written to) of at most `cap_bytes`; 0 keeps nothing.
    pub fn new(dir: impl Into<PathBuf>, cap_bytes: u64) -> Self {
        Self {
            dir: dir.into(),
            cap_bytes,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The bytes kept under `key`, marked as just used; `None` when not kept (or unreadable).
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let path = self.path_of(key)?;
        let bytes = fs::read(&path).ok()?;
        if let Ok(file) = fs::File::options().append(true).open(&path) {
            // Best effort: a failed touch only makes this image an earlier candidate for eviction.
            let _ = file.set_modified(SystemTime::now());
        }
        Some(bytes)
    }

    /// Keeps `bytes` under `key`, then evicts the least recently used images until the cache fits its cap.
    /// An image larger than the cap is not kept.
    pub fn put(&self, key: &str, bytes: &[u8]) -> io::Result<()> {
        let Some(path) = self.path_of(key) else {
            return Ok(());
        };
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > self.cap_bytes {
            return Ok(());
        }
        fs::create_dir_all(&self.dir)?;
        // Written aside, then renamed: a reader never sees half a file.
        let partial = path.with_extension("part");
        fs::write(&partial, bytes)?;
        fs::rename(&partial, &path)?;
        self.evict(&path)
    }

    /// Bytes kept now.
    pub fn size(&self) -> u64 {
        self.entries().iter().map(|(_, size, _)| size).sum()
    }

    fn evict(&self, keep: &Path) -> io::Result<()> {
        let mut entries = self.entries();
        let mut total: u64 = entries.iter().map(|(_, size, _)| size).sum();
        entries.sort_by_key(|(_, _, used)| *used);
        for (path, size, _) in entries {
            if total <= self.cap_bytes {
                break;
            }
            if path == keep {
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => total = total.saturating_sub(size),
                Err(e) if e.kind() == io::ErrorKind::NotFound => total = total.saturating_sub(size),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Every kept image: path, size, last use.
    fn entries(&self) -> Vec<(PathBuf, u64, SystemTime)> {
        let Ok(dir) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        dir.filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "img"))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((
                    e.path(),
                    meta.len(),
                    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                ))
            })
            .collect()
    }

    /// The file of `key`; `None` for a key that is not a plain name (Telegram's ids are URL-safe base64).
    fn path_of(&self, key: &str) -> Option<PathBuf> {
        let plain = !key.is_empty()
            && key.len() <= 128
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        plain.then(|| self.dir.join(format!("{key}.img")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn images_are_kept_and_the_least_recently_used_go_first_once_over_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ImageCache::new(dir.path().join("images"), 250);
        assert_eq!(cache.get("a"), None);
        cache.put("a", &[1; 100]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        cache.put("b", &[2; 100]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(cache.get("a").unwrap().len(), 100, "a is used again");
        std::thread::sleep(Duration::from_millis(20));
        cache.put("c", &[3; 100]).unwrap();
        assert_eq!(cache.get("b"), None, "the least recently used went");
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
        assert_eq!(cache.size(), 200);
        cache.put("huge", &[4; 300]).unwrap();
        assert_eq!(cache.get("huge"), None, "larger than the cap: not kept");
    }

    #[test]
    fn a_key_that_is_not_a_plain_name_is_never_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ImageCache::new(dir.path(), 1000);
        cache.put("../escape", &[1]).unwrap();
        cache.put("", &[1]).unwrap();
        assert_eq!(cache.size(), 0);
        assert!(!dir.path().parent().unwrap().join("escape.img").exists());
    }
}
