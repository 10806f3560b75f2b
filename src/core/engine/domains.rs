//! The domain memo: what validation says of the domains configured last.
use crate::core::config::TrunkConfig;
use crate::validate::{self, DomainParts, Finding, Profile};
use std::collections::HashMap;

/// What validation says of a domain, remembered for the domains configured
/// last: a host with thousands of trunks on one domain (or `regwatch
/// analyze` making one per user of a capture) validates it once. Bounded:
/// forgotten all at once past `DomainMemo::CAP` domains.
#[derive(Debug, Default)]
pub(super) struct DomainMemo {
    /// Domain → its place in `facts`.
    known: HashMap<Box<str>, usize>,
    facts: Vec<DomainFacts>,
}

#[derive(Debug, Default)]
struct DomainFacts {
    parts: Option<DomainParts>,
    detected: Option<Profile>,
    /// `validate_domain` under each profile (Twilio, generic).
    findings: [Option<Vec<Finding>>; 2],
}

impl DomainMemo {
    const CAP: usize = 256;

    fn entry(&mut self, domain: &str) -> &mut DomainFacts {
        let i = match self.known.get(domain) {
            Some(&i) => i,
            None => {
                if self.facts.len() >= Self::CAP {
                    self.known.clear();
                    self.facts.clear();
                }
                self.facts.push(DomainFacts::default());
                self.known.insert(domain.into(), self.facts.len() - 1);
                self.facts.len() - 1
            }
        };
        &mut self.facts[i]
    }

    /// `DomainParts::parse(domain)`.
    pub(super) fn parts(&mut self, domain: &str) -> &DomainParts {
        self.entry(domain)
            .parts
            .get_or_insert_with(|| DomainParts::parse(domain))
    }

    /// `config.effective_profile()`.
    pub(super) fn profile(&mut self, config: &TrunkConfig) -> Profile {
        if let Some(p) = config.profile {
            return p;
        }
        *self
            .entry(&config.domain)
            .detected
            .get_or_insert_with(|| Profile::detect(&config.domain))
    }

    /// `validate::validate_domain(domain, profile)`.
    pub(super) fn findings(&mut self, domain: &str, profile: Profile) -> Vec<Finding> {
        let i = usize::from(profile != Profile::Twilio);
        self.entry(domain).findings[i]
            .get_or_insert_with(|| validate::validate_domain(domain, profile))
            .clone()
    }
}
