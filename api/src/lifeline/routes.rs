//! `POST /api/v1/sms/inbound`: the SMS gateway's inbound message webhook (Twilio's form). No
//! user signs in here: the gateway's signature proves the request came from the gateway, and the
//! message's MAC that an enrolled phone composed it.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use terren_contract::lifeline::InboundSms;

use super::inbound::{self, Answer, Context, Inbound};
use super::signature;
use crate::http::{ApiError, ApiResult, ErrorCode, with_conn};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/sms/inbound").route(web::post().to(inbound_sms)));
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(inbound_sms), components(schemas(InboundSms)))]
pub struct LifelineApi;

/// An emergency sent by SMS from a phone without data (the SMS lifeline). Called by the SMS
/// gateway, signed with `X-Twilio-Signature` over `lifeline.webhook_url` and the parameters.
/// A message composed by an enrolled phone of an active user records its emergency sighting
/// (provisional until the phone uploads it in full under the same id) and pages the duty rota of
/// the place; the answer (TwiML) sends a short confirmation back. A forged, replayed or malformed
/// message is logged and answered with an empty `<Response/>`, which sends nothing.
#[utoipa::path(
    post, path = "/api/v1/sms/inbound", tag = "lifeline", security(()),
    params(("X-Twilio-Signature" = String, Header, description = "The gateway's signature of this request")),
    request_body(content = InboundSms, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "TwiML: `<Response><Message>…</Message></Response>` confirming an accepted emergency, or `<Response/>`", content_type = "text/xml", body = String),
        (status = 400, description = "Not a form (`bad_request`)"),
        (status = 403, description = "The gateway's signature does not verify (`sms_signature_invalid`)"),
        (status = 404, description = "The SMS lifeline is not configured on this server (`sms_lifeline_off`)"),
        (status = 415, description = "Not `application/x-www-form-urlencoded` (`unsupported_media_type`)"),
    )
)]
pub async fn inbound_sms(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> ApiResult<HttpResponse> {
    let Some(lifeline) = state.config.lifeline() else {
        return Err(ApiError::new(ErrorCode::SmsLifelineOff));
    };
    let form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Err(ApiError::new(ErrorCode::UnsupportedMediaType)
            .with_detail("send application/x-www-form-urlencoded, as the SMS gateway does"));
    }
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ApiError::new(ErrorCode::BadRequest).with_detail("the body is not a form"))?;
    let presented = req.headers().get(signature::HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let token = secrecy::ExposeSecret::expose_secret(lifeline.auth_token).as_bytes();
    let signed = signature::verify(token, lifeline.webhook_url, &params, presented);
    let max_delay = chrono::Duration::minutes(i64::from(lifeline.max_delay_minutes));
    let state = state.into_inner();
    let at = state.clock.now_naive();
    if !signed {
        with_conn(&state, move |conn| inbound::refuse_unsigned(conn, at)).await?;
        return Err(ApiError::new(ErrorCode::SmsSignatureInvalid));
    }
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let Some(message_sid) = param("MessageSid").filter(|sid| !sid.is_empty()) else {
        with_conn(&state, move |conn| inbound::refuse_without_sid(conn, at)).await?;
        return Ok(twiml(&Answer::Silent));
    };
    let inbound = Inbound { message_sid, body: param("Body").unwrap_or_default() };
    let worker = state.clone();
    let answer = with_conn(&state, move |conn| {
        let index = worker.territory();
        let context = Context {
            index: &index,
            keys: &worker.lifeline_keys,
            callers: &worker.callers,
            profiles: &worker.config.profiles,
            max_delay,
            now: worker.clock.now(),
        };
        inbound::receive(conn, &context, &inbound)
    })
    .await?;
    Ok(twiml(&answer))
}

/// The TwiML answer: the confirmation to send back, or nothing.
fn twiml(answer: &Answer) -> HttpResponse {
    let body = match answer {
        Answer::Confirm(text) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>{}</Message></Response>",
            escape(text)
        ),
        Answer::Silent => "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>".to_owned(),
    };
    HttpResponse::Ok().content_type("text/xml; charset=utf-8").body(body)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
