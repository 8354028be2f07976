//! One typed configuration: defaults < optional TOML file < `TERREN_*` environment variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Top-level sections; `TERREN_<SECTION>_<KEY>` sets `<section>.<key>`.
const SECTIONS: [&str; 13] = [
    "database",
    "http",
    "auth",
    "log",
    "territory",
    "profiles",
    "retention",
    "audit",
    "alerts",
    "sync",
    "lifeline",
    "notify",
    "ops",
];
/// Sections with tables of their own: `TERREN_NOTIFY_SMS_FROM` sets `notify.sms.from`.
const SUBSECTIONS: [(&str, &str); 2] = [("notify", "sms"), ("notify", "fcm")];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the embedded database and generated secrets live.
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub http: HttpConfig,
    pub auth: AuthConfig,
    pub log: LogConfig,
    pub territory: TerritoryConfig,
    pub profiles: ProfilesConfig,
    pub retention: RetentionConfig,
    pub audit: AuditConfig,
    pub alerts: AlertsConfig,
    pub sync: SyncConfig,
    /// Emergencies sent by SMS from phones without data; off unless configured.
    #[serde(default)]
    pub lifeline: LifelineConfig,
    /// How people and partner systems are reached (push, SMS, webhooks).
    pub notify: crate::notify::NotifyConfig,
    pub ops: OpsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`; absent means
    /// `sqlite://<data_dir>/terren.db`.
    #[serde(serialize_with = "serialize_secret_opt")]
    pub url: Option<SecretString>,
    pub pool_size: u32,
    pub connect_timeout_secs: u64,
    /// How long a request waits for a pooled connection before answering 503.
    pub acquire_timeout_ms: u64,
    /// PostgreSQL `statement_timeout`; SQLite waits this long for a write lock.
    pub statement_timeout_ms: u64,
    pub migrate_on_start: bool,
    /// Load reference data (areas, agencies, vocabularies) at start; existing rows are kept.
    pub seed_on_start: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub bind: String,
    /// Address printed and used in links; defaults to `http://<bind>`.
    pub public_url: Option<String>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Worker threads; defaults to the number of cores.
    pub workers: Option<usize>,
    pub shutdown_timeout_secs: u64,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// How long an `Idempotency-Key` and its answer are kept (phones may be offline for days).
    pub idempotency_ttl_hours: i64,
    /// A client must send the request line and headers within this time (else 408).
    pub request_header_timeout_ms: u64,
    /// A client must send the whole body within this time after the headers (else 408).
    pub body_read_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsConfig {
    /// `/metrics` answers requests carrying `Authorization: Bearer <token>`.
    #[serde(serialize_with = "serialize_secret_opt")]
    pub metrics_token: Option<SecretString>,
    /// … and requests from these client addresses or networks (`10.0.0.0/8`) without a token.
    pub metrics_allow_from: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// HS256 signing keys; the first signs, all verify (rotation). When empty, a key is generated
    /// once and kept in `<data_dir>/jwt-key`.
    pub jwt_keys: Vec<JwtKey>,
    pub issuer: String,
    /// Access token lifetime; at most 900 seconds.
    pub access_token_ttl_secs: i64,
    /// A refresh token is valid this long after it was issued.
    pub refresh_token_ttl_days: i64,
    /// A session ends this long after login, however often it is refreshed.
    pub session_max_days: i64,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// The longest wait after wrong passwords, and the quiet time that forgives them.
    pub throttle_window_secs: i64,
    /// Wrong passwords for one account from one address before it must wait (15 s, doubling).
    pub throttle_max_failures_per_account: u32,
    /// Wrong passwords from one address within the window before it is held back for accounts
    /// that never signed in from it.
    pub throttle_max_failures_per_ip: u32,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKey {
    pub kid: String,
    #[serde(serialize_with = "serialize_secret")]
    pub secret: SecretString,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKey").field("kid", &self.kid).field("secret", &"[redacted]").finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// `tracing` filter, e.g. `info` or `terren_api=debug,info`.
    pub filter: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerritoryConfig {
    /// A point farther than this from every centroid, with no boundary to decide, is outside.
    pub max_centroid_distance_km: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilesConfig {
    /// Linked sightings within this distance of a new one make their profile a candidate.
    pub candidate_radius_m: f64,
    /// … and within this many days before or after it.
    pub candidate_window_days: i64,
    /// At most this many candidates are proposed.
    pub max_candidates: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Precise coordinates of sightings older than this are coarsened to ~500 m cells, unless
    /// the child is referred or in case management.
    pub precise_location_days: i64,
    /// How often the server runs the retention job; 0 leaves it to `terren retention run`.
    pub run_every_minutes: u64,
    /// Sightings coarsened per transaction (and per audit record).
    pub batch_size: i64,
    /// Changes are kept in the change feed this long; a phone that last synchronised before
    /// starts over.
    pub change_feed_days: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// How often the server seals new audit records into the hash chain.
    pub seal_every_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// A phone's working set holds closed referrals and alerts, and sightings, from this many
    /// days back.
    pub window_days: i64,
    /// The largest batch upload of an offline shift, in bytes.
    pub max_batch_bytes: usize,
    /// How many record ids the copies of what phones hold may keep in memory in all (16 bytes
    /// each); a phone whose copy was let go has its next sync work the working set out afresh.
    pub replica_ids: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Run escalation steps, notifications and the coverage check in this process. Turn off on
    /// instances that should only answer requests (any number of instances may run it: jobs are
    /// claimed one at a time).
    pub worker: bool,
    /// How often the worker looks for due jobs.
    pub worker_poll_ms: u64,
    /// Jobs run at once (each may wait on a provider's answer).
    pub worker_concurrency: usize,
    /// The daily coverage check looks this many days ahead in 24/7 rotas.
    pub coverage_days: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("data"),
            database: DatabaseConfig {
                url: None,
                pool_size: 10,
                connect_timeout_secs: 5,
                acquire_timeout_ms: 500,
                statement_timeout_ms: 10_000,
                migrate_on_start: true,
                seed_on_start: true,
            },
            http: HttpConfig {
                bind: "127.0.0.1:8080".into(),
                public_url: None,
                max_body_bytes: 1024 * 1024,
                workers: None,
                shutdown_timeout_secs: 20,
                trust_forwarded_for: false,
                idempotency_ttl_hours: 72,
                request_header_timeout_ms: 5_000,
                body_read_timeout_ms: 30_000,
            },
            auth: AuthConfig {
                jwt_keys: Vec::new(),
                issuer: "terren".into(),
                access_token_ttl_secs: 900,
                refresh_token_ttl_days: 30,
                session_max_days: 90,
                // OWASP's argon2id minimum: 19 MiB, 2 iterations, 1 lane.
                argon2_memory_kib: 19_456,
                argon2_iterations: 2,
                argon2_parallelism: 1,
                throttle_window_secs: 900,
                throttle_max_failures_per_account: 5,
                throttle_max_failures_per_ip: 30,
            },
            log: LogConfig { format: LogFormat::Text, filter: "info".into() },
            territory: TerritoryConfig { max_centroid_distance_km: 40.0 },
            profiles: ProfilesConfig { candidate_radius_m: 1500.0, candidate_window_days: 90, max_candidates: 10 },
            retention: RetentionConfig {
                precise_location_days: 90,
                run_every_minutes: 60,
                batch_size: 500,
                change_feed_days: 30,
            },
            audit: AuditConfig { seal_every_ms: 200 },
            sync: SyncConfig { window_days: 30, max_batch_bytes: 8 * 1024 * 1024, replica_ids: 4_000_000 },
            lifeline: LifelineConfig::default(),
            alerts: AlertsConfig { worker: true, worker_poll_ms: 200, worker_concurrency: 256, coverage_days: 14 },
            notify: crate::notify::NotifyConfig::default(),
            ops: OpsConfig { metrics_token: None, metrics_allow_from: vec!["127.0.0.1".into(), "::1".into()] },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Which database a URL points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseTarget {
    pub fn parse(url: &str) -> Result<DatabaseTarget, ConfigError> {
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            if path.is_empty() {
                return Err(ConfigError::Invalid("database.url: sqlite:// needs a file path".into()));
            }
            return Ok(DatabaseTarget::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseTarget::Postgres(url.to_owned()));
        }
        let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
        Err(ConfigError::Invalid(format!(
            "database.url: unsupported scheme '{scheme}'; use sqlite://PATH or postgres://…"
        )))
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            DatabaseTarget::Sqlite(_) => "sqlite",
            DatabaseTarget::Postgres(_) => "postgres",
        }
    }

    /// The URL with any password replaced, safe to print.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseTarget::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseTarget::Postgres(url) => redact_url_password(url),
        }
    }
}

fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, tail) = rest.split_once('/').map_or((rest, None), |(a, t)| (a, Some(t)));
    let redacted_authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let mut out = format!("{scheme}://{redacted_authority}");
    if let Some(tail) = tail {
        out.push('/');
        // Query parameters may carry a password too.
        out.push_str(tail.split_once('?').map_or(tail, |(path, _)| path));
    }
    out
}

mod lifeline;
mod validate;

pub use lifeline::{Lifeline, LifelineConfig};

impl Config {
    /// Reads defaults, then `file` (if given and present), then `TERREN_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_from(file, Env::prefixed("TERREN_"))
    }

    fn load_from(file: Option<&Path>, env: Env) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Invalid(format!("configuration file {} does not exist", file.display())));
            }
            figment = figment.merge(Toml::file(file));
        }
        // TERREN_CONFIG names the file; TERREN_TEST_* and TERREN_UPDATE_* belong to the test
        // suite. Any other unknown TERREN_* variable is an error, so typos do not pass silently.
        let env = env
            .filter(|key| {
                let key = key.as_str().to_ascii_lowercase();
                key != "config" && !key.starts_with("test_") && !key.starts_with("update_")
            })
            .map(|key| section_key(&key.as_str().to_ascii_lowercase()).into());
        // Lossy: numbers and booleans given as text (as the environment gives everything) are
        // read as numbers and booleans where the setting is one.
        let config: Config = figment.merge(TextEnv(env)).extract_lossy().map_err(|e| ConfigError::Load(Box::new(e)))?;
        config.validate()?;
        Ok(config)
    }

    pub fn database_target(&self) -> Result<DatabaseTarget, ConfigError> {
        match &self.database.url {
            Some(url) => DatabaseTarget::parse(url.expose_secret()),
            None => Ok(DatabaseTarget::Sqlite(self.data_dir.join("terren.db"))),
        }
    }

    pub fn public_url(&self, bound: SocketAddr) -> String {
        self.http.public_url.clone().unwrap_or_else(|| format!("http://{bound}"))
    }
}

