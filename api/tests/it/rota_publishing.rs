//! Rotas beyond the app: swaps between members, calendar feeds, the CSV rota for partners.

use actix_web::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use icalendar::{CalendarDateTime, Component, DatePerhapsTime};
use serde_json::{Value, json};
use terren_api::db::schema::{audit_log, calendar_feeds, schedule_overrides};

use crate::fixtures::{daily_layer, error_codes, qkt_rota, user_id};
use crate::harness::{Response, TestApp};

const FIELD: &str = "Punonjëse terreni QKT (demo)";
const DUTY: &str = "Punonjës në gadishmëri QKT (demo)";
const COORD: &str = "Koordinatore QKT (demo)";

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

async fn on_duty(app: &TestApp, token: &str, schedule: &str, at: &str) -> Vec<String> {
    let res = app.get(&format!("/api/v1/schedules/{schedule}/on-call?at={at}"), Some(token)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.body["on_duty"].as_array().unwrap().iter().map(|p| p["display_name"].as_str().unwrap().to_owned()).collect()
}

async fn offer(app: &TestApp, token: &str, schedule: &str, body: Value) -> Response {
    app.post(&format!("/api/v1/schedules/{schedule}/swaps"), Some(token), &body).await
}

async fn act(app: &TestApp, token: &str, schedule: &str, swap: &str, action: &str, version: i64) -> Response {
    app.post(
        &format!("/api/v1/schedules/{schedule}/swaps/{swap}/{action}"),
        Some(token),
        &json!({ "version": version }),
    )
    .await
}

async fn audit_actions(app: &TestApp, prefix: &'static str) -> Vec<String> {
    app.db(move |conn| {
        audit_log::table
            .filter(audit_log::action.like(format!("{prefix}%")))
            .order(audit_log::seq.asc())
            .select(audit_log::action)
            .load(conn)
            .unwrap()
    })
    .await
}

#[actix_web::test]
async fn a_swap_is_offered_taken_by_one_of_two_at_once_and_approved_into_an_override() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let schedule = qkt_rota(&app, &coordinator).await;
    let id = schedule["id"].as_str().unwrap().to_owned();
    let (field, duty, kamez) =
        (app.login("tirana.field").await, app.login("tirana.duty").await, app.login("kamez.field").await);

    // 3 March (08:00–08:00 local, 07:00Z) is the duty officer's turn, not the field worker's.
    let res =
        offer(&app, &field, &id, json!({ "starts_at": "2026-03-03T07:00:00Z", "ends_at": "2026-03-04T07:00:00Z" }))
            .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
    assert_eq!(error_codes(&res.body), ["not_on_duty"]);
    let res =
        offer(&app, &field, &id, json!({ "starts_at": "2026-03-04T09:00:00Z", "ends_at": "2026-03-05T09:00:00Z" }))
            .await;
    assert_eq!(error_codes(&res.body), ["not_on_duty"], "the span runs into the next turn");

    let res = offer(
        &app,
        &field,
        &id,
        json!({ "starts_at": "2026-03-04T07:00:00Z", "ends_at": "2026-03-05T07:00:00Z", "note": "dasmë në Shkodër" }),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["state"], "offered");
    assert_eq!(res.body["needs_approval"], true, "approval by default");
    assert_eq!(res.body["version"], 1);
    assert_eq!(res.body["offered_by"]["display_name"], FIELD);
    let swap = res.body["id"].as_str().unwrap().to_owned();

    let again =
        offer(&app, &field, &id, json!({ "starts_at": "2026-03-04T12:00:00Z", "ends_at": "2026-03-04T14:00:00Z" }))
            .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "an open offer already covers it: {}", again.body);

    let own = act(&app, &field, &id, &swap, "take", 1).await;
    assert_eq!(own.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_codes(&own.body), ["own_swap"]);
    let stranger = act(&app, &kamez, &id, &swap, "take", 1).await;
    assert_eq!(stranger.status, StatusCode::FORBIDDEN, "another agency's worker: {}", stranger.body);

    // The duty officer and the coordinator take it at the same version at the same time.
    let (first, second) = futures_util::future::join(
        act(&app, &duty, &id, &swap, "take", 1),
        act(&app, &coordinator, &id, &swap, "take", 1),
    )
    .await;
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(statuses[0], StatusCode::OK, "{} / {}", first.body, second.body);
    assert!(
        [StatusCode::CONFLICT, StatusCode::PRECONDITION_FAILED].contains(&statuses[1]),
        "the loser is told: {} / {}",
        first.body,
        second.body
    );
    let won = if first.status == StatusCode::OK { &first } else { &second };
    assert_eq!(won.body["state"], "taken");
    assert_eq!(won.body["version"], 2);
    let taker = won.body["taken_by"]["display_name"].as_str().unwrap().to_owned();
    assert!(taker == DUTY || taker == COORD, "{taker}");

    let res = act(&app, &field, &id, &swap, "approve", 2).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "field workers do not approve");
    let stale = act(&app, &coordinator, &id, &swap, "approve", 1).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.body["version"], 2, "the current swap comes back: {}", stale.body);
    assert_eq!(stale.body["state"], "taken");

    let approved = act(&app, &coordinator, &id, &swap, "approve", 2).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    assert_eq!(approved.body["state"], "approved");
    assert_eq!(approved.body["decided_by"]["display_name"], COORD);
    assert_eq!(approved.body["version"], 3);

    assert_eq!(on_duty(&app, &field, &id, "2026-03-04T12:00:00Z").await, [taker]);
    assert_eq!(on_duty(&app, &field, &id, "2026-03-04T06:00:00Z").await, [DUTY], "the day before is unchanged");
    assert_eq!(on_duty(&app, &field, &id, "2026-03-05T08:00:00Z").await, [DUTY], "the day after is unchanged");
    let overrides = app.get(&format!("/api/v1/schedules/{id}/overrides"), Some(&coordinator)).await.body;
    assert_eq!(overrides.as_array().unwrap().len(), 1, "{overrides}");
    assert_eq!(overrides[0]["swap_request_id"], swap.as_str());
    assert_eq!(overrides[0]["starts_at"], "2026-03-04T07:00:00Z");
    assert_eq!(overrides[0]["ends_at"], "2026-03-05T07:00:00Z");

    let late = act(&app, &field, &id, &swap, "cancel", 3).await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(late.body["code"], "conflict");
    assert!(late.body["detail"].as_str().unwrap().contains("approved"), "{}", late.body);

    let listed = app.get(&format!("/api/v1/schedules/{id}/swaps?state=approved"), Some(&duty)).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    let offered = app.get(&format!("/api/v1/schedules/{id}/swaps?state=offered"), Some(&duty)).await;
    assert_eq!(offered.body, json!([]));
    assert_eq!(
        app.get(&format!("/api/v1/schedules/{id}/swaps"), Some(&kamez)).await.status,
        StatusCode::FORBIDDEN,
        "another agency's swaps are not listed"
    );

    assert_eq!(
        audit_actions(&app, "schedule.swap.").await,
        ["schedule.swap.offer", "schedule.swap.take", "schedule.swap.approve"]
    );
    let override_audit: i64 = app
        .db(|conn| {
            audit_log::table
                .filter(audit_log::action.eq("schedule.override.create"))
                .filter(audit_log::details.like("%swap_request_id%"))
                .count()
                .get_result(conn)
                .unwrap()
        })
        .await;
    assert_eq!(override_audit, 1);
}

