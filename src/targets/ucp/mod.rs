//! UCP / MKE: the `config-toml` document (docs/reference/api-facts.md §1, §2).
//!
//! Read: `GET /api/ucp/config-toml` with the run's UCP session (§2.3). Write: `PUT
//! /api/ucp/config-toml` with the whole edited document (§2.4). The server re-serialises the
//! document and drops keys it does not know, so a write is verified by re-reading and comparing
//! values, never bytes (docs/design.md, "The targets").

mod live;
pub mod toml_doc;

use std::sync::Arc;

use reqwest::Method;

pub use live::UcpLive;

use super::registry::{Connector, Registration, TargetKind};
use super::{Document, Edit, LiveState, Saved, Target, TargetSpec, Written, own_state};
use crate::error::{Error, Result};
use crate::http::session::UcpSession;
use crate::keypath::KeyPath;
use crate::secrets::Service;
use crate::values::{display_value, values_equal};

pub const KIND: TargetKind = TargetKind::new("ucp");

pub static REGISTRATION: Registration = Registration {
    kind: KIND,
    configured_by: "--ucp-url",
    service: Some(Service::Ucp),
    specs: |settings| {
        Ok(settings
            .ucp_url
            .iter()
            .map(|url| TargetSpec::new(KIND, url.as_str()))
            .collect())
    },
    connect: |spec, connector: &Connector| {
        Ok(Box::new(UcpTarget::new(
            spec.clone(),
            connector.ucp_session(&spec.endpoint)?,
        )))
    },
};

const CONFIG_PATH: &str = "/api/ucp/config-toml";
const TOML: &str = "application/toml";

/// One UCP / MKE cluster's configuration.
pub struct UcpTarget {
    spec: TargetSpec,
    session: Arc<UcpSession>,
}

impl UcpTarget {
    pub fn new(spec: TargetSpec, session: Arc<UcpSession>) -> UcpTarget {
        UcpTarget { spec, session }
    }

    fn base(&self) -> &str {
        self.session.api().base()
    }

    /// `GET /api/ucp/config-toml`, retried on transient failures.
    pub async fn read_config(&self) -> Result<UcpLive> {
        let api = self.session.api();
        let answer = self.session.get(CONFIG_PATH, TOML).await?;
        let answer = api.success("GET", CONFIG_PATH, answer)?;
        let source = format!("GET {}", api.url(CONFIG_PATH));
        UcpLive::parse(answer.body, source).map_err(|error| {
            error.with_hint("the server sent a malformed document; nothing was written")
        })
    }

    /// `PUT /api/ucp/config-toml` with a whole document. Not retried: a write is verified.
    async fn write(&self, document: &str) -> Result<()> {
        let answer = self
            .session
            .send(Method::PUT, CONFIG_PATH, TOML, Some((document, TOML)))
            .await
            .map_err(|error| error.into_error("UCP write", "PUT"))?;
        self.session.api().success("PUT", CONFIG_PATH, answer)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Target for UcpTarget {
    fn spec(&self) -> &TargetSpec {
        &self.spec
    }

    fn request_count(&self) -> usize {
        self.session.api().request_count()
    }

    async fn read(&self) -> Result<Box<dyn LiveState>> {
        Ok(Box::new(self.read_config().await?))
    }

    /// Write the edits into the live document and verify every value by reading it back.
    async fn apply(
        &self,
        live: &dyn LiveState,
        edits: &[Edit],
        _stop: &super::Stop,
    ) -> Result<Box<dyn LiveState>> {
        let live: &UcpLive = own_state(live, &self.spec)?;
        let document = toml_doc::apply_edits(&live.text, edits)?;
        self.write(&document).await?;
        let after = self.read_config().await?;
        let mismatches: Vec<String> = edits
            .iter()
            .filter(|edit| {
                !after
                    .lookup(&edit.path)
                    .is_some_and(|value| values_equal(&value, &edit.after))
            })
            .map(|edit| {
                let now = after
                    .lookup(&edit.path)
                    .map_or_else(|| "(not set)".to_string(), |value| display_value(&value));
                format!("`{}` is {now}", edit.path)
            })
            .collect();
        if !mismatches.is_empty() {
            return Err(Error::new(format!(
                "UCP {} accepted the write but did not keep it: {}",
                self.base(),
                mismatches.join(", ")
            )));
        }
        Ok(Box::new(after))
    }

    /// Put the saved values of `scope` back. When nothing else changed since, that is the exact
    /// saved bytes; otherwise only those keys are set back in the live document, so a change
    /// somebody else made in the meantime stays. Verified on the keys restored: a key the saved
    /// document lacked may come back as the server's default.
    async fn restore(
        &self,
        now: &dyn LiveState,
        saved: &Saved,
        scope: &[Written],
    ) -> Result<Box<dyn LiveState>> {
        let scope: Vec<KeyPath> = scope.iter().map(|written| written.path.clone()).collect();
        let now: &UcpLive = own_state(now, &self.spec)?;
        let original = String::from_utf8(saved.bytes.clone())
            .map_err(|_| Error::new(format!("snapshot file {} is not UTF-8 text", saved.file)))?;
        let expected = toml_doc::parse_values(&original, "the snapshot's config")?;
        let document = now.restored_document(&original, &scope)?;
        self.write(&document).await?;
        let after = self.read_config().await?;
        let differing = after.not_restored(&expected, &scope);
        if !differing.is_empty() {
            return Err(Error::new(format!(
                "UCP {} did not return to the snapshot's values after the restore (differs at {})",
                self.base(),
                differing.join(", ")
            )));
        }
        Ok(Box::new(after))
    }
}
