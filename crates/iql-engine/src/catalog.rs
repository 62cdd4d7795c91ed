//! What iql's tables are, for the tools that list tables and columns before they let anyone
//! write a query (psql's `\d`, pgcli, DBeaver, Metabase, Grafana's query builders, SQLAlchemy's
//! inspector): every provider table with its columns typed as a PostgreSQL client would name
//! them, and the store's views. Two catalogs are made from these same rows, so they always agree:
//! `information_schema` (here) and `pg_catalog` (`pg_catalog.rs`).
//!
//! Names: a provider table is `provider.service.resource`; in the catalogs its schema is
//! `provider.service` (`"digitalocean.compute"."images"`), or just the service when the client
//! connected to the provider's database (`psql -d digitalocean`: `compute.images`, so psql's
//! `\d digitalocean.compute.images` finds it). Views are in `public`.
//!
//! A statement that names a catalog gets an in-memory database of that name attached, filled
//! once per statement database from rows worked out once per engine (loading every resource
//! document takes a moment; the rows are then kept). Views change while the engine runs: their
//! rows are written afresh for each statement.

use std::sync::Arc;

use crate::error::EngineError;
use crate::session::Session;
use crate::sqlite::LocalDb;
use crate::value::ColumnType;

/// The provider tables, worked out once per engine.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    pub tables: Vec<CatalogTable>,
}

#[derive(Debug)]
pub(crate) struct CatalogTable {
    pub provider: String,
    pub service: String,
    pub name: String,
    pub description: Option<String>,
    pub columns: Vec<CatalogColumn>,
}

#[derive(Debug)]
pub(crate) struct CatalogColumn {
    pub name: String,
    pub column_type: ColumnType,
    pub description: Option<String>,
}

impl CatalogTable {
    /// The table's schema as a client connected to `database` sees it.
    pub fn schema(&self, database: &str) -> String {
        schema_name(&self.provider, &self.service, database)
    }
}

/// `provider.service`, or `service` in the provider's own database.
pub(crate) fn schema_name(provider: &str, service: &str, database: &str) -> String {
    if provider == database {
        service.to_string()
    } else {
        format!("{provider}.{service}")
    }
}

/// The PostgreSQL name of a column's type (an expression's is text).
pub(crate) fn pg_type(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Integer => "bigint",
        ColumnType::Real => "double precision",
        ColumnType::Boolean => "boolean",
        ColumnType::Json => "jsonb",
        ColumnType::Timestamp => "timestamp with time zone",
        ColumnType::Date => "date",
        ColumnType::Text | ColumnType::Any => "text",
    }
}

/// The oid of a column type in `pg_type`.
pub(crate) fn pg_type_oid(t: ColumnType) -> i64 {
    match t {
        ColumnType::Integer => 20,
        ColumnType::Real => 701,
        ColumnType::Boolean => 16,
        ColumnType::Json => 3802,
        ColumnType::Timestamp => 1184,
        ColumnType::Date => 1082,
        ColumnType::Text | ColumnType::Any => 25,
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
            for r in &index.resources {
                let mut table = CatalogTable {
                    provider: p.to_string(),
                    service: s.clone(),
                    name: r.name.clone(),
                    description: None,
                    columns: Vec::new(),
                };
                if let Ok(resource) = provider.resource(s, &r.name) {
                    // What a SELECT of it does ("List All Images": the method that needs
                    // nothing, else the first), else its title.
                    let selects = resource.methods_for(iql_provider::SqlVerb::Select);
                    table.description = selects
                        .iter()
                        .filter(|m| m.params.iter().all(|p| !p.required))
                        .chain(selects.iter())
                        .find_map(|m| m.summary.clone())
                        .or_else(|| resource.title.clone());
                    table.columns = resource
                        .select_columns()
                        .iter()
                        .map(|col| CatalogColumn {
                            name: col.name.clone(),
                            column_type: ColumnType::of(col.schema.kind()),
                            description: col.schema.description.clone(),
                        })
                        .collect();
                }
                c.tables.push(table);
            }
        }
    }
    c
}

pub(crate) fn sql_error(e: rusqlite::Error) -> EngineError {
    EngineError::Sqlite {
        message: e.to_string(),
    }
}

/// Whether `db` has a database attached as `name`.
pub(crate) fn attached(db: &LocalDb, name: &str) -> Result<bool, EngineError> {
    Ok(db
        .conn
        .query_row(
            "SELECT count(*) FROM pragma_database_list WHERE name = ?1",
            [name],
            |r| r.get::<_, i64>(0),
        )
        .map_err(sql_error)?
        > 0)
}

