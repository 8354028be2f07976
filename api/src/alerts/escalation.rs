//! Escalation steps as outbox jobs. A step job notifies its targets and schedules the next step
//! with a due time; the dedup key of each (step, round) makes a second copy impossible, and a
//! step skips every address it already reached, so a restart resumes without paging twice.
//!
//! Sending happens outside any transaction: first the plan (who, where) is read, then each
//! address is written as "sending" before the provider is called and updated with its answer.
//! If the process dies between the provider's acceptance and that update, the address is sent
//! to again when the job is retried: paging twice is preferred over not paging.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;
use terren_contract::alerts::{AlertState, Severity, Target};
use uuid::Uuid;

use super::policy;
use super::service::{self, AlertRow, add_event};
use crate::db::schema::{
    agencies, alert_events, alerts, devices, notification_attempts, notification_rules, outbox_jobs, users,
    webhook_endpoints,
};
use crate::db::{Database, DbConnection, backend};
use crate::http::{ApiResult, with_db};
use crate::notify::{Address, Delivery, Message, Notifier, Outcome};
use crate::outbox::{self, kinds};
use crate::rota::layers;
use crate::rota::resolve::{self, Restriction};
use crate::vocabularies::wire_code;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepJob {
    pub alert_id: String,
    /// Index into the policy's steps; the number of steps means the fallback.
    pub step: i32,
    pub round: i32,
}

impl StepJob {
    pub fn dedup_key(&self) -> String {
        format!("{}step:{}:round:{}", service::job_prefix(&self.alert_id), self.step, self.round)
    }
}

pub fn enqueue_step(
    conn: &mut DbConnection,
    job: StepJob,
    due: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let key = job.dedup_key();
    outbox::enqueue(conn, kinds::ALERT_ESCALATE, &json!(job), &key, due, now)
}

/// A reminder by SMS to one person who was paged by push and has not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsFollowUp {
    pub alert_id: String,
    pub user_id: String,
    pub step: i32,
    pub round: i32,
}

/// Somebody to reach, and where, in order of preference.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub label: String,
    pub user_id: Option<String>,
    pub addresses: Vec<Address>,
    /// Send an SMS this many minutes after a push, if still unacknowledged.
    pub sms_after_minutes: Option<u32>,
}

/// What a step job will do, read in one transaction.
pub struct StepPlan {
    pub alert: AlertRow,
    pub recipients: Vec<Recipient>,
    pub message: Message,
    pub next: Option<(StepJob, NaiveDateTime)>,
}

fn severity_label(severity: &str) -> &'static str {
    match severity {
        "emergency" => "EMERGJENCË / EMERGENCY",
        "high" => "I LARTË / HIGH",
        _ => "NJOFTIM / NOTICE",
    }
}

/// What people are told. Never a child's name or details: the app shows those after login.
fn message(conn: &mut DbConnection, alert: &AlertRow, job_id: &str, public_url: &str) -> ApiResult<Message> {
    let agency: String =
        agencies::table.filter(agencies::id.eq(&alert.agency_id)).select(agencies::name).get_result(conn)?;
    let callback = match &alert.created_by {
        Some(raiser) => {
            let rule: Option<Option<String>> = notification_rules::table
                .filter(notification_rules::user_id.eq(raiser))
                .select(notification_rules::callback_phone)
                .get_result(conn)
                .optional()?;
            let phone: Option<String> =
                users::table.filter(users::id.eq(raiser)).select(users::phone).get_result(conn)?;
            rule.flatten().or(phone)
        }
        None => None,
    };
    let mut body = format!("{agency}. Konfirmo në Terren / Acknowledge in Terren.");
    if let Some(phone) = callback {
        body.push_str(&format!(" Thirr / Call back: {phone}."));
    }
    Ok(Message {
        id: job_id.to_owned(),
        alert_id: alert.id.clone(),
        severity: alert.severity.clone(),
        title: format!("{}: {}", severity_label(&alert.severity), alert.title),
        body,
        // Without `http.public_url` there is no address a phone could open.
        link: (!public_url.is_empty())
            .then(|| format!("{}/api/v1/alerts/{}", public_url.trim_end_matches('/'), alert.id)),
    })
}

