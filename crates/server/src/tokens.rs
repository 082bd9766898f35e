//! Runner tokens and rate limits. A token file holds one project a line,
//! `PROJECT SHA256-HEX-OF-TOKEN`: the server keeps only digests, and
//! compares them in constant time. Each token has a token bucket for
//! stream messages and one for submissions.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use sha2::{Digest as _, Sha256};

/// Why a token file does not load.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// It cannot be read.
    #[error("failed to read the token file `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not `PROJECT SHA256-HEX`.
    #[error("`{}` line {line}: expected `PROJECT SHA256-HEX-OF-TOKEN` (the project a name of letters, digits, `-`, `_`, `.`)", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
    },
}

/// The projects' token digests.
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    by_digest: Vec<([u8; 32], String)>,
}

/// The SHA-256 of a token, as the token file holds it.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Tokens {
    /// Reads a token file.
    pub fn load(path: &Path) -> Result<Tokens, TokenError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| TokenError::Read { path: path.to_path_buf(), source })?;
        Tokens::parse(&text).map_err(|line| TokenError::Line { path: path.to_path_buf(), line })
    }

    /// Parses a token file's text; `Err(line)` names the first bad line.
    pub fn parse(text: &str) -> Result<Tokens, usize> {
        let mut by_digest = Vec::new();
        for (i, l) in text.lines().enumerate() {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let mut parts = l.split_whitespace();
            let (Some(project), Some(hexed), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(i + 1);
            };
            let ok = !project.is_empty()
                && project.len() <= 100
                && project.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            let digest: Option<[u8; 32]> = hex::decode(hexed).ok().and_then(|d| d.try_into().ok());
            match digest {
                Some(d) if ok => by_digest.push((d, project.to_owned())),
                _ => return Err(i + 1),
            }
        }
        Ok(Tokens { by_digest })
    }

    /// The project `token` belongs to.
    pub fn project(&self, token: &str) -> Option<&str> {
        let d: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Every entry is compared, each in full: the time taken does not
        // say how much of a guess matched.
        let mut found = None;
        for (known, project) in &self.by_digest {
            let diff = known.iter().zip(d.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = Some(project.as_str());
            }
        }
        found
    }

    /// How many projects there are.
    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }
}

/// A token bucket: `rate` a second on average, up to `burst` at once.
#[derive(Clone, Copy, Debug)]
pub struct Rate {
    /// Tokens added a second.
    pub per_second: f64,
    /// The bucket's size.
    pub burst: f64,
}

/// Buckets per key.
#[derive(Debug)]
pub struct Limiter {
    rate: Rate,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Limiter {
    /// A limiter at `rate`.
    pub fn new(rate: Rate) -> Limiter {
        Limiter { rate, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one from `key`'s bucket; false when it is empty.
    pub fn take(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (level, at) = b.entry(key.to_owned()).or_insert((self.rate.burst, now));
        *level = (*level + now.duration_since(*at).as_secs_f64() * self.rate.per_second).min(self.rate.burst);
        *at = now;
        if *level >= 1.0 {
            *level -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_project_and_bad_lines_are_named() {
        let text = format!("# runners\nocto {}\n\nzk-team {}\n", token_digest("s3cret"), token_digest("other"));
        let t = Tokens::parse(&text).expect("parses");
        assert_eq!(t.project("s3cret"), Some("octo"));
        assert_eq!(t.project("other"), Some("zk-team"));
        assert_eq!(t.project("s3cre"), None);
        assert_eq!(t.project(""), None);
        for (bad, line) in [
            ("octo\n", 1),
            ("octo abc\n", 1),
            (&format!("ok {}\nba d {}\n", token_digest("a"), token_digest("b")) as &str, 2),
            (&format!("<script> {}\n", token_digest("a")), 1),
        ] {
            assert_eq!(Tokens::parse(bad).err(), Some(line), "{bad}");
        }
    }

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let l = Limiter::new(Rate { per_second: 0.0, burst: 3.0 });
        assert!((0..3).all(|_| l.take("a")));
        assert!(!l.take("a"));
        assert!(l.take("b"), "buckets are per key");
    }
}
