//! Referrals: a child (or adult) handed from the field to the unit that must act, tracked
//! against deadlines until it is closed with an outcome.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::AgencyRef;
use crate::identifications::{AgeBand, AreaRef, PersonRef};
use crate::profiles::ProfileRef;
use crate::schedules::WeekdayCode;

/// How fast the receiving unit must act; the same levels as `risk_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Emergency,
    High,
    Medium,
    Low,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::Emergency, Priority::High, Priority::Medium, Priority::Low];
}

/// `sent` → `acknowledged` → `accepted` | `declined`; `accepted` → `in_progress` → `closed`
/// (with an outcome). `cancelled` by the sender and `forwarded` (to another agency, see
/// `forwarded_to`) end it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReferralStatus {
    Sent,
    Acknowledged,
    Accepted,
    Declined,
    InProgress,
    Closed,
    Cancelled,
    Forwarded,
}

impl ReferralStatus {
    /// The statuses still waiting for someone to act.
    pub const OPEN: [ReferralStatus; 4] =
        [ReferralStatus::Sent, ReferralStatus::Acknowledged, ReferralStatus::Accepted, ReferralStatus::InProgress];

    pub fn is_open(self) -> bool {
        Self::OPEN.contains(&self)
    }
}

/// What the receiving agency may learn about the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Share {
    /// Age band, sex, place, situation and the referral's own fields: enough to find and help,
    /// nothing that names the person.
    #[default]
    Minimal,
    /// Also the sighting and the child's profile (names, family contacts as the reader's
    /// permissions allow), once the receiving agency accepts. Needs `consent_given_by`, or a
    /// `consent_override_reason` from a role with `referrals_override_consent`.
    Details,
}

/// Make a referral (`referrals_create`; `Idempotency-Key` required). Name an identification or
/// a profile (or both, when the sighting is linked to it). Without `to_agency_id` the server
/// routes it by the routing table of the place: the answer says which rule chose the agency.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateReferral {
    /// Made by the phone, so that a retry never makes a second referral.
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identification_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<Uuid>,
    pub priority: Priority,
    /// `problem_category` codes, the first is the main one.
    #[validate(length(min = 1, max = 5))]
    pub reasons: Vec<String>,
    /// `referral_service` codes: what the person needs from the receiving agency.
    #[serde(default)]
    #[validate(length(max = 10))]
    pub services: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 4000))]
    pub notes: Option<String>,
    /// Another agency than the routing table's choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_agency_id: Option<Uuid>,
    #[serde(default)]
    pub share: Share,
    /// `consent_given_by` code: who agreed to the details being shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_given_by: Option<String>,
    /// Why the details are shared without consent (e.g. the child is in danger). Audited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 10, max = 1000))]
    pub consent_override_reason: Option<String>,
    /// When the referral was made on the phone (data; deadlines run from when the server got it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_at: Option<DateTime<Utc>>,
}

/// `acknowledge`, `first_contact` (with the person) and `outcome` (closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    Acknowledge,
    FirstContact,
    Outcome,
}

impl DeadlineKind {
    pub const ALL: [DeadlineKind; 3] = [DeadlineKind::Acknowledge, DeadlineKind::FirstContact, DeadlineKind::Outcome];
}

/// `pending` until due; `met` when done in time; `breached` when not done by `due_at` (done
/// later, `met_at` is set and it stays `breached`); `void` when the referral ended without it
/// before it fell due (declined, cancelled, forwarded, or closed without contact).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineState {
    Pending,
    Met,
    Breached,
    Void,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Deadline {
    pub kind: DeadlineKind,
    pub due_at: DateTime<Utc>,
    pub state: DeadlineState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub met_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breached_at: Option<DateTime<Utc>>,
}

/// Who the referral is about, without anything that names them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReferralSubject {
    /// `child`, `adult` or `unknown_age` (routed as a child).
    pub subject_type: String,
    pub age_band: AgeBand,
    pub sex: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub municipality: Option<AreaRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_unit: Option<AreaRef>,
    /// `street_situation` codes of the sighting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub street_situations: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk_level: Option<String>,
}

