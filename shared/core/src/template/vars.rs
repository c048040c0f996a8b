//! The variables a template may name (PatchKit's seventeen, spelled as its docs spell them, and
//! ours for operational events) and their values for one event.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::humanize::{human_duration, human_size};
use crate::model::{
    AppInfo, EventBody, EventName, EventPayload, FailedDelivery, OperationalBody, VersionInfo, WebhookInfo,
};

macro_rules! variables {
    ($($variant:ident => $name:literal,)*) => {
        /// One `{{…}}` variable.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Variable {
            $($variant,)*
        }

        impl Variable {
            pub const ALL: [Variable; variables!(@count $($variant)*)] = [$(Variable::$variant,)*];

            /// The name between the braces, e.g. `app.name`.
            #[must_use]
            pub fn name(self) -> &'static str {
                match self {
                    $(Variable::$variant => $name,)*
                }
            }
        }
    };
    (@count $($variant:ident)*) => { 0 $(+ variables!(@one $variant))* };
    (@one $variant:ident) => { 1 };
}

variables! {
    EventName => "event.name",
    AppName => "app.name",
    AppDisplayName => "app.display_name",
    AppGroupName => "app.group_name",
    AppDownloadUrl => "app.download_url",
    AppDirectDownloadUrl => "app.direct_download_url",
    VersionId => "version.id",
    VersionLabel => "version.label",
    VersionPublishedAt => "version.published_at",
    VersionHumanizedContentSize => "version.humanized_content_size",
    VersionHumanizedDiffSize => "version.humanized_diff_size",
    VersionChanges => "version.changes",
    VersionKnownIssues => "version.known_issues",
    VersionProcessingError => "version.processing_error",
    VersionProcessingStartedAt => "version.processing_started_at",
    VersionProcessingFinishedAt => "version.processing_finished_at",
    VersionHumanizedProcessingDuration => "version.humanized_processing_duration",
    // Operational events (`webhook.disabled`, `delivery.failed`, `webhook.recovered`).
    EventOccurredAt => "event.occurred_at",
    WebhookId => "webhook.id",
    WebhookUrl => "webhook.url",
    WebhookFailingSince => "webhook.failing_since",
    WebhookDisabledReason => "webhook.disabled_reason",
    DeliveryId => "delivery.id",
    DeliveryEventId => "delivery.event_id",
    DeliveryEventName => "delivery.event_name",
    DeliveryAttempts => "delivery.attempts",
    DeliveryLastError => "delivery.last_error",
}

/// The variables PatchKit documents; the others exist for operational events only.
pub const PATCHKIT_VARIABLES: usize = 17;

