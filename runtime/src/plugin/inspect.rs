//! Reading a component's plugin interface without compiling it: which `ward:plugin` kind it
//! exports and against which version of the package it was built.
//!
//! This only parses the component's top-level import and export names (`wasmparser`), so it
//! is cheap enough to run on every file event and for `ward plugin check`.

use super::Kind;
use semver::Version;

/// The WIT package every plugin implements.
pub const PACKAGE: &str = "ward:plugin";

/// The version of the package this host was built with.
pub const HOST_VERSION: Version = Version::new(0, 1, 0);

/// What a component declares about itself, read from its import and export names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// The plugin kind: the kind interface the component exports.
    pub kind: Kind,
    /// The `ward:plugin` version of the exported kind interface.
    pub version: Version,
    /// Every top-level import name (WASI and ward interfaces).
    pub imports: Vec<String>,
    /// Every top-level export name.
    pub exports: Vec<String>,
}

/// Why a file is not a plugin this host can serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    /// Not a WebAssembly binary at all, or a truncated one.
    #[error("not a WebAssembly component: {0}")]
    NotWasm(String),
    /// A core module rather than a component.
    #[error(
        "a core WebAssembly module, not a component: build for wasm32-wasip2 (or run `wasm-tools component new`)"
    )]
    CoreModule,
    /// A precompiled artifact (`.cwasm`): ward only loads code it compiled itself.
    #[error(
        "a precompiled artifact: ward compiles plugins itself and never loads precompiled code"
    )]
    Precompiled,
    /// A component that exports no `ward:plugin` kind interface.
    #[error(
        "exports no ward:plugin kind interface (expected one of ward:plugin/prober, discoverer, alert-rule or notifier); it exports: {exports}"
    )]
    NoWorld {
        /// The component's exports, comma-separated.
        exports: String,
    },
    /// A component exporting more than one kind.
    #[error("exports more than one plugin kind ({0}); a plugin is exactly one kind")]
    SeveralKinds(String),
    /// Built against a version of the package this host cannot serve.
    #[error(
        "built against ward:plugin@{found}, which this ward (serving ward:plugin@{host}, compatible with {compatible}) cannot load"
    )]
    IncompatibleVersion {
        /// The plugin's version.
        found: Version,
        /// The host's version.
        host: Version,
        /// The range the host serves, e.g. `0.1.x`.
        compatible: String,
    },
    /// The kind interface is there but `ward:plugin/plugin` (describe) is missing.
    #[error("exports {kind_export} but not ward:plugin/plugin (the describe function)")]
    NoDescribe {
        /// The kind export found.
        kind_export: String,
    },
}

