//! Each accepted event reports its fan-out (deliveries created), through a recording sink (on
//! Lambda the same events go to stdout as EMF); a repeat of a known event reports nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{Harness, event_body, on_both_backends};
use patchbay_adapters::backends::Backends;
use patchbay_core::metrics::Metrics;
use patchbay_core::metrics::catalog::INGEST_FAN_OUT;
use patchbay_core::metrics::sinks::RecordingSink;
use patchbay_core::model::EventName;
use patchbay_core::service::ingest::{Ingest, IngestOutcome};
use patchbay_testing::samples::signed_ingest_request;

on_both_backends!(an_accepted_event_reports_its_deliveries);

async fn an_accepted_event_reports_its_deliveries(backends: Backends) {
    let h = Harness::new(&backends).await;
    let sink = Arc::new(RecordingSink::default());
    let ingest = Ingest::new(backends.store.clone(), backends.queue.clone(), h.secret.clone())
        .with_metrics(Metrics::to(sink.clone()));
    let app = h.app().await;
    h.webhook(&app.id, &[EventName::VersionPublished], true).await;
    h.webhook(&app.id, &[EventName::VersionPublished], true).await;
    h.webhook(&app.id, &[EventName::VersionProcessed], true).await;

    let event_id = patchbay_core::ids::random_id("msg");
    let body = event_body("version_published", &app.id);
    let request = signed_ingest_request(&h.secret, &event_id, body.as_bytes());
    assert!(matches!(ingest.handle(&request).await.unwrap(), IngestOutcome::Accepted(_)));
    assert!(matches!(ingest.handle(&request).await.unwrap(), IngestOutcome::Duplicate(_)));

    let fan_outs: Vec<Option<f64>> = sink.events().iter().map(|e| e.value(INGEST_FAN_OUT)).collect();
    assert_eq!(fan_outs, [Some(2.0)]);
}
