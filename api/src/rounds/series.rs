//! Weekly series of rounds: a rule of weekdays and local windows, planned eight weeks ahead (the
//! daily job keeps it so); an occurrence edited by hand is detached and left alone when the series
//! changes.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use terren_contract::alerts::{AlertSource, Severity};
use terren_contract::problem::FieldError;
use terren_contract::problem::FieldErrorCode;
use terren_contract::rounds::{PutRoundSeries, RoundSeries, RoundStatus, StopInput, TimeWindow};
use terren_contract::schedules::WeekdayCode;
use uuid::Uuid;

use super::conflicts::{busy, conflict};
use super::plan::{check_purpose, insert_round, new_row, resolve_stops};
use super::policy::policy_of;
use super::store::{RoundRow, Stop};
use super::teams;
use super::window::{Window, window_at};
use crate::access::AuthUser;
use crate::alerts::service::{NewAlert, raise};
use crate::audit::{self, Actor};
use crate::clock::to_utc;
use crate::db::schema::{identifications, round_series, round_stops, rounds, teams as team_rows};
use crate::db::{DbConnection, Tx};
use crate::hotspots::service as hotspot_service;
use crate::http::{ApiError, ApiResult};
use crate::ids::{AgencyId, TeamId, parse_uuid};
use crate::rota::layers::{parse_local_time, weekday};
use crate::territory::index::TerritoryIndex;
use crate::territory::refs::area_ref;
use crate::vocabularies::wire_code;

/// How far ahead a series plans its rounds.
pub const PLAN_AHEAD_WEEKS: u64 = 8;

/// A series' rule as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Rule {
    weekdays: Vec<WeekdayCode>,
    windows: Vec<TimeWindow>,
    starts_on: NaiveDate,
    ends_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = round_series)]
pub struct SeriesRow {
    pub id: String,
    pub team_id: TeamId,
    pub agency_id: AgencyId,
    pub rule: String,
    pub purpose: String,
    pub stops: String,
    pub notes: Option<String>,
    pub time_zone: String,
    pub planned_until: String,
    pub version: i32,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl SeriesRow {
    fn rule(&self) -> ApiResult<Rule> {
        serde_json::from_str(&self.rule)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("stored rule of series {}: {e}", self.id)))
    }

    fn stops(&self) -> Vec<Stop> {
        let stored: Vec<(Option<String>, Option<String>)> = serde_json::from_str(&self.stops).unwrap_or_default();
        stored.into_iter().map(|(hotspot_id, area_id)| Stop { hotspot_id, area_id }).collect()
    }

    fn tz(&self) -> Tz {
        crate::rota::layers::parse_time_zone(&self.time_zone).unwrap_or(chrono_tz::Europe::Tirane)
    }
}

/// Parsed windows of a rule, or the errors in them.
fn parse_windows(windows: &[TimeWindow]) -> ApiResult<Vec<(NaiveTime, NaiveTime)>> {
    let mut errors = Vec::new();
    let mut parsed = Vec::new();
    for (i, window) in windows.iter().enumerate() {
        match (parse_local_time(&window.starts), parse_local_time(&window.ends)) {
            (Some(starts), Some(ends)) if ends > starts => parsed.push((starts, ends)),
            (Some(_), Some(_)) => errors.push(FieldError {
                field: format!("windows[{i}].ends"),
                code: FieldErrorCode::EndsBeforeStart,
                message: "a window ends after it starts, on the same day".into(),
            }),
            _ => errors.push(FieldError {
                field: format!("windows[{i}]"),
                code: FieldErrorCode::InvalidTime,
                message: "HH:MM".into(),
            }),
        }
    }
    parsed.sort();
    if errors.is_empty() && parsed.windows(2).any(|pair| pair[1].0 < pair[0].1) {
        errors.push(FieldError {
            field: "windows".into(),
            code: FieldErrorCode::OverlappingWindows,
            message: "the windows of a day overlap".into(),
        });
    }
    if errors.is_empty() { Ok(parsed) } else { Err(ApiError::fields(errors)) }
}

