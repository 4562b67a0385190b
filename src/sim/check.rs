//! What a simulation reports when a promise is broken.

use std::fmt;

use crate::types::Timestamp;

/// The promise a [`Violation`] broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Invariant {
    /// 1: a partition had two owners in one generation, or (cooperative) two holders at once.
    Ownership,
    /// 2: a generation went backwards.
    Generation,
    /// 3: a committed offset changed without an accepted commit, or went backwards.
    CommittedOffsets,
    /// 4: a static member was removed before its session timeout.
    StaticExpiry,
    /// 5: after the faults healed, a group did not settle (Stable, every partition assigned
    /// to one subscriber, every record consumed) in time.
    Liveness,
    /// 6: the delivery mode's promise about records was broken.
    Delivery,
    /// The simulation could not carry out an operation (a bad handle, an invalid config).
    Operation,
}

impl Invariant {
    /// A short name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Invariant::Ownership => "ownership",
            Invariant::Generation => "generation",
            Invariant::CommittedOffsets => "committed offsets",
            Invariant::StaticExpiry => "static expiry",
            Invariant::Liveness => "liveness",
            Invariant::Delivery => "delivery",
            Invariant::Operation => "operation",
        }
    }
}

/// A broken promise: which one, when (virtual time), and what was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The invariant.
    pub invariant: Invariant,
    /// Virtual time of the step that broke it.
    pub at: Timestamp,
    /// What was seen.
    pub detail: String,
}

impl Violation {
    pub(crate) fn new(invariant: Invariant, at: Timestamp, detail: impl Into<String>) -> Self {
        Violation {
            invariant,
            at,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} violated at {}: {}",
            self.invariant.name(),
            self.at,
            self.detail
        )
    }
}

impl std::error::Error for Violation {}
