//! The few places where PostgreSQL and SQLite need different SQL.

use diesel::connection::SimpleConnection;
use diesel::result::Error as DieselError;
use diesel::{Connection, QueryResult};

use super::{DbConnection, PooledConn};

/// One writer at a time per process on SQLite, which allows one writer per database anyway.
static SQLITE_WRITERS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The handle of an open transaction, which only [`write_transaction`] makes (and
/// [`read_snapshot`], for reads whose audit records are written after them).
///
/// The signature of a function that touches the database says which transaction it runs in:
/// - `&mut Tx`: inside the caller's write transaction. Everything that must commit with something
///   else takes it: a change and its audit record, a job and the change that causes it, a check
///   and the write it guards.
/// - `&mut PooledConn`: it opens its own write transaction(s) with [`write_transaction`].
/// - `&mut DbConnection`: reads, or one statement that stands alone (a job's claim, a send's
///   attempt row, which must be visible whatever happens next).
///
/// A `Tx` reads like the connection (it dereferences to it; diesel's query methods take
/// [`Tx::conn`]). Nothing outside this module can make one:
///
/// ```compile_fail,E0423
/// fn forge(conn: &mut terren_api::db::DbConnection) {
///     let _tx = terren_api::db::Tx(conn);
/// }
/// ```
///
/// and a transaction cannot be opened inside another, because opening one needs the pooled
/// connection, which the open transaction holds:
///
/// ```compile_fail,E0308
/// use terren_api::db::{PooledConn, backend};
/// fn nested(conn: &mut PooledConn) -> diesel::QueryResult<()> {
///     backend::write_transaction(conn, |tx| backend::write_transaction(tx, |_| Ok(())))
/// }
/// ```
pub struct Tx<'c> {
    conn: &'c mut DbConnection,
    /// In a [`read_snapshot`], the writes kept for after it (the audit records of what was read).
    deferred: Option<Vec<DeferredWrite>>,
}

/// A write that a read snapshot keeps and [`read_snapshot`] makes after it.
pub type DeferredWrite = Box<dyn FnOnce(&mut Tx<'_>) -> QueryResult<()>>;

impl<'c> Tx<'c> {
    fn writing(conn: &'c mut DbConnection) -> Tx<'c> {
        Tx { conn, deferred: None }
    }

    /// The connection, for diesel's query methods (which do not follow `Deref`).
    pub fn conn(&mut self) -> &mut DbConnection {
        self.conn
    }

    /// In a read snapshot, keeps `write` for after it and answers `None`; in a write transaction,
    /// hands it back to be made now.
    pub fn defer(&mut self, write: DeferredWrite) -> Option<DeferredWrite> {
        match &mut self.deferred {
            Some(kept) => {
                kept.push(write);
                None
            }
            None => Some(write),
        }
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        self.conn
    }
}

impl std::ops::DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut DbConnection {
        self.conn
    }
}

/// Runs `f` in a transaction that holds the write lock from the start.
///
/// On SQLite a deferred transaction that reads before it writes can fail with `SQLITE_BUSY`
/// when another writer got there first; `BEGIN IMMEDIATE` queues instead. PostgreSQL's default
/// transaction already does the right thing.
pub fn write_transaction<T, E, F>(pooled: &mut PooledConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
    E: From<DieselError>,
{
    let conn: &mut DbConnection = pooled;
    match conn {
        DbConnection::Sqlite(_) => {
            // Writers of this process queue here instead of polling SQLite's lock with sleeps
            // (its busy handler waits up to 100 ms between tries, which makes the slowest writes
            // wait far longer than the work ahead of them). Other processes still meet the
            // busy timeout.
            let _turn = SQLITE_WRITERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            conn.batch_execute("BEGIN IMMEDIATE")?;
            // diesel does not know about this transaction, so a panic must not leave it open on a
            // pooled connection (it would hold the write lock for every later writer).
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut Tx::writing(conn))));
            match outcome {
                Ok(Ok(value)) => {
                    if let Err(commit_error) = conn.batch_execute("COMMIT") {
                        let _ = conn.batch_execute("ROLLBACK");
                        return Err(commit_error.into());
                    }
                    Ok(value)
                }
                Ok(Err(error)) => {
                    let _ = conn.batch_execute("ROLLBACK");
                    Err(error)
                }
                Err(panic) => {
                    let _ = conn.batch_execute("ROLLBACK");
                    std::panic::resume_unwind(panic)
                }
            }
        }
        DbConnection::Postgres(_) => conn.transaction(|conn| f(&mut Tx::writing(conn))),
    }
}

