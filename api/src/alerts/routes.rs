use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use terren_contract::alerts::{
    AgencyReadiness, Alert, AlertAction, AlertListQuery, CreateAlert, CreateWebhookEndpoint, Device, EscalationPolicy,
    MunicipalityReadiness, NotificationRules, PutEscalationPolicy, ReadinessQuery, RegisterDevice, TimelineEntry,
    WebhookEndpoint,
};
use terren_contract::problem::FieldErrorCode;
use uuid::Uuid;

use super::service::{self, Transition};
use super::timeline;
use super::{policy, reach, readiness};
use crate::access;
use crate::access::AuthUser;
use crate::db::{DbConnection, Tx};
use crate::http::idempotency::{self, IdempotencyKey, PhoneWrite, Written};
use crate::http::paths::{AgencyPath, AlertPath, DevicePath, WebhookEndpointPath};
use crate::http::problem::ErrorCode;
use crate::http::{ApiError, ApiResult, ValidJson, audited, with_conn};
use crate::ids::{AgencyId, AlertId};
use crate::state::AppState;
use crate::territory::index::TerritoryIndex;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/alerts").route(web::get().to(list_alerts)).route(web::post().to(create_alert)))
        .service(web::resource("/alerts/{id}").route(web::get().to(get_alert)))
        .service(web::resource("/alerts/{id}/timeline").route(web::get().to(alert_timeline)))
        .service(web::resource("/alerts/{id}/acknowledge").route(web::post().to(acknowledge_alert)))
        .service(web::resource("/alerts/{id}/resolve").route(web::post().to(resolve_alert)))
        .service(web::resource("/alerts/{id}/cancel").route(web::post().to(cancel_alert)))
        .service(
            web::resource("/agencies/{id}/escalation-policy")
                .route(web::get().to(get_escalation_policy))
                .route(web::put().to(put_escalation_policy)),
        )
        .service(web::resource("/devices").route(web::get().to(list_devices)).route(web::post().to(register_device)))
        .service(web::resource("/devices/{id}").route(web::delete().to(remove_device)))
        .service(
            web::resource("/me/notification-rules")
                .route(web::get().to(get_notification_rules))
                .route(web::put().to(put_notification_rules)),
        )
        .service(
            web::resource("/webhook-endpoints")
                .route(web::get().to(list_webhook_endpoints))
                .route(web::post().to(create_webhook_endpoint)),
        )
        .service(web::resource("/webhook-endpoints/{id}/deactivate").route(web::post().to(deactivate_webhook_endpoint)))
        .service(web::resource("/agencies/{id}/readiness").route(web::get().to(agency_readiness)))
        .service(web::resource("/readiness").route(web::get().to(municipality_readiness)));
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_alert,
    list_alerts,
    get_alert,
    alert_timeline,
    acknowledge_alert,
    resolve_alert,
    cancel_alert,
    get_escalation_policy,
    put_escalation_policy,
    register_device,
    list_devices,
    remove_device,
    get_notification_rules,
    put_notification_rules,
    create_webhook_endpoint,
    list_webhook_endpoints,
    deactivate_webhook_endpoint,
    agency_readiness,
    municipality_readiness
))]
pub struct AlertsApi;

/// Raise an alert (`alerts_raise`; `Idempotency-Key` required). Its first escalation step runs at
/// once. With a `dedup_key` an open alert already holds, that alert is answered (200). It goes to
/// your own agency; with an `area_code` only, to the agency responsible for that place (as a
/// referral would); naming another agency in `agency_id` needs `referrals_route_anywhere`. A
/// profile or sighting you cannot see is answered as unknown.
#[utoipa::path(
    post, path = "/api/v1/alerts", tag = "alerts",
    params(("Idempotency-Key" = String, Header, description = "A UUID the phone makes once per alert")),
    request_body = CreateAlert,
    responses(
        (status = 201, description = "Raised", body = Alert),
        (status = 200, description = "An open alert with the same dedup key", body = Alert),
        (status = 403, description = "`not_your_agency`: another agency's alert needs `referrals_route_anywhere`"),
        (status = 422, description = "`unknown_area`, `unknown_agency`, `unknown_identification`, `unknown_profile` (also for one outside your scope)"),
    )
)]
pub async fn create_alert(
    req: HttpRequest,
    user: AuthUser,
    state: web::Data<AppState>,
    key: IdempotencyKey,
    body: ValidJson<CreateAlert>,
) -> ApiResult<HttpResponse> {
    let write = RaiseAlert::new(&state, user.clone(), body.0);
    idempotency::respond(&req, &state, user.user_id, key, write).await
}

