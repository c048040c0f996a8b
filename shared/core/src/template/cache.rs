//! Compiled templates kept per webhook revision, so a delivery renders without parsing: the
//! webhook's id and `updated_at` (every save sets it) name the revision. Bounded: when full, the
//! cache starts over (a few hundred webhooks per instance is the expected working set).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};

use super::{CompiledWebhook, TemplateError, compile};
use crate::model::Webhook;

/// Revisions kept before the cache starts over.
const CAPACITY: usize = 1_024;

/// Webhook id → (revision, its compiled templates).
type Revisions = HashMap<String, (DateTime<Utc>, Arc<CompiledWebhook>)>;

#[derive(Default)]
pub struct TemplateCache {
    compiled: Mutex<Revisions>,
}

impl TemplateCache {
    /// This revision's compiled templates, compiling them on first use.
    ///
    /// # Errors
    /// The templates do not compile (never cached, so a fixed webhook is picked up at once).
    pub fn get(&self, webhook: &Webhook) -> Result<Arc<CompiledWebhook>, TemplateError> {
        if let Some((revision, compiled)) = self.lock().get(&webhook.id)
            && *revision == webhook.updated_at
        {
            return Ok(compiled.clone());
        }
        // Compiled outside the lock: concurrent first uses may both compile, which is harmless.
        let compiled = Arc::new(compile(&webhook.spec)?);
        let mut cache = self.lock();
        if cache.len() >= CAPACITY && !cache.contains_key(&webhook.id) {
            cache.clear();
        }
        cache.insert(webhook.id.clone(), (webhook.updated_at, compiled.clone()));
        Ok(compiled)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Revisions> {
        self.compiled.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::WebhookSpec;

    fn webhook(url: &str) -> Webhook {
        let spec: WebhookSpec = serde_json::from_value(serde_json::json!({
            "events": ["version_published"], "method": "POST", "url": url,
        }))
        .unwrap();
        Webhook::new("app_1", spec, Utc::now())
    }

    #[test]
    fn one_compile_per_revision() {
        let cache = TemplateCache::default();
        let mut hook = webhook("https://example.com/{{app.name}}");
        let first = cache.get(&hook).unwrap();
        assert!(Arc::ptr_eq(&first, &cache.get(&hook).unwrap()), "same revision: reused");
        hook.spec.url = "https://example.com/other".to_owned();
        hook.updated_at += chrono::TimeDelta::seconds(1);
        let second = cache.get(&hook).unwrap();
        assert!(!Arc::ptr_eq(&first, &second), "new revision: compiled again");
        assert_eq!(second.spec().url, "https://example.com/other");
    }
}
