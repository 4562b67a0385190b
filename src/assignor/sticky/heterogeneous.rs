//! The sticky plan when members subscribe to different topics.
//!
//! 1. Every member keeps each claimed partition of a topic it still subscribes to.
//! 2. Free partitions are poured topic by topic, the topic with the fewest subscribers first,
//!    into that topic's subscribers with the fewest partitions ("water filling": raise the
//!    lowest to a common level, ties to the earlier member), which is what giving each partition
//!    in turn to the least loaded subscriber does, in one pass per topic.
//! 3. A balancing pass repeats until nothing moves: for each topic, while a holder `m` of one of
//!    its partitions owns at least two more than the topic's least loaded subscriber `s`, one
//!    partition moves from `m` to `s` (partitions `m` did not claim before this round move
//!    first). Before a *claimed* partition moves, `s` is instead lifted, if it can be, by an
//!    unclaimed partition of one of its topics held by a member one above it (a sideways move
//!    that leaves every claim in place). Each ordinary move lowers the sum of squared counts and
//!    sideways moves are bounded by the member count, so the pass ends, and when it ends no
//!    partition could move to a subscriber that owns two fewer: the balance criterion.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::super::spec::{GroupSpec, NONE};
use super::{Claims, Racks};

pub(super) fn assign(
    spec: &GroupSpec,
    claims: Option<&Claims>,
    racks: &Racks<'_>,
    owners: &mut [u32],
) {
    let m = spec.member_count();
    let subscribers = &spec.subscribers;
    let mut count = vec![0u32; m];

    // 1. Keep claims still subscribed to.
    if let Some(claims) = claims {
        for member in 0..m {
            let mu = member as u32;
            for &p in spec.owned(member) {
                let gp = spec.global(p);
                if claims.owner[gp] == mu && spec.is_subscribed(member, p.topic_index()) {
                    owners[gp] = mu;
                    count[member] += 1;
                }
            }
        }
    }

    // Topics with subscribers, fewest subscribers first.
    let mut order: Vec<u32> = (0..spec.topic_count() as u32)
        .filter(|&t| !subscribers.of(t as usize).is_empty() && spec.partitions_of(t as usize) > 0)
        .collect();
    order.sort_by_key(|&t| (subscribers.of(t as usize).len(), t));

    // 2. Pour free partitions.
    let mut free: Vec<u32> = Vec::new();
    let mut deficit: Vec<u32> = Vec::new();
    for &t in &order {
        let t = t as usize;
        let base = spec.topic_base[t] as usize;
        let n = spec.partitions_of(t) as usize;
        free.clear();
        free.extend(
            (base..base + n)
                .filter(|&gp| owners[gp] == NONE)
                .map(|gp| gp as u32),
        );
        if free.is_empty() {
            continue;
        }
        let subs = subscribers.of(t);
        water_fill(subs, &count, free.len(), &mut deficit);
        place(spec, racks, subs, &deficit, &free, &mut count, owners);
    }

    // 3. Balance.
    let retained = |gp: usize, holder: u32| Claims::holds(claims, gp, holder);
    let mut heap: BinaryHeap<Reverse<(u32, u32)>> = BinaryHeap::new();
    // Sideways moves (which do not lower the sum of squared counts) are bounded, so the pass
    // always ends; the moves that lower it end on their own.
    let mut pulls = m;
    loop {
        let mut moved = false;
        for &t in &order {
            let t = t as usize;
            let subs = subscribers.of(t);
            if subs.len() < 2 {
                continue;
            }
            let base = spec.topic_base[t] as usize;
            let n = spec.partitions_of(t) as usize;
            let min = subs.iter().map(|&s| count[s as usize]).min().unwrap_or(0);
            let max = owners[base..base + n]
                .iter()
                .filter(|&&o| o != NONE)
                .map(|&o| count[o as usize])
                .max()
                .unwrap_or(0);
            if max <= min + 1 {
                continue;
            }
            heap.clear();
            heap.extend(subs.iter().map(|&s| Reverse((count[s as usize], s))));
            // Partitions the holder did not claim move first, then claimed ones.
            for claimed_pass in [false, true] {
                for gp in base..base + n {
                    let holder = owners[gp];
                    if holder == NONE || retained(gp, holder) != claimed_pass {
                        continue;
                    }
                    let Some((mut low, mut target)) = lowest(&mut heap, &count) else {
                        break;
                    };
                    if claimed_pass && count[holder as usize] >= low + 2 && pulls > 0 {
                        // Before taking a claimed partition away, try to lift the target with a
                        // partition nobody claimed, from a member one above it.
                        if pull_unclaimed(spec, claims, target, owners, &mut count) {
                            pulls -= 1;
                            moved = true;
                            let Some(l) = lowest(&mut heap, &count) else {
                                break;
                            };
                            (low, target) = l;
                        }
                    }
                    if count[holder as usize] >= low + 2 {
                        owners[gp] = target;
                        count[holder as usize] -= 1;
                        count[target as usize] += 1;
                        heap.pop();
                        heap.push(Reverse((count[target as usize], target)));
                        moved = true;
                    }
                }
            }
        }
        if !moved {
            break;
        }
    }
}

