//! The SMS lifeline: an emergency sighting sent as one text message when the phone has GSM but no
//! data.
//!
//! At login (and on every refresh) the app receives a [`LifelineEnrolment`]: the service's inbound
//! number, the format version and a secret of this device's session. When the worker marks an
//! emergency and no data connection is available, the app builds a [`LifelineMessage`], encodes
//! it with [`LifelineMessage::encode`] and sends the text to the inbound number. The server reads
//! it with [`parse`], checks [`Parsed::verify`] with the secret it derives for the same session,
//! records the sighting under [`LifelineMessage::sighting_id`] and pages the duty rota of the
//! place. When the phone later has data it uploads the full sighting with
//! `POST /api/v1/identifications` under the same `id`: the two become one record.
//!
//! # Format, version 1
//!
//! Eight fields separated by one space, at most 124 characters, all from the GSM 03.38 basic
//! alphabet (so the text is one SMS of at most 160 GSM-7 characters):
//!
//! ```text
//! T1 <session> <counter> <sighting> <point> <observed> <facts> <mac>
//! ```
//!
//! | field | form | example |
//! |---|---|---|
//! | tag | `T` and the format version in decimal | `T1` |
//! | session | the session id (`session_id` of the login answer): its 16 bytes in base64url without padding, 22 characters | `AZXzonwefTCaSx8uPUxbag` |
//! | counter | decimal 1–4294967295; strictly greater than in every earlier lifeline SMS of this session (the app keeps it across restarts) | `7` |
//! | sighting | the sighting's client id (the `id` of the later `POST /api/v1/identifications`), 16 bytes in base64url, 22 characters | `AZorPE1efwCKGyw9Tl9qew` |
//! | point | `lat,lon,accuracy` then the source letter; degrees with at most 5 decimals (about 1 m), accuracy in whole metres 1–99999; source `g` gps, `n` network, `p` map_pin, `a` address. `-` when no fix could be taken (recorded as `location_not_collected_reason = no_fix`) | `41.32750,19.81870,12g` |
//! | observed | when the worker saw the person: Unix time in seconds (device clock) | `1772441700` |
//! | facts | three letters, then any visible conditions: subject (`c` child, `a` adult, `u` unknown age), sex (`f` female, `m` male, `u` unknown), risk level (`e` emergency, `h` high, `m` medium, `l` low); conditions `i` injury, `x` intoxication, `e` exposure, `n` malnutrition, `s` illness, each at most once | `cfei` |
//! | mac | the first 12 bytes of HMAC-SHA256 under the device secret over the text before the space that precedes it (tag to facts, spaces included), in base64url: 16 characters | `q1Yl0s4Xb3n6A2cD` |
//!
//! A whole message (a girl, injured, at Skanderbeg Square, seen at 08:55 UTC on 2 March 2026,
//! the session's seventh lifeline SMS; session `0195f3a2-7c1e-7d30-9a4b-1f2e3d4c5b6a`, sighting
//! `019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6a7b`, device secret the 32 ASCII bytes
//! `0123456789abcdef0123456789abcdef`), 105 characters:
//!
//! ```text
//! T1 AZXzonwefTCaSx8uPUxbag 7 AZorPE1efwCKGyw9Tl9qew 41.32750,19.81870,12g 1772441700 cfei 1ZmHQiyQqepTL8vD
//! ```
//!
//! The same emergency without a fix, and with no visible condition noted:
//!
//! ```text
//! T1 AZXzonwefTCaSx8uPUxbag 8 AZorPE1efwCKGyw9Tl9qew - 1772441700 cfe <mac>
//! ```
//!
//! The server refuses, without paging anyone and without saying why, a text whose MAC does not
//! verify, whose session has ended or whose user is disabled, whose counter is not above the last
//! one it accepted for the session, or whose observed time lies outside its window. Leading and
//! trailing whitespace is ignored; anything else that differs from the form above is refused.
//! An accepted text is answered by SMS with a short confirmation naming the first eight
//! characters of the sighting field.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::ToSchema;
use uuid::Uuid;

/// The version of the format [`LifelineMessage::encode`] writes and [`parse`] reads.
pub const FORMAT_VERSION: u32 = 1;
/// One SMS in the GSM-7 alphabet.
pub const MAX_SMS_CHARS: usize = 160;
/// Bytes of the HMAC kept in a message.
pub const MAC_BYTES: usize = 12;

