//! Who may see a referral, and what of the person it is about. The sending side (the agency that
//! sent it or started its chain, the person who made it) and the receiving agency's responders
//! see it; to anybody else it does not exist (404). The person (sighting and profile) is shown
//! to the sending side, and to the receiving agency once it accepted a referral sharing details.

use diesel::prelude::*;
use terren_contract::Permission;
use terren_contract::referrals::Share;

use crate::access::AuthUser;
use crate::db::DbConnection;
use crate::db::schema::referrals;
use crate::http::{ApiError, ApiResult};
use crate::ids::ReferralId;
use crate::referrals::store::{ReferralRow, load};
use crate::vocabularies::codes::wire_code;

/// The sending side: the agency that sent it or started its chain, the person who made it or
/// started the chain.
pub fn sender_side(user: &AuthUser, row: &ReferralRow) -> bool {
    row.created_by == user.user_id
        || row.origin_user_id == user.user_id
        || ((row.from_agency_id == user.agency.id || row.origin_agency_id == user.agency.id)
            && user.can(Permission::ReferralsCreate))
}

pub fn receiving_side(user: &AuthUser, row: &ReferralRow) -> bool {
    row.to_agency_id == user.agency.id
        && (user.can(Permission::ReferralsRespond) || user.can(Permission::ReferralsCreate))
}

pub fn may_see(user: &AuthUser, row: &ReferralRow) -> bool {
    sender_side(user, row) || receiving_side(user, row)
}

/// Whether the reader sees who the person is (the sighting and the profile): the sender's side
/// always, the receiving agency once it accepted a referral that shares details.
pub fn shows_person(user: &AuthUser, row: &ReferralRow) -> bool {
    sender_side(user, row)
        || (receiving_side(user, row) && row.share == wire_code(Share::Details) && row.was_accepted())
}

pub fn find_visible(conn: &mut DbConnection, user: &AuthUser, id: &ReferralId) -> ApiResult<ReferralRow> {
    let row = load(conn, id)?;
    if may_see(user, &row) { Ok(row) } else { Err(ApiError::not_found("referral")) }
}

type Backend = <DbConnection as diesel::Connection>::Backend;
type VisibleFilter = Box<dyn BoxableExpression<referrals::table, Backend, SqlType = diesel::sql_types::Bool>>;

/// The rule of [`may_see`] as a query filter, for lists.
pub fn list_filter(user: &AuthUser) -> VisibleFilter {
    let mine = user.agency.id.clone();
    let responds = user.can(Permission::ReferralsRespond) || user.can(Permission::ReferralsCreate);
    let sends = user.can(Permission::ReferralsCreate);
    let mut visible: VisibleFilter =
        Box::new(referrals::created_by.eq(user.user_id.clone()).or(referrals::origin_user_id.eq(user.user_id.clone())));
    if responds {
        visible = Box::new(visible.or(referrals::to_agency_id.eq(mine.clone())));
    }
    if sends {
        visible = Box::new(
            visible.or(referrals::from_agency_id.eq(mine.clone())).or(referrals::origin_agency_id.eq(mine.clone())),
        );
    }
    visible
}