/// Raising an alert from a phone.
pub(crate) struct RaiseAlert {
    request: CreateAlert,
    user: AuthUser,
    index: Arc<TerritoryIndex>,
    at: NaiveDateTime,
}

impl RaiseAlert {
    pub(crate) const PATH: &str = "/api/v1/alerts";

    pub(crate) fn new(state: &AppState, user: AuthUser, request: CreateAlert) -> RaiseAlert {
        RaiseAlert { request, user, index: state.territory(), at: state.clock.now_naive() }
    }
}

/// What a raised alert keeps for repeats.
#[derive(Serialize, Deserialize)]
pub(crate) struct KeptAlert {
    alert_id: Uuid,
}

impl PhoneWrite for RaiseAlert {
    type Request = CreateAlert;
    type Prepared = ();
    type Answer = Alert;
    type Kept = KeptAlert;

    fn request(&self) -> &CreateAlert {
        &self.request
    }

    fn prepare(&self, _: &mut DbConnection) -> ApiResult<()> {
        Ok(())
    }

    fn apply(&self, tx: &mut Tx<'_>, (): ()) -> ApiResult<Written<Self>> {
        check_subjects(tx, &self.index, &self.user, &self.request)?;
        let (alert, created) = service::create(tx, &self.index, &self.user, &self.request, self.at)?;
        Ok(Written {
            status: if created { StatusCode::CREATED } else { StatusCode::OK },
            kept: KeptAlert { alert_id: alert.id },
            answer: alert,
        })
    }

    fn replay(&self, tx: &mut Tx<'_>, kept: KeptAlert) -> ApiResult<Alert> {
        service::get(tx, &self.index, &self.user, &AlertId::from(kept.alert_id))
    }
}

