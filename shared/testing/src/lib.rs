//! Test support for Patchbay's crates, kept out of the shipped code: only dev-dependencies and
//! the test crates (`patchbay-contract`, `patchbay-e2e`) depend on it.
//!
//! * [`aws`]: tables and queues on moto, created exactly as `infra/template.yaml` creates them;
//! * [`backends`]: a fresh set of adapters on a throwaway SQLite file or on moto;
//! * [`samples`]: valid records to store.

pub mod aws;
pub mod backends;
pub mod samples;
