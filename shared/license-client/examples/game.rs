//! A pretend game that checks its license key before starting.
//!
//! ```sh
//! PATCHBAY_APP_SECRET=… cargo run -p patchbay-license-client --example game -- \
//!     +patcher-data-location app_data.json
//! ```
//!
//! Environment:
//! - `PATCHBAY_KEYS_URL`: the Keys service (default `http://127.0.0.1:8080`);
//! - `PATCHBAY_APP_SECRET`: the app secret (required);
//! - `PATCHBAY_UNVERIFIED_POLICY`: `treat-as-valid` (default) or `treat-as-invalid`.
//!
//! Exits 0 when the game would start, 3 otherwise.

use std::process::ExitCode;

use patchbay_license_client::{LaunchError, LicenseClient, UnverifiedPolicy, read_app_data};

const DEFAULT_KEYS_URL: &str = "http://127.0.0.1:8080";
const REFUSED: u8 = 3;

fn main() -> ExitCode {
    let keys_url = std::env::var("PATCHBAY_KEYS_URL").unwrap_or_else(|_| DEFAULT_KEYS_URL.to_owned());
    let Ok(app_secret) = std::env::var("PATCHBAY_APP_SECRET") else {
        eprintln!("PATCHBAY_APP_SECRET is not set");
        return ExitCode::from(REFUSED);
    };
    let policy = match std::env::var("PATCHBAY_UNVERIFIED_POLICY").as_deref() {
        Err(_) | Ok("" | "treat-as-valid") => UnverifiedPolicy::TreatAsValid,
        Ok("treat-as-invalid") => UnverifiedPolicy::TreatAsInvalid,
        Ok(other) => {
            eprintln!("PATCHBAY_UNVERIFIED_POLICY must be treat-as-valid or treat-as-invalid, not {other:?}");
            return ExitCode::from(REFUSED);
        }
    };

    let client = match LicenseClient::new(&keys_url, app_secret) {
        Ok(client) => client,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(REFUSED);
        }
    };
    let app_data = match read_app_data(std::env::args_os().skip(1)) {
        Ok(app_data) => app_data,
        Err(LaunchError::NotLaunched) => {
            eprintln!("no license: start the game from the launcher (+patcher-data-location <path>)");
            return ExitCode::from(REFUSED);
        }
        Err(err) => {
            eprintln!("no license: {err}");
            return ExitCode::from(REFUSED);
        }
    };

    let verdict = client.check_blocking(&app_data.product_key);
    println!("verdict: {verdict}");
    if let Some(registrations) = verdict.info().and_then(|info| info.registrations) {
        println!("registrations: {registrations}");
    }
    if verdict.allows_play(policy) {
        println!("starting the game");
        ExitCode::SUCCESS
    } else {
        println!("not starting the game");
        ExitCode::from(REFUSED)
    }
}