#[actix_web::test]
async fn without_approval_taking_hands_over_and_a_taken_shift_can_be_passed_on_in_part() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let schedule = qkt_rota(&app, &coordinator).await;
    let id = schedule["id"].as_str().unwrap().to_owned();
    let (field, duty) = (app.login("tirana.field").await, app.login("tirana.duty").await);

    let res = offer(
        &app,
        &field,
        &id,
        json!({ "starts_at": "2026-03-04T07:00:00Z", "ends_at": "2026-03-05T07:00:00Z", "needs_approval": false }),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let swap = res.body["id"].as_str().unwrap().to_owned();
    let taken = act(&app, &duty, &id, &swap, "take", 1).await;
    assert_eq!(taken.status, StatusCode::OK, "{}", taken.body);
    assert_eq!(taken.body["state"], "approved", "no approval needed");
    assert_eq!(taken.body["taken_by"]["display_name"], DUTY);
    assert!(taken.body.get("decided_by").is_none());
    assert_eq!(on_duty(&app, &field, &id, "2026-03-04T12:00:00Z").await, [DUTY]);

    // The duty officer now passes six hours of that day on to the coordinator.
    let res = offer(
        &app,
        &duty,
        &id,
        json!({ "starts_at": "2026-03-04T12:00:00Z", "ends_at": "2026-03-04T18:00:00Z", "needs_approval": false }),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "duty from an override can be offered too: {}", res.body);
    let second = res.body["id"].as_str().unwrap().to_owned();
    let res = act(&app, &coordinator, &id, &second, "take", 1).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);

    let shifts = app
        .get(&format!("/api/v1/schedules/{id}/shifts?from=2026-03-04T07:00:00Z&to=2026-03-05T07:00:00Z"), Some(&field))
        .await;
    let stretches: Vec<(String, String, Vec<String>)> = shifts
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let people = s["people"].as_array().unwrap().iter();
            (
                s["start"].as_str().unwrap().to_owned(),
                s["end"].as_str().unwrap().to_owned(),
                people.map(|p| p["display_name"].as_str().unwrap().to_owned()).collect(),
            )
        })
        .collect();
    let row = |start: &str, end: &str, who: &str| (start.to_owned(), end.to_owned(), vec![who.to_owned()]);
    assert_eq!(
        stretches,
        [
            row("2026-03-04T07:00:00Z", "2026-03-04T12:00:00Z", DUTY),
            row("2026-03-04T12:00:00Z", "2026-03-04T18:00:00Z", COORD),
            row("2026-03-04T18:00:00Z", "2026-03-05T07:00:00Z", DUTY),
        ],
        "the first override was cut around the span, nobody is on duty twice"
    );
    let overrides: Vec<(String, Option<String>)> = app
        .db(|conn| {
            schedule_overrides::table
                .filter(schedule_overrides::cancelled_at.is_null())
                .order(schedule_overrides::starts_at.asc())
                .select((schedule_overrides::starts_at, schedule_overrides::swap_request_id))
                .load::<(chrono::NaiveDateTime, Option<String>)>(conn)
                .unwrap()
                .into_iter()
                .map(|(start, swap)| (start.and_utc().to_rfc3339(), swap))
                .collect()
        })
        .await;
    assert_eq!(
        overrides,
        [
            ("2026-03-04T07:00:00+00:00".to_owned(), Some(swap.clone())),
            ("2026-03-04T12:00:00+00:00".to_owned(), Some(second.clone())),
            ("2026-03-04T18:00:00+00:00".to_owned(), Some(swap.clone())),
        ]
    );
}

