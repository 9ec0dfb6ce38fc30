//! How alike two texts are: Jaro-Winkler, edit distances, and "one typing error apart".
//!
//! These run for every field of every candidate pair (hundreds of pairs a lookup, a hundred
//! million in a linkage run at a million people), so the common case — two short ASCII texts —
//! takes a path that allocates nothing. Every result equals `strsim`'s for the same texts,
//! bit for bit (the tests compare them on arbitrary strings); texts outside the fast path go to
//! `strsim` itself.

/// Similarity of two texts by Jaro-Winkler (prefix scale 0.1, as usual; the prefix bonus only
/// above a Jaro similarity of 0.7, as in `strsim`): 1 for equal texts, 0 for texts with nothing
/// in common.
pub fn jaro_winkler(a: &str, b: &str) -> f64 {
    if a.is_ascii() && b.is_ascii() && a.len() <= ASCII_LIMIT && b.len() <= ASCII_LIMIT {
        ascii_jaro_winkler(a.as_bytes(), b.as_bytes())
    } else {
        strsim::jaro_winkler(a, b)
    }
}

/// Edits (insertions, deletions, substitutions) that turn `a` into `b`.
pub fn levenshtein(a: &str, b: &str) -> usize {
    strsim::levenshtein(a, b)
}

/// Edits that turn `a` into `b` when swapping two neighbouring characters counts as one
/// (optimal string alignment, the distance typing errors follow).
pub fn typing_distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

/// Whether `a` and `b` are at most one typing error apart — one insertion, deletion,
/// substitution or swap of neighbouring characters: `typing_distance(a, b) <= 1`, in one pass
/// and without allocating.
pub fn within_one_typing_error(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    if a.is_ascii() && b.is_ascii() {
        return one_edit_apart(a.as_bytes(), b.as_bytes());
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    one_edit_apart(&a, &b)
}

/// At most one optimal-string-alignment edit between two sequences.
pub(super) fn one_edit_apart<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    if long.len() - short.len() > 1 {
        return false;
    }
    let prefix = long.iter().zip(short).take_while(|(x, y)| x == y).count();
    let (long, short) = (&long[prefix..], &short[prefix..]);
    if long.len() != short.len() {
        // One insertion: what follows the first difference is the same.
        return long.get(1..) == Some(short);
    }
    match (long, short) {
        ([], []) => true,
        ([_, rest_long @ ..], [_, rest_short @ ..]) if rest_long == rest_short => true,
        ([x0, x1, rest_long @ ..], [y0, y1, rest_short @ ..]) => {
            x0 == y1 && x1 == y0 && rest_long == rest_short
        }
        _ => false,
    }
}

/// The longest text the ASCII path takes: its match flags are the bits of a `u64`.
const ASCII_LIMIT: usize = 64;

