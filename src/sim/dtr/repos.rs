//! Repositories and tags (docs/reference/api-facts.md §3.6): the repository model, the capped page size with
//! opaque cursors, the single-repository GET and PATCH, and the tag list.

use std::ops::Bound;

use hyper::StatusCode;
use hyper::header::{HeaderName, HeaderValue};
use serde_json::{Map, Value as Json, json};

use super::auth::{Principal, require_admin};
use super::encoding::{fnv1a, query_get, uuid_from};
use super::state::RepoKey;
use super::{DtrHandle, internal_error, json_text, json_type, parse_object, truncate};
use crate::sim::{Outcome, error_reply, json_reply, lock, text_reply};

/// Page size when a list request has no `pageSize` (the value used in the docs, §3.6).
const DEFAULT_PAGE_SIZE: usize = 10;

/// Header names of the paging protocol (§3.6).
const NEXT_PAGE_START: &str = "x-next-page-start";
const RESOURCE_COUNT: &str = "x-resource-count";

/// Repository visibility (§3.6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SimVisibility {
    Public,
    /// Repositories created by a push are private (§3.6, S22).
    #[default]
    Private,
}

impl SimVisibility {
    pub fn as_str(self) -> &'static str {
        match self {
            SimVisibility::Public => "public",
            SimVisibility::Private => "private",
        }
    }
}

/// A tag of a simulated repository. Its digest and timestamps are derived deterministically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimTag {
    pub name: String,
    /// Signed with Docker Content Trust.
    pub in_notary: bool,
}

/// A simulated repository (the public fields of §3.6; `id`, `namespaceType`, `pulls` and
/// `pushes` are derived).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimRepo {
    pub namespace: String,
    pub name: String,
    pub visibility: SimVisibility,
    pub scan_on_push: bool,
    pub immutable_tags: bool,
    /// 0 = unlimited.
    pub tag_limit: u64,
    pub short_description: String,
    pub long_description: String,
    pub enable_manifest_lists: bool,
    pub tags: Vec<SimTag>,
}

impl SimRepo {
    /// A private repository with no tags and every option off.
    pub fn new(namespace: &str, name: &str) -> SimRepo {
        SimRepo {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            visibility: SimVisibility::Private,
            scan_on_push: false,
            immutable_tags: false,
            tag_limit: 0,
            short_description: String::new(),
            long_description: String::new(),
            enable_manifest_lists: false,
            tags: Vec::new(),
        }
    }
}

/// `count` deterministic repositories: repository `i` (0-based) is `team-{i / 100}/app-{i:04}`.
/// Every `without_scan_on_push_every`-th repository (the n-th, 2n-th, …) has `scanOnPush`
/// false, all others true; 0 means all true. Every fourth is public, the rest private; each
/// has one to three tags (`latest` unsigned, `1.0`, `1.1` signed on alternate repositories).
pub fn generate_repositories(count: usize, without_scan_on_push_every: usize) -> Vec<SimRepo> {
    (0..count)
        .map(|i| {
            let mut repo = SimRepo::new(&format!("team-{}", i / 100), &format!("app-{i:04}"));
            repo.scan_on_push =
                without_scan_on_push_every == 0 || (i + 1) % without_scan_on_push_every != 0;
            repo.visibility = if i % 4 == 0 {
                SimVisibility::Public
            } else {
                SimVisibility::Private
            };
            repo.short_description = format!("application {i}");
            repo.tags.push(SimTag {
                name: "latest".to_owned(),
                in_notary: false,
            });
            for (k, tag) in ["1.0", "1.1"].iter().enumerate().take(i % 3) {
                repo.tags.push(SimTag {
                    name: (*tag).to_owned(),
                    in_notary: (i + k) % 2 == 0,
                });
            }
            repo
        })
        .collect()
}

