//! Helpers the integration tests in `tests/` share.

pub mod prism;

/// A JSON value written as a SQL literal: strings quoted, numbers and booleans bare, arrays and
/// objects as quoted JSON text.
pub fn sql_literal(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => format!("'{}'", other.to_string().replace('\'', "''")),
    }
}
