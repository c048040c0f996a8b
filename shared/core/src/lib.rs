//! Patchbay's core: the domain model, templates, signing, retry policy, ports and use cases.
//! Nothing here knows about AWS; adapters live in `patchbay-adapters`.

pub mod bounded;
pub mod config;
pub mod http;
pub mod humanize;
pub mod ids;
pub mod metrics;
pub mod model;
pub mod ports;
pub mod retry;
pub mod secret;
pub mod service;
pub mod signing;
pub mod template;
pub mod validation;
pub mod verdict;