impl Session {
    /// The provider tables' rows, worked out on first use.
    pub(crate) fn catalog(&self) -> Arc<Catalog> {
        self.engine().catalog(|| build(self))
    }

    /// Attaches and fills `information_schema` in the statement's database.
    pub(crate) fn attach_catalog(&self, db: &mut LocalDb) -> Result<(), EngineError> {
        let catalog = self.catalog();
        let database = self.sql_context().database;
        let conn = &db.conn;
        if !attached(db, "information_schema")? {
            conn.execute_batch(
                "ATTACH DATABASE ':memory:' AS information_schema;
                 CREATE TABLE information_schema.tables (table_catalog TEXT, table_schema TEXT, table_name TEXT, table_type TEXT);
                 CREATE TABLE information_schema.columns (table_catalog TEXT, table_schema TEXT, table_name TEXT, column_name TEXT, ordinal_position INTEGER, data_type TEXT, is_nullable TEXT, udt_name TEXT);
                 CREATE TABLE information_schema.schemata (catalog_name TEXT, schema_name TEXT, schema_owner TEXT);",
            )
            .map_err(sql_error)?;
            let tx = conn.unchecked_transaction().map_err(sql_error)?;
            {
                let mut t = tx
                    .prepare(
                        "INSERT INTO information_schema.tables VALUES (?1, ?2, ?3, 'BASE TABLE')",
                    )
                    .map_err(sql_error)?;
                let mut c = tx
                    .prepare("INSERT INTO information_schema.columns VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'YES', ?7)")
                    .map_err(sql_error)?;
                let mut s = tx
                    .prepare("INSERT INTO information_schema.schemata VALUES (?1, ?2, ?3)")
                    .map_err(sql_error)?;
                let mut schemas: Vec<String> = vec![
                    "public".into(),
                    "pg_catalog".into(),
                    "information_schema".into(),
                ];
                for table in &catalog.tables {
                    let schema = table.schema(&database);
                    if !schemas.contains(&schema) {
                        schemas.push(schema.clone());
                    }
                    t.execute([&database, &schema, &table.name])
                        .map_err(sql_error)?;
                    for (i, col) in table.columns.iter().enumerate() {
                        c.execute(rusqlite::params![
                            database,
                            schema,
                            table.name,
                            col.name,
                            i as i64 + 1,
                            pg_type(col.column_type),
                            udt_name(col.column_type),
                        ])
                        .map_err(sql_error)?;
                    }
                }
                for schema in &schemas {
                    s.execute(rusqlite::params![database, schema, self.sql_context().user])
                        .map_err(sql_error)?;
                }
            }
            tx.commit().map_err(sql_error)?;
        }
        conn.execute_batch(
            "DELETE FROM information_schema.tables WHERE table_type = 'VIEW';
             DELETE FROM information_schema.columns WHERE table_schema = 'public';",
        )
        .map_err(sql_error)?;
        for view in self.catalog_views()? {
            conn.execute(
                "INSERT INTO information_schema.tables VALUES (?1, 'public', ?2, 'VIEW')",
                [&database, &view.name],
            )
            .map_err(sql_error)?;
            for (i, (name, t)) in view.columns.iter().enumerate() {
                conn.execute(
                    "INSERT INTO information_schema.columns VALUES (?1, 'public', ?2, ?3, ?4, ?5, 'YES', ?6)",
                    rusqlite::params![database, view.name, name, i as i64 + 1, pg_type(*t), udt_name(*t)],
                )
                .map_err(sql_error)?;
            }
        }
        Ok(())
    }

    /// The store's views, with the columns of those that are materialized (a plain view's
    /// columns are known only by running it).
    pub(crate) fn catalog_views(&self) -> Result<Vec<CatalogView>, EngineError> {
        let Ok(store) = self.engine().store() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for v in store.views()? {
            let columns = if v.materialized {
                store
                    .columns_of(&v.name)?
                    .into_iter()
                    .map(|c| (c.name, c.column_type))
                    .collect()
            } else {
                Vec::new()
            };
            out.push(CatalogView {
                name: v.name,
                materialized: v.materialized,
                definition: v.definition,
                columns,
            });
        }
        Ok(out)
    }
}

pub(crate) struct CatalogView {
    pub name: String,
    pub materialized: bool,
    pub definition: String,
    pub columns: Vec<(String, ColumnType)>,
}

/// information_schema's `udt_name`: pg_type's name of the column's type.
fn udt_name(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Integer => "int8",
        ColumnType::Real => "float8",
        ColumnType::Boolean => "bool",
        ColumnType::Json => "jsonb",
        ColumnType::Timestamp => "timestamptz",
        ColumnType::Date => "date",
        ColumnType::Text | ColumnType::Any => "text",
    }
}
