//! "did you mean" for config typos: the closest known word by edit distance.

/// The known word closest to `word`, if it is close enough to be a typo
/// (at most two edits, and fewer edits than the word's length).
pub fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (distance(word, k), *k))
        .filter(|(d, _)| *d <= 2 && *d < word.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over chars.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_reports_typos_are_caught() {
        let items = ["nproc", "nofile", "core", "as"];
        assert_eq!(closest("noproc", &items), Some("nproc"));
        assert_eq!(closest("nofiles", &items), Some("nofile"));
        assert_eq!(closest("zzzzzzzz", &items), None);
        assert_eq!(closest("x", &items), None, "one-letter words match nothing");
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("threads-max", "thread-max"), 1);
        assert_eq!(distance("same", "same"), 0);
    }
}
