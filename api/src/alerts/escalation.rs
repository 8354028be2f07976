//! Escalation as outbox jobs. A step job decides, in one transaction, whom its targets reach now
//! (logging whom they cannot reach and why), falls back at once when they reach nobody, writes one
//! page job per person, contact or partner system, and schedules the next step. Page jobs send;
//! a page that was not delivered is retried with backoff until it is, or until the alert no longer
//! waits. So a later step never waits for an earlier step's sends, and a slow provider or person
//! holds up only their own page.
//!
//! Sending happens outside any transaction: each send is written as an attempt before the provider
//! is called and updated with its answer. If the process dies between the provider's acceptance
//! and that update, the page is sent again when the job is retried, and the timeline shows both
//! attempts: paging twice is preferred over not paging.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use terren_contract::alerts::{AlertState, Severity};
use uuid::Uuid;

use super::recipients::{self, Missed, PageTarget, Reach, Recipient};
use super::service::{self, AlertRow, add_event};
use crate::db::schema::{agencies, alert_events, alerts, devices, notification_attempts, notification_rules, users};
use crate::db::{DbConnection, backend};
use crate::http::{ApiError, ApiResult, with_db};
use crate::notify::{Address, Delivery, Message, Outcome};
use crate::outbox::{self, kinds};
use crate::rota::layers;
use crate::rota::resolve::{self, Restriction};
use crate::state::AppState;
use crate::vocabularies::wire_code;

/// A page not delivered within this time after its step is given up (and said so on the timeline).
const PAGE_RETRY_HOURS: i64 = 12;

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

/// What a page tells its recipient.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageKind {
    /// The alert itself: acknowledge it.
    #[default]
    Alert,
    /// To the raiser: nobody at all could be reached.
    Unreachable,
}

/// One page: a target of one step, sent to until delivered or the alert no longer waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageJob {
    pub alert_id: String,
    pub step: i32,
    pub round: i32,
    pub target: PageTarget,
    /// Only by SMS (the reminder after an unanswered push).
    #[serde(default)]
    pub sms_only: bool,
    #[serde(default)]
    pub kind: PageKind,
}

impl PageJob {
    fn dedup_key(&self) -> String {
        let step = StepJob { alert_id: self.alert_id.clone(), step: self.step, round: self.round }.dedup_key();
        match (self.kind, self.sms_only) {
            (PageKind::Unreachable, _) => format!("{step}:unreachable:{}", self.target.key()),
            (PageKind::Alert, true) => format!("{step}:sms:{}", self.target.key()),
            (PageKind::Alert, false) => format!("{step}:page:{}", self.target.key()),
        }
    }

    fn enqueue(&self, conn: &mut DbConnection, due: NaiveDateTime, now: NaiveDateTime) -> QueryResult<bool> {
        outbox::enqueue(conn, kinds::ALERT_PAGE, &json!(self), &self.dedup_key(), due, now)
    }
}

/// A reminder by SMS to one person who was paged by push and has not acknowledged, as queued by
/// earlier versions (now an SMS-only [`PageJob`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsFollowUp {
    pub alert_id: String,
    pub user_id: String,
    pub step: i32,
    pub round: i32,
}

impl From<SmsFollowUp> for PageJob {
    fn from(follow: SmsFollowUp) -> PageJob {
        PageJob {
            alert_id: follow.alert_id,
            step: follow.step,
            round: follow.round,
            target: PageTarget::User { user_id: follow.user_id },
            sms_only: true,
            kind: PageKind::Alert,
        }
    }
}

fn severity_label(severity: &str) -> &'static str {
    match severity {
        "emergency" => "EMERGJENCË / EMERGENCY",
        "high" => "I LARTË / HIGH",
        _ => "NJOFTIM / NOTICE",
    }
}

