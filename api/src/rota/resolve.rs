//! Turns a schedule (revisions of layered rotations, and overrides) into the final list of who is
//! on duty when. Pure: no database, no clock.
//!
//! Wall-clock rules, in the schedule's time zone: a handoff stays at its local time whatever the
//! offset. A local time that does not exist (the spring gap) means the first instant after the
//! gap. A local time that happens twice (the autumn overlap) starts a shift at its first occurrence
//! and ends one at its last, so the two shifts overlap by the repeated hour and never leave a gap.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// How long one turn lasts, in wall-clock units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnLength {
    Hours(u32),
    Days(u32),
    Weeks(u32),
}

impl TurnLength {
    fn add(self, start: NaiveDateTime, turns: i64) -> NaiveDateTime {
        match self {
            TurnLength::Hours(n) => start + Duration::hours(i64::from(n) * turns),
            TurnLength::Days(n) => start + Duration::days(i64::from(n) * turns),
            TurnLength::Weeks(n) => start + Duration::weeks(i64::from(n) * turns),
        }
    }

    fn minutes(self) -> i64 {
        match self {
            TurnLength::Hours(n) => i64::from(n) * 60,
            TurnLength::Days(n) => i64::from(n) * 24 * 60,
            TurnLength::Weeks(n) => i64::from(n) * 7 * 24 * 60,
        }
    }
}

/// A window of the week when a layer is active, in local time. `to` earlier than `from` runs
/// past midnight into the next day (nights).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restriction {
    pub weekdays: Vec<Weekday>,
    pub from: NaiveTime,
    pub to: NaiveTime,
}

/// One rotation: participants (each one person or a pair) take turns from `starts` (local date
/// and handoff time) until `ends` (local), every `turn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub name: String,
    pub priority: i32,
    pub participants: Vec<Vec<String>>,
    pub turn: TurnLength,
    pub starts: NaiveDateTime,
    pub ends: Option<NaiveDateTime>,
    pub restrictions: Vec<Restriction>,
}

/// The layers that apply from `effective_from` until the next revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    pub effective_from: DateTime<Utc>,
    pub layers: Vec<Layer>,
}

/// One person covering a span, whatever the layers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cover {
    pub id: String,
    pub user_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Where a stretch of duty comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Layer(String),
    Override(String),
}

/// A stretch of the final schedule: the same people on duty throughout. `people` empty is a gap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub people: BTreeSet<String>,
    pub sources: BTreeSet<Source>,
}

/// The instant a local time starts something at.
pub fn start_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => at.with_timezone(&Utc),
        LocalResult::None => after_gap(tz, local),
    }
}

/// The instant a local time ends something at.
pub fn end_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) | LocalResult::Ambiguous(_, at) => at.with_timezone(&Utc),
        LocalResult::None => after_gap(tz, local),
    }
}

/// True when `local` does not exist in `tz` (it falls in a spring gap).
pub fn is_missing(tz: Tz, local: NaiveDateTime) -> bool {
    matches!(tz.from_local_datetime(&local), LocalResult::None)
}

fn after_gap(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    // Offsets change on whole minutes, and no gap is longer than a day.
    (1..=24 * 60)
        .find_map(|minutes| tz.from_local_datetime(&(local + Duration::minutes(minutes))).earliest())
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&local))
}

/// The turns of one layer that touch `[from, to)`, each clipped to the layer's own restrictions
/// and end.
pub(crate) fn layer_shifts(
    tz: Tz,
    layer: &Layer,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>, usize)> {
    let mut shifts = Vec::new();
    if layer.participants.is_empty() || layer.turn.minutes() <= 0 {
        return shifts;
    }
    let local_from = from.with_timezone(&tz).naive_local();
    // A day of margin covers any offset change between local and universal time.
    let elapsed = (local_from - layer.starts).num_minutes() - 24 * 60;
    let mut turn = (elapsed.div_euclid(layer.turn.minutes())).max(0);
    let layer_end = layer.ends.map(|ends| end_instant(tz, ends));
    loop {
        let local_start = layer.turn.add(layer.starts, turn);
        let start = start_instant(tz, local_start);
        if start >= to || layer_end.is_some_and(|end| start >= end) {
            return shifts;
        }
        let mut end = end_instant(tz, layer.turn.add(layer.starts, turn + 1));
        if let Some(layer_end) = layer_end {
            end = end.min(layer_end);
        }
        let who = usize::try_from(turn).unwrap_or(0) % layer.participants.len();
        if end > from {
            if layer.restrictions.is_empty() {
                shifts.push((start, end, who));
            } else {
                for (window_start, window_end) in windows(tz, &layer.restrictions, start, end) {
                    shifts.push((window_start.max(start), window_end.min(end), who));
                }
            }
        }
        turn += 1;
    }
}

