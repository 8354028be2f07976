//! Reports for ASHDMF and the municipal plans: tables counted from the field records for an area
//! and a period, with small numbers hidden from readers of aggregates only.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::identifications::{AreaRef, PersonRef};

/// Which report to make: an area and a period.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// A year (`2022`), a quarter (`2023-Q3`), a half-year (`2024-H1`) or whole days
    /// (`2023-07-01..2023-09-30`, both included), on Albania's calendar. A period under way is
    /// reported up to now; one that has not begun is refused (`in_future`).
    pub period: String,
    /// The code of a municipality (`AL224`), a county, or `AL` for the whole country. Defaults
    /// to your agency's municipality (to the country with national scope).
    pub area: Option<String>,
    /// Only these tables (their ids, comma-separated); all of them when absent.
    pub tables: Option<String>,
    /// The period the plan's indicators are measured against, instead of the municipality's
    /// plan (same forms as `period`); it must end before `period` begins.
    pub baseline: Option<String>,
}

/// A municipality's plan: the period its indicators are measured against and the change it aims
/// for (Kamëz 2026–2030: at least 40 % fewer children in street situations than in 2025).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MunicipalPlan {
    pub municipality: AreaRef,
    /// A year, quarter, half-year or days, as a report's `period`.
    pub baseline_period: String,
    /// Whole per cent; negative for fewer (`-40`).
    pub target_change_percent: i32,
    /// 0 while the municipality has no plan.
    pub version: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// Sets a municipality's plan (the administrators of its social services or child-protection
/// unit, or a system administrator).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PutMunicipalPlan {
    /// A period that has begun: `2025`, `2025-Q4`, `2025-H2`, `2025-01-01..2025-12-31`.
    #[validate(length(min = 4, max = 40))]
    pub baseline_period: String,
    #[validate(range(min = -100, max = 1000))]
    pub target_change_percent: i32,
    /// The `version` you read (0 or absent when there is no plan yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
}

/// A label in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Labels {
    pub sq: String,
    pub en: String,
}

/// The area a report covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReportArea {
    /// `AL` for the whole country, else the area's code.
    pub code: String,
    pub name: String,
    /// `country`, `county` or `municipality`.
    pub level: String,
}

/// The period a report covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReportPeriod {
    /// As asked for: `2022`, `2023-Q3`, `2024-H1`, `2023-07-01..2023-09-30`.
    pub label: String,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
}

/// A count, or nothing where it is hidden: a count from 1 to 2 for a reader of aggregates only,
/// and whatever else would let one work such a count out (shown as `<3`). Neither `count` nor
/// `suppressed` where there is nothing to show (a median of no referrals, the total of a table
/// whose rows are not parts of a whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReportValue {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suppressed: bool,
}

/// A row of a table: a code of the table's breakdown and its count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReportRow {
    pub code: String,
    pub label: Labels,
    pub value: ReportValue,
}

