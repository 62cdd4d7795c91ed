//! Reads a list page straight into rows, without building a `serde_json::Value` tree first.
//!
//! Why: a tree builds an ordered map per item, hashing and allocating every field name, only for
//! the fetcher to take it apart again into a row. On a 10,000-image list that was the largest cost
//! after the network, and it runs on the same two cores as everything else. Here each field name
//! is looked up in the column index while it is read (borrowed from the page, no allocation) and
//! its value goes straight into its column; fields no column wants are skipped unparsed.
//!
//! The result is the same as parsing into a tree and cutting it at the object key: the same rows
//! and the same errors (`tests/requests.rs` pins both). Object keys deeper than one level
//! (`$.data.items`) still take the tree path in `fetch.rs`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Where a page's items are and where each of their fields goes.
pub struct RowLayout<'a> {
    /// The top-level key the items sit under: `images` for the object key `$.images`.
    pub key: &'a str,
    /// Column name → position in the row.
    pub index: &'a HashMap<String, usize>,
    pub width: usize,
    /// Other top-level keys to keep as JSON (pagination: `links`, `meta`).
    pub keep: &'a [&'a str],
    /// Items are whole values (the method's `value_rows`): each goes, as it is, into this column.
    pub whole: Option<usize>,
}

pub struct ParsedPage {
    pub rows: Vec<Vec<Value>>,
    /// The kept top-level keys, as one object: `links.pages.next` and `meta.total` are read from it.
    pub kept: Value,
}

#[derive(Debug)]
pub enum PageError {
    /// The body is not JSON.
    Syntax(serde_json::Error),
    /// JSON, but not the shape the document promises.
    Shape(String),
}

/// The single top-level key of an object key such as `$.images`; `None` for deeper paths.
pub fn top_level_key(object_key: &str) -> Option<&str> {
    let key = object_key.strip_prefix("$.")?;
    (!key.is_empty() && !key.contains(['.', '[', '*'])).then_some(key)
}

/// Parses `body` (not empty) into rows. A body whose items are `null` has no rows; a single object
/// under the key is one row; a body that is `null` has no key, so it is an error.
pub fn parse(layout: &RowLayout<'_>, body: &[u8]) -> Result<ParsedPage, PageError> {
    let problem = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = PageSeed {
        layout,
        problem: &problem,
    }
    .deserialize(&mut de)
    .and_then(|page| de.end().map(|()| page));
    match (parsed, problem.into_inner()) {
        (_, Some(shape)) => Err(PageError::Shape(shape)),
        (Ok(page), None) => Ok(page),
        (Err(e), None) if e.is_data() => Err(PageError::Shape(e.to_string())),
        (Err(e), None) => Err(PageError::Syntax(e)),
    }
}

/// Records what is wrong with the page's shape and stops the parse.
fn shape_error<E: de::Error>(problem: &RefCell<Option<String>>, detail: String) -> E {
    let err = E::custom(&detail);
    problem.borrow_mut().get_or_insert(detail);
    err
}

/// The `visit_*` methods for strings, booleans and numbers of a visitor: each gives what `$err`
/// builds from the visitor (`$this`) and the value (`$v`), usually an error.
macro_rules! reject_scalars {
    ($out:ty, |$this:ident, $v:ident| $err:expr) => {
        reject_scalars!(@one $out, visit_str, &str, $this, $v, $err);
        reject_scalars!(@one $out, visit_bool, bool, $this, $v, $err);
        reject_scalars!(@one $out, visit_i64, i64, $this, $v, $err);
        reject_scalars!(@one $out, visit_u64, u64, $this, $v, $err);
        reject_scalars!(@one $out, visit_f64, f64, $this, $v, $err);
    };
    (@one $out:ty, $name:ident, $ty:ty, $this:ident, $v:ident, $err:expr) => {
        fn $name<E: de::Error>(self, $v: $ty) -> Result<$out, E> {
            let $this = self;
            $err
        }
    };
}

/// A scalar as JSON text, for error messages that show what was found.
fn shown(v: impl Into<Value>) -> String {
    v.into().to_string()
}

struct PageSeed<'a> {
    layout: &'a RowLayout<'a>,
    problem: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = ParsedPage;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<ParsedPage, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = ParsedPage;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an object with {}", self.layout.key)
    }

    fn visit_unit<E: de::Error>(self) -> Result<ParsedPage, E> {
        Err(self.missing_key())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ParsedPage, A::Error> {
        let mut rows = None;
        let mut kept = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == self.layout.key {
                rows = Some(map.next_value_seed(ItemsSeed {
                    layout: self.layout,
                    problem: self.problem,
                })?);
            } else if self.layout.keep.contains(&key.as_str()) {
                kept.insert(key, map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        match rows {
            Some(rows) => Ok(ParsedPage {
                rows,
                kept: Value::Object(kept),
            }),
            None => Err(self.missing_key()),
        }
    }

    // Anything but an object or null has no key to find.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ParsedPage, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Err(self.missing_key())
    }

    reject_scalars!(ParsedPage, |this, _v| Err(this.missing_key()));
}

impl PageSeed<'_> {
    fn missing_key<E: de::Error>(&self) -> E {
        shape_error(
            self.problem,
            format!("the response has no $.{}", self.layout.key),
        )
    }
}

