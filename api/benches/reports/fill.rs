//! What a year of sightings lacks for the reports, written straight into the tables of the
//! sightings fill (`tirana_quarter`) and recognised by its own marks, so it is written once:
//!
//! - child profiles up to PROFILES (130,000) in all: children (one in ten an adult) first seen
//!   over the three years before the clock, in the municipalities the sightings are in, one in
//!   thirty of another nationality; references `RB-2025-…`;
//! - about REFERRALS (200,000) referrals (device `bench-reports`): chains made over the year,
//!   85 % of them for a sighting (about one sighting in six, so spread over the municipalities as
//!   the sightings are, with the sighting's profile when it is linked), the others for a child of
//!   the profiles above or an adult with none; sent to agencies of eight types (the municipality's
//!   own where it has one); priorities emergency 5 %, high 25 %, medium 50 %, low 20 %. Outside
//!   the last three weeks 72 % closed with an outcome of `referral_outcome`, 8 % declined, 5 %
//!   cancelled, 5 % forwarded once (a second link, which ends in its own way), the rest still
//!   open; in the last three weeks most are open. Acknowledged a median 40 minutes after sending,
//!   first contact a median 8 hours later, closed a median 4 days after that. Each link has its
//!   acknowledge, first contact and outcome deadlines, met, breached (late or not done in time)
//!   or void;
//! - CASES (4,000) protection cases (content hash `bench-reports`) opened over the 450 days
//!   before the clock, each for a different child (first those of referrals that ended in
//!   `case_opened`), in the child's municipality, 45 % closed with a reason, with 0–3 protection
//!   measures each.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use chrono::{Datelike, Duration, NaiveDateTime};
use diesel::prelude::*;
use terren_api::cases::store::{CaseRow, MeasureRow};
use terren_api::db::DbConnection;
use terren_api::db::schema::{
    agencies, child_profiles, identification_links, identifications, protection_cases, protection_measures,
    referral_deadlines, referrals, users,
};
use terren_api::ids::{AgencyId, CaseId, ReferralId};
use terren_api::profiles::store::ProfileRow;
use terren_api::referrals::store::ReferralRow;

use crate::support::{Random, env_or};

/// The device the fill's referrals are made from, which tells them from the demo's.
pub const DEVICE: &str = "bench-reports";
/// The prefix of the fill's profile references.
const REFERENCE: &str = "RB-2025";

pub struct Sizes {
    pub profiles: usize,
    pub referrals: usize,
    pub cases: usize,
}

impl Sizes {
    pub fn from_env() -> anyhow::Result<Sizes> {
        Ok(Sizes {
            profiles: env_or("PROFILES", 130_000)?,
            referrals: env_or("REFERRALS", 200_000)?,
            cases: env_or("CASES", 4_000)?,
        })
    }
}

impl Random {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// One of `choices` by weight.
    fn weighted<T: Copy>(&mut self, choices: &[(T, f64)]) -> T {
        let total: f64 = choices.iter().map(|c| c.1).sum();
        let mut left = self.unit() * total;
        for &(choice, weight) in choices {
            left -= weight;
            if left <= 0.0 {
                return choice;
            }
        }
        choices[choices.len() - 1].0
    }

    /// Minutes drawn around a median, spread by a factor of about e per standard deviation.
    fn minutes_around(&mut self, median: f64, spread: f64) -> Duration {
        let normal = (0..6).map(|_| self.unit()).sum::<f64>() - 3.0;
        Duration::seconds((median * (normal * spread).exp() * 60.0) as i64)
    }

    fn instant_within(&mut self, now: NaiveDateTime, days: i64) -> NaiveDateTime {
        now - Duration::seconds((self.unit() * (days * 86_400) as f64) as i64)
    }
}

/// A sighting referrals are made for.
#[derive(Queryable)]
struct Sighting {
    id: String,
    observed_at: NaiveDateTime,
    municipality_id: Option<String>,
    admin_unit_id: Option<String>,
    age_band: String,
    sex: String,
    agency_id: String,
    recorded_by: String,
    street_situations: String,
    profile_id: Option<String>,
}

