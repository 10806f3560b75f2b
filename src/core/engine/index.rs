//! The maps that send a REGISTER seen on the wire to its trunk without
//! looking at every trunk: by AOR (user and host of To/From) and by
//! Request-URI host, each also by port. Kept up to date as trunks are
//! added, changed and removed; a lookup costs a few hash probes whatever
//! the number of trunks.
//!
//! A key can name several trunks (the same account configured twice); the
//! lowest slot wins, as the scan in slot order did.
use crate::core::config::TrunkConfig;
use crate::validate::{DomainParts, Transport};
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

/// The trunks under one key, with the port each registers to. Almost
/// always one trunk, kept in 8 bytes.
#[derive(Debug)]
enum Group {
    One { slot: u32, port: u16 },
    Many(Box<Many>),
}

#[derive(Debug, Default)]
struct Many {
    all: BTreeSet<u32>,
    by_port: HashMap<u16, BTreeSet<u32>>,
}

impl Many {
    fn add(&mut self, slot: u32, port: u16) {
        self.all.insert(slot);
        self.by_port.entry(port).or_default().insert(slot);
    }
}

impl Group {
    fn add(&mut self, slot: u32, port: u16) {
        match self {
            Group::One { slot: s, port: p } if *s == slot && *p == port => {}
            Group::One { slot: s, port: p } => {
                let mut m = Many::default();
                m.add(*s, *p);
                m.add(slot, port);
                *self = Group::Many(Box::new(m));
            }
            Group::Many(m) => m.add(slot, port),
        }
    }

    /// Takes the slot out; whether the group is empty now.
    fn remove(&mut self, slot: u32, port: u16) -> bool {
        let m = match self {
            Group::One { slot: s, port: p } => return *s == slot && *p == port,
            Group::Many(m) => m,
        };
        m.all.remove(&slot);
        if m.by_port.get_mut(&port).is_some_and(|set| {
            set.remove(&slot);
            set.is_empty()
        }) {
            m.by_port.remove(&port);
        }
        if m.all.len() == 1 {
            let one = m
                .by_port
                .iter()
                .find_map(|(p, set)| set.first().map(|s| (*s, *p)));
            if let Some((slot, port)) = one {
                *self = Group::One { slot, port };
            }
            return false;
        }
        m.all.is_empty()
    }

    /// The lowest slot registering to `port`, else the lowest slot; and
    /// whether the port matched.
    fn best(&self, port: Option<u16>) -> Option<(u32, bool)> {
        self.tied(port)
            .and_then(|(set, ok)| set.first().map(|s| (*s, ok)))
    }

    /// Every slot registering to `port`, else every slot; and whether the
    /// port matched.
    fn tied(&self, port: Option<u16>) -> Option<(Tied<'_>, bool)> {
        match self {
            Group::One { slot, port: p } => Some((Tied::One(*slot), port == Some(*p))),
            Group::Many(m) => {
                if let Some(set) = port.and_then(|p| m.by_port.get(&p)) {
                    return Some((Tied::Set(set), true));
                }
                Some((Tied::Set(&m.all), false))
            }
        }
    }
}

/// The slots a lookup found equally good.
#[derive(Clone, Copy)]
enum Tied<'a> {
    One(u32),
    Set(&'a BTreeSet<u32>),
}

impl Tied<'_> {
    fn first(&self) -> Option<&u32> {
        match self {
            Tied::One(s) => Some(s),
            Tied::Set(set) => set.first(),
        }
    }

    fn to_vec(self) -> Vec<u32> {
        match self {
            Tied::One(s) => vec![s],
            Tied::Set(set) => set.iter().copied().collect(),
        }
    }
}

fn add(map: &mut HashMap<Box<str>, Group>, key: &str, slot: u32, port: u16) {
    match map.get_mut(key) {
        Some(g) => g.add(slot, port),
        None => {
            map.insert(key.into(), Group::One { slot, port });
        }
    }
}

fn remove(map: &mut HashMap<Box<str>, Group>, key: &str, slot: u32, port: u16) {
    if map.get_mut(key).is_some_and(|g| g.remove(slot, port)) {
        map.remove(key);
    }
}

/// What a trunk is indexed under. A pure function of its configuration
/// (and of its domain's parts): computed again from the old configuration
/// to take the trunk out.
struct Keys<'a> {
    /// The domain's bare host (lower case, no trailing dot).
    host: &'a str,
    /// The port its REGISTERs go to.
    port: u16,
    /// The AOR user and, when it differs, the authorization user.
    users: [Option<&'a str>; 2],
}

impl<'a> Keys<'a> {
    /// `parts` is `DomainParts::parse(&config.domain)`.
    fn of(config: &'a TrunkConfig, parts: &'a DomainParts) -> Keys<'a> {
        let port = parts
            .port
            .or(config.port)
            .unwrap_or_else(|| config.transport.unwrap_or(Transport::Udp).default_port());
        let auth = config.auth_user();
        Keys {
            host: &parts.host,
            port,
            users: [
                Some(config.username.as_str()),
                (auth != config.username).then_some(auth),
            ],
        }
    }
}

