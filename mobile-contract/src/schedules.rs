//! Duty rotas: who is on duty when, in the schedule's own time zone.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::AgencyRef;
use crate::identifications::PersonRef;

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WeekdayCode {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl WeekdayCode {
    /// Monday first.
    pub const ALL: [WeekdayCode; 7] = [
        WeekdayCode::Mon,
        WeekdayCode::Tue,
        WeekdayCode::Wed,
        WeekdayCode::Thu,
        WeekdayCode::Fri,
        WeekdayCode::Sat,
        WeekdayCode::Sun,
    ];
}

/// The unit of a turn's length. Days and weeks are wall-clock: a daily turn handed over at 08:00
/// stays at 08:00 across daylight-saving changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TurnUnit {
    Hours,
    Days,
    Weeks,
}

/// When a layer is active, in the schedule's local time: e.g. Mon–Sat 08:00–20:00. `to` earlier
/// than `from` runs past midnight (nights: 20:00–08:00).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct RestrictionWindow {
    #[validate(length(min = 1, max = 7))]
    pub weekdays: Vec<WeekdayCode>,
    /// Local time `HH:MM`.
    #[schema(example = "08:00")]
    pub from: String,
    /// Local time `HH:MM`; equal to `from` is refused (zero length).
    #[schema(example = "20:00")]
    pub to: String,
}

/// One rotation: participants take turns in order, each turn `turn_every` × `turn_unit` long,
/// handed over at `handoff_time` local time, from `starts_on` until `ends_on` (exclusive, at the
/// handoff time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    #[validate(length(min = 1, max = 100))]
    pub name: String,
    /// Higher wins where layers overlap; layers of equal priority must not be on duty at the same
    /// time.
    #[serde(default)]
    pub priority: i32,
    /// In turn order; each participant is one person or a pair (two user ids).
    #[validate(length(min = 1, max = 200))]
    pub participants: Vec<Vec<Uuid>>,
    #[validate(range(min = 1, max = 1000))]
    pub turn_every: u32,
    pub turn_unit: TurnUnit,
    /// Local wall-clock time `HH:MM` of each handoff.
    #[schema(example = "08:00")]
    pub handoff_time: String,
    pub starts_on: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_on: Option<NaiveDate>,
    /// When empty, the layer is active around the clock.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[validate(nested, length(max = 14))]
    pub restrictions: Vec<RestrictionWindow>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateSchedule {
    /// Defaults to your own agency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency_id: Option<Uuid>,
    #[validate(length(min = 1, max = 200))]
    pub name: String,
    /// IANA time zone; defaults to the agency's (`Europe/Tirane`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[validate(nested, length(min = 1, max = 20))]
    pub layers: Vec<Layer>,
    /// When the layers start to apply; defaults to now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<DateTime<Utc>>,
}

/// A change to a schedule. New layers apply from `effective_from` (now or later, never the past):
/// shifts before it stay as they were.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct UpdateSchedule {
    /// The version you read; a stale one is refused with 412 and the current schedule.
    pub version: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 200))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(nested, length(min = 1, max = 20))]
    pub layers: Option<Vec<Layer>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<DateTime<Utc>>,
}

/// An uncovered stretch: nobody is on duty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Gap {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The layers in force from `effective_from`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduleRevision {
    pub revision: i32,
    pub effective_from: DateTime<Utc>,
    pub layers: Vec<Layer>,
    pub created_by: PersonRef,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Schedule {
    pub id: Uuid,
    pub agency: AgencyRef,
    pub name: String,
    pub time_zone: String,
    /// Send back as `version` when updating.
    pub version: i32,
    /// The revision in force now.
    pub current: ScheduleRevision,
    /// Revisions that take effect later, earliest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upcoming: Vec<ScheduleRevision>,
    /// For a 24/7 agency: the uncovered stretches in the next 30 days. A 24/7 schedule with a hole
    /// is saved (so that it can be mended) but reported here, and coordinators are alerted daily.
    pub coverage_gaps: Vec<Gap>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A person on duty, with the number to call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OnDutyPerson {
    pub id: Uuid,
    pub display_name: String,
    pub phone: Option<String>,
}

/// Where a stretch of duty comes from: a layer (by name) or an override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShiftSource {
    Layer { name: String },
    Override { id: Uuid },
}

/// A stretch of the final schedule with the same people on duty. No people means a gap.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Shift {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub people: Vec<OnDutyPerson>,
    pub sources: Vec<ShiftSource>,
}

/// Who is on duty at an instant, until when, and who comes next.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OnCall {
    pub schedule_id: Uuid,
    pub schedule_name: String,
    pub agency: AgencyRef,
    pub time_zone: String,
    pub at: DateTime<Utc>,
    /// Empty when nobody is on duty (a gap).
    pub on_duty: Vec<OnDutyPerson>,
    pub sources: Vec<ShiftSource>,
    /// When the current stretch began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// The next handoff (within 60 days), and who takes over then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_handoff: Option<DateTime<Utc>>,
    pub next_on_duty: Vec<OnDutyPerson>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AtQuery {
    /// RFC 3339 instant with `Z` or an offset (send `+` as `%2B`); defaults to now.
    #[serde(default, deserialize_with = "crate::time::instant_param::at")]
    pub at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OnCallQuery {
    /// Agency code or id; defaults to your own agency.
    pub agency: Option<String>,
    /// Area code: the agencies serving this place (with 24/7 duty first).
    pub area: Option<String>,
    /// RFC 3339 instant with `Z` or an offset (send `+` as `%2B`); defaults to now.
    #[serde(default, deserialize_with = "crate::time::instant_param::at")]
    pub at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShiftsQuery {
    /// RFC 3339 instant with `Z` or an offset (send `+` as `%2B`).
    #[serde(deserialize_with = "crate::time::instant_param::from")]
    pub from: DateTime<Utc>,
    /// At most 100 days after `from`.
    #[serde(deserialize_with = "crate::time::instant_param::to")]
    pub to: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GapsQuery {
    /// How many days ahead to look, 1–100 (default 30).
    pub days: Option<u32>,
}

/// One person covers a span, whatever the layers say.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateOverride {
    pub user_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 500))]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Override {
    pub id: Uuid,
    pub schedule_id: Uuid,
    pub person: OnDutyPerson,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: Option<String>,
    /// The swap request this override carries out, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap_request_id: Option<Uuid>,
    pub created_by: PersonRef,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// Offer a span of your own duty to the other members of the schedule.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateSwapRequest {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 500))]
    pub note: Option<String>,
    /// A coordinator must approve before the taker is on duty (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_approval: Option<bool>,
}

/// `offered` → `taken` → `approved` (the taker is on duty) or `declined`; `cancelled` by the
/// offerer before it is approved. Without approval, taking it approves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SwapState {
    Offered,
    Taken,
    Approved,
    Declined,
    Cancelled,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SwapRequest {
    pub id: Uuid,
    pub schedule_id: Uuid,
    pub offered_by: PersonRef,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub note: Option<String>,
    pub state: SwapState,
    pub needs_approval: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken_by: Option<PersonRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<PersonRef>,
    /// Send back as `version` when acting on it.
    pub version: i32,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SwapListQuery {
    /// Only swaps in this state; all by default.
    pub state: Option<SwapState>,
}

/// Act on a swap request at the version you read.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct SwapAction {
    pub version: i32,
}

/// A calendar subscription. The URL is shown once, when it is made; only its hash is kept.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CalendarFeed {
    pub id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
    /// `webcal`-ready HTTPS URL with the secret token; present only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}
