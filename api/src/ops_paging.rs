//! Counters of the paging engine (filled in by the metrics module).
impl crate::ops::Metrics {
    pub fn notification_attempt(&self, _channel: &str, _outcome: &str) {}
    pub fn notification_retried(&self, _channel: &str) {}
    pub fn alert_unreachable(&self) {}
}
