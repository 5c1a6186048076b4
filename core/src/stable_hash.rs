//! FNV-1a: a tiny hash that gives the same answer in every process and release (the std hasher
//! does not), for what must land in the same place every time: list shards, embedding dimensions.

/// The 64-bit FNV-1a hash of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}
