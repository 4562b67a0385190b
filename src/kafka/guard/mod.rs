//! Checks a request frame before the codec sees it: every count against the bytes that follow
//! it, and the memory the decoded request will take against a budget.
//!
//! The `kafka-protocol` decoder reserves room for an array's elements as soon as it reads the
//! count, so a forged count of two billion asks the allocator for hundreds of gigabytes, and a
//! failed allocation aborts the process. This walk reads the same fields in the same order and
//! with the same primitive rules as the codec (an unsigned varint is at most 5 bytes, as in
//! Kafka), but only to skip them: it keeps nothing and allocates nothing. It fails closed: a
//! frame it cannot walk to the end of its last array is refused, never handed to the codec to
//! find out. Along the way it adds up what the decoded request will hold in memory (each
//! array's elements at their in-memory size, each map of unknown tagged fields); strings and
//! byte fields are slices of the frame and cost nothing more.

mod requests;
#[cfg(test)]
mod tests;

use kafka_protocol::messages::ApiKey;

pub(super) use requests::first_flexible;

/// Why a frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// The frame ends inside a field.
    Truncated,
    /// A count larger than the bytes left could hold, a varint longer than its type allows,
    /// or a field the codec refuses in this version.
    Forged,
    /// The decoded request would take more memory than its budget.
    OverBudget {
        /// What it would take, in bytes.
        cost: usize,
    },
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Truncated => f.write_str("the frame ends inside a field"),
            Refused::Forged => f.write_str("a count or varint past what the frame can hold"),
            Refused::OverBudget { cost } => {
                write!(f, "decoding it would take {cost} bytes, over the budget")
            }
        }
    }
}

/// Where a walk stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    Short,
    Forged,
}

pub(super) type Step = Result<(), Stop>;

/// What a map of unknown tagged fields costs: a B-tree leaf of eleven `(i32, Bytes)` slots,
/// then room for each entry.
const TAG_MAP: usize = 11 * (4 + 32) + 16;
const TAG_ENTRY: usize = 48;

/// A cursor over a frame's bytes that adds up the memory decoding them will take.
pub(super) struct Walk<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) flexible: bool,
    pub(super) cost: usize,
}

impl<'a> Walk<'a> {
    pub(super) fn new(bytes: &'a [u8], flexible: bool) -> Self {
        Walk {
            bytes,
            flexible,
            cost: 0,
        }
    }

    pub(super) fn skip(&mut self, n: usize) -> Step {
        if n > self.bytes.len() {
            return Err(Stop::Short);
        }
        self.bytes = &self.bytes[n..];
        Ok(())
    }

    pub(super) fn take<const N: usize>(&mut self) -> Result<[u8; N], Stop> {
        let head: [u8; N] = self
            .bytes
            .get(..N)
            .and_then(|h| h.try_into().ok())
            .ok_or(Stop::Short)?;
        self.bytes = &self.bytes[N..];
        Ok(head)
    }

    /// An unsigned varint of at most 5 bytes, as the codec and Kafka read one: a fifth byte
    /// that still has its continuation bit set is refused (Kafka: "Varint is too long").
    pub(super) fn varint(&mut self) -> Result<u32, Stop> {
        let mut value = 0u32;
        for i in 0..5 {
            let [b] = self.take::<1>()?;
            value |= u32::from(b & 0x7f) << (i * 7);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Stop::Forged)
    }

    pub(super) fn int(&mut self, width: usize) -> Step {
        self.skip(width)
    }

    /// A string or nullable string.
    pub(super) fn string(&mut self) -> Step {
        let len = if self.flexible {
            self.varint()?.saturating_sub(1) as usize
        } else {
            usize::try_from(i16::from_be_bytes(self.take()?)).unwrap_or(0)
        };
        self.skip(len)
    }

