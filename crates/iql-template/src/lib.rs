//! `.iql` files and `--var`: SQL templates rendered with minijinja.
//!
//! Every `{{ … }}` is first classified by where it stands in the SQL: inside a single-quoted string
//! literal, a value is escaped (`'` doubled), so `--var name="o'brien"` stays one value; outside
//! one, only numbers, booleans and plain names are accepted, since anything else could change the
//! statement. An undefined variable is an error that names it and its line.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior, Value};

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("undefined variable '{name}' on line {line}: pass --var {name}=… or put it in a --vars file")]
    Undefined { name: String, line: usize },
    #[error("template error{}: {message}", line.map(|l| format!(" on line {l}")).unwrap_or_default())]
    Render {
        line: Option<usize>,
        message: String,
    },
    #[error("--vars {file}: {message}")]
    VarsFile { file: String, message: String },
    #[error("--var takes name=value, got '{0}'")]
    BadVar(String),
}

/// Variables from `--vars FILE` (JSON or YAML mapping) and `--var name=value` (later wins).
pub fn load_vars(
    files: &[String],
    pairs: &[String],
) -> Result<BTreeMap<String, serde_json::Value>, TemplateError> {
    let mut vars = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| TemplateError::VarsFile {
            file: file.clone(),
            message: e.to_string(),
        })?;
        let parsed: serde_json::Value = if file.ends_with(".json") {
            serde_json::from_str(&text).map_err(|e| TemplateError::VarsFile {
                file: file.clone(),
                message: e.to_string(),
            })?
        } else {
            serde_yaml::from_str(&text).map_err(|e| TemplateError::VarsFile {
                file: file.clone(),
                message: e.to_string(),
            })?
        };
        let serde_json::Value::Object(map) = parsed else {
            return Err(TemplateError::VarsFile {
                file: file.clone(),
                message: "expected a mapping of names to values".to_string(),
            });
        };
        vars.extend(map);
    }
    for pair in pairs {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| TemplateError::BadVar(pair.clone()))?;
        vars.insert(
            k.trim().to_string(),
            serde_json::Value::String(v.to_string()),
        );
    }
    Ok(vars)
}

/// Rewrites each `{{ expr }}` as `{{ (expr) | sql_literal }}` inside string literals and
/// `{{ (expr) | sql_bare }}` outside them. Quotes in `--` and `/* */` comments do not count.
fn classify(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 64);
    let mut in_quote = false;
    let mut rest = src;
    while !rest.is_empty() {
        if rest.starts_with("{{") {
            if let Some(end) = rest.find("}}") {
                let inner = rest[2..end]
                    .trim()
                    .trim_start_matches('-')
                    .trim_end_matches('-')
                    .trim();
                let filter = if in_quote { "sql_literal" } else { "sql_bare" };
                out.push_str(&format!("{{{{ ({inner}) | {filter} }}}}"));
                rest = &rest[end + 2..];
                continue;
            }
        }
        for (open, close) in [("{%", "%}"), ("{#", "#}")] {
            if rest.starts_with(open) {
                if let Some(end) = rest.find(close) {
                    out.push_str(&rest[..end + 2]);
                    rest = &rest[end + 2..];
                }
            }
        }
        if !in_quote && rest.starts_with("--") {
            let end = rest.find('\n').unwrap_or(rest.len());
            // A template expression inside a comment is still rendered, as text.
            out.push_str(&rest[..end].replace("{{", "{{ '{{' }}"));
            rest = &rest[end..];
            continue;
        }
        if !in_quote && rest.starts_with("/*") {
            let end = rest.find("*/").map(|e| e + 2).unwrap_or(rest.len());
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            continue;
        }
        let Some(c) = rest.chars().next() else { break };
        if c == '\'' {
            in_quote = !in_quote;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn sql_literal(v: Value) -> Result<String, minijinja::Error> {
    let text = if let Some(s) = v.as_str() {
        s.to_string()
    } else if v.kind() == minijinja::value::ValueKind::Seq
        || v.kind() == minijinja::value::ValueKind::Map
    {
        serde_json::to_string(&v).map_err(|e| {
            minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
        })?
    } else {
        v.to_string()
    };
    Ok(text.replace('\'', "''"))
}

fn sql_bare(v: Value) -> Result<String, minijinja::Error> {
    let text = v.to_string();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':'));
    if plain && !text.starts_with('-') || text.parse::<f64>().is_ok() {
        Ok(text)
    } else {
        Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("the value {text:?} is used outside a quoted string, where only numbers, true/false and plain names are allowed; write it inside quotes: '{{{{ … }}}}'"),
        ))
    }
}

