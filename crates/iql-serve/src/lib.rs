//! `iql serve`: iql over the PostgreSQL wire protocol, so psql, drivers (psycopg, tokio-postgres,
//! JDBC) and BI tools query cloud APIs through one iql.
//!
//! The protocol is `pgwire`'s; this crate only maps it onto iql: each connection is an iql
//! [`Session`] (its own settings), all share one [`Engine`] (one HTTP concurrency bound and 429
//! pause, as the rate limit is per token; one response cache; one store). Statements run as they
//! do in `iql exec`; what differs is the shape of the answer:
//!
//! - **Types**: integer → `int8`, real → `float8`, boolean → `bool`, text → `text`, JSON columns →
//!   `jsonb`, date-times (`format: date-time`) → `timestamptz`; a column of expressions whose
//!   values do not all fit one type is sent as `text`.
//! - **Tags**: `SELECT n`, `INSERT 0 n`, `UPDATE n`, `DELETE n`, `EXEC n`, `CREATE VIEW`, ….
//! - **Errors** carry a SQLSTATE ([`sqlstate`]) and iql's own message; notices (a key that is not
//!   there, a page cap) arrive as NoticeResponse.
//! - **Parameters** (`$1`, `$2`, … of the extended protocol) are bound as iql binds them: each one
//!   literal. A statement described before it runs is planned and compiled with its parameters
//!   read as 0, so no request is sent to describe it.
//! - What clients send on connecting (`SET …`, `SHOW server_version`, `SELECT version()`,
//!   `current_database()`, `BEGIN`/`COMMIT`, pg_catalog queries) runs as any statement does: the
//!   engine answers it from the session's settings and catalogs, the same in `iql exec`.
//!
//! **Security.** On loopback no password is asked. Anywhere else the server needs a password
//! (SCRAM-SHA-256, given by an environment variable or a file, never a flag value) and TLS
//! (certificate and key files); without both it refuses to start, saying why. With them, a client
//! without TLS or with a wrong password is turned away. The DigitalOcean token never leaves the
//! server.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::{stream, Sink, SinkExt};
use iql::{Cell, ColumnType, Engine, ErrorKind, ParsedStatement, QueryResult, Session, Statement};
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    DataRowEncoder, DescribePortalResponse, DescribeStatementResponse, FieldInfo, QueryResponse,
    Response, Tag,
};
use pgwire::api::stmt::{NoopQueryParser, StoredStatement};
use pgwire::api::{ClientInfo, ClientPortalStore, ConnectionManager, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::response::NoticeResponse;
use pgwire::messages::PgWireBackendMessage;

/// The Postgres version clients are told (they adapt their catalogue queries to it): the one
/// pgwire announces in its ParameterStatus at startup (`16.6-pgwire-…`), so `SHOW
/// server_version`, `server_version_num` and `version()` all say the same.
pub fn server_version() -> String {
    pgwire::api::auth::DefaultServerParameterProvider::default().server_version
}

/// `160006` for `16.6…`: PostgreSQL's number for its version.
fn server_version_num() -> String {
    let version = server_version();
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.parse::<u32>().ok());
    let major = parts.next().unwrap_or(16);
    let minor = parts.next().unwrap_or(0);
    (major * 10_000 + minor).to_string()
}

/// A password and TLS: what listening off loopback requires.
#[derive(Clone)]
pub struct Security {
    password: String,
    certificate_pem: Vec<u8>,
    tls: pgwire::tokio::TlsAcceptor,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("Security").finish_non_exhaustive()
    }
}

impl Security {
    /// TLS from a certificate chain and a private key (PEM files), and the password clients give.
    pub fn load(
        certificate: &std::path::Path,
        key: &std::path::Path,
        password: String,
    ) -> Result<Security, ServeError> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let bad = |what: &std::path::Path, e: &dyn std::fmt::Display| {
            ServeError::Refused(format!("cannot read {}: {e}", what.display()))
        };
        if password.trim().is_empty() {
            return Err(ServeError::Refused(
                "the password is empty: give one in IQL_SERVE_PASSWORD or --password-file".into(),
            ));
        }
        let certificate_pem = std::fs::read(certificate).map_err(|e| bad(certificate, &e))?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&certificate_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| bad(certificate, &e))?;
        if chain.is_empty() {
            return Err(bad(certificate, &"no certificate in it"));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, &e))?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
            .map_err(|e| {
                ServeError::Refused(format!("the certificate and key do not make TLS: {e}"))
            })?;
        Ok(Security {
            password,
            certificate_pem,
            tls: pgwire::tokio::TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// How the server listens.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// Password and TLS; required off loopback.
    pub security: Option<Security>,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Longest a statement may run; `None` for no limit.
    pub statement_timeout: Option<Duration>,
    /// Refresh the store's materialized views that have a refresh interval when they are due
    /// (every server on a store may: the store's lock makes one of them do each refresh).
    pub refresh_views: bool,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5444)),
            security: None,
            max_connections: 64,
            statement_timeout: None,
            refresh_views: true,
        }
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Refused(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Checks that `addr` may be served: loopback, or anywhere with a password and TLS.
pub fn check_listen(addr: SocketAddr, secured: bool) -> Result<(), ServeError> {
    if addr.ip().is_loopback() || secured {
        return Ok(());
    }
    Err(ServeError::Refused(format!(
        "iql serve listens off loopback ({addr}) only with a password and TLS, or anyone who reaches the port would query with the server's DigitalOcean token: give --tls-cert FILE --tls-key FILE and a password in IQL_SERVE_PASSWORD or --password-file, or listen on 127.0.0.1 and reach it through an SSH tunnel (ssh -L 5444:127.0.0.1:5444 host)"
    )))
}

/// Binds the listening socket (so the caller can print its address before serving).
pub async fn bind(config: &ServeConfig) -> Result<tokio::net::TcpListener, ServeError> {
    check_listen(config.listen, config.security.is_some())?;
    tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: config.listen,
            source,
        })
}

