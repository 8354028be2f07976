//! The counters and gauges `/metrics` serves, in the OpenMetrics text format.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::db::DbConnection;
use crate::db::schema::outbox_jobs;

/// What `/metrics` answers with: the OpenMetrics text format `prometheus-client` writes.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    channel: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily,
    notifications: Family<NotificationLabels, Counter>,
    notification_retries: Family<ChannelLabels, Counter>,
    alerts_unreachable: Counter,
}

fn request_histogram() -> Histogram {
    // 0.5 ms … ~8 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("terren");
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: HistogramFamily = Family::new_with_constructor(request_histogram);
        let notifications = Family::<NotificationLabels, Counter>::default();
        let notification_retries = Family::<ChannelLabels, Counter>::default();
        let alerts_unreachable = Counter::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route", durations.clone());
        registry.register(
            "notifications",
            "Notification attempts by channel and outcome (delivered, failed, invalid_address)",
            notifications.clone(),
        );
        registry.register(
            "notification_retries",
            "Notification attempts that were retries",
            notification_retries.clone(),
        );
        registry.register(
            "alerts_unreachable",
            "Alerts for which every escalation step ran out without anyone reached",
            alerts_unreachable.clone(),
        );
        Metrics { registry, requests, durations, notifications, notification_retries, alerts_unreachable }
    }
}

/// What `/metrics` reads at scrape time besides the counters kept in memory.
#[derive(Debug, Default, Clone)]
pub struct ScrapeSnapshot {
    pub process: Option<ProcessStats>,
    pub pool: Option<PoolStats>,
    /// `None` when the database could not be asked.
    pub jobs: Option<JobQueueStats>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct PoolStats {
    pub max: u32,
    pub open: u32,
    pub idle: u32,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct JobQueueStats {
    pub due: i64,
    pub running: i64,
    pub failed: i64,
    pub oldest_due_age_seconds: f64,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessStats {
    pub resident_memory_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub start_time_seconds: Option<f64>,
}

impl Metrics {
    /// One answered request, by route pattern.
    pub(super) fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests.get_or_create(&RequestLabels { method: method.into(), route: route.into(), status }).inc();
        self.durations.get_or_create(&RouteLabels { method: method.into(), route: route.into() }).observe(seconds);
    }

    /// One attempt to reach someone on `channel` (push, sms, webhook) ended with `outcome`:
    /// `delivered`, `failed` or `invalid_address`.
    pub fn notification_attempt(&self, channel: &str, outcome: &str) {
        self.notifications
            .get_or_create(&NotificationLabels { channel: channel.into(), outcome: outcome.into() })
            .inc();
    }

    /// An attempt on `channel` was a retry of one that failed.
    pub fn notification_retried(&self, channel: &str) {
        self.notification_retries.get_or_create(&ChannelLabels { channel: channel.into() }).inc();
    }

    /// An alert ran out of escalation steps without reaching anyone.
    pub fn alert_unreachable(&self) {
        self.alerts_unreachable.inc();
    }

    /// The counters kept in memory, then what the snapshot read, in the OpenMetrics text format.
    pub fn render(&self, snapshot: &ScrapeSnapshot) -> Result<String, std::fmt::Error> {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut out = String::new();
        encode_registry(&mut out, &self.registry)?;
        encode_registry(&mut out, &snapshot_registry(snapshot))?;
        encode_registry(&mut out, &process_registry(snapshot.process.as_ref()))?;
        encode_eof(&mut out)?;
        Ok(out)
    }
}

fn snapshot_registry(snapshot: &ScrapeSnapshot) -> Registry {
    let mut registry = Registry::with_prefix("terren");
    if let Some(pool) = snapshot.pool {
        registry.register(
            "db_pool_max_connections",
            "Connections the database pool may open",
            ConstGauge::new(i64::from(pool.max)),
        );
        let connections = Family::<StateLabels, prometheus_client::metrics::gauge::Gauge>::default();
        connections.get_or_create(&StateLabels { state: "idle" }).set(i64::from(pool.idle));
        connections.get_or_create(&StateLabels { state: "in_use" }).set(i64::from(pool.open.saturating_sub(pool.idle)));
        registry.register("db_pool_connections", "Open database connections by state", connections);
    }
    registry.register(
        "database_up",
        "1 when the database answered the scrape's query, else 0",
        ConstGauge::new(i64::from(snapshot.jobs.is_some())),
    );
    if let Some(jobs) = snapshot.jobs {
        registry.register("jobs_due", "Jobs due to run and not claimed by a worker", ConstGauge::new(jobs.due));
        registry.register(
            "jobs_running",
            "Jobs claimed by a worker (lease not expired)",
            ConstGauge::new(jobs.running),
        );
        registry.register("jobs_failed", "Unfinished jobs whose last try failed", ConstGauge::new(jobs.failed));
        registry.register(
            "jobs_oldest_due_age_seconds",
            "How long the oldest due job has been waiting (0 when none is due)",
            ConstGauge::<f64>::new(jobs.oldest_due_age_seconds),
        );
    }
    registry
}

/// The conventional `process_*` metrics (no prefix), as client libraries name them.
fn process_registry(process: Option<&ProcessStats>) -> Registry {
    let mut registry = Registry::default();
    let Some(process) = process else { return registry };
    let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    if let Some(bytes) = process.resident_memory_bytes {
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            ConstGauge::new(as_i64(bytes)),
        );
    }
    if let Some(fds) = process.open_fds {
        registry.register("process_open_fds", "Open file descriptors", ConstGauge::new(as_i64(fds)));
    }
    if let Some(fds) = process.max_fds {
        registry.register("process_max_fds", "Limit of open file descriptors", ConstGauge::new(as_i64(fds)));
    }
    if let Some(seconds) = process.cpu_seconds {
        registry.register(
            "process_cpu_seconds",
            "User and system CPU time spent in seconds",
            ConstCounter::new(seconds),
        );
    }
    if let Some(seconds) = process.start_time_seconds {
        registry.register(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch in seconds",
            ConstGauge::<f64>::new(seconds),
        );
    }
    registry
}

/// Reads `/proc/self` (Linux); elsewhere every value is absent.
pub fn process_stats() -> ProcessStats {
    // The kernel reports times in /proc in USER_HZ, which is 100 on every Linux architecture.
    const TICKS_PER_SECOND: f64 = 100.0;
    let mut stats = ProcessStats::default();
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        stats.resident_memory_bytes = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024);
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        stats.open_fds = Some(entries.count() as u64);
    }
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
        stats.max_fds = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse().ok());
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> =
            stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        // Counting from `state` (field 3 of proc(5)) as index 0.
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
        if let (Some(utime), Some(stime)) = (field(14), field(15)) {
            stats.cpu_seconds = Some((utime + stime) / TICKS_PER_SECOND);
        }
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse::<f64>().ok()));
        if let (Some(start_ticks), Some(boot)) = (field(22), boot_time) {
            stats.start_time_seconds = Some(boot + start_ticks / TICKS_PER_SECOND);
        }
    }
    stats
}