fn line_of(src: &str, name: &str) -> usize {
    src.lines()
        .position(|l| {
            l.match_indices("{{").any(|(i, _)| {
                l[i + 2..]
                    .trim_start_matches('-')
                    .trim_start()
                    .strip_prefix(name)
                    .is_some_and(|r| !r.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
            })
        })
        .map(|i| i + 1)
        .unwrap_or(1)
}

/// Renders `src` with `vars`. Text without `{{`/`{%` is returned as it is.
pub fn render(
    src: &str,
    vars: &BTreeMap<String, serde_json::Value>,
) -> Result<String, TemplateError> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    if !src.contains("{{") && !src.contains("{%") {
        return Ok(src.to_string());
    }
    let prepared = classify(src);
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.add_filter("sql_literal", sql_literal);
    env.add_filter("sql_bare", sql_bare);
    let render_error = |e: minijinja::Error| TemplateError::Render {
        line: e.line(),
        message: e
            .detail()
            .map(str::to_string)
            .unwrap_or_else(|| e.to_string()),
    };
    let tmpl = env.template_from_str(&prepared).map_err(render_error)?;
    let mut undefined: Vec<String> = tmpl
        .undeclared_variables(false)
        .into_iter()
        .filter(|n| !vars.contains_key(n))
        .collect();
    undefined.sort_by_key(|n| line_of(src, n));
    if let Some(name) = undefined.into_iter().next() {
        return Err(TemplateError::Undefined {
            line: line_of(src, &name),
            name,
        });
    }
    tmpl.render(Value::from_serialize(vars))
        .map_err(render_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, serde_json::Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect()
    }

    #[test]
    fn a_quote_in_a_value_stays_inside_its_literal() {
        let sql = render(
            "SELECT * FROM t WHERE name = '{{ name }}' LIMIT {{ n }}",
            &vars(&[("name", "o'brien' OR '1'='1"), ("n", "5")]),
        )
        .unwrap();
        assert_eq!(
            sql,
            "SELECT * FROM t WHERE name = 'o''brien'' OR ''1''=''1' LIMIT 5"
        );
    }

    #[test]
    fn values_outside_quotes_must_be_plain() {
        let err = render("SELECT {{ x }}", &vars(&[("x", "1; DELETE")])).unwrap_err();
        assert!(
            err.to_string().contains("used outside a quoted string"),
            "{err}"
        );
        assert_eq!(
            render("SELECT {{ x }}", &vars(&[("x", "2.5")])).unwrap(),
            "SELECT 2.5"
        );
    }

    #[test]
    fn undefined_variables_are_named_with_their_line() {
        let err = render("SELECT 1\nFROM t\nWHERE a = '{{ image_id }}'", &vars(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "undefined variable 'image_id' on line 3: pass --var image_id=… or put it in a --vars file"
        );
    }

    #[test]
    fn comments_do_not_flip_quotes_and_arrays_become_json() {
        let mut v = vars(&[("a", "x")]);
        v.insert("tags".into(), serde_json::json!(["base", "prod"]));
        let sql = render("-- it's a comment\nSELECT '{{ a }}', '{{ tags }}'", &v).unwrap();
        assert_eq!(sql, "-- it's a comment\nSELECT 'x', '[\"base\",\"prod\"]'");
    }

    #[test]
    fn text_without_templates_is_untouched() {
        assert_eq!(
            render("SELECT '{' AS x;", &vars(&[])).unwrap(),
            "SELECT '{' AS x;"
        );
    }
}
