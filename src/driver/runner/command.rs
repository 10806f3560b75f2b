//! What crosses between the host's threads and the runner thread: the
//! commands a [`super::Runner`] sends, their errors, and the callback the
//! runner thread calls with every output.
use crate::core::{Diagnosis, Engine, Output, TrunkConfig, TrunkSnapshot};
use std::sync::mpsc;

/// What the host's callback receives, on the runner thread. The engine is
/// there to read (diagnoses, snapshots), not to drive.
pub type OutputCallback = Box<dyn FnMut(&Engine, &Output) + Send + 'static>;

/// Why a runner call failed.
#[derive(Debug, PartialEq, Eq)]
pub enum RunnerError {
    /// The engine refused (duplicate name, no such trunk...).
    Engine(String),
    /// The runner thread is gone.
    Stopped,
}

impl std::fmt::Display for RunnerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunnerError::Engine(e) => f.write_str(e),
            RunnerError::Stopped => f.write_str("the runner has stopped"),
        }
    }
}

impl std::error::Error for RunnerError {}

/// A request to the runner thread, with where to send the answer.
pub(super) enum Command {
    Add(Box<TrunkConfig>, mpsc::Sender<Result<(), RunnerError>>),
    Remove(String, mpsc::Sender<Result<(), RunnerError>>),
    Snapshot(String, mpsc::Sender<Option<(TrunkSnapshot, Diagnosis)>>),
    Stop,
}
