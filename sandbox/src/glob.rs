//! IAM's `*` and `?` wildcards, as policies match actions (ignoring case)
//! and ARNs (exactly).

fn go(p: &[u8], t: &[u8], fold: bool) -> bool {
    match (p.first(), t.first()) {
        (None, None) => true,
        (Some(b'*'), _) => go(&p[1..], t, fold) || (!t.is_empty() && go(p, &t[1..], fold)),
        (Some(b'?'), Some(_)) => go(&p[1..], &t[1..], fold),
        (Some(a), Some(b)) if a == b || (fold && a.eq_ignore_ascii_case(b)) => {
            go(&p[1..], &t[1..], fold)
        }
        _ => false,
    }
}

/// Whether `text` matches `pattern` exactly but for wildcards (ARNs).
pub fn matches(pattern: &str, text: &str) -> bool {
    go(pattern.as_bytes(), text.as_bytes(), false)
}

/// As [`matches`], ignoring ASCII case (actions).
pub fn matches_ignore_case(pattern: &str, text: &str) -> bool {
    go(pattern.as_bytes(), text.as_bytes(), true)
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
    }
}
