//! Frozen reports: a report counted at a cut-off and kept as it was, exact and with small numbers
//! hidden, so that it reads the same forever. Freezing again makes a new version only when a
//! figure changed (late records), and each version shows what changed since the one before. At
//! the end of each quarter the quarter-end job freezes every municipality's report and tells the
//! coordinators and administrators of its child-protection units.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use terren_contract::alerts::{AlertSource, EscalationPolicyBody, EscalationStep, Severity, Target};
use terren_contract::reports::{
    FreezeReport, FrozenReport, Report, ReportChange, ReportPeriod, ReportVersion, ReportVersionsQuery,
};
use terren_contract::{Permission, Role};
use uuid::Uuid;

use super::period::{Period, tirana_day};
use super::service::{self, Covered, covered, covered_for, period_of};
use crate::access::reports::report_reach;
use crate::access::{AuthUser, MUNICIPAL_CHILD_PROTECTION_TYPES};
use crate::accounts::service::person_refs;
use crate::alerts::service::{NewAlert, raise};
use crate::audit::{self, Actor};
use crate::clock::to_utc;
use crate::db::Tx;
use crate::db::schema::{agencies, report_versions};
use crate::http::{ApiError, ApiResult};
use crate::ids::{AgencyId, parse_uuid};
use crate::outbox::{self, JobPayload, kinds};
use crate::territory::index::TerritoryIndex;

/// When (in Tirana) the quarter-end job runs each day; it freezes a quarter once, on the first
/// run after the quarter ended.
const QUARTER_END_AT: NaiveTime = NaiveTime::from_hms_opt(6, 0, 0).unwrap();
/// How long the coordinators have to acknowledge the notice before it is sent again.
const NOTICE_WAIT_MINUTES: u32 = 24 * 60;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = report_versions)]
struct VersionRow {
    id: String,
    area_code: String,
    period: String,
    version: i32,
    exact: String,
    hidden: String,
    content_hash: String,
    cut_off: NaiveDateTime,
    generated_by: Option<String>,
}

/// The SHA-256 of a report's area, period and exact tables.
fn content_hash(report: &Report) -> ApiResult<String> {
    let content = json!({ "area": report.area.code, "period": report.period.label, "tables": report.tables });
    let text = serde_json::to_string(&content).map_err(anyhow::Error::from)?;
    Ok(crate::digest::hex(&Sha256::digest(text.as_bytes())))
}

fn versions_of(tx: &mut Tx<'_>, area: &str, period: &str) -> QueryResult<Vec<VersionRow>> {
    report_versions::table
        .filter(report_versions::area_code.eq(area))
        .filter(report_versions::period.eq(period))
        .order(report_versions::version.desc())
        .select(VersionRow::as_select())
        .load(tx.conn())
}

/// Freezes a report counted now; the latest version when no figure changed since it. Returns
/// the version and whether it is new.
fn freeze_counted(
    tx: &mut Tx<'_>,
    covered: Covered,
    period: Period,
    generated_by: Option<&AuthUser>,
    at: NaiveDateTime,
) -> ApiResult<(VersionRow, bool)> {
    let counted = service::count(tx, covered, period, None, at)?;
    let (exact, hidden) = (counted.shown(true), counted.shown(false));
    let hash = content_hash(&exact)?;
    let earlier = versions_of(tx, &exact.area.code, &exact.period.label)?;
    if let Some(latest) = earlier.into_iter().next() {
        if latest.content_hash == hash {
            return Ok((latest, false));
        }
        return insert(tx, &exact, &hidden, hash, latest.version + 1, generated_by, at).map(|row| (row, true));
    }
    insert(tx, &exact, &hidden, hash, 1, generated_by, at).map(|row| (row, true))
}

fn insert(
    tx: &mut Tx<'_>,
    exact: &Report,
    hidden: &Report,
    hash: String,
    version: i32,
    generated_by: Option<&AuthUser>,
    at: NaiveDateTime,
) -> ApiResult<VersionRow> {
    let text = |report: &Report| serde_json::to_string(report).map_err(anyhow::Error::from);
    let row = VersionRow {
        id: Uuid::now_v7().to_string(),
        area_code: exact.area.code.clone(),
        period: exact.period.label.clone(),
        version,
        exact: text(exact)?,
        hidden: text(hidden)?,
        content_hash: hash,
        cut_off: at,
        generated_by: generated_by.map(|user| user.user_id.to_string()),
    };
    diesel::insert_into(report_versions::table)
        .values((
            report_versions::id.eq(&row.id),
            report_versions::area_code.eq(&row.area_code),
            report_versions::period.eq(&row.period),
            report_versions::version.eq(row.version),
            report_versions::exact.eq(&row.exact),
            report_versions::hidden.eq(&row.hidden),
            report_versions::content_hash.eq(&row.content_hash),
            report_versions::cut_off.eq(row.cut_off),
            report_versions::generated_by.eq(&row.generated_by),
            report_versions::generated_at.eq(at),
        ))
        .execute(tx.conn())?;
    let actor = generated_by.map_or_else(Actor::system, AuthUser::actor);
    audit::record(
        tx,
        &actor,
        at,
        "report.freeze",
        "report_version",
        &row.id,
        json!({ "area": row.area_code, "period": row.period, "version": version, "content_hash": row.content_hash }),
    )?;
    Ok(row)
}

