//! What a host session answers after one input, shared by the Asterisk
//! and FreeSWITCH sessions.
use super::{apply, Fact, HostError};
use crate::core::{Engine, Error, TrunkConfig, TrunkId};
use crate::validate::Finding;

/// What became of one host input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fed {
    /// The engine took it.
    Applied,
    /// Nothing in it for the engine (another event, a line without a
    /// status, a trunk whose state is already known).
    Ignored,
    /// It named a trunk (or registration) the engine does not know.
    UnknownTrunk,
}

impl Fed {
    /// The answer for an adapter's error.
    pub fn of_error(e: &HostError) -> Result<Fed, HostError> {
        match e {
            HostError::Ignored(_) => Ok(Fed::Ignored),
            HostError::UnknownRegistration { .. } => Ok(Fed::UnknownTrunk),
            HostError::Malformed(_) => Err(e.clone()),
        }
    }
}

/// Feeds facts; `UnknownTrunk` if any named a trunk the engine lacks,
/// `Ignored` when there were none.
pub(crate) fn feed(engine: &mut Engine, now_ms: u64, facts: &[Fact]) -> Fed {
    if facts.is_empty() {
        return Fed::Ignored;
    }
    let results = apply(engine, now_ms, facts);
    if results
        .iter()
        .any(|(_, r)| matches!(r, Err(Error::UnknownTrunk)))
    {
        Fed::UnknownTrunk
    } else {
        Fed::Applied
    }
}

/// Adds `config`, or updates the trunk of that name when its configuration
/// changed (an unchanged one keeps its state quietly: no findings again),
/// then sets the host's notes.
pub(crate) fn upsert(
    engine: &mut Engine,
    now_ms: u64,
    config: &TrunkConfig,
    notes: &[Finding],
) -> Result<TrunkId, Error> {
    let id = match engine.find_trunk(&config.name) {
        Some(id) if engine.trunk_config(id) == Some(config) => id,
        Some(id) => {
            engine.update_trunk(now_ms, id, config.clone())?;
            id
        }
        None => engine.add_trunk(now_ms, config.clone())?,
    };
    let _ = engine.set_host_notes(now_ms, id, notes.to_vec());
    Ok(id)
}
