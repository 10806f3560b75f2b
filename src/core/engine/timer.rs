//! What a trunk's binding or keep-alive timer is for.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum TimerKind {
    /// The refresh point plus grace.
    RefreshCheck,
    /// The binding's expiry.
    Expiry,
    /// Keep-alive: the next probe is due. (Probe deadlines are kept in
    /// their own queue, `Engine::deadlines`.)
    Probe,
}