/// Runs `f`, which only reads, on one consistent snapshot without taking the write lock, and
/// then writes the audit records of what it read in a short write transaction. For long audited
/// reads (a sync page): built inside a write transaction they would hold SQLite's one write lock
/// for their whole length and queue behind every writer. If the audit records cannot be written,
/// the answer is an error: nothing read goes out unaudited. A write inside `f` fails (PostgreSQL
/// runs it `READ ONLY`; on SQLite it would have to wait for the lock it was meant to avoid).
pub fn read_snapshot<T, E, F>(pooled: &mut PooledConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
    E: From<DieselError>,
{
    let run = |conn: &mut DbConnection| -> Result<(T, Vec<DeferredWrite>), E> {
        let mut tx = Tx { conn, deferred: Some(Vec::new()) };
        let value = f(&mut tx)?;
        Ok((value, tx.deferred.unwrap_or_default()))
    };
    let conn: &mut DbConnection = pooled;
    let begin = match conn {
        DbConnection::Sqlite(_) => "BEGIN DEFERRED",
        DbConnection::Postgres(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    };
    conn.batch_execute(begin)?;
    // As in `write_transaction`, diesel does not know about this transaction: it must end here
    // whatever `f` does.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(conn)));
    let (value, deferred) = match outcome {
        Ok(Ok(read)) => {
            if let Err(commit_error) = conn.batch_execute("COMMIT") {
                let _ = conn.batch_execute("ROLLBACK");
                return Err(commit_error.into());
            }
            read
        }
        Ok(Err(error)) => {
            let _ = conn.batch_execute("ROLLBACK");
            return Err(error);
        }
        Err(panic) => {
            let _ = conn.batch_execute("ROLLBACK");
            std::panic::resume_unwind(panic)
        }
    };
    if !deferred.is_empty() {
        write_transaction(pooled, |tx| deferred.into_iter().try_for_each(|write| write(tx)))?;
    }
    Ok(value)
}

/// Runs `batch` in write transactions while `pending` (a look outside any transaction, so that an
/// idle server takes no write lock) says there is work, until a batch takes fewer than `size`
/// items. `batch` returns the items it took and what it counts; the counts are summed.
pub fn drain<F>(
    conn: &mut PooledConn,
    size: usize,
    pending: impl Fn(&mut DbConnection) -> QueryResult<bool>,
    mut batch: F,
) -> QueryResult<usize>
where
    F: FnMut(&mut Tx<'_>) -> QueryResult<(usize, usize)>,
{
    let mut counted = 0;
    while pending(conn)? {
        let (taken, count) = write_transaction(conn, &mut batch)?;
        counted += count;
        if taken < size {
            break;
        }
    }
    Ok(counted)
}

/// Runs `f` in a savepoint of the current write transaction, so that its failure undoes its own
/// writes only. Diesel's nested transactions cannot serve here: on SQLite they do not know of the
/// transaction `write_transaction` opened.
pub fn savepoint<T, E, F>(conn: &mut Tx<'_>, f: F) -> Result<T, E>
where
    F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
    E: From<DieselError>,
{
    conn.batch_execute("SAVEPOINT terren_step")?;
    match f(conn) {
        Ok(value) => {
            conn.batch_execute("RELEASE SAVEPOINT terren_step")?;
            Ok(value)
        }
        Err(error) => {
            conn.batch_execute("ROLLBACK TO SAVEPOINT terren_step")?;
            conn.batch_execute("RELEASE SAVEPOINT terren_step")?;
            Err(error)
        }
    }
}

/// Serialises writers of a table inside the current transaction: of an append-only sequence (the
/// audit chain, reference counters), or of a check followed by a write (planning rounds, where two
/// coordinators must not book one person twice). Readers are not held up. SQLite's immediate
/// transaction already excludes other writers.
pub fn serialise_writers(conn: &mut Tx<'_>, table: &str) -> QueryResult<()> {
    match &mut **conn {
        DbConnection::Postgres(pg) => pg.batch_execute(&format!("LOCK TABLE {table} IN EXCLUSIVE MODE")),
        DbConnection::Sqlite(_) => Ok(()),
    }
}

/// Runs migrations under a PostgreSQL advisory lock so that several instances starting at once
/// do not race; SQLite runs them in its own write lock.
pub fn with_migration_lock<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    const KEY: i64 = 0x7465_7272_656e; // "terren"
    if let DbConnection::Postgres(pg) = conn {
        pg.batch_execute(&format!("SELECT pg_advisory_lock({KEY})"))?;
    }
    let result = f(conn);
    if let DbConnection::Postgres(pg) = conn {
        pg.batch_execute(&format!("SELECT pg_advisory_unlock({KEY})"))?;
    }
    result
}