/// Who may freeze reports: those who plan (coordinators) or administer agencies, over their
/// reach, and system administrators.
fn may_freeze(user: &AuthUser) -> ApiResult<()> {
    if user.is_system_admin() || user.can(Permission::PlanningManage) || user.can(Permission::AgenciesManage) {
        Ok(())
    } else {
        Err(ApiError::forbidden("reports are frozen by coordinators and administrators"))
    }
}

/// Freezes a report now, at the caller's request. Returns it and whether it is a new version.
pub fn freeze(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    request: &FreezeReport,
    at: NaiveDateTime,
) -> ApiResult<(FrozenReport, bool)> {
    let reach = report_reach(user)?;
    may_freeze(user)?;
    let period = period_of("period", &request.period, at)?;
    let covered = covered_for(tx, index, user, reach, request.area.as_deref())?;
    let (row, new) = freeze_counted(tx, covered, period, Some(user), at)?;
    Ok((shown(tx, row, reach.exact)?, new))
}

/// The versions of an area's report for a period, newest first.
pub fn list(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    query: &ReportVersionsQuery,
) -> ApiResult<Vec<ReportVersion>> {
    let reach = report_reach(user)?;
    let period = Period::parse("period", &query.period).map_err(|e| ApiError::fields(vec![e]))?;
    let covered = covered_for(tx, index, user, reach, query.area.as_deref())?;
    let rows = versions_of(tx, &covered.area.code, &period.label)?;
    let people = person_refs(tx, &rows.iter().filter_map(|row| row.generated_by.clone()).collect::<BTreeSet<_>>())?;
    rows.into_iter()
        .map(|row| {
            let report: Report = serde_json::from_str(&row.hidden).map_err(anyhow::Error::from)?;
            version_of(&row, &report, row.generated_by.as_ref().and_then(|id| people.get(id).cloned()))
        })
        .collect()
}

/// One frozen report as the reader may see it, with what changed since the version before;
/// audited as read, or as exported in a format.
pub fn get(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
    at: NaiveDateTime,
    exported_as: Option<&str>,
) -> ApiResult<FrozenReport> {
    let reach = report_reach(user)?;
    let row: VersionRow = report_versions::table
        .find(id)
        .select(VersionRow::as_select())
        .first(tx.conn())
        .optional()?
        .ok_or_else(|| ApiError::not_found("report version"))?;
    // The same reach as the report itself: outside it, the version does not exist.
    let covered = covered(index, &row.area_code)?;
    if crate::access::reports::check_report_area(index, user, reach, covered.municipalities()).is_err() {
        return Err(ApiError::not_found("report version"));
    }
    let mut details = json!({
        "area": row.area_code, "period": row.period, "version": row.version, "small_numbers_hidden": !reach.exact
    });
    if let Some(format) = exported_as {
        details["format"] = format.into();
    }
    let action = if exported_as.is_some() { "report.export" } else { "report.read" };
    audit::record(tx, &user.actor(), at, action, "report_version", &row.id, details)?;
    shown(tx, row, reach.exact)
}

fn version_of(
    row: &VersionRow,
    report: &Report,
    generated_by: Option<terren_contract::identifications::PersonRef>,
) -> ApiResult<ReportVersion> {
    Ok(ReportVersion {
        id: parse_uuid(&row.id)?,
        area: report.area.clone(),
        period: ReportPeriod {
            label: report.period.label.clone(),
            first_day: report.period.first_day,
            last_day: report.period.last_day,
        },
        version: row.version,
        content_hash: row.content_hash.clone(),
        cut_off: to_utc(row.cut_off),
        generated_by,
    })
}

/// A version as the reader may see it, with its changes from the version before.
fn shown(tx: &mut Tx<'_>, row: VersionRow, exact: bool) -> ApiResult<FrozenReport> {
    let pick = |row: &VersionRow| -> ApiResult<Report> {
        let text = if exact { &row.exact } else { &row.hidden };
        Ok(serde_json::from_str(text).map_err(anyhow::Error::from)?)
    };
    let report = pick(&row)?;
    let previous: Option<VersionRow> = report_versions::table
        .filter(report_versions::area_code.eq(&row.area_code))
        .filter(report_versions::period.eq(&row.period))
        .filter(report_versions::version.eq(row.version - 1))
        .select(VersionRow::as_select())
        .first(tx.conn())
        .optional()?;
    let changes = match previous {
        Some(previous) => changes(&pick(&previous)?, &report),
        None => Vec::new(),
    };
    let people = person_refs(tx, &row.generated_by.iter().cloned().collect())?;
    let generated_by = row.generated_by.as_ref().and_then(|id| people.get(id).cloned());
    Ok(FrozenReport { version: version_of(&row, &report, generated_by)?, report, changes })
}