struct Agency {
    id: String,
    kind: String,
    municipality: Option<String>,
}

/// The agencies by type, each type's by municipality, and a user of each agency.
struct Agencies {
    by_type: HashMap<String, Vec<Agency>>,
    users: HashMap<String, Vec<String>>,
}

impl Agencies {
    fn load(conn: &mut DbConnection) -> anyhow::Result<Agencies> {
        let rows: Vec<(String, String, Option<String>)> = agencies::table
            .filter(agencies::active.eq(true))
            .order(agencies::code)
            .select((agencies::id, agencies::agency_type, agencies::municipality_id))
            .load(conn)?;
        let mut by_type: HashMap<String, Vec<Agency>> = HashMap::new();
        for (id, kind, municipality) in rows {
            by_type.entry(kind.clone()).or_default().push(Agency { id, kind, municipality });
        }
        let mut users: HashMap<String, Vec<String>> = HashMap::new();
        let rows: Vec<(String, String)> =
            users::table.order(users::username).select((users::agency_id, users::id)).load(conn)?;
        for (agency, user) in rows {
            users.entry(agency).or_default().push(user);
        }
        Ok(Agencies { by_type, users })
    }

    /// An agency of `kind` in `municipality`, else one of that kind anywhere, else any
    /// child-protection unit.
    fn of(&self, random: &mut Random, kind: &str, municipality: Option<&str>) -> &Agency {
        let Some(all) = self.by_type.get(kind).or_else(|| self.by_type.get("child_protection_unit")) else {
            unreachable!("the seed has child-protection units")
        };
        let here: Vec<&Agency> = all.iter().filter(|a| a.municipality.as_deref() == municipality).collect();
        if here.is_empty() { random.pick(all) } else { here[random.below(here.len())] }
    }

    fn user(&self, random: &mut Random, agency: &str) -> Option<String> {
        self.users.get(agency).map(|users| random.pick(users).clone())
    }
}

const RECEIVERS: [(&str, f64); 8] = [
    ("child_protection_unit", 45.0),
    ("needs_assessment_unit", 15.0),
    ("community_centre", 10.0),
    ("police", 8.0),
    ("health", 8.0),
    ("ngo", 8.0),
    ("shelter", 3.0),
    ("social_services_directorate", 3.0),
];
const PRIORITIES: [(&str, f64); 4] = [("emergency", 5.0), ("high", 25.0), ("medium", 50.0), ("low", 20.0)];
const OUTCOMES: [(&str, f64); 13] = [
    ("returned_to_family", 22.0),
    ("community_centre_services", 15.0),
    ("health_services", 10.0),
    ("school_enrolment", 8.0),
    ("police_no_begging_declaration", 8.0),
    ("not_found", 9.0),
    ("prevented_not_seen_again", 8.0),
    ("case_opened", 4.0),
    ("protection_measure_taken", 3.0),
    ("accompanied_to_shelter", 3.0),
    ("employment_referral", 4.0),
    ("rent_support", 3.0),
    ("police_administrative_measure", 3.0),
];
const DECLINES: [(&str, f64); 5] = [
    ("not_our_area", 3.0),
    ("not_our_service", 3.0),
    ("no_capacity", 2.0),
    ("insufficient_information", 2.0),
    ("person_refused", 1.0),
];

/// How a link ends.
#[derive(Clone, Copy, PartialEq)]
enum End {
    Closed,
    Declined,
    Cancelled,
    Forwarded,
    Open,
}

/// Deadlines by priority: acknowledge and first contact, in minutes; the outcome in 30 days.
fn due_minutes(priority: &str) -> (i64, i64) {
    match priority {
        "emergency" => (30, 4 * 60),
        "high" => (2 * 60, 24 * 60),
        "medium" => (8 * 60, 3 * 24 * 60),
        _ => (24 * 60, 7 * 24 * 60),
    }
}

