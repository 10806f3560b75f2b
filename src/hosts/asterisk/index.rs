//! Which registration an event is about.
use crate::validate::Transport;
use std::collections::HashMap;

/// What the adapters need to know about one Asterisk registration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexEntry {
    /// The registration's section name (the trunk name in the engine).
    pub name: String,
    /// `client_uri` as configured (the AOR; the Registry event's `username`).
    pub client_uri: String,
    /// `server_uri` as configured (the registrar; the Registry event's `domain`).
    pub server_uri: String,
    /// Whether `outbound_auth` is set, i.e. whether Asterisk answers a
    /// challenge with credentials.
    pub has_credentials: bool,
    /// The transport, when known.
    pub transport: Option<Transport>,
    /// `expiration`, the expiry Asterisk requests.
    pub expires: Option<u32>,
}

/// Maps Asterisk's `(client_uri, server_uri)` pairs back to registration
/// names.
///
/// Asterisk names a registration in its Registry event and its log lines
/// by the two URIs only (`username` = client_uri, `domain` = server_uri),
/// never by the section name. Build the index from the sorcery
/// `registration` objects (or `pjsip.conf`) and look events up in it.
/// URIs are compared after trimming, removing `<>` and ASCII-lower-casing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistrationIndex {
    entries: Vec<IndexEntry>,
    /// Normalised `(client_uri, server_uri)` → position in `entries`.
    by_pair: HashMap<(String, String), usize>,
    /// Normalised `client_uri` → positions in `entries`.
    by_client: HashMap<String, Vec<usize>>,
}

fn norm(uri: &str) -> String {
    let t = uri.trim();
    let t = t
        .strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .unwrap_or(t);
    t.trim().to_ascii_lowercase()
}

impl RegistrationIndex {
    /// An empty index.
    pub fn new() -> RegistrationIndex {
        RegistrationIndex::default()
    }

    fn rebuild(&mut self) {
        self.by_pair.clear();
        self.by_client.clear();
        for (i, e) in self.entries.iter().enumerate() {
            let c = norm(&e.client_uri);
            self.by_pair
                .entry((c.clone(), norm(&e.server_uri)))
                .or_insert(i);
            self.by_client.entry(c).or_default().push(i);
        }
    }

    /// Adds an entry, replacing one with the same name.
    pub fn insert(&mut self, entry: IndexEntry) {
        match self.entries.iter().position(|e| e.name == entry.name) {
            Some(i) => {
                self.entries[i] = entry;
                self.rebuild();
            }
            None => {
                let i = self.entries.len();
                let c = norm(&entry.client_uri);
                self.by_pair
                    .entry((c.clone(), norm(&entry.server_uri)))
                    .or_insert(i);
                self.by_client.entry(c).or_default().push(i);
                self.entries.push(entry);
            }
        }
    }

    /// Removes the entry with this name; whether there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.name != name);
        let removed = before != self.entries.len();
        if removed {
            self.rebuild();
        }
        removed
    }

    /// How many registrations are indexed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry, in insertion order.
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    /// The entry with this name.
    pub fn by_name(&self, name: &str) -> Option<&IndexEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The registration with these URIs. When no entry has both, the one
    /// entry with this client URI (an AOR is registered once), if exactly
    /// one has it.
    pub fn find(&self, client_uri: &str, server_uri: &str) -> Option<&IndexEntry> {
        self.by_pair
            .get(&(norm(client_uri), norm(server_uri)))
            .and_then(|&i| self.entries.get(i))
            .or_else(|| self.find_by_client(client_uri))
    }

    /// The one registration with this client URI, if exactly one has it.
    pub fn find_by_client(&self, client_uri: &str) -> Option<&IndexEntry> {
        match self.by_client.get(&norm(client_uri))?.as_slice() {
            [i] => self.entries.get(*i),
            _ => None,
        }
    }
}