/// What people are told. Never a child's name or details: the app shows those after login.
fn message(
    conn: &mut DbConnection,
    alert: &AlertRow,
    kind: PageKind,
    job_id: &str,
    public_url: &str,
) -> ApiResult<Message> {
    let agency = recipients::agency_name(conn, &alert.agency_id)?;
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
    let (title, body) = match kind {
        PageKind::Alert => {
            let mut body = format!("{agency}. Konfirmo në Terren / Acknowledge in Terren.");
            if let Some(phone) = callback {
                body.push_str(&format!(" Thirr / Call back: {phone}."));
            }
            (format!("{}: {}", severity_label(&alert.severity), alert.title), body)
        }
        PageKind::Unreachable => (
            format!("ASKUSH NUK U GJET / NOBODY REACHED: {}", alert.title),
            format!(
                "Askush në {agency} nuk mund të njoftohej. Telefononi 112 ose ALO 116 111. / Nobody at {agency} \
                 could be paged. Call 112 or ALO 116 111."
            ),
        ),
    };
    Ok(Message {
        id: job_id.to_owned(),
        alert_id: alert.id.clone(),
        severity: alert.severity.clone(),
        title,
        body,
        // Without `http.public_url` there is no address a phone could open.
        link: (!public_url.is_empty())
            .then(|| format!("{}/api/v1/alerts/{}", public_url.trim_end_matches('/'), alert.id)),
    })
}

fn in_windows(
    tz: chrono_tz::Tz,
    windows: &[terren_contract::schedules::RestrictionWindow],
    now: DateTime<Utc>,
) -> bool {
    let restrictions: Vec<Restriction> = windows.iter().filter_map(layers::restriction).collect();
    !resolve::windows(tz, &restrictions, now, now + Duration::seconds(1)).is_empty()
}

fn already_logged(conn: &mut DbConnection, alert_id: &str, job_id: &str) -> QueryResult<bool> {
    let count: i64 = alert_events::table
        .filter(alert_events::alert_id.eq(alert_id))
        .filter(alert_events::details.like(format!("%\"job_id\":\"{}\"%", crate::db::like_literal(job_id))))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

fn log_missed(
    conn: &mut DbConnection,
    alert_id: &str,
    at: NaiveDateTime,
    details: &serde_json::Value,
    missed: &[Missed],
) -> QueryResult<()> {
    for missed in missed {
        let mut details = details.clone();
        details["target"] = json!(missed.target);
        let note = format!("{}: {}", missed.target, missed.reason);
        add_event(conn, alert_id, at, "step_skipped", None, Some(&note), details)?;
    }
    Ok(())
}

/// What a step did, for the worker to report.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StepOutcome {
    pub pages: usize,
    /// Nobody at all could be reached: not the step, not any fallback.
    pub unreachable: bool,
}

