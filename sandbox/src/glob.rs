//! IAM's `*` and `?` wildcards, as policies match actions (ignoring case)
//! and ARNs (exactly).
//!
//! One pass with a single backtrack point (the last `*` seen): at most
//! pattern × text steps and no recursion, however many stars a hostile
//! policy holds (`*a*a*a…*b` took exponential time with the recursive
//! matcher, under service locks).
//!
//! It steps through characters, not bytes: `?` is one character, as IAM
//! documents, so `site/?` matches `site/é` and a `Deny` naming it applies
//! to that ARN.

fn go(p: &[char], t: &[char], fold: bool) -> bool {
    let same = |a: char, b: char| a == b || (fold && a.eq_ignore_ascii_case(&b));
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it currently covers up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || same(c, t[ti]) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                // Let the last star take one more character and retry.
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

/// Whether `text` matches `pattern` exactly but for wildcards (ARNs).
pub fn matches(pattern: &str, text: &str) -> bool {
    go(&chars(pattern), &chars(text), false)
}

/// As [`matches`], ignoring ASCII case (actions).
pub fn matches_ignore_case(pattern: &str, text: &str) -> bool {
    go(&chars(pattern), &chars(text), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches(
            "arn:aws:execute-api:*:000000000000:abc/*",
            "arn:aws:execute-api:eu-west-1:000000000000:abc/prod/GET/x"
        ));
        assert!(!matches(
            "arn:aws:execute-api:*:*:abc/*",
            "arn:aws:execute-api:eu-west-1:1:abd/prod"
        ));
        assert!(matches_ignore_case("dynamodb:*", "DynamoDB:GetItem"));
        assert!(!matches("Dynamodb:GetItem", "dynamodb:GetItem"));
        assert!(matches("a?c", "abc"));
        assert!(
            matches("site/?", "site/é"),
            "? is one character, not one byte"
        );
        assert!(!matches("site/??", "site/é"));
        assert!(matches_ignore_case("A??", "aßc"));
    }

    /// The reference: the textbook dynamic programme.
    fn reference(p: &[u8], t: &[u8]) -> bool {
        let mut m = vec![vec![false; t.len() + 1]; p.len() + 1];
        m[p.len()][t.len()] = true;
        for i in (0..p.len()).rev() {
            for j in (0..=t.len()).rev() {
                m[i][j] = match p[i] {
                    b'*' => m[i + 1][j] || (j < t.len() && m[i][j + 1]),
                    c => j < t.len() && (c == b'?' || c == t[j]) && m[i + 1][j + 1],
                };
            }
        }
        m[0][0]
    }

    fn words(alphabet: &[u8], max: usize) -> Vec<Vec<u8>> {
        let mut all = vec![Vec::new()];
        let mut last = vec![Vec::new()];
        for _ in 0..max {
            last = last
                .iter()
                .flat_map(|w| {
                    alphabet.iter().map(move |c| {
                        let mut w = w.clone();
                        w.push(*c);
                        w
                    })
                })
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn agrees_with_the_reference_on_every_small_case() {
        let patterns = words(b"ab*?", 5);
        let texts = words(b"ab", 6);
        for p in &patterns {
            for t in &texts {
                let text = |w: &[u8]| String::from_utf8(w.to_vec()).unwrap();
                assert_eq!(
                    matches(&text(p), &text(t)),
                    reference(p, t),
                    "{:?} {:?}",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(t)
                );
            }
        }
    }

    #[test]
    fn many_stars_take_no_time() {
        // Exponential for the recursive matcher: 2^30-odd steps.
        let pattern = format!("{}*b", "*a".repeat(30));
        let text = "a".repeat(200);
        assert!(!matches(&pattern, &text));
        assert!(matches(&pattern, &format!("{text}b")));
        assert!(matches_ignore_case("S3:*OBJECT", "s3:GetObject"));
    }
}