/// The tables of a report. `cases_*`: the national report's protection cases (children);
/// `street_*`: people identified in street situations, from sightings (a person is their
/// profile, or a sighting linked to none); `referrals_*`: referral chains made in the period;
/// `referral_*`: each link sent in the period, measured against its deadlines; `plan_*`: the
/// municipal plan's indicators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportTableId {
    /// Protection cases opened in the period, by age band at opening.
    CasesNewByAgeBand,
    CasesNewBySex,
    /// By community; children of another nationality are counted as `foreign`.
    CasesNewByCommunity,
    /// By who identified or referred the child (`identifier_type`).
    CasesNewByIdentifier,
    /// Cases closed in the period, by `case_closure_reason`.
    CasesClosedByReason,
    /// Cases open at any time in the period, by assessed risk (`not_assessed` when not yet).
    CasesManagedByRisk,
    /// Cases open at any time in the period, by primary problem.
    CasesManagedByProblem,
    /// Protection measures taken in the period, by `protection_measure`.
    ProtectionMeasuresByType,
    /// Distinct children identified: `first_time` (first seen in the period), `repeat` (seen
    /// before it), `not_linked` (sightings linked to no profile, each one child).
    StreetChildrenIdentified,
    /// Distinct children seen in each `street_situation`; one child may be in several rows.
    StreetChildrenBySituation,
    /// By `residence_origin`: of this municipality, of another, foreign.
    StreetChildrenByResidenceOrigin,
    /// `with_adult` when any sighting shows an adult with the child, `without_adult`, or
    /// `not_recorded`.
    StreetChildrenAccompanied,
    StreetAdultsIdentified,
    StreetAdultsBySituation,
    StreetAdultsByResidenceOrigin,
    StreetAdultsAccompanied,
    ReferralsChildrenByPriority,
    /// By the type of the agency the referral was sent to (first, before any forward).
    ReferralsChildrenByReceivingAgency,
    /// By where the chain ended: a `referral_outcome`, `declined`, `cancelled`, or `open`.
    ReferralsChildrenByOutcome,
    ReferralsAdultsByPriority,
    ReferralsAdultsByReceivingAgency,
    ReferralsAdultsByOutcome,
    /// Per deadline kind, met and breached (`acknowledge_met`, `first_contact_breached`…).
    ReferralDeadlines,
    /// Minutes from sending to acknowledgement and to first contact: median and 90th percentile.
    ReferralResponseMinutes,
    /// Distinct children in street situations: the plan's `baseline` period, this `period`, the
    /// `target` (the most the period may have to meet it) and `above_target` (how many more than
    /// the target it had; negative when under it).
    PlanStreetChildren,
    /// Distinct children in street situations in each quarter of the period.
    PlanStreetChildrenByQuarter,
    /// Per cent: the `change` from the baseline and the `target_change`.
    PlanStreetChildrenChange,
    /// Per cent of the children linked to a profile who had been identified before the period.
    PlanRepeatIdentification,
    /// Field rounds that started in the period, by status.
    PlanRoundsByStatus,
    /// Hours of the week (of 168, local time): `with_sightings`, `with_sightings_uncovered` (no
    /// team out in that hour of any week of the period), `uncovered`.
    PlanHoursOfWeek,
}

/// What a table's numbers are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportUnit {
    /// People, cases, referrals or rounds.
    #[default]
    Count,
    /// Whole minutes.
    Minutes,
    /// Whole per cent (may be negative).
    Percent,
}

/// One table: numbers by one breakdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReportTable {
    pub id: ReportTableId,
    pub title: Labels,
    /// The vocabulary the rows' codes come from, or the table's own list of rows.
    pub breakdown: String,
    #[serde(default)]
    pub unit: ReportUnit,
    pub rows: Vec<ReportRow>,
    /// How many were counted: the sum of the rows, or (when `rows_overlap`) the people counted,
    /// each once. Without a `count` (`{}`) where the rows are not parts of a whole.
    pub total: ReportValue,
    /// One person may be counted in several rows.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rows_overlap: bool,
}

/// A report: its tables for an area and a period, counted at `generated_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Report {
    pub area: ReportArea,
    pub period: ReportPeriod,
    pub generated_at: DateTime<Utc>,
    /// Small numbers are hidden in this report (the reader reads aggregates only).
    pub small_numbers_hidden: bool,
    pub tables: Vec<ReportTable>,
}

/// Freeze a report: count it now and keep it as counted (coordinators, agency administrators
/// and system administrators, over their reach). Freezing again after late records makes a new
/// version when a figure changed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct FreezeReport {
    /// As `ReportQuery.period`.
    #[validate(length(min = 4, max = 40))]
    pub period: String,
    /// As `ReportQuery.area`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(min = 2, max = 40))]
    pub area: Option<String>,
}

/// Which frozen reports to list: an area and a period.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportVersionsQuery {
    /// As `ReportQuery.period`.
    pub period: String,
    /// As `ReportQuery.area`.
    pub area: Option<String>,
}

/// A frozen report: one version of an area's report for a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportVersion {
    pub id: Uuid,
    pub area: ReportArea,
    pub period: ReportPeriod,
    /// 1 for the first freeze of this area and period, then 2, 3…
    pub version: i32,
    /// SHA-256 (hex) of the exact tables: the same figures give the same hash.
    pub content_hash: String,
    /// Records as they stood at this instant were counted.
    pub cut_off: DateTime<Utc>,
    /// Absent when the quarter-end job froze it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_by: Option<PersonRef>,
}

/// A figure that differs from the version before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReportChange {
    pub table: ReportTableId,
    /// The row's code; absent for the table's total.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<String>,
    pub before: ReportValue,
    pub after: ReportValue,
}

/// A frozen report as its reader may see it, and what changed since the version before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FrozenReport {
    pub version: ReportVersion,
    pub report: Report,
    /// Changes from version `version - 1` (empty for the first).
    pub changes: Vec<ReportChange>,
}