/// Runs one step in the caller's transaction: logs it, writes its pages (or falls back, or records
/// that nobody can be reached and tells the raiser), and schedules the next step. Does nothing
/// when the alert no longer waits or the step already ran.
pub fn step(conn: &mut DbConnection, job_id: &str, job: &StepJob, now: DateTime<Utc>) -> ApiResult<StepOutcome> {
    let alert = service::load(conn, &job.alert_id)?;
    if alert.state != wire_code(AlertState::Triggered) || already_logged(conn, &alert.id, job_id)? {
        return Ok(StepOutcome::default());
    }
    let at = crate::clock::truncate(now);
    let policy = alert.policy()?;
    let steps = i32::try_from(policy.steps.len()).unwrap_or(i32::MAX);
    let zone: String =
        agencies::table.filter(agencies::id.eq(&alert.agency_id)).select(agencies::time_zone).get_result(conn)?;
    let tz = layers::parse_time_zone(&zone).unwrap_or(chrono_tz::Europe::Tirane);
    let details = json!({ "job_id": job_id, "step": job.step, "round": job.round });
    let (targets, wait, kind) = match usize::try_from(job.step).ok().and_then(|s| policy.steps.get(s)) {
        Some(step) if !step.only_when.is_empty() && !in_windows(tz, &step.only_when, now) => (None, 0, "step_skipped"),
        Some(step) => (Some(step.targets.clone()), step.wait_minutes, "step_started"),
        None if policy.fallback.is_empty() => (None, 0, "exhausted"),
        None => (Some(policy.fallback.clone()), 0, "fallback"),
    };
    let note = (kind == "step_skipped").then_some("jashtë orarit të hapit / outside the step's hours");
    add_event(conn, &alert.id, at, kind, None, note, details.clone())?;
    let mut outcome = StepOutcome::default();
    if let Some(targets) = targets {
        let reach = recipients::reach(conn, &alert.agency_id, &targets, now)?;
        log_missed(conn, &alert.id, at, &details, &reach.missed)?;
        let reach = if reach.targets.is_empty() {
            match recipients::fall_back(conn, &alert.agency_id, alert.created_by.as_deref(), now)? {
                Some((level, reach)) => {
                    let mut fell = details.clone();
                    fell["to"] = json!(level.code());
                    add_event(conn, &alert.id, at, "fallback", None, Some(level.label()), fell)?;
                    reach
                }
                None => {
                    outcome.unreachable = true;
                    mark_unreachable(conn, &alert, job, &details, at)?;
                    Reach::default()
                }
            }
        } else {
            reach
        };
        for target in reach.targets {
            let page = PageJob {
                alert_id: alert.id.clone(),
                step: job.step,
                round: job.round,
                target,
                sms_only: false,
                kind: PageKind::Alert,
            };
            if page.enqueue(conn, at, at)? {
                outcome.pages += 1;
            }
        }
    }
    let next = match job.step + 1 {
        next if next < steps => Some((next, job.round)),
        next if next == steps && u32::try_from(job.round).unwrap_or(u32::MAX) < policy.repeat => {
            Some((0, job.round + 1))
        }
        // After the last round: the fallback (or the record that nobody answered).
        next if next == steps => Some((steps, job.round)),
        _ => None,
    };
    diesel::update(alerts::table.filter(alerts::id.eq(&alert.id)))
        .set((alerts::escalation_step.eq(job.step), alerts::escalation_round.eq(job.round)))
        .execute(conn)?;
    if let Some((step, round)) = next {
        let next = StepJob { alert_id: alert.id.clone(), step, round };
        enqueue_step(conn, next, at + Duration::minutes(i64::from(wait)), at)?;
    }
    Ok(outcome)
}

/// Nobody at all can be reached: the alert says so, and the raiser is told to call for help.
fn mark_unreachable(
    conn: &mut DbConnection,
    alert: &AlertRow,
    job: &StepJob,
    details: &serde_json::Value,
    at: NaiveDateTime,
) -> ApiResult<()> {
    let note = "askush nuk mund të arrihej / nobody could be reached";
    add_event(conn, &alert.id, at, "unreachable", None, Some(note), details.clone())?;
    diesel::update(alerts::table.filter(alerts::id.eq(&alert.id)).filter(alerts::unreachable_at.is_null()))
        .set(alerts::unreachable_at.eq(at))
        .execute(conn)?;
    tracing::warn!(alert = %alert.id, agency = %alert.agency_id, step = job.step, round = job.round, "alert reaches nobody");
    if let Some(raiser) = &alert.created_by {
        let page = PageJob {
            alert_id: alert.id.clone(),
            step: job.step,
            round: job.round,
            target: PageTarget::User { user_id: raiser.clone() },
            sms_only: false,
            kind: PageKind::Unreachable,
        };
        page.enqueue(conn, at, at)?;
    }
    Ok(())
}

/// Runs a step job.
pub async fn run_step(state: &AppState, job_id: &str, job: StepJob) -> ApiResult<()> {
    let (id, now) = (job_id.to_owned(), state.clock.now());
    let outcome =
        with_db(&state.db, move |conn| backend::write_transaction(conn, |conn| step(conn, &id, &job, now))).await?;
    if outcome.unreachable {
        state.metrics.alert_unreachable();
    }
    Ok(())
}