/// The value under the key: a list of objects, one object, or null.
struct ItemsSeed<'a> {
    layout: &'a RowLayout<'a>,
    problem: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = Vec<Vec<Value>>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = Vec<Vec<Value>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object or a list")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        if let Some(column) = self.layout.whole {
            while let Some(item) = seq.next_element::<Value>()? {
                rows.push(whole_row(self.layout, column, item));
            }
            return Ok(rows);
        }
        while let Some(row) = seq.next_element_seed(RowSeed {
            layout: self.layout,
            problem: self.problem,
        })? {
            rows.push(row);
        }
        Ok(rows)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        if let Some(column) = self.layout.whole {
            let item = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
            return Ok(vec![whole_row(self.layout, column, item)]);
        }
        Ok(vec![read_row(self.layout, map)?])
    }

    reject_scalars!(Vec<Vec<Value>>, |this, v| match this.layout.whole {
        Some(column) => Ok(vec![whole_row(this.layout, column, Value::from(v))]),
        None => Err(this.found(shown(v))),
    });
}

/// A row holding one whole item in `column`.
fn whole_row(layout: &RowLayout<'_>, column: usize, item: Value) -> Vec<Value> {
    let mut row = vec![Value::Null; layout.width];
    if let Some(cell) = row.get_mut(column) {
        *cell = item;
    }
    row
}

impl ItemsSeed<'_> {
    fn found<E: de::Error>(&self, what: String) -> E {
        shape_error(
            self.problem,
            format!("expected an object or a list, found {what}"),
        )
    }
}

/// One item of the list, which must be an object.
struct RowSeed<'a> {
    layout: &'a RowLayout<'a>,
    problem: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Vec<Value>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Vec<Value>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Vec<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Vec<Value>, A::Error> {
        read_row(self.layout, map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Vec<Value>, A::Error> {
        let list = Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Err(self.found(list.to_string()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Vec<Value>, E> {
        Err(self.found("null".to_string()))
    }

    reject_scalars!(Vec<Value>, |this, v| Err(this.found(shown(v))));
}

impl RowSeed<'_> {
    fn found<E: de::Error>(&self, what: String) -> E {
        shape_error(
            self.problem,
            format!("expected objects in the list, found {what}"),
        )
    }
}

/// An object's fields into their columns; fields without a column are skipped. As in a JSON
/// object read into a map, a repeated field keeps its last value.
fn read_row<'de, A: MapAccess<'de>>(
    layout: &RowLayout<'_>,
    mut map: A,
) -> Result<Vec<Value>, A::Error> {
    let mut row = vec![Value::Null; layout.width];
    while let Some(column) = map.next_key_seed(ColumnOf(layout.index))? {
        match column {
            Some(i) => row[i] = map.next_value()?,
            None => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    Ok(row)
}

/// A field name, read as the position of its column (or none), without allocating it.
struct ColumnOf<'a>(&'a HashMap<String, usize>);

impl<'de> DeserializeSeed<'de> for ColumnOf<'_> {
    type Value = Option<usize>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for ColumnOf<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.0.get(v).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout_parse(body: &str) -> Result<ParsedPage, PageError> {
        let index: HashMap<String, usize> = [
            ("id".to_string(), 0),
            ("name".to_string(), 1),
            ("tags".to_string(), 2),
        ]
        .into();
        let layout = RowLayout {
            key: "images",
            index: &index,
            width: 3,
            keep: &["links", "meta"],
            whole: None,
        };
        parse(&layout, body.as_bytes())
    }

    #[test]
    fn fields_go_to_their_columns_and_pagination_is_kept() {
        let page = layout_parse(
            r#"{"links":{"pages":{"next":"n"}},"images":[{"tags":["a"],"x":{"y":[1]},"id":1,"n\u0061me":"é","id":2}],"meta":{"total":1},"other":[1]}"#,
        )
        .unwrap();
        assert_eq!(
            page.rows,
            [vec![
                Value::from(2),
                Value::from("é"),
                serde_json::json!(["a"])
            ]]
        );
        assert_eq!(
            page.kept,
            serde_json::json!({"links":{"pages":{"next":"n"}},"meta":{"total":1}})
        );
    }

    #[test]
    fn shapes_and_syntax_are_told_apart() {
        let shape = |body: &str| match layout_parse(body) {
            Err(PageError::Shape(s)) => s,
            other => panic!("{body}: {:?}", other.map(|p| p.rows)),
        };
        assert_eq!(shape(r#"{"meta":{}}"#), "the response has no $.images");
        assert_eq!(shape("[1]"), "the response has no $.images");
        assert_eq!(shape("null"), "the response has no $.images");
        assert_eq!(
            shape(r#"{"images":[{"id":1},[1,{"a":2}]]}"#),
            r#"expected objects in the list, found [1,{"a":2}]"#
        );
        assert_eq!(
            shape(r#"{"images":[null]}"#),
            "expected objects in the list, found null"
        );
        assert_eq!(
            shape(r#"{"images":1.5}"#),
            "expected an object or a list, found 1.5"
        );
        assert!(matches!(
            layout_parse(r#"{"images":[{"id":1}"#),
            Err(PageError::Syntax(_))
        ));
        assert!(matches!(
            layout_parse(r#"{"images":[]} x"#),
            Err(PageError::Syntax(_))
        ));
    }

    #[test]
    fn only_single_level_keys_stream() {
        assert_eq!(top_level_key("$.images"), Some("images"));
        assert_eq!(top_level_key("$.data.items"), None);
        assert_eq!(top_level_key("$.items[*]"), None);
        assert_eq!(top_level_key("images"), None);
    }
}