#[actix_web::test]
async fn invalid_transitions_name_the_current_state_and_only_the_offerer_cancels() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let schedule = qkt_rota(&app, &coordinator).await;
    let id = schedule["id"].as_str().unwrap().to_owned();
    let (field, duty) = (app.login("tirana.field").await, app.login("tirana.duty").await);

    let res =
        offer(&app, &field, &id, json!({ "starts_at": "2026-03-01T07:00:00Z", "ends_at": "2026-03-01T08:00:00Z" }))
            .await;
    assert_eq!(error_codes(&res.body), ["in_past"]);
    let res =
        offer(&app, &field, &id, json!({ "starts_at": "2026-03-04T12:00:00Z", "ends_at": "2026-03-04T10:00:00Z" }))
            .await;
    assert_eq!(error_codes(&res.body), ["ends_before_start"]);

    let res =
        offer(&app, &field, &id, json!({ "starts_at": "2026-03-04T08:00:00Z", "ends_at": "2026-03-04T16:00:00Z" }))
            .await;
    let swap = res.body["id"].as_str().unwrap().to_owned();

    let res = act(&app, &coordinator, &id, &swap, "decline", 1).await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    assert!(res.body["detail"].as_str().unwrap().contains("offered"), "{}", res.body);
    let res = act(&app, &coordinator, &id, &swap, "approve", 1).await;
    assert_eq!(res.status, StatusCode::CONFLICT, "nothing to approve before someone takes it");

    assert_eq!(act(&app, &duty, &id, &swap, "cancel", 1).await.status, StatusCode::FORBIDDEN);
    let taken = act(&app, &duty, &id, &swap, "take", 1).await;
    assert_eq!(taken.status, StatusCode::OK, "{}", taken.body);
    let declined = act(&app, &coordinator, &id, &swap, "decline", 2).await;
    assert_eq!(declined.status, StatusCode::OK, "{}", declined.body);
    assert_eq!(declined.body["state"], "declined");
    assert_eq!(on_duty(&app, &field, &id, "2026-03-04T12:00:00Z").await, [FIELD], "a declined swap changes nothing");
    let res = act(&app, &field, &id, &swap, "cancel", 3).await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    assert!(res.body["detail"].as_str().unwrap().contains("declined"), "{}", res.body);

    let res =
        offer(&app, &field, &id, json!({ "starts_at": "2026-03-04T08:00:00Z", "ends_at": "2026-03-04T16:00:00Z" }))
            .await;
    assert_eq!(res.status, StatusCode::CREATED, "a declined offer no longer blocks the span: {}", res.body);
    let swap = res.body["id"].as_str().unwrap().to_owned();
    let cancelled = act(&app, &field, &id, &swap, "cancel", 1).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["state"], "cancelled");
    let res = act(&app, &duty, &id, &swap, "take", 2).await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    assert!(res.body["detail"].as_str().unwrap().contains("cancelled"), "{}", res.body);
    let count: i64 = app.db(|conn| schedule_overrides::table.count().get_result(conn).unwrap()).await;
    assert_eq!(count, 0);
}

