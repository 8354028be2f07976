//! Publishing a rota outside the app: iCalendar (RFC 5545) feeds behind secret, revocable links,
//! and a CSV rota for the police, the court and ASHDMF.
//!
//! A feed's link carries a random token; only the token's SHA-256 is kept, so the link is shown
//! once. Calendar apps cannot send a bearer token, so the feed itself needs none: the link is the
//! credential, and revoking it answers 410 from then on.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};
use terren_contract::Permission;
use terren_contract::schedules::{CalendarFeed, OnDutyPerson, Shift as ShiftView};
use uuid::Uuid;

use super::service::{self, Loaded};
use super::shifts;
use crate::access::AuthUser;
use crate::audit;
use crate::auth::tokens::{hash_token, random_token};
use crate::clock::to_utc;
use crate::db::schema::{agencies, calendar_feeds, users};
use crate::db::{DbConnection, backend};
use crate::digest::hex;
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::ids::parse_uuid;

/// A feed shows the shifts that overlap this many days before now …
pub const FEED_DAYS_BACK: i64 = 30;
/// … to this many days after.
pub const FEED_DAYS_AHEAD: i64 = 90;
/// Shifts that began up to this long before the window are shown from their real start, so that
/// the first event keeps its start (and its UID) from one fetch to the next.
const FEED_LOOKBACK_DAYS: i64 = 7;
/// The summary of a stretch nobody covers.
pub const NOT_COVERED: &str = "PA MBULIM / NOT COVERED";

// ---------------------------------------------------------------------------------------------
// iCalendar rendering: pure.

/// A calendar ready to be written as RFC 5545 text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub name: String,
    /// IANA zone, for `X-WR-TIMEZONE`; event times are in UTC.
    pub time_zone: String,
    /// When the feed was produced (`DTSTAMP`).
    pub stamp: DateTime<Utc>,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub uid: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub summary: String,
    pub description: String,
    /// Shown as free time (a gap), not busy.
    pub transparent: bool,
}

/// RFC 5545 TEXT: backslash, semicolon and comma escaped, line breaks as `\n`, other control
/// characters (which TEXT may not hold) dropped.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends one content line, folded so that no line is longer than 75 octets (continuations
/// start with a space) and never inside a UTF-8 character, ended with CRLF.
pub fn push_folded(out: &mut String, line: &str) {
    const LIMIT: usize = 75;
    let mut rest = line;
    let mut limit = LIMIT;
    while rest.len() > limit {
        let mut cut = limit;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(&rest[..cut]);
        out.push_str("\r\n ");
        rest = &rest[cut..];
        // The leading space counts towards the continuation's 75 octets.
        limit = LIMIT - 1;
    }
    out.push_str(rest);
    out.push_str("\r\n");
}

