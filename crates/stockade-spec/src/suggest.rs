//! "Did you mean …?": the closest valid word by edit distance.

/// The candidate closest to `word`, if it is close enough to be a plausible
/// typo: at most a third of the word's length in edits (minimum 1), compared
/// case-insensitively, or a candidate that differs only in `-`/`_`.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let folded = fold(word);
    let budget = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| (distance(&folded, &fold(candidate)), candidate))
        .filter(|(d, _)| *d <= budget)
        .min_by_key(|(d, _)| *d)
        .map(|(_, candidate)| candidate)
}

fn fold(word: &str) -> Vec<char> {
    word.chars().map(|c| if c == '-' { '_' } else { c.to_ascii_lowercase() }).collect()
}

/// Optimal string alignment distance: Levenshtein plus adjacent transpositions,
/// because `depnds_on` and `dpeends_on` are both one slip of the fingers.
fn distance(a: &[char], b: &[char]) -> usize {
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best =
                (rows[i - 1][j] + 1).min(rows[i][j - 1] + 1).min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &[&str] = &["command", "depends_on", "restart", "replicas", "readiness"];

    #[test]
    fn finds_typos_transpositions_and_dash_spellings() {
        assert_eq!(closest("depnds_on", KEYS.iter().copied()), Some("depends_on"));
        assert_eq!(closest("dpeends_on", KEYS.iter().copied()), Some("depends_on"));
        assert_eq!(closest("depends-on", KEYS.iter().copied()), Some("depends_on"));
        assert_eq!(closest("Replicas", KEYS.iter().copied()), Some("replicas"));
        assert_eq!(closest("comand", KEYS.iter().copied()), Some("command"));
    }

    #[test]
    fn says_nothing_when_nothing_is_close() {
        assert_eq!(closest("image", KEYS.iter().copied()), None);
        assert_eq!(closest("x", KEYS.iter().copied()), None);
    }
}
