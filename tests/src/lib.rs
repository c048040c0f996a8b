//! End-to-end harness: `patchbay dev` as a real process on a free port, receivers as real HTTP
//! servers on 127.0.0.1, everything driven over HTTP and the CLI.
#![allow(clippy::missing_panics_doc, clippy::expect_used)]

pub mod dev;
pub mod local;
pub mod receiver;

pub use dev::DevServer;
pub use local::LocalFunctions;
pub use receiver::Receiver;