/// The path of a feed's URL, to fetch it in process.
fn feed_path(url: &str) -> String {
    let at = url.find("/api/v1/calendar/").unwrap_or_else(|| panic!("{url}"));
    url[at..].to_owned()
}

fn ics_text(res: &Response) -> String {
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.headers.get("content-type").unwrap(), "text/calendar; charset=utf-8");
    let text = res.body.as_str().unwrap_or_else(|| panic!("{}", res.body)).to_owned();
    assert!(text.ends_with("\r\n"));
    for line in text.trim_end_matches("\r\n").split("\r\n") {
        assert!(!line.contains('\n'), "CRLF line endings only: {line:?}");
        assert!(line.len() <= 75, "{} octets: {line}", line.len());
    }
    text
}

struct Parsed {
    uid: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    summary: String,
    description: String,
}

fn instant(value: Option<DatePerhapsTime>) -> DateTime<Utc> {
    match value {
        Some(DatePerhapsTime::DateTime(CalendarDateTime::Utc(at))) => at,
        other => panic!("expected a UTC time, got {other:?}"),
    }
}

fn parse(text: &str) -> (icalendar::Calendar, Vec<Parsed>) {
    let calendar: icalendar::Calendar = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
    let events = calendar
        .components
        .iter()
        .filter_map(|c| c.as_event())
        .map(|e| Parsed {
            uid: e.get_uid().unwrap().to_owned(),
            start: instant(e.get_start()),
            end: instant(e.get_end()),
            summary: e.get_summary().unwrap().to_owned(),
            description: e.get_description().unwrap_or_default().to_owned(),
        })
        .collect();
    (calendar, events)
}