/// Serves connections from `listener` until `shutdown` resolves; connections still open are then
/// dropped (their statements cancelled with them).
pub async fn serve(
    engine: Engine,
    listener: tokio::net::TcpListener,
    config: ServeConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
    // Knows every connection's key, so a CancelRequest (psql's Ctrl-C) on a new connection stops
    // the statement running on the one it names.
    let manager = Arc::new(ConnectionManager::new());
    let cancel = Arc::new(DefaultCancelHandler::new(manager.clone()));
    let mut connections = tokio::task::JoinSet::new();
    let scheduler = config
        .refresh_views
        .then(|| tokio::spawn(refresh_schedule(engine.clone())));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let connection = Arc::new(Connection::new(
            engine.session(),
            config.statement_timeout,
            manager.clone(),
        ));
        let startup = match &config.security {
            None => Startup::Trust(connection.clone()),
            Some(sec) => Startup::Scram(Arc::new(scram_handler(sec, manager.clone()))),
        };
        let handlers = Handlers {
            connection,
            startup: Arc::new(startup),
            cancel: cancel.clone(),
        };
        let tls = config.security.as_ref().map(|s| s.tls.clone());
        connections.spawn(async move {
            if let Err(e) = pgwire::tokio::process_socket(socket, tls, handlers).await {
                tracing::info!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
        // Reap the finished ones so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    if let Some(s) = scheduler {
        s.abort();
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// How often the store is asked which materialized views are due.
const SCHEDULE_TICK: Duration = Duration::from_secs(1);

/// Refreshes the views that are due, every [`SCHEDULE_TICK`], for as long as the server runs;
/// says what it did in the log (a failure once until it changes, not every second).
async fn refresh_schedule(engine: Engine) {
    let mut last_failure = String::new();
    let mut tick = tokio::time::interval(SCHEDULE_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for done in engine.refresh_due_views().await {
            match done.outcome {
                Ok(r) => {
                    last_failure.clear();
                    tracing::info!("scheduled: {}", r.message.as_deref().unwrap_or("refreshed"));
                }
                Err(e) => {
                    let text = if done.view.is_empty() {
                        format!("scheduled refreshes cannot run: {e}")
                    } else {
                        format!("scheduled refresh of {} failed: {e}", done.view)
                    };
                    if text != last_failure {
                        tracing::warn!("{text}");
                        last_failure = text;
                    }
                }
            }
        }
    }
}

/// One client: its session, and the handlers pgwire calls.
struct Connection {
    session: Arc<Session>,
    timeout: Option<Duration>,
    parser: Arc<NoopQueryParser>,
    manager: Arc<ConnectionManager>,
    /// Open cursors (`DECLARE … CURSOR`), by name.
    cursors: tokio::sync::Mutex<std::collections::HashMap<String, Cursor>>,
}

/// Rows asked of a cursor (`None`: all that are left), and where to send them.
type FetchRequest = (
    Option<u64>,
    tokio::sync::oneshot::Sender<Result<Vec<Vec<Cell>>, iql::Error>>,
);

/// An open cursor: a task that holds its query's row stream (one page in memory at a time) and
/// hands out rows as they are fetched. Dropping it stops the task and the statement.
struct Cursor {
    /// The query, for the columns' wire names and types.
    statement: Statement,
    columns: Vec<iql::ResultColumn>,
    hold: bool,
    requests: tokio::sync::mpsc::Sender<FetchRequest>,
}

impl Connection {
    fn new(session: Session, timeout: Option<Duration>, manager: Arc<ConnectionManager>) -> Self {
        Connection {
            session: Arc::new(session),
            timeout,
            parser: Arc::new(NoopQueryParser),
            manager,
            cursors: Default::default(),
        }
    }

    /// Runs one parsed statement under the statement timeout; a failure is logged with the
    /// statement's text, as PostgreSQL logs `STATEMENT:` after the error.
    async fn run(&self, statement: &ParsedStatement) -> Result<QueryResult, PgWireError> {
        let result = self.run_timed(statement).await;
        if result.is_err() {
            log_statement(&statement.source.text);
        }
        result
    }

    async fn run_timed(&self, statement: &ParsedStatement) -> Result<QueryResult, PgWireError> {
        let running = self.session.run(statement);
        let result = match self.timeout {
            Some(limit) => match tokio::time::timeout(limit, running).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(user_error(
                        "57014",
                        format!(
                            "canceling statement due to statement timeout ({} s)",
                            limit.as_secs_f64()
                        ),
                        None,
                    ))
                }
            },
            None => running.await,
        };
        result.map_err(|e| iql_error(&e))
    }

    /// Tells the session who the client is, once: the database and user it connected with
    /// (`current_database()`, `current_user`, and the catalogs' names: in a provider's database,
    /// `psql -d digitalocean`, its services are schemas of their own).
    fn adopt_client<C: ClientInfo>(&self, client: &C) {
        let metadata = client.metadata();
        let user = metadata
            .get(pgwire::api::METADATA_USER)
            .cloned()
            .unwrap_or_else(|| "iql".to_string());
        let database = metadata
            .get(pgwire::api::METADATA_DATABASE)
            .cloned()
            .unwrap_or_else(|| user.clone());
        let known = self.session.sql_context();
        if known.database == database
            && known.user == user
            && known.settings.get("server_version") == Some(&server_version())
        {
            return;
        }
        self.session.update_sql_context(|c| {
            c.database = database;
            c.user = user;
            // A PostgreSQL client's LIKE tells case apart (its ILIKE does not).
            c.case_sensitive_like = true;
            c.settings.insert("server_version".into(), server_version());
            c.settings
                .insert("server_version_num".into(), server_version_num());
            let announced = pgwire::api::auth::DefaultServerParameterProvider::default();
            c.settings.insert("datestyle".into(), announced.date_style);
            c.settings.insert("timezone".into(), announced.time_zone);
            if let Some(name) = metadata.get("application_name") {
                c.settings.insert("application_name".into(), name.clone());
            }
        });
    }

    /// A whole simple-protocol text: client chatter answered here, the rest run statement by
    /// statement.
    async fn answer<C>(&self, client: &mut C, text: &str) -> PgWireResult<Vec<Response>>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statements = self.session.parse(text).map_err(|e| {
            log_statement(text);
            iql_error(&e)
        })?;
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut out = Vec::new();
        for s in &statements {
            // `EXECUTE name (…)` answers as the statement it names.
            let inner = self.session.prepared(s).map_err(|e| iql_error(&e))?;
            let s = inner.as_ref().unwrap_or(s);
            if let Statement::Cursor(c) = &s.statement {
                out.push(self.cursor(c, s, &Format::UnifiedText).await?);
                continue;
            }
            let result = self.run(s).await?;
            notify(client, &result.notices).await?;
            self.after(&s.statement).await;
            out.push(response(&s.statement, result, &Format::UnifiedText, true));
        }
        Ok(out)
    }

    /// What a statement ends besides itself: COMMIT and ROLLBACK close the cursors declared
    /// without HOLD, as in PostgreSQL.
    async fn after(&self, statement: &Statement) {
        use iql::SessionStatement as S;
        if matches!(statement, Statement::Session(S::Commit | S::Rollback)) {
            self.cursors.lock().await.retain(|_, c| c.hold);
        }
    }

    /// `DECLARE`, `FETCH`, `MOVE`, `CLOSE`.
    async fn cursor(
        &self,
        c: &iql::CursorStatement,
        parsed: &ParsedStatement,
        format: &Format,
    ) -> PgWireResult<Response> {
        use iql::CursorStatement as C;
        match c {
            C::Declare { name, hold, query } => {
                let statement = Statement::Query(query.clone());
                let running = ParsedStatement {
                    statement: statement.clone(),
                    source: parsed.source.clone(),
                };
                let (requests, mut incoming) = tokio::sync::mpsc::channel::<FetchRequest>(1);
                let (started, columns) = tokio::sync::oneshot::channel();
                let session = self.session.clone();
                tokio::spawn(async move {
                    let mut rows = match session.stream(&running).await {
                        Ok(s) => {
                            let _ = started.send(Ok(s.columns().to_vec()));
                            s
                        }
                        Err(e) => {
                            let _ = started.send(Err(e));
                            return;
                        }
                    };
                    while let Some((count, reply)) = incoming.recv().await {
                        let mut out = Vec::new();
                        let mut failed = None;
                        while count.is_none_or(|n| (out.len() as u64) < n) {
                            match rows.next_row().await {
                                Some(Ok(row)) => out.push(row),
                                Some(Err(e)) => {
                                    failed = Some(e);
                                    break;
                                }
                                None => break,
                            }
                        }
                        let _ = reply.send(match failed {
                            Some(e) => Err(e),
                            None => Ok(out),
                        });
                    }
                });
                let columns = match columns.await {
                    Ok(Ok(c)) => c,
                    Ok(Err(e)) => return Err(iql_error(&e)),
                    Err(_) => {
                        return Err(user_error(
                            "XX000",
                            "the cursor's query stopped before it started".to_string(),
                            None,
                        ))
                    }
                };
                let cursor = Cursor {
                    statement,
                    columns,
                    hold: *hold,
                    requests,
                };
                let mut cursors = self.cursors.lock().await;
                if cursors.contains_key(name) {
                    return Err(user_error(
                        "42P03",
                        format!("cursor \"{name}\" already exists"),
                        None,
                    ));
                }
                cursors.insert(name.clone(), cursor);
                Ok(Response::Execution(Tag::new("DECLARE CURSOR")))
            }
            C::Fetch {
                name,
                count,
                moving,
            } => {
                let (requests, statement, columns) = {
                    let cursors = self.cursors.lock().await;
                    let Some(cursor) = cursors.get(name) else {
                        return Err(no_cursor(name));
                    };
                    (
                        cursor.requests.clone(),
                        cursor.statement.clone(),
                        cursor.columns.clone(),
                    )
                };
                let (reply, rows) = tokio::sync::oneshot::channel();
                if requests.send((*count, reply)).await.is_err() {
                    return Err(no_cursor(name));
                }
                let rows = match rows.await {
                    Ok(Ok(rows)) => rows,
                    Ok(Err(e)) => return Err(iql_error(&e)),
                    Err(_) => return Err(no_cursor(name)),
                };
                if *moving {
                    return Ok(Response::Execution(Tag::new("MOVE").with_rows(rows.len())));
                }
                let result = QueryResult {
                    columns,
                    rows,
                    ..QueryResult::default()
                };
                Ok(shaped_response(&statement, "FETCH", result, format, false))
            }
            C::Close { name: Some(name) } => match self.cursors.lock().await.remove(name) {
                Some(_) => Ok(Response::Execution(Tag::new("CLOSE CURSOR"))),
                None => Err(no_cursor(name)),
            },
            C::Close { name: None } => {
                self.cursors.lock().await.clear();
                Ok(Response::Execution(Tag::new("CLOSE CURSOR ALL")))
            }
        }
    }

    /// The columns `FETCH … FROM name` gives: the cursor's.
    async fn cursor_fields(&self, name: &str, format: &Format) -> PgWireResult<Vec<FieldInfo>> {
        let cursors = self.cursors.lock().await;
        let Some(cursor) = cursors.get(name) else {
            return Err(no_cursor(name));
        };
        let names = wire_names(&cursor.statement, &cursor.columns);
        let types: Vec<Type> = wire_types(&cursor.statement, &cursor.columns)
            .into_iter()
            .map(|t| t.unwrap_or(Type::TEXT))
            .collect();
        Ok(fields(&names, &types, format))
    }
}

/// The text of a statement that failed, after its error (at most 2,000 characters of it). A
/// statement holds no token: the credentials never pass through SQL.
fn log_statement(text: &str) {
    let mut shown: String = text.chars().take(2_000).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    tracing::info!("failed statement: {shown}");
}

fn no_cursor(name: &str) -> PgWireError {
    user_error("34000", format!("cursor \"{name}\" does not exist"), None)
}

/// Sends each notice as a NoticeResponse.
async fn notify<C>(client: &mut C, notices: &[String]) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for n in notices {
        let info = ErrorInfo::new("NOTICE".to_string(), "00000".to_string(), n.clone());
        client
            .send(PgWireBackendMessage::NoticeResponse(NoticeResponse::from(
                info,
            )))
            .await?;
    }
    Ok(())
}