/// What an alert names must exist for the raiser: a profile or sighting outside their scope is
/// answered like an unknown one (422), so that its existence is not revealed, and nothing is
/// written. An explicit agency is the raiser's own unless they may route anywhere.
fn check_subjects(
    conn: &mut crate::db::DbConnection,
    index: &crate::territory::index::TerritoryIndex,
    user: &AuthUser,
    request: &CreateAlert,
) -> ApiResult<()> {
    if let Some(agency_id) = request.agency_id {
        access::alerts::may_raise_alert_for(user, &AgencyId::from(agency_id))?;
    }
    if let Some(id) = request.profile_id {
        match crate::access::profiles::find_visible(conn, index, user, &id.to_string()) {
            Ok(_) => {}
            Err(e) if e.code == ErrorCode::NotFound => {
                return Err(ApiError::field("profile_id", FieldErrorCode::UnknownProfile, "no such child profile"));
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(id) = request.identification_id {
        match crate::access::identifications::find_in_scope(conn, index, user, &id.to_string()) {
            Ok(_) => {}
            Err(e) if e.code == ErrorCode::NotFound => {
                return Err(ApiError::field(
                    "identification_id",
                    FieldErrorCode::UnknownIdentification,
                    "no such identification",
                ));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Alerts of your agency, that you raised, or that you were paged for; newest first.
#[utoipa::path(
    get, path = "/api/v1/alerts", tag = "alerts",
    params(AlertListQuery),
    responses((status = 200, description = "Alerts", body = Vec<Alert>, headers(
        ("X-Next-Cursor" = String, description = "Pass as `cursor` for the next page; absent on the last one")
    )))
)]
pub async fn list_alerts(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<AlertListQuery>,
) -> ApiResult<HttpResponse> {
    let index = state.territory();
    let page = with_conn(&state, move |conn| service::list(conn, &index, &user, &query)).await?;
    let mut response = HttpResponse::Ok();
    if let Some(cursor) = page.next_cursor {
        response.insert_header((NEXT_CURSOR_HEADER, cursor));
    }
    Ok(response.json(page.items))
}

/// The alert list answers a bare array, as it did before lists paged by cursor; its next cursor
/// comes in this header.
pub const NEXT_CURSOR_HEADER: &str = "X-Next-Cursor";

#[utoipa::path(
    get, path = "/api/v1/alerts/{id}", tag = "alerts",
    params(AlertPath),
    responses(
        (status = 200, description = "The alert", body = Alert),
        (status = 404, description = "No such alert, or not yours to see"),
    )
)]
pub async fn get_alert(user: AuthUser, state: web::Data<AppState>, id: web::Path<Uuid>) -> ApiResult<web::Json<Alert>> {
    let (index, id) = (state.territory(), AlertId::from(id.into_inner()));
    Ok(web::Json(with_conn(&state, move |conn| service::get(conn, &index, &user, &id)).await?))
}

/// Every state change, escalation step and message sent (with the provider's answer), in order.
#[utoipa::path(
    get, path = "/api/v1/alerts/{id}/timeline", tag = "alerts",
    params(AlertPath),
    responses((status = 200, description = "The timeline", body = Vec<TimelineEntry>))
)]
pub async fn alert_timeline(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Vec<TimelineEntry>>> {
    let id = AlertId::from(id.into_inner());
    Ok(web::Json(with_conn(&state, move |conn| timeline::timeline(conn, &user, &id)).await?))
}

async fn change(
    state: web::Data<AppState>,
    user: AuthUser,
    id: Uuid,
    change: Transition,
    body: AlertAction,
) -> ApiResult<web::Json<Alert>> {
    let id = AlertId::from(id);
    Ok(web::Json(
        audited(&state, move |conn, index, at| service::transition(conn, index, &user, &id, change, &body, at)).await?,
    ))
}

/// "I'm on it": stops the escalation. Only people of the alert's agency answer it (403
/// `not_your_agency` for the raiser or someone paged from elsewhere). Someone else's
/// acknowledgement is 409 `alert_already_acknowledged`; a resolved or cancelled alert is 409
/// `alert_closed`.
#[utoipa::path(
    post, path = "/api/v1/alerts/{id}/acknowledge", tag = "alerts",
    params(AlertPath),
    request_body = AlertAction,
    responses(
        (status = 200, description = "Acknowledged (also when you had already)", body = Alert),
        (status = 403, description = "`not_your_agency`"),
        (status = 409, description = "`alert_already_acknowledged` or `alert_closed`"),
    )
)]
pub async fn acknowledge_alert(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<AlertAction>,
) -> ApiResult<web::Json<Alert>> {
    change(state, user, id.into_inner(), Transition::Acknowledge, body.0).await
}

/// The situation is dealt with (people of the alert's agency; others 403 `not_your_agency`).
#[utoipa::path(
    post, path = "/api/v1/alerts/{id}/resolve", tag = "alerts",
    params(AlertPath),
    request_body = AlertAction,
    responses(
        (status = 200, description = "Resolved", body = Alert),
        (status = 403, description = "`not_your_agency`"),
        (status = 409, description = "`alert_closed`"),
    )
)]
pub async fn resolve_alert(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<AlertAction>,
) -> ApiResult<web::Json<Alert>> {
    change(state, user, id.into_inner(), Transition::Resolve, body.0).await
}

