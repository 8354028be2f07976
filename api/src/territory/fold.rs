//! Name folding for matching Albanian names typed any way: `Kamëz`, `KAMEZ`, `kamez` and
//! `Kamez ` all fold to `kamez`; punctuation and hyphens become single spaces.

pub fn fold(text: &str) -> String {
    let ascii = deunicode::deunicode(text).to_lowercase();
    let mut out = String::with_capacity(ascii.len());
    for word in ascii.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn albanian_letters_case_and_punctuation_fold() {
        assert_eq!(fold("Kamëz"), "kamez");
        assert_eq!(fold("KORÇË"), "korce");
        assert_eq!(fold("Zall-Herr"), fold("Zall Herr"));
        assert_eq!(fold("Shköder"), "shkoder");
        assert_eq!(fold("  Lagjja  13 "), "lagjja 13");
        assert_eq!(fold("Njësia Administrative Nr. 5"), "njesia administrative nr 5");
    }
}