/// The type of a column of expressions, from its values: integer, real or boolean when they all
/// are, else text.
fn inferred(result: &QueryResult, i: usize) -> Type {
    let values = || {
        result
            .rows
            .iter()
            .filter_map(move |r| r.get(i))
            .filter(|c| !matches!(c, Cell::Null))
    };
    if values().next().is_none() {
        Type::TEXT
    } else if values().all(|c| matches!(c, Cell::Integer(_))) {
        Type::INT8
    } else if values().all(|c| matches!(c, Cell::Integer(_) | Cell::Real(_))) {
        Type::FLOAT8
    } else if values().all(|c| matches!(c, Cell::Bool(_))) {
        Type::BOOL
    } else {
        Type::TEXT
    }
}

/// The type a column is described with before it runs.
fn declared_type(t: ColumnType) -> Type {
    match t {
        ColumnType::Integer => Type::INT8,
        ColumnType::Real => Type::FLOAT8,
        ColumnType::Boolean => Type::BOOL,
        ColumnType::Json => Type::JSONB,
        ColumnType::Timestamp => Type::TIMESTAMPTZ,
        ColumnType::Date => Type::DATE,
        ColumnType::Text | ColumnType::Any => Type::TEXT,
    }
}

/// The columns' types as the wire gives them: a column's own type, else (a computed column)
/// what its expression settles (`count(*)` is `int8`), else `None`: the values decide.
fn wire_types(statement: &Statement, columns: &[iql::ResultColumn]) -> Vec<Option<Type>> {
    let hints = match statement {
        Statement::Query(q) => q.postgres_types(),
        _ => Vec::new(),
    };
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| match c.column_type {
            ColumnType::Any => match hints.get(i) {
                Some(Some(t)) if hints.len() == columns.len() => Some(match t {
                    iql::ExpressionType::Integer => Type::INT8,
                    iql::ExpressionType::Real => Type::FLOAT8,
                    iql::ExpressionType::Boolean => Type::BOOL,
                    iql::ExpressionType::Text => Type::TEXT,
                    iql::ExpressionType::Timestamp => Type::TIMESTAMPTZ,
                }),
                _ => None,
            },
            other => Some(declared_type(other)),
        })
        .collect()
}

