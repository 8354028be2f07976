//! Recording a sighting from a phone: checked, located and matched against known children
//! before the write transaction, then written; a replayed create answers with the record as it
//! is now.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use terren_contract::Permission;
use terren_contract::areas::LocateMethod;
use terren_contract::identifications::{AgeBand, CreateIdentification, Identification};
use terren_contract::profiles::ProfileCandidate;

use super::privacy::coarse_cell;
use super::read::{audit_read, view};
use super::store::{IdentificationRow, codes, find_row};
use super::validate::{derived_age, validate};
use crate::access::AuthUser;
use crate::alerts::emergency::EmergencyJob;
use crate::audit;
use crate::config::ProfilesConfig;
use crate::db::schema::identifications;
use crate::db::{DbConnection, Tx};
use crate::http::{ApiError, ApiResult, ErrorCode};
use crate::outbox;
use crate::territory::index::TerritoryIndex;
use crate::vocabularies::wire_code;

/// The outcome of a create: the record, and whether it was new (201) or already there (200).
pub struct Created {
    pub identification: Identification,
    pub new: bool,
}

/// A sighting checked, located and matched against known children, ready to be written: the
/// part of a create that only reads, done before the write transaction so that writers wait
/// for each other as briefly as possible.
pub struct Prepared {
    row: IdentificationRow,
    candidates: Vec<ProfileCandidate>,
}

impl Prepared {
    /// The same sighting recorded from an SMS: provisional until its recorder uploads it in full.
    pub fn provisional(mut self) -> Prepared {
        self.row.provisional = true;
        self
    }
}

/// Checks a sighting against the vocabularies and rules, resolves its areas and finds the
/// profiles it may belong to. Reads only.
pub fn prepare(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    settings: &ProfilesConfig,
    request: &CreateIdentification,
    now: DateTime<Utc>,
) -> ApiResult<Prepared> {
    user.require(Permission::IdentificationsCreate)?;
    validate(conn, request, now)?;
    let id = request.id.to_string();
    let content_hash = crate::http::idempotency::fingerprint(
        "identification",
        "",
        &serde_json::to_value(request).map_err(anyhow::Error::from)?,
    );
    let at = crate::clock::truncate(now);
    let location = request.location.as_ref().map(|fix| (fix, index.locate(fix.lat, fix.lon)));
    let area_id =
        |resolved: &Option<crate::territory::index::Resolved>| resolved.as_ref().map(|r| index.area(r.area).id.clone());
    let row = IdentificationRow {
        id: id.clone(),
        recorded_by: user.user_id.to_string(),
        agency_id: user.agency.id.clone(),
        device_id: user.device_id.clone(),
        observed_at: crate::clock::truncate(request.observed_at),
        received_at: at,
        lat: request.location.as_ref().map(|f| f.lat),
        lon: request.location.as_ref().map(|f| f.lon),
        accuracy_m: request.location.as_ref().map(|f| f.accuracy_m),
        altitude_m: request.location.as_ref().and_then(|f| f.altitude_m),
        fix_time: request.location.as_ref().and_then(|f| f.fix_time).map(crate::clock::truncate),
        location_source: request.location.as_ref().map(|f| f.source.clone()),
        mock_location: request.location.as_ref().is_some_and(|f| f.mock_location),
        location_not_collected_reason: request.location_not_collected_reason.clone(),
        place_description: request.place_description.clone(),
        county_id: location.as_ref().and_then(|(_, l)| area_id(&l.county)),
        municipality_id: location.as_ref().and_then(|(_, l)| area_id(&l.municipality)),
        admin_unit_id: location.as_ref().and_then(|(_, l)| area_id(&l.admin_unit)),
        locate_method: location.as_ref().map_or(LocateMethod::Outside, |(_, l)| l.method()).as_str().to_owned(),
        cell_key: request.location.as_ref().map(|f| coarse_cell(f.lat, f.lon).0),
        subject_type: request.subject_type.clone(),
        estimated_age: request.estimated_age,
        birth_year: request.birth_year,
        age_band: wire_code(AgeBand::of_age(derived_age(request))),
        sex: request.sex.clone(),
        nationality: request.nationality.clone(),
        languages: codes(&request.languages),
        ethnicity: request.ethnicity.clone(),
        residence_origin: request.residence_origin.clone(),
        street_situations: codes(&request.street_situations),
        accompanied_by: request.accompanied_by.clone(),
        risk_factors: codes(&request.risk_factors),
        exploitation_indicators: codes(&request.exploitation_indicators),
        visible_conditions: codes(&request.visible_conditions),
        immediate_needs: codes(&request.immediate_needs),
        actions_taken: codes(&request.actions_taken),
        consent_given_by: request.consent_given_by.clone(),
        risk_level: request.risk_level.clone(),
        emergency: request.emergency,
        notes: request.notes.clone(),
        content_hash,
        version: 1,
        created_at: at,
        updated_at: at,
        name_as_told: request.name_as_told.as_ref().map(|name| name.trim().to_owned()),
        location_coarsened_at: None,
        round_id: crate::rounds::field::round_for_sighting(
            conn,
            &user.user_id,
            request.round_id.map(|id| id.to_string()).as_deref(),
            request.observed_at.naive_utc(),
        )?,
        provisional: false,
    };
    let candidates = crate::profiles::candidates::for_sighting(conn, index, user, settings, &row, None)?;
    Ok(Prepared { row, candidates })
}