#[actix_web::test]
async fn a_schedule_feed_parses_as_icalendar_with_names_phones_and_gaps_until_it_is_revoked() {
    let app = TestApp::spawn_with(|c| c.http.public_url = Some("https://terren.example.al/".into())).await;
    let coordinator = app.login("tirana.coord").await;
    let (field_id, duty_id, coord_id) =
        (user_id(&app, "tirana.field").await, user_id(&app, "tirana.duty").await, user_id(&app, "tirana.coord").await);
    let mut days = daily_layer(&[], "08:00", "2026-03-02");
    days["participants"] = json!([[field_id, duty_id], [coord_id]]);
    days["restrictions"] =
        json!([{ "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "08:00", "to": "20:00" }]);
    let name = "Gadishmëria e ditës; QKT, Tiranë";
    let res = app.post("/api/v1/schedules", Some(&coordinator), &json!({ "name": name, "layers": [days] })).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let id = res.body["id"].as_str().unwrap().to_owned();

    let field = app.login("tirana.field").await;
    let res = app.post(&format!("/api/v1/schedules/{id}/calendar-feeds"), Some(&field), &json!({})).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "field workers do not publish the rota");
    let res = app.post(&format!("/api/v1/schedules/{id}/calendar-feeds"), Some(&coordinator), &json!({})).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let feed_id = res.body["id"].as_str().unwrap().to_owned();
    let url = res.body["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("https://terren.example.al/api/v1/calendar/") && url.ends_with(".ics"), "{url}");
    let token = url.trim_start_matches("https://terren.example.al/api/v1/calendar/").trim_end_matches(".ics");
    assert_eq!(token.len(), 43, "32 random bytes, base64url");
    let stored: String =
        app.db(|conn| calendar_feeds::table.select(calendar_feeds::token_hash).first(conn).unwrap()).await;
    assert!(!stored.contains(token) && stored.len() == 64, "only the SHA-256 is kept");

    let listed = app.get(&format!("/api/v1/schedules/{id}/calendar-feeds"), Some(&coordinator)).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert!(listed.body[0].get("url").is_none(), "the link is shown once: {}", listed.body);
    assert!(listed.body[0].get("last_used_at").is_none());

    // No bearer token: calendar apps cannot send one.
    let text = ics_text(&app.get(&feed_path(&url), None).await);
    let (calendar, events) = parse(&text);
    assert_eq!(calendar.property_value("VERSION"), Some("2.0"));
    assert_eq!(calendar.property_value("METHOD"), Some("PUBLISH"));
    assert_eq!(calendar.property_value("CALSCALE"), Some("GREGORIAN"));
    assert_eq!(calendar.property_value("X-WR-TIMEZONE"), Some("Europe/Tirane"));
    assert!(calendar.property_value("PRODID").is_some());
    assert!(text.contains("X-WR-CALNAME:Gadishmëria e ditës\\; QKT\\, Tiranë\r\n"), "{text}");
    assert_eq!(calendar.property_value("X-WR-CALNAME"), Some(name));

    // The rota applies from when it was made (2 March 09:00Z, 10:00 local): days 08:00–20:00, a
    // pair one day and the coordinator the next.
    let first = &events[0];
    assert_eq!((first.start, first.end), (utc("2026-03-02T09:00:00Z"), utc("2026-03-02T19:00:00Z")));
    let mut pair: Vec<&str> = first.summary.split(" + ").collect();
    pair.sort_unstable();
    assert_eq!(pair, [DUTY, FIELD]);
    let mut lines: Vec<&str> = first.description.split('\n').collect();
    lines.sort_unstable();
    assert_eq!(lines, [format!("{DUTY}: +355690000002"), format!("{FIELD}: +355690000001")], "one line each");
    let gap = &events[1];
    assert_eq!((gap.start, gap.end), (utc("2026-03-02T19:00:00Z"), utc("2026-03-03T07:00:00Z")));
    assert_eq!(gap.summary, "PA MBULIM / NOT COVERED");
    assert_eq!(events[2].summary, COORD);
    assert_eq!(events[2].description, format!("{COORD}: +355690000003"));
    // After the spring change (29 March) 08:00 local is 06:00Z.
    assert!(events.iter().any(|e| e.start == utc("2026-03-30T06:00:00Z") && e.end == utc("2026-03-30T18:00:00Z")));
    let now = utc("2026-03-02T09:00:00Z");
    assert!(events.last().unwrap().end <= now + Duration::days(90));
    assert!(events.last().unwrap().end > now + Duration::days(89), "90 days ahead");
    let mut uids: Vec<&str> = events.iter().map(|e| e.uid.as_str()).collect();
    uids.sort_unstable();
    uids.dedup();
    assert_eq!(uids.len(), events.len(), "one UID per event");

    // Fetched again later: the same events keep their UIDs.
    app.clock.advance(Duration::hours(1));
    let (_, later) = parse(&ics_text(&app.get(&feed_path(&url), None).await));
    assert_eq!(
        later.iter().take(20).map(|e| (&e.uid, e.start)).collect::<Vec<_>>(),
        events.iter().take(20).map(|e| (&e.uid, e.start)).collect::<Vec<_>>()
    );
    let coordinator = app.login("tirana.coord").await;
    let listed = app.get(&format!("/api/v1/schedules/{id}/calendar-feeds"), Some(&coordinator)).await;
    assert_eq!(listed.body[0]["last_used_at"], "2026-03-02T10:00:00Z", "{}", listed.body);

    // Forty days on, the feed starts 30 days back.
    app.clock.advance(Duration::days(40));
    let now = utc("2026-04-11T10:00:00Z");
    let (_, moved) = parse(&ics_text(&app.get(&feed_path(&url), None).await));
    assert!(
        moved[0].end > now - Duration::days(30) && moved[0].start <= now - Duration::days(30),
        "{}",
        moved[0].start
    );
    assert!(moved.last().unwrap().end > now + Duration::days(89));

    let coordinator = app.login("tirana.coord").await;
    let field = app.login("tirana.field").await;
    let res = app.post(&format!("/api/v1/calendar-feeds/{feed_id}/revoke"), Some(&field), &json!({})).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let res = app.post(&format!("/api/v1/calendar-feeds/{feed_id}/revoke"), Some(&coordinator), &json!({})).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body["revoked_at"].is_string());
    let gone = app.get(&feed_path(&url), None).await;
    assert_eq!(gone.status, StatusCode::GONE);
    assert_eq!(gone.headers.get("content-type").unwrap(), "application/problem+json");
    assert_eq!(gone.body["code"], "calendar_feed_revoked");
    assert_eq!(gone.body["title"], "Kjo lidhje kalendari është revokuar");
    let res = app.post(&format!("/api/v1/calendar-feeds/{feed_id}/revoke"), Some(&coordinator), &json!({})).await;
    assert_eq!(res.status, StatusCode::CONFLICT);

    let unknown = app.get("/api/v1/calendar/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.ics", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["code"], "not_found");
    assert_eq!(
        audit_actions(&app, "calendar_feed.").await,
        ["calendar_feed.create", "calendar_feed.revoke"],
        "fetches are not audited, changes are"
    );
}

#[actix_web::test]
async fn a_personal_feed_holds_only_your_own_shifts() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    qkt_rota(&app, &coordinator).await;
    let (field, duty) = (app.login("tirana.field").await, app.login("tirana.duty").await);

    let res = app.post("/api/v1/me/calendar-feeds", Some(&field), &json!({})).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let url = res.body["url"].as_str().unwrap().to_owned();
    assert!(res.body["user_id"].is_string() && res.body.get("schedule_id").is_none(), "{}", res.body);
    assert!(url.contains("/api/v1/calendar/"), "{url}");
    let feed_id = res.body["id"].as_str().unwrap().to_owned();

    let text = ics_text(&app.get(&feed_path(&url), None).await);
    let (calendar, events) = parse(&text);
    assert_eq!(calendar.property_value("X-WR-TIMEZONE"), Some("Europe/Tirane"));
    assert!(events.iter().all(|e| e.summary == "Gadishmëri: Gadishmëria QKT"), "{text}");
    assert!(events.iter().all(|e| e.description.contains("+355690000001")));
    let spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = events.iter().take(3).map(|e| (e.start, e.end)).collect();
    assert_eq!(
        spans,
        [
            (utc("2026-03-02T09:00:00Z"), utc("2026-03-03T07:00:00Z")),
            (utc("2026-03-04T07:00:00Z"), utc("2026-03-05T07:00:00Z")),
            (utc("2026-03-06T07:00:00Z"), utc("2026-03-07T07:00:00Z")),
        ],
        "every other day, no gaps and none of the duty officer's days"
    );

    let mine = app.get("/api/v1/me/calendar-feeds", Some(&field)).await;
    assert_eq!(mine.body.as_array().unwrap().len(), 1);
    assert!(mine.body[0].get("url").is_none());
    assert_eq!(app.get("/api/v1/me/calendar-feeds", Some(&duty)).await.body, json!([]));

    let res = app.post(&format!("/api/v1/calendar-feeds/{feed_id}/revoke"), Some(&duty), &json!({})).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "not the duty officer's to revoke");
    let res = app.post(&format!("/api/v1/calendar-feeds/{feed_id}/revoke"), Some(&field), &json!({})).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let gone = app.get(&feed_path(&url), None).await;
    assert_eq!(gone.status, StatusCode::GONE);
    assert_eq!(gone.body["code"], "calendar_feed_revoked");
}

