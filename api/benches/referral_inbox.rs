//! The referral inbox of a busy agency: `referrals::service::list` as `GET /api/v1/referrals`
//! runs it (the full views included), for a case manager of the receiving agency, over
//! REFERRALS referrals addressed to that agency and OTHERS addressed to other agencies.
//!
//! Needs an already migrated and seeded database (`terren seed --demo`): the referrals go from
//! AL224-QKT (made by `tirana.field`) to AL224-NJMF, whose case manager `tirana.pmf` reads them;
//! the others go from AL224-QKT to every other active agency. The first run fills the database
//! (later runs with the same URL reuse it): referrals sent over the year before the bench's clock
//! (2026-11-24 12:00 UTC), each with its three deadlines, most of them ended, the recent ones more
//! often still open; an open referral with a deadline passed unmet is overdue. The queries: the
//! first page of `box=inbox`, of `box=inbox&open=true` and of `box=inbox&overdue=true`, and the
//! page DEEP_PAGES (200) pages into `box=inbox`, reached by following `next_cursor`. Each is run
//! RUNS times after 50 unrecorded runs (warm), and p50, p95, p99 and max are printed.
//!
//! ```sh
//! DATABASE_URL=sqlite:///tmp/benchref/terren.db REFERRALS=100000 OTHERS=100000 RUNS=1000 cargo bench --bench referral_inbox
//! ```

#[macro_use]
#[expect(dead_code, reason = "its figures are printed in its own form, not with `report_ms`")]
mod support;

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, anyhow};
use chrono::{Duration, NaiveDateTime, TimeZone, Utc};
use diesel::prelude::*;
use terren_api::access::AuthUser;
use terren_api::clock::ManualClock;
use terren_api::db::DbConnection;
use terren_api::db::schema::{agencies, areas, referral_deadlines, referrals};
use terren_api::ids::{AgencyId, ReferralId};
use terren_api::referrals::service::{ReferralRow, list};
use terren_api::state::AppState;
use terren_api::territory::index::TerritoryIndex;
use terren_contract::referrals::{ReferralBox, ReferralListQuery};

use support::{Random, acting_as, agency_id, bench_config, env_or, percentile, user_id};

const PROBLEMS: [&str; 6] =
    ["street_situation", "neglect", "socio_economic", "physical_violence", "trafficking", "unregistered_civil_status"];
const SERVICES: [&str; 6] = [
    "child_protection_assessment",
    "needs_assessment",
    "health_care",
    "psychological_support",
    "community_centre_services",
    "school_enrolment",
];
const OUTCOMES: [&str; 5] =
    ["returned_to_family", "community_centre_services", "health_services", "case_opened", "prevented_not_seen_again"];
const DECLINES: [&str; 4] = ["not_our_area", "no_capacity", "already_handled", "insufficient_information"];
const SITUATIONS: [&str; 4] = ["begging", "selling_items", "working", "with_adult_begging"];
const CHILD_BANDS: [&str; 5] = ["4-6", "7-9", "10-12", "13-15", "16-18"];

impl Random {
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// A span of `minutes` stretched by a factor between `low` and `high`.
    fn scaled(&mut self, minutes: i64, low: f64, high: f64) -> Duration {
        Duration::seconds((minutes as f64 * 60.0 * (low + self.unit() * (high - low))) as i64)
    }
}

fn now() -> anyhow::Result<NaiveDateTime> {
    Ok(Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().context("time")?.naive_utc())
}

/// The rows the fill refers to, from the seeded database.
struct Ids {
    njmf: AgencyId,
    qkt: AgencyId,
    field: String,
    pmf: String,
    tirana: String,
    units: Vec<String>,
    /// Every other active agency and its municipality.
    others: Vec<(AgencyId, Option<String>)>,
}

fn ids(conn: &mut DbConnection) -> anyhow::Result<Ids> {
    let njmf = agency_id(conn, "AL224-NJMF")?;
    let tirana: String =
        areas::table.filter(areas::code.eq("AL224")).select(areas::id).get_result(conn).context("Tirana")?;
    let units: Vec<String> =
        areas::table.filter(areas::parent_id.eq(&tirana)).select(areas::id).order(areas::code.asc()).load(conn)?;
    let others: Vec<(AgencyId, Option<String>)> = agencies::table
        .filter(agencies::active.eq(true))
        .filter(agencies::id.ne(&njmf))
        .order(agencies::code.asc())
        .select((agencies::id, agencies::municipality_id))
        .load(conn)?;
    anyhow::ensure!(!units.is_empty() && !others.is_empty(), "Tirana's units and the agency directory are seeded");
    Ok(Ids {
        njmf,
        qkt: agency_id(conn, "AL224-QKT")?,
        field: user_id(conn, "tirana.field")?,
        pmf: user_id(conn, "tirana.pmf")?,
        tirana,
        units,
        others,
    })
}