/// Moves to `target` one unclaimed partition of a topic it subscribes to from a member that
/// holds exactly one more partition than `target` (a sideways move: the counts swap). Returns
/// whether it found one. This is what lets a claimed partition stay with its owner when an
/// unclaimed one can fill the gap instead.
fn pull_unclaimed(
    spec: &GroupSpec,
    claims: Option<&Claims>,
    target: u32,
    owners: &mut [u32],
    count: &mut [u32],
) -> bool {
    let want = count[target as usize] + 1;
    for &u in spec.subscribed_topics(target as usize) {
        let base = spec.topic_base[u as usize] as usize;
        let n = spec.partitions_of(u as usize) as usize;
        for gp in base..base + n {
            let h = owners[gp];
            if h == NONE || h == target || count[h as usize] != want {
                continue;
            }
            if Claims::holds(claims, gp, h) {
                continue;
            }
            owners[gp] = target;
            count[h as usize] -= 1;
            count[target as usize] += 1;
            return true;
        }
    }
    false
}

/// The least loaded subscriber in the heap, refreshing stale entries.
fn lowest(heap: &mut BinaryHeap<Reverse<(u32, u32)>>, count: &[u32]) -> Option<(u32, u32)> {
    loop {
        let Reverse((c, s)) = *heap.peek()?;
        if count[s as usize] == c {
            return Some((c, s));
        }
        heap.pop();
        heap.push(Reverse((count[s as usize], s)));
    }
}

/// How many of `k` new partitions each subscriber receives when every partition goes to the
/// least loaded subscriber, ties to the earlier one. Written into `deficit`, parallel to `subs`.
fn water_fill(subs: &[u32], count: &[u32], k: usize, deficit: &mut Vec<u32>) {
    deficit.clear();
    deficit.resize(subs.len(), 0);
    let fill = |level: u64| -> u64 {
        subs.iter()
            .map(|&s| level.saturating_sub(u64::from(count[s as usize])))
            .sum()
    };
    let k = k as u64;
    let lo_start = subs
        .iter()
        .map(|&s| u64::from(count[s as usize]))
        .min()
        .unwrap_or(0);
    // Largest level whose fill does not exceed k.
    let (mut lo, mut hi) = (lo_start, lo_start + k + 1);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fill(mid) <= k {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let level = lo;
    let mut rest = k - fill(level);
    for (d, &s) in deficit.iter_mut().zip(subs) {
        let c = u64::from(count[s as usize]);
        if c < level {
            *d = (level - c) as u32;
        }
        if rest > 0 && c <= level {
            *d += 1;
            rest -= 1;
        }
    }
}

/// Hands the free partitions of one topic to the subscribers by their deficits: rack-local
/// partitions first when rack awareness is active, the rest in partition order.
fn place(
    spec: &GroupSpec,
    racks: &Racks<'_>,
    subs: &[u32],
    deficit: &[u32],
    free: &[u32],
    count: &mut [u32],
    owners: &mut [u32],
) {
    if !racks.active {
        let mut next = free.iter();
        for (&s, &d) in subs.iter().zip(deficit) {
            for _ in 0..d {
                if let Some(&gp) = next.next() {
                    owners[gp as usize] = s;
                    count[s as usize] += 1;
                }
            }
        }
        return;
    }
    // Free partitions per rack, each list in partition order.
    let nr = spec.racks.len();
    let mut by_rack: Vec<Vec<u32>> = vec![Vec::new(); nr];
    for &gp in free {
        for &r in spec.partition_racks(gp as usize) {
            by_rack[r as usize].push(gp);
        }
    }
    let mut cursor = vec![0usize; nr];
    let mut left: Vec<u32> = deficit.to_vec();
    for (i, &s) in subs.iter().enumerate() {
        let r = spec.member_rack[s as usize];
        if r == NONE {
            continue;
        }
        let list = &by_rack[r as usize];
        let c = &mut cursor[r as usize];
        while left[i] > 0 && *c < list.len() {
            let gp = list[*c] as usize;
            *c += 1;
            if owners[gp] == NONE {
                owners[gp] = s;
                count[s as usize] += 1;
                left[i] -= 1;
            }
        }
    }
    let rest: Vec<u32> = free
        .iter()
        .copied()
        .filter(|&gp| owners[gp as usize] == NONE)
        .collect();
    let mut next = rest.iter();
    for (i, &s) in subs.iter().enumerate() {
        for _ in 0..left[i] {
            if let Some(&gp) = next.next() {
                owners[gp as usize] = s;
                count[s as usize] += 1;
            }
        }
    }
}
