//! Who an alert's step reaches, who it cannot reach and why, and where an alert turns when a
//! whole step reaches nobody.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use terren_contract::Role;
use terren_contract::alerts::Target;

use super::policy;
use crate::db::DbConnection;
use crate::db::schema::{agencies, devices, notification_rules, schedules, users, webhook_endpoints};
use crate::http::{ApiResult, ErrorCode};
use crate::ids::{AgencyId, ScheduleId};
use crate::notify::Address;

/// Somebody a page goes to, as stored in the page job: their addresses are looked up when the
/// page is sent, so a new push token or phone number is used by the next try.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PageTarget {
    User { user_id: String },
    Contact { name: String, phone: String },
    Webhook { webhook_id: String },
}

impl PageTarget {
    /// Unique within a step: the same person or number is paged once per step.
    pub fn key(&self) -> String {
        match self {
            PageTarget::User { user_id } => format!("user:{user_id}"),
            PageTarget::Contact { phone, .. } => format!("contact:{phone}"),
            PageTarget::Webhook { webhook_id } => format!("webhook:{webhook_id}"),
        }
    }
}

/// Somebody to reach now, and where, in order of preference.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub label: String,
    pub user_id: Option<String>,
    pub addresses: Vec<Address>,
    /// Send an SMS this many minutes after a delivered push, if still unacknowledged.
    pub sms_after_minutes: Option<u32>,
}

/// Someone a step meant to page and could not, with the reason, in Albanian and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missed {
    pub target: String,
    pub reason: String,
}

/// What a set of targets comes to at one moment.
#[derive(Debug, Default)]
pub struct Reach {
    pub targets: BTreeSet<PageTarget>,
    pub missed: Vec<Missed>,
}

impl Reach {
    fn miss(&mut self, target: impl Into<String>, reason: impl Into<String>) {
        self.missed.push(Missed { target: target.into(), reason: reason.into() });
    }
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Coordinator => "koordinatorët / coordinators",
        Role::AgencyAdmin => "administratorët / administrators",
        Role::DutyOfficer => "oficerët e detyrës / duty officers",
        Role::CaseManager => "menaxherët e rastit / case managers",
        _ => "stafi / staff",
    }
}

/// How a person is reached now: live push tokens first (unless they turned push off), then SMS.
/// `None` for an unknown or disabled account.
pub fn reach_person(conn: &mut DbConnection, user_id: &str) -> QueryResult<Option<Recipient>> {
    let found: Option<(String, Option<String>)> = users::table
        .filter(users::id.eq(user_id))
        .filter(users::disabled_at.is_null())
        .select((users::display_name, users::phone))
        .get_result(conn)
        .optional()?;
    let Some((label, phone)) = found else { return Ok(None) };
    let rule: Option<(bool, Option<i32>)> = notification_rules::table
        .filter(notification_rules::user_id.eq(user_id))
        .select((notification_rules::push, notification_rules::sms_after_minutes))
        .get_result(conn)
        .optional()?;
    let (push, sms_after) = rule.unwrap_or((true, None));
    let mut addresses = Vec::new();
    if push {
        let tokens: Vec<String> = devices::table
            .filter(devices::user_id.eq(user_id))
            .filter(devices::disabled_at.is_null())
            .order(devices::updated_at.desc())
            .select(devices::push_token)
            .load(conn)?;
        addresses.extend(tokens.into_iter().map(|token| Address::Push { token }));
    }
    let pushes = !addresses.is_empty();
    if let Some(phone) = phone.filter(|p| !p.trim().is_empty()) {
        addresses.push(Address::Sms { phone });
    }
    Ok(Some(Recipient {
        label,
        user_id: Some(user_id.to_owned()),
        addresses,
        sms_after_minutes: if pushes { sms_after.and_then(|m| u32::try_from(m).ok()) } else { None },
    }))
}

