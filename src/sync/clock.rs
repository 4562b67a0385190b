//! [`Clock`]: where wall time enters the crate.

use std::time::{Duration, Instant};

use crate::types::Timestamp;

/// A monotonic clock in the crate's milliseconds: `std::time::Instant` since the clock was made,
/// added to a starting [`Timestamp`]. Clones share the same origin, so every part of a host
/// that uses one clock sees one timeline.
///
/// ```
/// use consumer_groups::sync::Clock;
/// use consumer_groups::Timestamp;
///
/// let clock = Clock::starting_at(Timestamp(1_000));
/// assert!(clock.now() >= Timestamp(1_000));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
    base: Timestamp,
}

impl Clock {
    /// A clock reading `base` now.
    #[must_use]
    pub fn starting_at(base: Timestamp) -> Clock {
        Clock {
            origin: Instant::now(),
            base,
        }
    }

    /// The current time.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.base.plus_millis(ms)
    }

    /// How long from now until `t` (zero if `t` has passed).
    #[must_use]
    pub fn until(&self, t: Timestamp) -> Duration {
        Duration::from_millis(t.0.saturating_sub(self.now().0))
    }
}

impl Default for Clock {
    /// A clock starting at the Unix time of the moment it is made, so timestamps in the
    /// offsets log read as dates.
    fn default() -> Self {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Clock::starting_at(Timestamp(unix))
    }
}