    /// Bytes or nullable bytes.
    pub(super) fn bytes(&mut self) -> Step {
        let len = if self.flexible {
            self.varint()?.saturating_sub(1) as usize
        } else {
            usize::try_from(i32::from_be_bytes(self.take()?)).unwrap_or(0)
        };
        self.skip(len)
    }

    pub(super) fn uuid(&mut self) -> Step {
        self.skip(16)
    }

    /// The tagged fields of a flexible version, all unknown to the codec: each is kept as a
    /// slice of the frame in a map.
    pub(super) fn tags(&mut self) -> Step {
        self.tags_with(|_, _| Ok(false))
    }

    /// Tagged fields, some of which the codec decodes itself: `known(walk, tag)` walks a known
    /// tag's value the way the codec reads it and answers `true`, or `false` for an unknown
    /// tag, which is skipped by its size.
    pub(super) fn tags_with(
        &mut self,
        mut known: impl FnMut(&mut Self, u32) -> Result<bool, Stop>,
    ) -> Step {
        if !self.flexible {
            return Ok(());
        }
        let n = self.varint()?;
        // Each tagged field takes at least two bytes (its tag and its size).
        if n as usize > self.bytes.len() / 2 {
            return Err(Stop::Forged);
        }
        let mut unknown = 0usize;
        for _ in 0..n {
            let tag = self.varint()?;
            let size = self.varint()? as usize;
            if !known(self, tag)? {
                self.skip(size)?;
                unknown += 1;
            }
        }
        if unknown > 0 {
            self.cost = self
                .cost
                .saturating_add(TAG_MAP + unknown.saturating_mul(TAG_ENTRY));
        }
        Ok(())
    }

    /// An array whose elements each take at least `min` bytes on the wire and `size` bytes
    /// once decoded.
    pub(super) fn array(
        &mut self,
        min: usize,
        size: usize,
        mut each: impl FnMut(&mut Self) -> Step,
    ) -> Step {
        let count = if self.flexible {
            self.varint()?.saturating_sub(1) as usize
        } else {
            // -1 is null; other negative counts are the codec's to refuse.
            usize::try_from(i32::from_be_bytes(self.take()?)).unwrap_or(0)
        };
        if count > self.bytes.len() / min.max(1) {
            return Err(Stop::Forged);
        }
        self.cost = self.cost.saturating_add(count.saturating_mul(size));
        for _ in 0..count {
            each(self)?;
        }
        Ok(())
    }
}

/// The memory a request of `frame_len` bytes may take once decoded: eight times its size,
/// plus room for the fixed part of any request.
#[must_use]
pub(super) fn budget(frame_len: usize) -> usize {
    frame_len.saturating_mul(8).saturating_add(64 * 1024)
}

/// Walks a whole request frame (header and body, without the size prefix) of `key` in
/// `version`, and returns what its decoded form will take in memory.
///
/// # Errors
/// [`Refused`]: the frame is truncated or forged, or its decoded form is over
/// [`budget`]`(frame.len())`.
pub(super) fn check(key: ApiKey, version: i16, frame: &[u8]) -> Result<usize, Refused> {
    let mut w = Walk::new(frame, false);
    let walked = header(&mut w, key, version).and_then(|()| {
        w.flexible = version >= first_flexible(key);
        requests::walk(&mut w, key, version)
    });
    match walked {
        Err(Stop::Short) => Err(Refused::Truncated),
        Err(Stop::Forged) => Err(Refused::Forged),
        Ok(()) if w.cost > budget(frame.len()) => Err(Refused::OverBudget { cost: w.cost }),
        Ok(()) => Ok(w.cost),
    }
}

/// The request header: key, version, correlation id, client id (a non-compact nullable string
/// in every header version), and tagged fields in header version 2.
fn header(w: &mut Walk<'_>, key: ApiKey, version: i16) -> Step {
    w.int(2 + 2 + 4)?;
    w.string()?;
    if key.request_header_version(version) >= 2 {
        w.flexible = true;
        w.tags()?;
    }
    Ok(())
}
