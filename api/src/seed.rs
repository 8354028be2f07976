//! Reference data (areas, agencies, vocabularies) and demo accounts, embedded from `seed/` so the
//! binary carries them. Loading is idempotent: rows are inserted only when their code is missing,
//! so edits made by administrators survive every restart.

pub mod demo;
pub mod field;

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Deserialize;
use terren_contract::Role;
use terren_contract::areas::{AreaKind, AreaLevel};
use terren_contract::users::CreateUserRequest;
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::db::schema::{agencies, agency_areas, area_aliases, areas, users, vocabulary_entries};
use crate::db::{DbConnection, PooledConn, Tx, backend};
use crate::state::AppState;
use crate::territory::fold::fold;
use crate::territory::service::AreaRow;
use crate::vocabularies::wire_code;

const COUNTIES: &str = include_str!("../../seed/areas/counties.json");
const MUNICIPALITIES: &str = include_str!("../../seed/areas/municipalities.json");
const ADMIN_UNITS: &str = include_str!("../../seed/areas/admin_units.json");
const AGENCIES: &str = include_str!("../../seed/agencies.json");
const VOCABULARIES: &str = include_str!("../../seed/vocabularies.json");
const DEMO_USERS: &str = include_str!("../../seed/demo/users.json");

/// The password of every demo account; printed by `serve --demo`.
pub const DEMO_PASSWORD: &str = "terren-demo-2026";

/// The default time zone of agencies.
pub const DEFAULT_TIME_ZONE: &str = "Europe/Tirane";

#[derive(Deserialize)]
struct SeedArea {
    code: String,
    name: String,
    #[serde(alias = "county", alias = "municipality")]
    parent: Option<String>,
    #[serde(default)]
    kind: Option<AreaKind>,
    centroid_lat: f64,
    centroid_lon: f64,
    #[serde(default)]
    centroid_approximate: bool,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    external_codes: Vec<String>,
}

#[derive(Deserialize)]
struct SeedAgency {
    code: String,
    name: String,
    name_en: Option<String>,
    #[serde(rename = "type")]
    agency_type: String,
    municipality: Option<String>,
    #[serde(default)]
    areas: Vec<String>,
    address: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    hours: Option<String>,
    is_24_7: bool,
    capacity: Option<i32>,
    parent: Option<String>,
    notes: Option<String>,
}

#[derive(Deserialize)]
struct SeedVocabularyEntry {
    code: String,
    sq: String,
    en: String,
}

#[derive(Deserialize)]
pub struct DemoUser {
    pub username: String,
    pub display_name: String,
    pub agency: String,
    pub roles: Vec<Role>,
    pub phone: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    pub areas: usize,
    pub agencies: usize,
    pub vocabulary_entries: usize,
    pub routing_rules: usize,
    pub users: usize,
}

impl SeedReport {
    pub fn total(&self) -> usize {
        self.areas + self.agencies + self.vocabulary_entries + self.routing_rules + self.users
    }
}

/// Loads areas, vocabularies and agencies that are not there yet.
pub fn seed_reference(conn: &mut PooledConn, at: NaiveDateTime) -> anyhow::Result<SeedReport> {
    backend::write_transaction(conn, |tx| {
        let mut report = SeedReport::default();
        for (level, text) in [
            (AreaLevel::County, COUNTIES),
            (AreaLevel::Municipality, MUNICIPALITIES),
            (AreaLevel::AdminUnit, ADMIN_UNITS),
        ] {
            let seed: Vec<SeedArea> = serde_json::from_str(text)?;
            report.areas += seed_areas(tx, level, &seed, at)?;
        }
        report.vocabulary_entries = seed_vocabularies(tx, at)?;
        report.agencies = seed_agencies(tx, at)?;
        report.routing_rules = crate::referrals::routing_rules::seed_default_rules(tx, at)?;
        if report.total() > 0 {
            audit::record(
                tx,
                &Actor::system(),
                at,
                "seed.reference",
                "seed",
                "reference",
                serde_json::json!({ "areas": report.areas, "agencies": report.agencies, "vocabulary_entries": report.vocabulary_entries, "routing_rules": report.routing_rules }),
            )?;
        }
        Ok(report)
    })
}

fn area_ids_by_code(conn: &mut DbConnection) -> QueryResult<HashMap<String, String>> {
    Ok(areas::table.select((areas::code, areas::id)).load::<(String, String)>(conn)?.into_iter().collect())
}

