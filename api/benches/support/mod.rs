//! What the benches share: sizes and run counts from the environment, percentiles, a
//! configuration for the bench's database, the person a query runs as, and batched inserts.

use anyhow::{Context, anyhow};
use terren_api::access::AuthUser;
use terren_api::config::Config;
use terren_api::db::DbConnection;
use terren_api::ids::AgencyId;

/// A number from the environment, or `default` when it is not set.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(text) => text.trim().parse().map_err(|_| anyhow!("{name}={text} is not a valid number")),
        Err(_) => Ok(default),
    }
}

/// The nearest-rank percentile `p` (0–100) of sorted values; the type's default when there are
/// none.
pub fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Prints `label: N what; ms ... p50 … p90 … p99 … max …` for sorted milliseconds.
pub fn report_ms(label: &str, what: &str, sorted: &[i64]) {
    println!(
        "{label}: {} {what} p50 {} p90 {} p99 {} max {}",
        sorted.len(),
        percentile(sorted, 50.0),
        percentile(sorted, 90.0),
        percentile(sorted, 99.0),
        sorted.last().copied().unwrap_or(0)
    );
}

/// A configuration for the database at `url`, which the bench has prepared (no seeding on
/// start), logging warnings only. Its files, the signing key among them, live in the returned
/// temporary directory, out of the working tree, until it is dropped.
pub fn bench_config(url: String) -> anyhow::Result<(tempfile::TempDir, Config)> {
    let data_dir = tempfile::tempdir()?;
    let mut config = Config { data_dir: data_dir.path().to_path_buf(), ..Config::default() };
    config.database.url = Some(url.into());
    config.database.seed_on_start = false;
    config.log.filter = "warn".into();
    Ok((data_dir, config))
}

/// A person of the demo seed (`terren seed --demo`), as a request would carry them.
pub fn acting_as(conn: &mut DbConnection, username: &str) -> anyhow::Result<AuthUser> {
    AuthUser::acting_as(conn, username, "bench")
        .map_err(|e| anyhow::anyhow!("demo user {username} (seed with `terren seed --demo`): {e:?}"))
}

/// Runs a multi-row insert on the concrete connection: the multi-backend connection does not
/// batch inserts.
macro_rules! insert_rows {
    ($conn:expr, $query:expr) => {
        match $conn {
            DbConnection::Sqlite(c) => $query.execute(c),
            DbConnection::Postgres(c) => $query.execute(c),
        }
    };
}

/// The id of an agency of the seed.
pub fn agency_id(conn: &mut DbConnection, code: &str) -> anyhow::Result<AgencyId> {
    use diesel::prelude::*;
    use terren_api::db::schema::agencies;
    agencies::table
        .filter(agencies::code.eq(code))
        .select(agencies::id)
        .get_result(conn)
        .with_context(|| format!("agency {code} (seed the database first)"))
}

/// The id of a person of the demo seed.
pub fn user_id(conn: &mut DbConnection, username: &str) -> anyhow::Result<String> {
    use diesel::prelude::*;
    use terren_api::db::schema::users;
    users::table
        .filter(users::username.eq(username))
        .select(users::id)
        .get_result(conn)
        .with_context(|| format!("demo user {username} (seed with `terren seed --demo`)"))
}

/// Deterministic pseudo-random numbers (xorshift), so every fill stores the same data. Benches
/// add the draws they need in their own `impl Random` blocks.
pub struct Random(pub u64);

impl Random {
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.unit() * n as f64) as usize).min(n - 1)
    }

    /// A random id shaped like a version 7 UUID.
    pub fn uuid(&mut self) -> String {
        let a = (self.unit() * 2f64.powi(48)) as u64;
        let b = (self.unit() * 2f64.powi(48)) as u64;
        format!("{:08x}-{:04x}-7{:03x}-8{:03x}-{:012x}", a >> 16, a & 0xffff, b >> 36, (b >> 24) & 0xfff, b & 0xffffff)
    }
}
