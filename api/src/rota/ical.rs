//! iCalendar (RFC 5545) rendering, pure: escaping, folding, the calendar text and stable UIDs;
//! the names and contacts an event shows.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use terren_contract::schedules::OnDutyPerson;

use crate::digest::hex;

/// The summary of a stretch nobody covers.
pub const NOT_COVERED: &str = "PA MBULIM / NOT COVERED";

/// A calendar ready to be written as RFC 5545 text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub name: String,
    /// IANA zone, for `X-WR-TIMEZONE`; event times are in UTC.
    pub time_zone: String,
    /// When the feed was produced (`DTSTAMP`).
    pub stamp: DateTime<Utc>,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub uid: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub summary: String,
    pub description: String,
    /// Shown as free time (a gap), not busy.
    pub transparent: bool,
}

/// RFC 5545 TEXT: backslash, semicolon and comma escaped, line breaks as `\n`, other control
/// characters (which TEXT may not hold) dropped.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends one content line, folded so that no line is longer than 75 octets (continuations
/// start with a space) and never inside a UTF-8 character, ended with CRLF.
pub fn push_folded(out: &mut String, line: &str) {
    const LIMIT: usize = 75;
    let mut rest = line;
    let mut limit = LIMIT;
    while rest.len() > limit {
        let mut cut = limit;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(&rest[..cut]);
        out.push_str("\r\n ");
        rest = &rest[cut..];
        // The leading space counts towards the continuation's 75 octets.
        limit = LIMIT - 1;
    }
    out.push_str(rest);
    out.push_str("\r\n");
}

fn utc_stamp(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The calendar as RFC 5545 text with CRLF line endings.
pub fn render(calendar: &Calendar) -> String {
    let mut out = String::new();
    let mut line = |text: &str| push_folded(&mut out, text);
    line("BEGIN:VCALENDAR");
    line("VERSION:2.0");
    line("PRODID:-//Terren//Rota//SQ");
    line("CALSCALE:GREGORIAN");
    line("METHOD:PUBLISH");
    line(&format!("X-WR-CALNAME:{}", escape_text(&calendar.name)));
    line(&format!("X-WR-TIMEZONE:{}", escape_text(&calendar.time_zone)));
    line("REFRESH-INTERVAL;VALUE=DURATION:PT1H");
    line("X-PUBLISHED-TTL:PT1H");
    let stamp = utc_stamp(calendar.stamp);
    for event in &calendar.events {
        line("BEGIN:VEVENT");
        line(&format!("UID:{}", escape_text(&event.uid)));
        line(&format!("DTSTAMP:{stamp}"));
        line(&format!("DTSTART:{}", utc_stamp(event.start)));
        line(&format!("DTEND:{}", utc_stamp(event.end)));
        line(&format!("SUMMARY:{}", escape_text(&event.summary)));
        if !event.description.is_empty() {
            line(&format!("DESCRIPTION:{}", escape_text(&event.description)));
        }
        line(if event.transparent { "TRANSP:TRANSPARENT" } else { "TRANSP:OPAQUE" });
        line("END:VEVENT");
    }
    line("END:VCALENDAR");
    out
}

/// A UID that stays the same for the same stretch from one fetch to the next.
pub fn event_uid(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hex(&hasher.finalize());
    format!("{}@terren", &digest[..32])
}

pub(super) fn names(people: &[OnDutyPerson]) -> String {
    people.iter().map(|p| p.display_name.as_str()).collect::<Vec<_>>().join(" + ")
}

/// One line per person: name and phone number.
pub(super) fn contacts(people: &[OnDutyPerson]) -> String {
    people
        .iter()
        .map(|p| match &p.phone {
            Some(phone) => format!("{}: {phone}", p.display_name),
            None => p.display_name.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn text_escapes_the_four_specials_and_drops_controls() {
        assert_eq!(escape_text(r"a\b;c,d"), r"a\\b\;c\,d");
        assert_eq!(escape_text("one\ntwo\r\nthree\rfour"), r"one\ntwo\nthree\nfour");
        assert_eq!(escape_text("tab\there\u{7}bell"), "tab\therebell");
        assert_eq!(escape_text("Gadishmëri: Tiranë"), "Gadishmëri: Tiranë", "colons and letters stay");
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let mut out = String::new();
        push_folded(&mut out, "SUMMARY:short");
        assert_eq!(out, "SUMMARY:short\r\n");

        for filler in ["x", "ë", "ç", "€", "😀"] {
            for lead in 0..4 {
                let line = format!("DESCRIPTION:{}{}", "a".repeat(lead), filler.repeat(120));
                let mut out = String::new();
                push_folded(&mut out, &line);
                assert!(out.ends_with("\r\n"));
                let physical: Vec<&str> = out.trim_end_matches("\r\n").split("\r\n").collect();
                assert!(physical.len() > 1, "{line}");
                for (index, part) in physical.iter().enumerate() {
                    assert!(part.len() <= 75, "{} octets: {part}", part.len());
                    if index > 0 {
                        assert!(part.starts_with(' '), "continuations start with a space");
                    }
                }
                // Unfolding gives the line back; every piece was valid UTF-8 on its own.
                let unfolded: String =
                    physical.iter().enumerate().map(|(i, p)| if i == 0 { *p } else { &p[1..] }).collect();
                assert_eq!(unfolded, line);
            }
        }
        // Exactly 75 octets stays on one line.
        let mut out = String::new();
        push_folded(&mut out, &"a".repeat(75));
        assert_eq!(out, format!("{}\r\n", "a".repeat(75)));
    }

    #[test]
    fn a_calendar_has_the_required_properties_and_utc_times() {
        let calendar = Calendar {
            name: "Gadishmëria; QKT, Tiranë".into(),
            time_zone: "Europe/Tirane".into(),
            stamp: utc("2026-03-02T09:00:00Z"),
            events: vec![Event {
                uid: event_uid(&["s", "2026-03-02T07:00:00+00:00", "a"]),
                start: utc("2026-03-02T07:00:00Z"),
                end: utc("2026-03-03T07:00:00Z"),
                summary: "Ana + Çlirim".into(),
                description: "Ana: +355690000001\nÇlirim: +355690000002".into(),
                transparent: false,
            }],
        };
        let text = render(&calendar);
        assert!(text.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:"));
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'), "CRLF only");
        for expected in [
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            r"X-WR-CALNAME:Gadishmëria\; QKT\, Tiranë",
            "X-WR-TIMEZONE:Europe/Tirane",
            "DTSTAMP:20260302T090000Z",
            "DTSTART:20260302T070000Z",
            "DTEND:20260303T070000Z",
            "SUMMARY:Ana + Çlirim",
            r"DESCRIPTION:Ana: +355690000001\nÇlirim: +355690000002",
        ] {
            assert!(text.contains(&format!("\r\n{expected}\r\n")), "{expected} missing from {text}");
        }
        assert_eq!(event_uid(&["s", "t", "a"]), event_uid(&["s", "t", "a"]));
        assert_ne!(event_uid(&["s", "ta"]), event_uid(&["st", "a"]), "parts are length-prefixed");
    }
}
