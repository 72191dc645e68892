//! Where samples go.

/// Receives samples, one call per sample.
///
/// `name` and the label slices borrow from the sampler's buffers and are valid for the call
/// only: a sink that keeps them copies them. Label names are node_exporter's or
/// process-exporter's; a label whose value is empty is passed as such (Prometheus treats it
/// as absent).
pub trait Sink {
    /// One sample of metric `name` with `labels` (name, value) and `value`.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64);
}

impl<F: FnMut(&str, &[(&str, &str)], f64)> Sink for F {
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self(name, labels, value)
    }
}
