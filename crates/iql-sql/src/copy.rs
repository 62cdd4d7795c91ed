//! `COPY (SELECT …) TO STDOUT` and `COPY table [(columns)] TO STDOUT`, in text or CSV: what
//! psql's `\copy … TO 'file.csv' CSV HEADER` sends. The query is an ordinary iql query; `iql
//! serve` streams its rows to the client as COPY data. Copying *from* a client, or to a file or a
//! program on the server, is refused: iql writes no server file and runs no program.

use sqlparser::ast::{self, CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource};

use crate::error::SqlError;
use crate::query::QueryStatement;
use crate::split::StatementText;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    /// PostgreSQL's text format: tab-separated, `\N` for NULL, backslash escapes.
    Text,
    Csv,
}

#[derive(Debug, Clone)]
pub struct CopyStatement {
    pub query: Box<QueryStatement>,
    pub format: CopyFormat,
    pub header: bool,
    pub delimiter: char,
    /// How NULL is written: `\N` in text, nothing in CSV, unless `NULL '…'` says.
    pub null: String,
    pub quote: char,
}

impl CopyStatement {
    /// One row as COPY writes it (without the line end).
    pub fn line<'a>(&self, values: impl Iterator<Item = Option<&'a str>>) -> String {
        let mut out = String::new();
        for (i, v) in values.enumerate() {
            if i > 0 {
                out.push(self.delimiter);
            }
            match (v, self.format) {
                (None, _) => out.push_str(&self.null),
                (Some(s), CopyFormat::Text) => {
                    for c in s.chars() {
                        match c {
                            '\\' => out.push_str("\\\\"),
                            '\n' => out.push_str("\\n"),
                            '\r' => out.push_str("\\r"),
                            '\t' => out.push_str("\\t"),
                            c if c == self.delimiter => {
                                out.push('\\');
                                out.push(c);
                            }
                            c => out.push(c),
                        }
                    }
                }
                (Some(s), CopyFormat::Csv) => {
                    let needs_quotes = s.is_empty()
                        || s == self.null
                        || s.contains([self.delimiter, self.quote, '\n', '\r']);
                    if needs_quotes {
                        out.push(self.quote);
                        for c in s.chars() {
                            if c == self.quote {
                                out.push(c);
                            }
                            out.push(c);
                        }
                        out.push(self.quote);
                    } else {
                        out.push_str(s);
                    }
                }
            }
        }
        out
    }
}

