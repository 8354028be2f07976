//! Who may raise, read and answer an alert: people of the alert's agency, its raiser, whoever was
//! paged for it, and a coordinator of the raiser's agency.

use terren_contract::Permission;

use diesel::prelude::*;

use crate::access::AuthUser;
use crate::alerts::store::AlertRow;
use crate::db::DbConnection;
use crate::db::schema::{alerts, notification_attempts};
use crate::http::problem::ErrorCode;
use crate::http::{ApiError, ApiResult};
use crate::ids::{AgencyId, AlertId};

/// Alerts are read by those who raise or answer them.
pub fn require_alert_reader(user: &AuthUser) -> ApiResult<()> {
    if user.can(Permission::AlertsRespond) || user.can(Permission::AlertsRaise) {
        Ok(())
    } else {
        Err(ApiError::forbidden("this needs the permission alerts_respond or alerts_raise"))
    }
}

/// An alert pages the agency it belongs to: raising one for another agency needs
/// `referrals_route_anywhere` (coordinators, case managers), as referring outside the place does.
pub fn may_raise_alert_for(user: &AuthUser, agency_id: &AgencyId) -> ApiResult<()> {
    if *agency_id == user.agency.id || user.can(Permission::ReferralsRouteAnywhere) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::NotYourAgency).with_detail("raise alerts for your own agency"))
    }
}

/// Acknowledging stops an agency's escalation, so only people of that agency answer its alerts,
/// and those it paged from elsewhere (a step that reached nobody of the agency falls back to the
/// raiser's own agency, whose duty officer must be able to say "I'm on it"). The raiser may still
/// read it, and a coordinator of the raiser's agency may resolve it.
pub fn may_answer_alert(user: &AuthUser, alert_agency_id: &AgencyId, paged: bool) -> ApiResult<()> {
    if *alert_agency_id == user.agency.id || paged {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::NotYourAgency).with_detail("alerts are answered by the agency they page"))
    }
}

type Backend = <DbConnection as diesel::Connection>::Backend;
type AlertFilter =
    Box<dyn BoxableExpression<alerts::table, Backend, SqlType = diesel::sql_types::Nullable<diesel::sql_types::Bool>>>;

/// Alerts of the caller's agency, raised by the caller, or the caller was paged for: the alerts a
/// list shows. (Whether each may be opened is [`may_see`]'s to say; a coordinator of the raiser's
/// agency may also open one that is not in the list.)
pub fn list_filter(user: &AuthUser) -> AlertFilter {
    let paged = notification_attempts::table
        .filter(notification_attempts::recipient_user_id.eq(user.user_id.to_string()))
        .select(notification_attempts::alert_id);
    Box::new(
        alerts::agency_id
            .eq(user.agency.id.clone())
            .or(alerts::created_by.eq(user.user_id.to_string()))
            .or(alerts::id.eq_any(paged)),
    )
}

/// Whether the person was paged for this alert.
pub fn was_notified(conn: &mut DbConnection, alert_id: &AlertId, user_id: &str) -> QueryResult<bool> {
    let count: i64 = notification_attempts::table
        .filter(notification_attempts::alert_id.eq(alert_id))
        .filter(notification_attempts::recipient_user_id.eq(user_id))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

/// People of the alert's agency, its raiser, and whoever was paged for it may see it.
pub fn may_see(conn: &mut DbConnection, user: &AuthUser, row: &AlertRow) -> ApiResult<()> {
    // Whoever was paged may open what they were paged about (a fallback may page an agency's
    // administrators, who otherwise do not read alerts).
    if was_notified(conn, &row.id, &user.user_id)? {
        return Ok(());
    }
    require_alert_reader(user)?;
    if user.agency.id == row.agency_id
        || row.created_by.as_deref() == Some(user.user_id.as_str())
        || coordinates_raiser(conn, user, row)?
    {
        Ok(())
    } else {
        Err(ApiError::not_found("alert"))
    }
}

/// A coordinator of the agency of the person who raised the alert: they may read it, and resolve
/// a sighting's alert (they know when their worker's emergency is over).
pub fn coordinates_raiser(conn: &mut DbConnection, user: &AuthUser, row: &AlertRow) -> ApiResult<bool> {
    if !user.can(Permission::PlanningManage) || !user.can(Permission::AlertsRespond) {
        return Ok(false);
    }
    let Some(raiser) = &row.created_by else { return Ok(false) };
    Ok(crate::alerts::recipients::agency_of(conn, raiser)?.as_ref() == Some(&user.agency.id))
}

#[cfg(test)]
mod tests {
    use terren_contract::{Permission, Role};

    use super::*;
    use crate::access::testing::user;

    #[test]
    fn alerts_are_raised_for_the_own_agency_unless_one_may_route_anywhere() {
        let worker = user(&[Role::FieldWorker], &[Permission::AlertsRaise]);
        assert!(may_raise_alert_for(&worker, &AgencyId::from_stored("agency-1")).is_ok());
        assert!(may_raise_alert_for(&worker, &AgencyId::from_stored("agency-2")).is_err());
        let coordinator = user(&[Role::Coordinator], &[Permission::AlertsRaise, Permission::ReferralsRouteAnywhere]);
        assert!(may_raise_alert_for(&coordinator, &AgencyId::from_stored("agency-2")).is_ok());
    }

    #[test]
    fn alerts_are_answered_by_their_agency_and_those_it_paged_and_read_by_raisers_and_responders() {
        let officer = user(&[Role::DutyOfficer], &[Permission::AlertsRespond]);
        assert!(may_answer_alert(&officer, &AgencyId::from_stored("agency-1"), false).is_ok());
        assert!(may_answer_alert(&officer, &AgencyId::from_stored("agency-2"), false).is_err());
        assert!(may_answer_alert(&officer, &AgencyId::from_stored("agency-2"), true).is_ok());
        assert!(require_alert_reader(&officer).is_ok());
        assert!(require_alert_reader(&user(&[Role::FieldWorker], &[Permission::AlertsRaise])).is_ok());
        assert!(require_alert_reader(&user(&[Role::AgencyAdmin], &[Permission::AgenciesManage])).is_err());
    }
}