fn utc_stamp(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The calendar as RFC 5545 text with CRLF line endings.
pub fn render(calendar: &Calendar) -> String {
    let mut out = String::new();
    let mut line = |text: &str| push_folded(&mut out, text);
    line("BEGIN:VCALENDAR");
    line("VERSION:2.0");
    line("PRODID:-//Terren//Rota//SQ");
    line("CALSCALE:GREGORIAN");
    line("METHOD:PUBLISH");
    line(&format!("X-WR-CALNAME:{}", escape_text(&calendar.name)));
    line(&format!("X-WR-TIMEZONE:{}", escape_text(&calendar.time_zone)));
    line("REFRESH-INTERVAL;VALUE=DURATION:PT1H");
    line("X-PUBLISHED-TTL:PT1H");
    let stamp = utc_stamp(calendar.stamp);
    for event in &calendar.events {
        line("BEGIN:VEVENT");
        line(&format!("UID:{}", escape_text(&event.uid)));
        line(&format!("DTSTAMP:{stamp}"));
        line(&format!("DTSTART:{}", utc_stamp(event.start)));
        line(&format!("DTEND:{}", utc_stamp(event.end)));
        line(&format!("SUMMARY:{}", escape_text(&event.summary)));
        if !event.description.is_empty() {
            line(&format!("DESCRIPTION:{}", escape_text(&event.description)));
        }
        line(if event.transparent { "TRANSP:TRANSPARENT" } else { "TRANSP:OPAQUE" });
        line("END:VEVENT");
    }
    line("END:VCALENDAR");
    out
}

/// A UID that stays the same for the same stretch from one fetch to the next.
pub fn event_uid(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hex(&hasher.finalize());
    format!("{}@terren", &digest[..32])
}

fn names(people: &[OnDutyPerson]) -> String {
    people.iter().map(|p| p.display_name.as_str()).collect::<Vec<_>>().join(" + ")
}

/// One line per person: name and phone number.
fn contacts(people: &[OnDutyPerson]) -> String {
    people
        .iter()
        .map(|p| match &p.phone {
            Some(phone) => format!("{}: {phone}", p.display_name),
            None => p.display_name.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------------
// Feeds in the database.

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = calendar_feeds)]
struct FeedRow {
    id: String,
    schedule_id: Option<String>,
    user_id: Option<String>,
    created_by: String,
    created_at: NaiveDateTime,
    last_used_at: Option<NaiveDateTime>,
    revoked_at: Option<NaiveDateTime>,
}

fn feed_view(row: FeedRow, url: Option<String>) -> ApiResult<CalendarFeed> {
    Ok(CalendarFeed {
        id: parse_uuid(&row.id)?,
        schedule_id: row.schedule_id.as_deref().map(parse_uuid).transpose()?,
        user_id: row.user_id.as_deref().map(parse_uuid).transpose()?,
        url,
        created_at: to_utc(row.created_at),
        last_used_at: row.last_used_at.map(to_utc),
        revoked_at: row.revoked_at.map(to_utc),
    })
}

/// A new feed token and the hash that is stored.
fn new_token() -> ApiResult<(String, String)> {
    let token = random_token()?;
    let hash = hash_token(&token);
    Ok((token, hash))
}

fn load_feed(conn: &mut DbConnection, id: &str) -> ApiResult<FeedRow> {
    calendar_feeds::table
        .filter(calendar_feeds::id.eq(id))
        .select(FeedRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("calendar feed"))
}

/// Makes a feed: of a schedule (`planning_manage` of its agency), or, without one, of the
/// caller's own shifts. The answer carries the link, which is never shown again.
pub fn create_feed(
    conn: &mut DbConnection,
    user: &AuthUser,
    schedule_id: Option<&str>,
    base_url: &str,
    at: NaiveDateTime,
) -> ApiResult<CalendarFeed> {
    match schedule_id {
        Some(schedule_id) => {
            let loaded = service::load(conn, schedule_id)?;
            service::can_manage(user, &loaded.row.agency_id)?;
        }
        None => user.require(Permission::ReferenceRead)?,
    }
    let person = schedule_id.is_none().then_some(user.user_id.as_str());
    let (token, hash) = new_token()?;
    let id = Uuid::now_v7().to_string();
    diesel::insert_into(calendar_feeds::table)
        .values((
            calendar_feeds::id.eq(&id),
            calendar_feeds::token_hash.eq(&hash),
            calendar_feeds::schedule_id.eq(schedule_id),
            calendar_feeds::user_id.eq(person),
            calendar_feeds::created_by.eq(&user.user_id),
            calendar_feeds::created_at.eq(at),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        &user.actor(),
        at,
        "calendar_feed.create",
        "calendar_feed",
        &id,
        json!({ "schedule_id": schedule_id, "user_id": person }),
    )?;
    let url = format!("{}/api/v1/calendar/{token}.ics", base_url.trim_end_matches('/'));
    feed_view(load_feed(conn, &id)?, Some(url))
}

/// The feeds of a schedule (`planning_manage` of its agency), or the caller's personal feeds.
pub fn list_feeds(conn: &mut DbConnection, user: &AuthUser, schedule_id: Option<&str>) -> ApiResult<Vec<CalendarFeed>> {
    let query = calendar_feeds::table.order(calendar_feeds::created_at.asc()).select(FeedRow::as_select());
    let rows: Vec<FeedRow> = match schedule_id {
        Some(schedule_id) => {
            let loaded = service::load(conn, schedule_id)?;
            service::can_manage(user, &loaded.row.agency_id)?;
            query.filter(calendar_feeds::schedule_id.eq(schedule_id)).load(conn)?
        }
        None => query.filter(calendar_feeds::user_id.eq(&user.user_id)).load(conn)?,
    };
    rows.into_iter().map(|row| feed_view(row, None)).collect()
}

/// Ends a feed: its link answers 410 from now on. The person it belongs to or who made it may,
/// and so may `planning_manage` of the agency whose rota it shows.
pub fn revoke_feed(conn: &mut DbConnection, user: &AuthUser, id: &str, at: NaiveDateTime) -> ApiResult<CalendarFeed> {
    let row = load_feed(conn, id)?;
    let own = row.user_id.as_deref() == Some(user.user_id.as_str()) || row.created_by == user.user_id;
    if !own {
        let agency_id: String = match (&row.schedule_id, &row.user_id) {
            (Some(schedule_id), _) => service::load(conn, schedule_id)?.row.agency_id,
            (None, Some(person)) => {
                users::table.filter(users::id.eq(person)).select(users::agency_id).get_result(conn)?
            }
            (None, None) => return Err(ApiError::internal(anyhow::anyhow!("calendar feed {id} shows nothing"))),
        };
        service::can_manage(user, &agency_id)?;
    }
    if row.revoked_at.is_some() {
        return Err(ApiError::conflict("the calendar feed is already revoked"));
    }
    diesel::update(calendar_feeds::table.filter(calendar_feeds::id.eq(id)))
        .set((calendar_feeds::revoked_at.eq(at), calendar_feeds::revoked_by.eq(&user.user_id)))
        .execute(conn)?;
    audit::record(conn, &user.actor(), at, "calendar_feed.revoke", "calendar_feed", id, json!({}))?;
    feed_view(load_feed(conn, id)?, None)
}

fn revoked(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::CalendarFeedRevoked).with_detail(detail)
}

/// The iCalendar text behind a feed token, as of `now`; notes when the feed was last used.
/// Unknown token: 404; revoked feed (or the person's account disabled, or the schedule
/// archived): 410 `calendar_feed_revoked`.
pub fn feed_body(conn: &mut DbConnection, token: &str, now: DateTime<Utc>) -> ApiResult<String> {
    let row: FeedRow = calendar_feeds::table
        .filter(calendar_feeds::token_hash.eq(hash_token(token)))
        .select(FeedRow::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("calendar feed"))?;
    if row.revoked_at.is_some() {
        return Err(revoked("this calendar link was revoked; ask for a new one"));
    }
    let window = (now - Duration::days(FEED_DAYS_BACK), now + Duration::days(FEED_DAYS_AHEAD));
    let calendar = match (&row.schedule_id, &row.user_id) {
        (Some(schedule_id), _) => schedule_calendar(conn, schedule_id, window, now)?,
        (None, Some(person)) => personal_calendar(conn, person, window, now)?,
        (None, None) => return Err(ApiError::internal(anyhow::anyhow!("calendar feed {} shows nothing", row.id))),
    };
    backend::write_transaction(conn, |conn| {
        diesel::update(calendar_feeds::table.filter(calendar_feeds::id.eq(&row.id)))
            .set(calendar_feeds::last_used_at.eq(crate::clock::truncate(now)))
            .execute(conn)
    })?;
    Ok(render(&calendar))
}

/// The schedule's stretches overlapping `[from, to)`, none before the schedule applies.
fn shifts_in(
    conn: &mut DbConnection,
    loaded: &Loaded,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    lookback: Duration,
) -> ApiResult<Vec<ShiftView>> {
    let Some(first) = loaded.first_effective() else { return Ok(Vec::new()) };
    let start = (from - lookback).max(first);
    if start >= to {
        return Ok(Vec::new());
    }
    let resolved = loaded.resolve(conn, start, to)?;
    let mut views = shifts::shift_views(conn, &resolved)?;
    views.retain(|shift| shift.end > from);
    Ok(views)
}

fn people_key(people: &[OnDutyPerson]) -> String {
    people.iter().map(|p| p.id.to_string()).collect::<Vec<_>>().join("+")
}

fn schedule_calendar(
    conn: &mut DbConnection,
    schedule_id: &str,
    window: (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> ApiResult<Calendar> {
    let loaded = service::load(conn, schedule_id)?;
    if loaded.row.archived_at.is_some() {
        return Err(revoked("the schedule was archived"));
    }
    let shifts = shifts_in(conn, &loaded, window, Duration::days(FEED_LOOKBACK_DAYS))?;
    let events = shifts
        .iter()
        .map(|shift| {
            let start = shift.start.to_rfc3339();
            if shift.people.is_empty() {
                Event {
                    uid: event_uid(&[schedule_id, &start, "gap"]),
                    start: shift.start,
                    end: shift.end,
                    summary: NOT_COVERED.to_owned(),
                    description: "Askush nuk është në gadishmëri / Nobody is on duty".to_owned(),
                    transparent: true,
                }
            } else {
                Event {
                    uid: event_uid(&[schedule_id, &start, &people_key(&shift.people)]),
                    start: shift.start,
                    end: shift.end,
                    summary: names(&shift.people),
                    description: contacts(&shift.people),
                    transparent: false,
                }
            }
        })
        .collect();
    Ok(Calendar { name: loaded.row.name.clone(), time_zone: loaded.row.time_zone.clone(), stamp: now, events })
}

/// The person's own stretches on every live schedule of their agency, unbroken stretches of one
/// schedule as one event (with everyone who shared them).
fn personal_calendar(
    conn: &mut DbConnection,
    person: &str,
    window: (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> ApiResult<Calendar> {
    let (display_name, agency_id, disabled): (String, String, Option<NaiveDateTime>) = users::table
        .filter(users::id.eq(person))
        .select((users::display_name, users::agency_id, users::disabled_at))
        .get_result(conn)?;
    if disabled.is_some() {
        return Err(revoked("the account this calendar belongs to is disabled"));
    }
    let time_zone: String =
        agencies::table.filter(agencies::id.eq(&agency_id)).select(agencies::time_zone).get_result(conn)?;
    let me = parse_uuid(person)?;
    let mut events = Vec::new();
    for (_, schedule_id, _) in service::live_schedules(conn, std::slice::from_ref(&agency_id))? {
        let loaded = service::load(conn, &schedule_id)?;
        let mut mine: Vec<ShiftView> = Vec::new();
        for shift in shifts_in(conn, &loaded, window, Duration::days(FEED_LOOKBACK_DAYS))? {
            if !shift.people.iter().any(|p| p.id == me) {
                continue;
            }
            match mine.last_mut() {
                Some(last) if last.end == shift.start => {
                    last.end = shift.end;
                    for p in shift.people {
                        if !last.people.contains(&p) {
                            last.people.push(p);
                        }
                    }
                }
                _ => mine.push(shift),
            }
        }
        events.extend(mine.into_iter().map(|shift| Event {
            uid: event_uid(&[&schedule_id, &shift.start.to_rfc3339(), person]),
            start: shift.start,
            end: shift.end,
            summary: format!("Gadishmëri: {}", loaded.row.name),
            description: contacts(&shift.people),
            transparent: false,
        }));
    }
    events.sort_by(|a, b| (a.start, &a.uid).cmp(&(b.start, &b.uid)));
    Ok(Calendar { name: format!("Gadishmëria ime / My duty — {display_name}"), time_zone, stamp: now, events })
}

// ---------------------------------------------------------------------------------------------
// The CSV rota.

/// The header row: Albanian and English.
pub const CSV_HEADER: [&str; 4] = ["Fillimi / Start", "Mbarimi / End", "Në gadishmëri / On duty", "Telefoni / Phone"];

pub struct RotaCsv {
    pub filename: String,
    pub body: String,
}

/// `rota-<slug of the name>.csv`, ASCII only.
pub fn csv_filename(schedule_name: &str) -> String {
    let mut slug = String::new();
    for c in deunicode::deunicode(schedule_name).to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() { "rota.csv".to_owned() } else { format!("rota-{slug}.csv") }
}

/// A cell a spreadsheet would take for a formula gets a leading apostrophe.
fn inert(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell }
}

/// The rota as CSV (RFC 4180, CRLF), local times in `tz` with their UTC offset, so that the hour
/// the clocks repeat in autumn reads as two different times (`02:00 +02:00`, then `02:00 +01:00`).
/// Starts with a UTF-8 byte-order mark so that spreadsheets read the Albanian letters right.
pub fn render_csv(tz: Tz, shifts: &[ShiftView]) -> ApiResult<String> {
    let local = |at: DateTime<Utc>| at.with_timezone(&tz).format("%Y-%m-%d %H:%M %:z").to_string();
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let failed = |e: csv::Error| ApiError::internal(anyhow::anyhow!("writing the CSV failed: {e}"));
    writer.write_record(CSV_HEADER).map_err(failed)?;
    for shift in shifts {
        let (who, phones) = if shift.people.is_empty() {
            (NOT_COVERED.to_owned(), String::new())
        } else {
            let phones: Vec<&str> = shift.people.iter().filter_map(|p| p.phone.as_deref()).collect();
            (inert(names(&shift.people)), phones.join(" + "))
        };
        writer.write_record([local(shift.start), local(shift.end), who, phones]).map_err(failed)?;
    }
    let bytes = writer.into_inner().map_err(|e| ApiError::internal(anyhow::anyhow!("writing the CSV failed: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| ApiError::internal(anyhow::Error::from(e)))?;
    Ok(format!("\u{feff}{text}"))
}

/// The final schedule between `from` and `to` (the same limits as `shifts`) as a CSV file.
pub fn rota_csv(
    conn: &mut DbConnection,
    user: &AuthUser,
    schedule_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ApiResult<RotaCsv> {
    user.require(Permission::ReferenceRead)?;
    shifts::check_span(from, to)?;
    let loaded = service::load(conn, schedule_id)?;
    let shifts = shifts_in(conn, &loaded, (from, to), Duration::zero())?;
    Ok(RotaCsv { filename: csv_filename(&loaded.row.name), body: render_csv(loaded.tz, &shifts)? })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn text_escapes_the_four_specials_and_drops_controls() {
        assert_eq!(escape_text(r"a\b;c,d"), r"a\\b\;c\,d");
        assert_eq!(escape_text("one\ntwo\r\nthree\rfour"), r"one\ntwo\nthree\nfour");
        assert_eq!(escape_text("tab\there\u{7}bell"), "tab\therebell");
        assert_eq!(escape_text("Gadishmëri: Tiranë"), "Gadishmëri: Tiranë", "colons and letters stay");
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let mut out = String::new();
        push_folded(&mut out, "SUMMARY:short");
        assert_eq!(out, "SUMMARY:short\r\n");

        for filler in ["x", "ë", "ç", "€", "😀"] {
            for lead in 0..4 {
                let line = format!("DESCRIPTION:{}{}", "a".repeat(lead), filler.repeat(120));
                let mut out = String::new();
                push_folded(&mut out, &line);
                assert!(out.ends_with("\r\n"));
                let physical: Vec<&str> = out.trim_end_matches("\r\n").split("\r\n").collect();
                assert!(physical.len() > 1, "{line}");
                for (index, part) in physical.iter().enumerate() {
                    assert!(part.len() <= 75, "{} octets: {part}", part.len());
                    if index > 0 {
                        assert!(part.starts_with(' '), "continuations start with a space");
                    }
                }
                // Unfolding gives the line back; every piece was valid UTF-8 on its own.
                let unfolded: String =
                    physical.iter().enumerate().map(|(i, p)| if i == 0 { *p } else { &p[1..] }).collect();
                assert_eq!(unfolded, line);
            }
        }
        // Exactly 75 octets stays on one line.
        let mut out = String::new();
        push_folded(&mut out, &"a".repeat(75));
        assert_eq!(out, format!("{}\r\n", "a".repeat(75)));
    }

    #[test]
    fn a_calendar_has_the_required_properties_and_utc_times() {
        let calendar = Calendar {
            name: "Gadishmëria; QKT, Tiranë".into(),
            time_zone: "Europe/Tirane".into(),
            stamp: utc("2026-03-02T09:00:00Z"),
            events: vec![Event {
                uid: event_uid(&["s", "2026-03-02T07:00:00+00:00", "a"]),
                start: utc("2026-03-02T07:00:00Z"),
                end: utc("2026-03-03T07:00:00Z"),
                summary: "Ana + Çlirim".into(),
                description: "Ana: +355690000001\nÇlirim: +355690000002".into(),
                transparent: false,
            }],
        };
        let text = render(&calendar);
        assert!(text.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:"));
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'), "CRLF only");
        for expected in [
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            r"X-WR-CALNAME:Gadishmëria\; QKT\, Tiranë",
            "X-WR-TIMEZONE:Europe/Tirane",
            "DTSTAMP:20260302T090000Z",
            "DTSTART:20260302T070000Z",
            "DTEND:20260303T070000Z",
            "SUMMARY:Ana + Çlirim",
            r"DESCRIPTION:Ana: +355690000001\nÇlirim: +355690000002",
        ] {
            assert!(text.contains(&format!("\r\n{expected}\r\n")), "{expected} missing from {text}");
        }
        assert_eq!(event_uid(&["s", "t", "a"]), event_uid(&["s", "t", "a"]));
        assert_ne!(event_uid(&["s", "ta"]), event_uid(&["st", "a"]), "parts are length-prefixed");
    }

    fn person(name: &str, phone: Option<&str>) -> OnDutyPerson {
        OnDutyPerson { id: Uuid::now_v7(), display_name: name.into(), phone: phone.map(str::to_owned) }
    }

    #[test]
    fn csv_quotes_what_needs_quoting_and_shows_local_times() {
        let tz: Tz = chrono_tz::Europe::Tirane;
        let shifts = vec![
            ShiftView {
                start: Utc.with_ymd_and_hms(2026, 3, 28, 7, 0, 0).unwrap(),
                end: Utc.with_ymd_and_hms(2026, 3, 29, 6, 0, 0).unwrap(),
                people: vec![
                    person("Ana \"Xhoi\", Tiranë", Some("+355690000001")),
                    person("Ben", Some("+355690000002")),
                ],
                sources: Vec::new(),
            },
            ShiftView {
                start: Utc.with_ymd_and_hms(2026, 3, 29, 6, 0, 0).unwrap(),
                end: Utc.with_ymd_and_hms(2026, 3, 29, 18, 0, 0).unwrap(),
                people: Vec::new(),
                sources: Vec::new(),
            },
            ShiftView {
                start: Utc.with_ymd_and_hms(2026, 3, 29, 18, 0, 0).unwrap(),
                end: Utc.with_ymd_and_hms(2026, 3, 30, 6, 0, 0).unwrap(),
                people: vec![person("=HYPERLINK(\"x\")", None)],
                sources: Vec::new(),
            },
        ];
        let text = render_csv(tz, &shifts).unwrap();
        assert_eq!(
            text,
            "\u{feff}Fillimi / Start,Mbarimi / End,Në gadishmëri / On duty,Telefoni / Phone\r\n\
             2026-03-28 08:00 +01:00,2026-03-29 08:00 +02:00,\"Ana \"\"Xhoi\"\", Tiranë + Ben\",+355690000001 + +355690000002\r\n\
             2026-03-29 08:00 +02:00,2026-03-29 20:00 +02:00,PA MBULIM / NOT COVERED,\r\n\
             2026-03-29 20:00 +02:00,2026-03-30 08:00 +02:00,\"'=HYPERLINK(\"\"x\"\")\",\r\n"
        );
    }

    #[test]
    fn csv_tells_the_repeated_autumn_hour_apart() {
        let tz: Tz = chrono_tz::Europe::Tirane;
        let shift = |h: u32, name: &str| ShiftView {
            start: Utc.with_ymd_and_hms(2027, 10, 31, h, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2027, 10, 31, h + 1, 0, 0).unwrap(),
            people: vec![person(name, None)],
            sources: Vec::new(),
        };
        let text = render_csv(tz, &[shift(0, "A"), shift(1, "B")]).unwrap();
        let rows: Vec<&str> = text.split("\r\n").skip(1).collect();
        assert_eq!(rows[0], "2027-10-31 02:00 +02:00,2027-10-31 02:00 +01:00,A,");
        assert_eq!(rows[1], "2027-10-31 02:00 +01:00,2027-10-31 03:00 +01:00,B,");
    }

    #[test]
    fn csv_file_names_are_ascii_slugs() {
        assert_eq!(csv_filename("Gadishmëria QKT"), "rota-gadishmeria-qkt.csv");
        assert_eq!(csv_filename("  Natë / Çdo ditë!  "), "rota-nate-cdo-dite.csv");
        assert_eq!(csv_filename("—"), "rota.csv");
    }
}
