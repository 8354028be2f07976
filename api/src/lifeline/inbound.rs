//! An inbound SMS whose gateway signature verified: read as a lifeline message, checked against
//! the session that composed it, and recorded as that person's emergency sighting, which pages
//! the duty rota of the place as an online emergency does. Every message is logged with its
//! outcome; a refused one changes nothing else and is answered with silence.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use terren_contract::identifications::{CreateIdentification, GeoFix};
use terren_contract::lifeline::{self, LifelineMessage};
use uuid::Uuid;

use super::store::{self, InboundRow, outcomes};
use crate::access::AuthUser;
use crate::access::caller_cache::CallerCache;
use crate::accounts::model;
use crate::audit;
use crate::config::ProfilesConfig;
use crate::db::{PooledConn, Tx, backend};
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::identifications::{create, store::find_row};
use crate::territory::index::TerritoryIndex;

use super::keys::LifelineKeys;

/// A phone's clock may run this far ahead of the server's.
const MAX_CLOCK_AHEAD: Duration = Duration::minutes(15);

/// An inbound message as the gateway delivered it.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub message_sid: String,
    pub body: String,
}

/// What the lifeline needs from the service to receive a message.
pub struct Context<'a> {
    pub index: &'a TerritoryIndex,
    pub keys: &'a LifelineKeys,
    pub callers: &'a CallerCache,
    pub profiles: &'a ProfilesConfig,
    pub max_delay: Duration,
    pub now: DateTime<Utc>,
}

/// What to answer the gateway: a confirmation to send back, or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Confirm(String),
    Silent,
}

impl Answer {
    fn of(row: &InboundRow) -> Answer {
        row.reply.clone().map_or(Answer::Silent, Answer::Confirm)
    }
}

/// Why a message is refused, as logged.
struct Refusal {
    reason: &'static str,
    session_id: Option<String>,
    counter: Option<i64>,
}

impl Refusal {
    fn new(reason: &'static str) -> Refusal {
        Refusal { reason, session_id: None, counter: None }
    }

    fn of(reason: &'static str, message: &LifelineMessage) -> Refusal {
        Refusal { reason, session_id: Some(message.session_id.to_string()), counter: Some(i64::from(message.counter)) }
    }
}

/// Receives one message. A message the gateway delivers again under the same id gets the first
/// answer again and changes nothing.
pub fn receive(conn: &mut PooledConn, context: &Context<'_>, inbound: &Inbound) -> ApiResult<Answer> {
    if let Some(seen) = store::find_by_sid(conn, &inbound.message_sid)? {
        return Ok(Answer::of(&seen));
    }
    let at = crate::clock::truncate(context.now);
    let checked = match check(conn, context, inbound) {
        Ok(checked) => checked,
        Err(refusal) => return refuse(conn, Some(&inbound.message_sid), at, refusal),
    };
    let Checked { message, user, prepared } = checked;
    let logged = backend::write_transaction(conn, |tx| record(tx, context, inbound, &message, &user, prepared, at));
    match logged {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(refusal)) => refuse(conn, Some(&inbound.message_sid), at, refusal),
        // The same message delivered twice at once: the other delivery logged it first.
        Err(error) if error.code == ErrorCode::AlreadyExists => match store::find_by_sid(conn, &inbound.message_sid)? {
            Some(seen) => Ok(Answer::of(&seen)),
            None => Err(error),
        },
        Err(error) => Err(error),
    }
}

/// A message that passed every check but the ones made in the write transaction.
struct Checked {
    message: LifelineMessage,
    user: AuthUser,
    prepared: create::Prepared,
}

/// The checks that only read: form, MAC, session, user, time window, counter, and the sighting's
/// own rules (its preparation, outside the write transaction as for any create).
fn check(conn: &mut PooledConn, context: &Context<'_>, inbound: &Inbound) -> Result<Checked, Refusal> {
    let parsed = lifeline::parse(&inbound.body).map_err(|e| Refusal::new(e.reason()))?;
    let message = parsed.message.clone();
    let session_id = message.session_id.to_string();
    let found = model::find_session_with_user(conn, &session_id).map_err(|_| Refusal::new("lookup_failed"))?;
    // A session nobody knows is refused as a bad MAC: nothing tells a forger which ids exist.
    let Some((session, user, agency, agency_version)) = found else { return Err(Refusal::new("bad_mac")) };
    if !context.keys.candidates(&session_id).iter().any(|secret| parsed.verify(secret)) {
        return Err(Refusal::new("bad_mac"));
    }
    let now = context.now.naive_utc();
    if session.revoked_at.is_some() || session.expires_at <= now {
        return Err(Refusal::of("session_ended", &message));
    }
    if user.disabled_at.is_some() {
        return Err(Refusal::of("user_disabled", &message));
    }
    if message.observed_at < context.now - context.max_delay {
        return Err(Refusal::of("too_old", &message));
    }
    if message.observed_at > context.now + MAX_CLOCK_AHEAD {
        return Err(Refusal::of("in_future", &message));
    }
    let last = store::last_counter(conn, &session_id).map_err(|_| Refusal::of("lookup_failed", &message))?;
    if last.is_some_and(|last| last >= i64::from(message.counter)) {
        return Err(Refusal::of("replayed_counter", &message));
    }
    let user = AuthUser::of_session(conn, context.callers, session, user, agency, agency_version, "sms".to_owned())
        .map_err(|_| Refusal::of("lookup_failed", &message))?;
    let request = sighting(&message);
    let prepared = create::prepare(conn, context.index, &user, context.profiles, &request, context.now).map_err(|e| {
        let fields: Vec<String> = e.errors.iter().map(|f| format!("{}:{}", f.field, f.code)).collect();
        tracing::warn!(code = e.code.as_str(), fields = ?fields, "lifeline SMS holds a sighting that cannot be recorded");
        Refusal::of("invalid_sighting", &message)
    })?;
    Ok(Checked { message, user, prepared: prepared.provisional() })
}

