//! `pg_catalog`, for PostgreSQL's own tools: psql's `\d` family, pgcli's completion, pgjdbc's
//! `DatabaseMetaData` (what DBeaver, DataGrip and Metabase call), SQLAlchemy's inspector. They
//! read the system catalogs rather than information_schema, by oid, with PostgreSQL's functions.
//!
//! The rows are made from the same [`Catalog`](crate::catalog::Catalog) as information_schema's,
//! so the two agree: a namespace per service, a relation per provider table (`relkind` `r`) and
//! per view (`v`, `m`), an attribute per column, the types iql's columns have, descriptions from
//! the provider documents (psql's `\dt+`, `\d+`). What iql has none of (indexes, constraints,
//! defaults, triggers, inheritance, policies) is there and empty, so a query joining it gives what
//! PostgreSQL would for a table without them.
//!
//! The database is attached as `pg_catalog`; SQLite finds an attached database's tables by their
//! bare names too, as PostgreSQL finds pg_catalog's (`FROM pg_class`). Oids are fixed per engine
//! (a tool reads an oid in one statement and uses it in the next), views' from their names.

use std::collections::HashMap;
use std::sync::Arc;

use crate::catalog::{attached, pg_type_oid, schema_name, sql_error};
use crate::error::EngineError;
use crate::functions::{Relations, TYPES};
use crate::session::Session;
use crate::sqlite::LocalDb;

/// The names of pg_catalog's tables, to know when a statement reads one.
pub(crate) const TABLES: [&str; 41] = [
    "pg_namespace",
    "pg_class",
    "pg_attribute",
    "pg_type",
    "pg_database",
    "pg_settings",
    "pg_proc",
    "pg_description",
    "pg_roles",
    "pg_user",
    "pg_authid",
    "pg_auth_members",
    "pg_am",
    "pg_index",
    "pg_constraint",
    "pg_inherits",
    "pg_attrdef",
    "pg_views",
    "pg_tables",
    "pg_matviews",
    "pg_trigger",
    "pg_policy",
    "pg_rewrite",
    "pg_statistic_ext",
    "pg_publication",
    "pg_publication_rel",
    "pg_publication_namespace",
    "pg_foreign_table",
    "pg_partitioned_table",
    "pg_collation",
    "pg_extension",
    "pg_tablespace",
    "pg_enum",
    "pg_range",
    "pg_depend",
    "pg_sequence",
    "pg_language",
    "pg_operator",
    "pg_opclass",
    "pg_shdescription",
    "pg_stat_activity",
];

