//! Deadline policies (per municipality, per priority) and when a deadline falls: wall-clock spans
//! or spans counted only within the working calendar, in the receiving agency's zone.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde_json::json;
use terren_contract::areas::AreaLevel;
use terren_contract::problem::FieldError;
use terren_contract::problem::FieldErrorCode;
use terren_contract::referrals::{
    DeadlineKind, DeadlinePolicy, DeadlinePolicyBody, Priority, PriorityDeadlines, PutDeadlinePolicy, Span, SpanUnit,
    WorkingCalendar,
};
use terren_contract::schedules::WeekdayCode;

use crate::access::AuthUser;
use crate::audit;
use crate::clock::to_utc;
use crate::db::schema::referral_deadline_policies;
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult};
use crate::rota::layers::{parse_local_time, weekday};
use crate::rota::resolve::start_instant;
use crate::territory::index::TerritoryIndex;
use crate::territory::refs::area_ref;

/// The scope key of the national default policy.
pub const DEFAULT_SCOPE: &str = "*";
/// How far ahead a working-time deadline is looked for before the calendar is called broken.
const MAX_CALENDAR_DAYS: u64 = 3 * 366;

fn span(amount: u32, unit: SpanUnit) -> Span {
    Span { amount, unit }
}

/// The shipped defaults: policy, not law (the documents give no hours, DOMAIN.md §6).
pub fn default_policy() -> DeadlinePolicyBody {
    use SpanUnit::*;
    let entry = |priority, acknowledge, first_contact, outcome| PriorityDeadlines {
        priority,
        acknowledge,
        first_contact,
        outcome,
    };
    DeadlinePolicyBody {
        priorities: vec![
            entry(Priority::Emergency, span(15, Minutes), span(2, Hours), span(24, Hours)),
            entry(Priority::High, span(1, Hours), span(24, Hours), span(7, Days)),
            entry(Priority::Medium, span(4, WorkingHours), span(3, WorkingDays), span(30, Days)),
            entry(Priority::Low, span(1, WorkingDays), span(10, WorkingDays), span(60, Days)),
        ],
        working_calendar: WorkingCalendar {
            weekdays: vec![WeekdayCode::Mon, WeekdayCode::Tue, WeekdayCode::Wed, WeekdayCode::Thu, WeekdayCode::Fri],
            starts: "08:00".into(),
            ends: "16:00".into(),
            // Albania's fixed-date public holidays; moveable feasts (both Easters, both Bajrams)
            // are added each year as dates.
            holidays: ["01-01", "01-02", "03-14", "03-22", "05-01", "09-05", "11-28", "11-29", "12-08", "12-25"]
                .into_iter()
                .map(str::to_owned)
                .collect(),
        },
        sender_alert_after_minutes: 60,
    }
}

/// A working calendar, parsed.
#[derive(Debug, Clone)]
pub struct Calendar {
    weekdays: HashSet<Weekday>,
    starts: NaiveTime,
    ends: NaiveTime,
    every_year: HashSet<(u32, u32)>,
    dates: HashSet<NaiveDate>,
}

enum Holiday {
    EveryYear(u32, u32),
    Date(NaiveDate),
}

fn parse_holiday(text: &str) -> Option<Holiday> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(Holiday::Date(date));
    }
    let (month, day) = text.split_once('-')?;
    let (month, day) = (month.parse::<u32>().ok()?, day.parse::<u32>().ok()?);
    // 2024 is a leap year, so 02-29 is accepted.
    NaiveDate::from_ymd_opt(2024, month, day).map(|_| Holiday::EveryYear(month, day))
}

fn field(name: String, code: FieldErrorCode, message: impl Into<String>) -> FieldError {
    FieldError { field: name, code, message: message.into() }
}

