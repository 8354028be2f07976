//! Page jobs: one target of one step, sent to until delivered or the alert no longer waits. Each
//! send is written as an attempt before the provider is called and updated with its answer.

use std::time::Duration as StdDuration;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use terren_contract::alerts::{AlertEventKind, AlertState, NotificationChannel, NotificationOutcome, Severity};
use uuid::Uuid;

use super::escalation::{StepJob, log_missed};
use super::recipients::{self, PageTarget, Recipient};
use super::service::{self, AlertRow, add_event};
use crate::db::schema::{devices, notification_attempts, notification_rules, users};
use crate::db::{DbConnection, Tx, backend};
use crate::http::{ApiError, ApiResult, with_db};
use crate::ids::AlertId;
use crate::notify::{Address, Delivery, Message, Outcome};
use crate::outbox::{self, JobPayload, kinds};
use crate::state::AppState;
use crate::vocabularies::{parse_wire_code, wire_code};

/// A page not delivered within this time after its step is given up (and said so on the timeline).
const PAGE_RETRY_HOURS: i64 = 12;

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
    pub alert_id: AlertId,
    pub step: i32,
    pub round: i32,
    pub target: PageTarget,
    /// Only by SMS (the reminder after an unanswered push).
    #[serde(default)]
    pub sms_only: bool,
    #[serde(default)]
    pub kind: PageKind,
}

impl JobPayload for PageJob {
    const KIND: &'static str = kinds::ALERT_PAGE;

    fn dedup_key(&self) -> String {
        let step = StepJob { alert_id: self.alert_id.clone(), step: self.step, round: self.round }.dedup_key();
        match (self.kind, self.sms_only) {
            (PageKind::Unreachable, _) => format!("{step}:unreachable:{}", self.target.key()),
            (PageKind::Alert, true) => format!("{step}:sms:{}", self.target.key()),
            (PageKind::Alert, false) => format!("{step}:page:{}", self.target.key()),
        }
    }
}

impl PageJob {
    pub(super) fn enqueue(&self, tx: &mut Tx<'_>, due: NaiveDateTime, now: NaiveDateTime) -> QueryResult<bool> {
        outbox::enqueue_job(tx, self, due, now)
    }
}

/// A reminder by SMS to one person who was paged by push and has not acknowledged, as queued by
/// earlier versions (now an SMS-only [`PageJob`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsFollowUp {
    pub alert_id: AlertId,
    pub user_id: String,
    pub step: i32,
    pub round: i32,
}

impl JobPayload for SmsFollowUp {
    const KIND: &'static str = kinds::ALERT_SMS_FOLLOWUP;