/// What a page job will send, read in one go.
struct PagePlan {
    recipient: Recipient,
    message: Message,
    /// This job already delivered.
    delivered: bool,
    /// This job sent before (a failed or interrupted send): this is a retry.
    resend: bool,
}

/// Reads what a page must do: `None` when the alert no longer waits, the page was given up, or
/// its target can no longer be reached (each logged).
fn plan_page(
    conn: &mut DbConnection,
    job_id: &str,
    page: &PageJob,
    now: NaiveDateTime,
    public_url: &str,
) -> ApiResult<Option<PagePlan>> {
    let alert = service::load(conn, &page.alert_id)?;
    // The raiser is told that nobody was reached whatever happens to the alert meanwhile.
    if page.kind == PageKind::Alert && alert.state != wire_code(AlertState::Triggered) {
        return Ok(None);
    }
    let details = json!({ "page_job_id": job_id, "step": page.step, "round": page.round });
    let created: NaiveDateTime = crate::db::schema::outbox_jobs::table
        .filter(crate::db::schema::outbox_jobs::id.eq(job_id))
        .select(crate::db::schema::outbox_jobs::created_at)
        .get_result(conn)?;
    let mut recipient = match recipients::resolve(conn, &page.target)? {
        Ok(recipient) => recipient,
        Err(missed) => {
            log_missed(conn, &alert.id, now, &details, &[missed])?;
            return Ok(None);
        }
    };
    if now > created + Duration::hours(PAGE_RETRY_HOURS) {
        let note = format!(
            "{}: u hoq dorë pas {PAGE_RETRY_HOURS} orësh / given up after {PAGE_RETRY_HOURS} hours",
            recipient.label
        );
        add_event(conn, &alert.id, now, "step_skipped", None, Some(&note), details)?;
        return Ok(None);
    }
    if page.sms_only {
        recipient.addresses.retain(|a| matches!(a, Address::Sms { .. }));
        recipient.sms_after_minutes = None;
        if recipient.addresses.is_empty() {
            return Ok(None);
        }
    }
    let delivered: i64 = notification_attempts::table
        .filter(notification_attempts::job_id.eq(job_id))
        .filter(notification_attempts::outcome.eq(Outcome::Delivered.as_str()))
        .count()
        .get_result(conn)?;
    let sent_before: i64 =
        notification_attempts::table.filter(notification_attempts::job_id.eq(job_id)).count().get_result(conn)?;
    // A send the process did not live to finish: it may or may not have reached the provider.
    diesel::update(
        notification_attempts::table
            .filter(notification_attempts::job_id.eq(job_id))
            .filter(notification_attempts::outcome.is_null()),
    )
    .set((
        notification_attempts::outcome.eq(INTERRUPTED),
        notification_attempts::error.eq("the process stopped during the send; it may have been delivered"),
    ))
    .execute(conn)?;
    let message = message(conn, &alert, page.kind, job_id, public_url)?;
    Ok(Some(PagePlan { recipient, message, delivered: delivered > 0, resend: sent_before > 0 }))
}

/// The outcome of a send the process did not live to finish.
pub const INTERRUPTED: &str = "interrupted";

