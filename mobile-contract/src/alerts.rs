//! Alerts, their escalation, and how people are reached.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::Role;
use crate::auth::AgencyRef;
use crate::identifications::{AreaRef, PersonRef};
use crate::schedules::RestrictionWindow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Emergency,
    High,
    Normal,
}

/// What raised the alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertSource {
    /// A field worker's emergency identification.
    FieldIdentification,
    /// A referral not acted on in time.
    ReferralDeadline,
    /// An emergency referral to the agency.
    Referral,
    /// A referral the receiving agency declined, back to the sender's coordinators.
    ReferralDeclined,
    /// A round nobody checked in to in time.
    RoundMissed,
    /// A municipality's quarterly report was frozen at the end of the quarter.
    ReportFrozen,
    /// A round a series planned ahead although a member is in another round or on duty then.
    RoundConflict,
    /// A 24/7 rota with nobody on duty ahead.
    ScheduleGap,
    /// An agency that emergencies are routed to cannot be reached (the readiness check).
    AgencyUnreachable,
    /// Raised by a person.
    Manual,
}

/// `triggered` → `acknowledged` → `resolved`; `cancelled` from either open state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Triggered,
    Acknowledged,
    Resolved,
    Cancelled,
}

impl AlertState {
    /// The states of an alert not yet over.
    pub const OPEN: [AlertState; 2] = [AlertState::Triggered, AlertState::Acknowledged];
}

/// Raise an alert (`Idempotency-Key` required). The agency is `agency_id`, else the one
/// responsible for `area_code` (24/7 duty first), else your own.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateAlert {
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 32))]
    pub area_code: Option<String>,
    #[validate(length(min = 1, max = 200))]
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 4000))]
    pub details: Option<String>,
    /// One open alert per key: raising it again while open returns the open alert (200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 200))]
    pub dedup_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identification_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<Uuid>,
}

/// Where an escalation stands.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EscalationStatus {
    /// The step last notified, from 0; equal to the number of steps once the fallback was reached.
    pub step: i32,
    /// Which pass over the steps, from 0.
    pub round: i32,
    /// When the next step is due, while the alert is unacknowledged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step_at: Option<DateTime<Utc>>,
    /// Nobody at all could be paged for this alert: not its steps, not the agency's coordinators
    /// or administrators, not the raiser's own agency. The raiser must call for help (112,
    /// ALO 116 111). Set when the alert is raised or when a step finds nobody.
    #[serde(default)]
    pub unreachable: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Alert {
    pub id: Uuid,
    pub severity: Severity,
    pub source: AlertSource,
    pub state: AlertState,
    pub agency: AgencyRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub area: Option<AreaRef>,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identification_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<Uuid>,
    /// The referral the alert is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<PersonRef>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<PersonRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who resolved or cancelled it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<PersonRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    pub escalation: EscalationStatus,
    pub version: i32,
}

/// A note with an acknowledgement, resolution or cancellation.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct AlertAction {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 2000))]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct AlertListQuery {
    pub state: Option<AlertState>,
    pub severity: Option<Severity>,
    pub source: Option<AlertSource>,
    /// Only alerts that are `triggered` or `acknowledged`.
    pub open: Option<bool>,
    /// How many (default 50); newest first.
    #[validate(range(min = 1, max = 200))]
    pub limit: Option<i64>,
    /// The `X-Next-Cursor` header of the previous page.
    pub cursor: Option<String>,
    /// Alerts created before this instant. Page with `cursor` instead, as every list does:
    /// alerts created in the same instant are not skipped.
    #[deprecated = "page with `cursor`"]
    pub before: Option<DateTime<Utc>>,
}

/// One entry of an alert's timeline: a state change, an escalation step, or a message sent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub kind: AlertEventKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<PersonRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub round: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notification: Option<NotificationAttempt>,
}

/// What an entry of an alert's timeline records. More kinds may be added: show an entry of a
/// kind you do not know by its time and note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertEventKind {
    /// The alert was raised.
    Triggered,
    /// The same alert was raised again (same `dedup_key`) while this one was open.
    Deduplicated,
    Acknowledged,
    Resolved,
    Cancelled,
    /// An escalation step began paging its targets.
    StepStarted,
    /// A step outside its hours, a target it could not reach, or a page given up, with why in
    /// `note`.
    StepSkipped,
    /// A step reached nobody and the alert turned to the level in `note`, or the steps ran out
    /// and the policy's fallback is paged.
    Fallback,
    /// Nobody at all could be reached.
    Unreachable,
    /// Every step and repeat ran and there is no fallback.
    Exhausted,
    /// An emergency sighting joined the alert an emergency referral about it had raised.
    IdentificationLinked,
    /// An emergency referral joined the alert its sighting had raised.
    ReferralLinked,
    /// One send to one address, in `notification`.
    Notification,
}

