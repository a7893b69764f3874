//! IAM's `*` (any run of characters, including none) and `?` (exactly one
//! character) against a reference written from that definition, and the
//! patterns that made the old recursive matcher exponential.

use proptest::prelude::*;
use wildrydes_sandbox::glob::{matches, matches_ignore_case};

/// The definition, one character at a time. Exponential in stars, so
/// only for the short strings below.
fn reference(p: &[char], t: &[char], fold: bool) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some(('*', rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..], fold)),
        Some((&c, rest)) => match t.split_first() {
            Some((&x, t_rest)) => {
                (c == '?' || c == x || (fold && c.eq_ignore_ascii_case(&x)))
                    && reference(rest, t_rest, fold)
            }
            None => false,
        },
    }
}

fn word(alphabet: &'static [char], max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(alphabet), 0..=max)
        .prop_map(|cs| cs.into_iter().collect())
}

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

proptest! {
    #![proptest_config(crate::config(1000))]

    /// Exact matching (ARNs), with a non-ASCII letter: `?` is one
    /// character, not one byte.
    #[test]
    fn matching_agrees_with_the_definition(
        pattern in word(&['a', 'b', 'é', '*', '?'], 8),
        text in word(&['a', 'b', 'é'], 10),
    ) {
        prop_assert_eq!(
            matches(&pattern, &text),
            reference(&chars(&pattern), &chars(&text), false)
        );
    }

    /// Case-insensitive matching (actions), ASCII case only.
    #[test]
    fn matching_ignoring_case_agrees_with_the_definition(
        pattern in word(&['a', 'B', 'ß', '*', '?'], 8),
        text in word(&['A', 'b', 'a', 'B', 'ß'], 10),
    ) {
        prop_assert_eq!(
            matches_ignore_case(&pattern, &text),
            reference(&chars(&pattern), &chars(&text), true)
        );
    }

    /// Any string matches itself as a pattern (its `?`s and `*`s match
    /// themselves), and `*` matches everything.
    #[test]
    fn a_pattern_matches_itself_and_a_star_matches_anything(text in ".{0,40}") {
        prop_assert!(matches(&text, &text));
        prop_assert!(matches_ignore_case(&text.to_ascii_uppercase(), &text));
        prop_assert!(matches("*", &text));
        prop_assert_eq!(matches("", &text), text.is_empty());
    }

    /// `*a*a…*a*b` (k `a`s) against `a…a` (n of them) and `a…ab`: 2^k
    /// steps for a backtracking matcher, k × n for this one.
    #[test]
    fn many_stars_stay_linear(
        k in 1usize..48,
        n in 0usize..3000,
        any_char in any::<bool>(),
        fold in any::<bool>(),
    ) {
        let step = if any_char { "*?" } else { "*a" };
        let pattern = format!("{}*b", step.repeat(k));
        let text = "a".repeat(n);
        let m = |p: &str, t: &str| if fold { matches_ignore_case(p, t) } else { matches(p, t) };
        prop_assert!(!m(&pattern, &text));
        prop_assert_eq!(m(&pattern, &format!("{text}b")), n >= k);
        prop_assert_eq!(m(&pattern, &format!("{text}B")), fold && n >= k);
    }
}

/// Found by `matching_agrees_with_the_definition`: `?` took one byte of
/// a multi-byte character, so these matched.
#[test]
fn a_question_mark_is_one_character_not_one_byte() {
    assert!(!matches("aé?*?", "aéé"));
    assert!(!matches_ignore_case("a??", "Aß"));
    assert!(matches("arn:aws:s3:::site/?/?", "arn:aws:s3:::site/é/ß"));
}