/// Runs a page job: sends to the target's addresses in order until one is delivered. Not
/// delivered while some address may still work: an error, so the job is retried with backoff.
pub async fn run_page(state: &AppState, job_id: &str, page: PageJob) -> ApiResult<()> {
    let public_url = state.config.http.public_url.clone().unwrap_or_default();
    let (id, planned, now) = (job_id.to_owned(), page.clone(), state.clock.now_naive());
    let plan = with_db(&state.db, move |conn| plan_page(conn, &id, &planned, now, &public_url)).await?;
    let Some(PagePlan { recipient, message, delivered, resend }) = plan else { return Ok(()) };
    if delivered {
        return Ok(());
    }
    if resend && let Some(first) = recipient.addresses.first() {
        state.metrics.notification_retried(channel_of(state, first));
    }
    let mut failures = Vec::new();
    let mut transient = false;
    for address in &recipient.addresses {
        let delivery = send(state, job_id, &page, &recipient, address, &message).await?;
        match delivery.outcome {
            Outcome::Delivered => {
                if let (Address::Push { .. }, Some(minutes), Some(user_id)) =
                    (address, recipient.sms_after_minutes, &recipient.user_id)
                {
                    let follow = PageJob {
                        target: PageTarget::User { user_id: user_id.clone() },
                        sms_only: true,
                        ..page.clone()
                    };
                    let at = state.clock.now_naive();
                    with_db(&state.db, move |conn| {
                        Ok(follow.enqueue(conn, at + Duration::minutes(i64::from(minutes)), at)?)
                    })
                    .await?;
                }
                return Ok(());
            }
            Outcome::InvalidAddress => failures.push(format!("{address:?}: invalid address")),
            Outcome::Failed => {
                transient = true;
                let error = delivery.attempts.last().and_then(|a| a.error.clone()).unwrap_or_default();
                failures.push(format!("{address:?}: {error}"));
            }
        }
    }
    if transient {
        return Err(ApiError::internal(anyhow::anyhow!(
            "page to {} not delivered, retrying: {}",
            recipient.label,
            failures.join("; ")
        )));
    }
    // Every address was refused: only a new token or number can help.
    let (alert_id, at) = (page.alert_id.clone(), state.clock.now_naive());
    let note = format!("{}: çdo adresë u refuzua / every address was refused", recipient.label);
    let details = json!({ "page_job_id": job_id, "step": page.step, "round": page.round });
    with_db(&state.db, move |conn| Ok(add_event(conn, &alert_id, at, "step_skipped", None, Some(&note), details)?))
        .await
}

/// The channel a send is recorded under: `dry_run` when nothing leaves the process.
fn channel_of(state: &AppState, address: &Address) -> &'static str {
    if state.notifier.is_dry_run() { "dry_run" } else { address.channel() }
}