/// The columns' names as PostgreSQL gives them: `count(*)` is `count` (clients and ORMs read
/// `row["count"]`); every other name is SQLite's.
fn wire_names(statement: &Statement, columns: &[iql::ResultColumn]) -> Vec<String> {
    let renamed = match statement {
        Statement::Query(q) => q.postgres_names(),
        Statement::Copy(c) => c.query.postgres_names(),
        _ => Vec::new(),
    };
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| match renamed.get(i) {
            Some(Some(name)) if renamed.len() == columns.len() => name.clone(),
            _ => c.name.clone(),
        })
        .collect()
}

fn fields(names: &[String], types: &[Type], format: &Format) -> Vec<FieldInfo> {
    names
        .iter()
        .zip(types)
        .enumerate()
        .map(|(i, (n, t))| FieldInfo::new(n.clone(), None, None, t.clone(), format.format_for(i)))
        .collect()
}

/// One value as its column's type; a value SQLite stored in another type is converted where that
/// keeps its meaning (an integer in a real column), else it is an error naming it.
fn encode(encoder: &mut DataRowEncoder, t: &Type, cell: &Cell) -> PgWireResult<()> {
    let mismatch = |c: &Cell| {
        user_error(
            "22P02",
            format!(
                "a value of type {} cannot be sent as {}: {c}",
                kind(c),
                t.name()
            ),
            None,
        )
    };
    match (cell, t) {
        (Cell::Null, _) => encoder.encode_field(&None::<i64>),
        (_, t) if *t == Type::TEXT => encoder.encode_field(&cell.to_string()),
        (Cell::Integer(i), t) if *t == Type::INT8 => encoder.encode_field(i),
        (Cell::Bool(b), t) if *t == Type::INT8 => encoder.encode_field(&i64::from(*b)),
        (Cell::Text(s), t) if *t == Type::INT8 => match s.trim().parse::<i64>() {
            Ok(i) => encoder.encode_field(&i),
            Err(_) => Err(mismatch(cell)),
        },
        (Cell::Integer(i), t) if *t == Type::FLOAT8 => encoder.encode_field(&(*i as f64)),
        (Cell::Real(f), t) if *t == Type::FLOAT8 => encoder.encode_field(f),
        (Cell::Bool(b), t) if *t == Type::BOOL => encoder.encode_field(b),
        (Cell::Integer(i), t) if *t == Type::BOOL => encoder.encode_field(&(*i != 0)),
        (Cell::Json(v), t) if *t == Type::JSONB => encoder.encode_field(v),
        (Cell::Text(s), t) if *t == Type::JSONB => {
            let v = serde_json::from_str::<serde_json::Value>(s)
                .unwrap_or_else(|_| serde_json::Value::String(s.clone()));
            encoder.encode_field(&v)
        }
        (Cell::Integer(_) | Cell::Real(_) | Cell::Bool(_), t) if *t == Type::JSONB => {
            encoder.encode_field(&cell.to_json())
        }
        (Cell::Text(s), t) if *t == Type::TIMESTAMPTZ => match iql::parse_instant(s) {
            Some(at) => encoder.encode_field(&at),
            None => Err(mismatch(cell)),
        },
        (Cell::Text(s), t) if *t == Type::DATE => {
            match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                Ok(day) => encoder.encode_field(&day),
                Err(_) => Err(mismatch(cell)),
            }
        }
        (other, _) => Err(mismatch(other)),
    }
}

