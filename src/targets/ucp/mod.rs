//! UCP / MKE: the `config-toml` document (docs/reference/api-facts.md §1, §2).
//!
//! Read: `GET /api/ucp/config-toml` with the run's UCP session (§2.3). Write: `PUT
//! /api/ucp/config-toml` with the whole edited document (§2.4). The server re-serialises the
//! document and drops keys it does not know, so a write is verified by re-reading and comparing
//! values, never bytes (docs/design.md, "The targets").

mod live;
pub mod toml_doc;
mod version;

pub use version::{product, unsupported_mke4};

use std::sync::Arc;

use reqwest::Method;

pub use live::UcpLive;

use super::registry::{Connector, Registration, TargetKind};
use super::{Document, Edit, LiveState, Product, Saved, Target, TargetSpec, Written, own_state};
use crate::error::{Error, Result};
use crate::http::session::UcpSession;
use crate::keypath::KeyPath;
use crate::learned::Learned;
use crate::secrets::Service;
use crate::values::{display_value, values_equal};

pub const KIND: TargetKind = TargetKind::new("ucp");

pub static REGISTRATION: Registration = Registration {
    kind: KIND,
    configured_by: "--ucp-url",
    part_of: None,
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
            Arc::clone(&connector.learned),
        )))
    },
};

const CONFIG_PATH: &str = "/api/ucp/config-toml";
const TOML: &str = "application/toml";

/// One UCP / MKE cluster's configuration.
pub struct UcpTarget {
    spec: TargetSpec,
    session: Arc<UcpSession>,
    learned: Arc<Learned>,
    /// The product, read once per run.
    product: tokio::sync::OnceCell<Option<Product>>,
}

impl UcpTarget {
    pub fn new(spec: TargetSpec, session: Arc<UcpSession>, learned: Arc<Learned>) -> UcpTarget {
        UcpTarget {
            spec,
            session,
            learned,
            product: tokio::sync::OnceCell::new(),
        }
    }

    /// `GET /version`: the product and version (`None` when the server does not say).
    async fn read_product(&self) -> Result<Option<Product>> {
        let api = self.session.api();
        let answer = self.session.get("/version", "application/json").await?;
        if !answer.status.is_success() {
            return Ok(None);
        }
        version::product(&answer.body, api.base())
    }

    fn base(&self) -> &str {
        self.session.api().base()
    }

    /// `GET /version` and `GET /api/ucp/config-toml` (at once, each retried on transient
    /// failures), with what is known about the settings this version lacks.
    pub async fn read_config(&self) -> Result<UcpLive> {
        let api = self.session.api();
        let (product, answer) = tokio::join!(
            self.product.get_or_try_init(|| self.read_product()),
            self.session.get(CONFIG_PATH, TOML)
        );
        let product = product?.clone();
        let answer = api.success("GET", CONFIG_PATH, answer?)?;
        let source = format!("GET {}", api.url(CONFIG_PATH));
        let mut live = UcpLive::parse(answer.body, source).map_err(|error| {
            error.with_hint("the server sent a malformed document; nothing was written")
        })?;
        if let Some(product) = &product {
            for missing in self.learned.missing(&self.spec, product) {
                live.missing.insert(
                    missing.path.clone(),
                    format!("{product} has no `{}` ({})", missing.path, missing.how),
                );
            }
        }
        live.product = product;
        Ok(live)
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
        let mut after = self.read_config().await?;
        // A setting the server does not have is dropped from the document silently (docs/reference/api-facts.md
        // §2.4): it comes back not set. A value that comes back different was refused.
        let (dropped, changed): (Vec<&Edit>, Vec<&Edit>) = edits
            .iter()
            .filter(|edit| {
                !after
                    .lookup(&edit.path)
                    .is_some_and(|value| values_equal(&value, &edit.after))
            })
            .partition(|edit| after.lookup(&edit.path).is_none());
        if !changed.is_empty() || dropped.len() == edits.len() {
            let mismatches: Vec<String> = changed
                .iter()
                .chain(&dropped)
                .map(|edit| {
                    let now = after
                        .lookup(&edit.path)
                        .map_or_else(|| "(not set)".to_string(), |value| display_value(&value));
                    format!("`{}` is {now}", edit.path)
                })
                .collect();
            return Err(Error::new(format!(
                "UCP {} accepted the write but did not keep it: {}",
                self.base(),
                mismatches.join(", ")
            )));
        }
        // The rest took: the server lacks the dropped settings. Learn it, so no later plan
        // proposes the same write again; their rules stay open findings.
        let product = after
            .product
            .clone()
            .unwrap_or_else(|| Product::new("UCP/MKE", None));
        for edit in dropped {
            let how = "it dropped the setting from a verified write";
            self.learned.record(
                &self.spec,
                &product,
                &edit.path,
                how,
                &crate::settings::now_rfc3339(),
            )?;
            after.missing.insert(
                edit.path.clone(),
                format!("{product} has no `{}` ({how})", edit.path),
            );
            after.learned.push(format!(
                "{product} has no `{}`: it dropped it from the write; the rules that want it stay open findings, and later plans do not write it again (recorded in {})",
                edit.path,
                self.learned.path().display()
            ));
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
