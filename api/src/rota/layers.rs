//! The wire form of a rota's layers: checked, and turned into the engine's form.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use terren_contract::problem::FieldError;
use terren_contract::problem::FieldErrorCode;
use terren_contract::schedules::{Layer as LayerSpec, RestrictionWindow, TurnUnit, WeekdayCode};

use super::resolve::{self, Layer, Restriction, TurnLength};

/// How far ahead two layers of the same priority are compared for overlaps.
const OVERLAP_HORIZON_DAYS: i64 = 8 * 7;

pub fn parse_time_zone(zone: &str) -> Option<Tz> {
    zone.parse::<Tz>().ok()
}

/// `HH:MM`, 00:00–23:59.
pub fn parse_local_time(text: &str) -> Option<NaiveTime> {
    if text.len() != 5 {
        return None;
    }
    NaiveTime::parse_from_str(text, "%H:%M").ok()
}

pub fn weekday(code: WeekdayCode) -> Weekday {
    match code {
        WeekdayCode::Mon => Weekday::Mon,
        WeekdayCode::Tue => Weekday::Tue,
        WeekdayCode::Wed => Weekday::Wed,
        WeekdayCode::Thu => Weekday::Thu,
        WeekdayCode::Fri => Weekday::Fri,
        WeekdayCode::Sat => Weekday::Sat,
        WeekdayCode::Sun => Weekday::Sun,
    }
}

fn error(field: String, code: FieldErrorCode, message: impl Into<String>) -> FieldError {
    FieldError { field, code, message: message.into() }
}

/// What is wrong with a weekly window: times that are not `HH:MM`, or no length at all.
pub fn window_errors(field: &str, window: &RestrictionWindow) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let (from, to) = (parse_local_time(&window.from), parse_local_time(&window.to));
    if from.is_none() {
        errors.push(error(format!("{field}.from"), FieldErrorCode::InvalidTime, "use HH:MM, 00:00–23:59"));
    }
    if to.is_none() {
        errors.push(error(format!("{field}.to"), FieldErrorCode::InvalidTime, "use HH:MM, 00:00–23:59"));
    }
    if from.is_some() && from == to {
        errors.push(error(
            format!("{field}.to"),
            FieldErrorCode::ZeroLength,
            "the window must not start and end at the same time",
        ));
    }
    errors
}

/// The engine's form of a window that passed [`window_errors`].
pub fn restriction(window: &RestrictionWindow) -> Option<Restriction> {
    Some(Restriction {
        weekdays: window.weekdays.iter().copied().map(weekday).collect(),
        from: parse_local_time(&window.from)?,
        to: parse_local_time(&window.to)?,
    })
}

/// The engine's form of a layer that passed [`check`].
pub fn to_engine(spec: &LayerSpec) -> Option<Layer> {
    let handoff = parse_local_time(&spec.handoff_time)?;
    Some(Layer {
        name: spec.name.clone(),
        priority: spec.priority,
        participants: spec.participants.iter().map(|pair| pair.iter().map(|id| id.to_string()).collect()).collect(),
        turn: match spec.turn_unit {
            TurnUnit::Hours => TurnLength::Hours(spec.turn_every),
            TurnUnit::Days => TurnLength::Days(spec.turn_every),
            TurnUnit::Weeks => TurnLength::Weeks(spec.turn_every),
        },
        starts: spec.starts_on.and_time(handoff),
        ends: spec.ends_on.map(|day| day.and_time(handoff)),
        restrictions: spec.restrictions.iter().filter_map(restriction).collect(),
    })
}