impl Calendar {
    pub fn parse(calendar: &WorkingCalendar) -> Result<Calendar, Vec<FieldError>> {
        let mut errors = Vec::new();
        let starts = parse_local_time(&calendar.starts);
        let ends = parse_local_time(&calendar.ends);
        if starts.is_none() {
            errors.push(field("policy.working_calendar.starts".into(), FieldErrorCode::InvalidTime, "HH:MM"));
        }
        if ends.is_none() {
            errors.push(field("policy.working_calendar.ends".into(), FieldErrorCode::InvalidTime, "HH:MM"));
        }
        if let (Some(starts), Some(ends)) = (starts, ends)
            && ends <= starts
        {
            errors.push(field(
                "policy.working_calendar.ends".into(),
                FieldErrorCode::EndsBeforeStart,
                "ends after starts",
            ));
        }
        let mut every_year = HashSet::new();
        let mut dates = HashSet::new();
        for (i, text) in calendar.holidays.iter().enumerate() {
            match parse_holiday(text) {
                Some(Holiday::EveryYear(month, day)) => {
                    every_year.insert((month, day));
                }
                Some(Holiday::Date(date)) => {
                    dates.insert(date);
                }
                None => errors.push(field(
                    format!("policy.working_calendar.holidays[{i}]"),
                    FieldErrorCode::InvalidFormat,
                    "MM-DD or YYYY-MM-DD",
                )),
            }
        }
        let weekdays: HashSet<Weekday> = calendar.weekdays.iter().map(|d| weekday(*d)).collect();
        match (starts, ends) {
            (Some(starts), Some(ends)) if errors.is_empty() => {
                Ok(Calendar { weekdays, starts, ends, every_year, dates })
            }
            _ => Err(errors),
        }
    }

    fn is_working_day(&self, date: NaiveDate) -> bool {
        self.weekdays.contains(&date.weekday())
            && !self.every_year.contains(&(date.month(), date.day()))
            && !self.dates.contains(&date)
    }

    fn day_minutes(&self) -> i64 {
        (self.ends - self.starts).num_minutes()
    }
}

/// When `span` after `from` ends, in `tz`. Working spans count only minutes inside working
/// hours on working days; a day's window is taken in local time, so it keeps its hours across
/// DST changes (a window starting in a spring gap starts when the gap ends).
pub fn due_after(from: DateTime<Utc>, span: Span, calendar: &Calendar, tz: Tz) -> ApiResult<DateTime<Utc>> {
    let amount = i64::from(span.amount);
    let local_days = |days: u64| {
        let local = from.with_timezone(&tz).naive_local();
        local.checked_add_days(Days::new(days)).map(|at| start_instant(tz, at))
    };
    let working_minutes = match span.unit {
        SpanUnit::Minutes => return Ok(from + chrono::Duration::minutes(amount)),
        SpanUnit::Hours => return Ok(from + chrono::Duration::hours(amount)),
        SpanUnit::Days => {
            return local_days(u64::from(span.amount))
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("deadline out of range")));
        }
        SpanUnit::WorkingHours => amount * 60,
        SpanUnit::WorkingDays => amount * calendar.day_minutes(),
    };
    let mut remaining = chrono::Duration::minutes(working_minutes);
    let mut date = from.with_timezone(&tz).date_naive();
    for _ in 0..MAX_CALENDAR_DAYS {
        if calendar.is_working_day(date) {
            let opens = start_instant(tz, date.and_time(calendar.starts)).max(from);
            let closes = start_instant(tz, date.and_time(calendar.ends));
            if closes > opens {
                let open = closes - opens;
                if remaining <= open {
                    return Ok(opens + remaining);
                }
                remaining -= open;
            }
        }
        date = date.succ_opt().ok_or_else(|| ApiError::internal(anyhow::anyhow!("deadline out of range")))?;
    }
    Err(ApiError::fields(vec![field(
        "policy.working_calendar".into(),
        FieldErrorCode::NoWorkingTime,
        "the working calendar has no working time within three years",
    )]))
}

