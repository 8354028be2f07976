//! The query planner's statistics. PostgreSQL's autovacuum keeps them up to date; SQLite gathers
//! them only when asked, and without them it may answer "which of these ids are in scope" by
//! reading every row of the scope through its indexes instead of looking the ids up by key.

use std::time::{Duration as StdDuration, Instant};

use diesel::QueryResult;
use diesel::connection::SimpleConnection;

use crate::db::DbConnection;
use crate::state::AppState;

/// How often the statistics are looked at again; SQLite only re-reads a table whose size changed
/// a lot since it was last analysed, so a run where little changed costs next to nothing.
const EVERY: StdDuration = StdDuration::from_secs(60 * 60);

/// Gathers the statistics the planner is missing or that have gone stale. On SQLite each index
/// is sampled (`analysis_limit`), so the first run on a large file takes a moment, not minutes.
pub fn refresh(conn: &mut DbConnection) -> QueryResult<()> {
    match conn {
        DbConnection::Sqlite(conn) => conn.batch_execute("PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002;"),
        DbConnection::Postgres(_) => Ok(()),
    }
}

/// Refreshes the statistics at start and then every hour, on one pooled connection and off the
/// path that opens connections (analysing there held every new connection up behind it).
pub fn schedule(state: AppState) {
    actix_web::rt::spawn(async move {
        let mut ticks = actix_web::rt::time::interval(EVERY);
        loop {
            ticks.tick().await;
            let db = state.db.clone();
            let outcome = actix_web::rt::task::spawn_blocking(move || -> anyhow::Result<StdDuration> {
                let started = Instant::now();
                let mut conn = db.get()?;
                refresh(&mut conn)?;
                Ok(started.elapsed())
            })
            .await;
            match outcome {
                Ok(Ok(took)) => tracing::debug!(took_ms = took.as_millis() as u64, "planner statistics refreshed"),
                Ok(Err(error)) => {
                    tracing::warn!(error = %error, "refreshing the planner statistics failed; queries may be slower until the next try")
                }
                Err(error) => tracing::error!(error = %error, "refreshing the planner statistics panicked"),
            }
        }
    });
}
