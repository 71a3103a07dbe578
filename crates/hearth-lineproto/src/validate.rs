//! Whole-line checks run after a line has been tokenised: duplicate tag keys,
//! duplicate field keys, and names used both as a tag and as a field.
//!
//! Guarantees: small lines (the common case) are checked with pairwise
//! comparisons and no allocation; only unusually wide lines fall back to a
//! sort keyed by a cheap hash, so the cost stays `O(n log n)` even for
//! adversarial input (hash collisions only add string comparisons). When several
//! problems exist, the one reported is deterministic: duplicate tags first,
//! then duplicate fields, then tag/field clashes, each at its earliest
//! second occurrence.

use std::borrow::Cow;

use crate::error::excerpt;
use crate::value::FieldValue;

/// Above this many keys, duplicate detection sorts instead of comparing pairs.
const PAIRWISE_LIMIT: usize = 16;

/// Checks the uniqueness rules for one line's tags and fields; the error is the message the
/// parser gives for such a line.
pub fn check_keys(
    tags: &[(Cow<'_, str>, Cow<'_, str>)],
    fields: &[(Cow<'_, str>, FieldValue<'_>)],
) -> Result<(), String> {
    if let Some(key) = first_duplicate(tags.len(), |i| tags[i].0.as_ref()) {
        return Err(format!("duplicate tag key '{}'", excerpt(key)));
    }
    if let Some(key) = first_duplicate(fields.len(), |i| fields[i].0.as_ref()) {
        return Err(format!(
            "multiple instances of '{}' field found",
            excerpt(key)
        ));
    }
    if let Some(key) = first_shared_name(tags, fields) {
        return Err(format!(
            "'{}' is used as both a tag key and a field key",
            excerpt(key)
        ));
    }
    Ok(())
}

/// Returns the key whose second occurrence comes first, if any key repeats.
fn first_duplicate<'s>(n: usize, key: impl Fn(usize) -> &'s str) -> Option<&'s str> {
    if n <= PAIRWISE_LIMIT {
        return (1..n).find_map(|j| {
            let kj = key(j);
            (0..j).any(|i| key(i) == kj).then_some(kj)
        });
    }
    // Sorting by (hash, key, index) compares strings only on equal hashes, and
    // still puts equal keys next to each other (in index order) when hashes
    // collide, so the worst case stays O(n log n).
    let mut sorted: Vec<(u64, &str, usize)> = (0..n)
        .map(|i| {
            let k = key(i);
            (hash(k), k, i)
        })
        .collect();
    sorted.sort_unstable();
    sorted
        .windows(2)
        .filter(|w| w[0].1 == w[1].1)
        .map(|w| w[1])
        .min_by_key(|&(_, _, index)| index)
        .map(|(_, k, _)| k)
}

/// Returns the first field key (in field order) that is also a tag key.
fn first_shared_name<'s>(
    tags: &'s [(Cow<'_, str>, Cow<'_, str>)],
    fields: &'s [(Cow<'_, str>, FieldValue<'_>)],
) -> Option<&'s str> {
    if tags.is_empty() {
        return None;
    }
    if tags.len().saturating_mul(fields.len()) <= PAIRWISE_LIMIT * PAIRWISE_LIMIT {
        return fields
            .iter()
            .map(|(k, _)| k.as_ref())
            .find(|f| tags.iter().any(|(t, _)| t.as_ref() == *f));
    }
    let mut tag_keys: Vec<(u64, &str)> = tags.iter().map(|(k, _)| (hash(k), k.as_ref())).collect();
    tag_keys.sort_unstable();
    fields
        .iter()
        .map(|(k, _)| k.as_ref())
        .find(|f| tag_keys.binary_search(&(hash(f), f)).is_ok())
}

/// A fast, non-cryptographic 64-bit string hash (multiply-rotate over 8-byte
/// words). Only used to order keys; collisions cost time, never correctness.
fn hash(s: &str) -> u64 {
    const K: u64 = 0x517C_C1B7_2722_0A95;
    let mut h = s.len() as u64;
    let mut chunks = s.as_bytes().chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    (h.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(K)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(keys: &[&'static str]) -> Vec<(Cow<'static, str>, Cow<'static, str>)> {
        keys.iter()
            .map(|k| (Cow::Borrowed(*k), Cow::Borrowed("v")))
            .collect()
    }

    fn fields(keys: &[&'static str]) -> Vec<(Cow<'static, str>, FieldValue<'static>)> {
        keys.iter()
            .map(|k| (Cow::Borrowed(*k), FieldValue::Bool(true)))
            .collect()
    }

    #[test]
    fn accepts_unique_keys() {
        assert_eq!(check_keys(&tags(&["a", "b"]), &fields(&["c", "d"])), Ok(()));
        assert_eq!(check_keys(&[], &fields(&["x"])), Ok(()));
    }

    #[test]
    fn reports_each_kind() {
        assert_eq!(
            check_keys(&tags(&["a", "b", "a"]), &fields(&["x"])),
            Err("duplicate tag key 'a'".to_owned())
        );
        assert_eq!(
            check_keys(&tags(&["a"]), &fields(&["f", "g", "f"])),
            Err("multiple instances of 'f' field found".to_owned())
        );
        assert_eq!(
            check_keys(&tags(&["a", "b"]), &fields(&["x", "b"])),
            Err("'b' is used as both a tag key and a field key".to_owned())
        );
    }

    #[test]
    fn reports_in_priority_order() {
        // Duplicate tags beat duplicate fields beat clashes.
        let t = tags(&["a", "a", "f"]);
        let f = fields(&["f", "f"]);
        assert_eq!(check_keys(&t, &f), Err("duplicate tag key 'a'".to_owned()));
        assert_eq!(
            check_keys(&tags(&["f"]), &f),
            Err("multiple instances of 'f' field found".to_owned())
        );
    }

    #[test]
    fn hash_distinguishes_similar_keys() {
        let keys = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "abcdefgh",
            "abcdefghi",
            "abcdefgi",
            "\0",
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(hash(a), hash(b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn earliest_second_occurrence_wins() {
        // "b" repeats at index 2, "a" at index 3.
        let keys = ["a", "b", "b", "a"];
        assert_eq!(first_duplicate(keys.len(), |i| keys[i]), Some("b"));
    }

    #[test]
    fn wide_lines_use_sorted_path_with_same_answers() {
        let names: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
        let mut keys: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(first_duplicate(keys.len(), |i| keys[i]), None);
        keys.push("k70");
        keys.push("k5");
        assert_eq!(first_duplicate(keys.len(), |i| keys[i]), Some("k70"));

        let t: Vec<_> = names
            .iter()
            .map(|k| (Cow::Borrowed(k.as_str()), Cow::Borrowed("v")))
            .collect();
        let f: Vec<_> = (0..20)
            .map(|i| (Cow::Owned(format!("f{i}")), FieldValue::I64(i)))
            .chain([(Cow::Borrowed("k99"), FieldValue::I64(0))])
            .collect();
        assert_eq!(first_shared_name(&t, &f), Some("k99"));
        assert_eq!(first_shared_name(&t, &f[..20]), None);
    }
}
