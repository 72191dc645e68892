//! The SDK's one wit-bindgen site. Nothing here is public API: the SDK converts between these
//! generated types and its hand-written ones.
//!
//! The worlds of `wit/worlds.wit` all export `plugin`, and wit-bindgen names its export macros
//! after the exported interface, so generating two of those worlds in one crate collides. The
//! SDK therefore generates the same worlds in pieces, from inline worlds over the same package:
//!
//! - `host`: every host import (`log`, `tls`, `query`), generated once and remapped below;
//! - `plugin`: the `plugin` export every kind shares;
//! - one module per kind: that kind's imports and its export.
//!
//! An `export_<kind>!` macro invokes the export macros of `plugin` and of its kind. Export
//! macros are public (`pub_export_macro`), so the custom section describing a world's exports
//! is emitted only in the plugin crate that invokes them: a prober component exports `plugin` +
//! `prober` and nothing else. Imports the plugin does not call are dropped when the component
//! is made, so `tls` appears only in components that use [`crate::tls`].

#![allow(unsafe_code, missing_docs, unreachable_pub, clippy::all)]

/// Host imports: `log`, `tls`, `query` (and the shared `types`).
pub mod host {
    wit_bindgen::generate!({
        inline: "
            package ward:sdk;
            world host {
                import ward:plugin/log@0.1.0;
                import ward:plugin/tls@0.1.0;
                import ward:plugin/query@0.1.0;
            }
        ",
        path: "../wit",
        world: "ward:sdk/host",
        generate_all,
    });
}

/// The `plugin` export (`describe`) of every kind.
pub mod plugin {
    wit_bindgen::generate!({
        inline: "
            package ward:sdk;
            world plugin {
                export ward:plugin/plugin@0.1.0;
            }
        ",
        path: "../wit",
        world: "ward:sdk/plugin",
        pub_export_macro: true,
        default_bindings_module: "ward_sdk::__private::plugin",
        with: {
            "ward:plugin/types@0.1.0": crate::bindings::host::ward::plugin::types,
        },
    });
}

/// The `prober-plugin` world, less `plugin`.
pub mod prober {
    wit_bindgen::generate!({
        inline: "
            package ward:sdk;
            world prober {
                import ward:plugin/log@0.1.0;
                import ward:plugin/tls@0.1.0;
                export ward:plugin/prober@0.1.0;
            }
        ",
        path: "../wit",
        world: "ward:sdk/prober",
        pub_export_macro: true,
        default_bindings_module: "ward_sdk::__private::prober",
        with: {
            "ward:plugin/types@0.1.0": crate::bindings::host::ward::plugin::types,
            "ward:plugin/log@0.1.0": crate::bindings::host::ward::plugin::log,
            "ward:plugin/tls@0.1.0": crate::bindings::host::ward::plugin::tls,
        },
    });
}

/// The `discoverer-plugin` world, less `plugin`.
pub mod discoverer {
    wit_bindgen::generate!({
        inline: "
            package ward:sdk;
            world discoverer {
                import ward:plugin/log@0.1.0;
                export ward:plugin/discoverer@0.1.0;
            }
        ",
        path: "../wit",
        world: "ward:sdk/discoverer",
        pub_export_macro: true,
        default_bindings_module: "ward_sdk::__private::discoverer",
        with: {
            "ward:plugin/types@0.1.0": crate::bindings::host::ward::plugin::types,
            "ward:plugin/log@0.1.0": crate::bindings::host::ward::plugin::log,
        },
    });
}

/// The `alert-rule-plugin` world, less `plugin`.
pub mod alert_rule {
    wit_bindgen::generate!({
        inline: "
            package ward:sdk;
            world alert-rule {
                import ward:plugin/log@0.1.0;
                import ward:plugin/query@0.1.0;
                export ward:plugin/alert-rule@0.1.0;
            }
        ",
        path: "../wit",
        world: "ward:sdk/alert-rule",
        pub_export_macro: true,
        default_bindings_module: "ward_sdk::__private::alert_rule",
        with: {
            "ward:plugin/types@0.1.0": crate::bindings::host::ward::plugin::types,
            "ward:plugin/log@0.1.0": crate::bindings::host::ward::plugin::log,
            "ward:plugin/query@0.1.0": crate::bindings::host::ward::plugin::query,
        },
    });
}

/// The `notifier-plugin` world, less `plugin`.
pub mod notifier {
    wit_bindgen::generate!({
        inline: "
            package ward:sdk;
            world notifier {
                import ward:plugin/log@0.1.0;
                export ward:plugin/notifier@0.1.0;
            }
        ",
        path: "../wit",
        world: "ward:sdk/notifier",
        pub_export_macro: true,
        default_bindings_module: "ward_sdk::__private::notifier",
        with: {
            "ward:plugin/types@0.1.0": crate::bindings::host::ward::plugin::types,
            "ward:plugin/log@0.1.0": crate::bindings::host::ward::plugin::log,
        },
    });
}