/// What the app needs to send an emergency by SMS, given at login and on every refresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LifelineEnrolment {
    /// The number to send the SMS to, E.164 (`+355…`).
    pub inbound_number: String,
    /// The format version to write (see the `lifeline` module of the contract crate): `1`.
    pub format_version: u32,
    /// This session's secret for the message's MAC: 32 bytes in base64url without padding. Keep
    /// it in the phone's secure storage; it stops working when the session ends.
    pub device_secret: String,
    /// An SMS whose observed time is older than this when it arrives is refused.
    pub max_delay_minutes: u32,
}

/// What the SMS gateway posts to `POST /api/v1/sms/inbound` for each text it receives, as a form
/// (`application/x-www-form-urlencoded`). Other parameters the gateway sends are signed and
/// accepted, and otherwise ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InboundSms {
    /// The gateway's id of the message; a message delivered again under the same id gets the
    /// first answer again.
    #[serde(rename = "MessageSid")]
    pub message_sid: String,
    #[serde(rename = "AccountSid")]
    pub account_sid: Option<String>,
    /// The sender's number.
    #[serde(rename = "From")]
    pub from: Option<String>,
    /// The service's inbound number.
    #[serde(rename = "To")]
    pub to: Option<String>,
    /// The text: a lifeline message (see the contract crate's `lifeline` module).
    #[serde(rename = "Body")]
    pub body: String,
}

/// Subject type: `c`, `a`, `u`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Child,
    Adult,
    UnknownAge,
}

/// Sex: `f`, `m`, `u`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Female,
    Male,
    Unknown,
}

/// Risk level: `e`, `h`, `m`, `l`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Risk {
    Emergency,
    High,
    Medium,
    Low,
}

/// A visible condition: `i`, `x`, `e`, `n`, `s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Condition {
    Injury,
    Intoxication,
    Exposure,
    Malnutrition,
    Illness,
}

/// Where the point came from: `g`, `n`, `p`, `a`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Gps,
    Network,
    MapPin,
    Address,
}

macro_rules! letters {
    ($ty:ty, $($variant:ident => ($letter:literal, $code:literal)),* $(,)?) => {
        impl $ty {
            /// The letter in the message.
            pub fn letter(self) -> char {
                match self { $(Self::$variant => $letter,)* }
            }

            pub fn from_letter(letter: char) -> Option<Self> {
                match letter { $($letter => Some(Self::$variant),)* _ => None }
            }

            /// The code of the vocabulary the sighting uses.
            pub fn code(self) -> &'static str {
                match self { $(Self::$variant => $code,)* }
            }
        }
    };
}

letters!(Subject, Child => ('c', "child"), Adult => ('a', "adult"), UnknownAge => ('u', "unknown_age"));
letters!(Sex, Female => ('f', "female"), Male => ('m', "male"), Unknown => ('u', "unknown"));
letters!(Risk, Emergency => ('e', "emergency"), High => ('h', "high"), Medium => ('m', "medium"), Low => ('l', "low"));
letters!(
    Condition,
    Injury => ('i', "injury"),
    Intoxication => ('x', "intoxication"),
    Exposure => ('e', "exposure"),
    Malnutrition => ('n', "malnutrition"),
    Illness => ('s', "illness"),
);
letters!(Source, Gps => ('g', "gps"), Network => ('n', "network"), MapPin => ('p', "map_pin"), Address => ('a', "address"));

/// Where the person was seen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// WGS84 degrees; written with 5 decimals.
    pub lat: f64,
    pub lon: f64,
    /// Metres, 1–99999.
    pub accuracy_m: u32,
    pub source: Source,
}

/// One emergency, as the SMS carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct LifelineMessage {
    /// The session the secret belongs to (`session_id` of the login answer).
    pub session_id: Uuid,
    /// Greater than in every earlier lifeline SMS of the session; at least 1.
    pub counter: u32,
    /// The sighting's id, which the later data upload carries too.
    pub sighting_id: Uuid,
    /// `None` when no fix could be taken.
    pub point: Option<Point>,
    /// When the worker saw the person; whole seconds are sent.
    pub observed_at: DateTime<Utc>,
    pub subject: Subject,
    pub sex: Sex,
    pub risk: Risk,
    /// Each at most once; written in the order given.
    pub conditions: Vec<Condition>,
}

/// Why a message cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// The counter is 0.
    Counter,
    /// Latitude, longitude or accuracy out of range.
    Point,
    /// Observed before 1970.
    ObservedAt,
    /// A condition given twice.
    Conditions,
    /// The secret is empty.
    Secret,
}