/// The addresses of a page's target now; `Err` carries why nobody can be reached through it.
pub fn resolve(conn: &mut DbConnection, target: &PageTarget) -> ApiResult<Result<Recipient, Missed>> {
    Ok(match target {
        PageTarget::User { user_id } => match reach_person(conn, user_id)? {
            None => Err(Missed {
                target: user_id.clone(),
                reason: "llogaria është çaktivizuar / the account is disabled".into(),
            }),
            Some(person) if person.addresses.is_empty() => Err(Missed {
                target: person.label,
                reason: "pa numër telefoni ose pajisje për njoftime / no phone number or push token".into(),
            }),
            Some(person) => Ok(person),
        },
        PageTarget::Contact { name, phone } => Ok(Recipient {
            label: name.clone(),
            user_id: None,
            addresses: vec![Address::Sms { phone: phone.clone() }],
            sms_after_minutes: None,
        }),
        PageTarget::Webhook { webhook_id } => {
            let endpoint: Option<(String, String, String)> = webhook_endpoints::table
                .filter(webhook_endpoints::id.eq(webhook_id))
                .filter(webhook_endpoints::active.eq(true))
                .select((webhook_endpoints::name, webhook_endpoints::url, webhook_endpoints::secret))
                .get_result(conn)
                .optional()?;
            match endpoint {
                Some((name, url, secret)) => Ok(Recipient {
                    label: name,
                    user_id: None,
                    addresses: vec![Address::Webhook { url, secret: SecretString::from(secret) }],
                    sms_after_minutes: None,
                }),
                None => Err(Missed {
                    target: format!("webhook {webhook_id}"),
                    reason: "pika fundore është çaktivizuar / the endpoint is inactive".into(),
                }),
            }
        }
    })
}

fn add_person(conn: &mut DbConnection, reach: &mut Reach, user_id: &str) -> ApiResult<()> {
    let target = PageTarget::User { user_id: user_id.to_owned() };
    if reach.targets.contains(&target) {
        return Ok(());
    }
    match resolve(conn, &target)? {
        Ok(_) => {
            reach.targets.insert(target);
        }
        Err(missed) => reach.missed.push(missed),
    }
    Ok(())
}

fn schedule_name(conn: &mut DbConnection, schedule_id: &str) -> QueryResult<String> {
    Ok(schedules::table
        .filter(schedules::id.eq(schedule_id))
        .select(schedules::name)
        .get_result(conn)
        .optional()?
        .unwrap_or_else(|| schedule_id.to_owned()))
}

/// Everyone the targets reach at `now`, each once, and everyone they cannot reach, with why.
pub fn reach(
    conn: &mut DbConnection,
    agency_id: &AgencyId,
    targets: &[Target],
    now: DateTime<Utc>,
) -> ApiResult<Reach> {
    let mut reach = Reach::default();
    for target in targets {
        match target {
            Target::OnCall { schedule_id } => {
                let id = ScheduleId::from(*schedule_id);
                match crate::rota::service::on_duty(conn, &id, now) {
                    Ok(people) if people.is_empty() => {
                        let name = schedule_name(conn, &id)?;
                        reach.miss(name, "askush në detyrë tani / nobody on duty now");
                    }
                    Ok(people) => {
                        for person in people {
                            add_person(conn, &mut reach, &person)?;
                        }
                    }
                    Err(error) if error.code == ErrorCode::NotFound => {
                        reach.miss(id, "orari nuk ekziston më / the schedule no longer exists");
                    }
                    Err(error) => return Err(error),
                }
            }
            Target::User { user_id } => add_person(conn, &mut reach, &user_id.to_string())?,
            Target::Role { role } => {
                let people = policy::with_role(conn, agency_id, *role)?;
                if people.is_empty() {
                    reach.miss(role_label(*role), "askush me këtë rol / nobody has this role");
                }
                for person in people {
                    add_person(conn, &mut reach, &person)?;
                }
            }
            Target::Contact { name, phone } => {
                reach.targets.insert(PageTarget::Contact { name: name.clone(), phone: phone.clone() });
            }
            Target::Webhook { webhook_id } => {
                let target = PageTarget::Webhook { webhook_id: webhook_id.to_string() };
                match resolve(conn, &target)? {
                    Ok(_) => {
                        reach.targets.insert(target);
                    }
                    Err(missed) => reach.missed.push(missed),
                }
            }
        }
    }
    Ok(reach)
}

