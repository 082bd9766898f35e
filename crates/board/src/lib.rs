//! The verifier-gated board (docs/spec/board.md).
//!
//! Owns turning a set of capsulepacks into a static site and its JSON index
//! (`board.json`, [`model::BoardV1`]): every pack is verified strictly, in
//! parallel, with options the board's owner gives (never read from a
//! pack); a pack that does not verify is listed as rejected with its
//! finding codes and shown nowhere else; packs are deduplicated by capsule
//! hash; the rest become entries in two tracks, certified (a signer the
//! ACL allows, the policy in the pinned registry) and community (the pack
//! verifies under a pinned policy), per workload and policy, with a
//! history over commits. [`build`] writes a whole site; [`add`] verifies
//! one more pack and rewrites only the pages it changes, with a cache of
//! verdicts keyed by the pack's bytes and the verifier's options.

mod cache;
mod chart;
mod collect;
mod html;
pub mod model;
mod site;

use std::path::PathBuf;

pub use collect::{Verifier, slug};
pub use site::{Summary, add, build};

/// Why a board could not be built or updated. A pack that does not verify
/// is not an error: it is listed as rejected.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// A file or directory could not be read or written.
    #[error("failed to {what} `{}`", .path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A pack directory holds no pack.
    #[error("no pack (`*.tgz`) under {}", .dirs.iter().map(|d| format!("`{}`", d.display())).collect::<Vec<_>>().join(", "))]
    NoPacks {
        /// The directories searched.
        dirs: Vec<PathBuf>,
    },
    /// The site's `board.json` cannot be read as a board.
    #[error("`{}` is not a board index (`capsulebench/board/v1`): {why}; rebuild the site with `board build`", .path.display())]
    Index {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The site was built with other verifier options.
    #[error(
        "the site at `{}` was built with other verifier options (options hash {built}, now {now}); \
         rebuild it with `board build`, or give `board add` the options it was built with",
        .site.display()
    )]
    OptionsChanged {
        /// The site.
        site: PathBuf,
        /// The hash the site records.
        built: capsule::digest::Digest,
        /// The hash of the options given now.
        now: capsule::digest::Digest,
    },
    /// A chart could not be drawn.
    #[error("failed to draw the chart of `{series}`: {why}")]
    Chart {
        /// The series.
        series: String,
        /// Why.
        why: String,
    },
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::model::VerifierV1;

    fn vectors() -> Value {
        serde_json::from_str(include_str!("../../../fixtures/vectors/board.json")).expect("the board vectors parse")
    }

    /// The options hash, intervals and slugs of `fixtures/vectors/board.json`
    /// recompute (`cargo xtask fixtures` writes them).
    #[test]
    fn board_vectors_recompute() {
        let v = vectors();
        let verifier: VerifierV1 = serde_json::from_value(v["verifier"].clone()).expect("a verifier");
        let mut zeroed = verifier.clone();
        zeroed.options_hash = capsule::digest::Digest::ZERO;
        let canonical = String::from_utf8(serde_jcs::to_vec(&zeroed).expect("canonical")).expect("utf-8");
        assert_eq!(canonical, v["verifier_canonical_zeroed"]);
        assert_eq!(zeroed.sealed(), verifier);
        assert_eq!(verifier.options_hash, capsule::digest::plain(canonical.as_bytes()));
        for case in v["median_intervals"].as_array().expect("cases") {
            let samples: Vec<u64> = serde_json::from_value(case["samples"].clone()).expect("samples");
            let want: Option<[u64; 2]> = serde_json::from_value(case["interval"].clone()).expect("an interval");
            assert_eq!(capsule::compare::median_interval(&samples, 950_000), want, "{case}");
        }
        for case in v["slugs"].as_array().expect("cases") {
            let id = case["workload_id"].as_str().expect("an id");
            let hash = case["policy_hash"].as_str().expect("a hash").parse().expect("a digest");
            assert_eq!(crate::slug(id, hash), case["slug"], "{case}");
        }
    }
}
