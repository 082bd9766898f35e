//! The GitHub REST API, for what CapsuleBench posts: one comment per pull
//! request (found again by a hidden marker and its author, updated in
//! place, marked stale when a later run fails), the pull request of a
//! `workflow_run` (found by its head branch, which works for forks),
//! release assets replaced by name, and the packs a board collects
//! (release assets and run artifacts, [`collect`]).
//!
//! Owns every connection CapsuleBench opens to GitHub (the verifier crate
//! opens none). Built on `octocrab` (authentication, retries, timeouts);
//! the calls are blocking, on a runtime of their own. The API base URL and
//! the token come from `GITHUB_API_URL` and `GITHUB_TOKEN`, so GitHub
//! Enterprise Server works as GitHub.com does.

pub mod collect;
mod comment;
pub mod keyless;
pub mod workflows;

use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use comment::{COMMENT_LIMIT, DETAILS, MARKER, comment_head, fold, head_marker, mark_stale};

/// `owner/name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repo {
    /// The owner (user or organization).
    pub owner: String,
    /// The repository name.
    pub name: String,
}

impl std::str::FromStr for Repo {
    type Err = GithubError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('/') {
            Some((o, n)) if !o.is_empty() && !n.is_empty() && !n.contains('/') => {
                Ok(Repo { owner: o.to_owned(), name: n.to_owned() })
            }
            _ => Err(GithubError::Repo(s.to_owned())),
        }
    }
}

impl std::fmt::Display for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// Why a GitHub call failed.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    /// A required environment variable is unset.
    #[error("`{0}` is not set; {1}")]
    Env(&'static str, &'static str),
    /// Not `owner/name`.
    #[error("`{0}` is not a repository (`owner/name`)")]
    Repo(String),
    /// The API base URL does not parse.
    #[error("`GITHUB_API_URL` is not a URL: `{0}`")]
    Url(String),
    /// The API answered with an error status.
    #[error("GitHub answered {status} to {what}: {message}{}", hint(*status))]
    Api {
        /// What was asked.
        what: String,
        /// The HTTP status.
        status: u16,
        /// GitHub's message.
        message: String,
    },
    /// The request did not complete (connection, timeout, malformed reply).
    #[error("failed to {what}")]
    Transport {
        /// What was asked.
        what: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A download was longer than it may be.
    #[error("failed to {what}: over the {limit} bytes it may have")]
    TooLarge {
        /// What was downloaded.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// An artifact is not a zip archive CapsuleBench can read.
    #[error("{what} is not a readable zip archive")]
    Archive {
        /// Which artifact.
        what: String,
        /// Why.
        #[source]
        source: zip::result::ZipError,
    },
    /// A file could not be written.
    #[error("failed to write `{}`", path.display())]
    Write {
        /// The file or directory.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The collection's directory holds files already.
    #[error("`{}` is not empty; collect into a new directory (nothing in it was touched)", .0.display())]
    NotEmpty(std::path::PathBuf),
    /// No release has the tag.
    #[error("repository `{repo}` has no release tagged `{tag}`; create it first")]
    NoRelease {
        /// The repository.
        repo: String,
        /// The tag.
        tag: String,
    },
}

fn hint(status: u16) -> &'static str {
    match status {
        401 => " (the token is missing or expired: pass `github-token`, or set `GITHUB_TOKEN`)",
        403 => {
            " (the token may not write here: a pull request from a fork gets a read-only token, so comment from a \
             `workflow_run` workflow as `cargo capsule init` writes; otherwise grant `pull-requests: write` \
             (comments) or `contents: write` (release assets), or `actions: read` (a run's artifacts) in the job's \
             `permissions:`)"
        }
        404 => " (not found, or not visible to this token)",
        _ => "",
    }
}

/// A blocking GitHub client.
pub struct Github {
    crab: octocrab::Octocrab,
    rt: tokio::runtime::Runtime,
    api: String,
}

impl std::fmt::Debug for Github {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Github").field("api", &self.api).finish_non_exhaustive()
    }
}

/// The upload host of an API base: `uploads.github.com` for GitHub.com,
/// `/api/uploads` on a GitHub Enterprise Server host, else the base itself.
fn upload_base(api: &str) -> String {
    if api.trim_end_matches('/') == "https://api.github.com" {
        "https://uploads.github.com".to_owned()
    } else if let Some(host) = api.trim_end_matches('/').strip_suffix("/api/v3") {
        format!("{host}/api/uploads")
    } else {
        api.trim_end_matches('/').to_owned()
    }
}

