//! Test guest: a notifier that logs each notification and acknowledges it.

use ward_sdk::{Delivery, Description, NoConfig, Notification, Notifier};

/// The logging notifier.
pub struct LogNotifier;

impl Notifier for LogNotifier {
    type Config = NoConfig;

    fn describe() -> Description {
        Description::new("notifier", "0.1.0", "Test guest: logs notifications.")
    }

    fn notify(_config: NoConfig, notification: &Notification) -> ward_sdk::Result<Delivery> {
        ward_sdk::log::info!(
            "notification for {}: {} alerts ({:?})",
            notification.receiver,
            notification.alerts.len(),
            notification.status
        );
        Ok(Delivery::new(format!(
            "logged {} alerts",
            notification.alerts.len()
        )))
    }
}

ward_sdk::export_notifier!(LogNotifier);
