//! The on-disk cache of compiled components.
//!
//! Entries are keyed by the component's SHA-256, the wasmtime version and a hash of the
//! engine's compilation settings, and live in a directory ward creates for itself (mode
//! 0700). Only this module deserializes compiled code, and only from that directory: ward
//! never loads precompiled code handed to it from elsewhere. Entries are written to a
//! temporary file and renamed into place, so a crash never leaves a torn entry; an entry that
//! fails to deserialize (e.g. written by another wasmtime) is recompiled and replaced.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A directory of compiled components.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    engine_key: String,
}

impl Cache {
    /// Opens (creating it if needed) the cache in `dir` for `engine`.
    pub fn open(dir: &Path, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self {
            dir: dir.to_path_buf(),
            engine_key: format!("wasmtime{}-{:016x}", wasmtime_version(), hasher.finish()),
        })
    }

    fn entry(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    /// The compiled component whose source has SHA-256 `sha256`, if an entry for it is
    /// there and usable by `engine`.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.entry(sha256);
        // Read into memory rather than mapping the file: a mapped file truncated or rewritten
        // underneath would fault in the middle of a call.
        let compiled = std::fs::read(&path).ok()?;
        // SAFETY: the bytes come from ward's own cache directory, from an entry named by the
        // hash of the source and of the engine settings, written by `store` below from
        // `Component::serialize`; wasmtime checks the header against this engine.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize(engine, &compiled) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), "discarding unusable cache entry: {e}");
                None
            }
        }
    }

    /// Stores `component`, compiled from source with SHA-256 `sha256`. A failure is logged:
    /// the cache only saves time.
    pub fn store(&self, sha256: &str, component: &Component) {
        let path = self.entry(sha256);
        if let Err(e) = self.write(&path, component) {
            tracing::warn!(path = %path.display(), "cannot write compile cache entry: {e}");
        }
    }

    fn write(&self, path: &Path, component: &Component) -> wasmtime::Result<()> {
        let bytes = component.serialize()?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(&bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

fn wasmtime_version() -> &'static str {
    // Cargo.lock pins it; the engine hash also covers it, this keeps names readable.
    "48"
}
