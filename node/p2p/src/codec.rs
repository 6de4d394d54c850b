//! Canonical binary field encoding shared by [`crate::wire`] and [`crate::identity`].
//!
//! Big-endian integers, fixed-size hashes and addresses as raw bytes, variable-length fields with
//! a `u32` length prefix that is checked against the field's cap *before* anything is allocated,
//! options as a `0`/`1` tag, lists as a `u16` count. Every encoding is canonical: one value has
//! exactly one byte string, and the [`Reader`] refuses anything else (bad tags, trailing bytes).

use alloy_primitives::{Address, B256};

use crate::Error;

/// Appends fields to a buffer.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
    /// The first cap violation met: encoding refuses what a decoder would refuse.
    err: Option<Error>,
}

impl Writer {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self { buf: Vec::with_capacity(capacity), err: None }
    }

    /// The bytes written, or the first cap violation.
    pub(crate) fn finish(self) -> Result<Vec<u8>, Error> {
        match self.err {
            Some(err) => Err(err),
            None => Ok(self.buf),
        }
    }

    fn check(&mut self, field: &'static str, len: usize, max: usize) -> bool {
        if len > max {
            self.err.get_or_insert(Error::FieldTooLarge { field, len, max });
            false
        } else {
            true
        }
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn b256(&mut self, v: &B256) {
        self.buf.extend_from_slice(v.as_slice());
    }

    pub(crate) fn address(&mut self, v: &Address) {
        self.buf.extend_from_slice(v.as_slice());
    }

    pub(crate) fn raw(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    /// A length-prefixed byte string of at most `max` bytes.
    pub(crate) fn bytes(&mut self, field: &'static str, v: &[u8], max: usize) {
        if self.check(field, v.len(), max) {
            self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
            self.buf.extend_from_slice(v);
        }
    }

    pub(crate) fn string(&mut self, field: &'static str, v: &str, max: usize) {
        self.bytes(field, v.as_bytes(), max);
    }

    /// An option tag, then the string when there is one.
    pub(crate) fn opt_string(&mut self, field: &'static str, v: Option<&str>, max: usize) {
        self.bool(v.is_some());
        if let Some(v) = v {
            self.string(field, v, max);
        }
    }

    /// A list count of at most `max` items (`max` ≤ `u16::MAX`).
    pub(crate) fn count(&mut self, field: &'static str, n: usize, max: usize) {
        if self.check(field, n, max.min(usize::from(u16::MAX))) {
            self.u16(u16::try_from(n).unwrap_or(u16::MAX));
        }
    }
}

/// Reads fields from a byte slice, strictly.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], Error> {
        if self.buf.len() < n {
            return Err(Error::Truncated { field });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, Error> {
        Ok(u8::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn bool(&mut self, field: &'static str) -> Result<bool, Error> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(Error::InvalidTag { field, tag }),
        }
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn b256(&mut self, field: &'static str) -> Result<B256, Error> {
        Ok(B256::from(self.array::<32>(field)?))
    }

    pub(crate) fn address(&mut self, field: &'static str) -> Result<Address, Error> {
        Ok(Address::from(self.array::<20>(field)?))
    }

    pub(crate) fn fixed<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Error> {
        self.array(field)
    }

    /// A length-prefixed byte string of at most `max` bytes.
    pub(crate) fn bytes(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], Error> {
        let len = self.u32(field)? as usize;
        if len > max {
            return Err(Error::FieldTooLarge { field, len, max });
        }
        self.take(len, field)
    }

    pub(crate) fn string(&mut self, field: &'static str, max: usize) -> Result<String, Error> {
        let bytes = self.bytes(field, max)?;
        std::str::from_utf8(bytes).map(str::to_owned).map_err(|_| Error::InvalidUtf8 { field })
    }

    /// An option tag: `Ok(true)` when a value follows.
    pub(crate) fn option(&mut self, field: &'static str) -> Result<bool, Error> {
        self.bool(field)
    }

    /// An option tag, then the string when there is one.
    pub(crate) fn opt_string(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<Option<String>, Error> {
        if self.option(field)? { self.string(field, max).map(Some) } else { Ok(None) }
    }

    /// A list count of at most `max` items.
    pub(crate) fn count(&mut self, field: &'static str, max: usize) -> Result<usize, Error> {
        let len = usize::from(self.u16(field)?);
        if len > max {
            return Err(Error::FieldTooLarge { field, len, max });
        }
        Ok(len)
    }

    /// Refuses bytes left over: a field this version does not know.
    pub(crate) fn finish(self) -> Result<(), Error> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Error::TrailingBytes { count: self.buf.len() })
        }
    }
}
