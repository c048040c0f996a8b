//! Test support for Patchbay's crates, kept out of the shipped code: only dev-dependencies and
//! the test crates (`patchbay-contract`, `patchbay-e2e`) depend on it.
//!
//! * [`aws`]: tables and queues on moto, created exactly as `infra/template.yaml` creates them;
//! * [`backends`]: a fresh set of adapters on a throwaway SQLite file or on moto;
//! * [`samples`]: valid records to store;
//! * [`FaultyStore`] / [`FaultyQueue`]: any store or queue, failing when told to and recording
//!   the calls made;
//! * [`counting`]: any store, key store or queue, counting every call by name.

pub mod aws;
pub mod backends;
pub mod counting;
mod faults;
mod faulty_queue;
mod faulty_store;
pub mod samples;

pub use faults::Faults;
pub use faulty_queue::{FaultyQueue, VisibilityChange};
pub use faulty_store::FaultyStore;
