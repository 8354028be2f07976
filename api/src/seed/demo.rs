//! The demo's safety net: 24/7 duty rotas, escalation policies and (fictitious) push tokens for
//! the demo people, so that an emergency sighting in the demo pages the person on duty,
//! escalates, and can be acknowledged. Everything goes through the same service functions as the
//! API, acting as the agency's own coordinator or administrator, so it passes the same checks.
//! Idempotent: a rota is skipped when its agency has one of that name, a policy when the agency
//! has one, and a device registration replaces itself.

use chrono::Duration;
use chrono_tz::Tz;
use terren_contract::Role;
use terren_contract::alerts::{
    EscalationPolicyBody, EscalationStep, Platform, PutEscalationPolicy, RegisterDevice, Target,
};
use terren_contract::schedules::{CreateSchedule, Layer, TurnUnit};
use uuid::Uuid;

use crate::access::AuthUser;
use crate::accounts::model;
use crate::db::{DbConnection, PooledConn, backend};
use crate::http::ApiError;
use crate::state::AppState;

/// Minutes the on-call has to acknowledge before the next step.
pub const ON_CALL_WAIT_MINUTES: u32 = 3;
/// Minutes the second step (coordinators, the head of unit) has.
pub const SECOND_STEP_WAIT_MINUTES: u32 = 5;

/// A demo rota: who plans it, its name, and its one 24/7 layer.
struct DemoRota {
    agency: &'static str,
    planner: &'static str,
    name: &'static str,
    layer: &'static str,
    /// In turn order.
    people: &'static [&'static str],
    turn_every: u32,
    turn_unit: TurnUnit,
}

