//! The canonical rendering of the configuration (docs/reference/api-facts.md §1.5 B, §5 item 3), as served by
//! `GET /api/ucp/config-toml`.

use std::fmt::Write as _;

use super::UcpConfig;
use super::schema::{REGISTRY_KEYS, TABLES, Val};

impl UcpConfig {
    /// The canonical rendering (docs/reference/api-facts.md §1.5 B, §5 item 3): every known table in schema
    /// order, keys sorted, 2-space indentation per nesting level, a blank line between
    /// top-level tables, `[[registries]]` entries last, a final newline.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let release = self.release();
        let mut first = true;
        for (table, row) in TABLES.iter().zip(&self.values) {
            if !release.has(table.avail) {
                continue;
            }
            let depth = table.path.matches('.').count();
            if depth == 0 && !first {
                out.push('\n');
            }
            first = false;
            let _ = writeln!(out, "{:indent$}[{}]", "", table.path, indent = depth * 2);
            let mut keys: Vec<(&str, &Val)> = table
                .keys
                .iter()
                .zip(row.iter())
                .filter(|(key, _)| release.has(key.avail))
                .map(|(key, value)| (key.name, value))
                .collect();
            keys.sort_by(|a, b| a.0.cmp(b.0));
            for (name, value) in keys {
                let _ = writeln!(
                    out,
                    "{:indent$}{name} = {}",
                    "",
                    render_value(value),
                    indent = (depth + 1) * 2
                );
            }
        }
        for entry in &self.registries {
            out.push_str("\n[[registries]]\n");
            for (name, value) in REGISTRY_KEYS.iter().zip(entry) {
                let _ = writeln!(out, "  {name} = {}", quote(value));
            }
        }
        out
    }
}

fn render_value(value: &Val) -> String {
    match value {
        Val::Bool(b) => b.to_string(),
        Val::Int(i) => i.to_string(),
        Val::Str(s) => quote(s),
        Val::StrList(items) => {
            let inner: Vec<String> = items.iter().map(|s| quote(s)).collect();
            format!("[{}]", inner.join(", "))
        }
    }
}

/// A TOML basic string with the escapes the spec requires (`\"`, `\\`, control characters).
pub(super) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_control() && (c as u32) < 0x80 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