#[derive(Insertable)]
#[diesel(table_name = referral_deadlines)]
struct NewDeadline {
    referral_id: ReferralId,
    kind: String,
    due_at: NaiveDateTime,
    met_at: Option<NaiveDateTime>,
    breached_at: Option<NaiveDateTime>,
    void_at: Option<NaiveDateTime>,
}

/// Where one referral goes and who answers it there.
struct Addressee<'a> {
    agency: &'a AgencyId,
    municipality: Option<&'a str>,
    unit: Option<&'a str>,
    responder: Option<&'a str>,
}

/// Minutes to acknowledge, to first contact and to an outcome, per priority: the shipped default
/// policy with working time taken as wall-clock time.
fn spans(priority: &str) -> [i64; 3] {
    match priority {
        "emergency" => [15, 120, 24 * 60],
        "high" => [60, 24 * 60, 7 * 24 * 60],
        "medium" => [8 * 60, 5 * 24 * 60, 30 * 24 * 60],
        _ => [24 * 60, 14 * 24 * 60, 60 * 24 * 60],
    }
}

/// One referral and its deadlines: its status follows from its age (older ones have mostly
/// ended), answers come a little before or after each deadline, and deadlines passed unmet are
/// marked breached as the checker would have.
fn referral(random: &mut Random, ids: &Ids, to: &Addressee<'_>, now: NaiveDateTime) -> (ReferralRow, Vec<NewDeadline>) {
    let id = ReferralId::from_stored(random.uuid());
    let sent_at = now - Duration::seconds((random.unit() * 365.0 * 86_400.0) as i64);
    let age_days = (now - sent_at).num_days();
    let priority = match random.unit() {
        x if x < 0.03 => "emergency",
        x if x < 0.20 => "high",
        x if x < 0.80 => "medium",
        _ => "low",
    };
    let ended_share = match age_days {
        0..7 => 0.2,
        7..45 => 0.6,
        _ => 0.97,
    };
    let status = if random.unit() < ended_share {
        match random.unit() {
            x if x < 0.88 => "closed",
            x if x < 0.96 => "declined",
            _ => "cancelled",
        }
    } else {
        match random.unit() {
            x if x < 0.25 => "sent",
            x if x < 0.40 => "acknowledged",
            x if x < 0.60 => "accepted",
            _ => "in_progress",
        }
    };
    let [ack_span, contact_span, outcome_span] = spans(priority);
    let due = [
        sent_at + Duration::minutes(ack_span),
        sent_at + Duration::minutes(contact_span),
        sent_at + Duration::minutes(outcome_span),
    ];
    // When each step happened, if it did; an ended referral's steps fit before now.
    let acknowledged = sent_at + random.scaled(ack_span, 0.1, 1.3);
    let contacted = acknowledged + random.scaled(contact_span, 0.1, 1.2);
    let ended = contacted + random.scaled(outcome_span, 0.05, 1.1);
    let fit = |at: NaiveDateTime| {
        if ended <= now {
            at
        } else {
            let whole = (ended - sent_at).num_seconds().max(1) as f64;
            let age = (now - sent_at).num_seconds() as f64;
            sent_at + Duration::seconds(((at - sent_at).num_seconds() as f64 * age * 0.95 / whole) as i64)
        }
    };
    let reached = |steps: &[&str]| steps.contains(&status);
    let acknowledged_at = (!reached(&["sent", "cancelled"])).then(|| fit(acknowledged));
    let responded_at = reached(&["accepted", "in_progress", "closed", "declined"]).then(|| fit(acknowledged));
    let contacted_at = reached(&["in_progress", "closed"]).then(|| fit(contacted));
    let ended_at = reached(&["closed", "declined", "cancelled"]).then(|| fit(ended));
    let met = [responded_at.or(acknowledged_at), contacted_at, ended_at.filter(|_| status == "closed")];
    let mut deadlines = Vec::new();
    let mut next_due_at = None;
    for (n, kind) in ["acknowledge", "first_contact", "outcome"].into_iter().enumerate() {
        let (met_at, due_at) = (met[n], due[n]);
        let void_at = match (met_at, ended_at) {
            (None, Some(ended)) => Some(ended),
            _ => None,
        };
        let late = met_at.map_or(void_at.is_none() && due_at < now, |met| met > due_at);
        if met_at.is_none() && void_at.is_none() {
            next_due_at = Some(next_due_at.map_or(due_at, |next: NaiveDateTime| next.min(due_at)));
        }
        deadlines.push(NewDeadline {
            referral_id: id.clone(),
            kind: kind.into(),
            due_at,
            met_at,
            breached_at: late.then(|| due_at + Duration::seconds(1)),
            void_at,
        });
    }
    let subject = match random.unit() {
        x if x < 0.85 => "child",
        x if x < 0.95 => "adult",
        _ => "unknown_age",
    };
    let by = |at: Option<NaiveDateTime>| at.and(to.responder.map(str::to_owned));
    let share = if random.unit() < 0.3 { "details" } else { "minimal" };
    let steps = [acknowledged_at, responded_at, contacted_at, ended_at].iter().flatten().count();
    let row = ReferralRow {
        id: id.clone(),
        chain_id: id,
        origin_agency_id: ids.qkt.clone(),
        origin_user_id: ids.field.clone(),
        forwarded_from: None,
        forwarded_to: None,
        identification_id: None,
        profile_id: None,
        subject_type: subject.into(),
        age_band: match subject {
            "child" => random.pick(&CHILD_BANDS).into(),
            "adult" => "adult".into(),
            _ => "unknown".into(),
        },
        sex: if random.unit() < 0.5 { "female".into() } else { "male".into() },
        municipality_id: to.municipality.map(str::to_owned),
        admin_unit_id: to.unit.map(str::to_owned),
        street_situations: format!("[\"{}\"]", random.pick(&SITUATIONS)),
        risk_level: Some(random.pick(&["low", "medium", "high"]).into()),
        from_agency_id: ids.qkt.clone(),
        to_agency_id: to.agency.clone(),
        routing_method: "chosen".into(),
        route_id: None,
        priority: priority.into(),
        reasons: format!("[\"{}\"]", random.pick(&PROBLEMS)),
        services: format!("[\"{}\",\"{}\"]", random.pick(&SERVICES), random.pick(&SERVICES)),
        notes: (random.unit() < 0.3).then(|| "Fëmija u pa pranë tregut, pa shoqërues.".to_owned()),
        share: share.into(),
        consent_given_by: (share == "details").then(|| "parent".to_owned()),
        consent_override_reason: None,
        status: status.into(),
        outcome: (status == "closed").then(|| random.pick(&OUTCOMES).to_owned()),
        decline_reason: (status == "declined").then(|| random.pick(&DECLINES).to_owned()),
        suggested_agency_id: None,
        created_by: ids.field.clone(),
        device_id: "bench".into(),
        made_at: Some(sent_at - Duration::minutes(2)),
        sent_at,
        acknowledged_by: by(acknowledged_at),
        acknowledged_at,
        responded_by: by(responded_at),
        responded_at,
        contacted_at,
        ended_by: if status == "cancelled" { ended_at.map(|_| ids.field.clone()) } else { by(ended_at) },
        ended_at,
        next_due_at,
        content_hash: "bench".into(),
        version: 1 + i32::try_from(steps).unwrap_or(0),
        updated_at: [Some(sent_at), acknowledged_at, responded_at, contacted_at, ended_at]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(sent_at),
    };
    (row, deadlines)
}