impl Github {
    /// From `GITHUB_API_URL` (default `https://api.github.com`) and
    /// `GITHUB_TOKEN`.
    pub fn from_env() -> Result<Github, GithubError> {
        let api = std::env::var("GITHUB_API_URL").unwrap_or_else(|_| "https://api.github.com".to_owned());
        let token = std::env::var("GITHUB_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or(GithubError::Env("GITHUB_TOKEN", "pass the workflow's token (`secrets.GITHUB_TOKEN`)"))?;
        Github::new(&api, &token)
    }

    /// From `GITHUB_API_URL`, with `GITHUB_TOKEN` when it is set and
    /// anonymous otherwise (for reading public repositories).
    pub fn from_env_or_anonymous() -> Result<Github, GithubError> {
        let api = std::env::var("GITHUB_API_URL").unwrap_or_else(|_| "https://api.github.com".to_owned());
        let token = std::env::var("GITHUB_TOKEN").unwrap_or_default();
        Github::new(&api, &token)
    }

    /// A client for `api` with `token` (anonymous when it is empty).
    pub fn new(api: &str, token: &str) -> Result<Github, GithubError> {
        let api = api.trim_end_matches('/').to_owned();
        let bad = |_| GithubError::Url(api.clone());
        let rt = runtime()
            .map_err(|e| GithubError::Transport { what: "start the HTTP runtime".into(), source: Box::new(e) })?;
        // octocrab starts its service workers on the current runtime.
        let _entered = rt.enter();
        let builder = octocrab::Octocrab::builder()
            .base_uri(api.as_str())
            .map_err(bad)?
            .upload_uri(upload_base(&api))
            .map_err(bad)?;
        let builder = if token.is_empty() { builder } else { builder.personal_token(token.to_owned()) };
        let crab = builder
            .build()
            .map_err(|e| GithubError::Transport { what: "build the HTTP client".into(), source: Box::new(e) })?;
        drop(_entered);
        Ok(Github { crab, rt, api })
    }

    fn fail(what: &str, e: octocrab::Error) -> GithubError {
        match e {
            octocrab::Error::GitHub { source, .. } => {
                GithubError::Api { what: what.to_owned(), status: source.status_code.as_u16(), message: source.message }
            }
            e => GithubError::Transport { what: what.to_owned(), source: Box::new(e) },
        }
    }

    fn get<T: DeserializeOwned>(&self, what: &str, route: &str) -> Result<T, GithubError> {
        self.rt.block_on(self.crab.get::<T, _, ()>(route, None)).map_err(|e| Self::fail(what, e))
    }

    fn send<T: DeserializeOwned>(
        &self,
        what: &str,
        method: &str,
        route: &str,
        body: &serde_json::Value,
    ) -> Result<T, GithubError> {
        let call = async {
            match method {
                "POST" => self.crab.post::<_, T>(route, Some(body)).await,
                _ => self.crab.patch::<T, _, _>(route, Some(body)).await,
            }
        };
        self.rt.block_on(call).map_err(|e| Self::fail(what, e))
    }

    /// Every page of a list route (100 a page).
    fn list<T: DeserializeOwned>(&self, what: &str, route: &str) -> Result<Vec<T>, GithubError> {
        self.pages(what, route, None, usize::MAX)
    }

    /// Every page of a route (100 a page), up to `max` items: the items
    /// are the page itself, or under `key` for the routes that answer
    /// `{"total_count": N, KEY: [...]}`.
    fn pages<T: DeserializeOwned>(
        &self,
        what: &str,
        route: &str,
        key: Option<&str>,
        max: usize,
    ) -> Result<Vec<T>, GithubError> {
        let mut all = Vec::new();
        for page in 1.. {
            let sep = if route.contains('?') { '&' } else { '?' };
            let mut v: serde_json::Value = self.get(what, &format!("{route}{sep}per_page=100&page={page}"))?;
            let items = match key {
                Some(k) => v.get_mut(k).map(serde_json::Value::take).unwrap_or_default(),
                None => v,
            };
            let batch: Vec<T> = serde_json::from_value(items)
                .map_err(|e| GithubError::Transport { what: what.to_owned(), source: Box::new(e) })?;
            let n = batch.len();
            all.extend(batch);
            if n < 100 || all.len() >= max {
                break;
            }
        }
        all.truncate(max);
        Ok(all)
    }

    /// Posts `body` on pull request `pr`, or updates in place the comment
    /// there that carries [`MARKER`] and was written by `author`. `body` is
    /// folded under GitHub's limit first.
    pub fn upsert_comment(&self, repo: &Repo, pr: u64, body: &str, author: &str) -> Result<Comment, GithubError> {
        match self.update_existing_comment(repo, pr, body, author)? {
            Some(c) => Ok(c),
            None => self.send(
                "create the comment",
                "POST",
                &format!("/repos/{repo}/issues/{pr}/comments"),
                &serde_json::json!({ "body": fold(body) }),
            ),
        }
    }

    /// Updates in place CapsuleBench's comment on pull request `pr` (see
    /// [`Github::upsert_comment`]) with `body`, folded; `None`, creating
    /// nothing, when there is none.
    pub fn update_existing_comment(
        &self,
        repo: &Repo,
        pr: u64,
        body: &str,
        author: &str,
    ) -> Result<Option<Comment>, GithubError> {
        match self.find_comment(repo, pr, author)? {
            Some(c) => self.update_comment(repo, c.id, &fold(body)).map(Some),
            None => Ok(None),
        }
    }

    /// The open pull request whose head is branch `head_branch` of
    /// `head_owner`'s repository (a fork's owner, or the repository's own)
    /// at commit `head_sha`, as a `workflow_run` names it in its payload.
    /// `GET /repos/{owner}/{repo}/commits/{sha}/pulls` answers `[]` for a
    /// commit that exists only in a fork, so the pull request is found by
    /// its head branch (`GET /repos/{owner}/{repo}/pulls?head=OWNER:BRANCH`)
    /// and kept only if its head is still that commit: a pull request that
    /// moved on since the run gets nothing from it.
    pub fn pull_requests_for_head(
        &self,
        repo: &Repo,
        head_owner: &str,
        head_branch: &str,
        head_sha: &str,
    ) -> Result<Vec<PullRequest>, GithubError> {
        let head = encode(&format!("{head_owner}:{head_branch}"));
        let prs: Vec<PullRequest> = self.list(
            "list the pull requests of the run's head branch",
            &format!("/repos/{repo}/pulls?head={head}&state=open"),
        )?;
        Ok(prs.into_iter().filter(|p| p.state == "open" && p.head.sha == head_sha).collect())
    }

    /// CapsuleBench's comment on pull request `pr` (carrying [`MARKER`],
    /// written by `author`), if there is one.
    pub fn find_comment(&self, repo: &Repo, pr: u64, author: &str) -> Result<Option<Comment>, GithubError> {
        let comments: Vec<Comment> =
            self.list("list the pull request's comments", &format!("/repos/{repo}/issues/{pr}/comments"))?;
        Ok(comments
            .into_iter()
            .find(|c| c.body.as_deref().is_some_and(|b| b.contains(MARKER)) && c.user.login == author))
    }

    /// Replaces the body of comment `id`.
    pub fn update_comment(&self, repo: &Repo, id: u64, body: &str) -> Result<Comment, GithubError> {
        let mut c: Comment = self.send(
            "update the comment",
            "PATCH",
            &format!("/repos/{repo}/issues/comments/{id}"),
            &serde_json::json!({ "body": body }),
        )?;
        c.updated = true;
        Ok(c)
    }

    /// The commit a branch, tag or commit `reference` of `repo` names now
    /// (`GET /repos/{owner}/{repo}/commits/{ref}`).
    pub fn resolve_commit(&self, repo: &Repo, reference: &str) -> Result<String, GithubError> {
        #[derive(Deserialize)]
        struct C {
            sha: String,
        }
        let c: C = self.get(
            &format!("resolve `{reference}` of {repo} to a commit"),
            &format!("/repos/{repo}/commits/{}", encode(reference)),
        )?;
        if c.sha.len() == 40 && c.sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(c.sha.to_ascii_lowercase())
        } else {
            Err(GithubError::Api {
                what: format!("resolve `{reference}` of {repo} to a commit"),
                status: 200,
                message: format!("`{}` is not a commit SHA", c.sha),
            })
        }
    }

