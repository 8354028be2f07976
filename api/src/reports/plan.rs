//! The municipal plan's indicators: distinct children in street situations in the period and in
//! each of its quarters, against the plan's baseline period and target change; the share of
//! children identified again; field rounds by status; and hours of the week (in Tirana) when
//! people were met on the street but no team was out.
//!
//! A municipality's plan (baseline period and target) is set by the administrators of its social
//! services or child-protection unit, the same people who set its referral deadlines.

use chrono::NaiveDateTime;
use chrono_tz::Europe::Tirane;
use diesel::QueryableByName;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Timestamp};
use serde_json::json;
use terren_contract::Permission;
use terren_contract::areas::AreaLevel;
use terren_contract::problem::{FieldError, FieldErrorCode};
use terren_contract::reports::{MunicipalPlan, PutMunicipalPlan};

use super::cases::{Counts, Scope};
use super::period::{Period, tirana_day};
use super::sql::{CodeCount, Statement};
use super::street::{self, StreetTables};
use crate::access::AuthUser;
use crate::audit;
use crate::clock::to_utc;
use crate::db::schema::municipal_plans;
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult};
use crate::rounds::coverage::{cell_of, spread_minutes};
use crate::territory::index::TerritoryIndex;
use crate::territory::refs::area_ref_at;

pub const BASELINE: &str = "baseline";
pub const PERIOD: &str = "period";
pub const TARGET: &str = "target";
pub const ABOVE_TARGET: &str = "above_target";
pub const CHANGE: &str = "change";
pub const TARGET_CHANGE: &str = "target_change";
pub const REPEAT_RATE: &str = "repeat_rate";
pub const WITH_SIGHTINGS: &str = "with_sightings";
pub const WITH_SIGHTINGS_UNCOVERED: &str = "with_sightings_uncovered";
pub const UNCOVERED: &str = "uncovered";

/// What a plan measures against: the baseline period and the change aimed for, in per cent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Baseline {
    pub period: Period,
    pub target_change_percent: i32,
}

/// The indicators of one period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanFigures {
    /// The baseline, the children in it, and the most the period may have to meet the target.
    pub baseline: Option<(Baseline, i64, i64)>,
    /// Distinct children in street situations in the period.
    pub children: i64,
    /// The same in each quarter of the period.
    pub quarters: Vec<(String, i64)>,
    /// Of the children linked to a profile, those identified first in the period and before it.
    pub first_time: i64,
    pub repeat: i64,
    pub rounds_by_status: Counts,
    /// `with_sightings`, `with_sightings_uncovered`, `uncovered` (hours of the week).
    pub hours: Counts,
}

/// The most children a period may have to meet a change of `percent` from `baseline`: at least
/// 40 % fewer than 8 is at most 4.
pub fn target(baseline: i64, percent: i32) -> i64 {
    (baseline * (100 + i64::from(percent))).div_euclid(100)
}

/// Counts the plan's indicators for `period`, given the children's street tables of the period.
pub fn count(
    conn: &mut DbConnection,
    scope: &Scope,
    period: &Period,
    baseline: Option<Baseline>,
    children: &StreetTables,
) -> QueryResult<PlanFigures> {
    let (from, to) = period.bounds();
    let baseline = match baseline {
        Some(baseline) => {
            let (baseline_from, baseline_to) = baseline.period.bounds();
            let counted = street::people(conn, "child", scope, baseline_from, baseline_to)?;
            let most = target(counted, baseline.target_change_percent);
            Some((baseline, counted, most))
        }
        None => None,
    };
    let mut quarters = Vec::new();
    for quarter in period.quarters() {
        let (quarter_from, quarter_to) = quarter.bounds();
        quarters.push((quarter.label, street::people(conn, "child", scope, quarter_from, quarter_to)?));
    }
    let rounds_by_status: Vec<CodeCount> = Statement::new(conn)
        .sql("SELECT r.status AS code, COUNT(*) AS n FROM rounds r JOIN agencies a ON a.id = r.agency_id WHERE r.starts_at >= ")
        .time(from)
        .sql(" AND r.starts_at < ")
        .time(to)
        .within("a.municipality_id", scope)
        .sql(" GROUP BY r.status")
        .load(conn)?;
    Ok(PlanFigures {
        baseline,
        children: children.people(),
        quarters,
        first_time: children.linked() - children.repeat(),
        repeat: children.repeat(),
        rounds_by_status: rounds_by_status.into_iter().filter_map(|row| Some((row.code?, row.n))).collect(),
        hours: hours_of_week(conn, scope, from, to)?,
    })
}

