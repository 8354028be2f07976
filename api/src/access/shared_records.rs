//! Records another agency opened to the reader: an accepted referral that shares details opens
//! its sighting and its child's profile to the receiving agency.

use diesel::prelude::*;
use terren_contract::referrals::Share;

use crate::access::AuthUser;
use crate::db::DbConnection;
use crate::db::schema::referrals;
use crate::http::ApiResult;
use crate::vocabularies::codes::wire_code;

fn opens(
    conn: &mut DbConnection,
    user: &AuthUser,
    identification: Option<&str>,
    profile: Option<&str>,
) -> ApiResult<bool> {
    let mut q = referrals::table
        .filter(referrals::to_agency_id.eq(&user.agency.id))
        .filter(referrals::share.eq(wire_code(Share::Details)))
        .filter(referrals::responded_at.is_not_null())
        .filter(referrals::decline_reason.is_null())
        .into_boxed();
    if let Some(id) = identification {
        q = q.filter(referrals::identification_id.eq(id.to_owned()));
    }
    if let Some(id) = profile {
        q = q.filter(referrals::profile_id.eq(id.to_owned()));
    }
    let count: i64 = q.count().get_result(conn)?;
    Ok(count > 0)
}

/// Whether an accepted referral that shares details opens this sighting to the reader's agency.
pub fn opens_identification(conn: &mut DbConnection, user: &AuthUser, id: &str) -> ApiResult<bool> {
    opens(conn, user, Some(id), None)
}

/// Whether an accepted referral that shares details opens this profile to the reader's agency.
pub fn opens_profile(conn: &mut DbConnection, user: &AuthUser, id: &str) -> ApiResult<bool> {
    opens(conn, user, None, Some(id))
}
