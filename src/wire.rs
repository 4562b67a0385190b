//! Kafka's non-flexible wire primitives, shared by every byte format the crate speaks: the
//! offsets-log records ([`log::codec`](crate::log::codec)) and the consumer protocol
//! ([`protocol::consumer`](crate::protocol::consumer)).
//!
//! Integers are big-endian; a string is an `i16` length and UTF-8 bytes (`-1` for null); bytes
//! are an `i32` length and the bytes (`-1` for null); an array is an `i32` count. Each format
//! turns a [`WireError`] into its own public error type.

/// What went wrong reading or writing a primitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireError {
    /// The bytes ended inside `field`, or a count promises more than the bytes left can hold.
    Truncated { field: &'static str, needed: usize },
    /// A negative length other than a nullable field's `-1`.
    InvalidLength { field: &'static str, length: i64 },
    /// A string that is not UTF-8.
    InvalidUtf8 { field: &'static str },
    /// A value too large for its length prefix.
    TooLarge { field: &'static str, len: usize },
}

/// Appends primitives to a buffer.
#[derive(Default)]
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    pub(crate) fn i16(&mut self, v: i16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }

    /// An `i32` length or count.
    pub(crate) fn len32(&mut self, field: &'static str, len: usize) -> Result<(), WireError> {
        let n = i32::try_from(len).map_err(|_| WireError::TooLarge { field, len })?;
        self.i32(n);
        Ok(())
    }

    pub(crate) fn string(&mut self, field: &'static str, s: &str) -> Result<(), WireError> {
        let len = s.len();
        let n = i16::try_from(len).map_err(|_| WireError::TooLarge { field, len })?;
        self.i16(n);
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }

    pub(crate) fn nullable_string(
        &mut self,
        field: &'static str,
        s: Option<&str>,
    ) -> Result<(), WireError> {
        match s {
            Some(s) => self.string(field, s),
            None => {
                self.i16(-1);
                Ok(())
            }
        }
    }

    pub(crate) fn bytes(&mut self, field: &'static str, b: &[u8]) -> Result<(), WireError> {
        self.len32(field, b.len())?;
        self.0.extend_from_slice(b);
        Ok(())
    }

    pub(crate) fn nullable_bytes(
        &mut self,
        field: &'static str,
        b: Option<&[u8]>,
    ) -> Result<(), WireError> {
        match b {
            Some(b) => self.bytes(field, b),
            None => {
                self.i32(-1);
                Ok(())
            }
        }
    }
}

/// Reads primitives from the front of the bytes not read yet.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], WireError> {
        match self.0.split_at_checked(n) {
            Some((head, tail)) => {
                self.0 = tail;
                Ok(head)
            }
            None => Err(WireError::Truncated {
                field,
                needed: n - self.0.len(),
            }),
        }
    }

    fn fixed<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], WireError> {
        match self.0.split_first_chunk::<N>() {
            Some((head, tail)) => {
                self.0 = tail;
                Ok(*head)
            }
            None => Err(WireError::Truncated {
                field,
                needed: N - self.0.len(),
            }),
        }
    }

    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16, WireError> {
        self.fixed(field).map(i16::from_be_bytes)
    }

    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, WireError> {
        self.fixed(field).map(i32::from_be_bytes)
    }

    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64, WireError> {
        self.fixed(field).map(i64::from_be_bytes)
    }

    /// A length read as `length`, which must not be negative.
    fn length(field: &'static str, length: i64) -> Result<usize, WireError> {
        usize::try_from(length).map_err(|_| WireError::InvalidLength { field, length })
    }

    pub(crate) fn nullable_str(
        &mut self,
        field: &'static str,
    ) -> Result<Option<&'a str>, WireError> {
        let n = self.i16(field)?;
        if n == -1 {
            return Ok(None);
        }
        let len = Self::length(field, n.into())?;
        let b = self.take(field, len)?;
        std::str::from_utf8(b)
            .map(Some)
            .map_err(|_| WireError::InvalidUtf8 { field })
    }

    pub(crate) fn str(&mut self, field: &'static str) -> Result<&'a str, WireError> {
        self.nullable_str(field)?
            .ok_or(WireError::InvalidLength { field, length: -1 })
    }

    pub(crate) fn nullable_string(
        &mut self,
        field: &'static str,
    ) -> Result<Option<String>, WireError> {
        Ok(self.nullable_str(field)?.map(str::to_owned))
    }

    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, WireError> {
        self.str(field).map(str::to_owned)
    }

    pub(crate) fn nullable_bytes(
        &mut self,
        field: &'static str,
    ) -> Result<Option<Vec<u8>>, WireError> {
        let n = self.i32(field)?;
        if n == -1 {
            return Ok(None);
        }
        let len = Self::length(field, n.into())?;
        Ok(Some(self.take(field, len)?.to_vec()))
    }

    pub(crate) fn bytes(&mut self, field: &'static str) -> Result<Vec<u8>, WireError> {
        self.nullable_bytes(field)?
            .ok_or(WireError::InvalidLength { field, length: -1 })
    }

    /// A non-null array's count, checked against the bytes left: `min_element` is the fewest
    /// bytes one element takes, so the count is safe to pre-allocate from.
    pub(crate) fn count(
        &mut self,
        field: &'static str,
        min_element: usize,
    ) -> Result<usize, WireError> {
        let n = self.i32(field)?;
        let count = Self::length(field, n.into())?;
        let at_least = count.saturating_mul(min_element);
        if at_least > self.0.len() {
            return Err(WireError::Truncated {
                field,
                needed: at_least - self.0.len(),
            });
        }
        Ok(count)
    }
}
