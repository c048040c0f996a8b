//! How an admin command fails, and the exit code each failure maps to: 1 when the API (or the
//! network) said no, 2 when what the user gave us cannot be sent at all.

use std::fmt;
use std::process::ExitCode;

/// Exit code for an API error, an unreachable server or an output that cannot be written.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for a usage or input error (bad flag combination, unreadable or malformed file).
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug)]
pub enum CliError {
    /// The request cannot be made from what was given.
    Usage(String),
    /// The API answered with a non-2xx status.
    Api { status: u16, code: Option<String>, message: String },
    /// No HTTP answer at all.
    Unreachable { url: String, detail: String },
    /// Anything else that went wrong on our side after the input was accepted.
    Failed(String),
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }

    pub fn failed(message: impl Into<String>) -> Self {
        CliError::Failed(message.into())
    }

    #[must_use]
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(EXIT_USAGE),
            CliError::Api { .. } | CliError::Unreachable { .. } | CliError::Failed(_) => {
                ExitCode::from(EXIT_FAILURE)
            }
        }
    }

    /// Put context in front of the message (e.g. how far a batch run got).
    #[must_use]
    pub fn context(self, prefix: &str) -> Self {
        match self {
            CliError::Usage(m) => CliError::Usage(format!("{prefix}: {m}")),
            CliError::Api { status, code, message } => {
                CliError::Api { status, code, message: format!("{prefix}: {message}") }
            }
            CliError::Unreachable { url, detail } => {
                CliError::Unreachable { url, detail: format!("{detail} ({prefix})") }
            }
            CliError::Failed(m) => CliError::Failed(format!("{prefix}: {m}")),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Failed(m) => f.write_str(m),
            CliError::Api { status, code: Some(code), message } => {
                write!(f, "{message} (HTTP {status}, {code})")
            }
            CliError::Api { status, code: None, message } => write!(f, "{message} (HTTP {status})"),
            CliError::Unreachable { url, detail } => write!(f, "could not reach {url}: {detail}"),
        }
    }
}

impl std::error::Error for CliError {}

pub type CliResult<T = ()> = Result<T, CliError>;
