use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use terren_contract::identifications::IdentificationFilters;
use terren_contract::profiles::{
    CandidateList, ChildProfile, ChildProfileUpdate, LinkIdentification, LinkResult, MergeProfiles, ProfileHistory,
    ProfileListQuery, ProfileMerge, ProfilePage, SightingCounts, UnmergeProfiles,
};
use uuid::Uuid;

use super::{linking, lists, merge, update, views};
use crate::access::AuthUser;
use crate::db::{DbConnection, Tx};
use crate::http::idempotency::{self, IdempotencyKey, PhoneWrite, Written};
use crate::http::paths::{IdentificationPath, MergedIntoProfilePath, ProfilePath, SurvivingProfilePath};
use crate::http::{ApiResult, ValidJson, audited};
use crate::state::AppState;
use crate::territory::index::TerritoryIndex;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/identifications/{id}/candidates").route(web::get().to(identification_candidates)))
        .service(
            web::resource("/identifications/{id}/link")
                .route(web::post().to(link_identification))
                .route(web::delete().to(unlink_identification)),
        )
        .service(web::resource("/child-profiles").route(web::get().to(list_profiles)))
        .service(
            web::resource("/child-profiles/{id}")
                .route(web::get().to(get_profile))
                .route(web::patch().to(update_profile)),
        )
        .service(web::resource("/child-profiles/{id}/history").route(web::get().to(profile_history)))
        .service(web::resource("/child-profiles/{id}/merge").route(web::post().to(merge_profiles)))
        .service(web::resource("/child-profiles/{id}/unmerge").route(web::post().to(unmerge_profiles)));
}

/// This capability's operations in the published contract (merged in `crate::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    identification_candidates,
    link_identification,
    unlink_identification,
    count_identifications,
    list_profiles,
    get_profile,
    update_profile,
    profile_history,
    merge_profiles,
    unmerge_profiles
))]
pub struct ProfilesApi;

/// Profiles that may be the same person as this sighting, best first, with a score (0–1, for
/// ranking) and the reasons: near in place and time, a name that sounds alike, the same age and
/// sex, the same companions. Profiles of another sex or an age too far apart are never proposed.
#[utoipa::path(
    get, path = "/api/v1/identifications/{id}/candidates", tag = "child profiles",
    params(IdentificationPath),
    responses(
        (status = 200, description = "Ranked candidates", body = CandidateList),
        (status = 404, description = "No such sighting within your scope"),
    )
)]
pub async fn identification_candidates(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<CandidateList>> {
    let id = id.into_inner().to_string();
    let settings = state.config.profiles.clone();
    let list =
        audited(&state, move |conn, index, at| linking::candidates(conn, index, &user, &settings, &id, at)).await?;
    Ok(web::Json(list))
}

/// Link a sighting to a child: to a profile that exists (`profile_id`; a merged profile is
/// followed to the one it was merged into) or to a new one (`new_profile`, which gets a
/// reference such as `TR-2026-000123`). Idempotent with an `Idempotency-Key`; linking again to
/// the same profile changes nothing.
#[utoipa::path(
    post, path = "/api/v1/identifications/{id}/link", tag = "child profiles",
    params(
        IdentificationPath,
        ("Idempotency-Key" = String, Header, description = "Made once per link by the phone, e.g. a UUID"),
    ),
    request_body = LinkIdentification,
    responses(
        (status = 201, description = "Linked", body = LinkResult),
        (status = 200, description = "Already linked to this profile", body = LinkResult),
        (status = 404, description = "No such sighting or profile within your scope"),
        (status = 409, description = "Linked to another profile already (`already_linked`), or a profile with the new id exists (`already_exists`)"),
        (status = 422, description = "Neither or both of `profile_id` and `new_profile` (`one_of_required`), another sex (`sex_mismatch`), a blank name"),
    )
)]
pub async fn link_identification(
    req: HttpRequest,
    user: AuthUser,
    state: web::Data<AppState>,
    key: IdempotencyKey,
    id: web::Path<Uuid>,
    body: ValidJson<LinkIdentification>,
) -> ApiResult<HttpResponse> {
    let write = Link::new(&state, user.clone(), id.into_inner(), body.0);
    idempotency::respond(&req, &state, user.user_id, key, write).await
}

/// Linking a sighting to a profile from a phone.
pub(crate) struct Link {
    request: LinkIdentification,
    identification_id: String,
    user: AuthUser,
    index: Arc<TerritoryIndex>,
    at: NaiveDateTime,
}

