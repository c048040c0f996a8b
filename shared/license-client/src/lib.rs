//! # patchbay-license-client
//!
//! Secure Running for a Rust game: verify, at start-up, that the player holds a valid license key.
//!
//! The launcher places an `app_data.json` holding the player's key where the game finds it:
//!
//! ```json
//! {"file_id":"patcher_data","version":"1.0","product_key":"ABCD-EFGH-IJKL","product_key_encryption":"none"}
//! ```
//!
//! This crate does the three steps:
//!
//! 1. [`LaunchData::from_environment`] (or the pure [`LaunchData::locate`]) finds the file as
//!    PatchKit's own clients do: the `+patcher-data-location <path>` argument when given (the
//!    launcher passes it on Windows); otherwise `app_data.json` next to the executable; on macOS,
//!    beside the `.app` bundle holding the executable;
//! 2. [`LaunchData::load_app_data`] / [`AppData::load`] reads and validates the file (`file_id`
//!    must be `patcher_data`, `product_key_encryption` must be `none`), with typed errors that
//!    name the file;
//! 3. [`LicenseClient::check`] (async) or [`LicenseClient::check_blocking`] asks the Keys service
//!    `GET {base_url}/v2/keys/{key}?app_secret={secret}[&key_secret=…]` with a short timeout
//!    (5 s by default) and returns a [`Verdict`]. With a [`KeySecretCache`] it keeps the
//!    `key_secret` of the first valid answer and sends it on later checks, so only the first
//!    start of an install registers a use of the key.
//!
//! [`check_from_environment`] and [`check_from_environment_blocking`] do all three, with the
//! per-user cache. [`check_from_launch`] and [`check_from_launch_blocking`] are the older
//! argument-only form: they need `+patcher-data-location` and cache nothing.
//!
//! ## Usage
//!
//! ```no_run
//! use patchbay_license_client::{check_from_environment_blocking, UnverifiedPolicy};
//!
//! const KEYS_URL: &str = "https://keys.example.com";
//! const APP_SECRET: &str = "your-app-secret"; // from the app's overview page
//!
//! match check_from_environment_blocking(KEYS_URL, APP_SECRET) {
//!     Ok(verdict) if verdict.allows_play(UnverifiedPolicy::default()) => {
//!         // start the game
//!     }
//!     Ok(verdict) => {
//!         eprintln!("license check failed: {verdict}");
//!         std::process::exit(3);
//!     }
//!     Err(err) => {
//!         // No usable app_data.json: not installed by the launcher, or a misconfigured game.
//!         eprintln!("{err}");
//!         std::process::exit(3);
//!     }
//! }
//! ```
//!
//! With your own timeout, cache directory, or the async API:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use patchbay_license_client::{KeySecretCache, LaunchData, LicenseClient, UnverifiedPolicy, Verdict};
//!
//! let app_data = LaunchData::from_environment()?.load_app_data()?;
//! let client = LicenseClient::new("https://keys.example.com", "your-app-secret")?
//!     .with_timeout(Duration::from_secs(2))
//!     .with_key_secret_cache(KeySecretCache::in_dir("saves/license"));
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
mod signed;
mod verdict;

pub use client::{ConfigError, LicenseClient};
pub use key_secret_cache::KeySecretCache;
pub use launch::{
    APP_DATA_FILE_NAME, AppData, AppDataError, ArgsError, EXPECTED_FILE_ID, LaunchData, PATCHER_DATA_FLAG,
    SUPPORTED_ENCRYPTION, TargetOs,
};
pub use signed::{InvalidVerdictKey, MAX_CLOCK_SKEW_SECS, VERDICT_HEADER, VerdictKey};
pub use verdict::{KeyInfo, UnverifiedPolicy, Verdict};

use std::ffi::OsString;

/// Why [`check_from_environment`] or [`check_from_launch`] could not get as far as asking the
/// Keys service.
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

/// Steps 1 and 2, argument-only: finds `+patcher-data-location` in `args` and loads the
/// `app_data.json` it names. [`LaunchData::from_environment`] also finds the file where the
/// launcher passes no argument (Linux, macOS).
pub fn read_app_data<I>(args: I) -> Result<AppData, LaunchError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let launch = LaunchData::from_args(args)?.ok_or(LaunchError::NotLaunched)?;
    Ok(launch.load_app_data()?)
}

/// All three steps for this process, asynchronously (needs a Tokio runtime): finds
/// `app_data.json` by [`LaunchData::from_environment`], checks its key with the default timeout,
/// and keeps the key secret in [`KeySecretCache::per_user`] (no cache when the platform has no
/// per-user data directory).
pub async fn check_from_environment(base_url: &str, app_secret: &str) -> Result<Verdict, LaunchError> {
    let client = client_with_per_user_cache(base_url, app_secret)?;
    let app_data = LaunchData::from_environment()?.load_app_data()?;
    Ok(client.check(&app_data.product_key).await)
}

/// [`check_from_environment`], blocking the calling thread. Not for use inside an async runtime
/// (see [`LicenseClient::check_blocking`]).
pub fn check_from_environment_blocking(base_url: &str, app_secret: &str) -> Result<Verdict, LaunchError> {
    let client = client_with_per_user_cache(base_url, app_secret)?;
    let app_data = LaunchData::from_environment()?.load_app_data()?;
    Ok(client.check_blocking(&app_data.product_key))
}

fn client_with_per_user_cache(base_url: &str, app_secret: &str) -> Result<LicenseClient, ConfigError> {
    let client = LicenseClient::new(base_url, app_secret)?;
    Ok(match KeySecretCache::per_user() {
        Some(cache) => client.with_key_secret_cache(cache),
        None => client,
    })
}

/// All three steps, asynchronously (needs a Tokio runtime), with the default timeout. Needs the
/// `+patcher-data-location` argument in `args` and caches no key secret, so every call registers
/// a use: prefer [`check_from_environment`].
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
/// an async runtime (see [`LicenseClient::check_blocking`]). Argument-only and uncached like
/// [`check_from_launch`]: prefer [`check_from_environment_blocking`].
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
