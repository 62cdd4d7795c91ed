//! Request bodies checked as DigitalOcean checks them, from the route's body schema: a required
//! field missing, a value of the wrong type, outside its enum or its bounds, is a 422 naming the
//! field, before anything changes.

use iql_provider::SchemaInfo;
use serde_json::Value;

use super::routes::Route;
use super::Refusal;

fn unprocessable(message: String) -> Refusal {
    (422, "unprocessable_entity", message)
}

/// Whether `value` is of one of the schema's types (any, when it names none).
pub(super) fn typed(schema: &SchemaInfo, value: &Value) -> bool {
    if value.is_null() {
        return schema.nullable
            || schema.types.is_empty()
            || schema.types.iter().any(|t| t == "null");
    }
    schema.types.is_empty()
        || schema.types.iter().any(|t| match t.as_str() {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => true,
        })
}

fn type_words(schema: &SchemaInfo) -> String {
    schema
        .types
        .iter()
        .map(|t| match t.as_str() {
            "integer" => "an integer",
            "number" => "a number",
            "boolean" => "a boolean",
            "array" => "an array",
            "object" => "an object",
            _ => "a string",
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Checks `body` against the route's fields; `full` (POST, PUT) also wants the required ones.
pub(super) fn body(route: &Route, body: &Value, full: bool) -> Result<(), Refusal> {
    let object = match body {
        Value::Object(o) => o,
        Value::Null if !route.body_required || !full => return Ok(()),
        Value::Null => return Err(unprocessable("the request needs a JSON body".to_string())),
        _ => {
            return Err(unprocessable(
                "the request body must be a JSON object".to_string(),
            ))
        }
    };
    if full {
        let mut required: Vec<&str> = route
            .body_fields
            .iter()
            .filter(|f| f.required)
            .map(|f| f.name.as_str())
            .collect();
        if let Some(v) = &route.body_variants {
            let chosen = object.get(&v.property).and_then(Value::as_str);
            match chosen {
                // A value the variants do not map (`change_backup_policy`) is left to the
                // property's enum, checked below.
                Some(c) => {
                    if let Some((_, fields)) =
                        v.required_by_value.iter().find(|(value, _)| value == c)
                    {
                        required.extend(fields.iter().map(String::as_str));
                    }
                }
                None => required.push(v.property.as_str()),
            }
        }
        if let Some(missing) = required
            .iter()
            .find(|f| object.get(**f).is_none_or(Value::is_null))
        {
            return Err(unprocessable(format!("{missing} is required")));
        }
    }
    for field in &route.body_fields {
        let Some(value) = object.get(&field.name) else {
            continue;
        };
        let schema = &field.schema;
        if !typed(schema, value) {
            return Err(unprocessable(format!(
                "{} must be {}; got {}",
                field.name,
                type_words(schema),
                shown(value)
            )));
        }
        // The value a variant fixes is its own (`change_backup_policy` is a droplet action the
        // shared `type` enum leaves out).
        let fixed = route.base.as_ref().and_then(|b| b.get(&field.name)) == Some(value);
        if !fixed
            && !schema.enum_values.is_empty()
            && !value.is_null()
            && !schema.enum_values.contains(value)
        {
            let allowed: Vec<String> = schema.enum_values.iter().map(shown).collect();
            return Err(unprocessable(format!(
                "{} must be one of {}; got '{}'",
                field.name,
                allowed.join(", "),
                shown(value)
            )));
        }
        if let Some(n) = value.as_f64() {
            let low = schema.minimum.is_some_and(|m| n < m);
            let high = schema.maximum.is_some_and(|m| n > m);
            if low || high {
                return Err(unprocessable(format!(
                    "{} must be between {} and {}; got {n}",
                    field.name,
                    schema.minimum.map_or("-∞".to_string(), |m| m.to_string()),
                    schema.maximum.map_or("∞".to_string(), |m| m.to_string()),
                )));
            }
        }
    }
    Ok(())
}