/// Each table's columns, PostgreSQL's names in PostgreSQL's order; a column's SQLite type and
/// its value when a row does not give one.
const SCHEMA: &str = "
CREATE TABLE pg_catalog.pg_namespace (oid INTEGER, nspname TEXT, nspowner INTEGER DEFAULT 10, nspacl TEXT);
CREATE TABLE pg_catalog.pg_class (oid INTEGER, relname TEXT, relnamespace INTEGER, reltype INTEGER DEFAULT 0, reloftype INTEGER DEFAULT 0, relowner INTEGER DEFAULT 10, relam INTEGER DEFAULT 2, relfilenode INTEGER DEFAULT 0, reltablespace INTEGER DEFAULT 0, relpages INTEGER DEFAULT 0, reltuples REAL DEFAULT -1, relallvisible INTEGER DEFAULT 0, reltoastrelid INTEGER DEFAULT 0, relhasindex BOOLEAN DEFAULT 0, relisshared BOOLEAN DEFAULT 0, relpersistence TEXT DEFAULT 'p', relkind TEXT DEFAULT 'r', relnatts INTEGER DEFAULT 0, relchecks INTEGER DEFAULT 0, relhasrules BOOLEAN DEFAULT 0, relhastriggers BOOLEAN DEFAULT 0, relhassubclass BOOLEAN DEFAULT 0, relrowsecurity BOOLEAN DEFAULT 0, relforcerowsecurity BOOLEAN DEFAULT 0, relispopulated BOOLEAN DEFAULT 1, relreplident TEXT DEFAULT 'd', relispartition BOOLEAN DEFAULT 0, relrewrite INTEGER DEFAULT 0, relfrozenxid INTEGER DEFAULT 0, relminmxid INTEGER DEFAULT 0, relacl TEXT, reloptions TEXT, relpartbound TEXT);
CREATE TABLE pg_catalog.pg_attribute (attrelid INTEGER, attname TEXT, atttypid INTEGER, attstattarget INTEGER DEFAULT -1, attlen INTEGER DEFAULT -1, attnum INTEGER, attndims INTEGER DEFAULT 0, attcacheoff INTEGER DEFAULT -1, atttypmod INTEGER DEFAULT -1, attbyval BOOLEAN DEFAULT 0, attalign TEXT DEFAULT 'i', attstorage TEXT DEFAULT 'x', attcompression TEXT DEFAULT '', attnotnull BOOLEAN DEFAULT 0, atthasdef BOOLEAN DEFAULT 0, atthasmissing BOOLEAN DEFAULT 0, attidentity TEXT DEFAULT '', attgenerated TEXT DEFAULT '', attisdropped BOOLEAN DEFAULT 0, attislocal BOOLEAN DEFAULT 1, attinhcount INTEGER DEFAULT 0, attcollation INTEGER DEFAULT 0, attacl TEXT, attoptions TEXT, attfdwoptions TEXT, attmissingval TEXT);
CREATE TABLE pg_catalog.pg_type (oid INTEGER, typname TEXT, typnamespace INTEGER DEFAULT 11, typowner INTEGER DEFAULT 10, typlen INTEGER, typbyval BOOLEAN DEFAULT 0, typtype TEXT DEFAULT 'b', typcategory TEXT, typispreferred BOOLEAN DEFAULT 0, typisdefined BOOLEAN DEFAULT 1, typdelim TEXT DEFAULT ',', typrelid INTEGER DEFAULT 0, typsubscript TEXT DEFAULT '-', typelem INTEGER DEFAULT 0, typarray INTEGER DEFAULT 0, typinput TEXT, typoutput TEXT, typreceive TEXT, typsend TEXT, typmodin TEXT DEFAULT '-', typmodout TEXT DEFAULT '-', typanalyze TEXT DEFAULT '-', typalign TEXT DEFAULT 'i', typstorage TEXT DEFAULT 'p', typnotnull BOOLEAN DEFAULT 0, typbasetype INTEGER DEFAULT 0, typtypmod INTEGER DEFAULT -1, typndims INTEGER DEFAULT 0, typcollation INTEGER DEFAULT 0, typdefaultbin TEXT, typdefault TEXT, typacl TEXT);
CREATE TABLE pg_catalog.pg_database (oid INTEGER, datname TEXT, datdba INTEGER DEFAULT 10, encoding INTEGER DEFAULT 6, datlocprovider TEXT DEFAULT 'c', datistemplate BOOLEAN DEFAULT 0, datallowconn BOOLEAN DEFAULT 1, datconnlimit INTEGER DEFAULT -1, datfrozenxid INTEGER DEFAULT 0, datminmxid INTEGER DEFAULT 1, dattablespace INTEGER DEFAULT 1663, datcollate TEXT DEFAULT 'C', datctype TEXT DEFAULT 'C', daticulocale TEXT, daticurules TEXT, datcollversion TEXT, datacl TEXT);
CREATE TABLE pg_catalog.pg_settings (name TEXT, setting TEXT, unit TEXT, category TEXT DEFAULT 'iql', short_desc TEXT DEFAULT '', extra_desc TEXT, context TEXT DEFAULT 'user', vartype TEXT DEFAULT 'string', source TEXT DEFAULT 'default', min_val TEXT, max_val TEXT, enumvals TEXT, boot_val TEXT, reset_val TEXT, sourcefile TEXT, sourceline INTEGER, pending_restart BOOLEAN DEFAULT 0);
CREATE TABLE pg_catalog.pg_proc (oid INTEGER, proname TEXT, pronamespace INTEGER DEFAULT 11, proowner INTEGER DEFAULT 10, prolang INTEGER DEFAULT 12, procost REAL DEFAULT 1, prorows REAL DEFAULT 0, provariadic INTEGER DEFAULT 0, prosupport TEXT DEFAULT '-', prokind TEXT DEFAULT 'f', prosecdef BOOLEAN DEFAULT 0, proleakproof BOOLEAN DEFAULT 0, proisstrict BOOLEAN DEFAULT 1, proretset BOOLEAN DEFAULT 0, provolatile TEXT DEFAULT 's', proparallel TEXT DEFAULT 's', pronargs INTEGER DEFAULT 0, pronargdefaults INTEGER DEFAULT 0, prorettype INTEGER DEFAULT 25, proargtypes TEXT DEFAULT '', proallargtypes TEXT, proargmodes TEXT, proargnames TEXT, proargdefaults TEXT, protrftypes TEXT, prosrc TEXT, probin TEXT, prosqlbody TEXT, proconfig TEXT, proacl TEXT);
CREATE TABLE pg_catalog.pg_description (objoid INTEGER, classoid INTEGER, objsubid INTEGER, description TEXT);
CREATE TABLE pg_catalog.pg_roles (rolname TEXT, rolsuper BOOLEAN DEFAULT 0, rolinherit BOOLEAN DEFAULT 1, rolcreaterole BOOLEAN DEFAULT 0, rolcreatedb BOOLEAN DEFAULT 0, rolcanlogin BOOLEAN DEFAULT 1, rolreplication BOOLEAN DEFAULT 0, rolconnlimit INTEGER DEFAULT -1, rolpassword TEXT DEFAULT '********', rolvaliduntil TEXT, rolbypassrls BOOLEAN DEFAULT 0, rolconfig TEXT, oid INTEGER);
CREATE TABLE pg_catalog.pg_user (usename TEXT, usesysid INTEGER, usecreatedb BOOLEAN DEFAULT 0, usesuper BOOLEAN DEFAULT 0, userepl BOOLEAN DEFAULT 0, usebypassrls BOOLEAN DEFAULT 0, passwd TEXT DEFAULT '********', valuntil TEXT, useconfig TEXT);
CREATE TABLE pg_catalog.pg_authid (oid INTEGER, rolname TEXT, rolsuper BOOLEAN DEFAULT 0, rolinherit BOOLEAN DEFAULT 1, rolcreaterole BOOLEAN DEFAULT 0, rolcreatedb BOOLEAN DEFAULT 0, rolcanlogin BOOLEAN DEFAULT 1, rolreplication BOOLEAN DEFAULT 0, rolbypassrls BOOLEAN DEFAULT 0, rolconnlimit INTEGER DEFAULT -1, rolpassword TEXT, rolvaliduntil TEXT);
CREATE TABLE pg_catalog.pg_auth_members (oid INTEGER, roleid INTEGER, member INTEGER, grantor INTEGER, admin_option BOOLEAN, inherit_option BOOLEAN, set_option BOOLEAN);
CREATE TABLE pg_catalog.pg_am (oid INTEGER, amname TEXT, amhandler TEXT, amtype TEXT);
CREATE TABLE pg_catalog.pg_index (indexrelid INTEGER, indrelid INTEGER, indnatts INTEGER, indnkeyatts INTEGER, indisunique BOOLEAN, indnullsnotdistinct BOOLEAN, indisprimary BOOLEAN, indisexclusion BOOLEAN, indimmediate BOOLEAN, indisclustered BOOLEAN, indisvalid BOOLEAN, indcheckxmin BOOLEAN, indisready BOOLEAN, indislive BOOLEAN, indisreplident BOOLEAN, indkey TEXT, indcollation TEXT, indclass TEXT, indoption TEXT, indexprs TEXT, indpred TEXT);
CREATE TABLE pg_catalog.pg_constraint (oid INTEGER, conname TEXT, connamespace INTEGER, contype TEXT, condeferrable BOOLEAN, condeferred BOOLEAN, convalidated BOOLEAN, conrelid INTEGER, contypid INTEGER, conindid INTEGER, conparentid INTEGER, confrelid INTEGER, confupdtype TEXT, confdeltype TEXT, confmatchtype TEXT, conislocal BOOLEAN, coninhcount INTEGER, connoinherit BOOLEAN, conkey TEXT, confkey TEXT, conpfeqop TEXT, conppeqop TEXT, conffeqop TEXT, confdelsetcols TEXT, conexclop TEXT, conbin TEXT);
CREATE TABLE pg_catalog.pg_inherits (inhrelid INTEGER, inhparent INTEGER, inhseqno INTEGER, inhdetachpending BOOLEAN);
CREATE TABLE pg_catalog.pg_attrdef (oid INTEGER, adrelid INTEGER, adnum INTEGER, adbin TEXT);
CREATE TABLE pg_catalog.pg_views (schemaname TEXT, viewname TEXT, viewowner TEXT, definition TEXT);
CREATE TABLE pg_catalog.pg_tables (schemaname TEXT, tablename TEXT, tableowner TEXT, tablespace TEXT, hasindexes BOOLEAN DEFAULT 0, hasrules BOOLEAN DEFAULT 0, hastriggers BOOLEAN DEFAULT 0, rowsecurity BOOLEAN DEFAULT 0);
CREATE TABLE pg_catalog.pg_matviews (schemaname TEXT, matviewname TEXT, matviewowner TEXT, tablespace TEXT, hasindexes BOOLEAN DEFAULT 0, ispopulated BOOLEAN DEFAULT 1, definition TEXT);
CREATE TABLE pg_catalog.pg_trigger (oid INTEGER, tgrelid INTEGER, tgparentid INTEGER, tgname TEXT, tgfoid INTEGER, tgtype INTEGER, tgenabled TEXT, tgisinternal BOOLEAN, tgconstrrelid INTEGER, tgconstrindid INTEGER, tgconstraint INTEGER, tgdeferrable BOOLEAN, tginitdeferred BOOLEAN, tgnargs INTEGER, tgattr TEXT, tgargs TEXT, tgqual TEXT, tgoldtable TEXT, tgnewtable TEXT);
CREATE TABLE pg_catalog.pg_policy (oid INTEGER, polname TEXT, polrelid INTEGER, polcmd TEXT, polpermissive BOOLEAN, polroles TEXT, polqual TEXT, polwithcheck TEXT);
CREATE TABLE pg_catalog.pg_rewrite (oid INTEGER, rulename TEXT, ev_class INTEGER, ev_type TEXT, ev_enabled TEXT, is_instead BOOLEAN, ev_qual TEXT, ev_action TEXT);
CREATE TABLE pg_catalog.pg_statistic_ext (oid INTEGER, stxrelid INTEGER, stxname TEXT, stxnamespace INTEGER, stxowner INTEGER, stxstattarget INTEGER, stxkeys TEXT, stxkind TEXT, stxexprs TEXT);
CREATE TABLE pg_catalog.pg_publication (oid INTEGER, pubname TEXT, pubowner INTEGER, puballtables BOOLEAN, pubinsert BOOLEAN, pubupdate BOOLEAN, pubdelete BOOLEAN, pubtruncate BOOLEAN, pubviaroot BOOLEAN);
CREATE TABLE pg_catalog.pg_publication_namespace (oid INTEGER, pnpubid INTEGER, pnnspid INTEGER);
CREATE TABLE pg_catalog.pg_publication_rel (oid INTEGER, prpubid INTEGER, prrelid INTEGER, prqual TEXT, prattrs TEXT);
CREATE TABLE pg_catalog.pg_foreign_table (ftrelid INTEGER, ftserver INTEGER, ftoptions TEXT);
CREATE TABLE pg_catalog.pg_partitioned_table (partrelid INTEGER, partstrat TEXT, partnatts INTEGER, partdefid INTEGER, partattrs TEXT, partclass TEXT, partcollation TEXT, partexprs TEXT);
CREATE TABLE pg_catalog.pg_collation (oid INTEGER, collname TEXT, collnamespace INTEGER, collowner INTEGER, collprovider TEXT, collisdeterministic BOOLEAN, collencoding INTEGER, collcollate TEXT, collctype TEXT, colliculocale TEXT, collicurules TEXT, collversion TEXT);
CREATE TABLE pg_catalog.pg_extension (oid INTEGER, extname TEXT, extowner INTEGER, extnamespace INTEGER, extrelocatable BOOLEAN, extversion TEXT, extconfig TEXT, extcondition TEXT);
CREATE TABLE pg_catalog.pg_tablespace (oid INTEGER, spcname TEXT, spcowner INTEGER, spcacl TEXT, spcoptions TEXT);
CREATE TABLE pg_catalog.pg_enum (oid INTEGER, enumtypid INTEGER, enumsortorder REAL, enumlabel TEXT);
CREATE TABLE pg_catalog.pg_range (rngtypid INTEGER, rngsubtype INTEGER, rngmultitypid INTEGER, rngcollation INTEGER, rngsubopc INTEGER, rngcanonical TEXT, rngsubdiff TEXT);
CREATE TABLE pg_catalog.pg_depend (classid INTEGER, objid INTEGER, objsubid INTEGER, refclassid INTEGER, refobjid INTEGER, refobjsubid INTEGER, deptype TEXT);
CREATE TABLE pg_catalog.pg_sequence (seqrelid INTEGER, seqtypid INTEGER, seqstart INTEGER, seqincrement INTEGER, seqmax INTEGER, seqmin INTEGER, seqcache INTEGER, seqcycle BOOLEAN);
CREATE TABLE pg_catalog.pg_language (oid INTEGER, lanname TEXT, lanowner INTEGER, lanispl BOOLEAN, lanpltrusted BOOLEAN, lanplcallfoid INTEGER, laninline INTEGER, lanvalidator INTEGER, lanacl TEXT);
CREATE TABLE pg_catalog.pg_operator (oid INTEGER, oprname TEXT, oprnamespace INTEGER, oprowner INTEGER, oprkind TEXT, oprcanmerge BOOLEAN, oprcanhash BOOLEAN, oprleft INTEGER, oprright INTEGER, oprresult INTEGER, oprcom INTEGER, oprnegate INTEGER, oprcode TEXT, oprrest TEXT, oprjoin TEXT);
CREATE TABLE pg_catalog.pg_opclass (oid INTEGER, opcmethod INTEGER, opcname TEXT, opcnamespace INTEGER, opcowner INTEGER, opcfamily INTEGER, opcintype INTEGER, opcdefault BOOLEAN, opckeytype INTEGER);
CREATE TABLE pg_catalog.pg_shdescription (objoid INTEGER, classoid INTEGER, description TEXT);
CREATE TABLE pg_catalog.pg_stat_activity (datid INTEGER, datname TEXT, pid INTEGER, usesysid INTEGER, usename TEXT, application_name TEXT, client_addr TEXT, backend_start TEXT, state TEXT, query TEXT);
";