fn kind(c: &Cell) -> &'static str {
    match c {
        Cell::Null => "null",
        Cell::Bool(_) => "boolean",
        Cell::Integer(_) => "integer",
        Cell::Real(_) => "real",
        Cell::Text(_) => "text",
        Cell::Json(_) => "json",
    }
}

/// A statement's result as the wire carries it. With `infer` (the simple protocol, where nothing
/// was described before), a column of expressions (`count(*)`) is typed by its values.
/// A cell as COPY writes it: NULL as the format's NULL, booleans as `t` and `f`.
fn copy_text(cell: &Cell) -> Option<String> {
    match cell {
        Cell::Null => None,
        Cell::Bool(b) => Some(if *b { "t" } else { "f" }.to_string()),
        other => Some(other.to_string()),
    }
}

/// `COPY … TO STDOUT`: the rows as COPY data, one message a row (the header line, if asked
/// for, goes with the first, so the client's row count is the rows').
fn copy_response(copy: &iql::CopyStatement, result: QueryResult) -> Response {
    let names = wire_names(&Statement::Copy(copy.clone()), &result.columns);
    let mut header = copy
        .header
        .then(|| format!("{}\n", copy.line(names.iter().map(|n| Some(n.as_str())))));
    let mut lines = Vec::with_capacity(result.rows.len().max(1));
    for row in &result.rows {
        let values: Vec<Option<String>> = row.iter().map(copy_text).collect();
        let mut line = header.take().unwrap_or_default();
        line.push_str(&copy.line(values.iter().map(|v| v.as_deref())));
        line.push('\n');
        lines.push(Ok(pgwire::messages::copy::CopyData::new(
            bytes::Bytes::from(line),
        )));
    }
    if let Some(h) = header {
        lines.push(Ok(pgwire::messages::copy::CopyData::new(
            bytes::Bytes::from(h),
        )));
    }
    Response::CopyOut(pgwire::api::results::CopyResponse::new(
        0,
        result.columns.len(),
        stream::iter(lines),
    ))
}