/// How the receiving agency was chosen.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Routing {
    pub method: RoutingMethod,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<Uuid>,
}

/// Who chose the receiving agency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoutingMethod {
    /// The routing table (`rule_id` names the rule).
    Rule,
    /// The sender.
    Chosen,
    /// The agency that had the referral before and forwarded it.
    Forward,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Referral {
    pub id: Uuid,
    pub status: ReferralStatus,
    pub priority: Priority,
    pub reasons: Vec<String>,
    pub services: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    pub subject: ReferralSubject,
    /// The sighting and profile, when the reader may see them: the sender's side always (within
    /// its scope); the receiving agency once it accepted a referral that shares details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identification_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileRef>,
    pub share: Share,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_given_by: Option<String>,
    /// Set when details were shared without consent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_override_reason: Option<String>,
    pub from_agency: AgencyRef,
    pub to_agency: AgencyRef,
    pub routing: Routing,
    pub created_by: PersonRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub made_at: Option<DateTime<Utc>>,
    /// When the server received it; deadlines run from here.
    pub sent_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<PersonRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who accepted or declined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responded_by: Option<PersonRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responded_at: Option<DateTime<Utc>>,
    /// First contact with the person (set when work starts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contacted_at: Option<DateTime<Utc>>,
    /// Who closed, declined, cancelled or forwarded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<PersonRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// `referral_outcome` code, once closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// `referral_decline_reason` code, once declined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decline_reason: Option<String>,
    /// The agency the sender could try next, after a decline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_agency: Option<AgencyRef>,
    /// The referral before this one in the chain (forwarded to this one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded_from: Option<Uuid>,
    /// The referral this one was forwarded to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded_to: Option<Uuid>,
    pub deadlines: Vec<Deadline>,
    /// True when a deadline has passed unmet.
    pub overdue: bool,
    pub version: i32,
}

/// A note with a state change.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ReferralAction {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 2000))]
    pub note: Option<String>,
}

/// Decline (`referrals_respond`, receiving agency). The referral goes back to the sender's
/// coordinators with `suggested_agency_id`, or the routing table's next choice.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct DeclineReferral {
    /// `referral_decline_reason` code.
    #[validate(length(min = 1, max = 64))]
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 2000))]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_agency_id: Option<Uuid>,
}

/// Start work: the first contact with the person was made.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct StartReferral {
    /// When the person was first reached; default now. Not in the future, not before `sent_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacted_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 2000))]
    pub note: Option<String>,
}

/// Close with an outcome (`referral_outcome` code), from `accepted` or `in_progress`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CloseReferral {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 64))]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 2000))]
    pub note: Option<String>,
}

/// Hand the person on to another agency (`referrals_respond`, receiving agency). This referral
/// ends as `forwarded`; a new one, with the same person, priority and consent, starts its own
/// deadlines at the next agency.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ForwardReferral {
    pub to_agency_id: Uuid,
    #[validate(length(min = 1, max = 2000))]
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateReferralComment {
    #[validate(length(min = 1, max = 4000))]
    pub text: String,
}

/// One entry of a referral's timeline.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReferralEvent {
    pub at: DateTime<Utc>,
    pub kind: ReferralEventKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<PersonRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Facts of the event, e.g. `{"deadline": "acknowledge"}`, `{"outcome": "case_opened"}`.
    pub details: serde_json::Value,
}

