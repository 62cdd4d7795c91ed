//! Rendering results: aligned tables for people; JSON, JSON lines, CSV and tab-separated text for
//! programs. Numbers stay numbers and JSON columns stay JSON in `json`/`jsonl`.

use std::io::Write;

use comfy_table::{presets, Cell as TableCell, CellAlignment, Table};
use iql::{Cell, ColumnType, QueryResult};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns with a header; NULL shown as `null`.
    Table,
    /// One JSON array of row objects per statement.
    Json,
    /// One JSON object per row.
    Jsonl,
    /// RFC 4180 CSV with a header row.
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

fn write_table(out: &mut dyn Write, headers: bool, result: &QueryResult) -> std::io::Result<()> {
    let mut table = Table::new();
    table.load_preset(presets::ASCII_MARKDOWN);
    if headers {
        table.set_header(result.columns.iter().map(|c| c.name.clone()));
    }
    for row in &result.rows {
        table.add_row(row.iter().zip(&result.columns).map(|(cell, col)| {
            let c = TableCell::new(cell.to_string());
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
    let clean = |s: String| s.replace(['\t', '\n'], " ");
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