/// How a person is reached: live push tokens first (unless they turned push off), then SMS.
fn reach_person(conn: &mut DbConnection, user_id: &str) -> QueryResult<Option<Recipient>> {
    let found: Option<(String, Option<String>)> = users::table
        .filter(users::id.eq(user_id))
        .filter(users::disabled_at.is_null())
        .select((users::display_name, users::phone))
        .get_result(conn)
        .optional()?;
    let Some((label, phone)) = found else { return Ok(None) };
    let rule: Option<(bool, Option<i32>)> = notification_rules::table
        .filter(notification_rules::user_id.eq(user_id))
        .select((notification_rules::push, notification_rules::sms_after_minutes))
        .get_result(conn)
        .optional()?;
    let (push, sms_after) = rule.unwrap_or((true, None));
    let mut addresses = Vec::new();
    if push {
        let tokens: Vec<String> = devices::table
            .filter(devices::user_id.eq(user_id))
            .filter(devices::disabled_at.is_null())
            .order(devices::updated_at.desc())
            .select(devices::push_token)
            .load(conn)?;
        addresses.extend(tokens.into_iter().map(|token| Address::Push { token }));
    }
    let pushes = !addresses.is_empty();
    if let Some(phone) = phone.filter(|p| !p.trim().is_empty()) {
        addresses.push(Address::Sms { phone });
    }
    Ok(Some(Recipient {
        label,
        user_id: Some(user_id.to_owned()),
        addresses,
        sms_after_minutes: if pushes { sms_after.and_then(|m| u32::try_from(m).ok()) } else { None },
    }))
}

/// Everyone the targets reach at `now`, each once.
pub fn recipients(
    conn: &mut DbConnection,
    agency_id: &str,
    targets: &[Target],
    now: DateTime<Utc>,
) -> ApiResult<Vec<Recipient>> {
    let mut people: BTreeSet<String> = BTreeSet::new();
    let mut others = Vec::new();
    for target in targets {
        match target {
            Target::OnCall { schedule_id } => {
                match crate::rota::service::on_duty(conn, &schedule_id.to_string(), now) {
                    Ok(on_duty) => people.extend(on_duty),
                    Err(error) if error.code == crate::http::ErrorCode::NotFound => {}
                    Err(error) => return Err(error),
                }
            }
            Target::User { user_id } => {
                people.insert(user_id.to_string());
            }
            Target::Role { role } => people.extend(policy::with_role(conn, agency_id, *role)?),
            Target::Contact { name, phone } => others.push(Recipient {
                label: name.clone(),
                user_id: None,
                addresses: vec![Address::Sms { phone: phone.clone() }],
                sms_after_minutes: None,
            }),
            Target::Webhook { webhook_id } => {
                let endpoint: Option<(String, String, String)> = webhook_endpoints::table
                    .filter(webhook_endpoints::id.eq(webhook_id.to_string()))
                    .filter(webhook_endpoints::active.eq(true))
                    .select((webhook_endpoints::name, webhook_endpoints::url, webhook_endpoints::secret))
                    .get_result(conn)
                    .optional()?;
                if let Some((name, url, secret)) = endpoint {
                    others.push(Recipient {
                        label: name,
                        user_id: None,
                        addresses: vec![Address::Webhook { url, secret: SecretString::from(secret) }],
                        sms_after_minutes: None,
                    });
                }
            }
        }
    }
    let mut found = Vec::new();
    for user_id in people {
        found.extend(reach_person(conn, &user_id)?);
    }
    found.extend(others);
    Ok(found)
}