/// The figures of `after` that differ from `before`, table by table, row by row, then totals.
pub fn changes(before: &Report, after: &Report) -> Vec<ReportChange> {
    let mut changes = Vec::new();
    let empty = terren_contract::reports::ReportValue { count: None, suppressed: false };
    for table in &after.tables {
        let earlier = before.tables.iter().find(|t| t.id == table.id);
        for row in &table.rows {
            let was = earlier.and_then(|t| t.rows.iter().find(|r| r.code == row.code)).map_or(empty, |r| r.value);
            if was != row.value {
                changes.push(ReportChange {
                    table: table.id,
                    row: Some(row.code.clone()),
                    before: was,
                    after: row.value,
                });
            }
        }
        let was = earlier.map_or(empty, |t| t.total);
        if was != table.total {
            changes.push(ReportChange { table: table.id, row: None, before: was, after: table.total });
        }
    }
    changes
}

/// The quarter-end job of one day (in Tirana).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarterEndJob {
    pub day: NaiveDate,
}

impl JobPayload for QuarterEndJob {
    const KIND: &'static str = kinds::REPORTS_QUARTER_END;

    fn dedup_key(&self) -> String {
        format!("reports-quarter-end:{}", self.day)
    }
}

/// Makes sure the quarter-end job is scheduled.
pub fn enqueue_quarter_end(tx: &mut Tx<'_>, now: DateTime<Utc>) -> QueryResult<bool> {
    outbox::enqueue_daily(tx, |day| QuarterEndJob { day }, QUARTER_END_AT, now, crate::clock::truncate(now))
}

/// The quarter-end job: freezes the last quarter's report of every municipality with a
/// child-protection unit that has none yet, tells the unit's coordinators and administrators,
/// and schedules tomorrow's run. Returns how many reports it froze.
pub fn run_quarter_end(tx: &mut Tx<'_>, index: &TerritoryIndex, now: DateTime<Utc>) -> ApiResult<usize> {
    let at = crate::clock::truncate(now);
    let today = tirana_day(at);
    let this_quarter = Period::quarter_of(today);
    let quarter = Period::quarter_of(this_quarter.first_day - Duration::days(1));
    let units: Vec<(AgencyId, String, String)> = agencies::table
        .filter(agencies::active.eq(true))
        .filter(agencies::agency_type.eq_any(MUNICIPAL_CHILD_PROTECTION_TYPES))
        .filter(agencies::municipality_id.is_not_null())
        .order(agencies::code)
        .select((agencies::id, agencies::municipality_id.assume_not_null(), agencies::name))
        .load(tx.conn())?;
    let municipalities: BTreeSet<&str> = units.iter().map(|(_, municipality, _)| municipality.as_str()).collect();
    let mut frozen = 0;
    for municipality in municipalities {
        let Some(area) = index.find_id(municipality) else { continue };
        let code = index.area(area).code.clone();
        if !versions_of(tx, &code, &quarter.label)?.is_empty() {
            continue;
        }
        let (row, _) = freeze_counted(tx, covered(index, &code)?, quarter.clone(), None, at)?;
        frozen += 1;
        let name = index.area(area).name.clone();
        for (agency_id, _, _) in units.iter().filter(|(_, m, _)| m == municipality) {
            let new = NewAlert {
                severity: Severity::Normal,
                source: AlertSource::ReportFrozen,
                agency_id: agency_id.clone(),
                area_id: Some(municipality.to_owned()),
                title: format!(
                    "Raporti i {} për {} u ngri / {} report for {} frozen",
                    quarter.label, name, name, quarter.label
                ),
                details: Some(format!("Versioni {} · Version {} · {}", row.version, row.version, row.content_hash)),
                dedup_key: Some(format!("report:{}:{}:frozen:{}", code, quarter.label, agency_id)),
                identification_id: None,
                profile_id: None,
                referral_id: None,
                policy: Some(coordinators_and_administrators()),
            };
            raise(tx, &Actor::system(), new, at)?;
        }
    }
    enqueue_quarter_end(tx, now)?;
    Ok(frozen)
}

/// A notice for the unit's coordinators and administrators, sent once.
fn coordinators_and_administrators() -> EscalationPolicyBody {
    EscalationPolicyBody {
        steps: vec![EscalationStep {
            targets: vec![Target::Role { role: Role::Coordinator }, Target::Role { role: Role::AgencyAdmin }],
            wait_minutes: NOTICE_WAIT_MINUTES,
            only_when: Vec::new(),
        }],
        repeat: 1,
        fallback: Vec::new(),
    }
}