/// Raised by mistake (whoever raised it, or a coordinator of its agency).
#[utoipa::path(
    post, path = "/api/v1/alerts/{id}/cancel", tag = "alerts",
    params(AlertPath),
    request_body = AlertAction,
    responses(
        (status = 200, description = "Cancelled", body = Alert),
        (status = 409, description = "`alert_closed`"),
    )
)]
pub async fn cancel_alert(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<AlertAction>,
) -> ApiResult<web::Json<Alert>> {
    change(state, user, id.into_inner(), Transition::Cancel, body.0).await
}

#[utoipa::path(
    get, path = "/api/v1/agencies/{id}/escalation-policy", tag = "alerts",
    params(AgencyPath),
    responses(
        (status = 200, description = "The policy", body = EscalationPolicy),
        (status = 404, description = "The agency uses the default policy"),
    )
)]
pub async fn get_escalation_policy(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<EscalationPolicy>> {
    let id = AgencyId::from(id.into_inner());
    Ok(web::Json(with_conn(&state, move |conn| policy::get(conn, &user, &id)).await?))
}

/// Set your agency's escalation policy (`planning_manage`). Alerts already raised keep theirs.
#[utoipa::path(
    put, path = "/api/v1/agencies/{id}/escalation-policy", tag = "alerts",
    params(AgencyPath),
    request_body = PutEscalationPolicy,
    responses(
        (status = 200, description = "Saved", body = EscalationPolicy),
        (status = 412, description = "Changed since you read it; the body is the current policy", body = EscalationPolicy),
        (status = 422, description = "`unreachable_step`, `unknown_schedule`, `unknown_user`, `unknown_webhook`, `invalid_phone`, `invalid_time`"),
    )
)]
pub async fn put_escalation_policy(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<PutEscalationPolicy>,
) -> ApiResult<web::Json<EscalationPolicy>> {
    let id = AgencyId::from(id.into_inner());
    Ok(web::Json(audited(&state, move |conn, _, at| policy::put(conn, &user, &id, &body.0, at)).await?))
}

/// Register this device's push token (repeating it is harmless).
#[utoipa::path(
    post, path = "/api/v1/devices", tag = "alerts",
    request_body = RegisterDevice,
    responses((status = 201, description = "Registered", body = Device), (status = 200, description = "Updated", body = Device))
)]
pub async fn register_device(
    user: AuthUser,
    state: web::Data<AppState>,
    body: ValidJson<RegisterDevice>,
) -> ApiResult<HttpResponse> {
    let (device, created) =
        audited(&state, move |conn, _, at| reach::register_device(conn, &user, &body.0, at)).await?;
    Ok(if created { HttpResponse::Created() } else { HttpResponse::Ok() }.json(device))
}

#[utoipa::path(
    get, path = "/api/v1/devices", tag = "alerts",
    responses((status = 200, description = "Your devices", body = Vec<Device>))
)]
pub async fn list_devices(user: AuthUser, state: web::Data<AppState>) -> ApiResult<web::Json<Vec<Device>>> {
    Ok(web::Json(with_conn(&state, move |conn| reach::list_devices(conn, &user)).await?))
}

#[utoipa::path(
    delete, path = "/api/v1/devices/{id}", tag = "alerts",
    params(DevicePath),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not your device"))
)]
pub async fn remove_device(user: AuthUser, state: web::Data<AppState>, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let id = id.into_inner().to_string();
    audited(&state, move |conn, _, _| reach::remove_device(conn, &user, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    get, path = "/api/v1/me/notification-rules", tag = "alerts",
    responses((status = 200, description = "How you are reached", body = NotificationRules))
)]
pub async fn get_notification_rules(
    user: AuthUser,
    state: web::Data<AppState>,
) -> ApiResult<web::Json<NotificationRules>> {
    Ok(web::Json(with_conn(&state, move |conn| reach::rules(conn, &user)).await?))
}

#[utoipa::path(
    put, path = "/api/v1/me/notification-rules", tag = "alerts",
    request_body = NotificationRules,
    responses(
        (status = 200, description = "Saved", body = NotificationRules),
        (status = 422, description = "`invalid_phone`, or `unreachable` (no push and no phone)"),
    )
)]
pub async fn put_notification_rules(
    user: AuthUser,
    state: web::Data<AppState>,
    body: ValidJson<NotificationRules>,
) -> ApiResult<web::Json<NotificationRules>> {
    Ok(web::Json(audited(&state, move |conn, _, at| reach::put_rules(conn, &user, &body.0, at)).await?))
}