/// The job queue as the worker sees it at `now`.
pub fn job_queue_stats(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<JobQueueStats> {
    let open = || outbox_jobs::table.filter(outbox_jobs::done_at.is_null());
    let not_leased = outbox_jobs::locked_until.is_null().or(outbox_jobs::locked_until.lt(now));
    let due: i64 = open().filter(outbox_jobs::due_at.le(now)).filter(not_leased).count().get_result(conn)?;
    let oldest: Option<NaiveDateTime> = open()
        .filter(outbox_jobs::due_at.le(now))
        .filter(not_leased)
        .select(diesel::dsl::min(outbox_jobs::due_at))
        .first(conn)?;
    let running: i64 = open().filter(outbox_jobs::locked_until.ge(now)).count().get_result(conn)?;
    let failed: i64 = open().filter(outbox_jobs::last_error.is_not_null()).count().get_result(conn)?;
    let oldest_due_age_seconds = oldest.map_or(0.0, |due_at| (now - due_at).num_milliseconds().max(0) as f64 / 1000.0);
    Ok(JobQueueStats { due, running, failed, oldest_due_age_seconds })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_counters_are_exposed_under_their_names() {
        let metrics = Metrics::default();
        metrics.notification_attempt("sms", "delivered");
        metrics.notification_attempt("sms", "delivered");
        metrics.notification_attempt("push", "invalid_address");
        metrics.notification_attempt("webhook", "failed");
        metrics.notification_retried("sms");
        metrics.alert_unreachable();
        let text = metrics.render(&ScrapeSnapshot::default()).unwrap();
        assert!(text.contains(r#"terren_notifications_total{channel="sms",outcome="delivered"} 2"#), "{text}");
        assert!(text.contains(r#"terren_notifications_total{channel="push",outcome="invalid_address"} 1"#), "{text}");
        assert!(text.contains(r#"terren_notifications_total{channel="webhook",outcome="failed"} 1"#), "{text}");
        assert!(text.contains(r#"terren_notification_retries_total{channel="sms"} 1"#), "{text}");
        assert!(text.contains("terren_alerts_unreachable_total 1"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1);
    }

    #[test]
    fn scrape_time_values_are_exposed() {
        let snapshot = ScrapeSnapshot {
            process: Some(ProcessStats {
                resident_memory_bytes: Some(1024),
                open_fds: Some(12),
                max_fds: Some(1024),
                cpu_seconds: Some(1.5),
                start_time_seconds: Some(1_700_000_000.0),
            }),
            pool: Some(PoolStats { max: 10, open: 4, idle: 3 }),
            jobs: Some(JobQueueStats { due: 2, running: 1, failed: 1, oldest_due_age_seconds: 30.5 }),
        };
        let text = Metrics::default().render(&snapshot).unwrap();
        for line in [
            "terren_jobs_due 2",
            "terren_jobs_running 1",
            "terren_jobs_failed 1",
            "terren_jobs_oldest_due_age_seconds 30.5",
            r#"terren_db_pool_connections{state="idle"} 3"#,
            r#"terren_db_pool_connections{state="in_use"} 1"#,
            "terren_db_pool_max_connections 10",
            "terren_database_up 1",
            "process_resident_memory_bytes 1024",
            "process_open_fds 12",
            "process_cpu_seconds_total 1.5",
            "process_start_time_seconds 1700000000.0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        let down = Metrics::default().render(&ScrapeSnapshot::default()).unwrap();
        assert!(down.lines().any(|l| l == "terren_database_up 0"), "{down}");
    }

    #[test]
    fn process_stats_are_read_on_linux() {
        if cfg!(target_os = "linux") {
            let stats = process_stats();
            assert!(stats.resident_memory_bytes.is_some_and(|b| b > 0));
            assert!(stats.open_fds.is_some_and(|n| n > 0));
            assert!(stats.cpu_seconds.is_some());
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
            assert!(stats.start_time_seconds.is_some_and(|s| s > now - 86_400.0 && s <= now + 1.0), "{stats:?}");
        }
    }
}