/// What an entry of a referral's timeline records: a change of status (named as the status),
/// or another event. More kinds may be added: show an entry of a kind you do not know by its
/// time and note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReferralEventKind {
    Sent,
    Acknowledged,
    Accepted,
    Declined,
    InProgress,
    Closed,
    Cancelled,
    /// Handed on to another agency (`details.forwarded_to`).
    Forwarded,
    /// Made by forwarding another referral (`details.referral_id`), with the forwarder's note.
    ForwardedFrom,
    /// A comment (in `note`).
    Comment,
    /// The details were shared without consent (the reason in `note`).
    ConsentOverride,
    /// A deadline (`details.deadline`) was met in time.
    DeadlineMet,
    /// A deadline (`details.deadline`) passed unmet.
    DeadlineBreached,
    /// An alert (`details.alert_id`) was raised for the receiving agency: an emergency referral
    /// (`details.joined` when it joined the alert its sighting had raised), or a deadline
    /// breached (`details.deadline`).
    AlertRaised,
    /// The sender's coordinators were alerted (`details.alert_id`): a deadline still unmet after
    /// a breach, or a decline.
    SenderAlerted,
}

impl From<ReferralStatus> for ReferralEventKind {
    /// The entry a change to this status writes.
    fn from(status: ReferralStatus) -> ReferralEventKind {
        match status {
            ReferralStatus::Sent => ReferralEventKind::Sent,
            ReferralStatus::Acknowledged => ReferralEventKind::Acknowledged,
            ReferralStatus::Accepted => ReferralEventKind::Accepted,
            ReferralStatus::Declined => ReferralEventKind::Declined,
            ReferralStatus::InProgress => ReferralEventKind::InProgress,
            ReferralStatus::Closed => ReferralEventKind::Closed,
            ReferralStatus::Cancelled => ReferralEventKind::Cancelled,
            ReferralStatus::Forwarded => ReferralEventKind::Forwarded,
        }
    }
}

/// `inbox`: addressed to your agency; `outbox`: sent by your agency; `mine`: made by you.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReferralBox {
    Inbox,
    Outbox,
    Mine,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct ReferralListQuery {
    #[param(inline)]
    pub r#box: Option<ReferralBox>,
    /// Agency code or id: referrals addressed to it.
    pub to_agency: Option<String>,
    /// Agency code or id: referrals sent by it.
    pub from_agency: Option<String>,
    #[param(inline)]
    pub status: Option<ReferralStatus>,
    /// Only referrals still open (`sent`, `acknowledged`, `accepted`, `in_progress`).
    pub open: Option<bool>,
    /// Only referrals with a deadline passed unmet (`true`), or none (`false`).
    pub overdue: Option<bool>,
    #[param(inline)]
    pub priority: Option<Priority>,
    pub identification_id: Option<Uuid>,
    pub profile_id: Option<Uuid>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    /// How many (default 50).
    #[validate(range(min = 1, max = 200))]
    pub limit: Option<u32>,
}

/// A page of referrals you may see, newest sent first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReferralPage {
    pub items: Vec<Referral>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Whom a routing rule is for: `unknown_age` is routed as a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoutedSubject {
    Child,
    Adult,
}

/// A row of a municipality's routing table. Rules of the municipality win over the national
/// ones (`municipality_code` absent); a rule for one of the requested services wins over one
/// for any service. The rule names an agency, or agency types tried in order: the first active
/// agency of that type serving the place (the smallest area first; shelters only with a free
/// place) is chosen.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoutingRule {
    pub id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub municipality: Option<AreaRef>,
    pub subject_type: RoutedSubject,
    /// A `referral_service` code, or absent for any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub agency_types: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agency: Option<AgencyRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

/// Create or replace a routing rule (`agencies_manage` of an agency in that municipality;
/// national rules by `system_admin`). Give `agency_types` or `agency_id`, not both.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PutRoutingRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 32))]
    pub municipality_code: Option<String>,
    pub subject_type: RoutedSubject,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 64))]
    pub service: Option<String>,
    #[serde(default)]
    #[validate(length(max = 5))]
    pub agency_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 1000))]
    pub notes: Option<String>,
    /// The `version` you read, when replacing a rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoutingRuleQuery {
    /// Municipality code: its rules and the national ones.
    pub municipality: Option<String>,
}

