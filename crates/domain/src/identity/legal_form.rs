//! Legal-form suffixes of company names (`Inc`, `GmbH`, `S.A.`, `sp. z o.o.`): the same
//! company is written with and without them, so matching ignores them.

/// Legal forms that are one word once dots are gone (`S.A.` → `sa`).
const ONE_WORD_FORMS: &[&str] = &[
    // English-speaking countries.
    "inc",
    "incorporated",
    "corp",
    "corporation",
    "co",
    "company",
    "cos",
    "ltd",
    "limited",
    "llc",
    "llp",
    "lp",
    "plc",
    "pllc",
    "ulc",
    "pty",
    "pte",
    "pvt",
    // German-speaking countries.
    "gmbh",
    "mbh",
    "ag",
    "kg",
    "kgaa",
    "ohg",
    "ug",
    "ev",
    "eg",
    "se",
    // Romance languages.
    "sa",
    "sas",
    "sasu",
    "sarl",
    "sca",
    "scs",
    "snc",
    "sl",
    "slu",
    "srl",
    "spa",
    "sapa",
    "ltda",
    "lda",
    "sae",
    "sac",
    "saa",
    "eirl",
    // Benelux and the Nordics.
    "bv",
    "nv",
    "vof",
    "oy",
    "oyj",
    "ab",
    "as",
    "asa",
    "aps",
    // Central Europe.
    "kft",
    "zrt",
    "nyrt",
    "doo",
    "dd",
    "sro",
    // Asia.
    "kk",
    "gk",
    "sdn",
    "bhd",
    "tbk",
];

/// Legal forms of several words once dots are gone (`sp. z o.o.` → `sp z oo`).
const MULTI_WORD_FORMS: &[&[&str]] = &[
    &["sp", "z", "oo"],
    &["s", "de", "rl"],
    &["sa", "de", "cv"],
    &["sa", "rl"],
    &["a", "s"],
];

/// Removes legal-form suffixes from the end of a company name's words, and leading
/// `the`s, always keeping at least one word. An `and` left dangling by a removed form goes
/// too (`Smith & Co.` → `smith`). Applying it to its own output changes nothing.
pub(crate) fn strip_legal_forms(mut words: Vec<String>) -> Vec<String> {
    while let Some(removed) = trailing_form_len(&words) {
        words.truncate(words.len() - removed);
        if words.len() > 1 && words.last().is_some_and(|word| word == "and") {
            words.pop();
        }
    }
    while words.len() > 1 && words[0] == "the" {
        words.remove(0);
    }
    words
}

/// How many trailing words form a legal form that may go, if any; never all the words.
fn trailing_form_len(words: &[String]) -> Option<usize> {
    let ends_with = |form: &[&str]| {
        words.len() > form.len()
            && words[words.len() - form.len()..]
                .iter()
                .zip(form)
                .all(|(w, f)| w == f)
    };
    MULTI_WORD_FORMS
        .iter()
        .find(|form| ends_with(form))
        .map(|form| form.len())
        .or_else(|| {
            ONE_WORD_FORMS
                .iter()
                .any(|form| ends_with(&[form]))
                .then_some(1)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stripped(words: &str) -> String {
        strip_legal_forms(words.split(' ').map(str::to_owned).collect()).join(" ")
    }

    #[test]
    fn suffixes_are_removed_from_the_end_only() {
        assert_eq!(stripped("acme inc"), "acme");
        assert_eq!(stripped("acme holdings gmbh and co kg"), "acme holdings");
        assert_eq!(stripped("co op bank"), "co op bank");
        assert_eq!(stripped("polbud sp z oo"), "polbud");
        assert_eq!(stripped("smith and co"), "smith");
    }

    #[test]
    fn a_name_that_is_only_a_legal_form_is_kept() {
        assert_eq!(stripped("limited"), "limited");
        assert_eq!(stripped("the limited"), "the");
        assert_eq!(stripped("sp z oo"), "sp z oo");
    }

    #[test]
    fn a_leading_the_is_dropped() {
        assert_eq!(stripped("the walt disney company"), "walt disney");
        assert_eq!(stripped("the the the"), "the");
    }
}
