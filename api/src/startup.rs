//! Bringing the service up: connect, migrate, seed as configured, load the territory index and
//! the signing keys.

use std::sync::Arc;

use secrecy::SecretString;

use crate::auth::tokens::generate_secret;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, JwtKey};
use crate::db::Database;
use crate::state::AppState;
use crate::{seed, territory};

impl AppState {
    /// Connects, migrates and seeds as configured, and loads the territory index.
    pub fn prepare(config: Config, clock: SharedClock, demo: bool) -> anyhow::Result<AppState> {
        let db = Database::connect(&config)?;
        {
            let mut conn = db.get().map_err(|e| anyhow::anyhow!("cannot reach the database: {e}"))?;
            if config.database.migrate_on_start {
                let applied = crate::db::backend::with_migration_lock(&mut conn, |conn| conn.run_migrations())?;
                if applied > 0 {
                    tracing::info!(applied, "database migrations applied");
                }
            } else if conn.has_pending_migrations()? {
                anyhow::bail!("database migrations are pending: run `terren migrate`");
            }
            if config.database.seed_on_start || demo {
                let report = seed::seed_reference(&mut conn, clock.now_naive())?;
                if report.total() > 0 {
                    tracing::info!(?report, "reference data loaded");
                }
            }
        }
        let keys = jwt_keys(&config)?;
        let mut notify = config.notify.clone();
        if demo {
            notify.mode = crate::notify::NotifyMode::DryRun;
        }
        let notifier = crate::notify::Notifier::from_config(&notify, clock.clone())?;
        if !notifier.is_dry_run() && notify.fcm.is_none() && notify.sms.is_none() {
            tracing::warn!(
                "notify: neither push (notify.fcm) nor SMS (notify.sms) is configured: alerts reach only webhooks"
            );
        }
        let state = AppState::new(config, db, clock, &keys, notifier)?;
        if demo {
            let mut conn = state.db.get()?;
            let created = seed::seed_demo_users(&state, &mut conn)?;
            if created > 0 {
                tracing::info!(created, "demo accounts created");
            }
        }
        state.reload_territory()?;
        Ok(state)
    }

    pub fn prepare_with_system_clock(config: Config, demo: bool) -> anyhow::Result<AppState> {
        AppState::prepare(config, Arc::new(SystemClock), demo)
    }

    pub fn reload_territory(&self) -> anyhow::Result<()> {
        let mut conn = self.db.get()?;
        let index = territory::service::load_index(&mut conn, self.config.territory.max_centroid_distance_km)?;
        tracing::info!(areas = index.len(), with_boundary = index.boundary_count(), "territory index loaded");
        self.replace_territory(index);
        Ok(())
    }
}

/// The configured signing keys, or one generated once and kept in the data directory.
fn jwt_keys(config: &Config) -> anyhow::Result<Vec<JwtKey>> {
    if !config.auth.jwt_keys.is_empty() {
        return Ok(config.auth.jwt_keys.clone());
    }
    let path = config.data_dir.join("jwt-key");
    let secret = match std::fs::read_to_string(&path) {
        Ok(secret) if secret.trim().len() >= 32 => secret.trim().to_owned(),
        _ => {
            crate::db::create_private_dir(&config.data_dir)?;
            let secret = generate_secret()?;
            write_private(&path, &secret)?;
            tracing::warn!(path = %path.display(), "no auth.jwt_keys configured: generated a signing key (configure keys when running several instances)");
            secret
        }
    };
    Ok(vec![JwtKey { kid: "local-1".into(), secret: SecretString::from(secret) }])
}

fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}