/// Where a referral would go, before it is made.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RouteQuery {
    pub identification_id: Option<Uuid>,
    pub profile_id: Option<Uuid>,
    /// Comma-separated `referral_service` codes.
    pub services: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RouteSuggestion {
    /// The routing table's choice, if any agency fits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agency: Option<AgencyRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<Uuid>,
    /// Other agencies serving the place that take this kind of case, best first.
    pub alternatives: Vec<AgencyRef>,
}

/// A span of time: wall-clock (`minutes`, `hours`, `days`) or counted only within working hours
/// (`working_hours`, `working_days` of the calendar's day length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpanUnit {
    Minutes,
    Hours,
    Days,
    WorkingHours,
    WorkingDays,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Span {
    #[validate(range(min = 1, max = 10000))]
    pub amount: u32,
    pub unit: SpanUnit,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PriorityDeadlines {
    pub priority: Priority,
    #[validate(nested)]
    pub acknowledge: Span,
    #[validate(nested)]
    pub first_contact: Span,
    #[validate(nested)]
    pub outcome: Span,
}

/// Working time in the receiving agency's zone, for spans counted in working hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct WorkingCalendar {
    #[validate(length(min = 1, max = 7))]
    pub weekdays: Vec<WeekdayCode>,
    /// Local `HH:MM`.
    pub starts: String,
    /// Local `HH:MM`, after `starts`.
    pub ends: String,
    /// Days off: `MM-DD` every year, or one `YYYY-MM-DD` (moveable feasts).
    #[serde(default)]
    #[validate(length(max = 200))]
    pub holidays: Vec<String>,
}

/// Deadline policy of a municipality (or the national default): one entry per priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct DeadlinePolicyBody {
    #[validate(length(min = 4, max = 4), nested)]
    pub priorities: Vec<PriorityDeadlines>,
    #[validate(nested)]
    pub working_calendar: WorkingCalendar,
    /// Minutes after a breach before the sender's coordinators are alerted too, if the deadline
    /// is still unmet.
    #[validate(range(min = 1, max = 10080))]
    pub sender_alert_after_minutes: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeadlinePolicy {
    /// Absent for the national default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub municipality: Option<AreaRef>,
    /// True when this municipality has no policy of its own and the national default applies.
    pub inherited: bool,
    pub policy: DeadlinePolicyBody,
    pub version: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PutDeadlinePolicy {
    #[validate(nested)]
    pub policy: DeadlinePolicyBody,
    /// The `version` you read; absent when the municipality has no policy of its own yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
}

/// Deadlines met and missed by an agency, for reports: per priority and kind, over the
/// referrals it received in the period. Counts only, no person.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeadlineStatistics {
    pub agency: AgencyRef,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub referrals: i64,
    /// Readers without access to the agency's referrals get counts below this left out (reported
    /// as 0 and named in `suppressed`), with further cells of a row or deadline kind hidden so
    /// that none can be worked out by subtraction; 1 for the agency's own staff.
    pub min_count: i64,
    /// `referrals` when that total is left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<DeadlineStatisticsCount>,
    pub rows: Vec<DeadlineStatisticsRow>,
}

/// A count of `DeadlineStatistics` that may be left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineStatisticsCount {
    Referrals,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeadlineStatisticsRow {
    pub priority: Priority,
    pub kind: DeadlineKind,
    pub met: i64,
    pub breached: i64,
    pub pending: i64,
    pub void: i64,
    /// The cells (the counts of deadlines in these states) left out and reported as 0.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<DeadlineState>,
}

#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadlineStatisticsQuery {
    /// Agency code or id that received the referrals; default your own.
    pub agency: Option<String>,
    /// Referrals sent at or after this instant.
    pub from: DateTime<Utc>,
    /// Referrals sent before this instant (at most 400 days after `from`).
    pub to: DateTime<Utc>,
}

/// Shelter places in use, as the shelter reports them (`referrals_respond` or
/// `agencies_manage` of the shelter). Accepting a shelter placement takes a place.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PutOccupancy {
    #[validate(range(min = 0, max = 100000))]
    pub occupied: i32,
}