impl Link {
    pub(crate) fn path(identification_id: &Uuid) -> String {
        format!("/api/v1/identifications/{identification_id}/link")
    }

    pub(crate) fn new(state: &AppState, user: AuthUser, identification_id: Uuid, request: LinkIdentification) -> Link {
        Link {
            request,
            identification_id: identification_id.to_string(),
            user,
            index: state.territory(),
            at: state.clock.now_naive(),
        }
    }
}

/// What a link keeps for repeats.
#[derive(Serialize, Deserialize)]
pub(crate) struct KeptLink {
    identification_id: Uuid,
    profile_id: Uuid,
    created_profile: bool,
}

impl PhoneWrite for Link {
    type Request = LinkIdentification;
    type Prepared = ();
    type Answer = LinkResult;
    type Kept = KeptLink;

    fn request(&self) -> &LinkIdentification {
        &self.request
    }

    fn prepare(&self, _: &mut DbConnection) -> ApiResult<()> {
        Ok(())
    }

    fn apply(&self, tx: &mut Tx<'_>, (): ()) -> ApiResult<Written<Self>> {
        let (result, new) =
            linking::link(tx, &self.index, &self.user, &self.identification_id, &self.request, self.at)?;
        Ok(Written {
            status: if new { StatusCode::CREATED } else { StatusCode::OK },
            kept: KeptLink {
                identification_id: result.identification_id,
                profile_id: result.profile.id,
                created_profile: result.created_profile,
            },
            answer: result,
        })
    }

    fn replay(&self, tx: &mut Tx<'_>, kept: KeptLink) -> ApiResult<LinkResult> {
        let profile = linking::replayed_link(tx, &self.index, &self.user, &kept.profile_id.to_string(), self.at)?;
        Ok(LinkResult { identification_id: kept.identification_id, profile, created_profile: kept.created_profile })
    }
}

/// Remove a wrong link (coordinators, `children_merge`). The sighting becomes unlinked; names it
/// brought to the profile stay. Audited.
#[utoipa::path(
    delete, path = "/api/v1/identifications/{id}/link", tag = "child profiles",
    params(IdentificationPath),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 404, description = "No such sighting within your scope, or it is not linked"),
    )
)]
pub async fn unlink_identification(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner().to_string();
    audited(&state, move |conn, index, at| linking::unlink(conn, index, &user, &id, at)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Sightings counted two ways: every sighting, and distinct children (linked profiles), with
/// repeat sightings. Takes the list's filters; with national statistics only `area` and whole
/// days, and counts below 3 are reported as 0 and named in `suppressed`.
#[utoipa::path(
    get, path = "/api/v1/identifications/counts", tag = "child profiles",
    params(IdentificationFilters),
    responses(
        (status = 200, description = "Counts", body = SightingCounts),
        (status = 422, description = "Bad filter"),
    )
)]
pub async fn count_identifications(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<IdentificationFilters>,
) -> ApiResult<web::Json<SightingCounts>> {
    let counts = audited(&state, move |conn, index, at| {
        crate::identifications::statistics::counts(conn, index, &user, &query, at)
    })
    .await?;
    Ok(web::Json(counts))
}

/// Search profiles within your scope: by reference (`TR-2026-000123`) or part of a name
/// (diacritics and case ignored; needs `children_read_names`), by area of any sighting, age band,
/// status and sex. Most recently seen first; page with `next_cursor`. Audited.
#[utoipa::path(
    get, path = "/api/v1/child-profiles", tag = "child profiles",
    params(ProfileListQuery),
    responses(
        (status = 200, description = "A page of profiles", body = ProfilePage),
        (status = 403, description = "Searching by name without `children_read_names`"),
        (status = 422, description = "Bad filter (`too_short`, `unknown_area`, `unknown_code`, `invalid_cursor`, `out_of_range`)"),
    )
)]
pub async fn list_profiles(
    user: AuthUser,
    state: web::Data<AppState>,
    query: web::Query<ProfileListQuery>,
) -> ApiResult<web::Json<ProfilePage>> {
    let page = audited(&state, move |conn, index, at| lists::list(conn, index, &user, &query, at)).await?;
    Ok(web::Json(page))
}