impl DtrHandle {
    fn page_size(&self, query: &[(String, String)]) -> Result<usize, Outcome> {
        match query_get(query, "pageSize") {
            None | Some("") => Ok(DEFAULT_PAGE_SIZE.min(self.inner.max_page_size)),
            Some(text) => match text.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n.min(self.inner.max_page_size)),
                _ => Err(error_reply(
                    StatusCode::BAD_REQUEST,
                    "INVALID_PAGE_SIZE",
                    &format!("pageSize must be a positive integer, not {text:?}"),
                )),
            },
        }
    }

    /// §3.6 list, all repositories or one namespace's; O(log n + page) per request (plus
    /// O(namespace) for a namespace-scoped `count=true`). An unknown namespace gives an empty
    /// list (UNCONFIRMED).
    pub(super) fn list_repos(
        &self,
        query: &[(String, String)],
        namespace: Option<&str>,
    ) -> Outcome {
        let page_size = match self.page_size(query) {
            Ok(n) => n,
            Err(e) => return e,
        };
        let start = match query_get(query, "pageStart") {
            None | Some("") => None,
            Some(cursor) => match decode_cursor(cursor, REPO_CURSOR)
                .and_then(|key| {
                    let (ns, name) = key.split_once('/')?;
                    Some((ns.to_owned(), name.to_owned()))
                })
                .filter(|(ns, _)| namespace.is_none_or(|n| n == ns))
            {
                Some(key) => Some(key),
                None => return invalid_page_start(cursor),
            },
        };
        let lower = match (start, namespace) {
            (Some(key), _) => Bound::Included(key),
            (None, Some(ns)) => Bound::Included((ns.to_owned(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let count = query_get(query, "count") == Some("true");
        let mut state = lock(&self.inner.state);
        let in_scope = |key: &RepoKey| namespace.is_none_or(|ns| key.0 == ns);
        let mut range = state
            .repos
            .range((lower, Bound::Unbounded))
            .take_while(|(key, _)| in_scope(key));
        let page: Vec<Json> = range
            .by_ref()
            .take(page_size)
            .map(|(_, repo)| repo_json(repo, false))
            .collect();
        let next = range
            .next()
            .map(|((ns, name), _)| encode_cursor(REPO_CURSOR, &format!("{ns}/{name}")));
        let total = count.then(|| match namespace {
            None => state.repos.len(),
            Some(ns) => state
                .repos
                .range((ns.to_owned(), String::new())..)
                .take_while(|(key, _)| key.0 == ns)
                .count(),
        });
        let malformed = std::mem::take(&mut state.faults.malformed_next_read);
        drop(state);
        let body = json!({ "repositories": page }).to_string();
        paged_reply(if malformed { truncate(&body) } else { body }, next, total)
    }

    pub(super) fn get_repo(&self, namespace: &str, name: &str) -> Outcome {
        let mut state = lock(&self.inner.state);
        let Some(repo) = state.repos.get(&(namespace.to_owned(), name.to_owned())) else {
            return no_such_repository(namespace, name);
        };
        let body = repo_json(repo, true).to_string();
        let malformed = std::mem::take(&mut state.faults.malformed_next_read);
        drop(state);
        json_text(
            StatusCode::OK,
            if malformed { truncate(&body) } else { body },
        )
    }

    /// §3.6 update: a partial JSON object of the patchable fields (leaving the others
    /// unchanged is UNCONFIRMED; Mirantis's client always sends every field).
    pub(super) fn patch_repo(
        &self,
        principal: &Principal<'_>,
        namespace: &str,
        name: &str,
        body: &[u8],
    ) -> Outcome {
        let observer = lock(&self.inner.state).patch_observer.clone();
        if let Some(observer) = observer {
            observer(&format!("{namespace}/{name}"));
        }
        let (fail, hold) = {
            let mut state = lock(&self.inner.state);
            state.patches += 1;
            let number = state.patches;
            let faults = &mut state.faults;
            (
                faults.failing_patches.take(number).is_some(),
                faults.held_patches.take(number),
            )
        };
        let outcome = self.patch_outcome(principal, fail, namespace, name, body);
        match hold {
            Some(delay) => Outcome::Held(delay, Box::new(outcome)),
            None => outcome,
        }
    }

    /// What [`DtrHandle::patch_repo`] answers, having numbered the PATCH.
    fn patch_outcome(
        &self,
        principal: &Principal<'_>,
        fail: bool,
        namespace: &str,
        name: &str,
        body: &[u8],
    ) -> Outcome {
        if let Err(denied) = require_admin(principal) {
            return denied;
        }
        if fail {
            return internal_error();
        }
        if std::mem::take(&mut lock(&self.inner.state).faults.drop_next_patch) {
            return Outcome::Drop;
        }
        let patch = match parse_object(body) {
            Ok(patch) => patch,
            Err(e) => return e,
        };
        let invalid = |message: &str| {
            error_reply(
                StatusCode::BAD_REQUEST,
                "INVALID_REPOSITORY_UPDATE",
                message,
            )
        };
        let mut state = lock(&self.inner.state);
        let Some(current) = state.repos.get(&(namespace.to_owned(), name.to_owned())) else {
            return no_such_repository(namespace, name);
        };
        let mut repo = current.clone();
        for (field, value) in patch {
            let expected = match (field.as_str(), &value) {
                ("scanOnPush", Json::Bool(b)) => {
                    repo.scan_on_push = *b;
                    continue;
                }
                ("immutableTags", Json::Bool(b)) => {
                    repo.immutable_tags = *b;
                    continue;
                }
                ("enableManifestLists", Json::Bool(b)) => {
                    repo.enable_manifest_lists = *b;
                    continue;
                }
                ("visibility", Json::String(s)) if s == "public" || s == "private" => {
                    repo.visibility = if s == "public" {
                        SimVisibility::Public
                    } else {
                        SimVisibility::Private
                    };
                    continue;
                }
                ("shortDescription", Json::String(s)) => {
                    repo.short_description = s.clone();
                    continue;
                }
                ("longDescription", Json::String(s)) => {
                    repo.long_description = s.clone();
                    continue;
                }
                ("tagLimit", value) if value.is_u64() => {
                    repo.tag_limit = value.as_u64().unwrap_or_default();
                    continue;
                }
                ("scanOnPush" | "immutableTags" | "enableManifestLists", _) => "boolean",
                ("visibility", Json::String(s)) => {
                    return invalid(&format!(
                        "visibility: expected \"public\" or \"private\", found {s:?}"
                    ));
                }
                ("visibility" | "shortDescription" | "longDescription", _) => "string",
                ("tagLimit", _) => "non-negative integer",
                _ => return invalid(&format!("unknown or read-only field: {field}")),
            };
            return invalid(&format!(
                "{field}: expected {expected}, found {}",
                json_type(&value)
            ));
        }
        let body = repo_json(&repo, true);
        state
            .repos
            .insert((namespace.to_owned(), name.to_owned()), repo);
        drop(state);
        json_reply(StatusCode::OK, &body)
    }

    /// §3.6 tags: a bare JSON array, sorted by name, paged like the repository list.
    pub(super) fn list_tags(
        &self,
        query: &[(String, String)],
        namespace: &str,
        name: &str,
    ) -> Outcome {
        let page_size = match self.page_size(query) {
            Ok(n) => n,
            Err(e) => return e,
        };
        let start = match query_get(query, "pageStart") {
            None | Some("") => None,
            Some(cursor) => match decode_cursor(cursor, TAG_CURSOR) {
                Some(tag) => Some(tag),
                None => return invalid_page_start(cursor),
            },
        };
        let state = lock(&self.inner.state);
        let Some(repo) = state.repos.get(&(namespace.to_owned(), name.to_owned())) else {
            return no_such_repository(namespace, name);
        };
        let mut tags: Vec<&SimTag> = repo.tags.iter().collect();
        tags.sort_by(|a, b| a.name.cmp(&b.name));
        let from = start.map_or(0, |s| tags.partition_point(|t| t.name < s));
        let rest = &tags[from..];
        let page: Vec<Json> = rest
            .iter()
            .take(page_size)
            .map(|tag| tag_json(repo, tag))
            .collect();
        let next = rest
            .get(page_size)
            .map(|tag| encode_cursor(TAG_CURSOR, &tag.name));
        let total = (query_get(query, "count") == Some("true")).then_some(tags.len());
        drop(state);
        paged_reply(Json::Array(page).to_string(), next, total)
    }
}

fn no_such_repository(namespace: &str, name: &str) -> Outcome {
    error_reply(
        StatusCode::NOT_FOUND,
        "NO_SUCH_REPOSITORY",
        &format!("repository {namespace}/{name} does not exist"),
    )
}

fn invalid_page_start(cursor: &str) -> Outcome {
    error_reply(
        StatusCode::BAD_REQUEST,
        "INVALID_PAGE_START",
        &format!("invalid pageStart: {cursor:?}"),
    )
}

/// A 200 JSON reply with the paging headers of §3.6.
fn paged_reply(body: String, next: Option<String>, total: Option<usize>) -> Outcome {
    let mut response = text_reply(StatusCode::OK, "application/json", &body);
    let headers = response.headers_mut();
    if let Some(next) = next.and_then(|n| HeaderValue::from_str(&n).ok()) {
        headers.insert(HeaderName::from_static(NEXT_PAGE_START), next);
    }
    if let Some(total) = total {
        headers.insert(
            HeaderName::from_static(RESOURCE_COUNT),
            HeaderValue::from(total),
        );
    }
    Outcome::Reply(Box::new(response))
}

fn repo_json(repo: &SimRepo, with_long_description: bool) -> Json {
    let mut map = Map::new();
    let mut put = |key: &str, value: Json| {
        map.insert(key.to_owned(), value);
    };
    put(
        "id",
        uuid_from(&format!("repo:{}/{}", repo.namespace, repo.name)).into(),
    );
    put("namespace", repo.namespace.clone().into());
    put("namespaceType", "organization".into());
    put("name", repo.name.clone().into());
    put("shortDescription", repo.short_description.clone().into());
    if with_long_description {
        put("longDescription", repo.long_description.clone().into());
    }
    put("visibility", repo.visibility.as_str().into());
    put("scanOnPush", repo.scan_on_push.into());
    put("immutableTags", repo.immutable_tags.into());
    put("enableManifestLists", repo.enable_manifest_lists.into());
    put("pulls", 0.into());
    put("pushes", repo.tags.len().into());
    put("tagLimit", repo.tag_limit.into());
    Json::Object(map)
}

fn tag_json(repo: &SimRepo, tag: &SimTag) -> Json {
    let seed = format!("{}/{}:{}", repo.namespace, repo.name, tag.name);
    let digest: String = (0..4u64)
        .map(|i| format!("{:016x}", fnv1a(&seed, i)))
        .collect();
    json!({
        "name": tag.name,
        "digest": format!("sha256:{digest}"),
        "inNotary": tag.in_notary,
        "hashMismatch": false,
        "createdAt": "2024-03-01T12:00:00Z",
        "updatedAt": "2024-03-01T12:00:00Z",
    })
}

const REPO_CURSOR: &str = "repo:";
const TAG_CURSOR: &str = "tag:";

/// An opaque cursor: hex of a tagged key of the first item of the next page.
fn encode_cursor(tag: &str, key: &str) -> String {
    hex::encode(format!("{tag}{key}"))
}

fn decode_cursor(cursor: &str, tag: &str) -> Option<String> {
    let bytes = hex::decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(tag).map(str::to_owned)
}