fn seed_areas(tx: &mut Tx<'_>, level: AreaLevel, seed: &[SeedArea], at: NaiveDateTime) -> anyhow::Result<usize> {
    let existing = area_ids_by_code(tx)?;
    let mut inserted = 0;
    for area in seed.iter().filter(|a| !existing.contains_key(&a.code)) {
        let parent_id = match &area.parent {
            Some(code) => Some(
                existing
                    .get(code)
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("area {} names unknown parent {code}", area.code))?,
            ),
            None => None,
        };
        let row = AreaRow {
            id: Uuid::now_v7().to_string(),
            code: area.code.clone(),
            level: level.as_str().to_owned(),
            kind: wire_code(area.kind.unwrap_or(AreaKind::of_level(level))),
            name: area.name.clone(),
            name_folded: fold(&area.name),
            parent_id,
            centroid_lat: area.centroid_lat,
            centroid_lon: area.centroid_lon,
            centroid_approximate: area.centroid_approximate,
            boundary_id: None,
            active: true,
            created_at: at,
            updated_at: at,
        };
        diesel::insert_into(areas::table).values(&row).execute(tx.conn())?;
        let names = area.aliases.iter().map(|a| (a, false));
        let codes = area.external_codes.iter().map(|c| (c, true));
        let mut seen = std::collections::HashSet::new();
        for (alias, is_code) in names.chain(codes) {
            if !seen.insert(alias.as_str()) {
                continue;
            }
            diesel::insert_into(area_aliases::table)
                .values((
                    area_aliases::area_id.eq(&row.id),
                    area_aliases::alias.eq(alias),
                    area_aliases::alias_folded.eq(fold(alias)),
                    area_aliases::is_code.eq(is_code),
                ))
                .execute(tx.conn())?;
        }
        inserted += 1;
    }
    Ok(inserted)
}

fn seed_vocabularies(tx: &mut Tx<'_>, at: NaiveDateTime) -> anyhow::Result<usize> {
    let seed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(VOCABULARIES)?;
    let existing: std::collections::HashSet<(String, String)> = vocabulary_entries::table
        .select((vocabulary_entries::vocabulary, vocabulary_entries::code))
        .load::<(String, String)>(tx.conn())?
        .into_iter()
        .collect();
    let mut inserted = 0;
    for (vocabulary, entries) in seed {
        let entries: Vec<SeedVocabularyEntry> = serde_json::from_value(entries)?;
        for (position, entry) in entries.iter().enumerate() {
            if existing.contains(&(vocabulary.clone(), entry.code.clone())) {
                continue;
            }
            diesel::insert_into(vocabulary_entries::table)
                .values((
                    vocabulary_entries::vocabulary.eq(&vocabulary),
                    vocabulary_entries::code.eq(&entry.code),
                    vocabulary_entries::label_sq.eq(&entry.sq),
                    vocabulary_entries::label_en.eq(&entry.en),
                    vocabulary_entries::sort_order.eq(i32::try_from(position).unwrap_or(i32::MAX)),
                    vocabulary_entries::active.eq(true),
                    vocabulary_entries::updated_at.eq(at),
                ))
                .execute(tx.conn())?;
            inserted += 1;
        }
    }
    Ok(inserted)
}

fn seed_agencies(tx: &mut Tx<'_>, at: NaiveDateTime) -> anyhow::Result<usize> {
    let seed: Vec<SeedAgency> = serde_json::from_str(AGENCIES)?;
    let area_ids = area_ids_by_code(tx)?;
    let mut agency_ids: HashMap<String, String> = agencies::table
        .select((agencies::code, agencies::id))
        .load::<(String, String)>(tx.conn())?
        .into_iter()
        .collect();
    let area = |code: &str| {
        area_ids.get(code).cloned().ok_or_else(|| anyhow::anyhow!("agency seed names unknown area {code}"))
    };
    let mut inserted = 0;
    // Parents first, so that every parent exists when its children are inserted.
    let (roots, children): (Vec<&SeedAgency>, Vec<&SeedAgency>) = seed.iter().partition(|a| a.parent.is_none());
    for agency in roots.into_iter().chain(children) {
        if agency_ids.contains_key(&agency.code) {
            continue;
        }
        let id = Uuid::now_v7().to_string();
        let municipality_id = agency.municipality.as_deref().map(area).transpose()?;
        let parent_id = match &agency.parent {
            Some(code) => Some(
                agency_ids
                    .get(code)
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("agency {} names unknown parent {code}", agency.code))?,
            ),
            None => None,
        };
        diesel::insert_into(agencies::table)
            .values((
                agencies::id.eq(&id),
                agencies::code.eq(&agency.code),
                agencies::name.eq(&agency.name),
                agencies::name_en.eq(&agency.name_en),
                agencies::agency_type.eq(&agency.agency_type),
                agencies::municipality_id.eq(municipality_id),
                agencies::parent_id.eq(parent_id),
                agencies::address.eq(&agency.address),
                agencies::phone.eq(&agency.phone),
                agencies::email.eq(&agency.email),
                agencies::hours.eq(&agency.hours),
                agencies::is_24_7.eq(agency.is_24_7),
                agencies::capacity.eq(agency.capacity),
                agencies::time_zone.eq(DEFAULT_TIME_ZONE),
                agencies::notes.eq(&agency.notes),
                agencies::active.eq(true),
                agencies::version.eq(1),
                agencies::created_at.eq(at),
                agencies::updated_at.eq(at),
            ))
            .execute(tx.conn())?;
        for code in &agency.areas {
            diesel::insert_into(agency_areas::table)
                .values((agency_areas::agency_id.eq(&id), agency_areas::area_id.eq(area(code)?)))
                .execute(tx.conn())?;
        }
        agency_ids.insert(agency.code.clone(), id);
        inserted += 1;
    }
    Ok(inserted)
}

