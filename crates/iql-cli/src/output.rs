//! Rendering results: aligned tables for people; JSON, JSON lines, CSV and tab-separated text for
//! programs. Numbers stay numbers and JSON columns stay JSON in `json`/`jsonl`.
//!
//! Values come from an API, so they may hold anything. In `table` and `text` output, which go to a
//! terminal, control characters are shown as escapes (`\x1b`, `\t`, `\u{202e}`): a name holding
//! `ESC[31m`, `ESC]0;title` or BEL must not recolour, retitle or beep at the user's terminal. In a
//! table a newline starts a new line of the cell and the lines after it are marked `↳`; in `text`
//! (one row per line) it is shown as `\n`. `json` and `csv` carry values exactly: their readers
//! are programs, and both formats quote what needs quoting.

use std::io::Write;

use comfy_table::{presets, Cell as TableCell, CellAlignment, Table};
use iql::{Cell, ColumnType, QueryResult};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns with a header; NULL shown as `null`.
    Table,
    /// An array of row objects; several statements: one array of their arrays.
    Json,
    /// One JSON object per row.
    Jsonl,
    /// RFC 4180 CSV with a header row: one table per command.
    Csv,
    /// Tab-separated values, NULL as an empty field.
    Text,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "table" => Format::Table,
            "json" => Format::Json,
            "jsonl" => Format::Jsonl,
            "csv" => Format::Csv,
            "text" => Format::Text,
            _ => return None,
        })
    }
}

pub fn write(
    out: &mut dyn Write,
    format: Format,
    headers: bool,
    result: &QueryResult,
) -> std::io::Result<()> {
    match format {
        Format::Table => write_table(out, headers, result),
        Format::Json => write_json(out, result),
        Format::Jsonl => write_jsonl(out, result),
        Format::Csv => write_csv(out, headers, result),
        Format::Text => write_text(out, headers, result),
    }
}

/// Text with its control characters made visible: `\t`, `\n`, `\r`, `\x1b`, `\u{202e}`. With
/// `keep_newlines`, a newline stays a line break.
pub fn visible(text: &str, keep_newlines: bool) -> String {
    if !text.chars().any(needs_escape) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x100 && needs_escape(c) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// C0 and C1 controls, DEL, and the Unicode controls that reorder text on screen.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A table cell's text: control characters escaped, and the lines after a newline marked.
fn table_text(text: &str) -> String {
    visible(text, true).replace('\n', "\n↳ ")
}

fn write_table(out: &mut dyn Write, headers: bool, result: &QueryResult) -> std::io::Result<()> {
    let mut table = Table::new();
    table.load_preset(presets::ASCII_MARKDOWN);
    if headers {
        table.set_header(result.columns.iter().map(|c| table_text(&c.name)));
    }
    for row in &result.rows {
        table.add_row(row.iter().zip(&result.columns).map(|(cell, col)| {
            let c = TableCell::new(table_text(&cell.to_string()));
            let numeric = matches!(cell, Cell::Integer(_) | Cell::Real(_))
                || (matches!(col.column_type, ColumnType::Integer | ColumnType::Real)
                    && !matches!(cell, Cell::Null));
            if numeric {
                c.set_alignment(CellAlignment::Right)
            } else {
                c
            }
        }));
    }
    writeln!(out, "{table}")
}

/// psql's expanded display: one block per row, a line per column (`name | value`), for rows too
/// wide for the screen.
pub fn write_expanded(out: &mut dyn Write, result: &QueryResult) -> std::io::Result<()> {
    let names: Vec<String> = result.columns.iter().map(|c| table_text(&c.name)).collect();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    for (i, row) in result.rows.iter().enumerate() {
        writeln!(
            out,
            "-[ RECORD {} ]{}",
            i + 1,
            "-".repeat(width.saturating_sub(4).max(2))
        )?;
        for (name, cell) in names.iter().zip(row) {
            let value =
                visible(&cell.to_string(), true).replace('\n', &format!("\n{:width$} | ", ""));
            writeln!(out, "{name:width$} | {value}")?;
        }
    }
    if result.rows.is_empty() {
        writeln!(out, "(no rows)")?;
    }
    Ok(())
}

/// The aligned table as text (what `table` output writes).
pub fn table_string(headers: bool, result: &QueryResult) -> String {
    let mut buf = Vec::new();
    let _ = write_table(&mut buf, headers, result);
    String::from_utf8_lossy(&buf).into_owned()
}

fn row_object(result: &QueryResult, row: &[Cell]) -> Value {
    let mut obj = Map::new();
    for (col, cell) in result.columns.iter().zip(row) {
        obj.insert(col.name.clone(), cell.to_json());
    }
    Value::Object(obj)
}

fn write_json(out: &mut dyn Write, result: &QueryResult) -> std::io::Result<()> {
    let rows: Vec<Value> = result.rows.iter().map(|r| row_object(result, r)).collect();
    serde_json::to_writer(&mut *out, &Value::Array(rows))?;
    writeln!(out)
}

fn write_jsonl(out: &mut dyn Write, result: &QueryResult) -> std::io::Result<()> {
    for r in &result.rows {
        serde_json::to_writer(&mut *out, &row_object(result, r))?;
        writeln!(out)?;
    }
    Ok(())
}

fn field(c: &Cell) -> String {
    match c {
        Cell::Null => String::new(),
        other => other.to_string(),
    }
}

fn write_csv(out: &mut dyn Write, headers: bool, result: &QueryResult) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    if headers {
        w.write_record(result.columns.iter().map(|c| c.name.as_str()))?;
    }
    for row in &result.rows {
        w.write_record(row.iter().map(field))?;
    }
    w.flush()
}

