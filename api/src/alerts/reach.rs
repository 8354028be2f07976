//! How people and partner systems are reached: push tokens, notification rules, webhooks.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;
use terren_contract::Permission;
use terren_contract::alerts::{CreateWebhookEndpoint, Device, NotificationRules, RegisterDevice, WebhookEndpoint};
use terren_contract::problem::FieldErrorCode;
use uuid::Uuid;

use super::policy::is_phone;
use crate::access::AuthUser;
use crate::audit;
use crate::clock::to_utc;
use crate::db::schema::{devices, notification_rules, users, webhook_endpoints};
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult};
use crate::ids::parse_uuid;
use crate::vocabularies::{parse_wire_code, wire_code};

#[derive(Queryable, Selectable)]
#[diesel(table_name = devices)]
struct DeviceRow {
    id: String,
    device_id: String,
    platform: String,
    app_version: Option<String>,
    updated_at: NaiveDateTime,
    disabled_at: Option<NaiveDateTime>,
}

fn device_view(row: DeviceRow) -> ApiResult<Device> {
    Ok(Device {
        id: parse_uuid(&row.id)?,
        device_id: row.device_id,
        platform: parse_wire_code(&row.platform)?,
        app_version: row.app_version,
        updated_at: to_utc(row.updated_at),
        disabled_at: row.disabled_at.map(to_utc),
    })
}

/// Registers the signed-in device's push token; the same device registering again replaces its
/// token (and revives it if the push service had rejected the old one). A token moving to another
/// account is taken from the old one.
pub fn register_device(
    tx: &mut Tx<'_>,
    user: &AuthUser,
    request: &RegisterDevice,
    at: NaiveDateTime,
) -> ApiResult<(Device, bool)> {
    diesel::delete(
        devices::table
            .filter(devices::push_token.eq(&request.push_token))
            .filter(devices::user_id.ne(&user.user_id).or(devices::device_id.ne(&user.device_id))),
    )
    .execute(tx.conn())?;
    let platform = wire_code(request.platform);
    let updated = diesel::update(
        devices::table.filter(devices::user_id.eq(&user.user_id)).filter(devices::device_id.eq(&user.device_id)),
    )
    .set((
        devices::platform.eq(&platform),
        devices::push_token.eq(&request.push_token),
        devices::app_version.eq(&request.app_version),
        devices::updated_at.eq(at),
        devices::disabled_at.eq(None::<NaiveDateTime>),
        devices::disabled_reason.eq(None::<String>),
    ))
    .execute(tx.conn())?;
    if updated == 0 {
        diesel::insert_into(devices::table)
            .values((
                devices::id.eq(Uuid::now_v7().to_string()),
                devices::user_id.eq(&user.user_id),
                devices::device_id.eq(&user.device_id),
                devices::platform.eq(&platform),
                devices::push_token.eq(&request.push_token),
                devices::app_version.eq(&request.app_version),
                devices::created_at.eq(at),
                devices::updated_at.eq(at),
            ))
            .execute(tx.conn())?;
    }
    let row: DeviceRow = devices::table
        .filter(devices::user_id.eq(&user.user_id))
        .filter(devices::device_id.eq(&user.device_id))
        .select(DeviceRow::as_select())
        .get_result(tx.conn())?;
    Ok((device_view(row)?, updated == 0))
}

pub fn list_devices(conn: &mut DbConnection, user: &AuthUser) -> ApiResult<Vec<Device>> {
    let rows: Vec<DeviceRow> = devices::table
        .filter(devices::user_id.eq(&user.user_id))
        .order(devices::updated_at.desc())
        .select(DeviceRow::as_select())
        .load(conn)?;
    rows.into_iter().map(device_view).collect()
}

pub fn remove_device(tx: &mut Tx<'_>, user: &AuthUser, id: &str) -> ApiResult<()> {
    let removed = diesel::delete(devices::table.filter(devices::id.eq(id)).filter(devices::user_id.eq(&user.user_id)))
        .execute(tx.conn())?;
    if removed == 0 { Err(ApiError::not_found("device")) } else { Ok(()) }
}

pub fn rules(conn: &mut DbConnection, user: &AuthUser) -> ApiResult<NotificationRules> {
    let row: Option<(bool, Option<i32>, Option<String>)> = notification_rules::table
        .filter(notification_rules::user_id.eq(&user.user_id))
        .select((notification_rules::push, notification_rules::sms_after_minutes, notification_rules::callback_phone))
        .get_result(conn)
        .optional()?;
    Ok(match row {
        Some((push, sms_after, callback_phone)) => {
            NotificationRules { push, sms_after_minutes: sms_after.and_then(|m| u32::try_from(m).ok()), callback_phone }
        }
        None => NotificationRules { push: true, sms_after_minutes: None, callback_phone: None },
    })
}

