//! `cargo xtask bench`: filled in below.

pub(crate) fn run(_quick: bool) -> Result<(), String> {
    Err("not yet".to_owned())
}