/// Reads the plugin interface of the component in `bytes`.
pub fn inspect(bytes: &[u8]) -> Result<Interface, InspectError> {
    if wasmtime::Engine::detect_precompiled(bytes).is_some() {
        return Err(InspectError::Precompiled);
    }
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    // Nested modules and components are flattened into the payload stream; only depth 0 is
    // the component's own interface.
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| InspectError::NotWasm(e.to_string()))?;
        use wasmparser::Payload;
        match payload {
            Payload::Version {
                encoding: wasmparser::Encoding::Module,
                ..
            } if depth == 0 => return Err(InspectError::CoreModule),
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    let import = import.map_err(|e| InspectError::NotWasm(e.to_string()))?;
                    imports.push(import.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(section) if depth == 0 => {
                for export in section {
                    let export = export.map_err(|e| InspectError::NotWasm(e.to_string()))?;
                    exports.push(export.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    classify(imports, exports)
}

fn classify(imports: Vec<String>, exports: Vec<String>) -> Result<Interface, InspectError> {
    let mut kinds = Vec::new();
    let mut has_describe = false;
    for export in &exports {
        let Some((interface, version)) = parse_name(export) else {
            continue;
        };
        if interface == "plugin" {
            has_describe = true;
        } else if let Some(kind) = Kind::from_interface(interface) {
            kinds.push((kind, version, export.clone()));
        }
    }
    let (kind, version, kind_export) = match kinds.len() {
        0 => {
            return Err(InspectError::NoWorld {
                exports: if exports.is_empty() {
                    "nothing".to_string()
                } else {
                    exports.join(", ")
                },
            });
        }
        1 => kinds.remove(0),
        _ => {
            let names: Vec<String> = kinds.into_iter().map(|k| k.2).collect();
            return Err(InspectError::SeveralKinds(names.join(", ")));
        }
    };
    if !is_compatible(&version) {
        return Err(InspectError::IncompatibleVersion {
            found: version,
            host: HOST_VERSION,
            compatible: compatible_range(),
        });
    }
    if !has_describe {
        return Err(InspectError::NoDescribe { kind_export });
    }
    Ok(Interface {
        kind,
        version,
        imports,
        exports,
    })
}

/// Splits `ward:plugin/prober@0.1.0` into (`prober`, 0.1.0); `None` for other packages or
/// unversioned names.
fn parse_name(name: &str) -> Option<(&str, Version)> {
    let rest = name.strip_prefix(PACKAGE)?.strip_prefix('/')?;
    let (interface, version) = rest.split_once('@')?;
    Some((interface, Version::parse(version).ok()?))
}

/// Semver compatibility as the component model applies it: same major, and for 0.x the same
/// minor. A plugin built against an older patch (or, from 1.0, minor) version is served.
pub fn is_compatible(version: &Version) -> bool {
    if HOST_VERSION.major == 0 {
        version.major == 0 && version.minor == HOST_VERSION.minor
    } else {
        version.major == HOST_VERSION.major && version.minor <= HOST_VERSION.minor
    }
}

fn compatible_range() -> String {
    if HOST_VERSION.major == 0 {
        format!("0.{}.x", HOST_VERSION.minor)
    } else {
        format!("{}.x", HOST_VERSION.major)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn prober_is_recognised() {
        let i = classify(
            names(&["wasi:io/poll@0.2.6", "ward:plugin/log@0.1.0"]),
            names(&["ward:plugin/plugin@0.1.0", "ward:plugin/prober@0.1.0"]),
        )
        .unwrap();
        assert_eq!(i.kind, Kind::Prober);
        assert_eq!(i.version, Version::new(0, 1, 0));
    }

    #[test]
    fn no_world_names_what_it_exports() {
        let err = classify(vec![], names(&["wasi:cli/run@0.2.0"])).unwrap_err();
        assert!(
            err.to_string().contains("it exports: wasi:cli/run@0.2.0"),
            "{err}"
        );
    }

    #[test]
    fn other_major_is_refused() {
        let err = classify(
            vec![],
            names(&["ward:plugin/plugin@1.0.0", "ward:plugin/prober@1.0.0"]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "built against ward:plugin@1.0.0, which this ward (serving ward:plugin@0.1.0, compatible with 0.1.x) cannot load"
        );
        assert!(
            classify(
                vec![],
                names(&["ward:plugin/plugin@0.2.0", "ward:plugin/notifier@0.2.0"])
            )
            .is_err()
        );
        assert!(
            classify(
                vec![],
                names(&["ward:plugin/plugin@0.1.3", "ward:plugin/notifier@0.1.3"])
            )
            .is_ok()
        );
    }

    #[test]
    fn missing_describe_is_named() {
        let err = classify(vec![], names(&["ward:plugin/discoverer@0.1.0"])).unwrap_err();
        assert!(err.to_string().contains("not ward:plugin/plugin"), "{err}");
    }

    #[test]
    fn garbage_and_core_modules_are_refused() {
        assert!(matches!(inspect(b"hello"), Err(InspectError::NotWasm(_))));
        // The smallest core module: magic + version 1.
        let core = [0, b'a', b's', b'm', 1, 0, 0, 0];
        assert_eq!(inspect(&core), Err(InspectError::CoreModule));
    }
}
