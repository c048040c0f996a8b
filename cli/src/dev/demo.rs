//! `patchbay dev --demo`: an app, a license key and a webhook pointed at the built-in
//! receiver, so a newcomer sees a signed delivery within a minute. Idempotent across restarts.

use std::net::SocketAddr;

use chrono::Utc;
use patchbay_adapters::backends::Backends;
use patchbay_core::ids::license_key;
use patchbay_core::model::{App, EventName, LicenseKey, PayloadFormat, Webhook, WebhookMethod, WebhookSpec};
use patchbay_core::ports::StoreError;

use super::settings::Settings;

pub const DEMO_APP: &str = "demo";

pub struct Seeded {
    pub app: App,
    pub webhook: Webhook,
    pub key: String,
}

/// # Errors
/// The store fails.
pub async fn seed(backends: &Backends, addr: SocketAddr, settings: &Settings) -> Result<Seeded, StoreError> {
    let store = &backends.store;
    let app = if let Some(app) = store.get_app(DEMO_APP).await? {
        app
    } else {
        let app = App::new(DEMO_APP.to_owned(), "demo-game".to_owned(), "Demo Game".to_owned(), Utc::now());
        store.create_app(&app).await?;
        app
    };
    let url = format!("http://{addr}/dev/receiver?event={{{{event.name}}}}");
    let existing = store.list_webhooks(DEMO_APP).await?;
    let webhook = if let Some(w) = existing.into_iter().find(|w| w.spec.url == url) {
        w
    } else {
        let spec = WebhookSpec {
            events: EventName::PIPELINE.to_vec(),
            method: WebhookMethod::Post,
            url,
            headers: [("X-Demo-App".to_owned(), "{{app.display_name}}".to_owned())].into_iter().collect(),
            format: PayloadFormat::Json,
            payload: serde_json::json!({
                "text": "{{app.display_name}} {{version.label}}: {{event.name}}",
                "changes": "{{version.changes}}",
                "size": "{{version.humanized_content_size}}",
            }),
            timeout: None,
            retry_schedule: None,
        };
        let webhook = Webhook::new(DEMO_APP, spec, Utc::now());
        store.create_webhook(&webhook).await?;
        webhook
    };
    let keys = &backends.keys;
    let key = match settings.demo_key() {
        Some(k) if keys.get_key(&k).await?.is_some() => k,
        _ => {
            let collection = match keys.list_collections(DEMO_APP).await?.first() {
                Some(c) => c.id,
                None => keys.create_collection(DEMO_APP, "demo", Utc::now()).await?.id,
            };
            let key = LicenseKey::new(license_key(), DEMO_APP, collection, Utc::now());
            keys.create_keys(std::slice::from_ref(&key)).await?;
            if let Err(e) = settings.remember_demo_key(&key.key) {
                tracing::warn!(error = %e, "could not remember the demo key");
            }
            key.key
        }
    };
    Ok(Seeded { app, webhook, key })
}

/// The commands to try, with this run's real values. Printed for a person at a terminal.
pub fn print_instructions(seeded: &Seeded, settings: &Settings, addr: SocketAddr) {
    let base = format!("http://{addr}");
    let token = settings.admin_token.expose();
    let ingest = settings.ingest_secret.expose();
    let lines = [
        String::new(),
        "Demo ready. In another terminal:".to_owned(),
        String::new(),
        "  # 1. post a signed version_published event for the demo app".to_owned(),
        format!(
            "  PATCHBAY_API={base} PATCHBAY_INGEST_SECRET={ingest} cargo run -q -p patchbay -- events send --demo --app {}",
            seeded.app.id
        ),
        String::new(),
        "  # 2. see the delivery and its attempts (and what the built-in receiver got)".to_owned(),
        format!(
            "  curl -s -H 'Authorization: Bearer {token}' {base}/v1/webhooks/{}/deliveries",
            seeded.webhook.id
        ),
        format!("  curl -s {base}/dev/receiver"),
        String::new(),
        "  # 3. check the demo license key (200 = valid; again without app_secret = 400)".to_owned(),
        format!("  curl -s '{base}/v2/keys/{}?app_secret={}'", seeded.key, seeded.app.app_secret.expose()),
        String::new(),
        "  # 4. or open the studio console and sign in with the admin token and app id below".to_owned(),
        format!("  {base}/console  (app id: {})", seeded.app.id),
        String::new(),
        format!("  admin token: PATCHBAY_ADMIN_TOKEN={token}"),
        format!("  webhook {} signs with {}", seeded.webhook.id, seeded.webhook.secrets.current.expose()),
        String::new(),
    ];
    // User-facing output, not a log line.
    println!("{}", lines.join("\n"));
}
