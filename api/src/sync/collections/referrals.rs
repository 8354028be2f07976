//! Referrals the caller's agency sent or received, or the caller made: open ones, and closed ones
//! sent within the window.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use terren_contract::Permission;
use terren_contract::referrals::ReferralStatus;

use super::{Collection, Context, Selection, put_each, select_ids};
use crate::access;
use crate::changes::kinds;
use crate::db::schema::referrals;
use crate::db::{DbConnection, Tx};
use crate::http::ApiResult;
use crate::ids::ReferralId;
use crate::sync::answer::Answer;
use crate::vocabularies::wire_code;

pub struct Referrals;

impl Collection for Referrals {
    fn kind(&self) -> &'static str {
        kinds::REFERRAL
    }

    fn ids(&self, conn: &mut DbConnection, cx: &Context<'_>, selection: Selection<'_>) -> ApiResult<Vec<String>> {
        let user = cx.user;
        if !(user.can(Permission::ReferralsCreate) || user.can(Permission::ReferralsRespond)) {
            return Ok(Vec::new());
        }
        let open = referrals::status.eq_any(ReferralStatus::OPEN.map(wire_code));
        let query = referrals::table
            .filter(access::referrals::list_filter(user))
            .filter(open.or(referrals::sent_at.ge(cx.window_start())));
        Ok(select_ids!(conn, query, referrals::id, selection))
    }

    fn moved(&self, conn: &mut DbConnection, cx: &Context<'_>, since: NaiveDateTime) -> ApiResult<Vec<String>> {
        let (from, to) = (cx.window_start_at(since), cx.window_start());
        if from >= to {
            return Ok(Vec::new());
        }
        Ok(referrals::table
            .filter(access::referrals::list_filter(cx.user))
            .filter(referrals::status.ne_all(ReferralStatus::OPEN.map(wire_code)))
            .filter(referrals::sent_at.ge(from).and(referrals::sent_at.lt(to)))
            .select(referrals::id)
            .load(conn)?)
    }

    fn put(&self, tx: &mut Tx<'_>, cx: &Context<'_>, ids: &[String], answer: &mut Answer) -> ApiResult<Vec<String>> {
        put_each(
            tx,
            ids,
            |tx, id| crate::referrals::service::get(tx, cx.index, cx.user, &ReferralId::from_stored(id), cx.at),
            |referral| answer.referrals.put.push(referral),
        )
    }
}
