//! Partition assignors: who reads which partition.
//!
//! A [`PartitionAssignor`] turns a [`GroupSpec`] (members, their subscriptions and current
//! ownership, and the partition counts of the topics) into an [`Assignment`]. In a Kafka group
//! the *leader* member runs the assignor chosen by the group and sends the result to the
//! coordinator in its SyncGroup request.
//!
//! Built in:
//!
//! | name | type | protocols | output |
//! |---|---|---|---|
//! | `range` | [`RangeAssignor`] | eager | Kafka's, byte for byte, rack-aware (KIP-881) |
//! | `roundrobin` | [`RoundRobinAssignor`] | eager | Kafka's, byte for byte |
//! | `sticky` | [`StickyAssignor`] | eager | balanced, keeps ownership, rack-aware |
//! | `cooperative-sticky` | [`CooperativeStickyAssignor`] | cooperative, eager | as `sticky`, never moves a partition in one round |
//!
//! Custom assignors implement the trait and are registered by name in an [`AssignorRegistry`].
//!
//! ```
//! use consumer_groups::assignor::{AssignorRegistry, GroupSpec, MemberSpec, TopicSpec};
//!
//! let registry = AssignorRegistry::with_builtins();
//! let spec = GroupSpec::builder()
//!     .topic(TopicSpec::new("t0", 3))
//!     .topic(TopicSpec::new("t1", 3))
//!     .member(MemberSpec::new("C0").subscribe(["t0", "t1"]))
//!     .member(MemberSpec::new("C1").subscribe(["t0", "t1"]))
//!     .build()?;
//! // The example of Kafka's RangeAssignor documentation.
//! let range = registry.get("range").unwrap().assign(&spec)?;
//! assert_eq!(range.to_string(), "C0 t0:0,t0:1,t1:0,t1:1\nC1 t0:2,t1:2\n");
//! let rr = registry.get("roundrobin").unwrap().assign(&spec)?;
//! assert_eq!(rr.to_string(), "C0 t0:0,t0:2,t1:1\nC1 t0:1,t1:0,t1:2\n");
//! # Ok::<(), consumer_groups::Error>(())
//! ```

use std::fmt;

mod assignment;
mod range;
mod round_robin;
mod spec;
mod sticky;

pub use assignment::{Assignment, AssignmentBuilder, Diff, MemberAssignment};
pub use range::RangeAssignor;
pub use round_robin::RoundRobinAssignor;
pub use spec::{
    GroupSpec, GroupSpecBuilder, MAX_MEMBERS, MAX_PARTITIONS, MemberSpec, PartitionRef, TopicSpec,
};
pub use sticky::{CooperativeStickyAssignor, StickyAssignor};

use crate::error::Error;

/// How a group moves partitions between members in a rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RebalanceProtocol {
    /// Every member gives up all of its partitions before the group rejoins ("stop the world").
    Eager,
    /// Members keep the partitions that stay with them and give up only those that move; a
    /// follow-up rebalance hands the given-up partitions to their new owners (KIP-429).
    Cooperative,
}

impl RebalanceProtocol {
    /// Kafka's id of the protocol (`EAGER` 0, `COOPERATIVE` 1).
    #[must_use]
    pub const fn id(self) -> u8 {
        match self {
            RebalanceProtocol::Eager => 0,
            RebalanceProtocol::Cooperative => 1,
        }
    }
}

/// Plans which member reads which partition.
///
/// Object safe: hosts keep custom assignors as `Box<dyn PartitionAssignor>` in an
/// [`AssignorRegistry`] and look them up by [`name`](PartitionAssignor::name), the string that
/// goes into JoinGroup's protocol list.
///
/// # Contract
/// * Deterministic: the same spec gives the same assignment.
/// * Every partition goes to at most one member, and only to a member subscribed to its topic
///   ([`AssignmentBuilder`] enforces both).
/// * Never panics. A spec that cannot be assigned yields an [`Error`].
///
/// ```
/// use consumer_groups::assignor::{
///     Assignment, AssignmentBuilder, AssignorRegistry, GroupSpec, MemberSpec, PartitionAssignor,
///     TopicSpec,
/// };
///
/// /// Gives every partition to the first subscriber of its topic.
/// struct FirstTakesAll;
///
/// impl PartitionAssignor for FirstTakesAll {
///     fn name(&self) -> &str {
///         "first-takes-all"
///     }
///     fn assign(&self, spec: &GroupSpec) -> Result<Assignment, consumer_groups::Error> {
///         let mut out = AssignmentBuilder::new(spec);
///         for (t, topic) in spec.topics().iter().enumerate() {
///             if let Some(m) = (0..spec.members().len()).find(|&m| spec.is_subscribed(m, t)) {
///                 for p in 0..topic.partitions() as i32 {
///                     out.assign(spec.members()[m].id(), topic.name(), p)?;
///                 }
///             }
///         }
///         Ok(out.finish())
///     }
/// }
///
/// let mut registry = AssignorRegistry::with_builtins();
/// registry.register(Box::new(FirstTakesAll))?;
/// let spec = GroupSpec::builder()
///     .topic(TopicSpec::new("t", 2))
///     .member(MemberSpec::new("a").subscribe(["t"]))
///     .member(MemberSpec::new("b").subscribe(["t"]))
///     .build()?;
/// let out = registry.get("first-takes-all").unwrap().assign(&spec)?;
/// assert_eq!(out.to_string(), "a t:0,t:1\nb -\n");
/// # Ok::<(), consumer_groups::Error>(())
/// ```
pub trait PartitionAssignor: Send + Sync {
    /// The assignor's name, as members advertise it in JoinGroup (`"range"`, `"sticky"`, …).
    fn name(&self) -> &str;

