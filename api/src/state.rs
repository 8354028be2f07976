//! The application's shared state: configuration, database, clock, keys and the in-process caches
//! every request and job may use. It sits below every capability, which the router (`app.rs`)
//! assembles at the top.

use std::sync::{Arc, RwLock};

use crate::auth::password::Passwords;
use crate::auth::throttle::LoginThrottle;
use crate::auth::tokens::TokenKeys;
use crate::clock::SharedClock;
use crate::config::{Config, JwtKey};
use crate::db::Database;
use crate::notify::Notifier;
use crate::ops::metrics::Metrics;
use crate::territory::index::TerritoryIndex;

/// Everything a request handler may need, shared by all workers.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Database,
    pub clock: SharedClock,
    pub tokens: Arc<TokenKeys>,
    pub passwords: Arc<Passwords>,
    pub throttle: Arc<LoginThrottle>,
    pub metrics: Arc<Metrics>,
    /// Idempotency keys whose first request is running in this process.
    pub in_flight: Arc<crate::http::in_flight::InFlight>,
    /// Push, SMS and webhook channels (dry-run in demo mode).
    pub notifier: Arc<Notifier>,
    /// Resolved rotas for "who is on call now".
    pub on_call_cache: Arc<crate::rota::cache::OnCallCache>,
    /// Roles and area scopes behind every request, checked against their versions.
    pub callers: Arc<crate::access::caller_cache::CallerCache>,
    /// What the service has sent each phone that syncs.
    pub sync_replicas: Arc<crate::sync::replicas::ReplicaCache>,
    /// The keys each session's SMS lifeline secret is derived from.
    pub lifeline_keys: Arc<crate::lifeline::keys::LifelineKeys>,
    territory: Arc<RwLock<Arc<TerritoryIndex>>>,
}

impl AppState {
    /// Another instance of the service on the same database, configuration and clock, with its
    /// own in-process state (keys in flight, login throttle, metrics), as a second server would be.
    pub fn sibling(&self) -> AppState {
        AppState {
            throttle: Arc::new(LoginThrottle::new(&self.config.auth)),
            metrics: Arc::new(Metrics::default()),
            in_flight: Arc::default(),
            on_call_cache: Arc::default(),
            callers: Arc::default(),
            sync_replicas: Arc::new(crate::sync::replicas::ReplicaCache::new(self.config.sync.replica_ids)),
            ..self.clone()
        }
    }

    /// The same service speaking to another database (an unreachable one, in outage tests).
    pub fn with_database(&self, db: Database) -> AppState {
        AppState { db, ..self.clone() }
    }

    /// The state of a service on `db`, with nothing in its caches and an empty territory index
    /// (see [`AppState::replace_territory`]).
    pub fn new(
        config: Config,
        db: Database,
        clock: SharedClock,
        keys: &[JwtKey],
        notifier: Notifier,
    ) -> anyhow::Result<AppState> {
        Ok(AppState {
            notifier: Arc::new(notifier),
            on_call_cache: Arc::default(),
            callers: Arc::default(),
            sync_replicas: Arc::new(crate::sync::replicas::ReplicaCache::new(config.sync.replica_ids)),
            tokens: Arc::new(TokenKeys::new(keys, &config.auth)?),
            lifeline_keys: Arc::new(crate::lifeline::keys::LifelineKeys::new(keys)),
            passwords: Arc::new(Passwords::new(&config.auth)?),
            throttle: Arc::new(LoginThrottle::new(&config.auth)),
            metrics: Arc::new(Metrics::default()),
            in_flight: Arc::default(),
            territory: Arc::new(RwLock::new(Arc::new(TerritoryIndex::build(Vec::new(), Vec::new(), 1.0)))),
            config: Arc::new(config),
            db,
            clock,
        })
    }

    pub fn territory(&self) -> Arc<TerritoryIndex> {
        self.territory.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn replace_territory(&self, index: TerritoryIndex) {
        *self.territory.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(index);
    }
}