/// `strsim::generic_jaro_winkler` over bytes, with the match flags in two words instead of a
/// vector: the same steps in the same order, so the same `f64`.
#[allow(
    clippy::cast_precision_loss,
    reason = "counts of at most 64 characters are exact in an f64"
)]
fn ascii_jaro_winkler(a: &[u8], b: &[u8]) -> f64 {
    let (a_len, b_len) = (a.len(), b.len());
    if a_len == 0 && b_len == 0 {
        return 1.0;
    }
    if a_len == 0 || b_len == 0 {
        return 0.0;
    }
    let search_range = (a_len.max(b_len) / 2).saturating_sub(1);
    let (mut a_flags, mut b_flags) = (0u64, 0u64);
    let mut matches = 0usize;
    for (i, a_byte) in a.iter().enumerate() {
        let low = i.saturating_sub(search_range);
        let high = b_len.min(i + search_range + 1);
        for (j, b_byte) in b.iter().enumerate().take(high).skip(low) {
            if a_byte == b_byte && b_flags & (1 << j) == 0 {
                a_flags |= 1 << i;
                b_flags |= 1 << j;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let mut transpositions = 0usize;
    let mut b_matched = (0..b_len).filter(|j| b_flags & (1 << j) != 0);
    for (i, a_byte) in a.iter().enumerate() {
        if a_flags & (1 << i) != 0
            && let Some(j) = b_matched.next()
            && *a_byte != b[j]
        {
            transpositions += 1;
        }
    }
    transpositions /= 2;
    let similarity = ((matches as f64 / a_len as f64)
        + (matches as f64 / b_len as f64)
        + ((matches - transpositions) as f64 / matches as f64))
        / 3.0;
    if similarity > 0.7 {
        let prefix = a.iter().take(4).zip(b).take_while(|(x, y)| x == y).count();
        similarity + 0.1 * prefix as f64 * (1.0 - similarity)
    } else {
        similarity
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn jaro_winkler_agrees_with_the_published_examples() {
        // The classic examples of Winkler's paper.
        let close = |a: &str, b: &str, expected: f64| {
            let got = jaro_winkler(a, b);
            assert!(
                (got - expected).abs() < 0.001,
                "{a}/{b}: {got} vs {expected}"
            );
        };
        close("martha", "marhta", 0.961);
        close("dwayne", "duane", 0.84);
        close("dixon", "dicksonx", 0.813);
    }

    #[test]
    fn one_typing_error_is_one_edit_of_any_kind() {
        assert!(within_one_typing_error("", ""));
        assert!(within_one_typing_error("", "a"));
        assert!(within_one_typing_error("smith", "smyth"), "substitution");
        assert!(within_one_typing_error("smith", "smiht"), "swap");
        assert!(within_one_typing_error("smith", "smth"), "deletion");
        assert!(within_one_typing_error("smith", "smitth"), "insertion");
        assert!(!within_one_typing_error("smith", "msiht"), "two swaps");
        assert!(!within_one_typing_error("smith", "smithers"));
        assert!(within_one_typing_error("müller", "mülelr"));
        assert!(!within_one_typing_error("müller", "mueller"));
    }

    /// Short texts over a small alphabet, so that near pairs are common; some with letters
    /// outside ASCII, and some longer than the fast path.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[abcd]{0,8}",
            "[a-z ]{0,70}",
            "[aäbé]{0,6}",
            any::<String>(),
        ]
    }

    /// `b` made from `a` by a few random edits.
    fn near(a: String) -> impl Strategy<Value = (String, String)> {
        let len = a.chars().count();
        (
            Just(a),
            proptest::collection::vec((0..=len, 0u8..4, "[abcz]"), 0..3),
        )
            .prop_map(|(a, edits)| {
                let mut b: Vec<char> = a.chars().collect();
                for (at, kind, letter) in edits {
                    let at = at.min(b.len());
                    let letter = letter.chars().next().unwrap_or('a');
                    match kind {
                        0 => b.insert(at, letter),
                        1 if at < b.len() => {
                            b.remove(at);
                        }
                        2 if at < b.len() => b[at] = letter,
                        3 if at + 1 < b.len() => b.swap(at, at + 1),
                        _ => {}
                    }
                }
                (a, b.into_iter().collect())
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn jaro_winkler_is_strsims_to_the_bit(a in text(), b in text()) {
            prop_assert_eq!(
                jaro_winkler(&a, &b).to_bits(),
                strsim::jaro_winkler(&a, &b).to_bits()
            );
        }

        #[test]
        fn jaro_winkler_of_near_texts_is_strsims_to_the_bit((a, b) in text().prop_flat_map(near)) {
            prop_assert_eq!(
                jaro_winkler(&a, &b).to_bits(),
                strsim::jaro_winkler(&a, &b).to_bits()
            );
        }

        #[test]
        fn one_typing_error_is_an_osa_distance_of_one((a, b) in text().prop_flat_map(near)) {
            prop_assert_eq!(within_one_typing_error(&a, &b), strsim::osa_distance(&a, &b) <= 1);
            prop_assert_eq!(within_one_typing_error(&b, &a), strsim::osa_distance(&a, &b) <= 1);
        }

        #[test]
        fn one_typing_error_holds_for_unrelated_texts_too(a in text(), b in text()) {
            prop_assert_eq!(within_one_typing_error(&a, &b), strsim::osa_distance(&a, &b) <= 1);
        }
    }
}
