//! Hand-written statements run on either backend, for the few queries diesel's DSL cannot say
//! well on both (sub-selects, `UNION ALL`, sums whose type differs between the backends,
//! `INSERT … SELECT … GROUP BY`).
//!
//! A statement numbers its parameters as PostgreSQL does (`$1`, `$2`, …; a number may appear
//! more than once); on SQLite they are read as `?1`, `?2`, … (a bare `$1` would be a *named*
//! parameter there, bound in order of first appearance). Parameters are `BIGINT`s: ids,
//! instants and limits. Anything textual belongs in the statement's constant text, never a
//! value from outside.

use diesel::pg::Pg;
use diesel::query_dsl::RunQueryDsl;
use diesel::sql_types::BigInt;
use diesel::sqlite::Sqlite;
use diesel::{QueryResult, QueryableByName};

use crate::DbConn;

/// The `BIGINT` parameters of a statement, numbered in the order they are added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<i64>);

impl Params {
    pub fn new() -> Params {
        Params::default()
    }

    /// Adds `value`; returns its placeholder (`$n`) for the statement's text.
    pub fn add(&mut self, value: i64) -> String {
        self.0.push(value);
        format!("${}", self.0.len())
    }

    pub fn values(&self) -> &[i64] {
        &self.0
    }
}

/// Runs `sql` with `params`, loading each row by column name.
pub fn load<T>(conn: &mut DbConn, sql: &str, params: &Params) -> QueryResult<Vec<T>>
where
    T: QueryableByName<Sqlite> + QueryableByName<Pg> + 'static,
{
    match conn {
        DbConn::Sqlite(c) => {
            let mut q = diesel::sql_query(sql.replace('$', "?")).into_boxed::<Sqlite>();
            for v in params.values() {
                q = q.bind::<BigInt, _>(*v);
            }
            q.load(c)
        }
        DbConn::Pg(c) => {
            let mut q = diesel::sql_query(sql).into_boxed::<Pg>();
            for v in params.values() {
                q = q.bind::<BigInt, _>(*v);
            }
            q.load(c)
        }
    }
}

/// Runs the statement `sql` (no rows back) with `params`; returns the number of rows changed.
pub fn execute(conn: &mut DbConn, sql: &str, params: &Params) -> QueryResult<usize> {
    match conn {
        DbConn::Sqlite(c) => {
            let mut q = diesel::sql_query(sql.replace('$', "?")).into_boxed::<Sqlite>();
            for v in params.values() {
                q = q.bind::<BigInt, _>(*v);
            }
            q.execute(c)
        }
        DbConn::Pg(c) => {
            let mut q = diesel::sql_query(sql).into_boxed::<Pg>();
            for v in params.values() {
                q = q.bind::<BigInt, _>(*v);
            }
            q.execute(c)
        }
    }
}
