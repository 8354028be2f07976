//! Counting queries written as SQL, for what the query builder cannot say: counts of distinct
//! people over a derived key, one row per person before grouping, percentiles by offset. The
//! text is the same on both databases (placeholders `$1`, `$2`… in order of first use, which
//! SQLite reads as numbered parameters), with the few expressions that differ chosen by backend.

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

use super::cases::Scope;
use crate::db::{Backend, DbConnection};

#[derive(Debug, Clone)]
enum Bind {
    Text(String),
    Time(NaiveDateTime),
}

/// A statement being written, with its bound values.
#[derive(Debug, Clone)]
pub struct Statement {
    backend: Backend,
    text: String,
    binds: Vec<Bind>,
}

impl Statement {
    pub fn new(conn: &DbConnection) -> Statement {
        Statement { backend: conn.backend(), text: String::new(), binds: Vec::new() }
    }

    pub fn sql(mut self, text: &str) -> Statement {
        self.text.push_str(text);
        self
    }

    fn placeholder(mut self, bind: Bind) -> Statement {
        self.binds.push(bind);
        self.text.push_str(&format!("${}", self.binds.len()));
        self
    }

    pub fn text(self, value: &str) -> Statement {
        self.placeholder(Bind::Text(value.to_owned()))
    }

    pub fn time(self, value: NaiveDateTime) -> Statement {
        self.placeholder(Bind::Time(value))
    }

    /// `inner` written here (as a subquery, say), its placeholders numbered after this one's.
    pub fn append(mut self, inner: Statement) -> Statement {
        let offset = self.binds.len();
        let mut rest = inner.text.as_str();
        while let Some(at) = rest.find('$') {
            self.text.push_str(&rest[..=at]);
            rest = &rest[at + 1..];
            let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            match rest[..digits].parse::<usize>() {
                Ok(n) => self.text.push_str(&(n + offset).to_string()),
                Err(_) => self.text.push_str(&rest[..digits]),
            }
            rest = &rest[digits..];
        }
        self.text.push_str(rest);
        self.binds.extend(inner.binds);
        self
    }

    /// ` AND column IN (…)` for the municipalities of `scope`; nothing for the whole country.
    pub fn within(self, column: &str, scope: &Scope) -> Statement {
        match scope {
            Scope::National => self,
            Scope::Municipalities(ids) if ids.is_empty() => self.sql(" AND 1 = 0"),
            Scope::Municipalities(ids) => {
                let mut statement = self.sql(&format!(" AND {column} IN ("));
                for (i, id) in ids.iter().enumerate() {
                    if i > 0 {
                        statement = statement.sql(", ");
                    }
                    statement = statement.text(id);
                }
                statement.sql(")")
            }
        }
    }

    /// Minutes from `start` to `end` (two timestamp expressions), as a floating-point number.
    pub fn minutes_between(self, start: &str, end: &str) -> Statement {
        let expression = match self.backend {
            Backend::Sqlite => format!("((julianday({end}) - julianday({start})) * 1440.0)"),
            Backend::Postgres => format!("CAST(EXTRACT(EPOCH FROM ({end} - {start})) / 60.0 AS DOUBLE PRECISION)"),
        };
        self.sql(&expression)
    }

    /// The timestamp expression cut to its hour, as text (`YYYY-MM-DD HH`).
    pub fn hour_of(self, timestamp: &str) -> Statement {
        let expression = match self.backend {
            Backend::Sqlite => format!("substr({timestamp}, 1, 13)"),
            Backend::Postgres => format!("to_char({timestamp}, 'YYYY-MM-DD HH24')"),
        };
        self.sql(&expression)
    }

    pub fn load<R: QueryableByName<crate::db::MultiBackend> + 'static>(
        self,
        conn: &mut DbConnection,
    ) -> QueryResult<Vec<R>> {
        let mut query = diesel::sql_query(self.text).into_boxed::<crate::db::MultiBackend>();
        for bind in self.binds {
            query = match bind {
                Bind::Text(value) => query.bind::<Text, _>(value),
                Bind::Time(value) => query.bind::<Timestamp, _>(value),
            };
        }
        query.load(conn)
    }
}

/// A count for a code.
#[derive(Debug, QueryableByName)]
pub struct CodeCount {
    #[diesel(sql_type = Nullable<Text>)]
    pub code: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// A single count.
#[derive(Debug, QueryableByName)]
pub struct Count {
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}
