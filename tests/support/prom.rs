//! Reading the Prometheus text regwatch serves: a sample by its name and
//! some of its labels (the others, such as host, domain and transport,
//! are not looked at).
#![allow(dead_code)]

/// The value of the first sample named `name` whose labels include every
/// pair of `labels`.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let (set, value) = match rest.strip_prefix('{') {
            Some(r) => r.rsplit_once("} ")?,
            None => ("", rest.strip_prefix(' ')?),
        };
        labels
            .iter()
            .all(|(k, v)| {
                let pair = format!("{k}=\"{v}\"");
                set.split(',').any(|p| p == pair)
            })
            .then(|| value.to_owned())
    })
}
