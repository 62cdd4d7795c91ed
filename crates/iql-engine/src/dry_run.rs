//! `--dry-run` of a `SELECT`: the requests it would send first, built exactly as they would be
//! (URL, page size), and nothing sent. Tables that take their values from another table or a
//! subquery cannot be known without running it: a notice says so.

use iql_sql::QueryStatement;

use crate::error::EngineError;
use crate::session::Session;
use crate::value::{Cell, ColumnType, QueryResult, ResultColumn};
use crate::{fetch, plan};

impl Session {
    /// `--dry-run` of a SELECT: the first request of each table that does not wait on another.
    pub(crate) fn dry_run_query(&self, q: &QueryStatement) -> Result<QueryResult, EngineError> {
        let plans = plan::plan_query(self, q)?;
        let (db, _, _) = self.prepare_local(q, &plans)?;
        self.local.give_back(db);
        let mut requests = Vec::new();
        let mut notices = Vec::new();
        for p in &plans {
            if !p.links.is_empty() {
                notices.push(format!(
                    "{} is requested once per value another table or a subquery gives it, which a dry run cannot know",
                    p.resource.id
                ));
                continue;
            }
            for args in fetch::combinations(&p.literals) {
                let size = p
                    .method
                    .top_param
                    .as_ref()
                    .map(|(_, max)| p.row_limit.unwrap_or(*max).min(*max));
                let url = fetch::build_url(&p.base_url, &p.method, &args, size)?;
                requests.push((p.method.http_method.as_str(), url.to_string(), None));
            }
        }
        let mut result = QueryResult::dry_run(requests);
        result.notices = notices;
        Ok(result)
    }

    /// [`Session::dry_run_query`] with what each provider's requests would carry, said last.
    pub(crate) fn dry_run_select(&self, q: &QueryStatement) -> Result<QueryResult, EngineError> {
        let mut r = self.dry_run_query(q)?;
        r.notices.extend(self.credential_notices(q));
        Ok(r)
    }

    /// What a dry run says of the credential of each provider `q` reads
    /// ([`Session::credential_notice`]).
    pub(crate) fn credential_notices(&self, q: &QueryStatement) -> Vec<String> {
        let mut providers: Vec<&str> = q
            .tables
            .iter()
            .filter_map(|t| t.name.first().map(String::as_str))
            .collect();
        providers.sort_unstable();
        providers.dedup();
        providers
            .iter()
            .filter_map(|p| self.credential_notice(p))
            .collect()
    }

    /// `EXPLAIN query`: PostgreSQL's one `QUERY PLAN` column, one line per request the query
    /// sends first (as `--dry-run` lists them), then what a dry run cannot know. Nothing is sent.
    pub(crate) fn explain(&self, q: &QueryStatement) -> Result<QueryResult, EngineError> {
        let q = self.with_views(q)?;
        let mut lines = Vec::new();
        if q.tables.is_empty() {
            lines.push("no API request: SQLite answers the query".to_string());
        } else {
            let dry = self.dry_run_query(&q)?;
            for row in &dry.rows {
                if let [Cell::Text(method), Cell::Text(url), ..] = row.as_slice() {
                    lines.push(format!("{method} {url}"));
                }
            }
            lines.extend(dry.notices.iter().map(|n| format!("note: {n}")));
            lines.push("then SQLite runs the query over the rows".to_string());
        }
        Ok(QueryResult {
            columns: vec![ResultColumn {
                name: "QUERY PLAN".to_string(),
                column_type: ColumnType::Text,
            }],
            rows: lines.into_iter().map(|l| vec![Cell::Text(l)]).collect(),
            ..QueryResult::default()
        })
    }
}
