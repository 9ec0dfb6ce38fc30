//! Folding text for matching: the same name typed with or without accents, in another case,
//! in full-width or ligature forms, or with other spacing and punctuation folds to one text.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Apostrophes vanish without a trace, so `O'Brien`, `O’Brien` and `OBrien` fold alike.
pub(crate) const APOSTROPHES: &[char] = &['\'', '\u{2019}', '\u{2018}', '\u{02BC}', '`'];

/// For company names dots vanish too, so `S.A.`, `B.V.` and `Co.` fold to the legal forms
/// `sa`, `bv` and `co`.
pub(crate) const APOSTROPHES_AND_DOTS: &[char] =
    &['\'', '\u{2019}', '\u{2018}', '\u{02BC}', '`', '.'];

/// Marks that only decorate Latin, Greek and Cyrillic letters. Marks of other scripts (an
/// Indic vowel sign, a virama) are letters' parts, and dropping them would merge different
/// names, so only these blocks are folded away.
fn is_diacritic(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036F}'
            | '\u{1AB0}'..='\u{1AFF}'
            | '\u{1DC0}'..='\u{1DFF}'
            | '\u{20D0}'..='\u{20FF}'
            | '\u{FE20}'..='\u{FE2F}'
    )
}

/// Letters whose stroke or ligature has no Unicode decomposition, spelled as people type
/// them on a keyboard without the letter (`Strauß` → `strauss`, `Søren` → `soren`).
fn spelled_without_diacritic(c: char) -> Option<&'static str> {
    Some(match c {
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        'ø' => "o",
        'ł' | 'ŀ' => "l",
        'đ' | 'ð' => "d",
        'þ' => "th",
        'ı' => "i",
        'ħ' => "h",
        'ŧ' => "t",
        _ => return None,
    })
}

/// Compatibility decomposition without diacritics, lower-cased, then decomposed again:
/// lower-casing can itself produce a decomposable letter (`İ` becomes `i` and a dot above),
/// and the second pass removes what it brought.
fn decompose_and_lower(text: &str) -> String {
    let first: String = text.nfkd().filter(|&c| !is_diacritic(c)).collect();
    first
        .to_lowercase()
        .nfkd()
        .filter(|&c| !is_diacritic(c))
        .nfc()
        .collect()
}

/// Folds `text` for matching: NFKD, diacritics removed, lower case, letters without a
/// decomposition spelled out, the characters in `vanishing` removed, every other character
/// that is neither a letter, a digit nor a mark of a letter turned into a separator, and
/// the words joined by single spaces. Returns the words; none for text without letters or
/// digits. Folding its own output changes nothing.
pub(crate) fn fold_words(text: &str, vanishing: &[char]) -> Vec<String> {
    // A removed character can leave two marks side by side that canonical ordering would
    // swap on the next pass, so each word is put in NFC once more.
    let finish = |word: &mut String| std::mem::take(word).nfc().collect::<String>();
    let mut words = Vec::new();
    let mut word = String::new();
    for c in decompose_and_lower(text).chars() {
        if let Some(spelled) = spelled_without_diacritic(c) {
            word.push_str(spelled);
        } else if c.is_alphanumeric() || is_combining_mark(c) {
            word.push(c);
        } else if !vanishing.contains(&c) && !word.is_empty() {
            words.push(finish(&mut word));
        }
    }
    if !word.is_empty() {
        words.push(finish(&mut word));
    }
    words
}

/// Case and compatibility folding for domain names: NFKC and lower case until stable, as
/// IDNA's mapping does, so `ＡＣＭＥ.com` and `acme.com` are one domain while an IDN stays in
/// its Unicode form.
pub(crate) fn fold_domain_case(text: &str) -> String {
    let lowered: String = text.nfkc().collect::<String>().to_lowercase();
    lowered.nfkc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(text: &str) -> String {
        fold_words(text, APOSTROPHES).join(" ")
    }

    #[test]
    fn diacritics_case_and_spacing_fold_away() {
        assert_eq!(folded("  José   MARÍA\tÑúñez "), "jose maria nunez");
        assert_eq!(folded("Zoë Brontë"), folded("zoe bronte"));
    }

    #[test]
    fn letters_without_decomposition_are_spelled_out() {
        assert_eq!(folded("Strauß"), "strauss");
        assert_eq!(folded("Søren Kierkegård"), "soren kierkegard");
        assert_eq!(folded("Łukasz Œuvre"), "lukasz oeuvre");
    }

    #[test]
    fn compatibility_forms_fold_to_their_plain_letters() {
        assert_eq!(folded("ＪＯＨＮ"), "john");
        assert_eq!(folded("ﬁona"), "fiona");
    }

    #[test]
    fn apostrophes_vanish_and_other_punctuation_separates() {
        assert_eq!(folded("O'Brien"), "obrien");
        assert_eq!(folded("O’Brien"), "obrien");
        assert_eq!(folded("Jean-Luc Picard"), "jean luc picard");
        assert_eq!(folded("J.R.R. Tolkien"), "j r r tolkien");
    }

    #[test]
    fn marks_of_other_scripts_are_kept() {
        // The virama (U+094D) is part of the Devanagari name, not a decoration.
        assert_eq!(folded("लक्ष्मी"), "लक्ष्मी");
        assert_eq!(folded("김민준"), "김민준");
    }

    #[test]
    fn dotted_capital_i_folds_to_plain_i() {
        assert_eq!(folded("İlker"), "ilker");
    }

    #[test]
    fn marks_brought_together_by_a_vanishing_apostrophe_are_reordered_once() {
        let once = folded("\u{1E8D0}'\u{0DCA}");
        assert_eq!(folded(&once), once);
    }

    #[test]
    fn text_without_letters_has_no_words() {
        assert!(fold_words(" - !! ", APOSTROPHES).is_empty());
    }
}