/// The restriction windows that overlap `[start, end)`.
pub(crate) fn windows(
    tz: Tz,
    restrictions: &[Restriction],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let first_day = start.with_timezone(&tz).date_naive() - Duration::days(1);
    let last_day = end.with_timezone(&tz).date_naive();
    let mut found = Vec::new();
    let mut day = first_day;
    while day <= last_day {
        for restriction in restrictions.iter().filter(|r| r.weekdays.contains(&day.weekday())) {
            let (window_start, window_end) = window_on(tz, restriction, day);
            if window_start < end && window_end > start && window_start < window_end {
                found.push((window_start, window_end));
            }
        }
        day += Duration::days(1);
    }
    found.sort();
    found
}

fn window_on(tz: Tz, restriction: &Restriction, day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let end_day = if restriction.to > restriction.from { day } else { day + Duration::days(1) };
    (start_instant(tz, day.and_time(restriction.from)), end_instant(tz, end_day.and_time(restriction.to)))
}

/// A revision with the span it applies to: from its `effective_from` until the next one's.
struct Applies<'a> {
    from: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    revision: &'a Revision,
}

fn revision_spans(revisions: &[Revision]) -> Vec<Applies<'_>> {
    let mut ordered: Vec<&Revision> = revisions.iter().collect();
    ordered.sort_by_key(|r| r.effective_from);
    ordered
        .iter()
        .enumerate()
        .map(|(index, revision)| Applies {
            from: revision.effective_from,
            until: ordered.get(index + 1).map(|next| next.effective_from),
            revision,
        })
        .collect()
}

/// The final schedule over `[from, to)`: consecutive stretches with the same people, gaps included
/// (with no people). Overrides win over layers; among layers the highest priority that has
/// someone on duty wins; within it, everyone on duty (two turns during an autumn overlap, pairs).
pub fn resolve(tz: Tz, revisions: &[Revision], covers: &[Cover], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Shift> {
    struct Piece {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        rank: i64,
        people: Vec<String>,
        source: Source,
    }
    if from >= to {
        return Vec::new();
    }
    let mut pieces: Vec<Piece> = Vec::new();
    for Applies { from: applies_from, until: applies_until, revision } in revision_spans(revisions) {
        let span_from = from.max(applies_from);
        let span_to = applies_until.map_or(to, |until| until.min(to));
        if span_from >= span_to {
            continue;
        }
        for layer in &revision.layers {
            for (start, end, who) in layer_shifts(tz, layer, span_from, span_to) {
                let (start, end) = (start.max(span_from), end.min(span_to));
                if start < end {
                    pieces.push(Piece {
                        start,
                        end,
                        rank: i64::from(layer.priority),
                        people: layer.participants[who].clone(),
                        source: Source::Layer(layer.name.clone()),
                    });
                }
            }
        }
    }
    for cover in covers {
        let (start, end) = (cover.start.max(from), cover.end.min(to));
        if start < end {
            pieces.push(Piece {
                start,
                end,
                rank: i64::MAX,
                people: vec![cover.user_id.clone()],
                source: Source::Override(cover.id.clone()),
            });
        }
    }
    let mut bounds: Vec<DateTime<Utc>> = pieces.iter().flat_map(|p| [p.start, p.end]).chain([from, to]).collect();
    bounds.sort();
    bounds.dedup();
    let mut shifts: Vec<Shift> = Vec::new();
    for pair in bounds.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        let covering: Vec<&Piece> = pieces.iter().filter(|p| p.start <= start && p.end >= end).collect();
        let top = covering.iter().map(|p| p.rank).max();
        let winners = covering.iter().filter(|p| Some(p.rank) == top);
        let mut people = BTreeSet::new();
        let mut sources = BTreeSet::new();
        for piece in winners {
            people.extend(piece.people.iter().cloned());
            sources.insert(piece.source.clone());
        }
        match shifts.last_mut() {
            Some(last) if last.end == start && last.people == people && last.sources == sources => last.end = end,
            _ => shifts.push(Shift { start, end, people, sources }),
        }
    }
    shifts
}

