//! Small text helpers shared by the validators.

/// Damerau–Levenshtein (optimal string alignment) distance, ASCII-case-sensitive.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

#[cfg(test)]
mod tests {
    use super::edit_distance;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("twilio", "twilio"), 0);
        assert_eq!(edit_distance("twillio", "twilio"), 1);
        assert_eq!(edit_distance("twilo", "twilio"), 1);
        assert_eq!(edit_distance("twiilio", "twilio"), 1);
        assert_eq!(edit_distance("tiwlio", "twilio"), 1);
        assert_eq!(edit_distance("", "sip"), 3);
    }
}
