//! The language of user-facing text: Albanian (default) or English, by `Accept-Language`.

use actix_web::HttpRequest;
use actix_web::http::header::ACCEPT_LANGUAGE;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Sq,
    En,
}

impl Lang {
    pub fn from_request(req: &HttpRequest) -> Lang {
        req.headers().get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).map_or_else(Lang::default, Lang::negotiate)
    }

    /// Picks the supported language with the highest q-value; ties go to the one listed first.
    pub fn negotiate(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for item in header.split(',') {
            let mut parts = item.trim().split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            let lang = match primary {
                "sq" | "als" => Lang::Sq,
                "en" => Lang::En,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(best_q, _)| q > best_q) {
                best = Some((q, lang));
            }
        }
        best.map_or_else(Lang::default, |(_, lang)| lang)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_q_values() {
        assert_eq!(Lang::negotiate("en-GB,en;q=0.9"), Lang::En);
        assert_eq!(Lang::negotiate("sq-AL, en;q=0.5"), Lang::Sq);
        assert_eq!(Lang::negotiate("de, en;q=0.2, sq;q=0.8"), Lang::Sq);
        assert_eq!(Lang::negotiate("fr"), Lang::Sq);
        assert_eq!(Lang::negotiate("en;q=0"), Lang::Sq);
    }
}
