//! YAML into `serde_json::Value`, accepting numbers of any size.
//!
//! Why not `serde_yaml::from_str::<Value>`: serde_yaml hands integers beyond 64 bits to the visitor
//! as `u128`/`i128`, which `serde_json::Value` refuses ("JSON number out of range"). DigitalOcean's
//! own spec has one (`maximum: 18446744073709552000` in `databases.yaml`, a `u64::MAX` rounded by a
//! float printer), and a schema bound is only ever used to check values, so such a number is kept
//! as the nearest `f64`. Everything else is read exactly as serde_json would.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses YAML text into a JSON value.
pub(crate) fn from_str(text: &str) -> Result<Value, serde_yaml::Error> {
    AnyValue.deserialize(serde_yaml::Deserializer::from_str(text))
}

/// A JSON value of any shape; integers beyond 64 bits become floats.
struct AnyValue;

impl<'de> DeserializeSeed<'de> for AnyValue {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// A float as a JSON number; NaN and infinities (`.nan`, `.inf` in YAML) have no JSON form.
fn float(v: f64) -> Value {
    Number::from_f64(v)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

impl<'de> Visitor<'de> for AnyValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Value::from(i),
            Err(_) => float(v as f64),
        })
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(match u64::try_from(v) {
            Ok(u) => Value::from(u),
            Err(_) => float(v as f64),
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(AnyValue)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(KeyText)? {
            let value = map.next_value_seed(AnyValue)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// A mapping key as text: YAML allows `200:` (a number) or `true:` where JSON needs a string.
struct KeyText;

impl<'de> DeserializeSeed<'de> for KeyText {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        let value = AnyValue.deserialize(d)?;
        Ok(match value {
            Value::String(s) => s,
            other => other.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_of_any_size_load() {
        let v = from_str("a: 18446744073709552000\nb: -170141183460469231731687303715884105728\nc: 7\nd: 2.5\n200: x\n").unwrap();
        assert_eq!(v["a"].as_f64(), Some(18446744073709552000.0));
        assert!(v["b"].as_f64().is_some_and(|b| b < -1e38));
        assert_eq!(v["c"], Value::from(7));
        assert_eq!(v["d"], Value::from(2.5));
        assert_eq!(v["200"], Value::from("x"));
    }

    #[test]
    fn errors_keep_their_position() {
        let err = from_str("a: [1,\nb: 2").unwrap_err();
        assert!(err.location().is_some(), "{err}");
    }
}