impl From<AlertState> for AlertEventKind {
    /// The entry a change to this state writes.
    fn from(state: AlertState) -> AlertEventKind {
        match state {
            AlertState::Triggered => AlertEventKind::Triggered,
            AlertState::Acknowledged => AlertEventKind::Acknowledged,
            AlertState::Resolved => AlertEventKind::Resolved,
            AlertState::Cancelled => AlertEventKind::Cancelled,
        }
    }
}

/// A message sent for an alert, with the provider's answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NotificationAttempt {
    /// Who it was for: a person's name, a contact's name, or a partner system.
    pub recipient: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_user_id: Option<Uuid>,
    pub channel: NotificationChannel,
    /// The end of the number or token, never all of it.
    pub address_hint: String,
    /// Which send to this address for this page, from 1: a page not delivered is sent again
    /// later, and a send cut short by a restart is sent again too.
    pub attempt: i32,
    /// HTTP requests within this send (retries of a quick failure).
    pub tries: i32,
    /// Absent while sending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<NotificationOutcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How a message was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationChannel {
    /// A push notification to the person's phone.
    Push,
    Sms,
    /// A signed webhook to a partner system.
    Webhook,
    /// Nothing was sent: the service runs in dry-run mode; `address_hint` names the channel it
    /// would have used.
    DryRun,
}

impl NotificationChannel {
    pub const ALL: [NotificationChannel; 4] = [
        NotificationChannel::Push,
        NotificationChannel::Sms,
        NotificationChannel::Webhook,
        NotificationChannel::DryRun,
    ];

    /// The code on the wire, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationChannel::Push => "push",
            NotificationChannel::Sms => "sms",
            NotificationChannel::Webhook => "webhook",
            NotificationChannel::DryRun => "dry_run",
        }
    }
}

/// How a send ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationOutcome {
    /// The provider took the message.
    Delivered,
    /// No usable answer (network, timeout, provider error); the page is sent again later.
    Failed,
    /// The provider says the token or number is dead; never sent to again.
    InvalidAddress,
    /// The process stopped during the send; it may have been delivered.
    Interrupted,
}

impl NotificationOutcome {
    pub const ALL: [NotificationOutcome; 4] = [
        NotificationOutcome::Delivered,
        NotificationOutcome::Failed,
        NotificationOutcome::InvalidAddress,
        NotificationOutcome::Interrupted,
    ];

    /// The code on the wire, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationOutcome::Delivered => "delivered",
            NotificationOutcome::Failed => "failed",
            NotificationOutcome::InvalidAddress => "invalid_address",
            NotificationOutcome::Interrupted => "interrupted",
        }
    }
}

/// Who a step notifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// Whoever is on duty in this schedule when the step runs.
    OnCall { schedule_id: Uuid },
    /// A named person.
    User { user_id: Uuid },
    /// Everyone in the agency with this role.
    Role { role: Role },
    /// A contact outside Terren (e.g. the police duty desk), reached by SMS.
    Contact { name: String, phone: String },
    /// A partner system, reached by a signed webhook.
    Webhook { webhook_id: Uuid },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct EscalationStep {
    #[validate(length(min = 1, max = 10))]
    pub targets: Vec<Target>,
    /// How long to wait for an acknowledgement before the next step.
    #[validate(range(min = 1, max = 1440))]
    pub wait_minutes: u32,
    /// Run the step only within these windows of the agency's local time (empty: always).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[validate(nested)]
    pub only_when: Vec<RestrictionWindow>,
}

