//! The referrals API: referrals themselves (`referrals.rs`), and the tables they are routed and
//! measured by, with shelters' occupancy (`policies.rs`).

use actix_web::web;

mod policies;
pub(crate) mod referrals;

pub use policies::*;
pub use referrals::*;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/referrals").route(web::post().to(create_referral)).route(web::get().to(list_referrals)),
    )
    // Before `{id}`, which would otherwise take this name for an id.
    .service(web::resource("/referrals/route").route(web::get().to(suggest_route)))
    .service(web::resource("/referrals/deadline-statistics").route(web::get().to(deadline_statistics)))
    .service(web::resource("/referrals/{id}").route(web::get().to(get_referral)))
    .service(web::resource("/referrals/{id}/timeline").route(web::get().to(referral_timeline)))
    .service(web::resource("/referrals/{id}/comments").route(web::post().to(comment_referral)))
    .service(web::resource("/referrals/{id}/acknowledge").route(web::post().to(acknowledge_referral)))
    .service(web::resource("/referrals/{id}/accept").route(web::post().to(accept_referral)))
    .service(web::resource("/referrals/{id}/decline").route(web::post().to(decline_referral)))
    .service(web::resource("/referrals/{id}/start").route(web::post().to(start_referral)))
    .service(web::resource("/referrals/{id}/close").route(web::post().to(close_referral)))
    .service(web::resource("/referrals/{id}/cancel").route(web::post().to(cancel_referral)))
    .service(web::resource("/referrals/{id}/forward").route(web::post().to(forward_referral)))
    .service(
        web::resource("/referral-routes")
            .route(web::get().to(list_routing_rules))
            .route(web::post().to(create_routing_rule)),
    )
    .service(
        web::resource("/referral-routes/{id}")
            .route(web::put().to(replace_routing_rule))
            .route(web::delete().to(delete_routing_rule)),
    )
    .service(
        web::resource("/referral-deadline-policies/{scope}")
            .route(web::get().to(get_deadline_policy))
            .route(web::put().to(put_deadline_policy)),
    )
    .service(web::resource("/agencies/{id}/occupancy").route(web::put().to(put_occupancy)));
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create_referral,
    list_referrals,
    suggest_route,
    deadline_statistics,
    get_referral,
    referral_timeline,
    comment_referral,
    acknowledge_referral,
    accept_referral,
    decline_referral,
    start_referral,
    close_referral,
    cancel_referral,
    forward_referral,
    list_routing_rules,
    create_routing_rule,
    replace_routing_rule,
    delete_routing_rule,
    get_deadline_policy,
    put_deadline_policy,
    put_occupancy
))]
pub struct ReferralsApi;
