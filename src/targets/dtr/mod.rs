//! DTR / MSR 2.x: registry settings, the vulnerability database and every repository
//! (docs/reference/api-facts.md §3).
//!
//! Read: `GET /api/v0/meta/settings` (§3.3), `GET /api/v0/imagescan/status` (§3.4: 400 while
//! scanning is off, 403 while the database updates — polled with backoff up to a timeout) and
//! `GET /api/v0/repositories` page by page, following `X-Next-Page-Start` (§3.6; the server caps
//! the page size, so one page is never assumed to be everything). The three start at once.
//!
//! Write: one `POST /api/v0/meta/settings` with only the changed fields (a partial update; it may
//! answer 202), the offline database upload `PUT /api/v0/imagescan/scan/update?online=false` with
//! the multipart field `upload` (§3.5), and `PATCH /api/v0/repositories/{ns}/{name}` per
//! repository, concurrently under a bound. Every request uses HTTP Basic auth (§3.1).
//!
//! The document the playbooks address:
//! - `settings.<field>`: a field of the settings object;
//! - `imagescan.lastDBUpdateFailed`, `imagescan.lastVulnOverridesDBUpdateFailed`;
//! - `repositories."<namespace>/<name>".<field>`, e.g. `repositories.*.scanOnPush`.

mod client;
mod live;
mod stream;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

pub use client::DtrClient;
pub use live::{DtrLive, ScanStatus};

use super::registry::{Connector, Registration, TargetKind};
use super::{Edit, LiveState, Saved, Stop, Streaming, Target, TargetSpec, Written, own_state};
use crate::error::{Error, Result};
use crate::http::api::Api;
use crate::keypath::KeyPath;
use crate::secrets::Service;
use crate::values::display_value;
use live::{SavedState, Sorted, name_list, sort_edits};

pub const KIND: TargetKind = TargetKind::new("dtr");

pub static REGISTRATION: Registration = Registration {
    kind: KIND,
    configured_by: "--dtr-url",
    part_of: None,
    service: Some(Service::Dtr),
    specs: |settings| {
        Ok(settings
            .dtr_url
            .iter()
            .map(|url| TargetSpec::new(KIND, url.as_str()))
            .collect())
    },
    connect: |spec, connector: &Connector| {
        let settings = connector.settings;
        let username = settings.username()?;
        let password = settings
            .passwords
            .password(Service::Dtr, &spec.endpoint, username)?;
        let api = Api::new(settings.http_client()?, &spec.endpoint, "DTR");
        Ok(Box::new(DtrTarget::new(
            spec.clone(),
            DtrClient::new(
                api,
                username,
                password,
                settings.dtr.clone(),
                settings.output.clone(),
            ),
        )))
    },
};

const SETTINGS: &str = "/api/v0/meta/settings";
const VERSION: &str = "/api/v0/admin/version";
/// Harbor's (MSR 4's) system information, to recognise it.
const HARBOR_SYSTEMINFO: &str = "/api/v2.0/systeminfo";
const SCAN_STATUS: &str = "/api/v0/imagescan/status";
const REPOSITORIES: &str = "/api/v0/repositories";
const UPLOAD: &str = "/api/v0/imagescan/scan/update?online=false";
/// Asked for on every page; the server answers with at most its own cap.
const PAGE_SIZE: usize = 1000;
/// Pages read ahead of the one being parsed and planned.
const PAGES_AHEAD: usize = 8;
/// Repository fields stigfix reads and may patch.
const REPO_FIELDS: [&str; 4] = ["scanOnPush", "immutableTags", "visibility", "tagLimit"];
/// The status fields the STIG check reads (§3.4).
const SCAN_FIELDS: [&str; 2] = ["lastDBUpdateFailed", "lastVulnOverridesDBUpdateFailed"];
/// Repositories named in a plan's diff before "and N more".
const NAMED: usize = 5;

/// How to run against one DTR.
#[derive(Clone, Debug)]
pub struct DtrOptions {
    /// Repository updates in flight at once.
    pub concurrency: usize,
    /// An offline vulnerability database to upload when the sync has failed (`--cve-db`).
    pub cve_db: Option<PathBuf>,
    /// How long to wait while `imagescan/status` answers 403 (database updating).
    pub status_timeout: Duration,
}

impl Default for DtrOptions {
    fn default() -> Self {
        DtrOptions {
            concurrency: 16,
            cve_db: None,
            status_timeout: Duration::from_secs(120),
        }
    }
}

/// One DTR / MSR.
pub struct DtrTarget {
    spec: TargetSpec,
    client: DtrClient,
}

impl DtrTarget {
    pub fn new(spec: TargetSpec, client: DtrClient) -> DtrTarget {
        DtrTarget { spec, client }
    }

    fn base(&self) -> &str {
        self.client.api().base()
    }

