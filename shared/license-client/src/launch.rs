//! What the launcher hands the game: the `+patcher-data-location` argument and the
//! `app_data.json` file it points at.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The command-line flag the launcher passes to the game.
pub const PATCHER_DATA_FLAG: &str = "+patcher-data-location";

/// The only `file_id` an `app_data.json` may carry.
pub const EXPECTED_FILE_ID: &str = "patcher_data";

/// The only `product_key_encryption` this crate understands.
pub const SUPPORTED_ENCRYPTION: &str = "none";

/// The file the launcher writes, and the name looked for when no argument points at it.
pub const APP_DATA_FILE_NAME: &str = "app_data.json";

/// The operating system whose layout [`LaunchData::locate`] follows. Only macOS differs: there
/// the executable sits inside an `.app` bundle, and `app_data.json` beside the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TargetOs {
    Windows,
    MacOs,
    Linux,
    Other,
}

impl TargetOs {
    /// The OS this crate was compiled for.
    pub const fn current() -> Self {
        if cfg!(target_os = "windows") {
            Self::Windows
        } else if cfg!(target_os = "macos") {
            Self::MacOs
        } else if cfg!(target_os = "linux") {
            Self::Linux
        } else {
            Self::Other
        }
    }
}

/// Where the launcher put `app_data.json`, as found on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchData {
    path: PathBuf,
}

/// The command line mentions `+patcher-data-location` but not usably.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    /// The flag is the last argument, or its value is empty.
    #[error("`{PATCHER_DATA_FLAG}` is given without a path")]
    MissingValue,
    /// `+patcher-data-location=<path>` where the argument is not valid Unicode. (The
    /// two-argument form, `+patcher-data-location <path>`, accepts any OS path.)
    #[error("`{PATCHER_DATA_FLAG}=…` is not valid Unicode; pass the path as a separate argument")]
    NotUnicode,
}

impl LaunchData {
    /// Finds `+patcher-data-location <path>` or `+patcher-data-location=<path>` in the process
    /// arguments (pass `std::env::args_os()` or `std::env::args()`; the program name, if
    /// present, is simply skipped over like any other argument).
    ///
    /// Returns `Ok(None)` when the flag is absent (the game was not started by the launcher),
    /// and an error when the flag is present without a path. When the flag is repeated, the
    /// last one wins.
    pub fn from_args<I>(args: I) -> Result<Option<Self>, ArgsError>
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        let mut found = None;
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            if arg == PATCHER_DATA_FLAG {
                match args.next() {
                    Some(value) if !value.is_empty() => found = Some(PathBuf::from(value)),
                    _ => return Err(ArgsError::MissingValue),
                }
                continue;
            }
            let prefix = [PATCHER_DATA_FLAG, "="].concat();
            match arg.to_str() {
                Some(text) => {
                    if let Some(value) = text.strip_prefix(&prefix) {
                        if value.is_empty() {
                            return Err(ArgsError::MissingValue);
                        }
                        found = Some(PathBuf::from(value));
                    }
                }
                None => {
                    if arg.as_encoded_bytes().starts_with(prefix.as_bytes()) {
                        return Err(ArgsError::NotUnicode);
                    }
                }
            }
        }
        Ok(found.map(|path| Self { path }))
    }

    /// Where `app_data.json` is, by the rule PatchKit's own clients follow: the
    /// `+patcher-data-location` argument when there is one (the launcher passes it on Windows,
    /// and it wins anywhere); otherwise the file next to `executable`; on macOS, when
    /// `executable` is inside `X.app/Contents/MacOS/`, the file in the folder holding `X.app`,
    /// because the launcher unpacks the game there and the bundle is not the game's folder.
    ///
    /// Pure: it reads neither the file system nor the process, so it gives the same answer on
    /// any host. [`LaunchData::from_environment`] calls it with this process's values.
    pub fn locate<I>(args: I, executable: &Path, os: TargetOs) -> Result<Self, ArgsError>
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        if let Some(from_argument) = Self::from_args(args)? {
            return Ok(from_argument);
        }
        let game_dir = executable.parent().unwrap_or(Path::new(""));
        let game_dir = match os {
            TargetOs::MacOs => folder_holding_app_bundle(game_dir).unwrap_or(game_dir),
            _ => game_dir,
        };
        Ok(Self::new(game_dir.join(APP_DATA_FILE_NAME)))
    }

    /// [`LaunchData::locate`] with this process's arguments (`std::env::args_os()`), executable
    /// (`std::env::current_exe()`) and OS.
    pub fn from_environment() -> Result<Self, crate::LaunchError> {
        let executable = std::env::current_exe().map_err(crate::LaunchError::NoExecutablePath)?;
        Ok(Self::locate(std::env::args_os().skip(1), &executable, TargetOs::current())?)
    }

    /// Wraps a path directly (for tests, tools, or a launcher of your own).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The path as given on the command line, or as [`LaunchData::locate`] derived it from the
    /// executable's.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file to read: the path as given when it is absolute or exists relative to the current
    /// directory; otherwise the same relative path next to the running executable, when a file
    /// is there; otherwise the path as given (so a "not found" error names what was passed).
    pub fn resolved_path(&self) -> PathBuf {
        if self.path.is_absolute() || self.path.exists() {
            return self.path.clone();
        }
        let beside_exe =
            std::env::current_exe().ok().and_then(|exe| exe.parent().map(|dir| dir.join(&self.path)));
        match beside_exe {
            Some(candidate) if candidate.is_file() => candidate,
            _ => self.path.clone(),
        }
    }

    /// Reads and validates the `app_data.json` this launch points at.
    pub fn load_app_data(&self) -> Result<AppData, AppDataError> {
        AppData::load(self.resolved_path())
    }
}