/// A REGISTER's addressing, normalised as the index keys are: hosts lower
/// case, trailing dots trimmed.
#[derive(Debug, Default)]
pub(super) struct Query<'a> {
    /// `(user, host)` of the To URI, then of the From URI.
    pub aors: [Option<(&'a str, Cow<'a, str>)>; 2],
    /// The Request-URI host.
    pub ruri_host: Option<Cow<'a, str>>,
    /// The Request-URI port (when it names none, its scheme's default:
    /// 5060, or 5061 for `sips:`).
    pub ruri_port: u16,
}

/// REGISTER → trunk maps.
#[derive(Debug, Default)]
pub(super) struct RegisterIndex {
    /// Domain host → trunks.
    hosts: HashMap<Box<str>, Group>,
    /// Domain host → user (AOR or authorization user) → trunks.
    aors: HashMap<Box<str>, HashMap<Box<str>, Group>>,
}

impl RegisterIndex {
    /// Indexes the trunk in `slot` under its configuration (`parts`: its
    /// domain's).
    pub(super) fn insert(&mut self, config: &TrunkConfig, parts: &DomainParts, slot: u32) {
        let k = Keys::of(config, parts);
        add(&mut self.hosts, k.host, slot, k.port);
        let users = match self.aors.get_mut(k.host) {
            Some(u) => u,
            None => self.aors.entry(k.host.into()).or_default(),
        };
        for u in k.users.iter().flatten() {
            add(users, u, slot, k.port);
        }
    }

    /// Takes the trunk in `slot` out; `config` is the configuration it was
    /// indexed under (`parts`: its domain's).
    pub(super) fn remove(&mut self, config: &TrunkConfig, parts: &DomainParts, slot: u32) {
        let k = Keys::of(config, parts);
        remove(&mut self.hosts, k.host, slot, k.port);
        if let Some(users) = self.aors.get_mut(k.host) {
            for u in k.users.iter().flatten() {
                remove(users, u, slot, k.port);
            }
            if users.is_empty() {
                self.aors.remove(k.host);
            }
        }
    }

    /// The trunk a REGISTER belongs to, scored as the scan over every
    /// trunk did: the To or From user and host matching a trunk's user (or
    /// authorization user) and domain host count 4; the Request-URI host
    /// matching the domain host adds 2, and its port the trunk's port 1. A
    /// score of at least 2 is needed; the highest wins, then the lowest
    /// slot.
    pub(super) fn lookup(&self, q: &Query<'_>) -> Option<u32> {
        fn consider(best: &mut Option<(u8, u32)>, score: u8, slot: u32) {
            if best.is_none_or(|(s, b)| score > s || (score == s && slot < b)) {
                *best = Some((score, slot));
            }
        }
        let mut best = None;
        for (score, tied) in self.aor_matches(q) {
            if let Some(slot) = tied.first() {
                consider(&mut best, score, *slot);
            }
        }
        if best.is_none() {
            let g = q.ruri_host.as_deref().and_then(|h| self.hosts.get(h));
            if let Some((slot, port_ok)) = g.and_then(|g| g.best(Some(q.ruri_port))) {
                consider(&mut best, if port_ok { 3 } else { 2 }, slot);
            }
        }
        best.map(|(_, slot)| slot)
    }

    /// Whether a REGISTER's To or From AOR is indexed for more than one
    /// trunk (a few hash probes): only then can two trunks tie.
    pub(super) fn may_tie(&self, q: &Query<'_>) -> bool {
        q.aors.iter().flatten().any(|(user, host)| {
            matches!(
                self.aors.get(host.as_ref()).and_then(|u| u.get(*user)),
                Some(Group::Many(_))
            )
        })
    }

    /// Every trunk as good a match for the REGISTER as
    /// [`lookup`](Self::lookup)'s (the same account configured more than
    /// once: an AOR registered twice to one registrar), lowest slot first.
    pub(super) fn ties(&self, q: &Query<'_>) -> Vec<u32> {
        let mut best: Option<(u8, Vec<u32>)> = None;
        let mut consider = |score: u8, slots: Vec<u32>| match &mut best {
            Some((s, v)) if *s == score => {
                v.extend(slots);
                v.sort_unstable();
                v.dedup();
            }
            Some((s, _)) if *s > score => {}
            _ => best = Some((score, slots)),
        };
        for (score, tied) in self.aor_matches(q) {
            consider(score, tied.to_vec());
        }
        best.map(|(_, v)| v).unwrap_or_default()
    }

    /// For the REGISTER's To and From AOR, the trunks indexed under it and
    /// their score: 4, plus 2 when the Request-URI host is the domain host
    /// and 1 more for the port. Every trunk of one AOR has that host as
    /// its domain host, so the Request-URI bonus applies to all of them or
    /// to none.
    fn aor_matches<'s>(&'s self, q: &'s Query<'_>) -> impl Iterator<Item = (u8, Tied<'s>)> + 's {
        q.aors.iter().flatten().filter_map(move |(user, host)| {
            let g = self.aors.get(host.as_ref())?.get(*user)?;
            if q.ruri_host.as_deref() == Some(host.as_ref()) {
                let (tied, port_ok) = g.tied(Some(q.ruri_port))?;
                Some((if port_ok { 7 } else { 6 }, tied))
            } else {
                g.tied(None).map(|(tied, _)| (4, tied))
            }
        })
    }

    /// How many keys the maps hold.
    #[cfg(test)]
    pub(super) fn keys(&self) -> usize {
        self.hosts.len() + self.aors.values().map(HashMap::len).sum::<usize>()
    }
}