#[derive(QueryableByName)]
struct TeamTime {
    #[diesel(sql_type = Timestamp)]
    checked_in_at: NaiveDateTime,
    #[diesel(sql_type = Nullable<Timestamp>)]
    checked_out_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Timestamp)]
    ends_at: NaiveDateTime,
}

/// Hours of the week with sightings, and those of them no team was out in during the period.
fn hours_of_week(
    conn: &mut DbConnection,
    scope: &Scope,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Counts> {
    // Counted per hour in the database (at most 24 a day), placed in the week in Tirana here.
    let by_hour: Vec<CodeCount> = Statement::new(conn)
        .sql("SELECT ")
        .hour_of("i.observed_at")
        .sql(" AS code, COUNT(*) AS n FROM identifications i WHERE i.observed_at >= ")
        .time(from)
        .sql(" AND i.observed_at < ")
        .time(to)
        .within("i.municipality_id", scope)
        .sql(" GROUP BY 1")
        .load(conn)?;
    let mut sightings = [0_i64; 168];
    for row in by_hour {
        let Some(hour) =
            row.code.and_then(|code| NaiveDateTime::parse_from_str(&format!("{code}:00"), "%Y-%m-%d %H:%M").ok())
        else {
            continue;
        };
        sightings[cell_of(hour.and_utc(), Tirane)] += row.n;
    }
    let team_times: Vec<TeamTime> = Statement::new(conn)
        .sql(
            "SELECT r.checked_in_at AS checked_in_at, r.checked_out_at AS checked_out_at, r.ends_at AS ends_at \
             FROM rounds r JOIN agencies a ON a.id = r.agency_id \
             WHERE r.checked_in_at IS NOT NULL AND r.checked_in_at < ",
        )
        .time(to)
        .sql(" AND COALESCE(r.checked_out_at, r.ends_at) > ")
        .time(from)
        .within("a.municipality_id", scope)
        .load(conn)?;
    let mut team_minutes = [0_i64; 168];
    for time in team_times {
        let out = time.checked_out_at.unwrap_or(time.ends_at.max(time.checked_in_at));
        let (start, end) = (time.checked_in_at.max(from), out.min(to));
        if end > start {
            spread_minutes(&mut team_minutes, to_utc(start), to_utc(end), Tirane);
        }
    }
    let hours = |keep: &dyn Fn(usize) -> bool| (0..168).filter(|&cell| keep(cell)).count() as i64;
    Ok(Counts::from([
        (WITH_SIGHTINGS.to_owned(), hours(&|cell| sightings[cell] > 0)),
        (WITH_SIGHTINGS_UNCOVERED.to_owned(), hours(&|cell| sightings[cell] > 0 && team_minutes[cell] == 0)),
        (UNCOVERED.to_owned(), hours(&|cell| team_minutes[cell] == 0)),
    ]))
}

/// The baseline a report measures against: the one asked for, else the municipality's plan
/// (for a report over one municipality); none for a plan whose baseline does not end before the
/// period begins.
pub fn baseline_for(
    conn: &mut DbConnection,
    scope: &Scope,
    period: &Period,
    asked: Option<&str>,
    today: chrono::NaiveDate,
) -> ApiResult<Option<Baseline>> {
    let stored = match scope {
        Scope::Municipalities(ids) if ids.len() == 1 => stored(conn, &ids[0])?,
        _ => None,
    };
    let Some(asked) = asked else {
        return Ok(stored.and_then(|(text, percent, _, _)| {
            let baseline = Period::parse("baseline", &text).ok()?;
            (baseline.last_day < period.first_day)
                .then_some(Baseline { period: baseline, target_change_percent: percent })
        }));
    };
    let baseline = Period::parse("baseline", asked)
        .and_then(|baseline| baseline.check_begun("baseline", today).map(|()| baseline))
        .map_err(|e| ApiError::fields(vec![e]))?;
    if baseline.last_day >= period.first_day {
        return Err(ApiError::fields(vec![FieldError::new(
            "baseline",
            FieldErrorCode::NotBeforePeriod,
            "the baseline must end before the period begins",
        )]));
    }
    let percent = stored.map_or(0, |(_, percent, _, _)| percent);
    Ok(Some(Baseline { period: baseline, target_change_percent: percent }))
}

/// A municipality's stored plan: baseline period, target change, version, when it was set.
fn stored(conn: &mut DbConnection, municipality_id: &str) -> QueryResult<Option<(String, i32, i32, NaiveDateTime)>> {
    municipal_plans::table
        .find(municipality_id)
        .select((
            municipal_plans::baseline_period,
            municipal_plans::target_change_percent,
            municipal_plans::version,
            municipal_plans::updated_at,
        ))
        .first(conn)
        .optional()
}

/// The municipality named by `code`, by index.
fn municipality(index: &TerritoryIndex, code: &str) -> ApiResult<usize> {
    let at = index.find_code(code).ok_or_else(|| ApiError::not_found("municipality"))?;
    if index.area(at).level != AreaLevel::Municipality {
        return Err(ApiError::not_found("municipality"));
    }
    Ok(at)
}

/// A municipality's plan, for anyone who reads reports or plans rounds.
pub fn get(conn: &mut DbConnection, index: &TerritoryIndex, user: &AuthUser, code: &str) -> ApiResult<MunicipalPlan> {
    if !(user.can(Permission::StatisticsRead) || user.can(Permission::PlanningManage)) {
        return Err(ApiError::forbidden("this needs statistics_read or planning_manage"));
    }
    let at = municipality(index, code)?;
    let stored = stored(conn, &index.area(at).id)?;
    Ok(match stored {
        Some((baseline_period, target_change_percent, version, updated_at)) => MunicipalPlan {
            municipality: area_ref_at(index, at),
            baseline_period,
            target_change_percent,
            version,
            updated_at: Some(to_utc(updated_at)),
        },
        None => MunicipalPlan {
            municipality: area_ref_at(index, at),
            baseline_period: String::new(),
            target_change_percent: 0,
            version: 0,
            updated_at: None,
        },
    })
}

/// Sets a municipality's plan; `version` is the one read (0 before the first).
pub fn put(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    code: &str,
    request: &PutMunicipalPlan,
    at: NaiveDateTime,
) -> ApiResult<MunicipalPlan> {
    let area = municipality(index, code)?;
    let municipality_id = index.area(area).id.clone();
    crate::access::may_manage_municipal_policy(tx, user, Some(&municipality_id))?;
    let baseline = Period::parse("baseline_period", &request.baseline_period)
        .and_then(|baseline| baseline.check_begun("baseline_period", tirana_day(at)).map(|()| baseline))
        .map_err(|e| ApiError::fields(vec![e]))?;
    let current = stored(tx, &municipality_id)?;
    let version = current.as_ref().map_or(0, |(_, _, version, _)| *version);
    let conflict = |tx: &mut Tx<'_>| -> ApiResult<ApiError> {
        let now = get(tx.conn(), index, user, code)?;
        Ok(ApiError::version_mismatch(serde_json::to_value(now).map_err(anyhow::Error::from)?))
    };
    if request.version.unwrap_or(0) != version {
        return Err(conflict(tx)?);
    }
    let changed = if current.is_some() {
        diesel::update(
            municipal_plans::table
                .filter(municipal_plans::municipality_id.eq(&municipality_id))
                .filter(municipal_plans::version.eq(version)),
        )
        .set((
            municipal_plans::baseline_period.eq(&baseline.label),
            municipal_plans::target_change_percent.eq(request.target_change_percent),
            municipal_plans::version.eq(version + 1),
            municipal_plans::updated_by.eq(&user.user_id),
            municipal_plans::updated_at.eq(at),
        ))
        .execute(tx.conn())?
    } else {
        diesel::insert_into(municipal_plans::table)
            .values((
                municipal_plans::municipality_id.eq(&municipality_id),
                municipal_plans::baseline_period.eq(&baseline.label),
                municipal_plans::target_change_percent.eq(request.target_change_percent),
                municipal_plans::version.eq(1),
                municipal_plans::updated_by.eq(&user.user_id),
                municipal_plans::updated_at.eq(at),
            ))
            .execute(tx.conn())?
    };
    if changed == 0 {
        return Err(conflict(tx)?);
    }
    audit::record(
        tx,
        &user.actor(),
        at,
        "municipal_plan.update",
        "municipal_plan",
        &municipality_id,
        json!({ "baseline_period": baseline.label, "target_change_percent": request.target_change_percent, "version": version + 1 }),
    )?;
    get(tx.conn(), index, user, code)
}