fn fill(conn: &mut DbConnection, ids: &Ids, inbox: usize, others: usize) -> anyhow::Result<()> {
    let now = now()?;
    let mut random = Random(0x5eed_0000_0005_0001);
    let began = Instant::now();
    let total = inbox + others;
    let mut written = 0;
    while written < total {
        let batch = (total - written).min(10_000);
        let mut rows = Vec::with_capacity(batch);
        let mut deadlines = Vec::with_capacity(batch * 3);
        for n in written..written + batch {
            // The inbox's referrals spread evenly among the others.
            let to_inbox = n * inbox / total != (n + 1) * inbox / total;
            let unit = ids.units[random.below(ids.units.len())].clone();
            let other = ids.others[random.below(ids.others.len())].clone();
            let to = if to_inbox {
                Addressee {
                    agency: &ids.njmf,
                    municipality: Some(&ids.tirana),
                    unit: Some(&unit),
                    responder: Some(&ids.pmf),
                }
            } else {
                Addressee {
                    agency: &other.0,
                    municipality: other.1.as_deref().or(Some(&ids.tirana)),
                    unit: None,
                    responder: None,
                }
            };
            let (row, own) = referral(&mut random, ids, &to, now);
            rows.push(row);
            deadlines.extend(own);
        }
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            for chunk in rows.chunks(500) {
                insert_rows!(conn, diesel::insert_into(referrals::table).values(chunk))?;
            }
            for chunk in deadlines.chunks(2000) {
                insert_rows!(conn, diesel::insert_into(referral_deadlines::table).values(chunk))?;
            }
            Ok(())
        })?;
        written += batch;
        eprintln!("  {written} referrals ({:.0} s)", began.elapsed().as_secs_f64());
    }
    Ok(())
}