    /// Write what is not a repository: the settings (one partial POST), then the offline
    /// database upload.
    async fn write_head(&self, sorted: &Sorted<'_>, stop: &Stop) -> Result<()> {
        if !sorted.settings.is_empty() {
            self.client.post_settings(&sorted.settings).await?;
        }
        if sorted.upload {
            // The upload needs scanning on; a sync that enabling scanning started must finish.
            if matches!(self.client.read_scan_status().await?, ScanStatus::Off) {
                return Err(Error::new(format!(
                    "DTR {}: scanning is off, so the vulnerability database cannot be uploaded",
                    self.base()
                ))
                .with_hint("enable scanning (settings.scanningEnabled) and run apply again"));
            }
            stop.check()?;
            self.client.upload_database().await?;
        }
        Ok(())
    }

    /// The state after a write: the settings and scan status read back, the repositories as
    /// read with the PATCH answers (each checked) over them — reading every page again would
    /// double the run on a registry with thousands of repositories.
    async fn state_after(
        &self,
        before: &DtrLive,
        mut repositories: BTreeMap<String, Map<String, Value>>,
        answered: Vec<(String, Map<String, Value>)>,
    ) -> Result<DtrLive> {
        let (settings, scan) =
            tokio::try_join!(self.client.read_settings(), self.client.read_scan_status())?;
        for (repository, fields) in answered {
            repositories.entry(repository).or_default().extend(fields);
        }
        let mut after = DtrLive::new(
            self.base().to_string(),
            settings,
            scan,
            repositories,
            self.client.options.cve_db.clone(),
        );
        after.product = before.product.clone();
        Ok(after)
    }
}

#[async_trait::async_trait]
impl Target for DtrTarget {
    fn spec(&self) -> &TargetSpec {
        &self.spec
    }

    fn request_count(&self) -> usize {
        self.client.api().request_count()
    }

    async fn read(&self) -> Result<Box<dyn LiveState>> {
        Ok(Box::new(self.client.read().await?))
    }

    fn streaming(&self) -> Option<&dyn Streaming> {
        Some(self)
    }

    /// Write the edits: settings first (one partial POST), then the database upload, then the
    /// repositories (concurrently); read the settings and scan status back, and take the
    /// repositories from the PATCH answers (each checked).
    async fn apply(
        &self,
        live: &dyn LiveState,
        edits: &[Edit],
        stop: &Stop,
    ) -> Result<Box<dyn LiveState>> {
        let live: &DtrLive = own_state(live, &self.spec)?;
        let sorted = sort_edits(edits)?;
        let mut patches: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        for (repository, field, value) in &sorted.repositories {
            if !live.repositories.contains_key(*repository) {
                return Err(Error::new(format!(
                    "repository {repository} is not on DTR {} any more",
                    self.base()
                )));
            }
            patches
                .entry(repository.to_string())
                .or_default()
                .insert(field.to_string(), value.clone());
        }
        self.write_head(&sorted, stop).await?;
        let answered = self
            .client
            .patch_repositories(patches.into_iter().collect(), "updating", stop)
            .await?;
        Ok(Box::new(
            self.state_after(live, live.repositories.clone(), answered)
                .await?,
        ))
    }

    /// Write back the saved values of the fields and repositories in `scope`, then read
    /// everything back and check them.
    async fn restore(
        &self,
        _now: &dyn LiveState,
        saved: &Saved,
        scope: &[Written],
    ) -> Result<Box<dyn LiveState>> {
        let scope: Vec<KeyPath> = scope.iter().map(|written| written.path.clone()).collect();
        let state: SavedState = serde_json::from_slice(&saved.bytes).map_err(|error| {
            Error::new(format!(
                "snapshot file {} is not a DTR snapshot ({error})",
                saved.file
            ))
        })?;
        let mut settings = Map::new();
        let mut patches: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        for path in &scope {
            match path.segments() {
                [root, field] if root == "settings" => {
                    if let Some(value) = state.settings.get(field).filter(|v| !v.is_null()) {
                        settings.insert(field.clone(), value.clone());
                    }
                }
                [root, repository, field] if root == "repositories" => {
                    if let Some(value) = state
                        .repositories
                        .get(repository)
                        .and_then(|fields| fields.get(field))
                        .filter(|v| !v.is_null())
                    {
                        patches
                            .entry(repository.clone())
                            .or_default()
                            .insert(field.clone(), value.clone());
                    }
                }
                _ => {}
            }
        }
        if !settings.is_empty() {
            self.client.post_settings(&settings).await?;
        }
        // A restore is not cut short: every saved value in scope goes back.
        self.client
            .patch_repositories(patches.into_iter().collect(), "restoring", &Stop::new())
            .await?;
        // A restore reads everything back: it must prove what it put back is in place.
        let after = self.client.read().await?;
        let in_scope = |edit: &Edit| scope.contains(&edit.path);
        let differing: Vec<String> = after
            .edits_to_saved(saved)
            .iter()
            .filter(|edit| in_scope(edit))
            .map(|edit| {
                format!(
                    "{} is {}",
                    edit.path,
                    edit.before
                        .as_ref()
                        .map_or_else(|| "(not set)".into(), display_value)
                )
            })
            .collect();
        if !differing.is_empty() {
            return Err(Error::new(format!(
                "DTR {} did not return to the snapshot's values after the restore: {}",
                self.base(),
                name_list(&differing.iter().map(String::as_str).collect::<Vec<_>>())
            )));
        }
        Ok(Box::new(after))
    }
}