/// What a chain is made for.
struct Subject {
    identification_id: Option<String>,
    profile_id: Option<String>,
    subject_type: &'static str,
    age_band: String,
    sex: String,
    municipality_id: Option<String>,
    admin_unit_id: Option<String>,
    street_situations: String,
    origin_agency: String,
    origin_user: String,
    made_at: NaiveDateTime,
}

#[derive(Default)]
struct Written {
    referrals: Vec<ReferralRow>,
    deadlines: Vec<DeadlineRow>,
}

/// A deadline as written: referral, kind, due, met, breached, void.
type DeadlineRow =
    (String, &'static str, NaiveDateTime, Option<NaiveDateTime>, Option<NaiveDateTime>, Option<NaiveDateTime>);

/// The link sent at `sent_at` to `to`, ending as `end`; its deadlines too.
#[expect(clippy::too_many_arguments, reason = "a link is written from its chain, its agencies and its times")]
fn link(
    random: &mut Random,
    agencies: &Agencies,
    subject: &Subject,
    written: &mut Written,
    (id, chain_id, forwarded_from, forwarded_to): (String, String, Option<String>, Option<String>),
    (from_agency, to): (&str, &Agency),
    priority: &str,
    sent_at: NaiveDateTime,
    mut end: End,
    now: NaiveDateTime,
) -> NaiveDateTime {
    let acknowledged = sent_at + random.minutes_around(40.0, 1.0);
    let responded = acknowledged + random.minutes_around(15.0, 0.8);
    let contacted = responded + random.minutes_around(8.0 * 60.0, 1.0);
    let ended = match end {
        End::Closed => contacted + random.minutes_around(4.0 * 24.0 * 60.0, 0.8),
        End::Declined => responded,
        End::Cancelled => sent_at + random.minutes_around(20.0, 1.0),
        End::Forwarded => responded + random.minutes_around(3.0 * 60.0, 1.0),
        End::Open => now + Duration::days(1),
    };
    if ended > now && end != End::Open {
        end = End::Open;
    }
    let seen = |at: NaiveDateTime| (at <= now).then_some(at);
    let (acknowledged_at, responded_at, contacted_at) = match end {
        End::Closed => (Some(acknowledged), Some(responded), Some(contacted)),
        End::Declined | End::Forwarded => (Some(acknowledged), Some(responded), None),
        End::Cancelled => (None, None, None),
        // Still open: as far along as the clock allows, some waiting for the next act.
        End::Open => {
            let stage = random.below(4);
            (
                seen(acknowledged).filter(|_| stage > 0),
                seen(responded).filter(|_| stage > 1),
                seen(contacted).filter(|_| stage > 2),
            )
        }
    };
    let status = match end {
        End::Closed => "closed",
        End::Declined => "declined",
        End::Cancelled => "cancelled",
        End::Forwarded => "forwarded",
        End::Open if contacted_at.is_some() => "in_progress",
        End::Open if responded_at.is_some() => "accepted",
        End::Open if acknowledged_at.is_some() => "acknowledged",
        End::Open => "sent",
    };
    let ended_at = (end != End::Open).then_some(ended);
    let receiver = agencies.user(random, &to.id);
    let (acknowledge_due, contact_due) = due_minutes(priority);
    let dues = [
        ("acknowledge", sent_at + Duration::minutes(acknowledge_due), acknowledged_at),
        ("first_contact", sent_at + Duration::minutes(contact_due), contacted_at),
        ("outcome", sent_at + Duration::days(30), ended_at.filter(|_| end == End::Closed)),
    ];
    for (kind, due, done) in dues {
        let (met_at, breached_at, void_at) = match (done, ended_at) {
            (Some(done), _) if done <= due => (Some(done), None, None),
            (Some(done), _) => (Some(done), Some(due), None),
            (None, Some(ended)) if ended <= due => (None, None, Some(ended)),
            (None, _) if due <= now => (None, Some(due), None),
            (None, _) => (None, None, None),
        };
        written.deadlines.push((id.clone(), kind, due, met_at, breached_at, void_at));
    }
    let next_due_at = (end == End::Open)
        .then(|| dues.iter().filter(|(_, _, done)| done.is_none()).map(|(_, due, _)| *due).min())
        .flatten();
    let (outcome, decline_reason) = match end {
        End::Closed => (Some(random.weighted(&OUTCOMES).to_owned()), None),
        End::Declined => (None, Some(random.weighted(&DECLINES).to_owned())),
        _ => (None, None),
    };
    let first = forwarded_from.is_none();
    written.referrals.push(ReferralRow {
        id: ReferralId::from_stored(id),
        chain_id: ReferralId::from_stored(chain_id),
        origin_agency_id: AgencyId::from_stored(subject.origin_agency.clone()),
        origin_user_id: subject.origin_user.clone(),
        forwarded_from: forwarded_from.map(ReferralId::from_stored),
        forwarded_to: forwarded_to.map(ReferralId::from_stored),
        identification_id: subject.identification_id.clone(),
        profile_id: subject.profile_id.clone(),
        subject_type: subject.subject_type.into(),
        age_band: subject.age_band.clone(),
        sex: subject.sex.clone(),
        municipality_id: subject.municipality_id.clone(),
        admin_unit_id: subject.admin_unit_id.clone(),
        street_situations: subject.street_situations.clone(),
        risk_level: Some(priority.into()),
        from_agency_id: AgencyId::from_stored(from_agency),
        to_agency_id: AgencyId::from_stored(to.id.clone()),
        routing_method: if first { "rule" } else { "forward" }.into(),
        route_id: None,
        priority: priority.into(),
        reasons: "[\"street_situation\"]".into(),
        services: format!("[\"{}\"]", service_for(&to.kind)),
        notes: None,
        share: "minimal".into(),
        consent_given_by: None,
        consent_override_reason: None,
        status: status.into(),
        outcome,
        decline_reason,
        suggested_agency_id: None,
        created_by: subject.origin_user.clone(),
        device_id: DEVICE.into(),
        made_at: first.then_some(subject.made_at),
        sent_at,
        acknowledged_by: acknowledged_at.and(receiver.clone()),
        acknowledged_at,
        responded_by: responded_at.and(receiver.clone()),
        responded_at,
        contacted_at,
        ended_by: ended_at.and(receiver.or_else(|| Some(subject.origin_user.clone()))),
        ended_at,
        next_due_at,
        content_hash: DEVICE.into(),
        version: 1,
        updated_at: [Some(sent_at), acknowledged_at, responded_at, contacted_at, ended_at]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(sent_at),
    });
    ended
}

fn service_for(kind: &str) -> &'static str {
    match kind {
        "health" => "health_care",
        "police" => "police_assistance",
        "shelter" => "shelter_placement",
        "community_centre" => "community_centre_services",
        "needs_assessment_unit" => "needs_assessment",
        _ => "child_protection_assessment",
    }
}