struct Case {
    label: &'static str,
    query: ReferralListQuery,
}

fn run(
    conn: &mut DbConnection,
    index: &TerritoryIndex,
    user: &AuthUser,
    case: &Case,
    runs: usize,
) -> anyhow::Result<(Vec<f64>, usize)> {
    let now = now()?;
    let mut times = Vec::with_capacity(runs);
    let mut items = 0;
    for n in 0..runs + 50 {
        let began = Instant::now();
        let page = list(conn, index, user, &case.query, now).map_err(|e| anyhow!("{}: {e:?}", case.label))?;
        let elapsed = began.elapsed().as_secs_f64() * 1000.0;
        if n >= 50 {
            times.push(elapsed);
        }
        items = page.items.len();
    }
    times.sort_by(f64::total_cmp);
    Ok((times, items))
}

fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL").context("set DATABASE_URL to sqlite://PATH or postgres://…")?;
    let inbox: usize = env_or("REFERRALS", 100_000)?;
    let others: usize = env_or("OTHERS", 100_000)?;
    let runs: usize = env_or("RUNS", 1000)?;
    let deep: usize = env_or("DEEP_PAGES", 200)?;
    let (_data_dir, mut config) = bench_config(url)?;
    config.database.pool_size = 1;
    config.validate()?;
    let state = AppState::prepare(config, Arc::new(ManualClock::new(now()?.and_utc())), false)?;
    let index = state.territory();
    let mut conn = state.db.get()?;
    let ids = ids(&mut conn)?;
    // The reader: a case manager of AL224-NJMF.
    let user = acting_as(&mut conn, "tirana.pmf")?;
    let stored: i64 = referrals::table.count().get_result(&mut *conn)?;
    if stored == 0 {
        fill(&mut conn, &ids, inbox, others)?;
        if let DbConnection::Postgres(pg) = &mut *conn {
            diesel::connection::SimpleConnection::batch_execute(pg, "VACUUM ANALYZE")?;
        }
    }
    let count = |conn: &mut DbConnection, open: bool, overdue: bool| -> anyhow::Result<i64> {
        let mut q = referrals::table.filter(referrals::to_agency_id.eq(&ids.njmf)).into_boxed();
        if open {
            q = q.filter(referrals::status.eq_any(["sent", "acknowledged", "accepted", "in_progress"]));
        }
        if overdue {
            q = q.filter(referrals::next_due_at.lt(now()?));
        }
        Ok(q.count().get_result(conn)?)
    };
    let total: i64 = referrals::table.count().get_result(&mut *conn)?;
    println!(
        "backend={} referrals={total} to AL224-NJMF={} open={} overdue={}",
        state.db.backend.name(),
        count(&mut conn, false, false)?,
        count(&mut conn, true, false)?,
        count(&mut conn, false, true)?,
    );

    // The cursor DEEP_PAGES pages into the inbox, followed page by page as the app would.
    let inbox_query = ReferralListQuery { r#box: Some(ReferralBox::Inbox), ..ReferralListQuery::default() };
    let mut cursor = None;
    for _ in 0..deep {
        let query = ReferralListQuery { cursor: cursor.clone(), ..inbox_query.clone() };
        cursor = list(&mut conn, &index, &user, &query, now()?).map_err(|e| anyhow!("{e:?}"))?.next_cursor;
    }
    let cases = [
        Case { label: "box=inbox", query: inbox_query.clone() },
        Case { label: "box=inbox&open=true", query: ReferralListQuery { open: Some(true), ..inbox_query.clone() } },
        Case {
            label: "box=inbox&overdue=true",
            query: ReferralListQuery { overdue: Some(true), ..inbox_query.clone() },
        },
        Case { label: "box=inbox&cursor=(deep)", query: ReferralListQuery { cursor, ..inbox_query.clone() } },
    ];
    for case in &cases {
        let (times, items) = run(&mut conn, &index, &user, case, runs)?;
        println!(
            "{:<26} items={items:>3} runs={runs} p50={:.2}ms p95={:.2}ms p99={:.2}ms max={:.2}ms",
            case.label,
            percentile(&times, 50.0),
            percentile(&times, 95.0),
            percentile(&times, 99.0),
            times.last().copied().unwrap_or_default(),
        );
    }
    Ok(())
}