/// The spans of a priority, by deadline kind.
pub fn spans(policy: &DeadlinePolicyBody, priority: Priority) -> ApiResult<[(DeadlineKind, Span); 3]> {
    let entry = policy
        .priorities
        .iter()
        .find(|p| p.priority == priority)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("deadline policy has no {priority:?} entry")))?;
    Ok([
        (DeadlineKind::Acknowledge, entry.acknowledge),
        (DeadlineKind::FirstContact, entry.first_contact),
        (DeadlineKind::Outcome, entry.outcome),
    ])
}

/// Field errors of a policy a person wants to save.
pub fn check(policy: &DeadlinePolicyBody) -> Vec<FieldError> {
    let mut errors = match Calendar::parse(&policy.working_calendar) {
        Ok(_) => Vec::new(),
        Err(errors) => errors,
    };
    for priority in Priority::ALL {
        let count = policy.priorities.iter().filter(|p| p.priority == priority).count();
        if count != 1 {
            errors.push(field(
                "policy.priorities".into(),
                FieldErrorCode::InvalidValue,
                format!("one entry per priority; {priority:?} has {count}"),
            ));
        }
    }
    errors
}

/// The policy that applies in a municipality: its own, else the national default row, else the
/// shipped default. The second value is the scope key it came from.
pub fn policy_for(conn: &mut DbConnection, municipality_id: Option<&str>) -> ApiResult<(DeadlinePolicyBody, String)> {
    let mut scopes = Vec::new();
    if let Some(id) = municipality_id {
        scopes.push(id.to_owned());
    }
    scopes.push(DEFAULT_SCOPE.to_owned());
    let stored: Vec<(String, String)> = referral_deadline_policies::table
        .filter(referral_deadline_policies::scope_key.eq_any(&scopes))
        .select((referral_deadline_policies::scope_key, referral_deadline_policies::policy))
        .load(conn)?;
    for scope in scopes {
        if let Some((_, text)) = stored.iter().find(|(key, _)| *key == scope) {
            let policy = serde_json::from_str(text)
                .map_err(|e| ApiError::internal(anyhow::anyhow!("stored deadline policy {scope}: {e}")))?;
            return Ok((policy, scope));
        }
    }
    Ok((default_policy(), DEFAULT_SCOPE.to_owned()))
}

fn scope_of(index: &TerritoryIndex, scope: &str) -> ApiResult<(String, Option<String>)> {
    if scope == "default" {
        return Ok((DEFAULT_SCOPE.to_owned(), None));
    }
    index
        .find_code(scope)
        .map(|a| index.area(a))
        .filter(|a| a.level == AreaLevel::Municipality)
        .map(|a| (a.id.clone(), Some(a.id.clone())))
        .ok_or_else(|| ApiError::not_found("municipality"))
}

fn stored(conn: &mut DbConnection, scope: &str) -> QueryResult<Option<(String, i32, NaiveDateTime)>> {
    referral_deadline_policies::table
        .filter(referral_deadline_policies::scope_key.eq(scope))
        .select((
            referral_deadline_policies::policy,
            referral_deadline_policies::version,
            referral_deadline_policies::updated_at,
        ))
        .get_result(conn)
        .optional()
}

/// The policy of a municipality (by code) or `default`, as it applies.
pub fn get(conn: &mut DbConnection, index: &TerritoryIndex, scope: &str) -> ApiResult<DeadlinePolicy> {
    let (key, municipality_id) = scope_of(index, scope)?;
    let (policy, from) = policy_for(conn, municipality_id.as_deref())?;
    let own = stored(conn, &key)?;
    Ok(DeadlinePolicy {
        municipality: area_ref(index, &municipality_id),
        inherited: from != key,
        policy,
        version: own.as_ref().map_or(0, |(_, version, _)| *version),
        updated_at: own.map(|(_, _, at)| to_utc(at)),
    })
}