/// Adds what the reports need unless it is there. The profiles are written first and kept if
/// what follows fails; the referrals and cases are written in one transaction.
pub fn fill_once(conn: &mut DbConnection, now: NaiveDateTime, sizes: &Sizes) -> anyhow::Result<()> {
    let cases: i64 =
        protection_cases::table.filter(protection_cases::content_hash.eq(DEVICE)).count().get_result(conn)?;
    if cases > 0 {
        return Ok(());
    }
    fill(conn, now, sizes)?;
    if let DbConnection::Postgres(pg) = conn {
        diesel::connection::SimpleConnection::batch_execute(
            pg,
            "VACUUM ANALYZE child_profiles, referrals, referral_deadlines, protection_cases, protection_measures",
        )?;
    }
    Ok(())
}

/// What the referrals and cases take from a profile of the fill.
#[derive(Queryable)]
struct Profile {
    id: String,
    subject_type: String,
    sex: String,
    municipality_id: Option<String>,
    admin_unit_id: Option<String>,
}

fn fill(conn: &mut DbConnection, now: NaiveDateTime, sizes: &Sizes) -> anyhow::Result<()> {
    let began = Instant::now();
    let mut random = Random(0x5eed_0000_0017_0001);
    let agencies = Agencies::load(conn)?;
    // About one sighting of the fill in six, by the last digit of its random id.
    let sample: Vec<Sighting> = identifications::table
        .left_join(identification_links::table)
        .filter(identifications::device_id.eq("bench"))
        .filter(identifications::id.like("%0").or(identifications::id.like("%1")).or(identifications::id.like("%2")))
        .order((identifications::observed_at, identifications::id))
        .select((
            identifications::id,
            identifications::observed_at,
            identifications::municipality_id,
            identifications::admin_unit_id,
            identifications::age_band,
            identifications::sex,
            identifications::agency_id,
            identifications::recorded_by,
            identifications::street_situations,
            identification_links::profile_id.nullable(),
        ))
        .load(conn)?;
    anyhow::ensure!(!sample.is_empty(), "no sightings of the sightings fill");
    eprintln!("reports fill: {} sightings to refer from ({:.0} s)", sample.len(), began.elapsed().as_secs_f64());

    // Profiles up to the number asked for, unless an earlier run wrote them.
    let ours = || child_profiles::table.filter(child_profiles::reference.like(format!("{REFERENCE}-%")));
    let written: i64 = ours().count().get_result(conn)?;
    let existing: i64 =
        if written > 0 { sizes.profiles as i64 } else { child_profiles::table.count().get_result(conn)? };
    let extra = sizes.profiles.saturating_sub(existing as usize);
    let mut new_profiles = Vec::with_capacity(extra);
    for n in 0..extra {
        let place = random.pick(&sample);
        let adult = random.unit() < 0.1;
        let age = if adult { 18 + random.below(40) as i32 } else { random.below(18) as i32 };
        let first = random.instant_within(now, 3 * 365);
        let last = first + Duration::seconds((random.unit() * (now - first).num_seconds() as f64) as i64);
        let agency = agencies.of(&mut random, "child_protection_unit", place.municipality_id.as_deref());
        new_profiles.push(ProfileRow {
            id: random.uuid(),
            reference: format!("{REFERENCE}-{:06}", n + 1),
            subject_type: if adult { "adult" } else { "child" }.into(),
            status: "identified".into(),
            given_name: None,
            family_name: None,
            sex: if random.unit() < 0.45 { "female" } else { "male" }.into(),
            birth_year: Some(now.year() - age),
            birth_year_estimated: true,
            nationality: Some(if random.unit() < 1.0 / 30.0 { "XK" } else { "AL" }.into()),
            languages: "[\"sq\"]".into(),
            residence_origin: Some(
                random
                    .weighted(&[("resident", 6.0), ("other_municipality", 3.0), ("foreign", 0.3), ("unknown", 1.0)])
                    .into(),
            ),
            family_contacts: None,
            municipality_id: place.municipality_id.clone(),
            admin_unit_id: place.admin_unit_id.clone(),
            agency_id: AgencyId::from_stored(agency.id.clone()),
            created_by: agencies.user(&mut random, &agency.id).unwrap_or_else(|| place.recorded_by.clone()),
            merged_into: None,
            sightings_count: 1 + random.below(6) as i32,
            first_seen_at: first,
            last_seen_at: last,
            version: 1,
            created_at: first,
            updated_at: last,
        });
    }
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        for chunk in new_profiles.chunks(500) {
            insert_rows!(conn, diesel::insert_into(child_profiles::table).values(chunk))?;
        }
        Ok(())
    })?;
    let profiles: Vec<Profile> = ours()
        .order(child_profiles::reference)
        .select((
            child_profiles::id,
            child_profiles::subject_type,
            child_profiles::sex,
            child_profiles::municipality_id,
            child_profiles::admin_unit_id,
        ))
        .load(conn)?;
    eprintln!("reports fill: {} child profiles ({:.0} s)", profiles.len(), began.elapsed().as_secs_f64());
    let children: Vec<&Profile> = profiles.iter().filter(|p| p.subject_type == "child").collect();

    // Referral chains: each sighting of the sample with a probability, then chains for no sighting.
    let chains = (sizes.referrals as f64 / 1.05).round() as usize;
    let from_sightings = (chains * 85 / 100).min(sample.len());
    let share = from_sightings as f64 / sample.len() as f64;
    let mut subjects = Vec::with_capacity(chains);
    for sighting in &sample {
        if random.unit() >= share {
            continue;
        }
        subjects.push(Subject {
            identification_id: Some(sighting.id.clone()),
            profile_id: sighting.profile_id.clone(),
            subject_type: "child",
            age_band: sighting.age_band.clone(),
            sex: sighting.sex.clone(),
            municipality_id: sighting.municipality_id.clone(),
            admin_unit_id: sighting.admin_unit_id.clone(),
            street_situations: sighting.street_situations.clone(),
            origin_agency: sighting.agency_id.clone(),
            origin_user: sighting.recorded_by.clone(),
            made_at: sighting.observed_at + random.minutes_around(30.0, 1.0),
        });
    }
    while subjects.len() < chains {
        let place = random.pick(&sample);
        let child = random.unit() < 0.5 && !children.is_empty();
        let profile = child.then(|| *random.pick(&children));
        let made_at = random.instant_within(now, 365);
        subjects.push(Subject {
            identification_id: None,
            profile_id: profile.map(|p| p.id.clone()),
            subject_type: if child { "child" } else { "adult" },
            age_band: if child { ["4-6", "7-9", "10-12", "13-15", "16-18"][random.below(5)] } else { "adult" }.into(),
            sex: profile.map_or_else(|| if random.unit() < 0.5 { "female" } else { "male" }.into(), |p| p.sex.clone()),
            municipality_id: profile.map_or_else(|| place.municipality_id.clone(), |p| p.municipality_id.clone()),
            admin_unit_id: profile.map_or_else(|| place.admin_unit_id.clone(), |p| p.admin_unit_id.clone()),
            street_situations: if child { "[\"begging\"]" } else { "[\"living_on_street\"]" }.into(),
            origin_agency: place.agency_id.clone(),
            origin_user: place.recorded_by.clone(),
            made_at,
        });
    }
    conn.transaction(|conn| referrals_and_cases(conn, &mut random, &agencies, &sample, &subjects, now, sizes, began))
}