/// Stretches within `[from, to)` when nobody is on duty.
pub fn gaps(shifts: &[Shift]) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    shifts.iter().filter(|s| s.people.is_empty()).map(|s| (s.start, s.end)).collect()
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use proptest::prelude::*;

    use super::*;

    const TIRANE: Tz = chrono_tz::Europe::Tirane;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn local(date: &str, time: &str) -> NaiveDateTime {
        NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap().and_time(NaiveTime::parse_from_str(time, "%H:%M").unwrap())
    }

    fn daily(names: &[&str], handoff: &str) -> Layer {
        Layer {
            name: "main".into(),
            priority: 0,
            participants: names.iter().map(|n| vec![(*n).to_owned()]).collect(),
            turn: TurnLength::Days(1),
            starts: local("2027-01-04", handoff),
            ends: None,
            restrictions: Vec::new(),
        }
    }

    fn revision(layers: Vec<Layer>) -> Vec<Revision> {
        vec![Revision { effective_from: utc("2027-01-01T00:00:00Z"), layers }]
    }

    fn who(shift: &Shift) -> Vec<&str> {
        shift.people.iter().map(String::as_str).collect()
    }

    #[test]
    fn daily_handoffs_stay_at_wall_clock_time_across_both_changes() {
        let revisions = revision(vec![daily(&["ana", "ben"], "08:00")]);
        for (from, to) in
            [("2027-03-26T00:00:00Z", "2027-04-02T00:00:00Z"), ("2027-10-29T00:00:00Z", "2027-11-05T00:00:00Z")]
        {
            let shifts = resolve(TIRANE, &revisions, &[], utc(from), utc(to));
            for shift in &shifts[1..] {
                let local = shift.start.with_timezone(&TIRANE);
                assert_eq!(local.time(), NaiveTime::from_hms_opt(8, 0, 0).unwrap(), "{shift:?}");
            }
            assert!(gaps(&shifts).is_empty());
        }
    }

    #[test]
    fn a_shift_across_the_spring_change_is_an_hour_shorter_and_one_ending_in_the_gap_ends_after_it() {
        // 28 March 2027: 02:00 CET becomes 03:00 CEST.
        let revisions = revision(vec![daily(&["ana", "ben"], "08:00")]);
        let shifts = resolve(TIRANE, &revisions, &[], utc("2027-03-27T07:00:00Z"), utc("2027-03-29T06:00:00Z"));
        assert_eq!(shifts[0].end - shifts[0].start, Duration::hours(23));
        let revisions = revision(vec![daily(&["ana", "ben"], "02:30")]);
        let shifts = resolve(TIRANE, &revisions, &[], utc("2027-03-27T00:00:00Z"), utc("2027-03-29T00:00:00Z"));
        let handoff = shifts.iter().find(|s| s.start > utc("2027-03-28T00:00:00Z")).unwrap();
        assert_eq!(handoff.start, utc("2027-03-28T01:00:00Z"), "03:00 CEST, the first instant after the gap");
        assert!(gaps(&shifts).is_empty());
    }

    #[test]
    fn an_ambiguous_autumn_handoff_makes_a_one_hour_overlap_not_a_gap() {
        // 31 October 2027: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
        let revisions = revision(vec![daily(&["ana", "ben"], "02:30")]);
        let shifts = resolve(TIRANE, &revisions, &[], utc("2027-10-30T12:00:00Z"), utc("2027-10-31T12:00:00Z"));
        assert!(gaps(&shifts).is_empty());
        let both: Vec<&Shift> = shifts.iter().filter(|s| s.people.len() == 2).collect();
        assert_eq!(both.len(), 1);
        assert_eq!(both[0].start, utc("2027-10-31T00:30:00Z"), "first 02:30 (CEST)");
        assert_eq!(both[0].end, utc("2027-10-31T01:30:00Z"), "second 02:30 (CET)");
    }

    #[test]
    fn overrides_win_and_higher_layers_win_where_they_have_someone() {
        let mut weekdays = daily(&["day"], "08:00");
        weekdays.name = "office".into();
        weekdays.priority = 1;
        weekdays.restrictions = vec![Restriction {
            weekdays: vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
            from: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
            to: NaiveTime::from_hms_opt(16, 0, 0).unwrap(),
        }];
        let revisions = revision(vec![daily(&["ana", "ben"], "08:00"), weekdays]);
        let cover = Cover {
            id: "o1".into(),
            user_id: "cara".into(),
            start: utc("2027-01-05T10:00:00Z"),
            end: utc("2027-01-05T12:00:00Z"),
        };
        // Tuesday 5 January 2027, CET (UTC+1).
        let shifts = resolve(TIRANE, &revisions, &[cover], utc("2027-01-05T06:00:00Z"), utc("2027-01-05T18:00:00Z"));
        let summary: Vec<(String, Vec<&str>)> =
            shifts.iter().map(|s| (s.start.format("%H:%M").to_string(), who(s))).collect();
        assert_eq!(
            summary,
            vec![
                ("06:00".to_owned(), vec!["ana"]),
                ("07:00".to_owned(), vec!["day"]),
                ("10:00".to_owned(), vec!["cara"]),
                ("12:00".to_owned(), vec!["day"]),
                ("15:00".to_owned(), vec!["ben"]),
            ]
        );
    }

    #[test]
    fn night_restrictions_run_past_midnight_and_leave_days_uncovered() {
        let mut nights = daily(&["ana"], "20:00");
        nights.restrictions = vec![Restriction {
            weekdays: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
                Weekday::Sun,
            ],
            from: NaiveTime::from_hms_opt(20, 0, 0).unwrap(),
            to: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
        }];
        let shifts =
            resolve(TIRANE, &revision(vec![nights]), &[], utc("2027-01-05T00:00:00Z"), utc("2027-01-06T00:00:00Z"));
        assert_eq!(gaps(&shifts), vec![(utc("2027-01-05T07:00:00Z"), utc("2027-01-05T19:00:00Z"))]);
    }

    #[test]
    fn a_later_revision_changes_only_what_comes_after_it() {
        let mut revisions = revision(vec![daily(&["ana", "ben"], "08:00")]);
        revisions
            .push(Revision { effective_from: utc("2027-01-06T12:00:00Z"), layers: vec![daily(&["cara"], "08:00")] });
        let shifts = resolve(TIRANE, &revisions, &[], utc("2027-01-06T00:00:00Z"), utc("2027-01-07T00:00:00Z"));
        let summary: Vec<(DateTime<Utc>, Vec<&str>)> = shifts.iter().map(|s| (s.start, who(s))).collect();
        assert_eq!(
            summary,
            vec![
                (utc("2027-01-06T00:00:00Z"), vec!["ben"]),
                (utc("2027-01-06T07:00:00Z"), vec!["ana"]),
                (utc("2027-01-06T12:00:00Z"), vec!["cara"])
            ]
        );
    }

    fn any_turn() -> impl Strategy<Value = TurnLength> {
        prop_oneof![
            (1u32..=48).prop_map(TurnLength::Hours),
            (1u32..=10).prop_map(TurnLength::Days),
            (1u32..=3).prop_map(TurnLength::Weeks)
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Whatever the turn, handoff time and window (around either change), a rotation without
        /// restrictions never leaves a gap, its stretches tile the window, and every handoff falls
        /// on the wall-clock grid (or right after a gap when its time does not exist that day).
        #[test]
        fn rotations_never_leave_gaps_and_keep_their_wall_clock(
            turn in any_turn(),
            hour in 0u32..24,
            minute in prop::sample::select(vec![0u32, 15, 30, 45]),
            people in 1usize..5,
            start_day in 0i64..400,
            window_start_hours in 0i64..(24 * 500),
            window_hours in 1i64..(24 * 20),
        ) {
            let handoff = NaiveTime::from_hms_opt(hour, minute, 0).unwrap();
            let starts = NaiveDate::from_ymd_opt(2026, 9, 1).unwrap().and_time(handoff) + Duration::days(start_day);
            prop_assume!(!is_missing(TIRANE, starts));
            let layer = Layer {
                name: "l".into(),
                priority: 0,
                participants: (0..people).map(|p| vec![format!("p{p}")]).collect(),
                turn,
                starts,
                ends: None,
                restrictions: Vec::new(),
            };
            let revisions = vec![Revision { effective_from: utc("2026-01-01T00:00:00Z"), layers: vec![layer.clone()] }];
            let from = start_instant(TIRANE, starts) + Duration::hours(window_start_hours);
            let to = from + Duration::hours(window_hours);
            let shifts = resolve(TIRANE, &revisions, &[], from, to);
            prop_assert_eq!(shifts.first().map(|s| s.start), Some(from));
            prop_assert_eq!(shifts.last().map(|s| s.end), Some(to));
            for pair in shifts.windows(2) {
                prop_assert_eq!(pair[0].end, pair[1].start);
            }
            prop_assert!(gaps(&shifts).is_empty(), "gap in {:?}", shifts);
            for shift in shifts.iter().skip(1) {
                // Each change of people is at a handoff: a grid point or the end of an overlap.
                let elapsed = (shift.start.with_timezone(&TIRANE).naive_local() - starts).num_minutes();
                let nearest = elapsed.div_euclid(turn.minutes());
                let on_grid = (nearest - 1..=nearest + 1).map(|k| turn.add(starts, k)).any(|grid| {
                    shift.start == start_instant(TIRANE, grid) || shift.start == end_instant(TIRANE, grid)
                });
                prop_assert!(on_grid, "{:?} is not at a handoff", shift.start);
            }
        }
    }
}