/// Who the second step pages: a role of the agency or one person.
enum SecondStep {
    Role(Role),
    User(&'static str),
}

/// An agency's policy: its rota's on-call, then `second`, once more, then a desk texted by SMS.
struct DemoPolicy {
    agency: &'static str,
    rota: &'static str,
    second: SecondStep,
    fallback_name: &'static str,
    fallback_phone: &'static str,
}

const ROTAS: &[DemoRota] = &[
    // Tirana's QKT works around the clock with the police [003]: one duty officer a week.
    DemoRota {
        agency: "AL224-QKT",
        planner: "tirana.coord",
        name: "Gadishmëria QKT / QKT duty (demo)",
        layer: "Roje 24/7 / Around the clock",
        people: &["tirana.duty"],
        turn_every: 1,
        turn_unit: TurnUnit::Weeks,
    },
    // Tirana's child protection unit: its case manager answers outside the office too.
    DemoRota {
        agency: "AL224-NJMF",
        planner: "tirana.admin",
        name: "Gadishmëria NJMF Tiranë / Tirana CPU duty (demo)",
        layer: "Javore / Weekly",
        people: &["tirana.pmf"],
        turn_every: 1,
        turn_unit: TurnUnit::Weeks,
    },
    // Elbasan's "Sistemi i punonjësve në gadishmëri": 24-hour turns handed over at 08:00 [002].
    DemoRota {
        agency: "AL213-GADISHMERI",
        planner: "elbasan.coord",
        name: "Sistemi i punonjësve në gadishmëri / Elbasan duty system (demo)",
        layer: "24 orë / 24 hours",
        people: &["elbasan.duty", "elbasan.coord"],
        turn_every: 1,
        turn_unit: TurnUnit::Days,
    },
];

const POLICIES: &[DemoPolicy] = &[
    DemoPolicy {
        agency: "AL224-QKT",
        rota: "Gadishmëria QKT / QKT duty (demo)",
        second: SecondStep::Role(Role::Coordinator),
        fallback_name: "Policia Tiranë, salla operative (demo)",
        fallback_phone: "+355690000099",
    },
    DemoPolicy {
        agency: "AL224-NJMF",
        rota: "Gadishmëria NJMF Tiranë / Tirana CPU duty (demo)",
        // The unit has no coordinator and its head administers it (administrators cannot answer
        // alerts): the 24/7 field centre's coordinator backs the case manager up.
        second: SecondStep::User("tirana.coord"),
        fallback_name: "Policia Tiranë, salla operative (demo)",
        fallback_phone: "+355690000099",
    },
    DemoPolicy {
        agency: "AL213-GADISHMERI",
        rota: "Sistemi i punonjësve në gadishmëri / Elbasan duty system (demo)",
        second: SecondStep::Role(Role::Coordinator),
        fallback_name: "Policia Elbasan, salla operative (demo)",
        fallback_phone: "+355690000098",
    },
];

/// The demo people who carry the app, each with an obviously fake push token.
const PHONES: &[&str] = &[
    "tirana.field",
    "tirana.duty",
    "tirana.coord",
    "tirana.pmf",
    "tirana.admin",
    "kamez.field",
    "elbasan.duty",
    "elbasan.coord",
    "elbasan.squad",
    "police.tirana",
];

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DutyReport {
    pub schedules: usize,
    pub policies: usize,
    pub devices: usize,
}

/// The push token a demo person's phone registers.
pub fn push_token(username: &str) -> String {
    format!("demo-push-token-{username}")
}

/// Adds what is missing of the demo's rotas, policies and push tokens (after the demo accounts).
pub fn seed_duty(state: &AppState, conn: &mut PooledConn) -> anyhow::Result<DutyReport> {
    let at = state.clock.now_naive();
    let now = state.clock.now();
    backend::write_transaction(conn, |tx| {
        let mut report = DutyReport::default();
        for rota in ROTAS {
            let planner = acting_as(tx, rota.planner)?;
            if planner.agency.code != rota.agency {
                anyhow::bail!("demo rota {} is planned by {} of another agency", rota.name, rota.planner);
            }
            if schedule_named(tx, &planner, rota.name, now)?.is_some() {
                continue;
            }
            let tz: Tz = crate::seed::DEFAULT_TIME_ZONE.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            // A turn began a week ago, so the rota covers the demo from its first second.
            let starts_on = now.with_timezone(&tz).date_naive() - Duration::days(7);
            let mut participants = Vec::new();
            for person in rota.people {
                participants.push(vec![user_uuid(tx, person)?]);
            }
            let request = CreateSchedule {
                agency_id: None,
                name: rota.name.to_owned(),
                time_zone: None,
                layers: vec![Layer {
                    name: rota.layer.to_owned(),
                    priority: 0,
                    participants,
                    turn_every: rota.turn_every,
                    turn_unit: rota.turn_unit,
                    handoff_time: "08:00".to_owned(),
                    starts_on,
                    ends_on: None,
                    restrictions: Vec::new(),
                }],
                effective_from: None,
            };
            validated(&request)?;
            crate::rota::service::create(tx, &planner, &request, at).map_err(|e| failed(rota.name, e))?;
            report.schedules += 1;
        }
        for username in PHONES {
            let mut person = acting_as(tx, username)?;
            person.device_id = format!("demo-phone-{username}");
            let request = RegisterDevice {
                platform: Platform::Android,
                push_token: push_token(username),
                app_version: Some("demo".to_owned()),
            };
            validated(&request)?;
            let (_, created) =
                crate::alerts::reach::register_device(tx, &person, &request, at).map_err(|e| failed(username, e))?;
            report.devices += usize::from(created);
        }
        for policy in POLICIES {
            let rota = ROTAS
                .iter()
                .find(|r| r.name == policy.rota)
                .ok_or_else(|| anyhow::anyhow!("demo policy names unknown rota {}", policy.rota))?;
            let planner = acting_as(tx, rota.planner)?;
            match crate::alerts::policy::get(tx, &planner, &planner.agency.id) {
                Ok(_) => continue,
                Err(e) if e.code == crate::http::ErrorCode::NotFound => {}
                Err(e) => return Err(failed(policy.agency, e)),
            }
            let schedule_id = schedule_named(tx, &planner, rota.name, now)?
                .ok_or_else(|| anyhow::anyhow!("demo rota {} is missing", rota.name))?;
            let second = match policy.second {
                SecondStep::Role(role) => Target::Role { role },
                SecondStep::User(username) => Target::User { user_id: user_uuid(tx, username)? },
            };
            let request = PutEscalationPolicy {
                version: None,
                policy: EscalationPolicyBody {
                    steps: vec![
                        EscalationStep {
                            targets: vec![Target::OnCall { schedule_id }],
                            wait_minutes: ON_CALL_WAIT_MINUTES,
                            only_when: Vec::new(),
                        },
                        EscalationStep {
                            targets: vec![second],
                            wait_minutes: SECOND_STEP_WAIT_MINUTES,
                            only_when: Vec::new(),
                        },
                    ],
                    repeat: 1,
                    fallback: vec![Target::Contact {
                        name: policy.fallback_name.to_owned(),
                        phone: policy.fallback_phone.to_owned(),
                    }],
                },
            };
            validated(&request)?;
            crate::alerts::policy::put(tx, &planner, &planner.agency.id, &request, at)
                .map_err(|e| failed(policy.agency, e))?;
            report.policies += 1;
        }
        Ok(report)
    })
}

fn validated(request: &impl validator::Validate) -> anyhow::Result<()> {
    request.validate().map_err(|e| anyhow::anyhow!("demo data breaks the contract's rules: {e}"))
}

fn failed(what: &str, error: ApiError) -> anyhow::Error {
    let fields: Vec<String> = error.errors.iter().map(|e| format!("{} {}", e.field, e.code)).collect();
    anyhow::anyhow!("demo {what}: {:?} {} {}", error.code, error.detail.unwrap_or_default(), fields.join(", "))
}

/// The demo person as the API would see them signed in.
fn acting_as(conn: &mut DbConnection, username: &str) -> anyhow::Result<AuthUser> {
    AuthUser::acting_as(conn, username, "demo-seed").map_err(|e| failed(username, e))
}

fn user_uuid(conn: &mut DbConnection, username: &str) -> anyhow::Result<Uuid> {
    let user = model::find_user_by_username(conn, username)?
        .ok_or_else(|| anyhow::anyhow!("demo account {username} is missing"))?;
    Ok(user.id.parse()?)
}

fn schedule_named(
    conn: &mut DbConnection,
    planner: &AuthUser,
    name: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Option<Uuid>> {
    let schedules = crate::rota::service::list(conn, planner, None, now).map_err(|e| failed(name, e))?;
    Ok(schedules.into_iter().find(|s| s.name == name).map(|s| s.id))
}