fn response(statement: &Statement, result: QueryResult, format: &Format, infer: bool) -> Response {
    let tag = match statement {
        Statement::Insert(_) => "INSERT 0",
        Statement::Update(_) => "UPDATE",
        Statement::Delete(_) => "DELETE",
        Statement::Exec(_) => "EXEC",
        _ => "SELECT",
    };
    shaped_response(statement, tag, result, format, infer)
}

/// [`response`], with the rows' tag given (`FETCH` for a cursor's rows, shaped as its query's).
fn shaped_response(
    statement: &Statement,
    tag: &str,
    result: QueryResult,
    format: &Format,
    infer: bool,
) -> Response {
    if let Statement::Copy(copy) = statement {
        return copy_response(copy, result);
    }
    if let Statement::Session(s) = statement {
        use iql::SessionStatement as S;
        match s {
            S::Begin => return Response::TransactionStart(Tag::new("BEGIN")),
            S::Commit => return Response::TransactionEnd(Tag::new("COMMIT")),
            S::Rollback => return Response::TransactionEnd(Tag::new("ROLLBACK")),
            S::Show(_) => {}
            other => return Response::Execution(Tag::new(other.tag())),
        }
    }
    if result.columns.is_empty() {
        let n = result.affected.unwrap_or(0) as usize;
        let tag = match statement {
            Statement::Insert(_) => Tag::new("INSERT").with_oid(0).with_rows(n),
            Statement::Update(_) => Tag::new("UPDATE").with_rows(n),
            Statement::Delete(_) => Tag::new("DELETE").with_rows(n),
            Statement::Exec(_) => Tag::new("EXEC").with_rows(n),
            Statement::CreateView(v) if v.materialized => Tag::new("CREATE MATERIALIZED VIEW"),
            Statement::CreateView(_) => Tag::new("CREATE VIEW"),
            Statement::DropView(d) if d.materialized => Tag::new("DROP MATERIALIZED VIEW"),
            Statement::DropView(_) => Tag::new("DROP VIEW"),
            Statement::RefreshView(_) => Tag::new("REFRESH MATERIALIZED VIEW"),
            _ => Tag::new("SELECT").with_rows(0),
        };
        return Response::Execution(tag);
    }
    // The types a describe gave before the statement ran: clients decode by them.
    let types: Vec<Type> = wire_types(statement, &result.columns)
        .into_iter()
        .enumerate()
        .map(|(i, t)| match t {
            Some(t) => t,
            None if infer => inferred(&result, i),
            None => Type::TEXT,
        })
        .collect();
    let names = wire_names(statement, &result.columns);
    let schema = Arc::new(fields(&names, &types, format));
    let mut encoder = DataRowEncoder::new(schema.clone());
    let rows: Vec<PgWireResult<_>> = result
        .rows
        .iter()
        .map(|row| {
            for (cell, t) in row.iter().zip(&types) {
                encode(&mut encoder, t, cell)?;
            }
            Ok(encoder.take_row())
        })
        .collect();
    let mut r = QueryResponse::new(schema, stream::iter(rows));
    // pgwire adds the row count.
    r.set_command_tag(tag);
    Response::Query(r)
}

fn user_error(code: &str, message: String, detail: Option<String>) -> PgWireError {
    // Logged as PostgreSQL logs a failed statement by default: its SQLSTATE and message (which
    // never hold a secret). A client's error is otherwise seen only by that client.
    tracing::info!(sqlstate = code, "statement failed: {message}");
    let mut info = ErrorInfo::new("ERROR".to_string(), code.to_string(), message);
    info.detail = detail;
    PgWireError::UserError(Box::new(info))
}