/// The `TERREN_*` variables, each value kept as the text it is where figment's own parser would
/// turn it into a number or boolean: `TERREN_NOTIFY_SMS_FROM=+15005550006` is a phone number,
/// not the integer 15005550006. Lists and tables (`[…]`, `{…}`) are still parsed; settings that
/// are numbers or booleans read the text through `extract_lossy`.
struct TextEnv(Env);

impl Provider for TextEnv {
    fn metadata(&self) -> Metadata {
        self.0.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (key, raw) in self.0.iter() {
            let parsed: Value = match raw.parse::<Value>() {
                Ok(value @ (Value::Array(..) | Value::Dict(..) | Value::String(..))) => value,
                _ => Value::from(raw),
            };
            if let Some(nested) = figment::util::nest(key.as_str(), parsed).into_dict() {
                merge_dict(&mut dict, nested);
            }
        }
        Ok(Profile::Default.collect(dict))
    }
}

fn merge_dict(into: &mut Dict, from: Dict) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(Value::Dict(_, existing)), Value::Dict(_, nested)) => merge_dict(existing, nested),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// `database_url` → `database.url`: the first underscore after a known section name nests.
fn section_key(key: &str) -> String {
    for section in SECTIONS {
        if let Some(rest) = key.strip_prefix(section).and_then(|r| r.strip_prefix('_')) {
            for (parent, sub) in SUBSECTIONS {
                if parent == section
                    && let Some(leaf) = rest.strip_prefix(sub).and_then(|r| r.strip_prefix('_'))
                {
                    return format!("{section}.{sub}.{leaf}");
                }
            }
            return format!("{section}.{rest}");
        }
    }
    key.to_owned()
}

fn serialize_secret<S: serde::Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose_secret())
}