pub fn put_rules(
    tx: &mut Tx<'_>,
    user: &AuthUser,
    request: &NotificationRules,
    at: NaiveDateTime,
) -> ApiResult<NotificationRules> {
    if let Some(phone) = &request.callback_phone
        && !is_phone(phone)
    {
        return Err(ApiError::field(
            "callback_phone",
            FieldErrorCode::InvalidPhone,
            "an international number, e.g. +355691234567",
        ));
    }
    if !request.push {
        let phone: Option<String> =
            users::table.filter(users::id.eq(&user.user_id)).select(users::phone).get_result(tx.conn())?;
        if phone.is_none_or(|p| p.trim().is_empty()) {
            return Err(ApiError::field(
                "push",
                FieldErrorCode::Unreachable,
                "without push you can only be reached by SMS, and your account has no phone number",
            ));
        }
    }
    let sms_after = request.sms_after_minutes.and_then(|m| i32::try_from(m).ok());
    diesel::delete(notification_rules::table.filter(notification_rules::user_id.eq(&user.user_id)))
        .execute(tx.conn())?;
    diesel::insert_into(notification_rules::table)
        .values((
            notification_rules::user_id.eq(&user.user_id),
            notification_rules::push.eq(request.push),
            notification_rules::sms_after_minutes.eq(sms_after),
            notification_rules::callback_phone.eq(&request.callback_phone),
            notification_rules::updated_at.eq(at),
        ))
        .execute(tx.conn())?;
    rules(tx, user)
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints)]
struct EndpointRow {
    id: String,
    name: String,
    url: String,
    active: bool,
    created_at: NaiveDateTime,
}

fn endpoint_view(row: EndpointRow, secret: Option<String>) -> ApiResult<WebhookEndpoint> {
    Ok(WebhookEndpoint {
        id: parse_uuid(&row.id)?,
        name: row.name,
        url: row.url,
        active: row.active,
        secret,
        created_at: to_utc(row.created_at),
    })
}

pub fn create_endpoint(
    tx: &mut Tx<'_>,
    user: &AuthUser,
    request: &CreateWebhookEndpoint,
    at: NaiveDateTime,
) -> ApiResult<WebhookEndpoint> {
    user.require(Permission::PlanningManage)?;
    if !request.url.starts_with("https://") && !request.url.starts_with("http://") {
        return Err(ApiError::field("url", FieldErrorCode::Url, "an http(s) URL"));
    }
    let secret = crate::auth::tokens::random_token()?;
    let id = Uuid::now_v7().to_string();
    diesel::insert_into(webhook_endpoints::table)
        .values((
            webhook_endpoints::id.eq(&id),
            webhook_endpoints::agency_id.eq(&user.agency.id),
            webhook_endpoints::name.eq(request.name.trim()),
            webhook_endpoints::url.eq(&request.url),
            webhook_endpoints::secret.eq(&secret),
            webhook_endpoints::active.eq(true),
            webhook_endpoints::created_at.eq(at),
            webhook_endpoints::updated_at.eq(at),
        ))
        .execute(tx.conn())?;
    audit::record(
        tx,
        &user.actor(),
        at,
        "webhook_endpoint.create",
        "webhook_endpoint",
        &id,
        json!({ "name": request.name, "url": request.url }),
    )?;
    let row = webhook_endpoints::table
        .filter(webhook_endpoints::id.eq(&id))
        .select(EndpointRow::as_select())
        .get_result(tx.conn())?;
    endpoint_view(row, Some(secret))
}

pub fn list_endpoints(conn: &mut DbConnection, user: &AuthUser) -> ApiResult<Vec<WebhookEndpoint>> {
    user.require(Permission::PlanningManage)?;
    let rows: Vec<EndpointRow> = webhook_endpoints::table
        .filter(webhook_endpoints::agency_id.eq(&user.agency.id))
        .order(webhook_endpoints::created_at.asc())
        .select(EndpointRow::as_select())
        .load(conn)?;
    rows.into_iter().map(|row| endpoint_view(row, None)).collect()
}

pub fn deactivate_endpoint(
    tx: &mut Tx<'_>,
    user: &AuthUser,
    id: &str,
    at: NaiveDateTime,
) -> ApiResult<WebhookEndpoint> {
    user.require(Permission::PlanningManage)?;
    let updated = diesel::update(
        webhook_endpoints::table
            .filter(webhook_endpoints::id.eq(id))
            .filter(webhook_endpoints::agency_id.eq(&user.agency.id)),
    )
    .set((webhook_endpoints::active.eq(false), webhook_endpoints::updated_at.eq(at)))
    .execute(tx.conn())?;
    if updated == 0 {
        return Err(ApiError::not_found("webhook endpoint"));
    }
    audit::record(tx, &user.actor(), at, "webhook_endpoint.deactivate", "webhook_endpoint", id, json!({}))?;
    let row = webhook_endpoints::table
        .filter(webhook_endpoints::id.eq(id))
        .select(EndpointRow::as_select())
        .get_result(tx.conn())?;
    endpoint_view(row, None)
}