pub(crate) fn parse(
    statement: ast::Statement,
    source: &StatementText,
) -> Result<CopyStatement, SqlError> {
    let refuse = |message: &str| SqlError::new(source.line, source.column, message);
    let ast::Statement::Copy {
        source: from,
        to,
        target,
        options,
        legacy_options,
        ..
    } = statement
    else {
        return Err(refuse("not a COPY statement"));
    };
    if !to {
        return Err(refuse(
            "COPY … FROM is not supported: iql changes cloud resources with INSERT, UPDATE and DELETE",
        ));
    }
    if !matches!(target, ast::CopyTarget::Stdout) {
        return Err(refuse(
            "COPY writes only TO STDOUT: iql writes no file and runs no program on the server (psql's \\copy … TO 'file' writes the file on your side)",
        ));
    }
    let query = match from {
        CopySource::Query(q) => q,
        CopySource::Table {
            table_name,
            columns,
        } => {
            let list = if columns.is_empty() {
                "*".to_string()
            } else {
                columns
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut table_name = table_name;
            if let (Some(provider), 2) = (&source.default_provider, table_name.0.len()) {
                table_name.0.insert(
                    0,
                    ast::ObjectNamePart::Identifier(ast::Ident::new(provider.clone())),
                );
            }
            let sql = format!("SELECT {list} FROM {table_name}");
            let mut statements =
                sqlparser::parser::Parser::parse_sql(&crate::IqlDialect::default(), &sql)
                    .map_err(|e| refuse(&e.to_string()))?;
            match statements.pop() {
                Some(ast::Statement::Query(q)) => q,
                _ => return Err(refuse("COPY needs a table or a query")),
            }
        }
    };
    let mut copy = CopyStatement {
        query: Box::new(crate::query::from_query(query, source)?),
        format: CopyFormat::Text,
        header: false,
        delimiter: '\t',
        null: "\\N".to_string(),
        quote: '"',
    };
    let mut delimiter = None;
    let mut null = None;
    for o in options {
        match o {
            CopyOption::Format(f) => {
                copy.format = match f.value.to_lowercase().as_str() {
                    "csv" => CopyFormat::Csv,
                    "text" => CopyFormat::Text,
                    other => {
                        return Err(refuse(&format!(
                            "COPY FORMAT {other} is not supported: text or csv"
                        )))
                    }
                }
            }
            CopyOption::Header(h) => copy.header = h,
            CopyOption::Delimiter(d) => delimiter = Some(d),
            CopyOption::Null(n) => null = Some(n),
            CopyOption::Quote(q) => copy.quote = q,
            other => {
                return Err(refuse(&format!("COPY option {other} is not supported")));
            }
        }
    }
    for o in legacy_options {
        match o {
            CopyLegacyOption::Csv(csv) => {
                copy.format = CopyFormat::Csv;
                for c in csv {
                    match c {
                        CopyLegacyCsvOption::Header => copy.header = true,
                        CopyLegacyCsvOption::Quote(q) => copy.quote = q,
                        other => {
                            return Err(refuse(&format!("COPY option {other} is not supported")))
                        }
                    }
                }
            }
            CopyLegacyOption::Header => copy.header = true,
            CopyLegacyOption::Delimiter(d) => delimiter = Some(d),
            CopyLegacyOption::Null(n) => null = Some(n),
            other => return Err(refuse(&format!("COPY option {other} is not supported"))),
        }
    }
    if copy.header && copy.format == CopyFormat::Text {
        return Err(refuse("COPY HEADER is available only in CSV mode"));
    }
    if copy.format == CopyFormat::Csv {
        copy.delimiter = ',';
        copy.null = String::new();
    }
    if let Some(d) = delimiter {
        copy.delimiter = d;
    }
    if let Some(n) = null {
        copy.null = n;
    }
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(sql: &str) -> CopyStatement {
        match crate::parse_script(sql)
            .expect("parses")
            .pop()
            .map(|p| p.statement)
        {
            Some(crate::Statement::Copy(c)) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn text_and_csv_as_postgresql_writes_them() {
        let text = copy("COPY (SELECT 1) TO STDOUT");
        assert_eq!(
            text.line([Some("a\tb"), None, Some("c\\d")].into_iter()),
            "a\\tb\t\\N\tc\\\\d"
        );
        let csv = copy("COPY (SELECT 1) TO STDOUT WITH (FORMAT csv, HEADER true)");
        assert!(csv.header);
        assert_eq!(
            csv.line([Some("a,b"), None, Some("say \"hi\""), Some("")].into_iter()),
            "\"a,b\",,\"say \"\"hi\"\"\",\"\""
        );
        let legacy = copy("COPY digitalocean.compute.images (id, name) TO STDOUT CSV HEADER");
        assert!(legacy.header && legacy.format == CopyFormat::Csv);
        assert_eq!(legacy.query.tables.len(), 1);
    }

    #[test]
    fn what_iql_does_not_do_is_refused() {
        for (sql, says) in [
            ("COPY t FROM STDIN", "COPY … FROM is not supported"),
            ("COPY (SELECT 1) TO '/tmp/x'", "TO STDOUT"),
            (
                "COPY (SELECT 1) TO STDOUT WITH (FORMAT binary)",
                "FORMAT binary",
            ),
        ] {
            let e = crate::parse_script(sql).expect_err(sql);
            assert!(e.message.contains(says), "{sql}: {e}");
        }
    }
}