/// The SQLSTATE of an iql error: syntax 42601, unknown table 42P01, unknown column 42703, missing
/// parameter or bad value 22023, fan-out limit 54000, upstream HTTP failure 58000, credentials
/// 28000, a statement timeout 57014, else XX000.
pub fn sqlstate(e: &iql::Error) -> &'static str {
    let text = e.to_string();
    match e.kind() {
        ErrorKind::Syntax => "42601",
        ErrorKind::Provider => "42P01",
        ErrorKind::Sql if text.starts_with("no such table") => "42P01",
        ErrorKind::Sql if text.starts_with("no such column") => "42703",
        ErrorKind::Sql if text.starts_with("no such function") => "42883",
        ErrorKind::Sql => "42000",
        ErrorKind::Planning if matches!(e, iql::Error::TooManyRequests { .. }) => "54000",
        ErrorKind::Planning if matches!(e, iql::Error::UnknownSetting { .. }) => "42704",
        ErrorKind::Planning => "22023",
        ErrorKind::Http | ErrorKind::Response | ErrorKind::Action => "58000",
        ErrorKind::Credentials => "28000",
        ErrorKind::Conversion => "22000",
        _ => "XX000",
    }
}

fn iql_error(e: &iql::Error) -> PgWireError {
    let detail = match e {
        iql::Error::Http(h) => Some(h.to_string()),
        _ => None,
    };
    user_error(sqlstate(e), e.to_string(), detail)
}

/// Parameter values of a portal, as iql bind values: text and binary forms of the usual types.
fn parameters(portal: &Portal<String>) -> PgWireResult<Vec<Cell>> {
    let mut out = Vec::with_capacity(portal.parameter_len());
    for i in 0..portal.parameter_len() {
        let t = portal
            .statement
            .parameter_types
            .get(i)
            .cloned()
            .flatten()
            .unwrap_or(Type::UNKNOWN);
        let cell = match t {
            Type::INT2 => Cell::from(portal.parameter::<i16>(i, &t)?),
            Type::INT4 => Cell::from(portal.parameter::<i32>(i, &t)?),
            Type::INT8 => Cell::from(portal.parameter::<i64>(i, &t)?),
            Type::FLOAT4 => Cell::from(portal.parameter::<f32>(i, &t)?),
            Type::FLOAT8 => Cell::from(portal.parameter::<f64>(i, &t)?),
            Type::BOOL => Cell::from(portal.parameter::<bool>(i, &t)?),
            Type::JSON | Type::JSONB => portal
                .parameter::<serde_json::Value>(i, &t)?
                .map(|v| Cell::Text(v.to_string()))
                .unwrap_or(Cell::Null),
            _ => Cell::from(portal.parameter::<String>(i, &Type::TEXT)?),
        };
        out.push(cell);
    }
    Ok(out)
}

#[async_trait]
impl SimpleQueryHandler for Connection {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: pgwire::api::store::PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.adopt_client(client);
        self.answer(client, query).await
    }
}

#[async_trait]
impl ExtendedQueryHandler for Connection {
    type Statement = String;
    type QueryParser = NoopQueryParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: pgwire::api::store::PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.adopt_client(client);
        let text = &portal.statement.statement;
        let values = parameters(portal)?;
        let bound = iql::bind(text, &values).map_err(|e| iql_error(&e))?;
        let statements = self.session.parse(&bound).map_err(|e| iql_error(&e))?;
        let [statement] = statements.as_slice() else {
            return match statements.len() {
                0 => Ok(Response::EmptyQuery),
                n => Err(user_error(
                    "42601",
                    format!("a prepared statement holds one statement; this one holds {n}"),
                    None,
                )),
            };
        };
        if let Statement::Cursor(c) = &statement.statement {
            let r = self
                .cursor(c, statement, &portal.result_column_format)
                .await?;
            // psycopg 3 describes a cursor as a portal of its name: one is kept that fetches
            // from it.
            if let iql::CursorStatement::Declare { name, .. } = c {
                let mut described = Portal::<String>::default();
                described.name = name.clone();
                described.statement = Arc::new(StoredStatement::new(
                    name.clone(),
                    format!("FETCH ALL FROM {}", quote_name(name)),
                    Vec::new(),
                ));
                pgwire::api::store::PortalStore::put_portal(
                    client.portal_store(),
                    Arc::new(described),
                );
            }
            return Ok(r);
        }
        let result = self.run(statement).await?;
        notify(client, &result.notices).await?;
        self.after(&statement.statement).await;
        Ok(response(
            &statement.statement,
            result,
            &portal.result_column_format,
            false,
        ))
    }

    async fn do_describe_statement<C>(
        &self,
        client: &mut C,
        stmt: &StoredStatement<Self::Statement>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: pgwire::api::store::PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.adopt_client(client);
        // Parameters the client did not type are text: every driver can send text, and iql
        // types a value by where it goes.
        let count = positional_count(&stmt.statement);
        let params: Vec<Type> = (0..count)
            .map(|i| {
                stmt.parameter_types
                    .get(i)
                    .cloned()
                    .flatten()
                    .filter(|t| *t != Type::UNKNOWN)
                    .unwrap_or(Type::TEXT)
            })
            .collect();
        let fields = self
            .describe(&stmt.statement, count, &Format::UnifiedBinary)
            .await?;
        Ok(DescribeStatementResponse::new(params, fields))
    }

    async fn do_describe_portal<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: pgwire::api::store::PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.adopt_client(client);
        let text = &portal.statement.statement;
        let fields = self
            .describe(text, positional_count(text), &portal.result_column_format)
            .await?;
        Ok(DescribePortalResponse::new(fields))
    }
}