/// Namespace oids PostgreSQL gives its own schemas.
const PG_CATALOG: i64 = 11;
const PUBLIC: i64 = 2200;
const INFORMATION_SCHEMA: i64 = 13_183;
/// Where iql's own oids start (PostgreSQL's first normal oid).
const FIRST_OID: i64 = 16_384;
/// pg_class's oid, the `classoid` of a relation's description.
const PG_CLASS: i64 = 1259;

/// A view's oid, from its name: the same in every statement while the view exists.
fn view_oid(name: &str) -> i64 {
    // FNV-1a, folded into oids above the provider tables'.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    1_000_000 + (hash % 1_000_000_000) as i64
}

impl Session {
    /// Attaches and fills `pg_catalog` in the statement's database, and tells the session's
    /// functions its relations (`::regclass`, `obj_description`).
    pub(crate) fn attach_pg_catalog(&self, db: &mut LocalDb) -> Result<(), EngineError> {
        let catalog = self.catalog();
        let context = self.sql_context();
        let database = context.database.clone();
        let conn = &db.conn;
        let views = self.catalog_views()?;
        if !attached(db, "pg_catalog")? {
            conn.execute_batch(&format!(
                "ATTACH DATABASE ':memory:' AS pg_catalog;{SCHEMA}"
            ))
            .map_err(sql_error)?;
            let tx = conn.unchecked_transaction().map_err(sql_error)?;
            {
                let mut namespace = tx
                    .prepare("INSERT INTO pg_catalog.pg_namespace (oid, nspname) VALUES (?1, ?2)")
                    .map_err(sql_error)?;
                for (oid, name) in [
                    (PG_CATALOG, "pg_catalog"),
                    (PUBLIC, "public"),
                    (INFORMATION_SCHEMA, "information_schema"),
                ] {
                    namespace
                        .execute(rusqlite::params![oid, name])
                        .map_err(sql_error)?;
                }
                let mut class = tx
                    .prepare("INSERT INTO pg_catalog.pg_class (oid, relname, relnamespace, relkind, relnatts, relam) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                    .map_err(sql_error)?;
                let mut attribute = tx
                    .prepare("INSERT INTO pg_catalog.pg_attribute (attrelid, attname, atttypid, attnum, attlen, attcollation) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                    .map_err(sql_error)?;
                let mut description = tx
                    .prepare("INSERT INTO pg_catalog.pg_description VALUES (?1, ?2, ?3, ?4)")
                    .map_err(sql_error)?;
                let mut tables = tx
                    .prepare("INSERT INTO pg_catalog.pg_tables (schemaname, tablename, tableowner) VALUES (?1, ?2, ?3)")
                    .map_err(sql_error)?;
                let mut schemas: HashMap<String, i64> = HashMap::new();
                let mut next_oid = FIRST_OID;
                for table in &catalog.tables {
                    let schema = schema_name(&table.provider, &table.service, &database);
                    if let std::collections::hash_map::Entry::Vacant(slot) = schemas.entry(schema) {
                        namespace
                            .execute(rusqlite::params![next_oid, slot.key()])
                            .map_err(sql_error)?;
                        slot.insert(next_oid);
                        next_oid += 1;
                    }
                }
                // Relations after the namespaces, so their oids do not depend on the database.
                for (oid, table) in (FIRST_OID + 1_000..).zip(&catalog.tables) {
                    let schema = schema_name(&table.provider, &table.service, &database);
                    let ns = schemas.get(&schema).copied().unwrap_or(PUBLIC);
                    class
                        .execute(rusqlite::params![
                            oid,
                            table.name,
                            ns,
                            "r",
                            table.columns.len() as i64,
                            2
                        ])
                        .map_err(sql_error)?;
                    tables
                        .execute(rusqlite::params![schema, table.name, context.user])
                        .map_err(sql_error)?;
                    if let Some(d) = &table.description {
                        description
                            .execute(rusqlite::params![oid, PG_CLASS, 0, d])
                            .map_err(sql_error)?;
                    }
                    for (i, col) in table.columns.iter().enumerate() {
                        let type_oid = pg_type_oid(col.column_type);
                        attribute
                            .execute(rusqlite::params![
                                oid,
                                col.name,
                                type_oid,
                                i as i64 + 1,
                                type_length(type_oid),
                                0
                            ])
                            .map_err(sql_error)?;
                        if let Some(d) = &col.description {
                            description
                                .execute(rusqlite::params![oid, PG_CLASS, i as i64 + 1, d])
                                .map_err(sql_error)?;
                        }
                    }
                }
                // pg_catalog's own tables, so `'pg_class'::regclass` and `\dS` find them.
                for (next_oid, name) in (1_000_i64..).zip(TABLES) {
                    let columns: Vec<(String, String)> = {
                        let mut info = tx
                            .prepare(&format!("PRAGMA pg_catalog.table_info({name})"))
                            .map_err(sql_error)?;
                        let rows = info
                            .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
                            .map_err(sql_error)?;
                        rows.collect::<Result<_, _>>().map_err(sql_error)?
                    };
                    class
                        .execute(rusqlite::params![
                            next_oid,
                            name,
                            PG_CATALOG,
                            "r",
                            columns.len() as i64,
                            2
                        ])
                        .map_err(sql_error)?;
                    for (i, (column, declared)) in columns.iter().enumerate() {
                        let type_oid = match declared.as_str() {
                            "INTEGER" => 20,
                            "REAL" => 701,
                            "BOOLEAN" => 16,
                            _ => 25,
                        };
                        attribute
                            .execute(rusqlite::params![
                                next_oid,
                                column,
                                type_oid,
                                i as i64 + 1,
                                type_length(type_oid),
                                0
                            ])
                            .map_err(sql_error)?;
                    }
                }
                // System catalogs have no replica identity.
                tx.execute(
                    "UPDATE pg_catalog.pg_class SET relreplident = 'n' WHERE relnamespace = ?1",
                    [PG_CATALOG],
                )
                .map_err(sql_error)?;
                let mut types = tx
                    .prepare("INSERT INTO pg_catalog.pg_type (oid, typname, typlen, typcategory, typarray, typelem, typinput, typoutput, typreceive, typsend) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
                    .map_err(sql_error)?;
                for (oid, name, _, length, category, array) in TYPES {
                    types
                        .execute(rusqlite::params![
                            oid,
                            name,
                            length,
                            category,
                            array,
                            0,
                            format!("{name}in"),
                            format!("{name}out"),
                            format!("{name}recv"),
                            format!("{name}send")
                        ])
                        .map_err(sql_error)?;
                    if array > 0 && oid != 1009 {
                        types
                            .execute(rusqlite::params![
                                array,
                                format!("_{name}"),
                                -1,
                                "A",
                                0,
                                oid,
                                "array_in",
                                "array_out",
                                "array_recv",
                                "array_send"
                            ])
                            .map_err(sql_error)?;
                    }
                }
                tx.execute_batch(
                    "INSERT INTO pg_catalog.pg_am VALUES (2, 'heap', 'heap_tableam_handler', 't'), (403, 'btree', 'bthandler', 'i');
                     INSERT INTO pg_catalog.pg_tablespace (oid, spcname, spcowner) VALUES (1663, 'pg_default', 10);
                     INSERT INTO pg_catalog.pg_language (oid, lanname, lanowner, lanispl, lanpltrusted) VALUES (12, 'internal', 10, 0, 0), (14, 'sql', 10, 0, 1);
                     INSERT INTO pg_catalog.pg_collation (oid, collname, collnamespace, collowner, collprovider, collisdeterministic, collencoding) VALUES (100, 'default', 11, 10, 'd', 1, -1), (950, 'C', 11, 10, 'c', 1, -1);",
                )
                .map_err(sql_error)?;
                let mut databases = tx
                    .prepare("INSERT INTO pg_catalog.pg_database (oid, datname) VALUES (?1, ?2)")
                    .map_err(sql_error)?;
                let mut names: Vec<String> = vec!["iql".to_string()];
                for p in self.registry().provider_names() {
                    names.push(p.to_string());
                }
                if !names.contains(&database) {
                    names.push(database.clone());
                }
                for (i, name) in names.iter().enumerate() {
                    databases
                        .execute(rusqlite::params![FIRST_OID - 100 + i as i64, name])
                        .map_err(sql_error)?;
                }
                let mut roles = tx
                    .prepare("INSERT INTO pg_catalog.pg_roles (rolname, oid) VALUES (?1, 10)")
                    .map_err(sql_error)?;
                roles.execute([&context.user]).map_err(sql_error)?;
                tx.execute(
                    "INSERT INTO pg_catalog.pg_user (usename, usesysid) VALUES (?1, 10)",
                    [&context.user],
                )
                .map_err(sql_error)?;
                tx.execute(
                    "INSERT INTO pg_catalog.pg_authid (oid, rolname) VALUES (10, ?1)",
                    [&context.user],
                )
                .map_err(sql_error)?;
            }
            tx.commit().map_err(sql_error)?;
        }
        // What changes from statement to statement: the views and the settings.
        let tx = conn.unchecked_transaction().map_err(sql_error)?;
        tx.execute_batch(
            "DELETE FROM pg_catalog.pg_class WHERE relkind IN ('v', 'm');
             DELETE FROM pg_catalog.pg_attribute WHERE attrelid >= 1000000;
             DELETE FROM pg_catalog.pg_views;
             DELETE FROM pg_catalog.pg_matviews;
             DELETE FROM pg_catalog.pg_settings;",
        )
        .map_err(sql_error)?;
        for view in &views {
            let oid = view_oid(&view.name);
            let kind = if view.materialized { "m" } else { "v" };
            tx.execute(
                "INSERT INTO pg_catalog.pg_class (oid, relname, relnamespace, relkind, relnatts, relam) VALUES (?1, ?2, ?3, ?4, ?5, 0)",
                rusqlite::params![oid, view.name, PUBLIC, kind, view.columns.len() as i64],
            )
            .map_err(sql_error)?;
            for (i, (name, t)) in view.columns.iter().enumerate() {
                let type_oid = pg_type_oid(*t);
                tx.execute(
                    "INSERT INTO pg_catalog.pg_attribute (attrelid, attname, atttypid, attnum, attlen) VALUES (?1, ?2, ?3, ?4, ?5)",
                    rusqlite::params![oid, name, type_oid, i as i64 + 1, type_length(type_oid)],
                )
                .map_err(sql_error)?;
            }
            let table = if view.materialized {
                "INSERT INTO pg_catalog.pg_matviews (schemaname, matviewname, matviewowner, definition) VALUES ('public', ?1, ?2, ?3)"
            } else {
                "INSERT INTO pg_catalog.pg_views VALUES ('public', ?1, ?2, ?3)"
            };
            tx.execute(
                table,
                rusqlite::params![view.name, context.user, view.definition],
            )
            .map_err(sql_error)?;
        }
        for (name, value) in &context.settings {
            tx.execute(
                "INSERT INTO pg_catalog.pg_settings (name, setting, boot_val, reset_val) VALUES (?1, ?2, ?2, ?2)",
                rusqlite::params![name, value],
            )
            .map_err(sql_error)?;
        }
        tx.commit().map_err(sql_error)?;
        self.update_sql_context(|c| c.relations = Some(Arc::new(relations(db))));
        Ok(())
    }
}

/// pg_class's relations by oid and by name, for the functions that look them up.
fn relations(db: &LocalDb) -> Relations {
    let mut out = Relations::default();
    let Ok(mut stmt) = db.conn.prepare(
        "SELECT c.oid, n.nspname, c.relname, d.description FROM pg_catalog.pg_class c
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_catalog.pg_description d ON d.objoid = c.oid AND d.objsubid = 0",
    ) else {
        return out;
    };
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
        ))
    });
    let mut bare: HashMap<String, Option<i64>> = HashMap::new();
    if let Ok(rows) = rows {
        for (oid, schema, name, description) in rows.flatten() {
            out.by_name.insert(format!("{schema}.{name}"), oid);
            bare.entry(name.clone())
                .and_modify(|o| *o = None)
                .or_insert(Some(oid));
            out.by_oid.insert(oid, (schema, name, description));
        }
    }
    for (name, oid) in bare {
        if let Some(oid) = oid {
            out.by_name.entry(name).or_insert(oid);
        }
    }
    if let Ok(mut stmt) = db.conn.prepare(
        "SELECT objoid, objsubid, description FROM pg_catalog.pg_description WHERE objsubid > 0",
    ) {
        if let Ok(rows) = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        }) {
            for (oid, n, d) in rows.flatten() {
                out.column_descriptions.insert((oid, n), d);
            }
        }
    }
    out
}

/// `typlen` of a type (-1: variable length).
fn type_length(oid: i64) -> i64 {
    TYPES.iter().find(|t| t.0 == oid).map(|t| t.3).unwrap_or(-1)
}
