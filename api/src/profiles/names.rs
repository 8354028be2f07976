//! Names as field workers hear and spell them: folded (ë→e, ç→c, case, other scripts
//! transliterated), reduced to a sound key per word so that Albanian and foreign spellings of the
//! same name meet (Xhoni, Joni, Gjoni; Kristjan, Christian), and compared by trigrams.

use std::collections::HashSet;

use crate::territory::fold::fold;

/// The words of a name, folded; words shorter than two letters are initials and carry no sound.
pub fn words(name: &str) -> Vec<String> {
    fold(name).split(' ').filter(|w| w.len() >= 2).map(str::to_owned).collect()
}

/// A sound key for one folded word. Albanian digraphs and the spellings Albanian names take in
/// Greek, Italian and English paperwork are mapped to one letter each, doubled letters collapse,
/// and vowels after the first letter are dropped except a final one (Ana ≠ An).
pub fn sound_key(word: &str) -> String {
    const DIGRAPHS: [(&str, char); 12] = [
        ("xh", 'j'),
        ("zh", 'j'),
        ("gj", 'j'),
        ("dj", 'j'),
        ("dh", 'd'),
        ("th", 't'),
        ("sh", 's'),
        ("ch", 'k'),
        ("ph", 'f'),
        ("nj", 'n'),
        ("ck", 'k'),
        ("qu", 'k'),
    ];
    let is_vowel = |c: char| matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y');
    let chars: Vec<char> = word.chars().filter(char::is_ascii_alphanumeric).collect();
    let mut sounds = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let pair: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        if let Some((_, letter)) = DIGRAPHS.iter().find(|(digraph, _)| *digraph == pair) {
            sounds.push(*letter);
            i += 2;
            continue;
        }
        let next = chars.get(i + 1).copied();
        let sound = match chars[i] {
            'q' | 'c' if next.is_some_and(|n| matches!(n, 'a' | 'o' | 'u' | 'r' | 'l')) => Some('k'),
            'q' => Some('c'),
            'y' => Some('i'),
            'w' => Some('v'),
            'x' => Some('z'),
            // A glide between a consonant and a vowel (Kristjan, Besjana) sounds as an i.
            'j' if i > 0 && !is_vowel(chars[i - 1]) && next.is_some_and(is_vowel) => Some('i'),
            // An h left over after the digraphs is silent in foreign spellings (Mehmet, Hanna).
            'h' if i > 0 => None,
            other => Some(other),
        };
        sounds.extend(sound);
        i += 1;
    }
    let mut key = String::with_capacity(sounds.len());
    let last = sounds.len().saturating_sub(1);
    for (position, letter) in sounds.into_iter().enumerate() {
        let dropped_vowel = position > 0 && position != last && is_vowel(letter);
        if !dropped_vowel && !key.ends_with(letter) {
            key.push(letter);
        }
    }
    key
}

/// The sound keys of every word of a name.
pub fn sound_keys(name: &str) -> Vec<String> {
    let mut keys: Vec<String> = words(name).iter().map(|w| sound_key(w)).filter(|k| !k.is_empty()).collect();
    keys.sort();
    keys.dedup();
    keys
}

fn trigrams(folded: &str) -> HashSet<String> {
    let mut set = HashSet::new();
    for word in folded.split(' ').filter(|w| !w.is_empty()) {
        let padded: Vec<char> = format!("  {word} ").chars().collect();
        for window in padded.windows(3) {
            set.insert(window.iter().collect());
        }
    }
    set
}

/// How alike two names are, 0 to 1: trigram overlap of the folded names (Dice coefficient), and
/// at least 0.8 when a word of one sounds like a word of the other.
pub fn similarity(a: &str, b: &str) -> f64 {
    let (fa, fb) = (fold(a), fold(b));
    if fa.is_empty() || fb.is_empty() {
        return 0.0;
    }
    if fa == fb {
        return 1.0;
    }
    let (ta, tb) = (trigrams(&fa), trigrams(&fb));
    let shared = ta.intersection(&tb).count() as f64;
    let dice = 2.0 * shared / (ta.len() + tb.len()) as f64;
    let keys_a = sound_keys(a);
    let sounds_alike = sound_keys(b).iter().any(|k| keys_a.contains(k));
    if sounds_alike { dice.max(0.8) } else { dice }
}

/// Whether some word of each name sounds the same.
pub fn sound_alike(a: &str, b: &str) -> bool {
    let keys_a = sound_keys(a);
    sound_keys(b).iter().any(|k| keys_a.contains(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn albanian_and_foreign_spellings_of_a_name_share_a_sound_key() {
        for (a, b) in [
            ("Xhoni", "Joni"),
            ("Gjoni", "Xhoni"),
            ("Kristjan", "Christian"),
            ("Ervis", "Erviss"),
            ("Mirela", "Mirella"),
            ("Dhurata", "Durata"),
            ("Ylli", "Illi"),
            ("Çlirim", "Clirim"),
            ("Besjana", "Besiana"),
        ] {
            assert_eq!(sound_key(&words(a)[0]), sound_key(&words(b)[0]), "{a} / {b}");
        }
    }

    #[test]
    fn different_names_keep_different_keys() {
        for (a, b) in [("Ana", "Ani"), ("Arben", "Artan"), ("Sara", "Sami"), ("Ana", "An")] {
            assert_ne!(sound_key(&words(a)[0]), sound_key(&words(b)[0]), "{a} / {b}");
        }
    }

    #[test]
    fn similarity_ignores_diacritics_and_case_and_ranks_near_spellings_high() {
        assert!((similarity("Ëndri Hoxha", "endri hoxha") - 1.0).abs() < 1e-9);
        assert!(similarity("Xhoni", "Joni") >= 0.8);
        assert!(similarity("Mirela", "Mirella") > similarity("Mirela", "Marsela"));
        assert!(similarity("Arben", "Sokol") < 0.2);
        assert!((similarity("", "Ana")).abs() < 1e-9);
        assert!(sound_alike("Ana Kola", "ana"));
        assert!(!sound_alike("Ana", "Ani"));
    }

    #[test]
    fn other_scripts_are_transliterated_first() {
        assert_eq!(words("Иван Петров"), ["ivan", "petrov"]);
        assert!(similarity("Иван", "Ivan") > 0.99);
        assert!(words("Γιάννης").iter().all(|w| w.is_ascii()));
    }
}
