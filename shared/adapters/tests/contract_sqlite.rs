//! The adapter contract, run against the embedded SQLite adapters.

use patchbay_adapters::sqlite::{Db, SqliteKeyStore, SqliteQueue, SqliteStore};

patchbay_contract::adapter_contract!(
    main: async { Some(SqliteStore::new(Db::memory().unwrap())) },
    keys: async { Some(SqliteKeyStore::new(Db::memory().unwrap())) },
    queue: async { Some(SqliteQueue::new(Db::memory().unwrap(), None)) },
);