/// Writes the referral chains of `subjects` and the cases.
#[expect(clippy::too_many_arguments, reason = "the fill's sample, subjects and clock go in together")]
fn referrals_and_cases(
    conn: &mut DbConnection,
    random: &mut Random,
    agencies: &Agencies,
    sample: &[Sighting],
    subjects: &[Subject],
    now: NaiveDateTime,
    sizes: &Sizes,
    began: Instant,
) -> anyhow::Result<()> {
    let mut written = Written::default();
    let mut links = 0;
    let mut case_referrals: Vec<(String, String, NaiveDateTime)> = Vec::new();
    for (n, subject) in subjects.iter().enumerate() {
        let made_at = subject.made_at.min(now - Duration::minutes(5));
        let sent_at = (made_at + random.minutes_around(3.0, 1.0)).min(now);
        let recent = sent_at > now - Duration::days(21);
        let end = if recent {
            random.weighted(&[(End::Closed, 30.0), (End::Declined, 5.0), (End::Cancelled, 5.0), (End::Open, 60.0)])
        } else {
            random.weighted(&[
                (End::Closed, 72.0),
                (End::Declined, 8.0),
                (End::Cancelled, 5.0),
                (End::Forwarded, 5.0),
                (End::Open, 10.0),
            ])
        };
        let priority = random.weighted(&PRIORITIES);
        let kind = random_receiver(random);
        let first_to = agencies.of(random, kind, subject.municipality_id.as_deref());
        let id = random.uuid();
        let second = (end == End::Forwarded).then(|| random.uuid());
        let ended = link(
            random,
            agencies,
            subject,
            &mut written,
            (id.clone(), id.clone(), None, second.clone()),
            (&subject.origin_agency, first_to),
            priority,
            sent_at,
            end,
            now,
        );
        links += 1;
        if let Some(second) = second {
            let kind = random_receiver(random);
            let to = agencies.of(random, kind, subject.municipality_id.as_deref());
            let end = random.weighted(&[(End::Closed, 80.0), (End::Declined, 5.0), (End::Open, 15.0)]);
            link(
                random,
                agencies,
                subject,
                &mut written,
                (second, id.clone(), Some(id.clone()), None),
                (&first_to.id.clone(), to),
                priority,
                ended.min(now),
                end,
                now,
            );
            links += 1;
        }
        let Some(last) = written.referrals.last() else { unreachable!("a chain's first link was just written") };
        if last.outcome.as_deref() == Some("case_opened")
            && let (Some(profile), Some(ended)) = (&subject.profile_id, last.ended_at)
        {
            case_referrals.push((last.id.to_string(), profile.clone(), ended));
        }
        if written.referrals.len() >= 10_000 || n + 1 == subjects.len() {
            let mut batch = std::mem::take(&mut written);
            // A forwarded link and the next refer to each other: the first is written without
            // its forward, which is set once the next is written.
            let forwards: Vec<(ReferralId, ReferralId)> =
                batch.referrals.iter_mut().filter_map(|row| Some((row.id.clone(), row.forwarded_to.take()?))).collect();
            conn.transaction::<_, diesel::result::Error, _>(|conn| {
                for chunk in batch.referrals.chunks(500) {
                    insert_rows!(conn, diesel::insert_into(referrals::table).values(chunk))?;
                }
                for (id, next) in &forwards {
                    diesel::update(referrals::table.find(id)).set(referrals::forwarded_to.eq(next)).execute(conn)?;
                }
                let deadlines: Vec<_> = batch
                    .deadlines
                    .iter()
                    .map(|(referral, kind, due, met, breached, void)| {
                        (
                            referral_deadlines::referral_id.eq(referral),
                            referral_deadlines::kind.eq(*kind),
                            referral_deadlines::due_at.eq(*due),
                            referral_deadlines::met_at.eq(*met),
                            referral_deadlines::breached_at.eq(*breached),
                            referral_deadlines::void_at.eq(*void),
                        )
                    })
                    .collect();
                for chunk in deadlines.chunks(2000) {
                    insert_rows!(conn, diesel::insert_into(referral_deadlines::table).values(chunk))?;
                }
                Ok(())
            })?;
            if (n + 1) % 50_000 < 9_000 || n + 1 == subjects.len() {
                eprintln!("reports fill: {links} referrals ({:.0} s)", began.elapsed().as_secs_f64());
            }
        }
    }

    // Cases, each for a different child: those of referrals first, then children of any profile.
    let all_children: Vec<(String, Option<String>, Option<i32>)> = child_profiles::table
        .filter(child_profiles::subject_type.eq("child"))
        .order(child_profiles::id)
        .select((child_profiles::id, child_profiles::municipality_id, child_profiles::birth_year))
        .load(conn)?;
    let of_profile: HashMap<&str, (Option<String>, Option<i32>)> =
        all_children.iter().map(|(id, m, born)| (id.as_str(), (m.clone(), *born))).collect();
    let mut taken = HashSet::new();
    let mut planned: Vec<(Option<String>, String, NaiveDateTime)> = Vec::new();
    for (referral, profile, opened) in case_referrals {
        if planned.len() < sizes.cases && of_profile.contains_key(profile.as_str()) && taken.insert(profile.clone()) {
            planned.push((Some(referral), profile, opened));
        }
    }
    let from_referrals = planned.len();
    while planned.len() < sizes.cases && taken.len() < all_children.len() {
        let (profile, _, _) = random.pick(&all_children);
        if taken.insert(profile.clone()) {
            planned.push((None, profile.clone(), random.instant_within(now, 450)));
        }
    }
    let mut cases = Vec::with_capacity(planned.len());
    let mut measures = Vec::new();
    for (referral, profile, opened_at) in planned {
        let (municipality, born) = of_profile[profile.as_str()].clone();
        let agency = agencies.of(random, "child_protection_unit", municipality.as_deref());
        let worker = agencies.user(random, &agency.id).unwrap_or_else(|| sample[0].recorded_by.clone());
        let closed_at = (random.unit() < 0.45)
            .then(|| opened_at + Duration::days(20 + random.below(280) as i64))
            .filter(|&closed| closed < now);
        let age = born.map_or(10, |born| opened_at.year() - born);
        let age_band = match age {
            ..=3 => "0-3",
            4..=6 => "4-6",
            7..=9 => "7-9",
            10..=12 => "10-12",
            13..=15 => "13-15",
            _ => "16-18",
        };
        let id = random.uuid();
        let until = closed_at.unwrap_or(now);
        for _ in 0..random.below(4) {
            let taken_at =
                opened_at + Duration::seconds((random.unit() * (until - opened_at).num_seconds() as f64) as i64);
            measures.push(MeasureRow {
                id: random.uuid(),
                case_id: CaseId::from_stored(id.clone()),
                measure: random
                    .weighted(&[
                        ("emergency_measure", 2.0),
                        ("alternative_care", 3.0),
                        ("specialised_supervision", 5.0),
                    ])
                    .into(),
                taken_at,
                recorded_by: worker.clone(),
                recorded_at: taken_at,
            });
        }
        let optional = |random: &mut Random, choices: &[(&'static str, f64)]| {
            (random.unit() >= 0.1).then(|| random.weighted(choices).to_owned())
        };
        cases.push(CaseRow {
            id: CaseId::from_stored(id),
            profile_id: profile,
            agency_id: AgencyId::from_stored(agency.id.clone()),
            municipality_id: municipality,
            referral_id: referral,
            opened_at,
            identified_by: random
                .weighted(&[
                    ("field_squad", 35.0),
                    ("police", 20.0),
                    ("school", 10.0),
                    ("child_protection_worker", 15.0),
                    ("ngo", 8.0),
                    ("health", 5.0),
                    ("parent", 4.0),
                    ("other", 3.0),
                ])
                .into(),
            age_band: age_band.into(),
            ethnicity: optional(
                random,
                &[
                    ("albanian_majority", 40.0),
                    ("roma", 25.0),
                    ("egyptian", 15.0),
                    ("other", 5.0),
                    ("not_stated", 15.0),
                ],
            ),
            risk_level: optional(random, &[("emergency", 5.0), ("high", 30.0), ("medium", 45.0), ("low", 20.0)]),
            primary_problem: optional(
                random,
                &[
                    ("street_situation", 45.0),
                    ("neglect", 20.0),
                    ("socio_economic", 15.0),
                    ("physical_violence", 8.0),
                    ("without_parental_care", 5.0),
                    ("trafficking", 3.0),
                    ("other", 4.0),
                ],
            ),
            closed_at,
            closure_reason: closed_at.map(|_| {
                random
                    .weighted(&[
                        ("risk_reduced", 45.0),
                        ("out_of_risk", 30.0),
                        ("moved_residence", 15.0),
                        ("turned_18", 10.0),
                    ])
                    .into()
            }),
            content_hash: DEVICE.into(),
            created_by: worker,
            version: 1,
            created_at: opened_at,
            updated_at: closed_at.unwrap_or(opened_at),
        });
    }
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        for chunk in cases.chunks(500) {
            insert_rows!(conn, diesel::insert_into(protection_cases::table).values(chunk))?;
        }
        for chunk in measures.chunks(1000) {
            insert_rows!(conn, diesel::insert_into(protection_measures::table).values(chunk))?;
        }
        Ok(())
    })?;
    eprintln!(
        "reports fill: {links} referrals in {} chains, {} cases ({from_referrals} from referrals), {} measures in \
         {:.0} s",
        subjects.len(),
        cases.len(),
        measures.len(),
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

fn random_receiver(random: &mut Random) -> &'static str {
    random.weighted(&RECEIVERS)
}
