//! Typed tables and write batches over the byte-level [`Store`].
//!
//! Keys encode so that byte order is the key's natural order (integers big-endian); values are
//! JSON, readable with any tool and tolerant of added optional fields.

use std::marker::PhantomData;

use quorate_primitives::{Address, B256};
use serde::{Serialize, de::DeserializeOwned};

use super::{Store, StoreError};

/// A key type: encodes to bytes whose order is the key's order.
pub trait Key: Sized {
    /// The encoding.
    fn encode(&self) -> Vec<u8>;
    /// The decoding, `None` when the bytes are not a key of this type.
    fn decode(bytes: &[u8]) -> Option<Self>;
}

impl Key for u64 {
    fn encode(&self) -> Vec<u8> {
        self.to_be_bytes().to_vec()
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        Some(Self::from_be_bytes(bytes.try_into().ok()?))
    }
}

impl Key for String {
    fn encode(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        String::from_utf8(bytes.to_vec()).ok()
    }
}

impl Key for B256 {
    fn encode(&self) -> Vec<u8> {
        self.0.to_vec()
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        Some(Self::from(<[u8; 32]>::try_from(bytes).ok()?))
    }
}

impl Key for Address {
    fn encode(&self) -> Vec<u8> {
        self.0.to_vec()
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        Some(Self::from(<[u8; 20]>::try_from(bytes).ok()?))
    }
}

impl<A: Key + FixedWidth, B: Key> Key for (A, B) {
    fn encode(&self) -> Vec<u8> {
        let mut out = self.0.encode();
        out.extend(self.1.encode());
        out
    }
    fn decode(bytes: &[u8]) -> Option<Self> {
        let (a, b) = bytes.split_at_checked(A::WIDTH)?;
        Some((A::decode(a)?, B::decode(b)?))
    }
}

/// A key of one fixed width, which may lead a composite key.
pub trait FixedWidth {
    /// Its encoded width in bytes.
    const WIDTH: usize;
}
impl FixedWidth for u64 {
    const WIDTH: usize = 8;
}
impl FixedWidth for B256 {
    const WIDTH: usize = 32;
}
impl FixedWidth for Address {
    const WIDTH: usize = 20;
}

/// A named table of `K → V`.
#[derive(Debug)]
pub struct Table<K, V> {
    name: &'static str,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for Table<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K, V> Copy for Table<K, V> {}

impl<K: Key, V: Serialize + DeserializeOwned> Table<K, V> {
    /// A table called `name` (unique within a store).
    pub const fn new(name: &'static str) -> Self {
        Self { name, types: PhantomData }
    }

    /// The table's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The value under `key`.
    pub fn get(&self, store: &dyn Store, key: &K) -> Result<Option<V>, StoreError> {
        store.get(self.name, &key.encode())?.map(|bytes| self.decode_value(&bytes)).transpose()
    }

    /// Every entry, in key order.
    pub fn all(&self, store: &dyn Store) -> Result<Vec<(K, V)>, StoreError> {
        self.scan(store, &[])
    }

    /// Every entry whose encoded key starts with `prefix` (e.g. the first part of a pair).
    pub fn scan(&self, store: &dyn Store, prefix: &[u8]) -> Result<Vec<(K, V)>, StoreError> {
        store
            .scan(self.name, prefix)?
            .into_iter()
            .map(|(k, v)| {
                let key = K::decode(&k).ok_or_else(|| StoreError::Decode {
                    table: self.name,
                    reason: format!("key of {} bytes", k.len()),
                })?;
                Ok((key, self.decode_value(&v)?))
            })
            .collect()
    }

    fn decode_value(&self, bytes: &[u8]) -> Result<V, StoreError> {
        serde_json::from_slice(bytes)
            .map_err(|e| StoreError::Decode { table: self.name, reason: e.to_string() })
    }
}

/// One write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Set `key` to `value`.
    Put {
        /// The table.
        table: &'static str,
        /// The encoded key.
        key: Vec<u8>,
        /// The encoded value.
        value: Vec<u8>,
    },
    /// Remove `key`.
    Delete {
        /// The table.
        table: &'static str,
        /// The encoded key.
        key: Vec<u8>,
    },
}

/// Writes applied together by [`Store::commit`], in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    ops: Vec<Op>,
}

impl Batch {
    /// Sets `key` in `table` to `value`.
    pub fn put<K: Key, V: Serialize + DeserializeOwned>(
        &mut self,
        table: &Table<K, V>,
        key: &K,
        value: &V,
    ) -> Result<&mut Self, StoreError> {
        let value = serde_json::to_vec(value)
            .map_err(|e| StoreError::Decode { table: table.name, reason: e.to_string() })?;
        self.ops.push(Op::Put { table: table.name, key: key.encode(), value });
        Ok(self)
    }

    /// Removes `key` from `table`.
    pub fn delete<K: Key, V: Serialize + DeserializeOwned>(
        &mut self,
        table: &Table<K, V>,
        key: &K,
    ) -> &mut Self {
        self.ops.push(Op::Delete { table: table.name, key: key.encode() });
        self
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The writes, in order.
    pub fn into_ops(self) -> Vec<Op> {
        self.ops
    }
}