/// Where an alert turns, in order, when a whole step reaches nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackLevel {
    /// The agency's coordinators.
    Coordinators,
    /// The agency's administrators.
    Admins,
    /// The duty rota and coordinators of the raiser's own agency.
    RaisersAgency,
}

impl FallbackLevel {
    pub const ALL: [FallbackLevel; 3] =
        [FallbackLevel::Coordinators, FallbackLevel::Admins, FallbackLevel::RaisersAgency];

    pub fn code(self) -> &'static str {
        match self {
            FallbackLevel::Coordinators => "coordinators",
            FallbackLevel::Admins => "admins",
            FallbackLevel::RaisersAgency => "raisers_agency",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            FallbackLevel::Coordinators => "koordinatorët e agjencisë / the agency's coordinators",
            FallbackLevel::Admins => "administratorët e agjencisë / the agency's administrators",
            FallbackLevel::RaisersAgency => {
                "detyra dhe koordinatorët e agjencisë që ngriti alarmin / the raiser's agency's duty rota and coordinators"
            }
        }
    }
}

/// The agency of the person who raised an alert.
pub fn agency_of(conn: &mut DbConnection, user_id: &str) -> QueryResult<Option<AgencyId>> {
    users::table.filter(users::id.eq(user_id)).select(users::agency_id).get_result(conn).optional()
}

/// The targets of one fallback level; empty when the level does not apply (the raiser is of the
/// same agency, or the alert was raised by the system).
pub fn fallback_targets(
    conn: &mut DbConnection,
    level: FallbackLevel,
    agency_id: &AgencyId,
    raiser: Option<&str>,
) -> QueryResult<(AgencyId, Vec<Target>)> {
    Ok(match level {
        FallbackLevel::Coordinators => (agency_id.clone(), vec![Target::Role { role: Role::Coordinator }]),
        FallbackLevel::Admins => (agency_id.clone(), vec![Target::Role { role: Role::AgencyAdmin }]),
        FallbackLevel::RaisersAgency => {
            let Some(own) = raiser.map(|r| agency_of(conn, r)).transpose()?.flatten() else {
                return Ok((agency_id.clone(), Vec::new()));
            };
            if own == *agency_id {
                return Ok((own, Vec::new()));
            }
            let mut targets: Vec<Target> = crate::rota::service::live_schedules(conn, std::slice::from_ref(&own))?
                .into_iter()
                .filter_map(|(_, schedule, _)| schedule.parse().ok())
                .map(|schedule_id| Target::OnCall { schedule_id })
                .collect();
            targets.push(Target::Role { role: Role::Coordinator });
            (own, targets)
        }
    })
}

/// The first fallback level that reaches somebody, or `None` when nobody at all can be reached.
pub fn fall_back(
    conn: &mut DbConnection,
    agency_id: &AgencyId,
    raiser: Option<&str>,
    now: DateTime<Utc>,
) -> ApiResult<Option<(FallbackLevel, Reach)>> {
    for level in FallbackLevel::ALL {
        let (agency, targets) = fallback_targets(conn, level, agency_id, raiser)?;
        if targets.is_empty() {
            continue;
        }
        let reach = reach(conn, &agency, &targets, now)?;
        if !reach.targets.is_empty() {
            return Ok(Some((level, reach)));
        }
    }
    Ok(None)
}

/// The agency's name, for messages.
pub fn agency_name(conn: &mut DbConnection, agency_id: &AgencyId) -> QueryResult<String> {
    agencies::table.filter(agencies::id.eq(agency_id)).select(agencies::name).get_result(conn)
}