pub fn demo_users() -> anyhow::Result<Vec<DemoUser>> {
    Ok(serde_json::from_str(DEMO_USERS)?)
}

/// Creates the demo accounts that do not exist yet, all with `DEMO_PASSWORD`.
pub fn seed_demo_users(state: &AppState, conn: &mut PooledConn) -> anyhow::Result<usize> {
    let mut created = 0;
    for user in demo_users()? {
        let exists: i64 = users::table.filter(users::username.eq(&user.username)).count().get_result(conn)?;
        if exists > 0 {
            continue;
        }
        let request = CreateUserRequest {
            username: user.username,
            display_name: user.display_name,
            agency_code: user.agency,
            roles: user.roles,
            phone: user.phone,
            email: None,
            password: DEMO_PASSWORD.to_owned(),
        };
        crate::accounts::service::create_user(state, conn, None, &request).map_err(|e| {
            anyhow::anyhow!("demo user {}: {:?} {}", request.username, e.code, e.detail.unwrap_or_default())
        })?;
        created += 1;
    }
    Ok(created)
}

/// Demo accounts (by the usernames in `seed/demo`) that still accept the published
/// `DEMO_PASSWORD`, with their ids and versions. Each stored hash is verified, so an account
/// whose password was changed is not listed.
fn demo_accounts_with_demo_password(state: &AppState, conn: &mut DbConnection) -> anyhow::Result<Vec<DemoAccount>> {
    let names: Vec<String> = demo_users()?.into_iter().map(|u| u.username).collect();
    let rows: Vec<(String, String, String, i32, Option<NaiveDateTime>)> = users::table
        .filter(users::username.eq_any(&names))
        .select((users::id, users::username, users::password_hash, users::version, users::disabled_at))
        .order(users::username.asc())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|(_, _, hash, _, _)| state.passwords.verify(DEMO_PASSWORD, hash))
        .map(|(id, username, _, version, disabled_at)| DemoAccount { id, username, version, disabled_at })
        .collect())
}

struct DemoAccount {
    id: String,
    username: String,
    version: i32,
    disabled_at: Option<NaiveDateTime>,
}

/// Usernames of demo accounts that anyone who read the README could sign in to.
pub fn demo_password_accounts(state: &AppState, conn: &mut DbConnection) -> anyhow::Result<Vec<String>> {
    Ok(demo_accounts_with_demo_password(state, conn)?.into_iter().map(|a| a.username).collect())
}

/// Disables every demo account that still has the demo password: it can no longer sign in (its
/// password is replaced by a random one nobody knows), its sessions end, and the audit log
/// records each. Returns the usernames.
pub fn disable_demo_accounts(state: &AppState, conn: &mut PooledConn) -> anyhow::Result<Vec<String>> {
    let accounts = demo_accounts_with_demo_password(state, conn)?;
    let mut hashes = Vec::with_capacity(accounts.len());
    for _ in &accounts {
        hashes.push(state.passwords.hash(&crate::auth::tokens::generate_secret()?)?);
    }
    let at = state.clock.now_naive();
    backend::write_transaction(conn, |tx| {
        for (DemoAccount { id, username, version, disabled_at }, hash) in accounts.iter().zip(&hashes) {
            diesel::update(users::table.find(id))
                .set((
                    users::password_hash.eq(hash),
                    users::must_change_password.eq(true),
                    users::disabled_at.eq(disabled_at.or(Some(at))),
                    users::password_changed_at.eq(at),
                    users::updated_at.eq(at),
                    users::version.eq(version + 1),
                ))
                .execute(tx.conn())?;
            let ended = crate::accounts::model::revoke_user_sessions(tx, id, "user_disabled", at)?;
            audit::record(
                tx,
                &Actor::system(),
                at,
                "user.disable_demo",
                "user",
                id,
                serde_json::json!({ "username": username, "sessions_ended": ended }),
            )?;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(accounts.into_iter().map(|a| a.username).collect())
}
