//! A pretend game that checks its license key before starting.
//!
//! ```sh
//! PATCHBAY_APP_SECRET=… cargo run -p patchbay-license-client --example game -- \
//!     +patcher-data-location app_data.json
//! ```
//!
//! Without `+patcher-data-location` it reads `app_data.json` next to its executable (beside the
//! `.app` bundle on macOS), as a game installed by the launcher on Linux or macOS does. The first
//! valid check registers a use and keeps the key secret; later runs send it and only check.
//!
//! Environment:
//! - `PATCHBAY_KEYS_URL`: the Keys service (default `http://127.0.0.1:8080`);
//! - `PATCHBAY_APP_SECRET`: the app secret (required);
//! - `PATCHBAY_UNVERIFIED_POLICY`: `treat-as-valid` (default) or `treat-as-invalid`;
//! - `PATCHBAY_VERDICT_PUBLIC_KEY`: the service's public verdict key (`patchbay verdict-key`);
//!   when set, every answer must carry the service's signature over a fresh nonce, and a faked
//!   one (a hosts-file entry, a local proxy) is refused as spoofed;
//! - `PATCHBAY_KEY_CACHE_DIR`: where to keep key secrets (default: the per-user data directory,
//!   e.g. `~/.local/share/patchbay/keys`). Delete the directory to play a first start again.
//!
//! Exits 0 when the game would start, 3 otherwise.

use std::process::ExitCode;

use patchbay_license_client::{
    KeySecretCache, LaunchData, LicenseClient, UnverifiedPolicy, Verdict, VerdictKey,
};

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

    let mut client = match LicenseClient::new(&keys_url, app_secret) {
        Ok(client) => client,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(REFUSED);
        }
    };
    // In a real game this is a constant compiled in, like the app secret.
    if let Some(public_key) = std::env::var("PATCHBAY_VERDICT_PUBLIC_KEY").ok().filter(|k| !k.is_empty()) {
        match VerdictKey::from_base64(&public_key) {
            Ok(key) => {
                println!("verdicts must be signed by {public_key}");
                client = client.with_verdict_key(key);
            }
            Err(err) => {
                eprintln!("PATCHBAY_VERDICT_PUBLIC_KEY: {err}");
                return ExitCode::from(REFUSED);
            }
        }
    }
    let cache = match std::env::var_os("PATCHBAY_KEY_CACHE_DIR") {
        Some(dir) => Some(KeySecretCache::in_dir(dir)),
        None => KeySecretCache::per_user(),
    };
    if let Some(cache) = cache {
        println!("key secrets kept in {}", cache.dir().display());
        client = client.with_key_secret_cache(cache);
    }

    let app_data = LaunchData::from_environment().and_then(|launch| {
        println!("reading {}", launch.resolved_path().display());
        Ok(launch.load_app_data()?)
    });
    let app_data = match app_data {
        Ok(app_data) => app_data,
        Err(err) => {
            eprintln!("no license: {err}");
            return ExitCode::from(REFUSED);
        }
    };

    let verdict = client.check_blocking(&app_data.product_key);
    println!("verdict: {verdict}");
    if matches!(verdict, Verdict::Spoofed { .. }) {
        println!("the answer did not come from the Keys service: someone is faking it");
    }
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
