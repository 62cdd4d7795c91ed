//! Helpers the integration tests in `tests/` share.

pub mod prism;
