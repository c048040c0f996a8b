//! What a use case reports: named values with units, and the dimensions they are broken down by.

/// The CloudWatch units Patchbay uses (a subset of those the EMF spec allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub value: f64,
}

/// One observation: its metrics share the dimension values and the timestamp. CloudWatch
/// aggregates them by all the dimensions together and, with `overall`, also across every
/// value (a metric without dimensions, what an alarm on the total needs).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricEvent {
    pub dimensions: Vec<(&'static str, String)>,
    pub overall: bool,
    pub metrics: Vec<Metric>,
}

impl MetricEvent {
    #[must_use]
    pub fn new() -> Self {
        MetricEvent::default()
    }

    #[must_use]
    pub fn dimension(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.dimensions.push((name, value.into()));
        self
    }

    /// Also aggregate across every dimension value.
    #[must_use]
    pub fn and_overall(mut self) -> Self {
        self.overall = true;
        self
    }

    #[must_use]
    pub fn count(self, name: &'static str, value: u64) -> Self {
        self.metric(name, Unit::Count, value as f64)
    }

    #[must_use]
    pub fn milliseconds(self, name: &'static str, value: u64) -> Self {
        self.metric(name, Unit::Milliseconds, value as f64)
    }

    #[must_use]
    pub fn metric(mut self, name: &'static str, unit: Unit, value: f64) -> Self {
        self.metrics.push(Metric { name, unit, value });
        self
    }

    /// The value of the metric `name`, if reported (for tests and sinks).
    #[must_use]
    pub fn value(&self, name: &str) -> Option<f64> {
        self.metrics.iter().find(|m| m.name == name).map(|m| m.value)
    }

    /// The value of the dimension `name`, if set.
    #[must_use]
    pub fn dimension_value(&self, name: &str) -> Option<&str> {
        self.dimensions.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}
