//! One codebase, two databases: a diesel MultiConnection over PostgreSQL and SQLite, chosen by
//! the URL scheme, behind an r2d2 pool with per-connection settings.

pub mod backend;
pub mod schema;
pub mod statistics;

pub use backend::Tx;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::{Config, DatabaseTarget};

pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl DbConnection {
    pub fn backend(&self) -> Backend {
        match self {
            DbConnection::Postgres(_) => Backend::Postgres,
            DbConnection::Sqlite(_) => Backend::Sqlite,
        }
    }

    fn migrations(&self) -> EmbeddedMigrations {
        match self {
            DbConnection::Postgres(_) => POSTGRES_MIGRATIONS,
            DbConnection::Sqlite(_) => SQLITE_MIGRATIONS,
        }
    }

    /// Applies every pending migration; returns how many ran.
    pub fn run_migrations(&mut self) -> anyhow::Result<usize> {
        let migrations = self.migrations();
        let applied =
            self.run_pending_migrations(migrations).map_err(|e| anyhow::anyhow!("applying migrations failed: {e}"))?;
        Ok(applied.len())
    }

    pub fn has_pending_migrations(&mut self) -> anyhow::Result<bool> {
        let migrations = self.migrations();
        self.has_pending_migration(migrations).map_err(|e| anyhow::anyhow!("checking migrations failed: {e}"))
    }

    /// Reverts every applied migration (used by the migration round-trip test).
    pub fn revert_every_migration(&mut self) -> anyhow::Result<usize> {
        let migrations = self.migrations();
        let reverted = MigrationHarness::revert_all_migrations(self, migrations)
            .map_err(|e| anyhow::anyhow!("reverting migrations failed: {e}"))?;
        Ok(reverted.len())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

/// `value` with LIKE's wildcards escaped, to match literally in a pattern used with
/// `.escape('\\')`.
pub fn like_literal(value: &str) -> String {
    value.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// How much of a SQLite database file is read through a memory map.
const SQLITE_MMAP_BYTES: u64 = 1 << 30;

/// Opens exactly the backend the URL names (the derived `establish` would try each in turn and
/// could silently create a SQLite file when PostgreSQL is down) and applies per-connection
/// settings.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    target: DatabaseTarget,
    statement_timeout_ms: u64,
}

impl ConnectionManager {
    pub fn new(target: DatabaseTarget, statement_timeout_ms: u64) -> ConnectionManager {
        ConnectionManager { target, statement_timeout_ms }
    }

    pub fn establish(&self) -> Result<DbConnection, r2d2::Error> {
        let timeout = self.statement_timeout_ms;
        match &self.target {
            DatabaseTarget::Postgres(url) => {
                let mut conn = PgConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(&format!("SET TimeZone = 'UTC'; SET statement_timeout = {timeout};"))
                    .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Postgres(conn))
            }
            DatabaseTarget::Sqlite(path) => {
                let path = path.to_str().ok_or_else(|| {
                    r2d2::Error::ConnectionError(ConnectionError::InvalidConnectionUrl(
                        "the SQLite path is not valid UTF-8".into(),
                    ))
                })?;
                let mut conn = SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                // Reads through a memory map share the operating system's page cache between
                // connections instead of copying pages into each connection's own small cache.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {timeout}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA mmap_size = {SQLITE_MMAP_BYTES};"
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        self.establish()
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConn = r2d2::PooledConnection<ConnectionManager>;

/// The pool and which backend it speaks to.
#[derive(Clone)]
pub struct Database {
    pub pool: Pool,
    pub backend: Backend,
    /// How long `get` waits for a connection the pool cannot open (`database.acquire_timeout_ms`).
    pub acquire_timeout: Duration,
    /// How much longer it waits when every connection is open and in use.
    pub busy_timeout: Duration,
}

impl Database {
    pub fn connect(config: &Config) -> anyhow::Result<Database> {
        let target = config.database_target()?;
        Database::connect_to(target, config.database.pool_size, config)
    }

    pub fn connect_to(target: DatabaseTarget, pool_size: u32, config: &Config) -> anyhow::Result<Database> {
        let backend = match target {
            DatabaseTarget::Postgres(_) => Backend::Postgres,
            DatabaseTarget::Sqlite(ref path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    create_private_dir(dir)
                        .map_err(|e| anyhow::anyhow!("cannot create the database directory {}: {e}", dir.display()))?;
                }
                create_private_file(path)
                    .map_err(|e| anyhow::anyhow!("cannot create the database file {}: {e}", path.display()))?;
                Backend::Sqlite
            }
        };
        let shown = target.redacted();
        let manager = ConnectionManager::new(target, config.database.statement_timeout_ms);
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            .connection_timeout(Duration::from_secs(config.database.connect_timeout_secs))
            .build(manager)
            .map_err(|e| anyhow::anyhow!("cannot connect to the database at {shown}: {e}"))?;
        let acquire_timeout = Duration::from_millis(config.database.acquire_timeout_ms);
        let busy_timeout = Duration::from_secs(config.database.connect_timeout_secs).saturating_sub(acquire_timeout);
        Ok(Database { pool, backend, acquire_timeout, busy_timeout })
    }

    /// A pooled connection. While the pool cannot open connections (the database is down) this
    /// fails after `database.acquire_timeout_ms`, so requests answer 503 at once instead of
    /// queueing behind connection attempts; when every connection is open and merely busy, it
    /// waits up to `database.connect_timeout_secs` in all, as a burst of requests should.
    pub fn get(&self) -> Result<PooledConn, r2d2::PoolError> {
        match self.pool.get_timeout(self.acquire_timeout) {
            Err(_) if !self.busy_timeout.is_zero() && self.pool.state().connections >= self.pool.max_size() => {
                self.pool.get_timeout(self.busy_timeout)
            }
            result => result,
        }
    }
}

/// Creates `dir` (and missing parents) readable by the service user only; an existing directory
/// keeps its mode.
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the SQLite file with mode 0600 before SQLite opens it (SQLite gives its `-wal` and
/// `-shm` files the database file's mode), and takes group and world access away from an
/// existing one.
fn create_private_file(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata()?.permissions().mode();
        if mode & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(mode & 0o700))?;
            tracing::warn!(path = %path.display(), "the database file was readable by other users: access restricted to the service user");
        }
    }
    Ok(())
}