/// A name as SQL writes it, quoted.
fn quote_name(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// How many values `$1`, `$2`, … (or `?`) a statement takes.
fn positional_count(text: &str) -> usize {
    let mut question = 0;
    let mut highest = 0;
    for p in iql::placeholders(text) {
        if p == "?" {
            question += 1;
        } else if let Some(n) = p
            .strip_prefix('$')
            .or_else(|| p.strip_prefix('?'))
            .and_then(|n| n.parse::<usize>().ok())
        {
            highest = highest.max(n);
        }
    }
    highest.max(question)
}

impl Connection {
    /// The fields a statement will give, found without running it.
    async fn describe(
        &self,
        text: &str,
        params: usize,
        format: &Format,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let zeros = vec![Cell::Integer(0); params];
        let bound = iql::bind(text, &zeros).map_err(|e| iql_error(&e))?;
        let statements = self.session.parse(&bound).map_err(|e| iql_error(&e))?;
        let Some(statement) = statements.first() else {
            return Ok(Vec::new());
        };
        if let Statement::Cursor(c) = &statement.statement {
            return match c {
                iql::CursorStatement::Fetch {
                    name,
                    moving: false,
                    ..
                } => self.cursor_fields(name, format).await,
                _ => Ok(Vec::new()),
            };
        }
        let columns = self
            .session
            .result_columns(statement)
            .await
            .map_err(|e| {
                let e = iql_error(&e);
                log_statement(text);
                e
            })?
            .unwrap_or_default();
        let names = wire_names(&statement.statement, &columns);
        let types: Vec<Type> = wire_types(&statement.statement, &columns)
            .into_iter()
            .map(|t| t.unwrap_or(Type::TEXT))
            .collect();
        Ok(fields(&names, &types, format))
    }
}

/// What pgwire asks a connection for: its handlers (the connection itself), and the server's
/// cancel handler.
struct Handlers {
    connection: Arc<Connection>,
    startup: Arc<Startup>,
    cancel: Arc<DefaultCancelHandler>,
}

/// How a connection is let in: trusted (loopback), or TLS and a SCRAM-SHA-256 password.
enum Startup {
    Trust(Arc<Connection>),
    Scram(Arc<pgwire::api::auth::sasl::SASLAuthStartupHandler<DefaultParameters>>),
}

type DefaultParameters = pgwire::api::auth::DefaultServerParameterProvider;

/// Iterations of SCRAM's key derivation (PostgreSQL's default).
const SCRAM_ITERATIONS: usize = 4096;

/// The one password, salted once per server.
#[derive(Debug)]
struct OnePassword {
    salt: Vec<u8>,
    salted: Vec<u8>,
}

#[async_trait]
impl pgwire::api::auth::AuthSource for OnePassword {
    async fn get_password(
        &self,
        _login: &pgwire::api::auth::LoginInfo,
    ) -> PgWireResult<pgwire::api::auth::Password> {
        Ok(pgwire::api::auth::Password::new(
            Some(self.salt.clone()),
            self.salted.clone(),
        ))
    }
}

fn scram_handler(
    security: &Security,
    manager: Arc<ConnectionManager>,
) -> pgwire::api::auth::sasl::SASLAuthStartupHandler<DefaultParameters> {
    use pgwire::api::auth::sasl::scram::{gen_salted_password, ScramAuth};
    let mut salt = vec![0u8; 16];
    {
        use ring::rand::SecureRandom;
        // Without a source of random numbers the salt stays zeros: still a valid SCRAM exchange.
        let _ = ring::rand::SystemRandom::new().fill(&mut salt);
    }
    let salted = gen_salted_password(&security.password, &salt, SCRAM_ITERATIONS);
    let mut scram = ScramAuth::new(Arc::new(OnePassword { salt, salted }));
    scram.set_iterations(SCRAM_ITERATIONS);
    // Channel binding (SCRAM-SHA-256-PLUS) for clients that ask for it.
    let _ = scram.configure_certificate(&security.certificate_pem);
    pgwire::api::auth::sasl::SASLAuthStartupHandler::new(Arc::new(DefaultParameters::default()))
        .with_scram(scram)
        .with_connection_manager(manager)
}

#[async_trait]
impl pgwire::api::auth::StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: pgwire::messages::PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match self {
            Startup::Trust(c) => c.on_startup(client, message).await,
            Startup::Scram(s) => {
                if !client.is_secure() {
                    let mut info = ErrorInfo::new(
                        "FATAL".to_string(),
                        "28000".to_string(),
                        "this iql serve takes connections over TLS only (sslmode=require)"
                            .to_string(),
                    );
                    info.hint =
                        Some("connect with sslmode=require and the server's password".into());
                    return Err(PgWireError::UserError(Box::new(info)));
                }
                s.on_startup(client, message).await
            }
        }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.connection.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.connection.clone()
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        self.startup.clone()
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        self.cancel.clone()
    }
}

#[async_trait]
impl NoopStartupHandler for Connection {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(self.manager.clone())
    }
}