/// Why a text is not a lifeline message. [`ParseError::reason`] is what the server logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not `T` and a version, or a version this side does not read.
    UnknownVersion,
    /// Fields missing, extra, or not of their form.
    Malformed,
    /// Longer than one SMS or outside the GSM-7 basic alphabet.
    NotOneSms,
}

impl ParseError {
    pub fn reason(self) -> &'static str {
        match self {
            ParseError::UnknownVersion => "unknown_version",
            ParseError::Malformed => "malformed",
            ParseError::NotOneSms => "not_one_sms",
        }
    }
}

/// A text read as a lifeline message, its MAC not yet checked.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub message: LifelineMessage,
    signed: String,
    mac: [u8; MAC_BYTES],
}

impl Parsed {
    /// Whether the MAC was made with `secret` (compared in constant time).
    pub fn verify(&self, secret: &[u8]) -> bool {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { return false };
        mac.update(self.signed.as_bytes());
        mac.verify_truncated_left(&self.mac).is_ok()
    }
}

impl LifelineMessage {
    /// The text to send, MAC included, under the device secret (the bytes the base64url
    /// `device_secret` of [`LifelineEnrolment`] decodes to).
    pub fn encode(&self, secret: &[u8]) -> Result<String, EncodeError> {
        if secret.is_empty() {
            return Err(EncodeError::Secret);
        }
        if self.counter == 0 {
            return Err(EncodeError::Counter);
        }
        let point = match &self.point {
            None => "-".to_owned(),
            Some(point) => {
                let valid = point.lat.is_finite()
                    && point.lon.is_finite()
                    && (-90.0..=90.0).contains(&point.lat)
                    && (-180.0..=180.0).contains(&point.lon)
                    && (1..=99_999).contains(&point.accuracy_m);
                if !valid {
                    return Err(EncodeError::Point);
                }
                format!("{:.5},{:.5},{}{}", point.lat, point.lon, point.accuracy_m, point.source.letter())
            }
        };
        let observed = self.observed_at.timestamp();
        if observed < 0 {
            return Err(EncodeError::ObservedAt);
        }
        let mut facts = String::new();
        facts.push(self.subject.letter());
        facts.push(self.sex.letter());
        facts.push(self.risk.letter());
        for (i, condition) in self.conditions.iter().enumerate() {
            if self.conditions[..i].contains(condition) {
                return Err(EncodeError::Conditions);
            }
            facts.push(condition.letter());
        }
        let signed = format!(
            "T{FORMAT_VERSION} {} {} {} {point} {observed} {facts}",
            URL_SAFE_NO_PAD.encode(self.session_id.as_bytes()),
            self.counter,
            URL_SAFE_NO_PAD.encode(self.sighting_id.as_bytes()),
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| EncodeError::Secret)?;
        mac.update(signed.as_bytes());
        let tag = mac.finalize().into_bytes();
        Ok(format!("{signed} {}", URL_SAFE_NO_PAD.encode(&tag[..MAC_BYTES])))
    }
}

/// Reads a text as a lifeline message of a version this side knows. The MAC is checked
/// separately ([`Parsed::verify`]), once the session's secret is known.
pub fn parse(text: &str) -> Result<Parsed, ParseError> {
    let text = text.trim();
    if text.chars().count() > MAX_SMS_CHARS || !is_gsm7_basic(text) {
        return Err(ParseError::NotOneSms);
    }
    let fields: Vec<&str> = text.split(' ').collect();
    let version = fields.first().and_then(|tag| tag.strip_prefix('T')).ok_or(ParseError::UnknownVersion)?;
    if version != FORMAT_VERSION.to_string() {
        return Err(ParseError::UnknownVersion);
    }
    let [_, session, counter, sighting, point, observed, facts, mac] = fields[..] else {
        return Err(ParseError::Malformed);
    };
    let malformed = ParseError::Malformed;
    let signed = text[..text.len() - mac.len() - 1].to_owned();
    let counter = decimal(counter).and_then(|n| u32::try_from(n).ok()).filter(|n| *n > 0).ok_or(malformed)?;
    let observed_at = decimal(observed)
        .and_then(|secs| i64::try_from(secs).ok())
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .ok_or(malformed)?;
    let mac_bytes = URL_SAFE_NO_PAD.decode(mac).map_err(|_| malformed)?;
    let mac: [u8; MAC_BYTES] = mac_bytes.try_into().map_err(|_| malformed)?;
    let (subject, sex, risk, conditions) = parse_facts(facts).ok_or(malformed)?;
    let message = LifelineMessage {
        session_id: uuid(session).ok_or(malformed)?,
        counter,
        sighting_id: uuid(sighting).ok_or(malformed)?,
        point: if point == "-" { None } else { Some(parse_point(point).ok_or(malformed)?) },
        observed_at,
        subject,
        sex,
        risk,
        conditions,
    };
    Ok(Parsed { message, signed, mac })
}

