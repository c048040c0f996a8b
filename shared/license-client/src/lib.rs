//! Game-side client (see the license-check issue).
