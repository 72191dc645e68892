//! `/etc/os-release` (else `/usr/lib/os-release`) under the root file system:
//! node_exporter's `os` collector.
//!
//! Read on the first round and kept: a distribution upgrade is seen after a restart.

use super::Cx;
use crate::Sink;
use crate::files::ROOTFS;
use crate::parse::{lines, str_of};

/// os-release keys and node_exporter's label for each, in label order.
const KEYS: [(&str, &str); 12] = [
    ("BUILD_ID", "build_id"),
    ("ID", "id"),
    ("ID_LIKE", "id_like"),
    ("IMAGE_ID", "image_id"),
    ("IMAGE_VERSION", "image_version"),
    ("NAME", "name"),
    ("PRETTY_NAME", "pretty_name"),
    ("VARIANT", "variant"),
    ("VARIANT_ID", "variant_id"),
    ("VERSION", "version"),
    ("VERSION_CODENAME", "version_codename"),
    ("VERSION_ID", "version_id"),
];
const ID: usize = 1;
const ID_LIKE: usize = 2;
const NAME: usize = 5;
const VERSION_ID: usize = 11;

/// The values read, once.
#[derive(Default)]
pub(crate) struct State {
    read: bool,
    values: Option<[String; 12]>,
}

pub(super) fn collect(cx: &mut Cx, state: &mut State, sink: &mut dyn Sink) {
    if !state.read {
        state.read = true;
        let found = cx
            .files
            .read_dyn(ROOTFS, "etc/os-release", &mut cx.buf)
            .is_ok()
            || cx.files.read(ROOTFS, "usr/lib/os-release", &mut cx.buf);
        if found {
            state.values = Some(parse(&cx.buf));
        }
    }
    if let Some(values) = &state.values {
        emit(values, sink);
    }
}

pub(crate) fn parse(text: &[u8]) -> [String; 12] {
    let mut values: [String; 12] = Default::default();
    for line in lines(text) {
        let Some((key, value)) = str_of(line).and_then(|l| l.trim().split_once('=')) else {
            continue;
        };
        if let Some(i) = KEYS.iter().position(|(k, _)| *k == key) {
            values[i] = unquote(value.trim());
        }
    }
    values
}

/// A shell-style value: `"..."` with backslash escapes, `'...'`, or bare.
fn unquote(v: &str) -> String {
    let bytes = v.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(b'\''), Some(b'\'')) if v.len() >= 2 => v[1..v.len() - 1].to_string(),
        (Some(b'"'), Some(b'"')) if v.len() >= 2 => {
            let mut out = String::with_capacity(v.len());
            let mut chars = v[1..v.len() - 1].chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => out.extend(chars.next()),
                    c => out.push(c),
                }
            }
            out
        }
        _ => v.to_string(),
    }
}

fn emit(values: &[String; 12], sink: &mut dyn Sink) {
    let labels: [(&str, &str); 12] = std::array::from_fn(|i| (KEYS[i].1, values[i].as_str()));
    sink.sample("node_os_info", &labels, 1.0);
    // node_exporter's version: the leading `major[.minor]` of VERSION_ID, when positive.
    let v = &values[VERSION_ID];
    let end = v
        .char_indices()
        .scan(false, |dot, (i, c)| match c {
            '0'..='9' => Some(i + 1),
            '.' if !*dot && i > 0 => {
                *dot = true;
                Some(i + 1)
            }
            _ => None,
        })
        .last()
        .unwrap_or(0);
    if let Ok(version) = v[..end].trim_end_matches('.').parse::<f64>()
        && version > 0.0
    {
        sink.sample(
            "node_os_version",
            &[
                ("id", &values[ID]),
                ("id_like", &values[ID_LIKE]),
                ("name", &values[NAME]),
            ],
            version,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Collect;

    #[test]
    fn debian() {
        let text = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
garbage
"#;
        let mut sink = Collect::default();
        emit(&parse(text.as_bytes()), &mut sink);
        assert_eq!(
            sink.get(
                "node_os_info",
                &[
                    ("id", "debian"),
                    ("pretty_name", "Debian GNU/Linux 12 (bookworm)"),
                    ("version_codename", "bookworm"),
                    ("build_id", "")
                ]
            ),
            Some(1.0)
        );
        assert_eq!(
            sink.get("node_os_version", &[("name", "Debian GNU/Linux")]),
            Some(12.0)
        );
    }

    #[test]
    fn versions() {
        for (id, want) in [
            ("22.04", Some(22.04)),
            ("3.18.4", Some(3.18)),
            ("rolling", None),
            ("", None),
            ("0", None),
        ] {
            let mut values: [String; 12] = Default::default();
            values[VERSION_ID] = id.into();
            let mut sink = Collect::default();
            emit(&values, &mut sink);
            assert_eq!(sink.get("node_os_version", &[]), want, "{id}");
        }
        assert_eq!(unquote(r#""a \"b\" \\c""#), r#"a "b" \c"#);
        assert_eq!(unquote("'x'"), "x");
        assert_eq!(unquote("\""), "\"");
    }
}