/// A partner system of your agency that receives alerts as signed webhooks (`planning_manage`).
/// The signing secret is shown once, in this answer.
#[utoipa::path(
    post, path = "/api/v1/webhook-endpoints", tag = "alerts",
    request_body = CreateWebhookEndpoint,
    responses((status = 201, description = "Created", body = WebhookEndpoint))
)]
pub async fn create_webhook_endpoint(
    user: AuthUser,
    state: web::Data<AppState>,
    body: ValidJson<CreateWebhookEndpoint>,
) -> ApiResult<HttpResponse> {
    let created = audited(&state, move |conn, _, at| reach::create_endpoint(conn, &user, &body.0, at)).await?;
    Ok(HttpResponse::Created().json(created))
}

#[utoipa::path(
    get, path = "/api/v1/webhook-endpoints", tag = "alerts",
    responses((status = 200, description = "Your agency's endpoints", body = Vec<WebhookEndpoint>))
)]
pub async fn list_webhook_endpoints(
    user: AuthUser,
    state: web::Data<AppState>,
) -> ApiResult<web::Json<Vec<WebhookEndpoint>>> {
    Ok(web::Json(with_conn(&state, move |conn| reach::list_endpoints(conn, &user)).await?))
}

#[utoipa::path(
    post, path = "/api/v1/webhook-endpoints/{id}/deactivate", tag = "alerts",
    params(WebhookEndpointPath),
    responses((status = 200, description = "Deactivated", body = WebhookEndpoint))
)]
pub async fn deactivate_webhook_endpoint(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<WebhookEndpoint>> {
    let id = id.into_inner().to_string();
    Ok(web::Json(audited(&state, move |conn, _, at| reach::deactivate_endpoint(conn, &user, &id, at)).await?))
}

/// Whether an emergency raised now would reach somebody of the agency, and what is missing
/// (for the agency's coordinators and admins, and system admins).
#[utoipa::path(
    get, path = "/api/v1/agencies/{id}/readiness", tag = "alerts",
    params(AgencyPath),
    responses(
        (status = 200, description = "The agency's readiness", body = AgencyReadiness),
        (status = 403, description = "Not a coordinator or admin of the agency"),
        (status = 404, description = "No such agency"),
    )
)]
pub async fn agency_readiness(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<AgencyReadiness>> {
    let (index, now, id) = (state.territory(), state.clock.now(), AgencyId::from(id.into_inner()));
    Ok(web::Json(with_conn(&state, move |conn| readiness::agency(conn, &index, &user, &id, now)).await?))
}

/// The agencies a municipality's emergencies are routed to and how ready each is, with the
/// places routing finds no agency for (for coordinators and admins serving it, and system admins).
#[utoipa::path(
    get, path = "/api/v1/readiness", tag = "alerts",
    params(ReadinessQuery),
    responses(
        (status = 200, description = "The municipality's readiness", body = MunicipalityReadiness),
        (status = 403, description = "Not serving the municipality"),
        (status = 422, description = "`unknown_area`"),
    )
)]
pub async fn municipality_readiness(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<ReadinessQuery>,
) -> ApiResult<web::Json<MunicipalityReadiness>> {
    let (index, now, code) = (state.territory(), state.clock.now(), query.into_inner().municipality);
    Ok(web::Json(with_conn(&state, move |conn| readiness::municipality(conn, &index, &user, &code, now)).await?))
}
