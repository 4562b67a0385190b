//! Maintenance on the coordinator's own timers: offsets retention (KIP-211) and compaction of
//! the offsets log, run without the host asking, so memory stays bounded under any steady
//! load.
//!
//! Two timers, armed from the first time the coordinator is given (any `handle*` call or a
//! load): every `offsets_retention_check_interval_ms` the store expires offsets past their
//! retention and deletes empty groups with nothing left (and the coordinator forgets them);
//! every `log_cleaner_backoff_ms` each owned partition of the offsets log is compacted if the
//! records appended since its last cleaning make up at least `min_cleanable_dirty_percent`
//! percent of it, as Kafka's log cleaner does with `min.cleanable.dirty.ratio`. Store errors
//! are counted and kept in [`MaintenanceStats`], never dropped.

use super::GroupState;
use super::{GroupCoordinator, TimerKind};
use crate::types::{GroupId, Timestamp};

/// What the coordinator's maintenance has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MaintenanceStats {
    /// Retention checks run.
    pub expiry_runs: u64,
    /// Offsets expired (a tombstone written for each).
    pub offsets_expired: u64,
    /// Groups deleted because they were empty with no offsets left.
    pub groups_removed: u64,
    /// Partitions of the offsets log compacted.
    pub compactions: u64,
    /// Records compaction removed.
    pub records_removed: u64,
    /// Store errors met by maintenance.
    pub errors: u64,
    /// The last of them.
    pub last_error: Option<String>,
}

impl GroupCoordinator {
    /// Arms the maintenance timers the first time a time is known.
    pub(super) fn arm_maintenance(&mut self, now: Timestamp) {
        if self.maintenance_armed {
            return;
        }
        self.maintenance_armed = true;
        let expiry = Timestamp(
            now.0
                .saturating_add(self.config.offsets_retention_check_interval_ms.max(1)),
        );
        self.arm(expiry, TimerKind::Expiry);
        let clean = Timestamp(
            now.0
                .saturating_add(self.config.log_cleaner_backoff_ms.max(1)),
        );
        self.arm(clean, TimerKind::Clean);
    }

    /// What maintenance has done so far.
    #[must_use]
    pub fn maintenance_stats(&self) -> &MaintenanceStats {
        &self.maintenance
    }

    fn maintenance_error(&mut self, e: &crate::Error) {
        self.maintenance.errors += 1;
        self.maintenance.last_error = Some(e.to_string());
    }

    /// Expires offsets and forgets the groups the store deleted.
    pub(super) fn on_expiry_timer(&mut self, now: Timestamp) {
        self.maintenance.expiry_runs += 1;
        match self.store.expire_offsets(now) {
            Ok(stats) => {
                self.maintenance.offsets_expired += stats.offsets_expired as u64;
                self.maintenance.groups_removed += stats.groups_removed as u64;
            }
            Err(e) => self.maintenance_error(&e),
        }
        // An empty group whose metadata and offsets are gone is Dead: drop it.
        let dead: Vec<GroupId> = self
            .groups
            .iter()
            .filter(|(gid, g)| {
                g.state == GroupState::Empty
                    && g.members.is_empty()
                    && g.pending.is_empty()
                    && self.store.group_metadata(gid).is_none()
                    && self.store.fetch_all(gid, false).is_empty()
            })
            .map(|(gid, _)| gid.clone())
            .collect();
        for gid in dead {
            self.groups.remove(&gid);
        }
        let next = Timestamp(
            now.0
                .saturating_add(self.config.offsets_retention_check_interval_ms.max(1)),
        );
        self.arm(next, TimerKind::Expiry);
    }

    /// Compacts each owned partition of the offsets log that is dirty enough.
    pub(super) fn on_clean_timer(&mut self, now: Timestamp) {
        let mut owned: Vec<u32> = self.owned_partitions().collect();
        owned.sort_unstable();
        for p in owned {
            match self.store.compact_if_dirty(
                p,
                now,
                self.config.min_cleanable_dirty_percent,
                self.config.delete_retention_ms,
            ) {
                Ok(Some(stats)) => {
                    self.maintenance.compactions += 1;
                    self.maintenance.records_removed += (stats.superseded
                        + stats.tombstones_removed
                        + stats.aborted_removed
                        + stats.markers_removed)
                        as u64;
                }
                Ok(None) => {}
                Err(e) => self.maintenance_error(&e),
            }
        }
        let next = Timestamp(
            now.0
                .saturating_add(self.config.log_cleaner_backoff_ms.max(1)),
        );
        self.arm(next, TimerKind::Clean);
    }
}
