//! Field rounds: teams, planned rounds (one-off or from a weekly rule), check-in and check-out
//! from the field, and coverage of hotspots and hours.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::AgencyRef;
use crate::hotspots::{Hotspot, HotspotRef};
use crate::identifications::{AreaRef, GeoFix, Identification, PersonRef};
use crate::schedules::WeekdayCode;
use crate::time::LocalOrInstant;

/// `squad`, `mobile_unit`, or `joint` (with the police: members may come from other agencies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TeamKind {
    Squad,
    MobileUnit,
    Joint,
}

/// Create or replace a team (`planning_manage`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PutTeam {
    #[validate(length(min = 1, max = 200))]
    pub name: String,
    pub kind: TeamKind,
    /// User ids; of your agency, or of any agency for a `joint` team.
    #[validate(length(min = 1, max = 50))]
    pub members: Vec<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 32))]
    pub home_area_code: Option<String>,
    /// Vehicle, phone and other practical notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 1000))]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 3, max = 32))]
    pub phone: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
    /// The `version` you read, when replacing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TeamMember {
    pub id: Uuid,
    pub display_name: String,
    pub agency: AgencyRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Team {
    pub id: Uuid,
    pub agency: AgencyRef,
    pub name: String,
    pub kind: TeamKind,
    pub members: Vec<TeamMember>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home_area: Option<AreaRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    pub active: bool,
    pub version: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TeamRef {
    pub id: Uuid,
    pub name: String,
}

/// A place to visit: a hotspot, or a whole area (give one of the two).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct StopInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hotspot_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 32))]
    pub area_code: Option<String>,
}

/// Plan one round (`planning_manage`; `Idempotency-Key` required). The window is local
/// wall-clock time in the agency's zone; it may run past midnight.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateRound {
    pub id: Uuid,
    pub team_id: Uuid,
    /// Start: a local time in the agency's time zone without offset (`2026-07-06T18:00:00`), or
    /// an RFC 3339 instant with `Z` or an offset (`2026-07-06T16:00:00Z`, as rounds are read).
    #[schema(value_type = String, example = "2026-07-06T18:00:00")]
    pub starts_at: LocalOrInstant,
    /// End, in either form: after the start and at most 24 hours later.
    #[schema(value_type = String, example = "2026-07-06T21:00:00")]
    pub ends_at: LocalOrInstant,
    /// `round_purpose` code: `patrol`, `child_follow_up`, `joint_operation`, `school_outreach`.
    #[validate(length(min = 1, max = 64))]
    pub purpose: String,
    /// In the order to visit them.
    #[validate(length(min = 1, max = 30), nested)]
    pub stops: Vec<StopInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 2000))]
    pub notes: Option<String>,
}

/// Change one round (`planning_manage`), at the `version` you read. A round of a series is
/// detached from it: later edits of the series leave it as it is.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct UpdateRound {
    pub version: i32,
    /// A local time without offset or an RFC 3339 instant, as in `CreateRound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "2026-07-06T18:00:00")]
    pub starts_at: Option<LocalOrInstant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "2026-07-06T21:00:00")]
    pub ends_at: Option<LocalOrInstant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 64))]
    pub purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 1, max = 30), nested)]
    pub stops: Option<Vec<StopInput>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 2000))]
    pub notes: Option<String>,
}

/// A weekly rule that plans rounds for the coming weeks (`planning_manage`), e.g. Monday to
/// Saturday 10:00–14:00 at these hotspots, or summer evenings in these neighbourhoods.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PutRoundSeries {
    pub team_id: Uuid,
    #[validate(length(min = 1, max = 7))]
    pub weekdays: Vec<WeekdayCode>,
    /// Local windows `HH:MM`–`HH:MM` on each of those days (1–4 a day; a window ends after it
    /// starts, on the same day).
    #[validate(length(min = 1, max = 4), nested)]
    pub windows: Vec<TimeWindow>,
    pub starts_on: NaiveDate,
    /// Last day (inclusive); absent: until changed. Rounds are planned 8 weeks ahead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_on: Option<NaiveDate>,
    #[validate(length(min = 1, max = 64))]
    pub purpose: String,
    #[validate(length(min = 1, max = 30), nested)]
    pub stops: Vec<StopInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 2000))]
    pub notes: Option<String>,
    /// The `version` you read, when replacing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    #[validate(length(equal = 5))]
    pub starts: String,
    #[validate(length(equal = 5))]
    pub ends: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoundSeries {
    pub id: Uuid,
    pub team: TeamRef,
    pub weekdays: Vec<WeekdayCode>,
    pub windows: Vec<TimeWindow>,
    pub starts_on: NaiveDate,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ends_on: Option<NaiveDate>,
    pub purpose: String,
    pub stops: Vec<StopInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Rounds are planned up to this day.
    pub planned_until: NaiveDate,
    pub time_zone: String,
    pub version: i32,
}

/// `planned` → `in_progress` (checked in) → `done` (checked out); `missed` when nobody checked in
/// in time; `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoundStatus {
    Planned,
    InProgress,
    Done,
    Missed,
    Cancelled,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoundStop {
    pub position: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hotspot: Option<HotspotRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub area: Option<AreaRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrived_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_at: Option<DateTime<Utc>>,
    /// When the server got the arrival, when it came later than it happened (sent offline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrived_received_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_received_at: Option<DateTime<Utc>>,
}

