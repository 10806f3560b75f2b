//! Which registration an event is about.
use crate::validate::Transport;
use std::collections::{BTreeMap, BTreeSet, HashMap};

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
///
/// Inserting, replacing, removing and every lookup cost the same whatever
/// the size (hash maps over insertion numbers; removing one of 100k entries
/// touches only that entry's keys).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistrationIndex {
    /// Insertion number → entry, in insertion order. A replaced entry
    /// keeps its number (its place).
    entries: BTreeMap<u64, IndexEntry>,
    next: u64,
    /// Name → insertion number.
    by_name: HashMap<String, u64>,
    /// Normalised `(client_uri, server_uri)` → insertion numbers (the
    /// first is the one found).
    by_pair: HashMap<(String, String), BTreeSet<u64>>,
    /// Normalised `client_uri` → insertion numbers.
    by_client: HashMap<String, BTreeSet<u64>>,
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

    fn link(&mut self, n: u64) {
        let Some(e) = self.entries.get(&n) else {
            return;
        };
        let c = norm(&e.client_uri);
        let s = norm(&e.server_uri);
        self.by_pair.entry((c.clone(), s)).or_default().insert(n);
        self.by_client.entry(c).or_default().insert(n);
    }

    fn unlink(&mut self, n: u64) {
        let Some(e) = self.entries.get(&n) else {
            return;
        };
        let c = norm(&e.client_uri);
        let pair = (c.clone(), norm(&e.server_uri));
        if let Some(set) = self.by_pair.get_mut(&pair) {
            set.remove(&n);
            if set.is_empty() {
                self.by_pair.remove(&pair);
            }
        }
        if let Some(set) = self.by_client.get_mut(&c) {
            set.remove(&n);
            if set.is_empty() {
                self.by_client.remove(&c);
            }
        }
    }

    /// Adds an entry, replacing one with the same name (in its place).
    pub fn insert(&mut self, entry: IndexEntry) {
        match self.by_name.get(&entry.name).copied() {
            Some(n) => {
                self.unlink(n);
                self.entries.insert(n, entry);
                self.link(n);
            }
            None => {
                let n = self.next;
                self.next += 1;
                self.by_name.insert(entry.name.clone(), n);
                self.entries.insert(n, entry);
                self.link(n);
            }
        }
    }

    /// Removes the entry with this name; whether there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        let Some(n) = self.by_name.remove(name) else {
            return false;
        };
        self.unlink(n);
        self.entries.remove(&n);
        true
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
    pub fn entries(&self) -> impl Iterator<Item = &IndexEntry> + '_ {
        self.entries.values()
    }

    /// The entry with this name.
    pub fn by_name(&self, name: &str) -> Option<&IndexEntry> {
        self.by_name.get(name).and_then(|n| self.entries.get(n))
    }

    /// The registration with these URIs, if exactly one has them: an
    /// event about two registrations of one AOR to one registrar cannot
    /// say which it is about, and is filed under neither. When no entry
    /// has both, the one entry with this client URI (an AOR is registered
    /// once), if exactly one has it.
    pub fn find(&self, client_uri: &str, server_uri: &str) -> Option<&IndexEntry> {
        match self.by_pair.get(&(norm(client_uri), norm(server_uri))) {
            Some(set) if set.len() == 1 => set.first().and_then(|n| self.entries.get(n)),
            Some(_) => None,
            None => self.find_by_client(client_uri),
        }
    }

    /// The one registration with this client URI, if exactly one has it.
    pub fn find_by_client(&self, client_uri: &str) -> Option<&IndexEntry> {
        let set = self.by_client.get(&norm(client_uri))?;
        match (set.len(), set.first()) {
            (1, Some(n)) => self.entries.get(n),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(name: &str, client: &str, server: &str) -> IndexEntry {
        IndexEntry {
            name: name.to_owned(),
            client_uri: client.to_owned(),
            server_uri: server.to_owned(),
            ..IndexEntry::default()
        }
    }

    #[test]
    fn replace_remove_and_shared_uris() {
        let mut idx = RegistrationIndex::new();
        idx.insert(e("a", "sip:u@h", "sip:h"));
        idx.insert(e("b", "sip:u@h", "sip:h"));
        idx.insert(e("c", "sip:v@h", "sip:h"));
        // Two entries share the pair: neither is found (an event naming
        // the pair is not filed under the wrong one); the client URI alone
        // is ambiguous too.
        assert!(idx.find("<SIP:U@H>", "sip:h").is_none());
        assert!(idx.find_by_client("sip:u@h").is_none());
        assert_eq!(idx.find("sip:v@h", "sip:other").unwrap().name, "c");
        // Replacing `a` keeps its place and moves its URIs.
        idx.insert(e("a", "sip:w@h", "sip:h"));
        assert_eq!(idx.len(), 3);
        assert_eq!(idx.entries().next().unwrap().client_uri, "sip:w@h");
        assert_eq!(idx.find("sip:u@h", "sip:h").unwrap().name, "b");
        assert_eq!(idx.find_by_client("sip:u@h").unwrap().name, "b");
        assert_eq!(idx.by_name("a").unwrap().client_uri, "sip:w@h");
        assert!(idx.remove("b"));
        assert!(!idx.remove("b"));
        assert!(idx.find("sip:u@h", "sip:h").is_none());
        assert_eq!(idx.by_name("c").unwrap().name, "c");
        assert_eq!(idx.find("sip:w@h", "sip:h").unwrap().name, "a");
    }

    #[test]
    fn many_entries_and_replacements() {
        let mut idx = RegistrationIndex::new();
        for round in 0..3 {
            for i in 0..20_000 {
                idx.insert(e(&format!("r{i}"), &format!("sip:u{i}@h{round}"), "sip:h"));
            }
        }
        assert_eq!(idx.len(), 20_000);
        assert_eq!(idx.find("sip:u7@h2", "sip:h").unwrap().name, "r7");
        assert!(idx.find("sip:u7@h0", "sip:h").is_none());
        // Removing keeps the others where they were and findable, and a
        // name inserted again goes last.
        for i in (0..20_000).step_by(2) {
            assert!(idx.remove(&format!("r{i}")));
        }
        assert_eq!(idx.len(), 10_000);
        assert!(idx.find("sip:u8@h2", "sip:h").is_none());
        assert_eq!(idx.find("sip:u9@h2", "sip:h").unwrap().name, "r9");
        idx.insert(e("r0", "sip:u0@h3", "sip:h"));
        let order: Vec<&str> = idx.entries().map(|e| e.name.as_str()).collect();
        assert_eq!(order[..2], ["r1", "r3"]);
        assert_eq!(order.last(), Some(&"r0"));
    }
}
