//! The scenario format read by the `assign` example and by the golden tests.
//!
//! One directive per line; `#` starts a comment; blank lines are ignored.
//!
//! ```text
//! assignor range                      # optional; --assignor overrides
//! topic orders 5                      # topic NAME PARTITIONS [racks=R+R,R,…]
//! member consumer-b orders,payments   # member ID TOPICS [owned=T:P,T:P] [generation=N] [rack=R] [instance=I]
//! expect consumer-b orders:3,orders:4 # ignored by `assign`; the golden tests check it
//! ```
//!
//! `TOPICS` is a comma-separated list, or `-` for none. `racks=` gives each partition's replica
//! racks in partition order, partitions separated by `,`, racks of one partition by `+`. Other
//! directives (`case`, `note`, …) are ignored.

#![allow(dead_code)]

use std::fmt;

use consumer_groups::assignor::{GroupSpec, MemberSpec, TopicSpec};
use consumer_groups::{Generation, TopicPartition};

/// A parsed scenario.
#[derive(Debug, Default)]
pub struct Scenario {
    /// The `assignor` directive, if any.
    pub assignor: Option<String>,
    /// Topics in file order.
    pub topics: Vec<TopicSpec>,
    /// Members in file order.
    pub members: Vec<MemberSpec>,
    /// `expect` lines: member id and its expected partitions, as written (`-` for none).
    pub expect: Vec<(String, String)>,
}

/// A line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

impl Scenario {
    /// Parses a scenario.
    pub fn parse(text: &str) -> Result<Scenario, ParseError> {
        let mut s = Scenario::default();
        let mut seen_members = std::collections::HashSet::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |message: String| ParseError { line, message };
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let mut words = content.split_whitespace();
            let directive = words.next().unwrap_or("");
            let args: Vec<&str> = words.collect();
            match directive {
                "assignor" => {
                    let [name] = args.as_slice() else {
                        return Err(err("expected: assignor NAME".into()));
                    };
                    s.assignor = Some((*name).to_string());
                }
                "topic" => {
                    let (name, count, rest) = match args.as_slice() {
                        [name, count, rest @ ..] => (*name, *count, rest),
                        _ => return Err(err("expected: topic NAME PARTITIONS [racks=…]".into())),
                    };
                    let n: i64 = count
                        .parse()
                        .map_err(|_| err(format!("partition count {count:?} is not a number")))?;
                    if n < 0 {
                        return Err(err(format!("negative partition count {n}")));
                    }
                    let n = u32::try_from(n)
                        .ok()
                        .filter(|&n| n <= i32::MAX as u32)
                        .ok_or_else(|| err(format!("partition count {n} is too large")))?;
                    let mut topic = TopicSpec::new(name, n);
                    for opt in rest {
                        match opt.split_once('=') {
                            Some(("racks", v)) => {
                                let racks: Vec<Vec<&str>> = v
                                    .split(',')
                                    .map(|p| p.split('+').filter(|r| !r.is_empty()).collect())
                                    .collect();
                                if racks.len() != n as usize {
                                    return Err(err(format!(
                                        "racks= lists {} partitions, topic has {n}",
                                        racks.len()
                                    )));
                                }
                                topic = topic.with_replica_racks(racks);
                            }
                            _ => return Err(err(format!("unknown topic option {opt:?}"))),
                        }
                    }
                    s.topics.push(topic);
                }
                "member" => {
                    let (id, topics, rest) = match args.as_slice() {
                        [id, topics, rest @ ..] => (*id, *topics, rest),
                        _ => {
                            return Err(err(
                                "expected: member ID TOPICS [owned=…] [generation=N] [rack=R] [instance=I]"
                                    .into(),
                            ));
                        }
                    };
                    if !seen_members.insert(id.to_string()) {
                        return Err(err(format!("duplicate member {id:?}")));
                    }
                    let mut m = MemberSpec::new(id);
                    if topics != "-" {
                        if topics.split(',').any(str::is_empty) {
                            return Err(err(format!("empty topic name in {topics:?}")));
                        }
                        m = m.subscribe(topics.split(','));
                    }
                    for opt in rest {
                        match opt.split_once('=') {
                            Some(("owned", v)) => {
                                let mut owned = Vec::new();
                                for tp in v.split(',').filter(|t| !t.is_empty()) {
                                    owned.push(tp.parse::<TopicPartition>().map_err(|_| {
                                        err(format!(
                                            "owned partition {tp:?} is not TOPIC:PARTITION"
                                        ))
                                    })?);
                                }
                                m = m.owned(owned);
                            }
                            Some(("generation", v)) => {
                                let g: i32 = v.parse().map_err(|_| {
                                    err(format!("generation {v:?} is not a number"))
                                })?;
                                m = m.generation(Generation(g));
                            }
                            Some(("rack", v)) if !v.is_empty() => m = m.rack(v),
                            Some(("instance", v)) if !v.is_empty() => m = m.instance_id(v),
                            _ => return Err(err(format!("unknown member option {opt:?}"))),
                        }
                    }
                    s.members.push(m);
                }
                "expect" => {
                    let [id, parts] = args.as_slice() else {
                        return Err(err("expected: expect ID T:P,…|-".into()));
                    };
                    s.expect.push(((*id).to_string(), (*parts).to_string()));
                }
                _ => {} // `case`, notes and future directives are ignored.
            }
        }
        Ok(s)
    }

    /// The group spec the scenario describes.
    pub fn spec(&self) -> Result<GroupSpec, consumer_groups::Error> {
        GroupSpec::builder()
            .members(self.members.iter().cloned())
            .topics(self.topics.iter().cloned())
            .build()
    }

    /// The `expect` lines in the `assign` output format (sorted by member id), if any.
    pub fn expected_output(&self) -> Option<String> {
        if self.expect.is_empty() {
            return None;
        }
        let mut lines: Vec<&(String, String)> = self.expect.iter().collect();
        lines.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        Some(
            lines
                .iter()
                .map(|(id, parts)| format!("{id} {parts}\n"))
                .collect(),
        )
    }
}