/// What the team reports at the end of a round.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct RoundReport {
    #[validate(range(max = 1000))]
    pub children_met: u32,
    #[validate(range(max = 1000))]
    pub adults_met: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 4000))]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Round {
    pub id: Uuid,
    pub team: TeamRef,
    pub agency: AgencyRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series_id: Option<Uuid>,
    /// Changed by hand after the series planned it.
    pub detached: bool,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The local day it starts on, in the agency's zone.
    pub local_date: NaiveDate,
    pub purpose: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    pub status: RoundStatus,
    pub stops: Vec<RoundStop>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_in_by: Option<PersonRef>,
    /// When the check-in happened (by the phone's clock when it was sent offline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_in_at: Option<DateTime<Utc>>,
    /// When the server got the check-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_in_received_at: Option<DateTime<Utc>>,
    /// How far from the nearest stop the check-in was, when it was more than the agency allows,
    /// with the reason given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_in_distance_m: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_in_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checked_out_at: Option<DateTime<Utc>>,
    /// When the server got the check-out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_out_received_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<RoundReport>,
    /// When nobody had checked in by the start plus the agency's grace; kept after a late
    /// check-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missed_at: Option<DateTime<Utc>>,
    /// Identifications recorded during the round.
    pub identifications: i64,
    pub version: i32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoundListQuery {
    pub team_id: Option<Uuid>,
    /// Rounds starting at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Rounds starting before this instant (at most 100 days after `from`).
    pub to: Option<DateTime<Utc>>,
    #[param(inline)]
    pub status: Option<RoundStatus>,
}

/// Check in at the start of a round, from the field (`Idempotency-Key` required).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CheckIn {
    #[validate(nested)]
    pub location: GeoFix,
    /// Why the check-in is far from the round's places (required beyond the agency's limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 3, max = 500))]
    pub reason: Option<String>,
    /// When it happened, by the phone's clock, for a write queued offline (at most 5 minutes
    /// ahead of the server's clock and 7 days behind it); without it, when the server gets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Arrive at or leave a stop of the round (`Idempotency-Key` required).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct StopVisit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(nested)]
    pub location: Option<GeoFix>,
    /// When it happened, by the phone's clock, for a write queued offline (at most 5 minutes
    /// ahead of the server's clock and 7 days behind it); without it, when the server gets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Check out at the end of a round, with the team's report (`Idempotency-Key` required).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CheckOut {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(nested)]
    pub location: Option<GeoFix>,
    #[validate(nested)]
    pub report: RoundReport,
    /// When it happened, by the phone's clock, for a write queued offline (at most 5 minutes
    /// ahead of the server's clock and 7 days behind it); without it, when the server gets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MyRoundsQuery {
    /// Local date in your agency's zone; default today.
    pub date: Option<NaiveDate>,
}

/// A stop as the phone needs it offline: the hotspot with its shape, and who was seen there.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StopForPhone {
    pub position: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hotspot: Option<Hotspot>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub area: Option<AreaRef>,
    /// Sightings there in the last 30 days that you may see, newest first (at most 20), shown
    /// as `GET /identifications/{id}` shows them to you.
    pub recent_sightings: Vec<Identification>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RoundForPhone {
    pub round: Round,
    pub members: Vec<TeamMember>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_phone: Option<String>,
    pub stops: Vec<StopForPhone>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MyRounds {
    pub date: NaiveDate,
    pub rounds: Vec<RoundForPhone>,
}

/// An agency's rules for rounds (`planning_manage`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PlanningPolicy {
    /// Refuse rounds for people on duty in the agency's rota at the same time.
    pub forbid_rounds_while_on_duty: bool,
    /// A round nobody checked in to this many minutes after its start is missed (5–240).
    #[validate(range(min = 5, max = 240))]
    pub missed_after_minutes: u32,
    /// A check-in farther than this from every stop needs a reason (1–100 km).
    #[validate(range(min = 1.0, max = 100.0))]
    pub far_check_in_km: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CoverageQuery {
    /// Area code (a municipality or an administrative unit).
    pub area: String,
    pub from: DateTime<Utc>,
    /// At most 190 days after `from`.
    pub to: DateTime<Utc>,
    /// Hotspots without a visit for this many days before `to` are listed as stale (1–365,
    /// default 14).
    pub stale_days: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HotspotCoverage {
    pub hotspot: HotspotRef,
    /// Stops at the hotspot in rounds of the period that were not cancelled.
    pub planned_visits: i64,
    /// Of those, stops the team arrived at.
    pub done_visits: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_visit_at: Option<DateTime<Utc>>,
    /// Sightings inside the hotspot in the period, and the different children among them
    /// (sightings not linked to a profile count one each).
    pub identifications: i64,
    pub distinct_children: i64,
    /// Counts left out for readers without access to sightings (below `min_count`; reported as 0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<HotspotCoverageCount>,
}

/// A count of `HotspotCoverage` that may be left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HotspotCoverageCount {
    Identifications,
    DistinctChildren,
}

/// One hour of the week, in the area's local time.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CoverageCell {
    pub weekday: WeekdayCode,
    /// 0–23.
    pub hour: u32,
    pub identifications: i64,
    /// Minutes teams were checked in to rounds in that hour, summed over the period.
    pub team_minutes: i64,
    /// `identifications` left out (reported as 0): below `min_count`, or hidden with it so that
    /// it cannot be worked out from the area's total.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub identifications_suppressed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MissedRound {
    pub round_id: Uuid,
    pub team: TeamRef,
    pub starts_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StaleHotspot {
    pub hotspot: HotspotRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_visit_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Coverage {
    pub area: AreaRef,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub time_zone: String,
    /// Readers without access to individual sightings get counts below this left out (1 for
    /// those who may read the sightings themselves).
    pub min_count: i64,
    pub hotspots: Vec<HotspotCoverage>,
    /// The 168 hours of the week, Monday 00:00 first.
    pub grid: Vec<CoverageCell>,
    pub stale_hotspots: Vec<StaleHotspot>,
    pub missed_rounds: Vec<MissedRound>,
}
