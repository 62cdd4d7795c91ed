//! Rendering results: aligned tables for people, JSON and CSV for programs.

use std::io::Write;

use comfy_table::{presets, Cell as TableCell, CellAlignment, Table};
use iql::{Cell, ColumnType, QueryResult};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

pub fn write(out: &mut dyn Write, format: Format, result: &QueryResult) -> std::io::Result<()> {
    match format {
        Format::Table => write_table(out, result),
        Format::Json => write_json(out, result),
        Format::Csv => write_csv(out, result),
    }
}

fn write_table(out: &mut dyn Write, result: &QueryResult) -> std::io::Result<()> {
    let mut table = Table::new();
    table.load_preset(presets::ASCII_MARKDOWN);
    table.set_header(result.columns.iter().map(|c| c.name.clone()));
    for row in &result.rows {
        table.add_row(row.iter().zip(&result.columns).map(|(cell, col)| {
            let c = TableCell::new(cell.to_string());
            let numeric = matches!(cell, Cell::Integer(_) | Cell::Real(_))
                || matches!(col.column_type, ColumnType::Integer | ColumnType::Real);
            if numeric && !matches!(cell, Cell::Null) {
                c.set_alignment(CellAlignment::Right)
            } else {
                c
            }
        }));
    }
    writeln!(out, "{table}")
}

fn write_json(out: &mut dyn Write, result: &QueryResult) -> std::io::Result<()> {
    let rows: Vec<Value> = result
        .rows
        .iter()
        .map(|row| {
            let mut obj = Map::new();
            for (col, cell) in result.columns.iter().zip(row) {
                obj.insert(col.name.clone(), cell.to_json());
            }
            Value::Object(obj)
        })
        .collect();
    serde_json::to_writer(&mut *out, &Value::Array(rows))?;
    writeln!(out)
}

fn write_csv(out: &mut dyn Write, result: &QueryResult) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(result.columns.iter().map(|c| c.name.as_str()))?;
    for row in &result.rows {
        w.write_record(row.iter().map(|c| match c {
            Cell::Null => String::new(),
            other => other.to_string(),
        }))?;
    }
    w.flush()
}
