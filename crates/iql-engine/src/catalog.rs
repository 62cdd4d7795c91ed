//! `information_schema.tables` and `information_schema.columns`, for the tools that list tables and
//! columns before they let anyone write a query (DBeaver, Metabase, Grafana's query builders): every
//! provider table, as `provider.service` / `resource`, with its columns typed as a PostgreSQL
//! client would name them; and the store's views.
//!
//! A statement that names `information_schema` gets an in-memory database of that name attached,
//! filled once per statement database from rows worked out once per engine (loading every resource
//! document takes a moment; the rows are then kept).

use std::sync::Arc;

use crate::error::EngineError;
use crate::session::Session;
use crate::sqlite::LocalDb;
use crate::value::ColumnType;

/// The rows of the two tables, for the provider tables (views are added per statement).
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    /// (schema, table)
    tables: Vec<(String, String)>,
    /// (schema, table, column, position, data type)
    columns: Vec<(String, String, String, i64, &'static str)>,
}

/// The PostgreSQL name of a column's type (an expression's is text).
fn pg_type(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Integer => "bigint",
        ColumnType::Real => "double precision",
        ColumnType::Boolean => "boolean",
        ColumnType::Json => "jsonb",
        ColumnType::Text | ColumnType::Any => "text",
    }
}

fn build(session: &Session) -> Catalog {
    let registry = session.registry();
    let mut c = Catalog::default();
    for p in registry.provider_names() {
        let Ok(provider) = registry.provider(p) else {
            continue;
        };
        for s in provider.services.keys() {
            let Ok(index) = provider.index(s) else {
                continue;
            };
            let schema = format!("{p}.{s}");
            for r in &index.resources {
                c.tables.push((schema.clone(), r.name.clone()));
                let Ok(resource) = provider.resource(s, &r.name) else {
                    continue;
                };
                for (i, col) in resource.select_columns().iter().enumerate() {
                    c.columns.push((
                        schema.clone(),
                        r.name.clone(),
                        col.name.clone(),
                        i as i64 + 1,
                        pg_type(ColumnType::of(col.schema.kind())),
                    ));
                }
            }
        }
    }
    c
}

fn sql_error(e: rusqlite::Error) -> EngineError {
    EngineError::Sqlite {
        message: e.to_string(),
    }
}

impl Session {
    /// Attaches and fills `information_schema` in the statement's database.
    pub(crate) fn attach_catalog(&self, db: &mut LocalDb) -> Result<(), EngineError> {
        let catalog: Arc<Catalog> = self.engine().catalog(|| build(self));
        let conn = &db.conn;
        let attached: bool = conn
            .query_row(
                "SELECT count(*) FROM pragma_database_list WHERE name = 'information_schema'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(sql_error)?
            > 0;
        if !attached {
            conn.execute_batch(
                "ATTACH DATABASE ':memory:' AS information_schema;
                 CREATE TABLE information_schema.tables (table_catalog TEXT, table_schema TEXT, table_name TEXT, table_type TEXT);
                 CREATE TABLE information_schema.columns (table_catalog TEXT, table_schema TEXT, table_name TEXT, column_name TEXT, ordinal_position INTEGER, data_type TEXT, is_nullable TEXT);",
            )
            .map_err(sql_error)?;
            let tx = conn.unchecked_transaction().map_err(sql_error)?;
            {
                let mut t = tx
                    .prepare("INSERT INTO information_schema.tables VALUES ('iql', ?1, ?2, 'BASE TABLE')")
                    .map_err(sql_error)?;
                for (schema, table) in &catalog.tables {
                    t.execute([schema, table]).map_err(sql_error)?;
                }
                let mut c = tx
                    .prepare("INSERT INTO information_schema.columns VALUES ('iql', ?1, ?2, ?3, ?4, ?5, 'YES')")
                    .map_err(sql_error)?;
                for (schema, table, column, position, kind) in &catalog.columns {
                    c.execute(rusqlite::params![schema, table, column, position, kind])
                        .map_err(sql_error)?;
                }
            }
            tx.commit().map_err(sql_error)?;
        }
        // Views change while the engine runs: they are written afresh for each statement.
        conn.execute_batch(
            "DELETE FROM information_schema.tables WHERE table_type = 'VIEW';
             DELETE FROM information_schema.columns WHERE table_schema = 'public';",
        )
        .map_err(sql_error)?;
        if let Ok(store) = self.engine().store() {
            for v in store.views()? {
                conn.execute(
                    "INSERT INTO information_schema.tables VALUES ('iql', 'public', ?1, 'VIEW')",
                    [&v.name],
                )
                .map_err(sql_error)?;
                if v.materialized {
                    for (i, col) in store.columns_of(&v.name)?.iter().enumerate() {
                        conn.execute(
                            "INSERT INTO information_schema.columns VALUES ('iql', 'public', ?1, ?2, ?3, ?4, 'YES')",
                            rusqlite::params![
                                v.name,
                                col.name,
                                i as i64 + 1,
                                pg_type(col.column_type)
                            ],
                        )
                        .map_err(sql_error)?;
                    }
                }
            }
        }
        Ok(())
    }
}
