//! The `[playbook]` table: which benchmark and release the playbook is for.

use std::path::Path;
use std::sync::Arc;

use toml_edit::Item;

use super::Context;
use crate::benchmark::{self, Benchmark};

impl Context<'_> {
    pub(super) fn header(
        &mut self,
        root: &toml_edit::Table,
        path: Option<&Path>,
    ) -> Option<(Arc<Benchmark>, String)> {
        let Some(item) = root.get("playbook") else {
            self.problem(
                Some(0..0),
                "missing [playbook] table (with `benchmark` and `release`)",
            );
            return None;
        };
        let Some(table) = item.as_table_like() else {
            self.problem(item.span(), "`playbook` must be a table");
            return None;
        };
        self.unknown_keys(
            table,
            &["benchmark", "release", "xccdf", "description"],
            "[playbook]",
        );
        let span = item.span();
        let id = self.required_string(table, "benchmark", "[playbook]", span.clone())?;
        let release = self.required_string(table, "release", "[playbook]", span.clone())?;
        let description = self
            .string(table, "description", "[playbook]")
            .unwrap_or_default();

        let benchmark: Arc<Benchmark> = if let Some(xccdf) =
            self.string(table, "xccdf", "[playbook]")
        {
            let base = path
                .and_then(Path::parent)
                .unwrap_or_else(|| Path::new("."));
            match Benchmark::from_file(&base.join(&xccdf)) {
                Ok(benchmark) => Arc::new(benchmark),
                Err(error) => {
                    let span = table.get("xccdf").and_then(Item::span);
                    self.problem(span, error.message());
                    return None;
                }
            }
        } else {
            match benchmark::find_embedded(&id) {
                Some(benchmark) => benchmark,
                None => {
                    let known: Vec<&str> = benchmark::embedded()
                        .iter()
                        .map(|b| b.id.as_str())
                        .collect();
                    let span = table.get("benchmark").and_then(Item::span);
                    self.problem(
                        span,
                        format!(
                            "unknown benchmark `{id}` (stigfix embeds: {}; name another with `xccdf = \"file.xml\"`)",
                            known.join(", ")
                        ),
                    );
                    return None;
                }
            }
        };
        if benchmark.id != id {
            let span = table.get("benchmark").and_then(Item::span);
            self.problem(
                span,
                format!(
                    "`benchmark = \"{id}\"` but the XCCDF file is benchmark `{}`",
                    benchmark.id
                ),
            );
            return None;
        }
        if benchmark.release != release {
            let span = table.get("release").and_then(Item::span);
            self.problem(
                span,
                format!(
                    "the playbook is for release {release} but the benchmark is {} ({})",
                    benchmark.release, benchmark.release_info
                ),
            );
            return None;
        }
        Some((benchmark, description))
    }
}
