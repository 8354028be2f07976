use actix_web::web;

mod feeds;
mod schedules;
mod swaps;

pub use feeds::*;
pub use schedules::*;
pub use swaps::*;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/schedules").route(web::get().to(list_schedules)).route(web::post().to(create_schedule)),
    )
    .service(web::resource("/schedules/{id}").route(web::get().to(get_schedule)).route(web::put().to(update_schedule)))
    .service(web::resource("/schedules/{id}/on-call").route(web::get().to(schedule_on_call)))
    .service(web::resource("/schedules/{id}/shifts").route(web::get().to(schedule_shifts)))
    .service(web::resource("/schedules/{id}/gaps").route(web::get().to(schedule_gaps)))
    .service(
        web::resource("/schedules/{id}/overrides")
            .route(web::get().to(list_overrides))
            .route(web::post().to(create_override)),
    )
    .service(web::resource("/schedules/{id}/overrides/{override_id}/cancel").route(web::post().to(cancel_override)))
    .service(web::resource("/schedules/{id}/swaps").route(web::get().to(list_swaps)).route(web::post().to(create_swap)))
    .service(web::resource("/schedules/{id}/swaps/{swap_id}/take").route(web::post().to(take_swap)))
    .service(web::resource("/schedules/{id}/swaps/{swap_id}/approve").route(web::post().to(approve_swap)))
    .service(web::resource("/schedules/{id}/swaps/{swap_id}/decline").route(web::post().to(decline_swap)))
    .service(web::resource("/schedules/{id}/swaps/{swap_id}/cancel").route(web::post().to(cancel_swap)))
    .service(
        web::resource("/schedules/{id}/calendar-feeds")
            .route(web::get().to(list_schedule_feeds))
            .route(web::post().to(create_schedule_feed)),
    )
    .service(
        web::resource("/me/calendar-feeds").route(web::get().to(list_my_feeds)).route(web::post().to(create_my_feed)),
    )
    .service(web::resource("/calendar-feeds/{feed_id}/revoke").route(web::post().to(revoke_feed)))
    .service(web::resource("/calendar/{token:[A-Za-z0-9_-]+}.ics").route(web::get().to(calendar_feed)))
    .service(web::resource("/schedules/{id}/rota.csv").route(web::get().to(rota_csv)))
    .service(web::resource("/on-call").route(web::get().to(on_call)));
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_schedules,
    create_schedule,
    get_schedule,
    update_schedule,
    schedule_on_call,
    schedule_shifts,
    schedule_gaps,
    list_overrides,
    create_override,
    cancel_override,
    on_call,
    list_swaps,
    create_swap,
    take_swap,
    approve_swap,
    decline_swap,
    cancel_swap,
    create_schedule_feed,
    list_schedule_feeds,
    create_my_feed,
    list_my_feeds,
    revoke_feed,
    calendar_feed,
    rota_csv
))]
pub struct RotaApi;