/// The rounds a rule plans on the local days `from..=until`, with their occurrence keys.
fn occurrences(
    series_id: &str,
    rule: &Rule,
    windows: &[(NaiveTime, NaiveTime)],
    tz: Tz,
    from: NaiveDate,
    until: NaiveDate,
) -> Vec<(String, Window)> {
    let days: std::collections::HashSet<chrono::Weekday> = rule.weekdays.iter().map(|d| weekday(*d)).collect();
    let mut found = Vec::new();
    let mut day = from.max(rule.starts_on);
    let last = rule.ends_on.map_or(until, |end| end.min(until));
    while day <= last {
        if days.contains(&day.weekday()) {
            for (n, (starts, ends)) in windows.iter().enumerate() {
                let window = window_at(tz, day.and_time(*starts), day.and_time(*ends));
                found.push((format!("{series_id}|{day}|{n}"), window));
            }
        }
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    found
}

fn series_view(conn: &mut DbConnection, index: &TerritoryIndex, row: &SeriesRow) -> ApiResult<RoundSeries> {
    let rule = row.rule()?;
    let team = teams::load(conn, &row.team_id)?;
    let stops = row
        .stops()
        .into_iter()
        .map(|stop| StopInput {
            hotspot_id: stop.hotspot_id.as_deref().and_then(|id| id.parse().ok()),
            area_code: stop.area_id.as_ref().and_then(|id| area_ref(index, &Some(id.clone()))).map(|a| a.code),
        })
        .collect();
    Ok(RoundSeries {
        id: parse_uuid(&row.id)?,
        team: team.as_ref()?,
        weekdays: rule.weekdays,
        windows: rule.windows,
        starts_on: rule.starts_on,
        ends_on: rule.ends_on,
        purpose: row.purpose.clone(),
        stops,
        notes: row.notes.clone(),
        planned_until: row.planned_until.parse().unwrap_or(rule.starts_on),
        time_zone: row.time_zone.clone(),
        version: row.version,
    })
}

pub fn load_series(conn: &mut DbConnection, id: &str) -> ApiResult<SeriesRow> {
    round_series::table
        .filter(round_series::id.eq(id))
        .select(SeriesRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("round series"))
}

pub fn get_series(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: &str,
) -> ApiResult<RoundSeries> {
    let row = load_series(conn, id)?;
    teams::visible_for(conn, user, &row.team_id, "round series")?;
    series_view(conn, index, &row)
}

/// Plans a series' rounds on the local days `from..=until` that are not planned yet; with
/// `strict`, a busy member refuses the whole series (when a person saves it), otherwise the
/// round is planned anyway and the coordinators are alerted (the daily extension).
fn plan_series(
    tx: &mut Tx<'_>,
    row: &SeriesRow,
    from: NaiveDate,
    until: NaiveDate,
    strict: bool,
    at: NaiveDateTime,
) -> ApiResult<usize> {
    let rule = row.rule()?;
    let windows = parse_windows(&rule.windows)?;
    let team = teams::load(tx, &row.team_id)?;
    let policy = policy_of(tx, &row.agency_id)?;
    let stops = row.stops();
    let mut planned = 0;
    let mut refusals = Vec::new();
    let planned_already: HashSet<String> = rounds::table
        .filter(rounds::series_id.eq(&row.id))
        .filter(rounds::occurrence_key.is_not_null())
        .select(rounds::occurrence_key.assume_not_null())
        .load(tx.conn())?
        .into_iter()
        .collect();
    for (key, window) in occurrences(&row.id, &rule, &windows, row.tz(), from, until) {
        if planned_already.contains(&key) || window.starts_at < to_utc(at) {
            continue;
        }
        let busy = busy(tx, &team, &window, None, &policy)?;
        if strict && !busy.is_empty() {
            refusals.push(format!("{}: {}", window.local_date, busy.join(", ")));
            continue;
        }
        let mut round =
            new_row(&team, Uuid::now_v7().to_string(), &row.created_by, &window, &row.purpose, row.notes.clone(), at);
        round.series_id = Some(row.id.clone());
        round.occurrence_key = Some(key);
        insert_round(tx, &round, &stops, &policy)?;
        if !busy.is_empty() {
            // Nobody is planning at this moment: the round is planned and its coordinators told.
            alert_conflict(tx, &team, &round, &busy, at)?;
        }
        planned += 1;
    }
    if !refusals.is_empty() {
        return Err(conflict(refusals));
    }
    diesel::update(round_series::table.filter(round_series::id.eq(&row.id)))
        .set(round_series::planned_until.eq(until.to_string()))
        .execute(tx.conn())?;
    Ok(planned)
}

fn alert_conflict(
    tx: &mut Tx<'_>,
    team: &teams::TeamRow,
    round: &RoundRow,
    busy: &[String],
    at: NaiveDateTime,
) -> ApiResult<()> {
    let new = NewAlert {
        severity: Severity::Normal,
        source: AlertSource::RoundConflict,
        agency_id: round.agency_id.clone(),
        area_id: None,
        title: format!("Përplasje në plan / Round conflict: {}, {}", team.name, round.local_date),
        details: Some(busy.join("; ")),
        dedup_key: Some(format!("round:{}:conflict", round.id)),
        identification_id: None,
        profile_id: None,
        referral_id: None,
        policy: Some(crate::alerts::coverage::coordinators_only()),
    };
    raise(tx, &Actor::system(), new, at)?;
    Ok(())
}

fn local_today(tz: Tz, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// Creates (`id` absent) or replaces a series. Replacing re-plans the rounds that have not
/// started and were not changed by hand.
pub fn put_series(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    id: Option<&str>,
    request: &PutRoundSeries,
    now: DateTime<Utc>,
) -> ApiResult<(RoundSeries, bool)> {
    let team = teams::planned_by(tx, user, &TeamId::from(request.team_id))?;
    teams::ensure_active(&team)?;
    check_purpose(tx, &request.purpose)?;
    let windows = parse_windows(&request.windows)?;
    let stops = resolve_stops(tx, index, user, &request.stops)?;
    let tz = hotspot_service::agency_zone(tx, &team.agency_id)?;
    let today = local_today(tz, now);
    let rule = Rule {
        weekdays: request.weekdays.clone(),
        windows: request.windows.clone(),
        starts_on: request.starts_on,
        ends_on: request.ends_on,
    };
    if request.ends_on.is_some_and(|end| end < request.starts_on) {
        return Err(ApiError::field("ends_on", FieldErrorCode::EndsBeforeStart, "ends_on is on or after starts_on"));
    }
    if request.ends_on.is_some_and(|end| end < today) {
        return Err(ApiError::field("ends_on", FieldErrorCode::InPast, "the series ends before today"));
    }
    let horizon = today.checked_add_days(Days::new(PLAN_AHEAD_WEEKS * 7)).unwrap_or(today);
    let first_year = request.starts_on.max(today).checked_add_days(Days::new(366)).unwrap_or(horizon);
    let probe_id = id.unwrap_or("probe");
    if occurrences(probe_id, &rule, &windows, tz, request.starts_on.max(today), first_year)
        .iter()
        .all(|(_, w)| w.starts_at < now)
    {
        return Err(ApiError::field(
            "weekdays",
            FieldErrorCode::GeneratesNothing,
            "the rule plans no round from today on",
        ));
    }
    let at = crate::clock::truncate(now);
    let stored_stops =
        serde_json::to_string(&stops.iter().map(|s| (s.hotspot_id.clone(), s.area_id.clone())).collect::<Vec<_>>())
            .map_err(anyhow::Error::from)?;
    let rule_text = serde_json::to_string(&rule).map_err(anyhow::Error::from)?;
    let (series_id, created) = match id {
        None => {
            let series_id = Uuid::now_v7().to_string();
            diesel::insert_into(round_series::table)
                .values((
                    round_series::id.eq(&series_id),
                    round_series::team_id.eq(&team.id),
                    round_series::agency_id.eq(&team.agency_id),
                    round_series::rule.eq(&rule_text),
                    round_series::purpose.eq(&request.purpose),
                    round_series::stops.eq(&stored_stops),
                    round_series::notes.eq(&request.notes),
                    round_series::time_zone.eq(tz.name()),
                    round_series::planned_until.eq(today.to_string()),
                    round_series::version.eq(1),
                    round_series::created_by.eq(&user.user_id),
                    round_series::created_at.eq(at),
                    round_series::updated_at.eq(at),
                ))
                .execute(tx.conn())?;
            (series_id, true)
        }
        Some(id) => {
            let current = load_series(tx, id)?;
            if current.agency_id != user.agency.id {
                return Err(ApiError::not_found("round series"));
            }
            if request.version != Some(current.version) {
                let view = series_view(tx, index, &current)?;
                return Err(ApiError::version_mismatch(serde_json::to_value(view).map_err(anyhow::Error::from)?));
            }
            diesel::update(round_series::table.filter(round_series::id.eq(id)))
                .set((
                    round_series::team_id.eq(&team.id),
                    round_series::rule.eq(&rule_text),
                    round_series::purpose.eq(&request.purpose),
                    round_series::stops.eq(&stored_stops),
                    round_series::notes.eq(&request.notes),
                    round_series::version.eq(current.version + 1),
                    round_series::updated_at.eq(at),
                ))
                .execute(tx.conn())?;
            let replaced: Vec<String> = rounds::table
                .filter(rounds::series_id.eq(id))
                .filter(rounds::detached.eq(false))
                .filter(rounds::status.eq(wire_code(RoundStatus::Planned)))
                .filter(rounds::starts_at.gt(at))
                // A round a sighting was already linked to stays, as if edited by hand.
                .filter(diesel::dsl::not(diesel::dsl::exists(
                    identifications::table.filter(identifications::round_id.eq(rounds::id.nullable())),
                )))
                .select(rounds::id)
                .load(tx.conn())?;
            diesel::delete(round_stops::table.filter(round_stops::round_id.eq_any(&replaced))).execute(tx.conn())?;
            diesel::delete(rounds::table.filter(rounds::id.eq_any(&replaced))).execute(tx.conn())?;
            (id.to_owned(), false)
        }
    };
    let row = load_series(tx, &series_id)?;
    let planned = plan_series(tx, &row, today, horizon, true, at)?;
    audit::record(
        tx,
        &user.actor(),
        at,
        if created { "round_series.create" } else { "round_series.update" },
        "round_series",
        &series_id,
        json!({ "team_id": team.id, "rounds_planned": planned }),
    )?;
    let saved = load_series(tx, &series_id)?;
    Ok((series_view(tx, index, &saved)?, created))
}

/// The daily job: every series plans its rounds up to eight weeks ahead.
pub fn plan_ahead(tx: &mut Tx<'_>, now: DateTime<Utc>) -> ApiResult<usize> {
    let at = crate::clock::truncate(now);
    let all: Vec<SeriesRow> = round_series::table
        .filter(round_series::team_id.eq_any(team_rows::table.filter(team_rows::active.eq(true)).select(team_rows::id)))
        .select(SeriesRow::as_select())
        .load(tx.conn())?;
    let mut planned = 0;
    for row in all {
        let today = local_today(row.tz(), now);
        let horizon = today.checked_add_days(Days::new(PLAN_AHEAD_WEEKS * 7)).unwrap_or(today);
        let from: NaiveDate = row.planned_until.parse().unwrap_or(today);
        if from >= horizon || row.rule()?.ends_on.is_some_and(|end| end < from) {
            continue;
        }
        // One series that cannot be planned (a stop since deleted, a rule stored wrong) leaves
        // the others planned.
        match crate::db::backend::savepoint(tx, |tx| plan_series(tx, &row, from, horizon, false, at)) {
            Ok(count) => planned += count,
            Err(error) => {
                tracing::warn!(series = %row.id, code = error.code.as_str(), "a round series could not be planned ahead")
            }
        }
    }
    Ok(planned)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn rule(windows: &[(&str, &str)], starts_on: NaiveDate, ends_on: NaiveDate) -> (Rule, Vec<(NaiveTime, NaiveTime)>) {
        let windows: Vec<TimeWindow> = windows
            .iter()
            .map(|(starts, ends)| TimeWindow { starts: (*starts).into(), ends: (*ends).into() })
            .collect();
        let parsed = parse_windows(&windows).unwrap();
        (Rule { weekdays: WeekdayCode::ALL.to_vec(), windows, starts_on, ends_on: Some(ends_on) }, parsed)
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn windows_between(windows: &[(&str, &str)], from: NaiveDate, until: NaiveDate) -> Vec<(String, Window)> {
        let (rule, parsed) = rule(windows, from, until);
        occurrences("s", &rule, &parsed, chrono_tz::Europe::Tirane, from, until)
    }

    #[test]
    fn a_window_keeps_its_local_hours_across_both_clock_changes() {
        // Clocks go forward on Sunday 28 March 2027 and back on Sunday 25 October 2026.
        let spring = windows_between(&[("10:00", "14:00")], day(2027, 3, 27), day(2027, 3, 29));
        let starts: Vec<_> = spring.iter().map(|(_, w)| (w.starts_at, w.ends_at)).collect();
        assert_eq!(
            starts,
            [
                (utc(2027, 3, 27, 9, 0), utc(2027, 3, 27, 13, 0)),
                (utc(2027, 3, 28, 8, 0), utc(2027, 3, 28, 12, 0)),
                (utc(2027, 3, 29, 8, 0), utc(2027, 3, 29, 12, 0)),
            ]
        );
        let autumn = windows_between(&[("10:00", "14:00")], day(2026, 10, 24), day(2026, 10, 26));
        let starts: Vec<_> = autumn.iter().map(|(_, w)| w.starts_at).collect();
        assert_eq!(starts, [utc(2026, 10, 24, 8, 0), utc(2026, 10, 25, 9, 0), utc(2026, 10, 26, 9, 0)]);
        let keys: Vec<_> = autumn.iter().map(|(key, w)| (key.as_str(), w.local_date)).collect();
        assert_eq!(
            keys,
            [
                ("s|2026-10-24|0", day(2026, 10, 24)),
                ("s|2026-10-25|0", day(2026, 10, 25)),
                ("s|2026-10-26|0", day(2026, 10, 26))
            ]
        );
    }

    #[test]
    fn a_window_in_the_spring_gap_starts_when_the_gap_ends_and_keeps_its_length() {
        // 02:00–03:00 does not exist on 28 March 2027: 02:15–02:45 runs 03:00–03:30 CEST.
        let inside = windows_between(&[("02:15", "02:45")], day(2027, 3, 28), day(2027, 3, 28));
        assert_eq!((inside[0].1.starts_at, inside[0].1.ends_at), (utc(2027, 3, 28, 1, 0), utc(2027, 3, 28, 1, 30)));
        // Across the gap the window is an hour shorter in real time, as the clocks say.
        let across = windows_between(&[("01:30", "03:30")], day(2027, 3, 28), day(2027, 3, 28));
        assert_eq!((across[0].1.starts_at, across[0].1.ends_at), (utc(2027, 3, 28, 0, 30), utc(2027, 3, 28, 1, 30)));
    }

    #[test]
    fn a_window_in_the_autumn_repeat_covers_both_passes_of_the_hour() {
        // 02:00–03:00 happens twice on 25 October 2026 (CEST, then CET).
        let repeated = windows_between(&[("02:15", "02:45")], day(2026, 10, 25), day(2026, 10, 25));
        assert_eq!(
            (repeated[0].1.starts_at, repeated[0].1.ends_at),
            (utc(2026, 10, 25, 0, 15), utc(2026, 10, 25, 1, 45))
        );
    }
}