/// Sends to one address, bounded by the per-send deadline, with the attempt recorded before
/// and after.
async fn send(
    state: &AppState,
    job_id: &str,
    page: &PageJob,
    recipient: &Recipient,
    address: &Address,
    message: &Message,
) -> ApiResult<Delivery> {
    let channel = channel_of(state, address).to_owned();
    let hint = if state.notifier.is_dry_run() {
        format!("{} {}", address.channel(), address.masked())
    } else {
        address.masked()
    };
    let started = state.clock.now_naive();
    let row_id = {
        let attempt = NewAttempt {
            alert_id: page.alert_id.clone(),
            job_id: job_id.to_owned(),
            step: page.step,
            round: page.round,
            user_id: recipient.user_id.clone(),
            label: recipient.label.clone(),
            channel: channel.clone(),
            hint,
        };
        with_db(&state.db, move |conn| Ok(begin_attempt(conn, &attempt, started)?)).await?
    };
    let deadline = StdDuration::from_millis(state.config.notify.send_deadline_ms);
    let delivery = match tokio::time::timeout(deadline, state.notifier.send(address, message)).await {
        Ok(delivery) => delivery,
        Err(_) => Delivery::timed_out(address, state.clock.now(), deadline),
    };
    for attempt in &delivery.attempts {
        state.metrics.notification_attempt(&channel, attempt.outcome.as_str());
        if attempt.try_number > 1 {
            state.metrics.notification_retried(&channel);
        }
    }
    let finished = state.clock.now_naive();
    let summary = summary(&delivery);
    let dead_token = match (address, delivery.outcome) {
        (Address::Push { token }, Outcome::InvalidAddress) => Some(token.clone()),
        _ => None,
    };
    with_db(&state.db, move |conn| {
        backend::write_transaction(conn, |conn| {
            end_attempt(conn, &row_id, &summary, finished)?;
            if let Some(token) = dead_token {
                diesel::update(
                    devices::table.filter(devices::push_token.eq(token)).filter(devices::disabled_at.is_null()),
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
    Ok(delivery)
}

struct NewAttempt {
    alert_id: String,
    job_id: String,
    step: i32,
    round: i32,
    user_id: Option<String>,
    label: String,
    channel: String,
    hint: String,
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

/// Writes the row of one send before the provider is called: every send has its own row, so a
/// page sent again after a crash shows as a second attempt.
fn begin_attempt(conn: &mut DbConnection, attempt: &NewAttempt, started: NaiveDateTime) -> QueryResult<String> {
    let id = Uuid::now_v7().to_string();
    diesel::insert_into(notification_attempts::table)
        .values((
            notification_attempts::id.eq(&id),
            notification_attempts::alert_id.eq(&attempt.alert_id),
            notification_attempts::job_id.eq(&attempt.job_id),
            notification_attempts::step.eq(attempt.step),
            notification_attempts::round.eq(attempt.round),
            notification_attempts::recipient_user_id.eq(&attempt.user_id),
            notification_attempts::recipient_label.eq(&attempt.label),
            notification_attempts::channel.eq(&attempt.channel),
            notification_attempts::address_hint.eq(&attempt.hint),
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
            notification_attempts::tries.eq(summary.tries),
            notification_attempts::http_status.eq(summary.http_status),
            notification_attempts::provider_reference.eq(&summary.provider_reference),
            notification_attempts::provider_response.eq(&summary.response),
            notification_attempts::error.eq(&summary.error),
            notification_attempts::outcome.eq(summary.outcome),
        ))
        .execute(conn)?;
    Ok(())
}

/// The job that raises the alert of an emergency sighting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmergencyJob {
    pub identification_id: String,
}

/// The agency an emergency sighting's alert goes to: the one referral routing would choose for
/// this person at this place (the child-protection unit of the territory, per the handbook),
/// else the 24/7 agency answering for the place, else the recorder's own.
fn emergency_agency(
    conn: &mut DbConnection,
    index: &crate::territory::index::TerritoryIndex,
    place: &crate::referrals::routing::Place,
    subject_type: &str,
    recorder_agency: &str,
) -> ApiResult<String> {
    use crate::referrals::routing;
    let case = routing::Case { place, subject_type, services: &[] };
    if let Some(routed) = routing::route(conn, index, case, &[])? {
        return Ok(routed.agency.id);
    }
    let area = place.admin_unit_id.as_ref().or(place.municipality_id.as_ref()).and_then(|id| index.find_id(id));
    let responsible = match area {
        Some(area) => service::responsible_agency(conn, index, &index.area(area).code)?,
        None => None,
    };
    Ok(responsible.unwrap_or_else(|| recorder_agency.to_owned()))
}

/// Raises the alert for an emergency identification, for the agency answering for the child at
/// that place.
pub fn raise_for_identification(
    conn: &mut DbConnection,
    index: &crate::territory::index::TerritoryIndex,
    job: &EmergencyJob,
    at: NaiveDateTime,
) -> ApiResult<String> {
    use crate::db::schema::{identification_links, identifications, referrals};
    let identification_id = job.identification_id.clone();
    let (recorded_by, recorder_agency, municipality_id, admin_unit_id, risk_level, subject_type): (
        String,
        String,
        Option<String>,
        Option<String>,
        String,
        String,
    ) = identifications::table
        .filter(identifications::id.eq(&identification_id))
        .select((
            identifications::recorded_by,
            identifications::agency_id,
            identifications::municipality_id,
            identifications::admin_unit_id,
            identifications::risk_level,
            identifications::subject_type,
        ))
        .get_result(conn)?;
    let place = crate::referrals::routing::Place {
        municipality_id: municipality_id.clone(),
        admin_unit_id: admin_unit_id.clone(),
    };
    let agency_id = emergency_agency(conn, index, &place, &subject_type, &recorder_agency)?;
    let area_id = admin_unit_id.or(municipality_id);
    let place_name = area_id.as_ref().and_then(|id| index.find_id(id)).map(|a| index.area(a).name.clone());
    let profile_id: Option<String> = identification_links::table
        .filter(identification_links::identification_id.eq(&identification_id))
        .select(identification_links::profile_id)
        .get_result(conn)
        .optional()?;
    let title = match &place_name {
        Some(name) => format!("Fëmijë në rrezik / Child at risk — {name}"),
        None => "Fëmijë në rrezik / Child at risk".to_owned(),
    };
    let actor = crate::audit::Actor { user_id: Some(recorded_by), device_id: None, ip: None };
    // An emergency referral about this sighting may have paged the same agency already.
    let referral_keys: Vec<String> = referrals::table
        .filter(referrals::identification_id.eq(&identification_id))
        .select(referrals::id)
        .load::<String>(conn)?
        .into_iter()
        .map(|id| format!("referral:{id}"))
        .collect();
    let paged: Option<String> = alerts::table
        .filter(alerts::open_key.eq_any(&referral_keys))
        .filter(alerts::agency_id.eq(&agency_id))
        .select(alerts::id)
        .first(conn)
        .optional()?;
    if let Some(alert_id) = paged {
        add_event(
            conn,
            &alert_id,
            at,
            "identification_linked",
            actor.user_id.as_deref(),
            None,
            json!({ "identification_id": identification_id }),
        )?;
        return Ok(alert_id);
    }
    let new = service::NewAlert {
        severity: if risk_level == "emergency" { Severity::Emergency } else { Severity::High },
        source: terren_contract::alerts::AlertSource::FieldIdentification,
        agency_id,
        area_id,
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

/// Whether anybody can be reached for an alert of this agency now: the first step that runs now,
/// else a fallback level. Used to tell a raiser at once that nobody will be paged.
pub fn anybody_reachable(
    conn: &mut DbConnection,
    agency_id: &str,
    policy: &terren_contract::alerts::EscalationPolicyBody,
    raiser: Option<&str>,
    now: DateTime<Utc>,
) -> ApiResult<bool> {
    for step in &policy.steps {
        let reach = recipients::reach(conn, agency_id, &step.targets, now)?;
        if !reach.targets.is_empty() {
            return Ok(true);
        }
    }
    if !policy.fallback.is_empty() && !recipients::reach(conn, agency_id, &policy.fallback, now)?.targets.is_empty() {
        return Ok(true);
    }
    Ok(recipients::fall_back(conn, agency_id, raiser, now)?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_keys_are_unique_per_step_target_and_kind() {
        let page = PageJob {
            alert_id: "a".into(),
            step: 1,
            round: 0,
            target: PageTarget::User { user_id: "u".into() },
            sms_only: false,
            kind: PageKind::Alert,
        };
        let sms = PageJob { sms_only: true, ..page.clone() };
        let notice = PageJob { kind: PageKind::Unreachable, ..page.clone() };
        let later = PageJob { round: 1, ..page.clone() };
        let keys = [page.dedup_key(), sms.dedup_key(), notice.dedup_key(), later.dedup_key()];
        assert_eq!(keys[0], "alert:a:step:1:round:0:page:user:u");
        let unique: std::collections::BTreeSet<&String> = keys.iter().collect();
        assert_eq!(unique.len(), 4);
    }

    #[test]
    fn an_old_sms_follow_up_becomes_an_sms_only_page() {
        let follow = SmsFollowUp { alert_id: "a".into(), user_id: "u".into(), step: 0, round: 0 };
        let page: PageJob = follow.into();
        assert!(page.sms_only);
        assert_eq!(page.target, PageTarget::User { user_id: "u".into() });
    }
}