/// Digits only, no sign and no leading zero.
fn decimal(text: &str) -> Option<u64> {
    let plain =
        !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && !(text.len() > 1 && text.starts_with('0'));
    plain.then(|| text.parse().ok()).flatten()
}

fn uuid(text: &str) -> Option<Uuid> {
    if text.len() != 22 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// Degrees: an optional `-`, digits, and at most 5 decimals.
fn degrees(text: &str, limit: f64) -> Option<f64> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let valid = !whole.is_empty()
        && whole.len() <= 3
        && digits(whole)
        && digits(fraction)
        && fraction.len() <= 5
        && !(unsigned.contains('.') && fraction.is_empty());
    let value: f64 = text.parse().ok().filter(|_| valid)?;
    (value.is_finite() && value.abs() <= limit).then_some(value)
}

fn parse_point(text: &str) -> Option<Point> {
    let mut parts = text.split(',');
    let (lat, lon, accuracy) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let source = Source::from_letter(accuracy.chars().last()?)?;
    let accuracy_m = decimal(&accuracy[..accuracy.len() - 1]).and_then(|n| u32::try_from(n).ok())?;
    if !(1..=99_999).contains(&accuracy_m) {
        return None;
    }
    Some(Point { lat: degrees(lat, 90.0)?, lon: degrees(lon, 180.0)?, accuracy_m, source })
}

fn parse_facts(text: &str) -> Option<(Subject, Sex, Risk, Vec<Condition>)> {
    let mut letters = text.chars();
    let subject = Subject::from_letter(letters.next()?)?;
    let sex = Sex::from_letter(letters.next()?)?;
    let risk = Risk::from_letter(letters.next()?)?;
    let mut conditions = Vec::new();
    for letter in letters {
        let condition = Condition::from_letter(letter)?;
        if conditions.contains(&condition) {
            return None;
        }
        conditions.push(condition);
    }
    Some((subject, sex, risk, conditions))
}