/// How an agency's alerts escalate: the steps in order, `repeat` more passes over them, then the
/// fallback. An alert keeps the policy it was raised under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct EscalationPolicyBody {
    #[validate(nested, length(min = 1, max = 10))]
    pub steps: Vec<EscalationStep>,
    #[serde(default)]
    #[validate(range(max = 10))]
    pub repeat: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[validate(length(max = 10))]
    pub fallback: Vec<Target>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PutEscalationPolicy {
    /// The version you read; absent when the agency has no policy yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    #[validate(nested)]
    pub policy: EscalationPolicyBody,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EscalationPolicy {
    pub agency: AgencyRef,
    pub policy: EscalationPolicyBody,
    pub version: i32,
    pub updated_by: PersonRef,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Android,
    Ios,
}

/// Register (or refresh) this device's push token. Repeating it is harmless.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct RegisterDevice {
    pub platform: Platform,
    #[validate(length(min = 10, max = 4096))]
    pub push_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 64))]
    pub app_version: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Device {
    pub id: Uuid,
    pub device_id: String,
    pub platform: Platform,
    pub app_version: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// Set when the push service said the token is dead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<DateTime<Utc>>,
}

/// How you want to be reached: push first, then SMS if you have not acknowledged after
/// `sms_after_minutes` (absent: SMS only when push cannot reach you).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NotificationRules {
    pub push: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(range(min = 1, max = 120))]
    pub sms_after_minutes: Option<u32>,
    /// The number people should call you back on, told in the alerts you raise (defaults to your
    /// phone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 6, max = 32))]
    pub callback_phone: Option<String>,
}

/// A partner system that receives alerts as signed webhooks.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpoint {
    #[validate(length(min = 1, max = 200))]
    pub name: String,
    #[validate(url, length(max = 2000))]
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub name: String,
    pub url: String,
    pub active: bool,
    /// The HMAC-SHA256 signing secret; present only in the answer that made the endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What Terren POSTs to a webhook endpoint for each notification of an alert. The headers
/// `X-Terren-Delivery` (equal to `id`, the same on every retry), `X-Terren-Timestamp` (Unix
/// seconds) and `X-Terren-Signature` (`sha256=` and the lowercase hex HMAC-SHA256 of
/// `"<timestamp>.<raw body>"`, keyed with the endpoint's `secret`) come with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AlertWebhook {
    /// The delivery's id: a retry sends the same one, so drop repeats.
    pub id: String,
    pub alert_id: String,
    pub severity: Severity,
    /// Short, in the language of the endpoint's agency.
    pub title: String,
    pub body: String,
    /// A link to the alert, when the service has a public address.
    pub link: Option<String>,
    /// When this attempt was sent (RFC 3339, UTC, whole seconds).
    pub sent_at: String,
}

/// How ready an agency is to receive an emergency now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgencyReadiness {
    pub agency: AgencyRef,
    /// No blocking problem: an emergency raised now pages somebody of the agency.
    pub ready: bool,
    /// Whether referral routing sends children's emergencies of some place to this agency.
    pub receives_emergencies: bool,
    /// People an emergency raised now would page first.
    pub reachable_now: Vec<PersonRef>,
    pub problems: Vec<ReadinessProblem>,
    pub checked_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessLevel {
    /// An emergency would reach nobody of the agency.
    Blocking,
    /// An emergency would still reach somebody, but not as the agency intends.
    Warning,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReadinessProblem {
    pub code: ReadinessCode,
    pub level: ReadinessLevel,
    /// In Albanian and English.
    pub message: String,
}

/// What stands between an emergency and somebody who answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessCode {
    /// Nobody of the agency can be paged now.
    NoReachableResponder,
    /// An emergency now would reach nobody at all, fallbacks included.
    Unreachable,
    /// The agency has no duty rota.
    NoRota,
    /// The rota has nobody on duty now.
    NobodyOnDuty,
    /// No escalation policy: the rota's person on duty is paged, then the coordinators.
    NoPolicy,
    /// A step of the escalation policy reaches nobody now.
    StepUnreachable,
}

/// The agencies a municipality's emergencies are routed to, and how ready each is.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MunicipalityReadiness {
    pub municipality: AreaRef,
    /// Every agency is ready, and routing finds one for every area.
    pub ready: bool,
    pub agencies: Vec<AgencyReadiness>,
    /// Areas of the municipality for which routing finds no agency for a child.
    pub unrouted_areas: Vec<AreaRef>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadinessQuery {
    /// A municipality's code, e.g. `AL224`.
    pub municipality: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_for_logs_are_the_wire_codes() {
        for channel in NotificationChannel::ALL {
            assert_eq!(serde_json::to_value(channel).unwrap(), channel.as_str());
        }
        for outcome in NotificationOutcome::ALL {
            assert_eq!(serde_json::to_value(outcome).unwrap(), outcome.as_str());
        }
    }
}
