//! The sticky plan when every member subscribes to the same topics.
//!
//! Quotas are exact: with `P` partitions and `M` members everyone ends with `P / M` or
//! `P / M + 1`. Members keep claimed partitions up to their quota: walking the partitions in
//! order, a member keeps each claimed one until it holds `P / M`, and one more while extra slots
//! remain (every extra slot saves exactly one move, whoever gets it); the freed and
//! unclaimed partitions are then dealt round-robin, in topic-partition order, to the members
//! below `P / M`, and what is left goes one each to the first members still at `P / M`. With no
//! claims this is exactly the round-robin deal, and each member moves only what its quota forces.

use super::super::spec::{GroupSpec, NONE};
use super::{Claims, Racks};

pub(super) fn assign(
    spec: &GroupSpec,
    claims: Option<&Claims>,
    racks: &Racks<'_>,
    owners: &mut [u32],
) {
    let Some(sub) = spec.subs.first() else {
        return;
    };
    let topics: &[u32] = &sub.topics;
    let m = spec.member_count();
    let total: usize = topics
        .iter()
        .map(|&t| spec.partitions_of(t as usize) as usize)
        .sum();
    if total == 0 {
        return;
    }
    let min_q = total / m;
    let mut extra_left = total % m;
    let mut count = vec![0u32; m];

    let mut free: Vec<u32> = Vec::new();
    match claims {
        Some(claims) if racks.active => {
            keep_rack_aware(
                spec,
                claims,
                racks,
                min_q,
                &mut extra_left,
                &mut count,
                owners,
            );
            collect_free(spec, topics, owners, &mut free);
        }
        Some(claims) => {
            // One pass in partition order: a member keeps its claimed partitions up to `min_q`,
            // then one more while extra slots remain; everything else is free.
            let min_q32 = min_q as u32;
            for &t in topics {
                let base = spec.topic_base[t as usize] as usize;
                let n = spec.partitions_of(t as usize) as usize;
                for gp in base..base + n {
                    let o = claims.owner[gp];
                    if (o as usize) < m {
                        let c = &mut count[o as usize];
                        if *c < min_q32 || (*c == min_q32 && extra_left > 0) {
                            if *c == min_q32 {
                                extra_left -= 1;
                            }
                            *c += 1;
                            owners[gp] = o;
                            continue;
                        }
                    }
                    free.push(gp as u32);
                }
            }
        }
        None => collect_free(spec, topics, owners, &mut free),
    }
    if free.is_empty() {
        return;
    }

    let free = if racks.active {
        deal_rack_local(
            spec,
            racks,
            &free,
            &mut count,
            min_q,
            &mut extra_left,
            owners,
        )
    } else {
        free
    };
    deal(&free, &mut count, min_q, extra_left, owners);
}

/// The unowned partitions of `topics`, in topic-partition order.
fn collect_free(spec: &GroupSpec, topics: &[u32], owners: &[u32], free: &mut Vec<u32>) {
    for &t in topics {
        let base = spec.topic_base[t as usize] as usize;
        let n = spec.partitions_of(t as usize) as usize;
        free.extend(
            (base..base + n)
                .filter(|&gp| owners[gp] == NONE)
                .map(|gp| gp as u32),
        );
    }
}

/// Member by member, keeps claimed partitions up to quota, rack-local ones first when a member
/// holds more than its quota.
fn keep_rack_aware(
    spec: &GroupSpec,
    claims: &Claims,
    racks: &Racks<'_>,
    min_q: usize,
    extra_left: &mut usize,
    count: &mut [u32],
    owners: &mut [u32],
) {
    let sub = &spec.subs[0];
    let mut keep: Vec<usize> = Vec::new();
    for member in 0..spec.member_count() {
        let mu = member as u32;
        keep.clear();
        keep.extend(
            spec.owned(member)
                .iter()
                .filter(|p| sub.contains(p.topic))
                .map(|&p| spec.global(p))
                .filter(|&gp| claims.owner[gp] == mu),
        );
        let quota = quota_for(keep.len(), min_q, extra_left);
        if quota < keep.len() {
            // Rack-local partitions first; stable, so partition order is kept otherwise.
            keep.sort_by_key(|&gp| !racks.local(mu, gp));
        }
        for &gp in &keep[..quota] {
            owners[gp] = mu;
        }
        count[member] = quota as u32;
    }
}

/// How many of `eligible` claimed partitions a member keeps, consuming an extra slot if needed.
fn quota_for(eligible: usize, min_q: usize, extra_left: &mut usize) -> usize {
    if eligible <= min_q {
        eligible
    } else if *extra_left > 0 {
        *extra_left -= 1;
        min_q + 1
    } else {
        min_q
    }
}

/// Round-robin over the members below `min_q`, then one each to the first members at `min_q`.
fn deal(free: &[u32], count: &mut [u32], min_q: usize, mut extra_left: usize, owners: &mut [u32]) {
    let min_q = min_q as u32;
    let mut next = free.iter();
    let mut active: Vec<u32> = (0..count.len() as u32)
        .filter(|&m| count[m as usize] < min_q)
        .collect();
    'rounds: while !active.is_empty() {
        for &m in &active {
            let Some(&gp) = next.next() else {
                break 'rounds;
            };
            owners[gp as usize] = m;
            count[m as usize] += 1;
        }
        active.retain(|&m| count[m as usize] < min_q);
    }
    for (m, c) in count.iter_mut().enumerate() {
        if extra_left == 0 {
            break;
        }
        if *c == min_q {
            let Some(&gp) = next.next() else {
                return;
            };
            owners[gp as usize] = m as u32;
            *c += 1;
            extra_left -= 1;
        }
    }
}

/// Gives each free partition to a member of one of its replicas' racks that still has room,
/// preferring the one with the fewest partitions; returns the partitions no such member took.
fn deal_rack_local(
    spec: &GroupSpec,
    racks: &Racks<'_>,
    free: &[u32],
    count: &mut [u32],
    min_q: usize,
    extra_left: &mut usize,
    owners: &mut [u32],
) -> Vec<u32> {
    let min_q = min_q as u32;
    let nr = spec.racks.len();
    // Members per rack, in member order, with a round-robin cursor each.
    let mut by_rack: Vec<Vec<u32>> = vec![Vec::new(); nr];
    for (m, &r) in spec.member_rack.iter().enumerate() {
        if r != NONE {
            by_rack[r as usize].push(m as u32);
        }
    }
    let mut cursor = vec![0usize; nr];
    let mut left = Vec::new();
    for &gp in free {
        let mut best: Option<(u32, u32, usize, usize)> = None; // (count, member, rack, index)
        for &r in spec.partition_racks(gp as usize) {
            let list = &by_rack[r as usize];
            if list.is_empty() {
                continue;
            }
            // The next member of this rack, from its cursor, that has room.
            for step in 0..list.len() {
                let i = (cursor[r as usize] + step) % list.len();
                let m = list[i];
                let c = count[m as usize];
                if c < min_q || (c == min_q && *extra_left > 0) {
                    if best.is_none_or(|(bc, bm, _, _)| (c, m) < (bc, bm)) {
                        best = Some((c, m, r as usize, i));
                    }
                    break;
                }
            }
        }
        match best {
            Some((c, m, r, i)) => {
                debug_assert!(racks.local(m, gp as usize));
                owners[gp as usize] = m;
                count[m as usize] = c + 1;
                if c == min_q {
                    *extra_left -= 1;
                }
                cursor[r] = (i + 1) % by_rack[r].len();
            }
            None => left.push(gp),
        }
    }
    left
}