fn in_windows(
    tz: chrono_tz::Tz,
    windows: &[terren_contract::schedules::RestrictionWindow],
    now: DateTime<Utc>,
) -> bool {
    let restrictions: Vec<Restriction> = windows.iter().filter_map(layers::restriction).collect();
    !resolve::windows(tz, &restrictions, now, now + Duration::seconds(1)).is_empty()
}

fn already_logged(conn: &mut DbConnection, alert_id: &str, kind: &str, job_id: &str) -> QueryResult<bool> {
    let count: i64 = alert_events::table
        .filter(alert_events::alert_id.eq(alert_id))
        .filter(alert_events::kind.eq(kind))
        .filter(alert_events::details.like(format!("%{}%", crate::db::like_literal(job_id))))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

/// Reads what a step must do, logs that it started, and works out the next step. `None` when the
/// alert is no longer waiting for anyone.
pub fn plan(
    conn: &mut DbConnection,
    job_id: &str,
    job: &StepJob,
    now: DateTime<Utc>,
    public_url: &str,
) -> ApiResult<Option<StepPlan>> {
    let alert = service::load(conn, &job.alert_id)?;
    if alert.state != wire_code(AlertState::Triggered) {
        return Ok(None);
    }
    let at = crate::clock::truncate(now);
    let policy = alert.policy()?;
    let steps = i32::try_from(policy.steps.len()).unwrap_or(i32::MAX);
    let zone: String =
        agencies::table.filter(agencies::id.eq(&alert.agency_id)).select(agencies::time_zone).get_result(conn)?;
    let tz = layers::parse_time_zone(&zone).unwrap_or(chrono_tz::Europe::Tirane);
    let details = json!({ "job_id": job_id, "step": job.step, "round": job.round });
    let (targets, wait, kind) = match usize::try_from(job.step).ok().and_then(|s| policy.steps.get(s)) {
        Some(step) if !step.only_when.is_empty() && !in_windows(tz, &step.only_when, now) => {
            (Vec::new(), 0, "step_skipped")
        }
        Some(step) => (step.targets.clone(), step.wait_minutes, "step_started"),
        None if policy.fallback.is_empty() => (Vec::new(), 0, "exhausted"),
        None => (policy.fallback.clone(), 0, "fallback"),
    };
    if !already_logged(conn, &alert.id, kind, job_id)? {
        add_event(conn, &alert.id, at, kind, None, None, details)?;
    }
    let next_job = match job.step + 1 {
        next if next < steps => Some((next, job.round)),
        next if next == steps && u32::try_from(job.round).unwrap_or(u32::MAX) < policy.repeat => {
            Some((0, job.round + 1))
        }
        // After the last round: the fallback (or the record that nobody answered).
        next if next == steps => Some((steps, job.round)),
        _ => None,
    }
    .map(|(step, round)| StepJob { alert_id: alert.id.clone(), step, round });
    let recipients = recipients(conn, &alert.agency_id, &targets, now)?;
    let message = message(conn, &alert, job_id, public_url)?;
    Ok(Some(StepPlan {
        alert,
        recipients,
        message,
        next: next_job.map(|next| (next, at + Duration::minutes(i64::from(wait)))),
    }))
}

/// Records where the escalation stands and schedules the next step, if the alert still waits.
pub fn finish(
    conn: &mut DbConnection,
    job: &StepJob,
    next: Option<(StepJob, NaiveDateTime)>,
    now: NaiveDateTime,
) -> ApiResult<()> {
    let still_waiting = diesel::update(
        alerts::table.filter(alerts::id.eq(&job.alert_id)).filter(alerts::state.eq(wire_code(AlertState::Triggered))),
    )
    .set((alerts::escalation_step.eq(job.step), alerts::escalation_round.eq(job.round)))
    .execute(conn)?;
    if still_waiting == 1
        && let Some((next, due)) = next
    {
        enqueue_step(conn, next, due, now)?;
    }
    Ok(())
}

#[derive(Debug, Clone)]
struct AttemptKey {
    alert_id: String,
    job_id: String,
    step: i32,
    round: i32,
}

/// Sends to each recipient's addresses in order until one is delivered, recording every try.
/// Addresses this job already reached are skipped (a retried job never pages them twice).
pub async fn deliver(
    db: &Database,
    notifier: &Notifier,
    clock: &crate::clock::SharedClock,
    key: (&str, &StepJob),
    message: &Message,
    recipients: Vec<Recipient>,
) -> ApiResult<Vec<(Recipient, Outcome)>> {
    let (job_id, job) = key;
    let attempt_key =
        AttemptKey { alert_id: job.alert_id.clone(), job_id: job_id.to_owned(), step: job.step, round: job.round };
    let reached: BTreeSet<(String, String)> = {
        let job_id = job_id.to_owned();
        with_db(db, move |conn| {
            Ok(notification_attempts::table
                .filter(notification_attempts::job_id.eq(&job_id))
                .filter(notification_attempts::outcome.eq(Outcome::Delivered.as_str()))
                .select((notification_attempts::channel, notification_attempts::address_hint))
                .load::<(String, String)>(conn)?
                .into_iter()
                .collect())
        })
        .await?
    };
    let mut outcomes = Vec::new();
    let mut tried_this_run: BTreeSet<(String, String)> = BTreeSet::new();
    for mut recipient in recipients {
        let keys: Vec<(String, String)> =
            recipient.addresses.iter().map(|a| (a.channel().to_owned(), a.masked())).collect();
        if keys.iter().any(|k| reached.contains(k)) {
            outcomes.push((recipient, Outcome::Delivered));
            continue;
        }
        let mut outcome = Outcome::Failed;
        for (address, key) in recipient.addresses.iter().zip(&keys) {
            // The same number in two targets of one step is messaged once.
            if !tried_this_run.insert(key.clone()) {
                continue;
            }
            let started = crate::clock::truncate(clock.now());
            let row_id = {
                let (attempt_key, key, label, user_id) =
                    (attempt_key.clone(), key.clone(), recipient.label.clone(), recipient.user_id.clone());
                with_db(db, move |conn| begin_attempt(conn, &attempt_key, &key, &label, user_id.as_deref(), started))
                    .await?
            };
            let delivery = notifier.send(address, message).await;
            outcome = delivery.outcome;
            {
                let (finished, delivery_summary) = (crate::clock::truncate(clock.now()), summary(&delivery));
                let dead_token = match (address, delivery.outcome) {
                    (Address::Push { token }, Outcome::InvalidAddress) => Some(token.clone()),
                    _ => None,
                };
                with_db(db, move |conn| {
                    backend::write_transaction(conn, |conn| {
                        end_attempt(conn, &row_id, &delivery_summary, finished)?;
                        if let Some(token) = dead_token {
                            diesel::update(
                                devices::table
                                    .filter(devices::push_token.eq(token))
                                    .filter(devices::disabled_at.is_null()),
                            )
                            .set((
                                devices::disabled_at.eq(finished),
                                devices::disabled_reason.eq("push service: token no longer valid"),
                            ))
                            .execute(conn)?;
                        }
                        Ok(())
                    })
                })
                .await?;
            }
            if outcome == Outcome::Delivered {
                // A reminder by SMS follows a push only; reached by SMS already, nothing follows.
                if !matches!(address, Address::Push { .. }) {
                    recipient.sms_after_minutes = None;
                }
                break;
            }
        }
        outcomes.push((recipient, outcome));
    }
    Ok(outcomes)
}

struct Summary {
    tries: i32,
    http_status: Option<i32>,
    provider_reference: Option<String>,
    response: Option<String>,
    error: Option<String>,
    outcome: &'static str,
}

fn summary(delivery: &Delivery) -> Summary {
    let last = delivery.attempts.last();
    Summary {
        tries: i32::try_from(delivery.attempts.len()).unwrap_or(i32::MAX),
        http_status: last.and_then(|a| a.http_status).map(i32::from),
        provider_reference: last.and_then(|a| a.provider_reference.clone()),
        // Every try with the provider's answer, not only the last.
        response: serde_json::to_string(&delivery.attempts).ok(),
        error: last.and_then(|a| a.error.clone()),
        outcome: delivery.outcome.as_str(),
    }
}

/// Writes (or reopens, on a retried job) the row for one address before it is sent to.
fn begin_attempt(
    conn: &mut DbConnection,
    key: &AttemptKey,
    (channel, hint): &(String, String),
    label: &str,
    user_id: Option<&str>,
    started: NaiveDateTime,
) -> ApiResult<String> {
    let existing: Option<String> = notification_attempts::table
        .filter(notification_attempts::job_id.eq(&key.job_id))
        .filter(notification_attempts::channel.eq(channel))
        .filter(notification_attempts::address_hint.eq(hint))
        .select(notification_attempts::id)
        .get_result(conn)
        .optional()?;
    // Still at work on this job: keep it ours.
    diesel::update(outbox_jobs::table.filter(outbox_jobs::id.eq(&key.job_id)))
        .set(outbox_jobs::locked_until.eq(started + Duration::seconds(outbox::LEASE_SECONDS)))
        .execute(conn)?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let id = Uuid::now_v7().to_string();
    diesel::insert_into(notification_attempts::table)
        .values((
            notification_attempts::id.eq(&id),
            notification_attempts::alert_id.eq(&key.alert_id),
            notification_attempts::job_id.eq(&key.job_id),
            notification_attempts::step.eq(key.step),
            notification_attempts::round.eq(key.round),
            notification_attempts::recipient_user_id.eq(user_id),
            notification_attempts::recipient_label.eq(label),
            notification_attempts::channel.eq(channel),
            notification_attempts::address_hint.eq(hint),
            notification_attempts::started_at.eq(started),
            notification_attempts::tries.eq(0),
        ))
        .execute(conn)?;
    Ok(id)
}

fn end_attempt(conn: &mut DbConnection, id: &str, summary: &Summary, finished: NaiveDateTime) -> QueryResult<()> {
    diesel::update(notification_attempts::table.filter(notification_attempts::id.eq(id)))
        .set((
            notification_attempts::finished_at.eq(finished),
            notification_attempts::tries.eq(notification_attempts::tries + summary.tries),
            notification_attempts::http_status.eq(summary.http_status),
            notification_attempts::provider_reference.eq(&summary.provider_reference),
            notification_attempts::provider_response.eq(&summary.response),
            notification_attempts::error.eq(&summary.error),
            notification_attempts::outcome.eq(summary.outcome),
        ))
        .execute(conn)?;
    Ok(())
}

/// Schedules an SMS reminder for each person reached by push who asked for one.
pub fn follow_ups(
    conn: &mut DbConnection,
    job: &StepJob,
    delivered: &[(Recipient, Outcome)],
    now: NaiveDateTime,
) -> QueryResult<()> {
    for (recipient, outcome) in delivered {
        if let (Outcome::Delivered, Some(minutes), Some(user_id)) =
            (outcome, recipient.sms_after_minutes, &recipient.user_id)
        {
            let follow = SmsFollowUp {
                alert_id: job.alert_id.clone(),
                user_id: user_id.clone(),
                step: job.step,
                round: job.round,
            };
            let key = format!("{}sms:{user_id}", job.dedup_key());
            outbox::enqueue(
                conn,
                kinds::ALERT_SMS_FOLLOWUP,
                &json!(follow),
                &key,
                now + Duration::minutes(i64::from(minutes)),
                now,
            )?;
        }
    }
    Ok(())
}

/// The people an SMS reminder goes to, if the alert still waits.
pub fn plan_follow_up(
    conn: &mut DbConnection,
    job_id: &str,
    follow: &SmsFollowUp,
    public_url: &str,
) -> ApiResult<Option<(Recipient, Message)>> {
    let alert = service::load(conn, &follow.alert_id)?;
    if alert.state != wire_code(AlertState::Triggered) {
        return Ok(None);
    }
    let found: Option<(String, Option<String>)> = users::table
        .filter(users::id.eq(&follow.user_id))
        .select((users::display_name, users::phone))
        .get_result(conn)
        .optional()?;
    let Some((label, Some(phone))) = found else { return Ok(None) };
    let message = message(conn, &alert, job_id, public_url)?;
    Ok(Some((
        Recipient {
            label,
            user_id: Some(follow.user_id.clone()),
            addresses: vec![Address::Sms { phone }],
            sms_after_minutes: None,
        },
        message,
    )))
}

/// Raises the alert for an emergency identification, for the agency answering for the place.
pub fn raise_for_identification(
    conn: &mut DbConnection,
    index: &crate::territory::index::TerritoryIndex,
    payload: &serde_json::Value,
    at: NaiveDateTime,
) -> ApiResult<String> {
    use crate::db::schema::{identification_links, identifications};
    let identification_id = payload["identification_id"].as_str().unwrap_or_default().to_owned();
    let (recorded_by, agency_id, municipality_id, admin_unit_id, risk_level): (
        String,
        String,
        Option<String>,
        Option<String>,
        String,
    ) = identifications::table
        .filter(identifications::id.eq(&identification_id))
        .select((
            identifications::recorded_by,
            identifications::agency_id,
            identifications::municipality_id,
            identifications::admin_unit_id,
            identifications::risk_level,
        ))
        .get_result(conn)?;
    let place = admin_unit_id.or(municipality_id);
    let area = place.as_ref().and_then(|id| index.find_id(id)).map(|a| index.area(a));
    let place_name = area.map(|a| a.name.clone());
    let responsible = match area {
        Some(area) => service::responsible_agency(conn, index, &area.code)?,
        None => None,
    };
    let profile_id: Option<String> = identification_links::table
        .filter(identification_links::identification_id.eq(&identification_id))
        .select(identification_links::profile_id)
        .get_result(conn)
        .optional()?;
    let title = match &place_name {
        Some(name) => format!("Fëmijë në rrezik / Child at risk — {name}"),
        None => "Fëmijë në rrezik / Child at risk".to_owned(),
    };
    let agency_id = responsible.unwrap_or(agency_id);
    let actor = crate::audit::Actor { user_id: Some(recorded_by), device_id: None, ip: None };
    // An emergency referral about this sighting may have paged the same agency already.
    let referral_keys: Vec<String> = crate::db::schema::referrals::table
        .filter(crate::db::schema::referrals::identification_id.eq(&identification_id))
        .select(crate::db::schema::referrals::id)
        .load::<String>(conn)?
        .into_iter()
        .map(|id| format!("referral:{id}"))
        .collect();
    let paged: Option<String> = crate::db::schema::alerts::table
        .filter(crate::db::schema::alerts::open_key.eq_any(&referral_keys))
        .filter(crate::db::schema::alerts::agency_id.eq(&agency_id))
        .select(crate::db::schema::alerts::id)
        .first(conn)
        .optional()?;
    if let Some(alert_id) = paged {
        service::add_event(
            conn,
            &alert_id,
            at,
            "identification_linked",
            actor.user_id.as_deref(),
            None,
            serde_json::json!({ "identification_id": identification_id }),
        )?;
        return Ok(alert_id);
    }
    let new = service::NewAlert {
        severity: if risk_level == "emergency" { Severity::Emergency } else { Severity::High },
        source: terren_contract::alerts::AlertSource::FieldIdentification,
        agency_id,
        area_id: place,
        title,
        details: None,
        dedup_key: Some(format!("identification:{identification_id}")),
        identification_id: Some(identification_id),
        profile_id,
        referral_id: None,
        policy: None,
    };
    let (id, _) = service::raise(conn, &actor, new, at)?;
    Ok(id)
}