fn serialize_secret_opt<S: serde::Serializer>(secret: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => s.serialize_some(secret.expose_secret()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_sections_nest_and_plain_keys_stay() {
        assert_eq!(section_key("database_url"), "database.url");
        assert_eq!(section_key("auth_access_token_ttl_secs"), "auth.access_token_ttl_secs");
        assert_eq!(section_key("data_dir"), "data_dir");
        assert_eq!(section_key("notify_sms_auth_token"), "notify.sms.auth_token");
        assert_eq!(section_key("notify_max_tries"), "notify.max_tries");
    }

    #[test]
    fn unknown_database_scheme_is_a_clear_error() {
        let err = DatabaseTarget::parse("mysql://localhost/terren").unwrap_err();
        assert!(err.to_string().contains("unsupported scheme 'mysql'"), "{err}");
        assert!(matches!(DatabaseTarget::parse("postgresql://x/y"), Ok(DatabaseTarget::Postgres(_))));
        assert_eq!(
            DatabaseTarget::parse("sqlite://data/t.db").unwrap(),
            DatabaseTarget::Sqlite(PathBuf::from("data/t.db"))
        );
    }

    #[test]
    fn passwords_never_print() {
        let target = DatabaseTarget::parse("postgres://terren:s3cret@db:5432/terren?password=x").unwrap();
        let shown = target.redacted();
        assert_eq!(shown, "postgres://terren:***@db:5432/terren");
        let key = JwtKey { kid: "k1".into(), secret: SecretString::from("a".repeat(40)) };
        assert!(!format!("{key:?}").contains("aaaa"));
    }

    #[test]
    #[expect(clippy::result_large_err, reason = "figment::Jail's signature")]
    fn env_overrides_file_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("terren.toml", "[http]\nbind = \"0.0.0.0:9000\"\n[log]\nformat = \"json\"\n")?;
            jail.set_env("TERREN_LOG_FORMAT", "text");
            jail.set_env("TERREN_DATABASE_POOL_SIZE", "3");
            let config = Config::load(Some(Path::new("terren.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.http.bind, "0.0.0.0:9000");
            assert_eq!(config.log.format, LogFormat::Text);
            assert_eq!(config.database.pool_size, 3);
            assert_eq!(config.auth.access_token_ttl_secs, 900);
            Ok(())
        });
    }

    #[test]
    #[expect(clippy::result_large_err, reason = "figment::Jail's signature")]
    fn the_lifeline_is_off_until_configured_and_a_half_configured_one_stops_the_boot() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert!(config.lifeline().is_none());
            jail.set_env("TERREN_LIFELINE_INBOUND_NUMBER", "+355690001111");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("lifeline.webhook_url") && err.contains("lifeline.auth_token or notify.sms"), "{err}");
            jail.set_env("TERREN_LIFELINE_WEBHOOK_URL", "https://terren.example.al/api/v1/sms/inbound");
            jail.set_env("TERREN_LIFELINE_AUTH_TOKEN", "from the gateway");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            let lifeline = config.lifeline().expect("on");
            assert_eq!((lifeline.inbound_number, lifeline.max_delay_minutes), ("+355690001111", 120));
            jail.set_env("TERREN_LIFELINE_INBOUND_NUMBER", "0690001111");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("lifeline.inbound_number"), "{err}");
            jail.set_env("TERREN_LIFELINE_INBOUND_NUMBER", "+355690001111");
            jail.set_env("TERREN_SYNC_WINDOW_DAYS", "7");
            assert_eq!(Config::load(None).map_err(|e| e.to_string())?.sync.window_days, 7);
            Ok(())
        });
    }

    #[test]
    #[expect(clippy::result_large_err, reason = "figment::Jail's signature")]
    fn invalid_values_stop_the_boot_with_the_key_named() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TERREN_AUTH_ACCESS_TOKEN_TTL_SECS", "3600");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("auth.access_token_ttl_secs"), "{err}");
            jail.set_env("TERREN_AUTH_ACCESS_TOKEN_TTL_SECS", "600");
            jail.set_env("TERREN_DATABASE_URL", "mysql://x");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("unsupported scheme"), "{err}");
            Ok(())
        });
    }

    #[test]
    #[expect(clippy::result_large_err, reason = "figment::Jail's signature")]
    fn numbers_in_text_settings_stay_text_and_numbers_still_parse() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TERREN_NOTIFY_SMS_FROM", "+15005550006");
            jail.set_env("TERREN_NOTIFY_SMS_ACCOUNT_SID", "12345");
            jail.set_env("TERREN_NOTIFY_SMS_AUTH_TOKEN", "987654321");
            jail.set_env("TERREN_OPS_METRICS_TOKEN", "1234567890123456");
            jail.set_env("TERREN_AUTH_ISSUER", "2026");
            jail.set_env("TERREN_DATABASE_POOL_SIZE", "7");
            jail.set_env("TERREN_HTTP_TRUST_FORWARDED_FOR", "true");
            jail.set_env("TERREN_HTTP_WORKERS", "3");
            jail.set_env("TERREN_TERRITORY_MAX_CENTROID_DISTANCE_KM", "12.5");
            jail.set_env("TERREN_OPS_METRICS_ALLOW_FROM", "[\"10.0.0.0/8\", \"127.0.0.1\"]");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            let sms = config.notify.sms.as_ref().ok_or("sms settings missing")?;
            assert_eq!(sms.from.as_deref(), Some("+15005550006"));
            assert_eq!(config.auth.issuer, "2026");
            assert_eq!(
                config.ops.metrics_token.as_ref().map(|t| t.expose_secret().to_owned()).as_deref(),
                Some("1234567890123456")
            );
            assert_eq!(config.database.pool_size, 7);
            assert!(config.http.trust_forwarded_for);
            assert_eq!(config.http.workers, Some(3));
            assert!((config.territory.max_centroid_distance_km - 12.5).abs() < f64::EPSILON);
            assert_eq!(config.ops.metrics_allow_from, vec!["10.0.0.0/8".to_owned(), "127.0.0.1".to_owned()]);
            jail.set_env("TERREN_DATABASE_POOL_SIZE", "many");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.to_lowercase().contains("database.pool_size"), "{err}");
            Ok(())
        });
    }
}
