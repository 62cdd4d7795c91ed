//! PostgreSQL's mathematical functions, which the bundled SQLite is built without: Grafana's
//! `$__timeGroup` is `floor(extract(epoch from t)/3600)*3600`, and dashboards round and scale.
//!
//! Types follow PostgreSQL's: an integer stays an integer where PostgreSQL keeps one
//! (`floor(7)`, `mod(7, 2)`), a real gives a real; a value that is no number is an error that
//! names it, never a silent 0.

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};
use rusqlite::Connection;

type FnResult<T> = rusqlite::Result<T>;

fn user_error(message: String) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(message.into())
}

/// A number argument: `None` for NULL.
enum Number {
    Integer(i64),
    Real(f64),
}

fn number(ctx: &Context<'_>, i: usize, function: &str) -> FnResult<Option<Number>> {
    Ok(match ctx.get_raw(i) {
        ValueRef::Null => None,
        ValueRef::Integer(n) => Some(Number::Integer(n)),
        ValueRef::Real(r) => Some(Number::Real(r)),
        ValueRef::Text(t) => {
            let text = String::from_utf8_lossy(t);
            let trimmed = text.trim();
            match trimmed.parse::<i64>() {
                Ok(n) => Some(Number::Integer(n)),
                Err(_) => Some(Number::Real(trimmed.parse::<f64>().map_err(|_| {
                    user_error(format!(
                        "function {function}: invalid input syntax for type double precision: \"{text}\""
                    ))
                })?)),
            }
        }
        ValueRef::Blob(_) => {
            return Err(user_error(format!(
                "function {function} does not take a binary value"
            )))
        }
    })
}

fn real(n: Number) -> f64 {
    match n {
        Number::Integer(i) => i as f64,
        Number::Real(r) => r,
    }
}

fn finite(value: f64, function: &str) -> FnResult<Value> {
    if value.is_nan() {
        Err(user_error(format!(
            "function {function}: the result is not a number"
        )))
    } else {
        Ok(Value::Real(value))
    }
}

/// Registers the functions in `conn`.
pub(crate) fn register(conn: &Connection) -> FnResult<()> {
    let pure = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    // Rounding: an integer is its own floor.
    type Rounding = fn(f64) -> f64;
    let roundings: [(&str, Rounding); 4] = [
        ("floor", f64::floor),
        ("ceil", f64::ceil),
        ("ceiling", f64::ceil),
        ("trunc", f64::trunc),
    ];
    for (name, round) in roundings {
        conn.create_scalar_function(name, 1, pure, move |ctx| {
            Ok(match number(ctx, 0, name)? {
                None => Value::Null,
                Some(Number::Integer(i)) => Value::Integer(i),
                Some(Number::Real(r)) => Value::Real(round(r)),
            })
        })?;
    }
    conn.create_scalar_function("trunc", 2, pure, |ctx| {
        let (Some(x), Some(places)) = (number(ctx, 0, "trunc")?, number(ctx, 1, "trunc")?) else {
            return Ok(Value::Null);
        };
        let scale = 10f64.powi(real(places) as i32);
        finite((real(x) * scale).trunc() / scale, "trunc")
    })?;
    type Unary = fn(f64) -> f64;
    let unary: [(&str, Unary); 8] = [
        ("sqrt", f64::sqrt),
        ("cbrt", f64::cbrt),
        ("exp", f64::exp),
        ("ln", f64::ln),
        ("log10", f64::log10),
        ("degrees", f64::to_degrees),
        ("radians", f64::to_radians),
        ("log", f64::log10),
    ];
    for (name, f) in unary {
        conn.create_scalar_function(name, 1, pure, move |ctx| {
            let Some(x) = number(ctx, 0, name)? else {
                return Ok(Value::Null);
            };
            let x = real(x);
            if matches!(name, "ln" | "log" | "log10") && x <= 0.0 {
                return Err(user_error(if x == 0.0 {
                    "cannot take logarithm of zero".to_string()
                } else {
                    "cannot take logarithm of a negative number".to_string()
                }));
            }
            if name == "sqrt" && x < 0.0 {
                return Err(user_error(
                    "cannot take square root of a negative number".to_string(),
                ));
            }
            finite(f(x), name)
        })?;
    }
    // log(b, x): the logarithm of x to base b.
    conn.create_scalar_function("log", 2, pure, |ctx| {
        let (Some(b), Some(x)) = (number(ctx, 0, "log")?, number(ctx, 1, "log")?) else {
            return Ok(Value::Null);
        };
        let (b, x) = (real(b), real(x));
        if b <= 0.0 || x <= 0.0 {
            return Err(user_error(
                "cannot take logarithm of zero or a negative number".to_string(),
            ));
        }
        finite(x.ln() / b.ln(), "log")
    })?;
    for name in ["power", "pow"] {
        conn.create_scalar_function(name, 2, pure, move |ctx| {
            let (Some(x), Some(y)) = (number(ctx, 0, name)?, number(ctx, 1, name)?) else {
                return Ok(Value::Null);
            };
            finite(real(x).powf(real(y)), name)
        })?;
    }
    conn.create_scalar_function("mod", 2, pure, |ctx| {
        let (Some(x), Some(y)) = (number(ctx, 0, "mod")?, number(ctx, 1, "mod")?) else {
            return Ok(Value::Null);
        };
        match (x, y) {
            (_, b) if is_zero(&b) => Err(user_error("division by zero".to_string())),
            (Number::Integer(a), Number::Integer(b)) => Ok(Value::Integer(a.wrapping_rem(b))),
            (a, b) => finite(real(a) % real(b), "mod"),
        }
    })?;
    // div(x, y): the integer quotient, toward zero.
    conn.create_scalar_function("div", 2, pure, |ctx| {
        let (Some(x), Some(y)) = (number(ctx, 0, "div")?, number(ctx, 1, "div")?) else {
            return Ok(Value::Null);
        };
        let (x, y) = (real(x), real(y));
        if y == 0.0 {
            return Err(user_error("division by zero".to_string()));
        }
        Ok(Value::Integer((x / y).trunc() as i64))
    })?;
    conn.create_scalar_function("sign", 1, pure, |ctx| {
        Ok(match number(ctx, 0, "sign")? {
            None => Value::Null,
            Some(Number::Integer(i)) => Value::Integer(i.signum()),
            // f64's signum of 0 is 1; PostgreSQL's is 0.
            Some(Number::Real(r)) => Value::Real(if r == 0.0 { 0.0 } else { r.signum() }),
        })
    })?;
    conn.create_scalar_function("pi", 0, pure, |_| Ok(std::f64::consts::PI))?;
    Ok(())
}

