//! Which UCP/MKE a cluster runs, and what its configuration has.
//!
//! `GET /version` answers Docker-Engine-style JSON whose `Version` is `ucp/<x.y.z>`
//! (docs/reference/api-facts.md §2.5). UCP was renamed MKE at 3.4. MKE 4k (k0s) has no UCP
//! controller API: its `/version` is Kubernetes' (`gitVersion` `v1.32.3+k0s`,
//! docs/reference/next-phase.md §5.2) — stigfix says so instead of failing oddly.

use crate::error::{Error, Result};
use crate::keypath::KeyPath;
use crate::targets::Product;

/// The product a `/version` answer names. `Err` for an MKE 4k cluster, which stigfix does not
/// support.
pub fn product(body: &str, url: &str) -> Result<Option<Product>> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        return Ok(None);
    };
    if let Some(kubernetes) = value.get("gitVersion").and_then(|v| v.as_str()) {
        return Err(unsupported_mke4(url, kubernetes));
    }
    let Some(version) = value
        .get("Version")
        .and_then(|v| v.as_str())
        .and_then(|v| v.strip_prefix("ucp/"))
    else {
        return Ok(None);
    };
    let mke_component = value
        .get("Components")
        .and_then(|components| components.as_array())
        .is_some_and(|components| {
            components.iter().any(|component| {
                component
                    .get("Name")
                    .and_then(|name| name.as_str())
                    .is_some_and(|name| name.contains("Mirantis"))
            })
        });
    let product = Product::new("UCP", Some(version));
    let renamed = product
        .major_minor()
        .is_some_and(|(major, minor)| (major, minor) >= (3, 4));
    Ok(Some(if mke_component || renamed {
        Product::new("MKE", Some(version))
    } else {
        product
    }))
}

/// The error for a cluster that is MKE 4k.
pub fn unsupported_mke4(url: &str, kubernetes: &str) -> Error {
    Error::new(format!(
        "{url} is MKE 4 (Kubernetes {kubernetes}): it has no UCP controller API and no config-toml, so stigfix cannot plan it"
    ))
    .with_hint("stigfix supports UCP 3.x and MKE 3.x; MKE 4k is configured with `mkectl` (see the README, \"Supported versions\")")
}

/// Why `product` has no `path`, when its configuration reference says so. Other missing
/// settings are learned when a server drops them (`crate::learned`).
pub fn documented_missing(product: &Product, path: &KeyPath) -> Option<String> {
    let (major, minor) = product.major_minor()?;
    match path.to_string().as_str() {
        // Documented only by the UCP 3.0/3.1 configuration reference (docs/reference/api-facts.md §1.2
        // `[cluster_config]`, S2); the UCP 3.2/3.3 and MKE 3.x references have no such key.
        "cluster_config.min_tls_version" if (major, minor) >= (3, 2) => Some(format!(
            "{product} has no `{path}` (only the UCP 3.0/3.1 configuration reference documents it)"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_name_the_product() {
        let ucp = r#"{"Version":"ucp/3.3.5","Components":[{"Name":"Universal Control Plane","Version":"3.3.5"}]}"#;
        assert_eq!(
            product(ucp, "https://u").unwrap(),
            Some(Product::new("UCP", Some("3.3.5")))
        );
        let mke = r#"{"Version":"ucp/3.7.3"}"#;
        assert_eq!(
            product(mke, "https://u").unwrap(),
            Some(Product::new("MKE", Some("3.7.3")))
        );
        let mke4 = r#"{"major":"1","minor":"32","gitVersion":"v1.32.3+k0s"}"#;
        let error = product(mke4, "https://u").unwrap_err();
        assert!(
            error
                .message()
                .contains("is MKE 4 (Kubernetes v1.32.3+k0s)")
        );
        assert_eq!(product("not json", "https://u").unwrap(), None);
    }

    #[test]
    fn min_tls_version_exists_only_up_to_ucp_3_1() {
        let path = KeyPath::parse("cluster_config.min_tls_version").unwrap();
        assert!(documented_missing(&Product::new("UCP", Some("3.1.15")), &path).is_none());
        let reason = documented_missing(&Product::new("UCP", Some("3.3.5")), &path).unwrap();
        assert!(reason.starts_with("UCP 3.3.5 has no `cluster_config.min_tls_version`"));
        assert!(documented_missing(&Product::new("MKE", Some("3.7.3")), &path).is_some());
        assert!(documented_missing(&Product::new("MKE", None), &path).is_none());
    }
}
