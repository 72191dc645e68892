//! Test guest: an alert rule that runs the instant query `up` and fires one alert when the
//! result is non-empty.

use ward_sdk::{Alert, AlertRule, Capability, Description, NoConfig, query};

/// The `up`-is-present rule.
pub struct UpPresent;

impl AlertRule for UpPresent {
    type Config = NoConfig;

    fn describe() -> Description {
        Description::new(
            "alert-rule",
            "0.1.0",
            "Test guest: fires when `up` has series.",
        )
        .capability(Capability::Query)
    }

    fn evaluate(_config: NoConfig, now_ms: i64) -> ward_sdk::Result<Vec<Alert>> {
        let value = query::instant("up", now_ms)?;
        if value.is_empty() {
            return Ok(Vec::new());
        }
        let count = value.series().len();
        Ok(vec![
            Alert::firing(count as f64)
                .label("alertname", "UpPresent")
                .annotation("summary", format!("{count} series of up")),
        ])
    }
}

ward_sdk::export_alert_rule!(UpPresent);