/// The folder that holds `X.app` when `executable_dir` is its `X.app/Contents/MacOS`.
fn folder_holding_app_bundle(executable_dir: &Path) -> Option<&Path> {
    if executable_dir.file_name()? != "MacOS" {
        return None;
    }
    let contents = executable_dir.parent()?;
    if contents.file_name()? != "Contents" {
        return None;
    }
    let bundle = contents.parent()?;
    let is_app_bundle = bundle.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("app"));
    if !is_app_bundle {
        return None;
    }
    bundle.parent()
}

/// The validated contents of `app_data.json`.
#[derive(Clone, PartialEq, Eq)]
pub struct AppData {
    /// Always [`EXPECTED_FILE_ID`] once loaded.
    pub file_id: String,
    /// The file format version (`"1.0"`), if present. Not interpreted.
    pub version: Option<String>,
    /// The player's license key, to check with [`LicenseClient`](crate::LicenseClient).
    pub product_key: String,
    /// Always [`SUPPORTED_ENCRYPTION`] once loaded.
    pub product_key_encryption: String,
}

impl fmt::Debug for AppData {
    /// The product key is the player's, not ours to spread through logs: it is shortened.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppData")
            .field("file_id", &self.file_id)
            .field("version", &self.version)
            .field("product_key", &Abbreviated(&self.product_key))
            .field("product_key_encryption", &self.product_key_encryption)
            .finish()
    }
}

struct Abbreviated<'a>(&'a str);

impl fmt::Debug for Abbreviated<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head: String = self.0.chars().take(4).collect();
        write!(f, "\"{head}…\"")
    }
}

/// Why `app_data.json` could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum AppDataError {
    #[error("{}: file not found (was the game started by the launcher?)", path.display())]
    NotFound { path: PathBuf },
    #[error("{}: could not be read: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: not valid JSON: {source}", path.display())]
    Malformed { path: PathBuf, source: serde_json::Error },
    #[error("{}: the `{field}` field is missing", path.display())]
    MissingField { path: PathBuf, field: &'static str },
    #[error("{}: `file_id` is {found:?}, expected {EXPECTED_FILE_ID:?}", path.display())]
    WrongFileId { path: PathBuf, found: String },
    #[error(
        "{}: `product_key_encryption` is {found:?}; only {SUPPORTED_ENCRYPTION:?} is supported",
        path.display()
    )]
    UnsupportedEncryption { path: PathBuf, found: String },
    #[error("{}: `product_key` is empty", path.display())]
    EmptyProductKey { path: PathBuf },
}

impl AppDataError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::NotFound { path }
            | Self::Io { path, .. }
            | Self::Malformed { path, .. }
            | Self::MissingField { path, .. }
            | Self::WrongFileId { path, .. }
            | Self::UnsupportedEncryption { path, .. }
            | Self::EmptyProductKey { path } => path,
        }
    }
}

#[derive(Deserialize)]
struct RawAppData {
    file_id: Option<String>,
    version: Option<String>,
    product_key: Option<String>,
    product_key_encryption: Option<String>,
}

impl AppData {
    /// Reads `app_data.json` from `path` (used as given; see [`LaunchData::resolved_path`] for
    /// the launcher's relative paths) and validates it.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, AppDataError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => AppDataError::NotFound { path: path.to_path_buf() },
            _ => AppDataError::Io { path: path.to_path_buf(), source },
        })?;
        Self::from_json(&bytes, path)
    }

    /// Validates `app_data.json` contents already in memory; `path` is only used in errors.
    pub fn from_json(bytes: &[u8], path: impl AsRef<Path>) -> Result<Self, AppDataError> {
        let path = path.as_ref();
        let raw: RawAppData = serde_json::from_slice(bytes)
            .map_err(|source| AppDataError::Malformed { path: path.to_path_buf(), source })?;
        let missing = |field| AppDataError::MissingField { path: path.to_path_buf(), field };
        let file_id = raw.file_id.ok_or_else(|| missing("file_id"))?;
        if file_id != EXPECTED_FILE_ID {
            return Err(AppDataError::WrongFileId { path: path.to_path_buf(), found: file_id });
        }
        let product_key_encryption =
            raw.product_key_encryption.ok_or_else(|| missing("product_key_encryption"))?;
        if product_key_encryption != SUPPORTED_ENCRYPTION {
            return Err(AppDataError::UnsupportedEncryption {
                path: path.to_path_buf(),
                found: product_key_encryption,
            });
        }
        let product_key = raw.product_key.ok_or_else(|| missing("product_key"))?;
        if product_key.trim().is_empty() {
            return Err(AppDataError::EmptyProductKey { path: path.to_path_buf() });
        }
        Ok(Self { file_id, version: raw.version, product_key, product_key_encryption })
    }
}
