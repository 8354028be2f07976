//! An alert's timeline: every state change, escalation step and message, in order.

use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::alerts::{AlertEventKind, NotificationAttempt, TimelineEntry};

use super::store::load;
use crate::access::AuthUser;
use crate::access::alerts::may_see;
use crate::accounts::service::person_refs;
use crate::clock::to_utc;
use crate::db::DbConnection;
use crate::db::schema::{alert_events, notification_attempts};
use crate::http::ApiResult;
use crate::ids::{AlertId, parse_uuid};
use crate::vocabularies::parse_wire_code;

#[derive(Queryable)]
struct EventRow {
    occurred_at: NaiveDateTime,
    kind: String,
    actor_user_id: Option<String>,
    note: Option<String>,
    details: String,
}

#[derive(Queryable)]
struct AttemptRow {
    job_id: String,
    started_at: NaiveDateTime,
    finished_at: Option<NaiveDateTime>,
    recipient_user_id: Option<String>,
    recipient_label: String,
    channel: String,
    address_hint: String,
    tries: i32,
    http_status: Option<i32>,
    provider_reference: Option<String>,
    error: Option<String>,
    outcome: Option<String>,
    step: i32,
    round: i32,
}

/// Every state change, escalation step and message of an alert, in order.
pub fn timeline(conn: &mut DbConnection, user: &AuthUser, id: &AlertId) -> ApiResult<Vec<TimelineEntry>> {
    let row = load(conn, id)?;
    may_see(conn, user, &row)?;
    let events: Vec<EventRow> = alert_events::table
        .filter(alert_events::alert_id.eq(id))
        .order((alert_events::occurred_at.asc(), alert_events::id.asc()))
        .select((
            alert_events::occurred_at,
            alert_events::kind,
            alert_events::actor_user_id,
            alert_events::note,
            alert_events::details,
        ))
        .load(conn)?;
    let attempts: Vec<AttemptRow> = notification_attempts::table
        .filter(notification_attempts::alert_id.eq(id))
        .order((notification_attempts::started_at.asc(), notification_attempts::id.asc()))
        .select((
            notification_attempts::job_id,
            notification_attempts::started_at,
            notification_attempts::finished_at,
            notification_attempts::recipient_user_id,
            notification_attempts::recipient_label,
            notification_attempts::channel,
            notification_attempts::address_hint,
            notification_attempts::tries,
            notification_attempts::http_status,
            notification_attempts::provider_reference,
            notification_attempts::error,
            notification_attempts::outcome,
            notification_attempts::step,
            notification_attempts::round,
        ))
        .load(conn)?;
    let actors: BTreeSet<String> = events.iter().filter_map(|e| e.actor_user_id.clone()).collect();
    let names = person_refs(conn, &actors)?;
    let mut entries: Vec<TimelineEntry> = events
        .into_iter()
        .map(|event| {
            let details: serde_json::Value = serde_json::from_str(&event.details).unwrap_or_default();
            Ok(TimelineEntry {
                at: to_utc(event.occurred_at),
                kind: parse_wire_code(&event.kind)?,
                actor: event.actor_user_id.and_then(|a| names.get(&a).cloned()),
                note: event.note,
                step: details["step"].as_i64().and_then(|s| i32::try_from(s).ok()),
                round: details["round"].as_i64().and_then(|s| i32::try_from(s).ok()),
                notification: None,
            })
        })
        .collect::<ApiResult<_>>()?;
    let mut sends: std::collections::HashMap<(String, String, String), i32> = std::collections::HashMap::new();
    for attempt in attempts {
        let nth = sends
            .entry((attempt.job_id.clone(), attempt.channel.clone(), attempt.address_hint.clone()))
            .and_modify(|n| *n += 1)
            .or_insert(1);
        let nth = *nth;
        entries.push(TimelineEntry {
            at: to_utc(attempt.started_at),
            kind: AlertEventKind::Notification,
            actor: None,
            note: None,
            step: Some(attempt.step),
            round: Some(attempt.round),
            notification: Some(NotificationAttempt {
                recipient: attempt.recipient_label,
                recipient_user_id: attempt.recipient_user_id.as_deref().map(parse_uuid).transpose()?,
                channel: parse_wire_code(&attempt.channel)?,
                address_hint: attempt.address_hint,
                attempt: nth,
                tries: attempt.tries,
                outcome: attempt.outcome.as_deref().map(parse_wire_code).transpose()?,
                finished_at: attempt.finished_at.map(to_utc),
                http_status: attempt.http_status,
                provider_reference: attempt.provider_reference,
                error: attempt.error,
            }),
        });
    }
    entries.sort_by_key(|e| e.at);
    Ok(entries)
}