fn is_zero(n: &Number) -> bool {
    match n {
        Number::Integer(i) => *i == 0,
        Number::Real(r) => *r == 0.0,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn one(conn: &Connection, sql: &str) -> Result<String, String> {
        conn.query_row(sql, [], |r| {
            Ok(match r.get_ref(0)? {
                ValueRef::Null => "NULL".to_string(),
                ValueRef::Integer(i) => format!("{i}"),
                ValueRef::Real(f) => format!("{f}"),
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                ValueRef::Blob(_) => "blob".to_string(),
            })
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn rounding_keeps_postgres_types_and_refuses_what_is_no_number() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        assert_eq!(one(&conn, "SELECT floor(7)").unwrap(), "7");
        assert_eq!(
            one(&conn, "SELECT floor(1609502081 / 86400.0) * 86400").unwrap(),
            "1609459200"
        );
        assert_eq!(
            one(&conn, "SELECT ceil(-1.5), trunc(2.71828, 2)").unwrap(),
            "-1"
        );
        assert_eq!(one(&conn, "SELECT trunc(2.71828, 2)").unwrap(), "2.71");
        assert_eq!(one(&conn, "SELECT mod(7, 3)").unwrap(), "1");
        assert_eq!(one(&conn, "SELECT div(7.5, 2)").unwrap(), "3");
        assert_eq!(one(&conn, "SELECT log(100)").unwrap(), "2");
        assert_eq!(one(&conn, "SELECT log(2, 8)").unwrap(), "3");
        assert_eq!(one(&conn, "SELECT power(2, 10)").unwrap(), "1024");
        assert_eq!(one(&conn, "SELECT floor(NULL)").unwrap(), "NULL");
        assert!(one(&conn, "SELECT floor('abc')")
            .unwrap_err()
            .contains("invalid input syntax for type double precision: \"abc\""));
        assert!(one(&conn, "SELECT mod(1, 0)")
            .unwrap_err()
            .contains("division by zero"));
        assert!(one(&conn, "SELECT ln(0)")
            .unwrap_err()
            .contains("logarithm of zero"));
        assert!(one(&conn, "SELECT sqrt(-1)")
            .unwrap_err()
            .contains("square root"));
    }
}