/// The emergency sighting an SMS stands for: its coded facts, the rest left for the upload.
pub fn sighting(message: &LifelineMessage) -> CreateIdentification {
    CreateIdentification {
        id: message.sighting_id,
        observed_at: message.observed_at,
        location: message.point.map(|point| GeoFix {
            lat: point.lat,
            lon: point.lon,
            accuracy_m: f64::from(point.accuracy_m),
            altitude_m: None,
            fix_time: None,
            source: point.source.code().to_owned(),
            mock_location: false,
        }),
        location_not_collected_reason: message.point.is_none().then(|| "no_fix".to_owned()),
        place_description: None,
        subject_type: message.subject.code().to_owned(),
        estimated_age: None,
        birth_year: None,
        sex: message.sex.code().to_owned(),
        nationality: None,
        languages: Vec::new(),
        ethnicity: None,
        residence_origin: None,
        street_situations: Vec::new(),
        accompanied_by: None,
        risk_factors: Vec::new(),
        exploitation_indicators: Vec::new(),
        visible_conditions: message.conditions.iter().map(|c| c.code().to_owned()).collect(),
        immediate_needs: Vec::new(),
        actions_taken: Vec::new(),
        consent_given_by: None,
        risk_level: message.risk.code().to_owned(),
        emergency: true,
        notes: None,
        name_as_told: None,
        round_id: None,
    }
}

/// In one write transaction: takes the counter, records the sighting (which queues its page),
/// audits and logs. A refusal found here (a counter another message took meanwhile, an id that
/// holds another person's sighting) undoes nothing because nothing was written yet.
fn record(
    tx: &mut Tx<'_>,
    context: &Context<'_>,
    inbound: &Inbound,
    message: &LifelineMessage,
    user: &AuthUser,
    prepared: create::Prepared,
    at: NaiveDateTime,
) -> ApiResult<Result<Answer, Refusal>> {
    let counter = i64::from(message.counter);
    if !store::advance_counter(tx, &user.session_id, counter, at)? {
        return Ok(Err(Refusal::of("replayed_counter", message)));
    }
    let id = message.sighting_id.to_string();
    let outcome = match find_row(tx, &id)? {
        // Sent again (no confirmation came), or the data upload got there first.
        Some(existing) if existing.recorded_by == user.user_id => outcomes::ALREADY_RECORDED,
        Some(_) => return Ok(Err(Refusal::of("id_taken", message))),
        None => {
            create::create(tx, context.index, user, prepared)?;
            outcomes::ACCEPTED
        }
    };
    let reply = confirmation(message);
    audit::record(
        tx,
        &user.actor(),
        at,
        "lifeline.sms_received",
        "identification",
        &id,
        serde_json::json!({ "outcome": outcome, "session_id": user.session_id, "counter": counter, "message_sid": inbound.message_sid }),
    )?;
    store::log(
        tx,
        &InboundRow {
            id: Uuid::now_v7().to_string(),
            message_sid: Some(inbound.message_sid.clone()),
            received_at: at,
            session_id: Some(user.session_id.clone()),
            counter: Some(counter),
            identification_id: Some(id),
            outcome: outcome.to_owned(),
            reason: None,
            reply: Some(reply.clone()),
        },
    )?;
    tracing::info!(outcome, counter, "lifeline SMS recorded an emergency");
    Ok(Ok(Answer::Confirm(reply)))
}

/// The SMS back: Albanian first, then English, in the GSM-7 alphabet (so without ë), naming the
/// first characters of the sighting's field so the phone knows which emergency it confirms.
pub fn confirmation(message: &LifelineMessage) -> String {
    use base64::Engine;
    let field = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(message.sighting_id.as_bytes());
    let reference: String = field.chars().take(8).collect();
    format!(
        "Terren: emergjenca u mor, ekipi i turnit po njoftohet. Ref {reference}. EN: emergency received, the duty team is being paged."
    )
}

/// Logs a refused message (its own transaction: nothing else is written) and answers silence.
/// `message_sid` is absent when the gateway's signature did not verify.
fn refuse(conn: &mut PooledConn, message_sid: Option<&str>, at: NaiveDateTime, refusal: Refusal) -> ApiResult<Answer> {
    tracing::warn!(reason = refusal.reason, counter = refusal.counter, "lifeline SMS refused");
    let row = InboundRow {
        id: Uuid::now_v7().to_string(),
        message_sid: message_sid.map(str::to_owned),
        received_at: at,
        session_id: refusal.session_id,
        counter: refusal.counter,
        identification_id: None,
        outcome: outcomes::REFUSED.to_owned(),
        reason: Some(refusal.reason.to_owned()),
        reply: None,
    };
    let logged = backend::write_transaction(conn, |tx| store::log(tx, &row));
    match logged {
        Ok(()) => Ok(Answer::Silent),
        // Delivered twice at once: the other delivery logged it.
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Ok(Answer::Silent)
        }
        Err(error) => Err(ApiError::from(error)),
    }
}

/// Logs a request whose gateway signature did not verify.
pub fn refuse_unsigned(conn: &mut PooledConn, at: NaiveDateTime) -> ApiResult<()> {
    refuse(conn, None, at, Refusal::new("bad_signature")).map(|_| ())
}

/// Logs a signed request that is not an inbound message (no `MessageSid`).
pub fn refuse_without_sid(conn: &mut PooledConn, at: NaiveDateTime) -> ApiResult<()> {
    refuse(conn, None, at, Refusal::new("no_message_sid")).map(|_| ())
}