#[actix_web::test]
async fn the_rota_csv_has_bilingual_headers_local_times_pairs_and_gaps() {
    let app = TestApp::spawn().await;
    let coordinator = app.login("tirana.coord").await;
    let (field_id, duty_id, coord_id) =
        (user_id(&app, "tirana.field").await, user_id(&app, "tirana.duty").await, user_id(&app, "tirana.coord").await);
    let mut layer = daily_layer(&[], "08:00", "2026-03-02");
    layer["participants"] = json!([[field_id, duty_id], [coord_id]]);
    layer["restrictions"] =
        json!([{ "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "08:00", "to": "20:00" }]);
    let res = app
        .post("/api/v1/schedules", Some(&coordinator), &json!({ "name": "Gadishmëria QKT", "layers": [layer] }))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let id = res.body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/schedules/{id}/rota.csv?from=2026-03-02T00:00:00Z&to=2026-03-04T00:00:00Z");

    assert_eq!(app.get(&path, None).await.status, StatusCode::UNAUTHORIZED);
    let police = app.login("police.tirana").await;
    let res = app.get(&path, Some(&police)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.headers.get("content-type").unwrap(), "text/csv; charset=utf-8");
    assert_eq!(res.headers.get("content-disposition").unwrap(), "attachment; filename=\"rota-gadishmeria-qkt.csv\"");
    let text = res.body.as_str().unwrap();
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(header, ["Fillimi / Start", "Mbarimi / End", "Në gadishmëri / On duty", "Telefoni / Phone"]);
    let rows: Vec<Vec<String>> =
        reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect::<Vec<_>>();
    let names: Vec<&str> = rows[0][2].split(" + ").collect();
    let phones: Vec<&str> = rows[0][3].split(" + ").collect();
    assert_eq!(
        (rows[0][0].as_str(), rows[0][1].as_str()),
        ("2026-03-02 10:00 +01:00", "2026-03-02 20:00 +01:00"),
        "{rows:?}"
    );
    let mut pair: Vec<(&str, &str)> = names.into_iter().zip(phones).collect();
    pair.sort_unstable();
    assert_eq!(pair, [(DUTY, "+355690000002"), (FIELD, "+355690000001")], "a pair, names and phones in one order");
    assert_eq!(rows[1], ["2026-03-02 20:00 +01:00", "2026-03-03 08:00 +01:00", "PA MBULIM / NOT COVERED", ""]);
    assert_eq!(rows[2], ["2026-03-03 08:00 +01:00", "2026-03-03 20:00 +01:00", COORD, "+355690000003"]);
    assert_eq!(rows[3], ["2026-03-03 20:00 +01:00", "2026-03-04 01:00 +01:00", "PA MBULIM / NOT COVERED", ""]);
    assert_eq!(rows.len(), 4, "nothing before the rota applies");

    let long = format!("/api/v1/schedules/{id}/rota.csv?from=2026-03-02T00:00:00Z&to=2026-07-02T00:00:00Z");
    let res = app.get(&long, Some(&police)).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_codes(&res.body), ["span_too_long"]);
}