/// The GSM 03.38 basic character set (one septet each; the extension table's characters, such as
/// `{` or `€`, take two and are left out).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// Whether every character of `text` is in the GSM-7 basic alphabet.
pub fn is_gsm7_basic(text: &str) -> bool {
    text.chars().all(|c| GSM7_BASIC.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn message() -> LifelineMessage {
        LifelineMessage {
            session_id: "0195f3a2-7c1e-7d30-9a4b-1f2e3d4c5b6a".parse().unwrap(),
            counter: 7,
            sighting_id: "019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6a7b".parse().unwrap(),
            point: Some(Point { lat: 41.3275, lon: 19.8187, accuracy_m: 12, source: Source::Gps }),
            observed_at: "2026-03-02T08:55:00Z".parse().unwrap(),
            subject: Subject::Child,
            sex: Sex::Female,
            risk: Risk::Emergency,
            conditions: vec![Condition::Injury],
        }
    }

    /// The longest message the format allows.
    fn longest() -> LifelineMessage {
        LifelineMessage {
            counter: u32::MAX,
            point: Some(Point { lat: -89.12345, lon: -179.12345, accuracy_m: 99_999, source: Source::MapPin }),
            observed_at: "2286-11-20T17:46:39Z".parse().unwrap(),
            conditions: vec![
                Condition::Injury,
                Condition::Intoxication,
                Condition::Exposure,
                Condition::Malnutrition,
                Condition::Illness,
            ],
            ..message()
        }
    }

    #[test]
    fn a_message_reads_back_and_verifies_under_its_secret_only() {
        let text = message().encode(SECRET).unwrap();
        // The example of the module's documentation.
        assert_eq!(
            text,
            "T1 AZXzonwefTCaSx8uPUxbag 7 AZorPE1efwCKGyw9Tl9qew 41.32750,19.81870,12g 1772441700 cfei 1ZmHQiyQqepTL8vD"
        );
        assert_eq!(text.chars().count(), 105);
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.message, message());
        assert!(parsed.verify(SECRET));
        assert!(!parsed.verify(b"another secret of thirty-two by!"));
        // Gateways may add a line break.
        assert!(parse(&format!("{text}\n")).unwrap().verify(SECRET));
    }

    #[test]
    fn any_changed_character_breaks_the_mac() {
        let text = message().encode(SECRET).unwrap();
        let forged = text.replace(" 7 ", " 8 ");
        assert!(!parse(&forged).unwrap().verify(SECRET));
        let moved = text.replace("41.32750", "41.32751");
        assert!(!parse(&moved).unwrap().verify(SECRET));
        let other_facts = text.replace(" cfei ", " cfe ");
        assert!(!parse(&other_facts).unwrap().verify(SECRET));
    }

    #[test]
    fn the_longest_message_fits_one_sms_in_the_gsm7_alphabet() {
        let text = longest().encode(SECRET).unwrap();
        assert_eq!(text.chars().count(), 124, "{text}");
        assert!(text.chars().count() <= MAX_SMS_CHARS);
        assert!(is_gsm7_basic(&text));
        assert_eq!(parse(&text).unwrap().message, longest());
    }

    #[test]
    fn every_message_is_gsm7_and_reads_back() {
        let sources = [Source::Gps, Source::Network, Source::MapPin, Source::Address];
        for (i, source) in sources.into_iter().enumerate() {
            let mut message = message();
            message.counter = u32::try_from(i).unwrap() + 1;
            message.point = Some(Point { lat: 39.6 + i as f64, lon: 20.0 - i as f64, accuracy_m: 5, source });
            message.sighting_id = Uuid::now_v7();
            message.session_id = Uuid::now_v7();
            let text = message.encode(SECRET).unwrap();
            assert!(is_gsm7_basic(&text) && text.chars().count() <= MAX_SMS_CHARS, "{text}");
            assert_eq!(parse(&text).unwrap().message, message);
        }
    }

    #[test]
    fn no_fix_is_a_dash() {
        let message = LifelineMessage { point: None, conditions: vec![], ..message() };
        let text = message.encode(SECRET).unwrap();
        assert!(text.contains(" - 1772441700 cfe "), "{text}");
        assert_eq!(parse(&text).unwrap().message, message);
    }

    #[test]
    fn what_cannot_be_written_is_refused() {
        assert_eq!(LifelineMessage { counter: 0, ..message() }.encode(SECRET), Err(EncodeError::Counter));
        let far = Some(Point { lat: 91.0, lon: 0.0, accuracy_m: 1, source: Source::Gps });
        assert_eq!(LifelineMessage { point: far, ..message() }.encode(SECRET), Err(EncodeError::Point));
        let twice = vec![Condition::Injury, Condition::Injury];
        assert_eq!(LifelineMessage { conditions: twice, ..message() }.encode(SECRET), Err(EncodeError::Conditions));
        assert_eq!(message().encode(b""), Err(EncodeError::Secret));
    }

    #[test]
    fn malformed_texts_are_refused_with_a_reason() {
        let text = message().encode(SECRET).unwrap();
        assert_eq!(parse("Ndihmë!").unwrap_err(), ParseError::NotOneSms, "ë is not GSM-7");
        assert_eq!(parse(&"T".repeat(161)).unwrap_err(), ParseError::NotOneSms);
        assert_eq!(parse("hello").unwrap_err(), ParseError::UnknownVersion);
        assert_eq!(parse(&text.replacen("T1", "T2", 1)).unwrap_err(), ParseError::UnknownVersion);
        let broken = [
            text.replace(" 7 ", " 07 "),
            text.replace(" 7 ", " 0 "),
            text.replace(" 7 ", " -7 "),
            text.replace(" 7 ", " 4294967296 "),
            text.replace(" cfei ", " cfeii "),
            text.replace(" cfei ", " zfe "),
            text.replace(" cfei ", " cf "),
            text.replace("41.32750", "41.327501"),
            text.replace("41.32750", "+41.3275"),
            text.replace("41.32750", "141.3275"),
            text.replace(",12g", ",12"),
            text.replace(",12g", ",0g"),
            text.replace("AZorPE1efwCKGyw9Tl9qew", "AZorPE1efwCKGyw9Tl9qe"),
            text.replace(" 1772441700 ", " 1772441700.5 "),
            text.replace(' ', "  "),
            format!("{text} extra"),
            text[..text.len() - 1].to_owned(),
        ];
        for text in broken {
            assert_eq!(parse(&text).unwrap_err(), ParseError::Malformed, "{text}");
        }
    }

    #[test]
    fn the_alphabet_is_gsm7_basic() {
        assert!(is_gsm7_basic("T1 Az09-_,.@"));
        assert!(!is_gsm7_basic("ë"));
        assert!(!is_gsm7_basic("{}"));
        assert!(!is_gsm7_basic("€"));
    }
}
