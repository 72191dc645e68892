//! The inverted index of one partition: postings `name=value -> series ids` and the set of
//! series present. Only series that had samples in a partition are in its index, so series
//! churn costs each partition only its own series.

use crate::keys::{self, SeriesId};
use crate::matcher::{MatchOp, Matcher};
use crate::{Error, Labels, Result};
use fjall::{Keyspace, OwnedWriteBatch};
use std::collections::BTreeSet;
use std::path::Path;

/// Adds the postings and presence of a series to `batch`.
pub fn add_series(batch: &mut OwnedWriteBatch, ks: &Keyspace, id: SeriesId, labels: &Labels) {
    for l in labels.iter() {
        batch.insert(ks, keys::posting(&l.name, &l.value, id), b"");
    }
    batch.insert(ks, keys::present(id), b"");
}

/// Removes the postings and presence of a series.
pub fn remove_series(batch: &mut OwnedWriteBatch, ks: &Keyspace, id: SeriesId, labels: &Labels) {
    for l in labels.iter() {
        batch.remove(ks, keys::posting(&l.name, &l.value, id));
    }
    batch.remove(ks, keys::present(id));
}

/// Every series present in the partition.
pub fn all_ids(ks: &Keyspace, path: &Path) -> Result<Vec<SeriesId>> {
    let mut out = Vec::new();
    for kv in ks.prefix(b"s") {
        let key = kv.key().map_err(|e| storage(path, e))?;
        out.push(keys::parse_present(&key)?);
    }
    Ok(out)
}

/// Candidate series for `matchers`: a superset of the matching series, computed from the
/// postings of the matchers that need a label to be present (`a="x"`, `a=~"x.+"`). The
/// caller checks every matcher against the candidates' labels.
pub fn candidates(ks: &Keyspace, path: &Path, matchers: &[Matcher]) -> Result<Vec<SeriesId>> {
    let mut sets: Vec<Vec<SeriesId>> = Vec::new();
    for m in matchers.iter().filter(|m| !m.matches_empty()) {
        let mut ids = match m.op() {
            MatchOp::Equal => {
                let mut ids = Vec::new();
                for kv in ks.prefix(keys::posting_value_prefix(m.name(), m.value())) {
                    let key = kv.key().map_err(|e| storage(path, e))?;
                    ids.push(keys::parse_posting(&key)?.2);
                }
                ids
            }
            _ => {
                let mut ids = Vec::new();
                let mut last: Option<(Vec<u8>, bool)> = None;
                for kv in ks.prefix(keys::posting_name_prefix(m.name())) {
                    let key = kv.key().map_err(|e| storage(path, e))?;
                    let (_, value, id) = keys::parse_posting(&key)?;
                    let hit = match &last {
                        Some((v, hit)) if v.as_slice() == value => *hit,
                        _ => {
                            let hit = std::str::from_utf8(value).is_ok_and(|v| m.matches_value(v));
                            last = Some((value.to_vec(), hit));
                            hit
                        }
                    };
                    if hit {
                        ids.push(id);
                    }
                }
                ids.sort_unstable();
                ids
            }
        };
        ids.dedup();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        sets.push(ids);
    }
    if sets.is_empty() {
        return all_ids(ks, path);
    }
    sets.sort_by_key(|s| s.len());
    let mut acc = sets.swap_remove(0);
    for s in &sets {
        acc.retain(|id| s.binary_search(id).is_ok());
    }
    Ok(acc)
}

/// Label names with at least one posting, by skipping from name to name.
pub fn label_names(ks: &Keyspace, path: &Path, out: &mut BTreeSet<String>) -> Result<()> {
    let mut from = b"p".to_vec();
    loop {
        let Some(kv) = ks.range(from.clone()..).next() else {
            return Ok(());
        };
        let key = kv.key().map_err(|e| storage(path, e))?;
        if key.first() != Some(&b'p') {
            return Ok(());
        }
        let (name, _, _) = keys::parse_posting(&key)?;
        out.insert(String::from_utf8_lossy(name).into_owned());
        // Values are never empty, so every posting of `name` sorts below `p name FF FF`.
        from = keys::posting_name_prefix(&String::from_utf8_lossy(name));
        from.push(keys::SEP);
    }
}

/// Values of label `name`.
pub fn label_values(
    ks: &Keyspace,
    path: &Path,
    name: &str,
    out: &mut BTreeSet<String>,
) -> Result<()> {
    let mut last: Vec<u8> = Vec::new();
    for kv in ks.prefix(keys::posting_name_prefix(name)) {
        let key = kv.key().map_err(|e| storage(path, e))?;
        let (_, value, _) = keys::parse_posting(&key)?;
        if value != last.as_slice() {
            last = value.to_vec();
            out.insert(String::from_utf8_lossy(value).into_owned());
        }
    }
    Ok(())
}

/// Series ids per value of label `name`.
pub fn postings_of(
    ks: &Keyspace,
    path: &Path,
    name: &str,
    mut f: impl FnMut(&[u8], SeriesId),
) -> Result<()> {
    for kv in ks.prefix(keys::posting_name_prefix(name)) {
        let key = kv.key().map_err(|e| storage(path, e))?;
        let (_, value, id) = keys::parse_posting(&key)?;
        f(value, id);
    }
    Ok(())
}

pub(crate) fn storage(path: &Path, source: fjall::Error) -> Error {
    Error::Storage {
        path: path.to_path_buf(),
        source,
    }
}
