//! Small text helpers shared by the validators.

/// Damerau–Levenshtein (optimal string alignment) distance, ASCII-case-sensitive.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    if a.is_ascii() && b.is_ascii() {
        // Bytes are characters here; no allocation for the usual short
        // labels.
        osa(a.as_bytes(), b.as_bytes())
    } else {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        osa(&a, &b)
    }
}

/// The optimal string alignment distance, three rows at a time.
fn osa<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    const STACK: usize = 64;
    let m = b.len();
    let mut heap = Vec::new();
    let mut stack = [0usize; 3 * STACK];
    let rows: &mut [usize] = if m < STACK {
        &mut stack[..3 * (m + 1)]
    } else {
        heap.resize(3 * (m + 1), 0);
        &mut heap
    };
    let (mut before, rest) = rows.split_at_mut(m + 1);
    let (mut prev, mut cur) = rest.split_at_mut(m + 1);
    for (j, cell) in prev.iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(before[j - 2] + 1);
            }
            cur[j] = v;
        }
        // Rotate: before <- prev <- cur <- (old before, overwritten next).
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[m]
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
        assert_eq!(edit_distance("sip", ""), 3);
        assert_eq!(edit_distance("ca", "abc"), 3);
        assert_eq!(edit_distance("tw\u{ef}lio", "twilio"), 1);
    }

    /// The full matrix, as the distance was first written.
    fn matrix(a: &str, b: &str) -> usize {
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

    #[test]
    fn rolling_rows_agree_with_the_matrix() {
        let words = [
            "",
            "a",
            "ab",
            "ba",
            "abc",
            "acb",
            "twilio",
            "twillio",
            "tiwlio",
            "sip",
            "spi",
            "ashburn",
            "ashbrun",
            "dublin",
            "dubiln",
            "é",
            "éa",
            "aé",
            "x".repeat(70).leak(),
            "xy".repeat(40).leak(),
        ];
        for a in words {
            for b in words {
                assert_eq!(edit_distance(a, b), matrix(a, b), "{a:?} {b:?}");
            }
        }
    }
}
