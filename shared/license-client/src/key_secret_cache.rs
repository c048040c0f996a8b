//! The key secret a valid check answered, kept on disk per key: later checks send it back and
//! only read the key, so only an install's first start registers a use.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A cache file larger than this is not ours (a key secret is a few dozen bytes): ignored.
const MAX_FILE_SIZE: u64 = 4 * 1024;

/// Hashed in front of the key so the file name identifies nothing outside this cache.
const FINGERPRINT_DOMAIN: &[u8] = b"patchbay-license-client/key-secret/v1\n";

/// Where key secrets are kept: one small JSON file per key, named by a fingerprint of the key
/// (the key itself never appears in a file name), `{"key_secret":"…"}` inside.
///
/// Reads never fail: a missing, unreadable, oversized or corrupt file is no secret, and the next
/// valid check writes a fresh one. Writes are atomic (a temporary file renamed into place), so a
/// crash mid-write leaves the old file or the new one, and on Unix the files are readable by
/// their owner only (the directories it creates too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySecretCache {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    key_secret: String,
}

impl KeySecretCache {
    /// A cache in `dir`, created on the first write.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cache in this user's local data directory: `$XDG_DATA_HOME/patchbay/keys` or
    /// `~/.local/share/patchbay/keys` on Linux, `~/Library/Application Support/patchbay/keys` on
    /// macOS, `%LOCALAPPDATA%\patchbay\keys` on Windows. The local (not roaming) directory,
    /// because a secret stands for one install's registration. `None` when the platform reports
    /// no such directory (e.g. no home directory).
    pub fn per_user() -> Option<Self> {
        Some(Self::in_dir(dirs::data_local_dir()?.join("patchbay").join("keys")))
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds `product_key`'s secret.
    pub fn path_for(&self, product_key: &str) -> PathBuf {
        self.dir.join(format!("{}.json", fingerprint(product_key)))
    }

    /// The secret kept for `product_key`, or `None` when there is no usable one.
    pub fn load(&self, product_key: &str) -> Option<String> {
        let mut contents = Vec::new();
        File::open(self.path_for(product_key))
            .ok()?
            .take(MAX_FILE_SIZE + 1)
            .read_to_end(&mut contents)
            .ok()?;
        if u64::try_from(contents.len()).ok()? > MAX_FILE_SIZE {
            return None;
        }
        let CacheFile { key_secret } = serde_json::from_slice(&contents).ok()?;
        (!key_secret.is_empty()).then_some(key_secret)
    }

    /// Keeps `key_secret` for `product_key`, replacing any earlier one.
    pub fn store(&self, product_key: &str, key_secret: &str) -> io::Result<()> {
        create_private_dir_all(&self.dir)?;
        let contents = serde_json::to_vec(&CacheFile { key_secret: key_secret.to_owned() })?;
        // tempfile creates the file readable by its owner only on Unix, and deletes it if
        // anything below fails; the rename replaces the old file in one step.
        let mut temporary =
            tempfile::Builder::new().prefix(".key-secret-").suffix(".tmp").tempfile_in(&self.dir)?;
        temporary.write_all(&contents)?;
        // Flushed before the rename, or a crash could leave an empty file under the final name.
        temporary.as_file().sync_all()?;
        temporary.persist(self.path_for(product_key)).map_err(|err| err.error)?;
        Ok(())
    }
}

/// Hex SHA-256 of the key, domain-separated.
fn fingerprint(product_key: &str) -> String {
    let digest =
        Sha256::new().chain_update(FINGERPRINT_DOMAIN).chain_update(product_key.as_bytes()).finalize();
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(unix)]
fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    // The per-user data directory is already private to its user on Windows.
    std::fs::create_dir_all(dir)
}