/// One profile. Names and family contacts need `children_read_names`. A merged profile answers
/// with `merged_into`. Audited.
#[utoipa::path(
    get, path = "/api/v1/child-profiles/{id}", tag = "child profiles",
    params(ProfilePath),
    responses(
        (status = 200, description = "The profile", body = ChildProfile),
        (status = 404, description = "No such profile within your scope"),
    )
)]
pub async fn get_profile(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<ChildProfile>> {
    let id = id.into_inner().to_string();
    let profile = audited(&state, move |conn, index, at| views::read(conn, index, &user, &id, at)).await?;
    Ok(web::Json(profile))
}

/// Edit a profile's stable facts (`children_edit`: field workers, coordinators, case managers)
/// and status (`children_status_set`: coordinators, case managers), against the `version` you
/// read (412 with the current profile if it changed). Others get 403 `not_case_worker`. Audited
/// with the names of the changed fields.
#[utoipa::path(
    patch, path = "/api/v1/child-profiles/{id}", tag = "child profiles",
    params(ProfilePath),
    request_body = ChildProfileUpdate,
    responses(
        (status = 200, description = "Updated", body = ChildProfile),
        (status = 403, description = "`not_case_worker`"),
        (status = 404, description = "No such profile within your scope"),
        (status = 409, description = "The profile was merged into another"),
        (status = 412, description = "Changed since you read it (`version_mismatch`); the body holds the current profile", body = ChildProfile),
        (status = 422, description = "Invalid field (`unknown_code`, `blank`, `in_future`, `invalid_format`)"),
    )
)]
pub async fn update_profile(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<ChildProfileUpdate>,
) -> ApiResult<web::Json<ChildProfile>> {
    let id = id.into_inner().to_string();
    let update = body.0;
    let profile = audited(&state, move |conn, index, at| update::update(conn, index, &user, &id, &update, at)).await?;
    Ok(web::Json(profile))
}

/// A profile's sightings in the order they happened, each with where it was (sightings outside
/// your scope show only when and which municipality), and the profile's merges. Audited.
#[utoipa::path(
    get, path = "/api/v1/child-profiles/{id}/history", tag = "child profiles",
    params(ProfilePath),
    responses(
        (status = 200, description = "The history", body = ProfileHistory),
        (status = 404, description = "No such profile within your scope"),
    )
)]
pub async fn profile_history(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<ProfileHistory>> {
    let id = id.into_inner().to_string();
    let history = audited(&state, move |conn, index, at| views::history(conn, index, &user, &id, at)).await?;
    Ok(web::Json(history))
}

/// Merge another profile of the same child into this one (coordinators, `children_merge`): its
/// sightings and names move here and it points here from then on. This profile keeps its own
/// facts and status. Recorded so that it can be undone; audited on both profiles.
#[utoipa::path(
    post, path = "/api/v1/child-profiles/{id}/merge", tag = "child profiles",
    params(SurvivingProfilePath),
    request_body = MergeProfiles,
    responses(
        (status = 201, description = "Merged", body = ProfileMerge),
        (status = 404, description = "A profile is not within your scope"),
        (status = 409, description = "A profile was merged already"),
        (status = 422, description = "The same profile (`same_profile`) or another sex (`sex_mismatch`)"),
    )
)]
pub async fn merge_profiles(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<MergeProfiles>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner().to_string();
    let request = body.0;
    let merge = audited(&state, move |conn, index, at| merge::merge(conn, index, &user, &id, &request, at)).await?;
    Ok(HttpResponse::Created().json(merge))
}

/// Undo a merge into this profile (coordinators, `children_merge`): the sightings it moved go
/// back, the names it brought are removed, and the merged profile stands on its own again.
#[utoipa::path(
    post, path = "/api/v1/child-profiles/{id}/unmerge", tag = "child profiles",
    params(MergedIntoProfilePath),
    request_body = UnmergeProfiles,
    responses(
        (status = 200, description = "Undone", body = ProfileMerge),
        (status = 404, description = "No such merge into this profile"),
        (status = 409, description = "Undone already, or this profile was merged into another since"),
    )
)]
pub async fn unmerge_profiles(
    user: AuthUser,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: ValidJson<UnmergeProfiles>,
) -> ApiResult<web::Json<ProfileMerge>> {
    let id = id.into_inner().to_string();
    let request = body.0;
    let merge = audited(&state, move |conn, index, at| merge::unmerge(conn, index, &user, &id, &request, at)).await?;
    Ok(web::Json(merge))
}
