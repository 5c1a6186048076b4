//! Resource ids: ULIDs, URL-safe and time-sortable.

use std::sync::Mutex;

static GENERATOR: Mutex<Option<ulid::Generator>> = Mutex::new(None);

/// A new id. Ids made by one process sort in the order they were made, even within one
/// millisecond (a plain ULID's random part would not), so "newest first" holds per instance.
pub fn new_id() -> String {
    let mut generator = GENERATOR.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    generator
        .get_or_insert_with(ulid::Generator::new)
        .generate()
        // Only after 2^80 ids in one millisecond: a fresh random id is still unique.
        .unwrap_or_else(|_| ulid::Ulid::new())
        .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_increase() {
        let ids: Vec<String> = (0..1000).map(|_| super::new_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(ids[0].len(), 26);
    }
}
