//! Parsed scripts kept by their text. Tools send the same statement again and again (a dashboard
//! refreshing, a script in a loop, a driver's prepared statement), and parsing is a good part of
//! what a one-object query costs: a script seen before is not parsed again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::{parse_script_for, ParsedStatement, SqlError};

/// Scripts longer than this are parsed every time: caching them would hold much for little.
const LONGEST_CACHED: usize = 16 * 1024;

/// A bounded cache of parsed scripts; the oldest entry goes first. Safe to share between threads.
#[derive(Debug)]
pub struct StatementCache {
    capacity: usize,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    by_text: HashMap<String, Arc<[ParsedStatement]>>,
    order: VecDeque<String>,
}

impl StatementCache {
    pub fn new(capacity: usize) -> Self {
        StatementCache {
            capacity,
            entries: Mutex::default(),
        }
    }

    /// The statements of `script`, parsed now or earlier. Errors are not kept.
    pub fn parse(&self, script: &str) -> Result<Arc<[ParsedStatement]>, SqlError> {
        self.parse_for(script, None)
    }

    /// [`StatementCache::parse`] with [`crate::parse_script_for`]'s default provider: kept apart
    /// per provider, as the same text names other tables.
    pub fn parse_for(
        &self,
        script: &str,
        default_provider: Option<&str>,
    ) -> Result<Arc<[ParsedStatement]>, SqlError> {
        if self.capacity == 0 || script.len() > LONGEST_CACHED {
            return parse_script_for(script, default_provider).map(Arc::from);
        }
        let key = match default_provider {
            Some(p) => format!("{p}\u{0}{script}"),
            None => script.to_string(),
        };
        if let Some(hit) = self.lock().by_text.get(&key) {
            return Ok(hit.clone());
        }
        let parsed: Arc<[ParsedStatement]> = parse_script_for(script, default_provider)?.into();
        let mut entries = self.lock();
        if entries
            .by_text
            .insert(key.clone(), parsed.clone())
            .is_none()
        {
            entries.order.push_back(key);
        }
        while entries.order.len() > self.capacity {
            if let Some(oldest) = entries.order.pop_front() {
                entries.by_text.remove(&oldest);
            }
        }
        Ok(parsed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_is_parsed_once_and_the_oldest_goes_first() {
        let cache = StatementCache::new(2);
        let a = cache.parse("SELECT 1").unwrap();
        assert!(Arc::ptr_eq(&a, &cache.parse("SELECT 1").unwrap()));
        cache.parse("SELECT 2").unwrap();
        cache.parse("SELECT 3").unwrap();
        // "SELECT 1" was the oldest: parsed anew.
        assert!(!Arc::ptr_eq(&a, &cache.parse("SELECT 1").unwrap()));
        assert!(cache.parse("SELECT (").is_err());
        assert_eq!(cache.lock().by_text.len(), 2);
    }
}