    /// The rebalance protocols this assignor can be used with, preferred first.
    fn supported_protocols(&self) -> &[RebalanceProtocol] {
        &[RebalanceProtocol::Eager]
    }

    /// Bytes a member puts into its subscription's user data for this assignor; they reach
    /// [`assign`](PartitionAssignor::assign) as [`MemberSpec::subscription_user_data`].
    fn subscription_user_data(&self, _topics: &[crate::Topic]) -> Option<Vec<u8>> {
        None
    }

    /// Assigns the spec's partitions to its members.
    ///
    /// # Errors
    /// Whatever the assignor cannot do with this spec; the built-in assignors accept every spec
    /// that [`GroupSpecBuilder::build`] accepts.
    fn assign(&self, spec: &GroupSpec) -> Result<Assignment, Error>;
}

impl fmt::Debug for dyn PartitionAssignor + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartitionAssignor")
            .field("name", &self.name())
            .field("protocols", &self.supported_protocols())
            .finish()
    }
}

/// Assignors by name, in the order they were registered (a member's order of preference).
#[derive(Debug, Default)]
pub struct AssignorRegistry {
    assignors: Vec<Box<dyn PartitionAssignor>>,
}

impl AssignorRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        AssignorRegistry::default()
    }

    /// A registry holding the four built-in assignors: `range`, `roundrobin`, `sticky`,
    /// `cooperative-sticky`.
    #[must_use]
    pub fn with_builtins() -> Self {
        let mut r = AssignorRegistry::new();
        for name in BUILTIN_NAMES {
            if let Some(a) = builtin(name) {
                r.assignors.push(a);
            }
        }
        r
    }

    /// Adds an assignor.
    ///
    /// # Errors
    /// [`Error::DuplicateAssignor`] if one of the same name is registered;
    /// [`Error::EmptyId`] if the name is empty.
    pub fn register(&mut self, assignor: Box<dyn PartitionAssignor>) -> Result<(), Error> {
        if assignor.name().is_empty() {
            return Err(Error::EmptyId("assignor name"));
        }
        if self.get(assignor.name()).is_some() {
            return Err(Error::DuplicateAssignor(assignor.name().to_string()));
        }
        self.assignors.push(assignor);
        Ok(())
    }

    /// The assignor named `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&dyn PartitionAssignor> {
        self.assignors
            .iter()
            .find(|a| a.name() == name)
            .map(|a| &**a)
    }

    /// The assignor named `name`, or [`Error::UnknownAssignor`].
    ///
    /// # Errors
    /// [`Error::UnknownAssignor`] if none is registered under `name`.
    pub fn require(&self, name: &str) -> Result<&dyn PartitionAssignor, Error> {
        self.get(name)
            .ok_or_else(|| Error::UnknownAssignor(name.to_string()))
    }

    /// Registered names, in registration order.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.assignors.iter().map(|a| a.name())
    }

    /// Number of registered assignors.
    #[must_use]
    pub fn len(&self) -> usize {
        self.assignors.len()
    }

    /// `true` if nothing is registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.assignors.is_empty()
    }
}

/// Names of the built-in assignors.
pub const BUILTIN_NAMES: [&str; 4] = ["range", "roundrobin", "sticky", "cooperative-sticky"];

/// A new instance of the built-in assignor named `name`.
#[must_use]
pub fn builtin(name: &str) -> Option<Box<dyn PartitionAssignor>> {
    match name {
        "range" => Some(Box::new(RangeAssignor)),
        "roundrobin" => Some(Box::new(RoundRobinAssignor)),
        "sticky" => Some(Box::new(StickyAssignor)),
        "cooperative-sticky" => Some(Box::new(CooperativeStickyAssignor)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_refuses_duplicate_names_and_reports_unknown() {
        let mut r = AssignorRegistry::with_builtins();
        assert_eq!(
            r.register(Box::new(RangeAssignor)).unwrap_err(),
            Error::DuplicateAssignor("range".into())
        );
        assert_eq!(
            r.require("nope").unwrap_err(),
            Error::UnknownAssignor("nope".into())
        );
        assert_eq!(r.names().collect::<Vec<_>>(), BUILTIN_NAMES);
    }

    #[test]
    fn builtins_declare_their_protocols() {
        use RebalanceProtocol::*;
        let r = AssignorRegistry::with_builtins();
        assert_eq!(r.get("range").unwrap().supported_protocols(), [Eager]);
        assert_eq!(r.get("roundrobin").unwrap().supported_protocols(), [Eager]);
        assert_eq!(r.get("sticky").unwrap().supported_protocols(), [Eager]);
        assert_eq!(
            r.get("cooperative-sticky").unwrap().supported_protocols(),
            [Cooperative, Eager]
        );
    }
}
