//! Sizes and durations for humans. STUB: being implemented by the template helper.