fn write_text(out: &mut dyn Write, headers: bool, result: &QueryResult) -> std::io::Result<()> {
    let clean = |s: String| visible(&s, false);
    if headers {
        let names: Vec<String> = result
            .columns
            .iter()
            .map(|c| clean(c.name.clone()))
            .collect();
        writeln!(out, "{}", names.join("\t"))?;
    }
    for row in &result.rows {
        let cells: Vec<String> = row.iter().map(|c| clean(field(c))).collect();
        writeln!(out, "{}", cells.join("\t"))?;
    }
    Ok(())
}

/// Writes rows one at a time as they come, in the formats that need no widths (json, jsonl, csv,
/// text): what `iql exec` uses for a streamed query, so memory does not grow with the result. The
/// output is byte for byte what [`write`] gives for the whole result.
pub struct RowWriter<'w> {
    out: &'w mut dyn Write,
    format: Format,
    columns: Vec<iql::ResultColumn>,
    rows: usize,
}

impl<'w> RowWriter<'w> {
    /// `None` for `table`, which needs every row to size its columns.
    pub fn start(
        out: &'w mut dyn Write,
        format: Format,
        headers: bool,
        columns: &[iql::ResultColumn],
    ) -> std::io::Result<Option<Self>> {
        match format {
            Format::Table => return Ok(None),
            Format::Json => write!(out, "[")?,
            Format::Csv if headers => {
                let mut w = csv::Writer::from_writer(&mut *out);
                w.write_record(columns.iter().map(|c| c.name.as_str()))?;
                w.flush()?;
            }
            Format::Text if headers => {
                let names: Vec<String> = columns.iter().map(|c| visible(&c.name, false)).collect();
                writeln!(out, "{}", names.join("\t"))?;
            }
            _ => {}
        }
        Ok(Some(RowWriter {
            out,
            format,
            columns: columns.to_vec(),
            rows: 0,
        }))
    }

    pub fn row(&mut self, row: &[Cell]) -> std::io::Result<()> {
        let object = |cols: &[iql::ResultColumn]| {
            let mut obj = Map::new();
            for (col, cell) in cols.iter().zip(row) {
                obj.insert(col.name.clone(), cell.to_json());
            }
            Value::Object(obj)
        };
        match self.format {
            Format::Json => {
                if self.rows > 0 {
                    write!(self.out, ",")?;
                }
                serde_json::to_writer(&mut *self.out, &object(&self.columns))?;
            }
            Format::Jsonl => {
                serde_json::to_writer(&mut *self.out, &object(&self.columns))?;
                writeln!(self.out)?;
            }
            Format::Csv => {
                let mut w = csv::Writer::from_writer(&mut *self.out);
                w.write_record(row.iter().map(field))?;
                w.flush()?;
            }
            Format::Text => {
                let cells: Vec<String> = row.iter().map(|c| visible(&field(c), false)).collect();
                writeln!(self.out, "{}", cells.join("\t"))?;
            }
            Format::Table => {}
        }
        self.rows += 1;
        Ok(())
    }

    /// Ends the output; the rows written.
    pub fn finish(self) -> std::io::Result<usize> {
        if self.format == Format::Json {
            writeln!(self.out, "]")?;
        }
        self.out.flush()?;
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_written_one_by_one_match_the_whole_result() {
        let result = QueryResult {
            columns: vec![
                iql::ResultColumn {
                    name: "a".into(),
                    column_type: ColumnType::Text,
                },
                iql::ResultColumn {
                    name: "n".into(),
                    column_type: ColumnType::Integer,
                },
            ],
            rows: vec![
                vec![Cell::Text("x,\"y\"\tz".into()), Cell::Integer(1)],
                vec![Cell::Null, Cell::Real(1.5)],
            ],
            ..QueryResult::default()
        };
        for format in [Format::Json, Format::Jsonl, Format::Csv, Format::Text] {
            for headers in [true, false] {
                let mut whole = Vec::new();
                write(&mut whole, format, headers, &result).unwrap();
                let mut streamed = Vec::new();
                let mut w = RowWriter::start(&mut streamed, format, headers, &result.columns)
                    .unwrap()
                    .unwrap();
                for r in &result.rows {
                    w.row(r).unwrap();
                }
                assert_eq!(w.finish().unwrap(), 2);
                assert_eq!(
                    String::from_utf8(streamed).unwrap(),
                    String::from_utf8(whole).unwrap(),
                    "{format:?} headers={headers}"
                );
            }
        }
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(visible("plain é", false), "plain é");
        assert_eq!(
            visible("\u{1b}[31mred\u{7}\u{1b}]0;title\u{7}", false),
            "\\x1b[31mred\\x07\\x1b]0;title\\x07"
        );
        assert_eq!(visible("a\tb\r\nc", false), "a\\tb\\r\\nc");
        assert_eq!(visible("a\nb", true), "a\nb");
        assert_eq!(visible("\u{202e}evil\u{9b}", false), "\\u{202e}evil\\x9b");
        assert_eq!(table_text("one\ntwo\nthree"), "one\n↳ two\n↳ three");
    }
}
