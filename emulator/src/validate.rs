//! Validation shared by the APIs: resource IDs, labels, CIDR ranges and their overlaps.

use std::collections::BTreeMap;

use ipnet::Ipv4Net;

use crate::error::ApiError;

/// `[a-z]([-a-z0-9]*[a-z0-9])?` with a length in `min..=max`: the common Google ID rule.
pub fn lower_id(id: &str, min: usize, max: usize) -> bool {
    let bytes = id.as_bytes();
    (min..=max).contains(&bytes.len())
        && bytes.first().is_some_and(u8::is_ascii_lowercase)
        && bytes
            .last()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// A project ID: 6–30 characters, lowercase letters, digits and hyphens, starting with a letter.
pub fn project_id(id: &str) -> bool {
    lower_id(id, 6, 30)
}

/// Google Cloud regions look like `us-central1`, `europe-west4`.
pub fn region(location: &str) -> bool {
    lower_id(location, 4, 40)
        && location.contains('-')
        && location.bytes().last().is_some_and(|b| b.is_ascii_digit())
}

/// Checks a location path segment is a region; Google answers INVALID_ARGUMENT otherwise.
pub fn require_region(location: &str) -> Result<(), ApiError> {
    if region(location) {
        Ok(())
    } else {
        Err(ApiError::invalid_argument(format!(
            "Location '{location}' is not a valid region (expected e.g. us-central1)."
        )))
    }
}

fn label_chars(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_lowercase()
            || c.is_ascii_digit()
            || c == '_'
            || c == '-'
            || (!c.is_ascii() && c.is_alphabetic())
    })
}

/// Labels: at most 64; keys 1–63 chars starting with a lowercase letter; values ≤63 chars;
/// lowercase letters, digits, `_` and `-` only.
pub fn labels(labels: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if labels.len() > 64 {
        return Err(ApiError::invalid_argument(
            "A resource may have at most 64 labels.",
        ));
    }
    for (key, value) in labels {
        let key_ok = (1..=63).contains(&key.chars().count())
            && key.chars().next().is_some_and(char::is_lowercase)
            && label_chars(key);
        if !key_ok {
            return Err(ApiError::invalid_argument(format!(
                "Invalid label key \"{key}\": keys must be 1-63 characters, start with a lowercase letter and contain only lowercase letters, digits, '_' and '-'."
            )));
        }
        if value.chars().count() > 63 || !label_chars(value) {
            return Err(ApiError::invalid_argument(format!(
                "Invalid label value \"{value}\" for key \"{key}\": values must be at most 63 characters of lowercase letters, digits, '_' and '-'."
            )));
        }
    }
    Ok(())
}

/// Parses an IPv4 CIDR block that must be a network address (`10.8.0.0/28`, not `10.8.0.1/28`).
pub fn cidr(text: &str) -> Option<Ipv4Net> {
    let net: Ipv4Net = text.parse().ok()?;
    (net.network() == net.addr()).then_some(net)
}

/// Whether two blocks share any address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first of `taken` that `range` overlaps, with its description.
pub fn first_overlap<'a>(
    range: &Ipv4Net,
    taken: &'a [(String, Ipv4Net)],
) -> Option<&'a (String, Ipv4Net)> {
    taken.iter().find(|(_, other)| overlaps(range, other))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(lower_id("cache-1", 1, 40));
        assert!(!lower_id("Cache", 1, 40));
        assert!(!lower_id("cache-", 1, 40));
        assert!(!lower_id("1cache", 1, 40));
        assert!(project_id("my-project"));
        assert!(!project_id("short"));
    }

    #[test]
    fn cidrs() {
        assert!(cidr("10.8.0.0/28").is_some());
        assert!(cidr("10.8.0.1/28").is_none());
        assert!(cidr("nonsense").is_none());
        let a = cidr("10.128.0.0/20").unwrap();
        let b = cidr("10.128.4.0/28").unwrap();
        let c = cidr("10.8.0.0/28").unwrap();
        assert!(overlaps(&a, &b) && overlaps(&b, &a));
        assert!(!overlaps(&a, &c));
    }
}
