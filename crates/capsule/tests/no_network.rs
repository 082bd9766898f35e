//! Architecture invariant: `crates/capsule` holds no HTTP client and no async
//! runtime anywhere in its (normal) dependency tree, so a third party can
//! depend on it alone to verify offline.

use std::process::Command;

const FORBIDDEN: &[&str] = &[
    "reqwest",
    "hyper",
    "ureq",
    "curl",
    "isahc",
    "surf",
    "attohttpc",
    "h2",
    "http",
    "http-body",
    "tokio",
    "async-std",
    "smol",
    "futures-executor",
    "mio",
    "rustls",
    "native-tls",
    "openssl",
    "octocrab",
    "tungstenite",
];

#[test]
fn dependency_tree_has_no_http_client_or_async_runtime() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["tree", "--offline", "--locked", "-p", "capsule", "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8(out.stdout).expect("utf-8");
    let names: Vec<&str> = tree.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(names.contains(&"capsule"), "unexpected cargo tree output:\n{tree}");
    assert!(names.contains(&"sha2"), "unexpected cargo tree output:\n{tree}");
    let bad: Vec<&&str> = names.iter().filter(|n| FORBIDDEN.contains(n)).collect();
    assert!(bad.is_empty(), "crates/capsule must stay offline, but depends on {bad:?}");
}
