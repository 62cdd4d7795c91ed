//! Rows as they come, in memory that does not grow with the result.
//!
//! A query whose every result row depends on one row of its one provider table (no join, group,
//! aggregate, ORDER BY, LIMIT or subquery: `QueryStatement::is_row_local`) gives the same rows run
//! page by page as run once over every page. So each page, as it arrives, goes into the statement's
//! SQLite table, the query runs over it, its rows go to the caller, and the table is emptied:
//! memory holds the pages in flight and the rows the caller has not taken yet (the channel is
//! bounded, so a slow reader slows the fetching), never the whole list. Pages that arrive early
//! wait for the ones before them, so rows come in the API's order, as they do from `execute`.
//!
//! A streamed result neither uses nor fills the response cache: keeping its pages would hold the
//! whole list in memory, which is what streaming avoids.
//!
//! Other queries (a sort needs every row before the first) run as usual and their rows are then
//! handed out one by one: the same stream, without the memory bound.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use iql_sql::{QueryStatement, Statement};

use crate::error::EngineError;
use crate::session::Session;
use crate::value::{Cell, FetchStats, QueryResult, ResultColumn};
use crate::{fetch, plan, sqlite};

/// What a stream found besides its rows, complete once the stream has ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamSummary {
    pub notices: Vec<String>,
    pub stats: FetchStats,
    /// Whether the rows streamed page by page (else the query ran whole first).
    pub paged: bool,
    /// A mutation's count and message (statements that are not queries run whole).
    pub affected: Option<u64>,
    pub message: Option<String>,
}

/// The rows of one statement, as a `Stream`; see the module documentation.
pub struct RowStream<'a> {
    columns: Vec<ResultColumn>,
    rows: Pin<Box<dyn Stream<Item = Result<Vec<Cell>, EngineError>> + Send + 'a>>,
    summary: Arc<Mutex<StreamSummary>>,
}

impl std::fmt::Debug for RowStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowStream")
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

impl RowStream<'_> {
    /// The result's columns, known before the first row.
    pub fn columns(&self) -> &[ResultColumn] {
        &self.columns
    }

    /// Notices and counts: complete once the stream has ended.
    pub fn summary(&self) -> StreamSummary {
        self.summary
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The next row (`None` at the end): the same as `StreamExt::next`, without needing a
    /// streams crate.
    pub async fn next_row(&mut self) -> Option<Result<Vec<Cell>, EngineError>> {
        self.rows.next().await
    }

    /// The same stream, with a panic while reading it (a bug) turned into an error made by
    /// `internal` from the panic's payload, after which the stream ends.
    pub fn catch_panics(
        self,
        internal: impl Fn(&(dyn std::any::Any + Send)) -> EngineError + Send + 'static,
    ) -> Self {
        let rows = std::panic::AssertUnwindSafe(self.rows)
            .catch_unwind()
            .map(move |r| match r {
                Ok(row) => row,
                Err(payload) => Err(internal(payload.as_ref())),
            });
        RowStream {
            columns: self.columns,
            rows: Box::pin(rows),
            summary: self.summary,
        }
    }

    /// A stream of rows already there (a statement that ran whole).
    fn from_result(r: QueryResult) -> RowStream<'static> {
        let summary = StreamSummary {
            notices: r.notices,
            stats: r.stats,
            paged: false,
            affected: r.affected,
            message: r.message,
        };
        RowStream {
            columns: r.columns,
            rows: Box::pin(futures::stream::iter(r.rows.into_iter().map(Ok))),
            summary: Arc::new(Mutex::new(summary)),
        }
    }
}

impl Stream for RowStream<'_> {
    type Item = Result<Vec<Cell>, EngineError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rows.as_mut().poll_next(cx)
    }
}