/// Checks layers beyond what the types say: times, time-zone gaps, pairs, members, and that two
/// layers of the same priority are never on duty at once. `members` are the ids of the people who
/// may be on the rota.
pub fn check(
    tz: Tz,
    specs: &[LayerSpec],
    members: &BTreeSet<String>,
    effective_from: DateTime<Utc>,
) -> Result<Vec<Layer>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut names = BTreeSet::new();
    for (index, spec) in specs.iter().enumerate() {
        let at = |field: &str| format!("layers[{index}].{field}");
        if !names.insert(spec.name.trim().to_lowercase()) {
            errors.push(error(at("name"), FieldErrorCode::DuplicateName, "two layers have this name"));
        }
        match parse_local_time(&spec.handoff_time) {
            None => errors.push(error(at("handoff_time"), FieldErrorCode::InvalidTime, "use HH:MM, 00:00–23:59")),
            Some(handoff) => {
                if resolve::is_missing(tz, spec.starts_on.and_time(handoff)) {
                    errors.push(error(
                        at("handoff_time"),
                        FieldErrorCode::NonexistentLocalTime,
                        format!("{} {} does not exist in {tz} (the clocks skip it)", spec.starts_on, spec.handoff_time),
                    ));
                }
            }
        }
        if spec.ends_on.is_some_and(|ends| ends <= spec.starts_on) {
            errors.push(error(at("ends_on"), FieldErrorCode::EndsBeforeStart, "the layer must end after it starts"));
        }
        for (w, window) in spec.restrictions.iter().enumerate() {
            errors.extend(window_errors(&format!("layers[{index}].restrictions[{w}]"), window));
        }
        for (p, participant) in spec.participants.iter().enumerate() {
            let field = format!("layers[{index}].participants[{p}]");
            if participant.is_empty() || participant.len() > 2 {
                errors.push(error(
                    field.clone(),
                    FieldErrorCode::InvalidParticipant,
                    "a participant is one person or a pair",
                ));
            }
            if participant.len() == 2 && participant[0] == participant[1] {
                errors.push(error(field.clone(), FieldErrorCode::InvalidParticipant, "a pair is two different people"));
            }
            for person in participant {
                if !members.contains(&person.to_string()) {
                    errors.push(error(
                        field.clone(),
                        FieldErrorCode::UnknownParticipant,
                        format!("{person} is not an active member of the schedule's agency"),
                    ));
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let layers: Vec<Layer> = specs.iter().filter_map(to_engine).collect();
    let horizon_end = effective_from + Duration::days(OVERLAP_HORIZON_DAYS);
    for (i, first) in layers.iter().enumerate() {
        let first_shifts = resolve::layer_shifts(tz, first, effective_from, horizon_end);
        for (j, second) in layers.iter().enumerate().skip(i + 1) {
            if first.priority != second.priority {
                continue;
            }
            let second_shifts = resolve::layer_shifts(tz, second, effective_from, horizon_end);
            let clash = first_shifts.iter().find(|(s1, e1, _)| {
                second_shifts.iter().any(|(s2, e2, _)| s1 < e2 && s2 < e1 && s1.max(s2) < e1.min(e2))
            });
            if let Some((start, _, _)) = clash {
                errors.push(error(
                    format!("layers[{j}].priority"),
                    FieldErrorCode::OverlappingLayers,
                    format!(
                        "layers '{}' and '{}' have the same priority and are both on duty at {}",
                        first.name,
                        second.name,
                        start.with_timezone(&tz).format("%Y-%m-%d %H:%M")
                    ),
                ));
            }
        }
    }
    if errors.is_empty() { Ok(layers) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use uuid::Uuid;

    use super::*;

    const TIRANE: Tz = chrono_tz::Europe::Tirane;

    fn spec(name: &str, people: &[Uuid], handoff: &str, starts_on: &str) -> LayerSpec {
        LayerSpec {
            name: name.into(),
            priority: 0,
            participants: people.iter().map(|p| vec![*p]).collect(),
            turn_every: 1,
            turn_unit: TurnUnit::Days,
            handoff_time: handoff.into(),
            starts_on: NaiveDate::parse_from_str(starts_on, "%Y-%m-%d").unwrap(),
            ends_on: None,
            restrictions: Vec::new(),
        }
    }

    fn window(from: &str, to: &str) -> RestrictionWindow {
        use WeekdayCode::*;
        RestrictionWindow { weekdays: vec![Mon, Tue, Wed, Thu, Fri, Sat, Sun], from: from.into(), to: to.into() }
    }

    fn codes(result: Result<Vec<Layer>, Vec<FieldError>>) -> Vec<String> {
        result.err().unwrap_or_default().into_iter().map(|e| e.code.as_str().to_owned()).collect()
    }

    fn members(people: &[Uuid]) -> BTreeSet<String> {
        people.iter().map(Uuid::to_string).collect()
    }

    fn start() -> DateTime<Utc> {
        "2027-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn bad_times_gaps_and_strangers_are_named() {
        let (ana, ben) = (Uuid::now_v7(), Uuid::now_v7());
        let mut layer = spec("main", &[ana, ben], "24:00", "2027-01-04");
        layer.restrictions = vec![window("08:00", "08:00")];
        assert_eq!(
            codes(check(TIRANE, &[layer], &members(&[ana]), start())),
            ["invalid_time", "zero_length", "unknown_participant"]
        );
        // Clocks in Tirana go from 02:00 to 03:00 on the last Sunday of March.
        let in_the_gap = spec("main", &[ana], "02:30", "2027-03-28");
        assert_eq!(codes(check(TIRANE, &[in_the_gap], &members(&[ana]), start())), ["nonexistent_local_time"]);
    }

    #[test]
    fn same_priority_layers_may_share_the_day_but_not_the_hour() {
        let (ana, ben) = (Uuid::now_v7(), Uuid::now_v7());
        let everyone = members(&[ana, ben]);
        let mut days = spec("days", &[ana], "08:00", "2027-01-04");
        days.restrictions = vec![window("08:00", "20:00")];
        let mut nights = spec("nights", &[ben], "08:00", "2027-01-04");
        nights.restrictions = vec![window("20:00", "08:00")];
        assert!(check(TIRANE, &[days.clone(), nights.clone()], &everyone, start()).is_ok());
        nights.restrictions = vec![window("19:00", "08:00")];
        assert_eq!(codes(check(TIRANE, &[days.clone(), nights.clone()], &everyone, start())), ["overlapping_layers"]);
        nights.priority = 1;
        assert!(check(TIRANE, &[days, nights], &everyone, start()).is_ok());
    }
}