/// Records a prepared sighting. Runs inside the caller's write transaction, together with the
/// audit record, the emergency job and the idempotency answer.
pub fn create(tx: &mut Tx<'_>, index: &TerritoryIndex, user: &AuthUser, prepared: Prepared) -> ApiResult<Created> {
    let Prepared { row, mut candidates } = prepared;
    let (id, at) = (row.id.clone(), row.received_at);
    if let Some(existing) = find_row(tx, &id)? {
        if existing.provisional && !row.provisional && existing.recorded_by == user.user_id {
            return complete(tx, index, user, existing, row, candidates);
        }
        // The same person sending the same record again without its key: the record as it is,
        // with the candidates prepared for the same content, less the profile it is linked to.
        // Different content under an existing id is refused, never applied.
        if existing.recorded_by == user.user_id && existing.content_hash == row.content_hash {
            let mut identification = view(tx, index, user, &existing)?;
            audit_read(tx, user, at, "identification.read", &identification)?;
            let linked = identification.profile.as_ref().map(|p| p.id);
            candidates.retain(|candidate| Some(candidate.profile.id) != linked);
            identification.candidates = Some(candidates);
            return Ok(Created { identification, new: false });
        }
        return Err(ApiError::new(ErrorCode::AlreadyExists).with_detail("a different identification has this id"));
    }
    diesel::insert_into(identifications::table).values(&row).execute(tx.conn())?;
    if row.emergency {
        enqueue_emergency(tx, index, &row)?;
    }
    let mut identification = view(tx, index, user, &row)?;
    identification.candidates = Some(candidates);
    // Last: on PostgreSQL the audit chain is locked from here to the commit.
    audit::record(
        tx,
        &user.actor(),
        at,
        "identification.create",
        "identification",
        &id,
        serde_json::json!({ "municipality_id": row.municipality_id, "admin_unit_id": row.admin_unit_id, "emergency": row.emergency }),
    )?;
    Ok(Created { identification, new: true })
}

/// Queues the alert of an emergency sighting; a sighting is paged for once, whatever happens to
/// it later (the job's dedup key names the sighting).
fn enqueue_emergency(tx: &mut Tx<'_>, index: &TerritoryIndex, row: &IdentificationRow) -> ApiResult<()> {
    let code = |id: &Option<String>| id.as_ref().and_then(|id| index.find_id(id)).map(|a| index.area(a).code.clone());
    let job = EmergencyJob {
        identification_id: row.id.clone(),
        municipality_code: code(&row.municipality_id),
        admin_unit_code: code(&row.admin_unit_id),
        risk_level: row.risk_level.clone(),
        recorded_by: row.recorded_by.clone(),
    };
    outbox::enqueue_job(tx, &job, row.received_at, row.received_at)?;
    Ok(())
}

/// The recorder's first upload of a sighting first recorded from an SMS: the full sighting
/// replaces the provisional one under the same id, which keeps when it was first received, and
/// its emergency and the alert already raised (never paged twice). Audited as a change; answered
/// as a create, since for the phone it is the sighting's first upload.
fn complete(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    existing: IdentificationRow,
    mut row: IdentificationRow,
    candidates: Vec<ProfileCandidate>,
) -> ApiResult<Created> {
    let at = row.received_at;
    row.received_at = existing.received_at;
    row.created_at = existing.created_at;
    row.emergency = row.emergency || existing.emergency;
    row.version = existing.version + 1;
    row.updated_at = at;
    row.provisional = false;
    let updated = diesel::update(
        identifications::table
            .find(&row.id)
            .filter(identifications::provisional.eq(true))
            .filter(identifications::version.eq(existing.version)),
    )
    .set(&row)
    .execute(tx.conn())?;
    if updated != 1 {
        return Err(ApiError::conflict("the sighting changed while it was being completed; send it again"));
    }
    if row.emergency && !existing.emergency {
        enqueue_emergency(tx, index, &row)?;
    }
    let mut identification = view(tx, index, user, &row)?;
    let linked = identification.profile.as_ref().map(|p| p.id);
    identification.candidates =
        Some(candidates.into_iter().filter(|candidate| Some(candidate.profile.id) != linked).collect());
    audit::record(
        tx,
        &user.actor(),
        at,
        "identification.complete",
        "identification",
        &row.id,
        serde_json::json!({
            "from_sms": true,
            "version": row.version,
            "municipality_id": row.municipality_id,
            "admin_unit_id": row.admin_unit_id,
            "emergency": row.emergency,
        }),
    )?;
    Ok(Created { identification, new: true })
}

/// The sighting as the answer to a create shows it: with the profiles it may belong to.
fn with_candidates(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    settings: &ProfilesConfig,
    row: &IdentificationRow,
    mut identification: Identification,
) -> ApiResult<Identification> {
    let linked = identification.profile.as_ref().map(|p| p.id.to_string());
    identification.candidates =
        Some(crate::profiles::candidates::for_sighting(conn, index, user, settings, row, linked.as_deref())?);
    Ok(identification)
}

/// The answer to a replayed create: the record as its recorder may see it now (permissions may
/// have changed since), audited like any read. Stored answers hold only the id, so no personal
/// data sits in the idempotency table.
pub fn replay(
    tx: &mut Tx<'_>,
    index: &TerritoryIndex,
    user: &AuthUser,
    settings: &ProfilesConfig,
    id: &str,
    at: NaiveDateTime,
) -> ApiResult<Identification> {
    user.require(Permission::IdentificationsCreate)?;
    let row = find_row(tx, id)?
        .filter(|row| row.recorded_by == user.user_id)
        .ok_or_else(|| ApiError::not_found("identification"))?;
    let view = view(tx, index, user, &row)?;
    audit_read(tx, user, at, "identification.replay", &view)?;
    with_candidates(tx, index, user, settings, &row, view)
}
