//! `cargo capsule init`: writes the fork-safe GitHub workflows; an existing
//! file that differs is shown as a diff and left alone without `--force`.

use std::path::PathBuf;

use capsule_github::workflows::{Plan, plan, workflows, writes_signing_jobs};
use clap::Args;

use crate::errors::{CliError, ExitCode};
use crate::output;

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The repository root.
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// The CapsuleBench Action to use: `OWNER/REPO@<commit SHA>` pins it.
    #[arg(long, value_name = "REF", default_value = "capsulebench/action@v1")]
    action: String,
    /// Overwrite files that differ.
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(a: InitArgs) -> Result<u8, CliError> {
    let files = workflows(&a.action);
    let plans = plan(&a.dir, &files).map_err(|source| CliError::Read { path: a.dir.clone(), source })?;
    let mut held = 0;
    for (f, p) in files.iter().zip(&plans) {
        let path = a.dir.join(f.path);
        let write = match p {
            Plan::Unchanged => {
                output::line(&format!("unchanged  {}", f.path))?;
                false
            }
            Plan::Create => true,
            Plan::Differs(diff) if a.force => {
                output::line(diff.trim_end())?;
                true
            }
            Plan::Differs(diff) => {
                output::line(diff.trim_end())?;
                output::line(&format!("differs    {} (left as it is; `--force` overwrites it)", f.path))?;
                held += 1;
                false
            }
        };
        if write {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|source| CliError::Write { path: parent.to_path_buf(), source })?;
            }
            capsule::pack::atomic_write(&path, f.contents.as_bytes())
                .map_err(|source| CliError::Write { path: path.clone(), source })?;
            output::line(&format!(
                "{}  {}",
                if matches!(p, Plan::Create) { "created   " } else { "overwrote " },
                f.path
            ))?;
        }
    }
    if !writes_signing_jobs(&a.action) {
        output::line(
            "note: no signing or release jobs: they hold credentials, so they are written only for an Action pinned by commit (`--action OWNER/REPO@SHA`)",
        )?;
    }
    Ok(if held > 0 { ExitCode::REJECTED } else { ExitCode::OK })
}