impl Session {
    /// Runs a statement and gives its rows as they come (see the module documentation).
    pub async fn stream(&self, statement: &Statement) -> Result<RowStream<'_>, EngineError> {
        if let Statement::Query(q) = statement {
            if !self.dry_run() {
                let q = self.with_views(q)?.into_owned();
                if q.is_row_local() {
                    if let Some(s) = self.stream_pages(q)? {
                        return Ok(s);
                    }
                }
            }
        }
        Ok(RowStream::from_result(self.execute(statement).await?))
    }

    /// The page-by-page stream of a row-local query, when its table is read by one call (not one
    /// per `IN` value or per row of another table); `None` otherwise.
    fn stream_pages(&self, q: QueryStatement) -> Result<Option<RowStream<'_>>, EngineError> {
        let plans = plan::plan_query(self, &q)?;
        let [p] = plans.as_slice() else {
            return Ok(None);
        };
        if p.split.is_some() || !p.links.is_empty() || fetch::combinations(&p.literals).len() != 1 {
            return Ok(None);
        }
        let (db, sql, rewritten) = self.prepare_local(&q, &plans)?;
        let probe = crate::query::type_probe_sql(rewritten.as_ref().unwrap_or(&q), &plans);
        let columns = sqlite::typed_columns(&db.conn, &sql, probe.as_deref())?;
        let token = self.credential(&p.provider)?;
        let summary = Arc::new(Mutex::new(StreamSummary {
            notices: p.notices.clone(),
            paged: true,
            ..StreamSummary::default()
        }));
        // Few batches of rows wait for the reader: a slow reader holds the fetching back.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<Vec<Cell>>, EngineError>>(2);
        let shared = summary.clone();
        let producer = async move {
            let mut db = db;
            let plan = &plans[0];
            let outcome = self
                .pour(plan, &mut db, (&sql, probe.as_deref()), token, &tx)
                .await;
            match outcome {
                Ok(fetched) => {
                    let mut s = shared
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    s.notices.extend(fetched.notices);
                    s.stats.requests += fetched.requests;
                    s.stats.from_cache += fetched.from_cache;
                    s.stats.rows_fetched += fetched.rows;
                    self.local.give_back(db);
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                }
            }
        };
        let received = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|batch| (Some(batch), rx))
        });
        // The producer yields nothing itself; polling it alongside the receiver drives it.
        let driven = futures::stream::once(producer).map(|()| None);
        let rows = futures::stream::select(driven.boxed(), received.boxed())
            .filter_map(futures::future::ready)
            .flat_map(|batch| {
                futures::stream::iter(match batch {
                    Ok(rows) => rows.into_iter().map(Ok).collect::<Vec<_>>(),
                    Err(e) => vec![Err(e)],
                })
            });
        Ok(Some(RowStream {
            columns,
            rows: Box::pin(rows),
            summary,
        }))
    }

    /// Fetches the table's pages and, in page order, runs the query over each and sends its rows.
    async fn pour(
        &self,
        plan: &plan::TablePlan,
        db: &mut sqlite::LocalDb,
        (sql, probe): (&str, Option<&str>),
        token: Option<iql_http::Secret>,
        tx: &tokio::sync::mpsc::Sender<Result<Vec<Vec<Cell>>, EngineError>>,
    ) -> Result<fetch::Fetched, EngineError> {
        let (btx, mut brx) = tokio::sync::mpsc::channel::<fetch::Batch>(
            2 * self.engine().config().http.concurrency.max(1),
        );
        let fetching = fetch::fetch_table(
            self,
            plan,
            plan.literals.clone(),
            token,
            btx,
            fetch::Reuse::Bypass,
        );
        let table = plan.local_name.clone();
        let loading = async move {
            // Pages by number (the row id of their first row), waiting for those before them.
            let mut early: BTreeMap<i64, fetch::Batch> = BTreeMap::new();
            let mut next = 0i64;
            let step = fetch::page_rowid_step();
            let mut stopped = false;
            while let Some(batch) = brx.recv().await {
                if stopped {
                    continue;
                }
                early.insert(batch.first_rowid, batch);
                while let Some(batch) = early.remove(&next) {
                    next += step;
                    let rows = run_batch(db, &table, plan, (sql, probe), &batch)?;
                    if !rows.is_empty() && tx.send(Ok(rows)).await.is_err() {
                        // The reader is gone: what is still fetched is not wanted.
                        stopped = true;
                        break;
                    }
                }
            }
            // Pages that never had a page before them arrive (a list cut short): in order.
            for (_, batch) in std::mem::take(&mut early) {
                if stopped {
                    break;
                }
                let rows = run_batch(db, &table, plan, (sql, probe), &batch)?;
                if !rows.is_empty() && tx.send(Ok(rows)).await.is_err() {
                    break;
                }
            }
            Ok::<(), EngineError>(())
        };
        let (fetched, loaded) = tokio::join!(fetching, loading);
        loaded?;
        fetched
    }
}

/// One page through the query: its rows into the table, the query's rows out, the table emptied.
/// (A function, not a closure: the connection must not be borrowed across an await.)
fn run_batch(
    db: &mut sqlite::LocalDb,
    table: &str,
    plan: &plan::TablePlan,
    (sql, probe): (&str, Option<&str>),
    batch: &fetch::Batch,
) -> Result<Vec<Vec<Cell>>, EngineError> {
    sqlite::insert_rows(
        &db.conn,
        table,
        plan.columns(),
        batch.first_rowid,
        &batch.rows,
    )?;
    let (_, rows) = sqlite::run_typed_query(&db.conn, sql, probe)?;
    db.conn
        .execute(&format!("DELETE FROM {}", sqlite::quote(table)), [])
        .map_err(|e| EngineError::Sqlite {
            message: e.to_string(),
        })?;
    Ok(rows)
}
