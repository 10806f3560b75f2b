//! [`MemSource`]: a file system in memory, for tests and fuzzing.
use super::source::{ConfSource, FileId, FileKind, FileMeta, SourceError};
use std::collections::BTreeMap;

/// A file system in memory, for tests and fuzzing: regular files with
/// their bytes, and special files (FIFOs, devices) that have none.
/// Directories exist implicitly, as the parents of what was inserted.
#[derive(Clone, Debug, Default)]
pub struct MemSource {
    entries: BTreeMap<String, (MemEntry, u64)>,
    next_id: u64,
}

#[derive(Clone, Debug)]
enum MemEntry {
    File(Vec<u8>),
    Special(FileKind),
}

/// `path` with `.`, `..` and repeated `/` resolved lexically.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    if path.starts_with('/') {
        format!("/{joined}")
    } else {
        joined
    }
}

impl MemSource {
    /// An empty file system.
    pub fn new() -> MemSource {
        MemSource::default()
    }

    fn put(&mut self, path: &str, e: MemEntry) {
        self.next_id += 1;
        self.entries.insert(normalize(path), (e, self.next_id));
    }

    /// Adds (or replaces) a regular file.
    pub fn insert(&mut self, path: &str, data: impl Into<Vec<u8>>) {
        self.put(path, MemEntry::File(data.into()));
    }

    /// Adds a file of another kind (a FIFO, a device): it has a name and
    /// no content. `FileKind::Regular` adds an empty regular file.
    pub fn insert_special(&mut self, path: &str, kind: FileKind) {
        match kind {
            FileKind::Regular => self.insert(path, Vec::new()),
            k => self.put(path, MemEntry::Special(k)),
        }
    }

    fn children<'a>(&'a self, dir: &str) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = if dir.ends_with('/') || dir.is_empty() {
            dir.to_owned()
        } else {
            format!("{dir}/")
        };
        let n = prefix.len();
        self.entries
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .filter_map(move |(k, _)| k[n..].split('/').next())
            .filter(|c| !c.is_empty())
    }

    fn is_dir(&self, p: &str) -> bool {
        self.children(p).next().is_some()
    }
}

impl ConfSource for MemSource {
    fn stat(&mut self, path: &str) -> Result<FileMeta, SourceError> {
        let p = normalize(path);
        match self.entries.get(&p) {
            Some((MemEntry::File(d), id)) => Ok(FileMeta {
                kind: FileKind::Regular,
                len: d.len() as u64,
                id: FileId(0, *id),
            }),
            Some((MemEntry::Special(k), id)) => Ok(FileMeta {
                kind: *k,
                len: 0,
                id: FileId(0, *id),
            }),
            None if self.is_dir(&p) => Ok(FileMeta {
                kind: FileKind::Directory,
                len: 0,
                id: FileId(1, p.len() as u64),
            }),
            None => Err(SourceError::NotFound),
        }
    }

    fn read(&mut self, path: &str, cap: u64) -> Result<Vec<u8>, SourceError> {
        let p = normalize(path);
        match self.entries.get(&p) {
            Some((MemEntry::File(d), _)) => {
                let n = d.len().min(usize::try_from(cap).unwrap_or(usize::MAX));
                Ok(d[..n].to_vec())
            }
            Some((MemEntry::Special(k), _)) => Err(SourceError::Other(format!(
                "{} is not a regular file",
                k.words()
            ))),
            None if self.is_dir(&p) => Err(SourceError::Other("is a directory".to_owned())),
            None => Err(SourceError::NotFound),
        }
    }

    fn list(&mut self, dir: &str, limit: usize) -> Result<Vec<String>, SourceError> {
        let p = normalize(dir);
        if self.entries.contains_key(&p) {
            return Err(SourceError::Other("not a directory".to_owned()));
        }
        let mut out: Vec<String> = Vec::new();
        for c in self.children(&p) {
            if out.last().map(String::as_str) != Some(c) {
                if out.len() >= limit {
                    break;
                }
                out.push(c.to_owned());
            }
        }
        if out.is_empty() && !p.is_empty() && p != "/" {
            return Err(SourceError::NotFound);
        }
        Ok(out)
    }
}