    /// The key earlier versions queued it under.
    fn dedup_key(&self) -> String {
        let step = StepJob { alert_id: self.alert_id.clone(), step: self.step, round: self.round }.dedup_key();
        format!("{step}sms:{}", self.user_id)
    }
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

fn severity_label(severity: Severity) -> &'static str {
    match severity {
        Severity::Emergency => "EMERGJENCË / EMERGENCY",
        Severity::High => "I LARTË / HIGH",
        Severity::Normal => "NJOFTIM / NOTICE",
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
    let severity = parse_wire_code(&alert.severity)?;
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
            (format!("{}: {}", severity_label(severity), alert.title), body)
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
        alert_id: alert.id.clone().into(),
        severity,
        title,
        body,
        // Without `http.public_url` there is no address a phone could open.
        link: (!public_url.is_empty())
            .then(|| format!("{}/api/v1/alerts/{}", public_url.trim_end_matches('/'), alert.id)),
    })
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
    tx: &mut Tx<'_>,
    job_id: &str,
    page: &PageJob,
    now: NaiveDateTime,
    public_url: &str,
) -> ApiResult<Option<PagePlan>> {
    let alert = service::load(tx, &page.alert_id)?;
    // The raiser is told that nobody was reached whatever happens to the alert meanwhile.
    if page.kind == PageKind::Alert && alert.state != wire_code(AlertState::Triggered) {
        return Ok(None);
    }
    let details = json!({ "page_job_id": job_id, "step": page.step, "round": page.round });
    let created: NaiveDateTime = crate::db::schema::outbox_jobs::table
        .filter(crate::db::schema::outbox_jobs::id.eq(job_id))
        .select(crate::db::schema::outbox_jobs::created_at)
        .get_result(tx.conn())?;
    let mut recipient = match recipients::resolve(tx, &page.target)? {
        Ok(recipient) => recipient,
        Err(missed) => {
            log_missed(tx, &alert.id, now, &details, &[missed])?;
            return Ok(None);
        }
    };
    if now > created + Duration::hours(PAGE_RETRY_HOURS) {
        let note = format!(
            "{}: u hoq dorë pas {PAGE_RETRY_HOURS} orësh / given up after {PAGE_RETRY_HOURS} hours",
            recipient.label
        );
        add_event(tx, &alert.id, now, AlertEventKind::StepSkipped, None, Some(&note), details)?;
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
        .get_result(tx.conn())?;
    let sent_before: i64 =
        notification_attempts::table.filter(notification_attempts::job_id.eq(job_id)).count().get_result(tx.conn())?;
    // A send the process did not live to finish: it may or may not have reached the provider.
    diesel::update(
        notification_attempts::table
            .filter(notification_attempts::job_id.eq(job_id))
            .filter(notification_attempts::outcome.is_null()),
    )
    .set((
        notification_attempts::outcome.eq(NotificationOutcome::Interrupted.as_str()),
        notification_attempts::error.eq("the process stopped during the send; it may have been delivered"),
    ))
    .execute(tx.conn())?;
    let message = message(tx, &alert, page.kind, job_id, public_url)?;
    Ok(Some(PagePlan { recipient, message, delivered: delivered > 0, resend: sent_before > 0 }))
}

/// Runs a page job: sends to the target's addresses in order until one is delivered. Not
/// delivered while some address may still work: an error, so the job is retried with backoff.
pub async fn run_page(state: &AppState, job_id: &str, page: PageJob) -> ApiResult<()> {
    let public_url = state.config.http.public_url.clone().unwrap_or_default();
    let (id, planned, now) = (job_id.to_owned(), page.clone(), state.clock.now_naive());
    let plan = with_db(&state.db, move |conn| {
        backend::write_transaction(conn, |tx| plan_page(tx, &id, &planned, now, &public_url))
    })
    .await?;
    let Some(PagePlan { recipient, message, delivered, resend }) = plan else { return Ok(()) };
    if delivered {
        return Ok(());
    }
    if resend && let Some(first) = recipient.addresses.first() {
        state.metrics.notification_retried(channel_of(state, first).as_str());
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
                        backend::write_transaction(conn, |tx| {
                            Ok(follow.enqueue(tx, at + Duration::minutes(i64::from(minutes)), at)?)
                        })
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
    with_db(&state.db, move |conn| {
        backend::write_transaction(conn, |tx| {
            Ok(add_event(tx, &alert_id, at, AlertEventKind::StepSkipped, None, Some(&note), details)?)
        })
    })
    .await
}

/// The channel a send is recorded under: `dry_run` when nothing leaves the process.
fn channel_of(state: &AppState, address: &Address) -> NotificationChannel {
    if state.notifier.is_dry_run() { NotificationChannel::DryRun } else { address.channel() }
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
    let channel = channel_of(state, address);
    let hint = if state.notifier.is_dry_run() {
        format!("{} {}", address.channel().as_str(), address.masked())
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
            channel,
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
        state.metrics.notification_attempt(channel.as_str(), attempt.outcome.as_str());
        if attempt.try_number > 1 {
            state.metrics.notification_retried(channel.as_str());
        }
    }
    let finished = state.clock.now_naive();
    let summary = summary(&delivery);
    let dead_token = match (address, delivery.outcome) {
        (Address::Push { token }, Outcome::InvalidAddress) => Some(token.clone()),
        _ => None,
    };
    with_db(&state.db, move |conn| {
        backend::write_transaction(conn, |tx| {
            end_attempt(tx, &row_id, &summary, finished)?;
            if let Some(token) = dead_token {
                diesel::update(
                    devices::table.filter(devices::push_token.eq(token)).filter(devices::disabled_at.is_null()),
                )
                .set((
                    devices::disabled_at.eq(finished),
                    devices::disabled_reason.eq("push service: token no longer valid"),
                ))
                .execute(tx.conn())?;
            }
            Ok(())
        })
    })
    .await?;
    Ok(delivery)
}

struct NewAttempt {
    alert_id: AlertId,
    job_id: String,
    step: i32,
    round: i32,
    user_id: Option<String>,
    label: String,
    channel: NotificationChannel,
    hint: String,
}

struct Summary {
    tries: i32,
    http_status: Option<i32>,
    provider_reference: Option<String>,
    response: Option<String>,
    error: Option<String>,
    outcome: NotificationOutcome,
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
        outcome: delivery.outcome.into(),
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
            notification_attempts::channel.eq(attempt.channel.as_str()),
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
            notification_attempts::outcome.eq(summary.outcome.as_str()),
        ))
        .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::testing::assert_stored_form;

    #[test]
    fn page_keys_are_unique_per_step_target_and_kind() {
        let page = PageJob {
            alert_id: AlertId::from_stored("a"),
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
        let follow = SmsFollowUp { alert_id: AlertId::from_stored("a"), user_id: "u".into(), step: 0, round: 0 };
        let page: PageJob = follow.into();
        assert!(page.sms_only);
        assert_eq!(page.target, PageTarget::User { user_id: "u".into() });
    }

    #[test]
    fn step_page_and_sms_follow_up_jobs_keep_their_stored_form() {
        assert_stored_form(
            r#"{"alert_id":"a1","round":1,"step":2}"#,
            &StepJob { alert_id: AlertId::from_stored("a1"), step: 2, round: 1 },
        );
        assert_stored_form(
            r#"{"alert_id":"a1","kind":"alert","round":0,"sms_only":false,"step":1,"target":{"kind":"user","user_id":"u1"}}"#,
            &PageJob {
                alert_id: AlertId::from_stored("a1"),
                step: 1,
                round: 0,
                target: PageTarget::User { user_id: "u1".into() },
                sms_only: false,
                kind: PageKind::Alert,
            },
        );
        assert_stored_form(
            r#"{"alert_id":"a1","kind":"unreachable","round":2,"sms_only":true,"step":0,"target":{"kind":"contact","name":"Arta","phone":"+355691234567"}}"#,
            &PageJob {
                alert_id: AlertId::from_stored("a1"),
                step: 0,
                round: 2,
                target: PageTarget::Contact { name: "Arta".into(), phone: "+355691234567".into() },
                sms_only: true,
                kind: PageKind::Unreachable,
            },
        );
        assert_stored_form(
            r#"{"alert_id":"a1","kind":"alert","round":0,"sms_only":false,"step":0,"target":{"kind":"webhook","webhook_id":"w1"}}"#,
            &PageJob {
                alert_id: AlertId::from_stored("a1"),
                step: 0,
                round: 0,
                target: PageTarget::Webhook { webhook_id: "w1".into() },
                sms_only: false,
                kind: PageKind::Alert,
            },
        );
        assert_stored_form(
            r#"{"alert_id":"a1","round":0,"step":1,"user_id":"u1"}"#,
            &SmsFollowUp { alert_id: AlertId::from_stored("a1"), user_id: "u1".into(), step: 1, round: 0 },
        );
    }

    #[test]
    fn page_jobs_queued_before_sms_only_and_kind_existed_still_decode() {
        let page: PageJob =
            serde_json::from_str(r#"{"alert_id":"a1","round":0,"step":1,"target":{"kind":"user","user_id":"u1"}}"#)
                .unwrap();
        assert_eq!((page.sms_only, page.kind), (false, PageKind::Alert));
    }

    #[test]
    fn an_old_sms_follow_up_keeps_the_key_it_was_queued_under() {
        let follow = SmsFollowUp { alert_id: AlertId::from_stored("a"), user_id: "u".into(), step: 0, round: 1 };
        assert_eq!(follow.dedup_key(), "alert:a:step:0:round:1sms:u");
    }
}