    /// Uploads `bytes` as asset `name` of the release tagged `tag`, deleting
    /// an asset of the same name first.
    pub fn replace_release_asset(
        &self,
        repo: &Repo,
        tag: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<Asset, GithubError> {
        let release: Release = match self.get("get the release", &format!("/repos/{repo}/releases/tags/{tag}")) {
            Err(GithubError::Api { status: 404, .. }) => {
                return Err(GithubError::NoRelease { repo: repo.to_string(), tag: tag.to_owned() });
            }
            r => r?,
        };
        let assets: Vec<Asset> =
            self.list("list the release's assets", &format!("/repos/{repo}/releases/{}/assets", release.id))?;
        let mut replaced = false;
        for a in assets.iter().filter(|a| a.name == name) {
            let what = format!("delete the old asset `{name}`");
            let route = format!("/repos/{repo}/releases/assets/{}", a.id);
            self.rt.block_on(async {
                let r = self.crab._delete(route.as_str(), None::<&()>).await.map_err(|e| Self::fail(&what, e))?;
                octocrab::map_github_error(r).await.map_err(|e| Self::fail(&what, e))
            })?;
            replaced = true;
        }
        // The upload URL is a template: `…/assets{?name,label}`.
        let base = release.upload_url.split('{').next().unwrap_or_default().to_owned();
        let url = format!("{base}?name={}", encode(name));
        let what = format!("upload `{name}`");
        let request = http::Request::builder()
            .method("POST")
            .uri(url.as_str())
            .header("content-type", "application/gzip")
            .header("accept", "application/vnd.github+json")
            .body(bytes)
            .map_err(|e| GithubError::Transport { what: what.clone(), source: Box::new(e) })?;
        let mut asset: Asset = self.rt.block_on(async {
            let r = self.crab.execute(request).await.map_err(|e| Self::fail(&what, e))?;
            let r = octocrab::map_github_error(r).await.map_err(|e| Self::fail(&what, e))?;
            let text = self.crab.body_to_string(r).await.map_err(|e| Self::fail(&what, e))?;
            serde_json::from_str(&text).map_err(|e| GithubError::Transport { what: what.clone(), source: Box::new(e) })
        })?;
        asset.replaced = replaced;
        Ok(asset)
    }

    /// The API base this client talks to.
    pub fn api(&self) -> &str {
        &self.api
    }
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A user, as the API returns it (the fields CapsuleBench reads).
#[derive(Clone, Debug, Deserialize)]
pub struct User {
    /// The login (`github-actions[bot]` for the workflow token).
    pub login: String,
}

/// An issue comment.
#[derive(Clone, Debug, Deserialize)]
pub struct Comment {
    /// Its id.
    pub id: u64,
    /// Its page.
    pub html_url: String,
    /// Its text.
    #[serde(default)]
    pub body: Option<String>,
    /// Its author.
    pub user: User,
    /// Whether an existing comment was updated (not from the API).
    #[serde(skip)]
    pub updated: bool,
}

/// A commit reference of a pull request.
#[derive(Clone, Debug, Deserialize)]
pub struct Head {
    /// The commit.
    pub sha: String,
    /// The branch.
    #[serde(default, rename = "ref")]
    pub branch: String,
}

/// A pull request.
#[derive(Clone, Debug, Deserialize)]
pub struct PullRequest {
    /// Its number.
    pub number: u64,
    /// `open` or `closed`.
    pub state: String,
    /// Its head.
    pub head: Head,
    /// Its base.
    pub base: Head,
    /// Its page.
    #[serde(default)]
    pub html_url: String,
}

#[derive(Debug, Deserialize)]
struct Release {
    id: u64,
    upload_url: String,
}

/// A release asset.
#[derive(Clone, Debug, Deserialize)]
pub struct Asset {
    /// Its id.
    pub id: u64,
    /// Its file name.
    pub name: String,
    /// Where to download it.
    #[serde(default)]
    pub browser_download_url: String,
    /// Whether an asset of the same name was replaced (not from the API).
    #[serde(skip)]
    pub replaced: bool,
}

/// The current-thread runtime each blocking call of this crate runs on.
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}
