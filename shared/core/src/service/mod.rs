//! The use cases, callable without Lambda or HTTP: the functions, the local runtime and the
//! CLI hand them typed requests and get typed answers or their own error enums; `http/` maps
//! those to statuses in one table.

pub mod app_secrets;
pub mod attempts;
pub mod blocked_keys;
pub mod deliver;
pub mod ingest;
pub mod key_admin;
pub mod keys;
pub mod manage;
pub mod message;
pub mod notices;
pub mod outgoing;
pub mod send;
pub mod tokens;
pub mod worker;