impl Variable {
    /// The variable called `name` (exact, case-sensitive, no surrounding whitespace).
    #[must_use]
    pub fn parse(name: &str) -> Option<Variable> {
        Variable::ALL.into_iter().find(|v| v.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The variable values for one event, already formatted. A value the event does not carry is the
/// empty string, so every variable always has a value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Values {
    values: [String; Variable::ALL.len()],
}

impl Values {
    /// `event.name` and the `app.*` variables, which every event carries.
    fn for_app(event_name: &str, app: &AppInfo) -> Values {
        let mut values = Values::default();
        let mut set = |var: Variable, value: Option<String>| values.set(var, value.unwrap_or_default());
        set(Variable::EventName, Some(event_name.to_owned()));
        set(Variable::AppName, app.name.clone());
        set(Variable::AppDisplayName, app.display_name.clone());
        set(Variable::AppGroupName, app.group_name.clone());
        set(Variable::AppDownloadUrl, app.download_url.clone());
        set(Variable::AppDirectDownloadUrl, app.direct_download_url.clone());
        values
    }

    #[must_use]
    pub fn from_event(body: &EventBody) -> Values {
        let EventBody { event, app, version } = body;
        let mut values = Values::for_app(event.as_str(), app);
        let mut set = |var: Variable, value: Option<String>| values.set(var, value.unwrap_or_default());
        set(Variable::VersionId, Some(version.id.to_string()));
        set(Variable::VersionLabel, version.label.clone());
        set(Variable::VersionPublishedAt, version.published_at.map(timestamp));
        set(Variable::VersionHumanizedContentSize, version.content_size.map(human_size));
        set(Variable::VersionHumanizedDiffSize, version.diff_size.map(human_size));
        set(Variable::VersionChanges, version.changes.clone());
        set(Variable::VersionKnownIssues, version.known_issues.clone());
        set(Variable::VersionProcessingError, Some(version.processing_errors.join(";")));
        set(Variable::VersionProcessingStartedAt, version.processing_started_at.map(timestamp));
        set(Variable::VersionProcessingFinishedAt, version.processing_finished_at.map(timestamp));
        let duration = version
            .processing_started_at
            .zip(version.processing_finished_at)
            .map(|(started, finished)| human_duration(finished - started));
        set(Variable::VersionHumanizedProcessingDuration, duration);
        values
    }

    /// An operational event's values: `event.name`, the app's `app.name` and
    /// `app.display_name`, and the `event.occurred_at`, `webhook.*` and `delivery.*` variables
    /// (the `delivery.*` ones only for `delivery.failed`). The `version.*` ones are empty.
    #[must_use]
    pub fn from_operational(body: &OperationalBody) -> Values {
        let OperationalBody { event, app, webhook, delivery, occurred_at } = body;
        let mut values = Values::for_app(event.as_str(), app);
        let mut set = |var: Variable, value: Option<String>| values.set(var, value.unwrap_or_default());
        set(Variable::EventOccurredAt, Some(timestamp(*occurred_at)));
        set(Variable::WebhookId, Some(webhook.id.clone()));
        set(Variable::WebhookUrl, Some(webhook.url.clone()));
        set(Variable::WebhookFailingSince, webhook.failing_since.map(timestamp));
        set(Variable::WebhookDisabledReason, webhook.disabled_reason.clone());
        if let Some(delivery) = delivery {
            set(Variable::DeliveryId, Some(delivery.id.clone()));
            set(Variable::DeliveryEventId, Some(delivery.event_id.clone()));
            set(Variable::DeliveryEventName, Some(delivery.event_name.as_str().to_owned()));
            set(Variable::DeliveryAttempts, Some(delivery.attempts.to_string()));
            set(Variable::DeliveryLastError, Some(delivery.last_error.clone()));
        }
        values
    }

    #[must_use]
    pub fn from_payload(payload: &EventPayload) -> Values {
        match payload {
            EventPayload::Pipeline(body) => Values::from_event(body),
            EventPayload::Operational(body) => Values::from_operational(body),
        }
    }

    /// What a test send renders: [`sample_payload`]'s values.
    #[must_use]
    pub fn sample(event: EventName) -> Values {
        Values::from_payload(&sample_payload(event))
    }

    #[must_use]
    pub fn get(&self, var: Variable) -> &str {
        &self.values[var.index()]
    }

    pub fn set(&mut self, var: Variable, value: impl Into<String>) {
        self.values[var.index()] = value.into();
    }

    #[must_use]
    pub fn with(mut self, var: Variable, value: impl Into<String>) -> Values {
        self.set(var, value);
        self
    }
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// What a test send of `event` carries: [`sample_event`] for the pipeline's events, a
/// realistic operational body (every field its event has filled) for the others.
#[must_use]
pub fn sample_payload(event: EventName) -> EventPayload {
    if !event.is_operational() {
        return EventPayload::Pipeline(sample_event(event));
    }
    // 2024-05-14T09:30:00Z, as in `sample_event`; the streak started five days earlier.
    const AT: i64 = 1_715_679_000;
    let at = |secs: i64| DateTime::<Utc>::from_timestamp(secs, 0);
    let failing_since = at(AT - 5 * 86_400);
    let app = AppInfo {
        id: "app_test".to_owned(),
        name: Some("test-app".to_owned()),
        display_name: Some("Test App".to_owned()),
        ..AppInfo::default()
    };
    let webhook = |failing_since, disabled_reason: Option<&str>| WebhookInfo {
        id: "wh_test".to_owned(),
        url: "https://example.com/hooks/patchbay".to_owned(),
        failing_since,
        disabled_reason: disabled_reason.map(str::to_owned),
    };
    let (webhook, delivery) = match event {
        EventName::WebhookDisabled => (
            webhook(
                failing_since,
                Some("auto-disabled: every delivery attempt failed since 2024-05-09T09:30:00+00:00"),
            ),
            None,
        ),
        EventName::WebhookRecovered => (webhook(failing_since, None), None),
        _ => (
            webhook(failing_since, None),
            Some(FailedDelivery {
                id: "dlv_test".to_owned(),
                event_id: "msg_test".to_owned(),
                event_name: EventName::VersionPublished,
                attempts: 14,
                last_error: "receiver answered 503; gave up after 14 attempts".to_owned(),
            }),
        ),
    };
    EventPayload::Operational(OperationalBody {
        event,
        app,
        webhook,
        delivery,
        occurred_at: at(AT).unwrap_or_default(),
    })
}

/// A realistic pipeline event for test sends, with every field filled so a studio sees each
/// variable it uses. PatchKit's test send leaves `known_issues` empty; ours fills it on purpose, so a
/// template that uses it can be checked before a real release. Processing errors exist only on
/// `version_process_failed`, as they would for real.
#[must_use]
pub fn sample_event(event: EventName) -> EventBody {
    // 2024-05-14T09:30:00Z: processing took 3m 20s and the version went out half an hour later.
    const STARTED: i64 = 1_715_679_000;
    let at = |secs: i64| DateTime::<Utc>::from_timestamp(secs, 0);
    let processing_errors = match event {
        EventName::VersionProcessFailed => vec![
            "Content file is not a valid ZIP archive".to_owned(),
            "Diff could not be computed".to_owned(),
        ],
        _ => Vec::new(),
    };
    EventBody {
        event,
        app: AppInfo {
            id: "app_test".to_owned(),
            name: Some("Test App".to_owned()),
            display_name: Some("Test App".to_owned()),
            group_name: Some("Test Group".to_owned()),
            download_url: Some("https://example.com/apps/test-app".to_owned()),
            direct_download_url: Some("https://example.com/apps/test-app/launcher.zip".to_owned()),
        },
        version: VersionInfo {
            id: 1,
            label: Some("Test Version".to_owned()),
            published_at: at(STARTED + 1_800),
            content_size: Some(123_456_789),
            diff_size: Some(1_234_567),
            changes: Some("Fixed a crash on start".to_owned()),
            known_issues: Some("Saving may be slow on older hard drives".to_owned()),
            processing_errors,
            processing_started_at: at(STARTED),
            processing_finished_at: at(STARTED + 200),
        },
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn names_are_unique_and_parse_back() {
        assert_eq!(Variable::ALL.len(), PATCHKIT_VARIABLES + 10);
        for (i, var) in Variable::ALL.into_iter().enumerate() {
            assert_eq!(var.index(), i);
            assert_eq!(Variable::parse(var.name()), Some(var));
        }
        assert_eq!(Variable::parse(" app.name"), None);
        assert_eq!(Variable::parse("App.Name"), None);
        assert_eq!(Variable::parse("app"), None);
    }

    #[test]
    fn formats_event_fields() {
        let started = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).single().expect("valid date");
        let body = EventBody {
            event: EventName::VersionProcessFailed,
            app: AppInfo { id: "a".into(), name: Some("n".into()), ..AppInfo::default() },
            version: VersionInfo {
                id: -42,
                processing_errors: vec!["a".into(), "b c".into()],
                processing_started_at: Some(started),
                processing_finished_at: Some(started + chrono::TimeDelta::milliseconds(3_900_250)),
                content_size: Some(1234),
                ..VersionInfo::default()
            },
        };
        let values = Values::from_event(&body);
        assert_eq!(values.get(Variable::EventName), "version_process_failed");
        assert_eq!(values.get(Variable::AppName), "n");
        assert_eq!(values.get(Variable::AppDisplayName), "");
        assert_eq!(values.get(Variable::VersionId), "-42");
        assert_eq!(values.get(Variable::VersionProcessingError), "a;b c");
        assert_eq!(values.get(Variable::VersionProcessingStartedAt), "2024-01-02T03:04:05Z");
        assert_eq!(values.get(Variable::VersionProcessingFinishedAt), "2024-01-02T04:09:05.250Z");
        assert_eq!(values.get(Variable::VersionHumanizedProcessingDuration), "1h 5m");
        assert_eq!(values.get(Variable::VersionHumanizedContentSize), "1.21 KB");
        assert_eq!(values.get(Variable::VersionHumanizedDiffSize), "");
        assert_eq!(values.get(Variable::VersionPublishedAt), "");
    }

    #[test]
    fn duration_needs_both_ends() {
        let at = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).single().expect("valid date");
        let mut body = sample_event(EventName::VersionProcessed);
        body.version.processing_finished_at = None;
        assert_eq!(Values::from_event(&body).get(Variable::VersionHumanizedProcessingDuration), "");
        body.version.processing_started_at = None;
        body.version.processing_finished_at = Some(at);
        assert_eq!(Values::from_event(&body).get(Variable::VersionHumanizedProcessingDuration), "");
    }

    #[test]
    fn sample_fills_every_variable_and_errors_only_on_failure() {
        for event in EventName::PIPELINE {
            let values = Values::sample(event);
            for var in &Variable::ALL[..PATCHKIT_VARIABLES] {
                let var = *var;
                if var == Variable::VersionProcessingError && event != EventName::VersionProcessFailed {
                    assert_eq!(values.get(var), "", "{event}: {var}");
                } else {
                    assert!(!values.get(var).is_empty(), "{event}: {var} is empty");
                }
            }
            assert_eq!(values.get(Variable::EventName), event.as_str());
            assert!(Variable::ALL[PATCHKIT_VARIABLES..].iter().all(|v| values.get(*v).is_empty()));
        }
    }

    #[test]
    fn operational_samples_fill_what_their_event_carries() {
        for event in EventName::OPERATIONAL {
            let values = Values::sample(event);
            assert_eq!(values.get(Variable::EventName), event.as_str());
            for var in Variable::ALL {
                let expected = match var {
                    Variable::EventName | Variable::AppName | Variable::AppDisplayName => true,
                    Variable::EventOccurredAt
                    | Variable::WebhookId
                    | Variable::WebhookUrl
                    | Variable::WebhookFailingSince => true,
                    Variable::WebhookDisabledReason => event == EventName::WebhookDisabled,
                    Variable::DeliveryId
                    | Variable::DeliveryEventId
                    | Variable::DeliveryEventName
                    | Variable::DeliveryAttempts
                    | Variable::DeliveryLastError => event == EventName::DeliveryFailed,
                    _ => false,
                };
                assert_eq!(!values.get(var).is_empty(), expected, "{event}: {var}");
            }
        }
        assert_eq!(Values::sample(EventName::DeliveryFailed).get(Variable::DeliveryAttempts), "14");
    }
}
