//! The use cases, callable without Lambda or HTTP: the functions and the local runtime both
//! hand requests to these.

pub mod deliver;
pub mod ingest;
pub mod key_admin;
pub mod keys;
pub mod manage;
pub mod message;
pub mod outgoing;
pub mod worker;
