//! Literal SQL values turned into parameter values of the schema's type.

use iql_provider::SchemaInfo;
use iql_sql::Literal;
use serde_json::Value;

/// The literal as a value of one of the schema's types (tried in the schema's order), or `None`
/// when it fits none of them or is not one of the allowed values.
pub(crate) fn normalize(schema: &SchemaInfo, lit: &Literal) -> Option<Value> {
    let text = lit.as_text();
    let types: Vec<&str> = if schema.types.is_empty() {
        vec!["string"]
    } else {
        schema.types.iter().map(String::as_str).collect()
    };
    let value = types.iter().find_map(|t| match *t {
        "integer" => text.trim().parse::<i64>().ok().map(Value::from),
        "number" => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        "boolean" => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(Value::Bool(true)),
            "false" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        "string" => Some(Value::String(text.clone())),
        // A list parameter (`statuses`): JSON text of a list, as StackQL's documents fill it
        // (`'["A","B"]'`), or one value alone. Sent as the parameter once per item.
        "array" => match serde_json::from_str::<Value>(text.trim()) {
            Ok(Value::Array(items)) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
                Some(Value::Array(items))
            }
            Ok(Value::Array(_) | Value::Object(_)) => None,
            _ => Some(Value::Array(vec![Value::String(text.clone())])),
        },
        _ => None,
    })?;
    if let Some(min) = schema.minimum {
        if value.as_f64().is_some_and(|v| v < min) {
            return None;
        }
    }
    if let Some(max) = schema.maximum {
        if value.as_f64().is_some_and(|v| v > max) {
            return None;
        }
    }
    if !schema.enum_values.is_empty() && !schema.enum_values.contains(&value) {
        return None;
    }
    Some(value)
}

/// How a value is written into a URL.
pub(crate) fn url_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(url_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

pub(crate) fn show_literal(l: &Literal) -> String {
    match l {
        Literal::Text(s) => format!("'{s}'"),
        other => other.as_text(),
    }
}

pub(crate) fn expected(schema: &SchemaInfo) -> String {
    let mut out = schema.type_label();
    if !schema.enum_values.is_empty() {
        let allowed: Vec<String> = schema.enum_values.iter().map(url_text).collect();
        out = format!("one of {}", allowed.join(", "));
    }
    match (schema.minimum, schema.maximum) {
        (Some(a), Some(b)) => out.push_str(&format!(" from {a} to {b}")),
        (Some(a), None) => out.push_str(&format!(" of at least {a}")),
        (None, Some(b)) => out.push_str(&format!(" of at most {b}")),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(types: &[&str], enums: &[&str]) -> SchemaInfo {
        SchemaInfo {
            types: types.iter().map(|s| s.to_string()).collect(),
            enum_values: enums.iter().map(|s| Value::from(*s)).collect(),
            ..SchemaInfo::default()
        }
    }

    #[test]
    fn ids_or_slugs() {
        let s = schema(&["integer", "string"], &[]);
        assert_eq!(
            normalize(&s, &Literal::Text("123".into())),
            Some(Value::from(123))
        );
        assert_eq!(
            normalize(&s, &Literal::Text("ubuntu-22-04-x64".into())),
            Some(Value::from("ubuntu-22-04-x64"))
        );
    }

    #[test]
    fn enums_and_booleans() {
        let s = schema(&["string"], &["application", "distribution"]);
        assert_eq!(normalize(&s, &Literal::Text("snapshot".into())), None);
        assert!(normalize(&s, &Literal::Text("distribution".into())).is_some());
        let b = schema(&["boolean"], &[]);
        assert_eq!(
            normalize(&b, &Literal::Text("true".into())),
            Some(Value::Bool(true))
        );
        assert_eq!(
            normalize(&b, &Literal::Bool(false)),
            Some(Value::Bool(false))
        );
        assert_eq!(normalize(&b, &Literal::Text("yes".into())), None);
    }

    #[test]
    fn bounds() {
        let s = SchemaInfo {
            types: vec!["integer".into()],
            minimum: Some(1.0),
            maximum: Some(200.0),
            ..SchemaInfo::default()
        };
        assert_eq!(normalize(&s, &Literal::Number("201".into())), None);
        assert_eq!(expected(&s), "integer from 1 to 200");
    }
}
