//! The host's only `bindgen!` site: one Rust view of the WIT package per supported major
//! version of it.
//!
//! Each version module is generated from a world that imports every host interface and exports
//! every plugin interface of that version, so one linker serves all four kinds; a component
//! uses the subset its own world needs. The per-interface `GuestIndices` are looked up from an
//! `InstancePre` at load time, which is where a component that lacks an export is refused.
//!
//! Wasmtime resolves imports and export names semver-compatibly (`0.1.0` matches `0.1.x`), so
//! a plugin built against an older minor version of the interface keeps working. A new
//! *major* version (for 0.x: a new minor) gets a new module here, with the frozen WIT of the
//! old one kept under `wit/deps/`, and the loader dispatches on the version it reads from the
//! component (see [`super::inspect`]).

/// `ward:plugin@0.1.x`.
pub mod v0_1 {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../wit",
        inline: "
            package ward:host;
            world host {
                import ward:plugin/log@0.1.0;
                import ward:plugin/tls@0.1.0;
                import ward:plugin/query@0.1.0;
                export ward:plugin/plugin@0.1.0;
                export ward:plugin/prober@0.1.0;
                export ward:plugin/discoverer@0.1.0;
                export ward:plugin/alert-rule@0.1.0;
                export ward:plugin/notifier@0.1.0;
            }
        ",
        world: "ward:host/host",
        imports: { default: async },
        exports: { default: async },
    });

    pub use self::exports::ward::plugin::{alert_rule, discoverer, notifier, plugin, prober};
    pub use self::ward::plugin::{log, query, tls, types};
}