/// Saves a municipality's policy (its social services' or child-protection unit's administrators)
/// or the national default (`system_admin`). Referrals already sent keep their deadlines.
pub fn put(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    scope: &str,
    request: &PutDeadlinePolicy,
    at: NaiveDateTime,
) -> ApiResult<DeadlinePolicy> {
    let (key, municipality_id) = scope_of(index, scope)?;
    crate::access::may_manage_municipal_policy(tx, user, municipality_id.as_deref())?;
    let errors = check(&request.policy);
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let current = stored(tx, &key)?;
    let version = current.as_ref().map_or(0, |(_, version, _)| *version);
    if request.version.unwrap_or(0) != version {
        let now = get(tx, index, scope)?;
        return Err(ApiError::version_mismatch(serde_json::to_value(now).map_err(anyhow::Error::from)?));
    }
    let text = serde_json::to_string(&request.policy).map_err(anyhow::Error::from)?;
    let changed = if current.is_some() {
        diesel::update(
            referral_deadline_policies::table
                .filter(referral_deadline_policies::scope_key.eq(&key))
                .filter(referral_deadline_policies::version.eq(version)),
        )
        .set((
            referral_deadline_policies::policy.eq(&text),
            referral_deadline_policies::version.eq(version + 1),
            referral_deadline_policies::updated_by.eq(&user.user_id),
            referral_deadline_policies::updated_at.eq(at),
        ))
        .execute(tx.conn())?
    } else {
        diesel::insert_into(referral_deadline_policies::table)
            .values((
                referral_deadline_policies::scope_key.eq(&key),
                referral_deadline_policies::municipality_id.eq(&municipality_id),
                referral_deadline_policies::policy.eq(&text),
                referral_deadline_policies::version.eq(1),
                referral_deadline_policies::updated_by.eq(&user.user_id),
                referral_deadline_policies::updated_at.eq(at),
            ))
            .execute(tx.conn())?
    };
    if changed == 0 {
        let now = get(tx, index, scope)?;
        return Err(ApiError::version_mismatch(serde_json::to_value(now).map_err(anyhow::Error::from)?));
    }
    let saved = get(tx, index, scope)?;
    audit::record(
        tx,
        &user.actor(),
        at,
        "referral_deadline_policy.put",
        "referral_deadline_policy",
        &key,
        json!({ "version": saved.version }),
    )?;
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn tirana() -> Tz {
        chrono_tz::Europe::Tirane
    }

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        tirana().with_ymd_and_hms(y, m, d, h, min, 0).single().unwrap().with_timezone(&Utc)
    }

    fn calendar() -> Calendar {
        Calendar::parse(&default_policy().working_calendar).unwrap()
    }

    fn due(from: DateTime<Utc>, amount: u32, unit: SpanUnit) -> DateTime<Utc> {
        due_after(from, span(amount, unit), &calendar(), tirana()).unwrap()
    }

    #[test]
    fn wall_clock_spans_ignore_the_calendar() {
        let friday_evening = local(2026, 3, 6, 22, 0);
        assert_eq!(due(friday_evening, 15, SpanUnit::Minutes), local(2026, 3, 6, 22, 15));
        assert_eq!(due(friday_evening, 2, SpanUnit::Hours), local(2026, 3, 7, 0, 0));
        assert_eq!(due(friday_evening, 7, SpanUnit::Days), local(2026, 3, 13, 22, 0));
    }

    #[test]
    fn working_hours_skip_nights_weekends_and_holidays() {
        // Monday 2 March 14:00: two hours left on Monday, two more from Tuesday 08:00.
        assert_eq!(due(local(2026, 3, 2, 14, 0), 4, SpanUnit::WorkingHours), local(2026, 3, 3, 10, 0));
        // Friday 15:00: one hour on Friday, the rest on Monday.
        assert_eq!(due(local(2026, 3, 6, 15, 0), 4, SpanUnit::WorkingHours), local(2026, 3, 9, 11, 0));
        // Saturday night: Monday's working hours.
        assert_eq!(due(local(2026, 3, 7, 23, 0), 4, SpanUnit::WorkingHours), local(2026, 3, 9, 12, 0));
        // Thursday 30 April 15:00: one hour, then Labour Day (Friday) and the weekend.
        assert_eq!(due(local(2026, 4, 30, 15, 0), 1, SpanUnit::WorkingDays), local(2026, 5, 4, 15, 0));
        // National Youth Day, Tuesday 8 December.
        assert_eq!(due(local(2026, 12, 7, 12, 0), 1, SpanUnit::WorkingDays), local(2026, 12, 9, 12, 0));
    }

    #[test]
    fn working_days_are_days_of_working_hours() {
        // Wednesday 10:00 + 3 working days = Monday 10:00.
        assert_eq!(due(local(2026, 3, 4, 10, 0), 3, SpanUnit::WorkingDays), local(2026, 3, 9, 10, 0));
        // Right at closing time: the whole next working day.
        assert_eq!(due(local(2026, 3, 4, 16, 0), 1, SpanUnit::WorkingDays), local(2026, 3, 5, 16, 0));
    }

    #[test]
    fn a_working_day_keeps_its_local_hours_across_the_spring_change() {
        // Europe/Tirane moves to summer time on Sunday 29 March 2026: Friday 27 March 15:00 plus
        // four working hours is Monday 30 March 11:00 local, which is 09:00 UTC (not 10:00).
        let due_at = due(local(2026, 3, 27, 15, 0), 4, SpanUnit::WorkingHours);
        assert_eq!(due_at, local(2026, 3, 30, 11, 0));
        assert_eq!(due_at, Utc.with_ymd_and_hms(2026, 3, 30, 9, 0, 0).unwrap());
        // A day span over the change keeps the local time of day.
        assert_eq!(due(local(2026, 3, 28, 10, 0), 1, SpanUnit::Days), local(2026, 3, 29, 10, 0));
    }

    #[test]
    fn dated_holidays_count_and_bad_calendars_are_named() {
        let mut policy = default_policy();
        policy.working_calendar.holidays.push("2026-04-13".into());
        let with_easter_monday = Calendar::parse(&policy.working_calendar).unwrap();
        let due_at =
            due_after(local(2026, 4, 10, 12, 0), span(1, SpanUnit::WorkingDays), &with_easter_monday, tirana())
                .unwrap();
        assert_eq!(due_at, local(2026, 4, 14, 12, 0));

        policy.working_calendar.holidays.push("13-40".into());
        policy.working_calendar.ends = "07:00".into();
        let codes: Vec<String> = check(&policy).into_iter().map(|e| e.code.as_str().to_owned()).collect();
        assert_eq!(codes, vec!["ends_before_start", "invalid_format"]);

        policy = default_policy();
        policy.priorities.pop();
        assert_eq!(check(&policy).len(), 1, "a priority without deadlines is refused");
    }

    proptest::proptest! {
        #[test]
        fn working_deadlines_fall_inside_working_hours_and_grow_with_the_span(
            start_minutes in 0i64..(366 * 24 * 60),
            hours in 1u32..200,
        ) {
            let from = local(2026, 1, 1, 0, 0) + chrono::Duration::minutes(start_minutes);
            let cal = calendar();
            let due_at = due_after(from, span(hours, SpanUnit::WorkingHours), &cal, tirana()).unwrap();
            let at = due_at.with_timezone(&tirana());
            proptest::prop_assert!(cal.is_working_day(at.date_naive()), "{at}");
            proptest::prop_assert!(at.time() > cal.starts && at.time() <= cal.ends, "{at}");
            proptest::prop_assert!(due_at >= from + chrono::Duration::hours(i64::from(hours)));
            let later = due_after(from, span(hours + 1, SpanUnit::WorkingHours), &cal, tirana()).unwrap();
            proptest::prop_assert!(later > due_at);
        }
    }
}
