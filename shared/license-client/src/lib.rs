//! # patchbay-license-client
//!
//! Secure Running for a Rust game: verify, at start-up, that the player holds a valid license key.
//!
//! The launcher starts the game with `+patcher-data-location <path>`, pointing at an
//! `app_data.json` it placed next to the executable:
//!
//! ```json
//! {"file_id":"patcher_data","version":"1.0","product_key":"ABCD-EFGH-IJKL","product_key_encryption":"none"}
//! ```
//!
//! This crate does the three steps:
//!
//! 1. [`LaunchData::from_args`] finds the argument (`+patcher-data-location <path>` or
//!    `+patcher-data-location=<path>`);
//! 2. [`LaunchData::load_app_data`] / [`AppData::load`] reads and validates the file (`file_id`
//!    must be `patcher_data`, `product_key_encryption` must be `none`), with typed errors that
//!    name the file;
//! 3. [`LicenseClient::check`] (async) or [`LicenseClient::check_blocking`] asks the Keys service
//!    `GET {base_url}/v2/keys/{key}?app_secret={secret}` with a short timeout (5 s by default)
//!    and returns a [`Verdict`].
//!
//! [`check_from_launch`] and [`check_from_launch_blocking`] do all three.
//!
//! ## Usage
//!
//! ```no_run
//! use patchbay_license_client::{check_from_launch_blocking, LaunchError, UnverifiedPolicy};
//!
//! const KEYS_URL: &str = "https://keys.example.com";
//! const APP_SECRET: &str = "your-app-secret"; // from the app's overview page
//!
//! match check_from_launch_blocking(std::env::args_os(), KEYS_URL, APP_SECRET) {
//!     Ok(verdict) if verdict.allows_play(UnverifiedPolicy::default()) => {
//!         // start the game
//!     }
//!     Ok(verdict) => {
//!         eprintln!("license check failed: {verdict}");
//!         std::process::exit(3);
//!     }
//!     Err(LaunchError::NotLaunched) => {
//!         eprintln!("please start the game from the launcher");
//!         std::process::exit(3);
//!     }
//!     Err(err) => {
//!         eprintln!("{err}");
//!         std::process::exit(3);
//!     }
//! }
//! ```
//!
//! With your own timeout, a key secret, or the async API:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use patchbay_license_client::{read_app_data, LicenseClient, UnverifiedPolicy, Verdict};
//!
//! let app_data = read_app_data(std::env::args_os())?;
//! let client = LicenseClient::new("https://keys.example.com", "your-app-secret")?
//!     .with_timeout(Duration::from_secs(2));
//! let verdict = client.check(&app_data.product_key).await;
//! if let Verdict::Valid { info: Some(info) } = &verdict {
//!     println!("registrations so far: {:?}", info.registrations);
//! }
//! // Strict mode: refuse to start during a Keys outage too.
//! if !verdict.allows_play(UnverifiedPolicy::TreatAsInvalid) {
//!     return Err(format!("license check failed: {verdict}").into());
//! }
//! # Ok(()) }
//! ```
//!
//! ## Verdicts and the outage policy
//!
//! `200` is [`Verdict::Valid`], `404` (and `400`) [`Verdict::Invalid`], `410`
//! [`Verdict::Blocked`], `403` (and `401`) [`Verdict::Forbidden`]. A `5xx`, a timeout, a network
//! error, or any status the contract does not define (`429`, `405`, a redirect…) is
//! [`Verdict::Unverified`]; see the table on [`Verdict`]. [`Verdict::allows_play`] lets an
//! unverified check through under [`UnverifiedPolicy::TreatAsValid`], the default, because a
//! Keys outage must not lock out paying players; [`UnverifiedPolicy::TreatAsInvalid`] is the
//! strict switch.
//!
//! ## Secrets
//!
//! The app secret is embedded in the shipped binary, so it is a deterrent, not a hard secret.
//! Still, this crate never logs it: [`LicenseClient`]'s `Debug` redacts it (and the key secret),
//! [`Verdict::Unverified`] reasons never contain it, and redirects are not followed so it is
//! only ever sent to the configured service.

mod client;
mod key_secret_cache;
mod launch;
mod verdict;

pub use client::{ConfigError, LicenseClient};
pub use key_secret_cache::KeySecretCache;
pub use launch::{
    APP_DATA_FILE_NAME, AppData, AppDataError, ArgsError, EXPECTED_FILE_ID, LaunchData, PATCHER_DATA_FLAG,
    SUPPORTED_ENCRYPTION, TargetOs,
};
pub use verdict::{KeyInfo, UnverifiedPolicy, Verdict};

use std::ffi::OsString;

/// Why [`check_from_launch`] could not get as far as asking the Keys service.
///
/// None of these is an outage: the player has no usable key on this machine, or the game is
/// misconfigured, so a game should normally refuse to start.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// No `+patcher-data-location` argument: the game was not started by the launcher.
    #[error("no `{PATCHER_DATA_FLAG}` argument: the game was not started by the launcher")]
    NotLaunched,
    #[error(transparent)]
    Args(#[from] ArgsError),
    #[error(transparent)]
    AppData(#[from] AppDataError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// [`LaunchData::from_environment`] could not learn where the game's executable is.
    #[error("could not find the game's executable to look for app_data.json next to it: {0}")]
    NoExecutablePath(#[source] std::io::Error),
}

/// Steps 1 and 2: finds `+patcher-data-location` in `args` and loads the `app_data.json` it
/// names. Use it with your own [`LicenseClient`] when the defaults of [`check_from_launch`] do
/// not fit.
pub fn read_app_data<I>(args: I) -> Result<AppData, LaunchError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let launch = LaunchData::from_args(args)?.ok_or(LaunchError::NotLaunched)?;
    Ok(launch.load_app_data()?)
}

/// All three steps, asynchronously (needs a Tokio runtime), with the default timeout.
pub async fn check_from_launch<I>(args: I, base_url: &str, app_secret: &str) -> Result<Verdict, LaunchError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let client = LicenseClient::new(base_url, app_secret)?;
    let app_data = read_app_data(args)?;
    Ok(client.check(&app_data.product_key).await)
}

/// All three steps, blocking the calling thread, with the default timeout. Not for use inside
/// an async runtime (see [`LicenseClient::check_blocking`]).
pub fn check_from_launch_blocking<I>(
    args: I,
    base_url: &str,
    app_secret: &str,
) -> Result<Verdict, LaunchError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let client = LicenseClient::new(base_url, app_secret)?;
    let app_data = read_app_data(args)?;
    Ok(client.check_blocking(&app_data.product_key))
}
