//! The pull-request comment: its hidden markers (whose comment it is, which
//! head commit it compares), the banner that marks it stale, and folding
//! under GitHub's 65,536-character limit.

/// The hidden line that marks CapsuleBench's comment on a pull request.
pub const MARKER: &str = "<!-- capsulebench:comment v1 -->";

/// Where a comment's details start: folding keeps what comes before it
/// (what a reader can rely on, the runs, the summary) open.
pub const DETAILS: &str = "<!-- capsulebench:details -->";

/// The hidden line naming the head commit a comment compares.
pub fn head_marker(sha: &str) -> String {
    format!("<!-- capsulebench:head {sha} -->")
}

/// The head commit a comment says it compares (from [`head_marker`]).
pub fn comment_head(body: &str) -> Option<&str> {
    let rest = &body[body.find("<!-- capsulebench:head ")? + "<!-- capsulebench:head ".len()..];
    rest.split_once(" -->").map(|(sha, _)| sha)
}

const STALE_OPEN: &str = "<!-- capsulebench:stale -->";
const STALE_CLOSE: &str = "<!-- /capsulebench:stale -->";

/// `body` with a banner saying it is out of date because of `why` (one
/// Markdown paragraph) under its marker; a previous banner is replaced, the
/// comparison is kept below it, unchanged.
pub fn mark_stale(body: &str, why: &str) -> String {
    let body = match (body.find(STALE_OPEN), body.find(STALE_CLOSE)) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{}", &body[..a], body[b + STALE_CLOSE.len()..].trim_start_matches('\n'))
        }
        _ => body.to_owned(),
    };
    let rest = body.strip_prefix(MARKER).map_or(body.as_str(), |r| r.trim_start_matches('\n'));
    fold(&format!("{STALE_OPEN}\n> [!WARNING]\n> **Stale.** {why}\n{STALE_CLOSE}\n{rest}"))
}

/// GitHub's limit on a comment body, in characters.
pub const COMMENT_LIMIT: usize = 65_536;

/// What is added when the body has to be cut.
const CUT_NOTE: &str = "\n\n*The comparison was longer than GitHub allows in a comment and was cut here; the full comparison is `cargo capsule compare --markdown` on the two packs.*\n";

/// The comment body: the marker, then `markdown`. When the whole would
/// exceed [`COMMENT_LIMIT`], what follows [`DETAILS`] (else the first
/// table) is folded into a `<details>` block and cut at a line boundary
/// with a note saying so. Lengths count characters, as GitHub
/// does.
pub fn fold(markdown: &str) -> String {
    let chars = |s: &str| s.chars().count();
    let whole = format!("{MARKER}\n{markdown}");
    if chars(&whole) <= COMMENT_LIMIT {
        return whole;
    }
    // The summary (up to the end of the first table) stays open; the rest
    // goes under <details>.
    let split = markdown.find(DETAILS).or_else(|| table_end(markdown)).unwrap_or(0);
    let (head, rest) = markdown.split_at(split);
    let open = format!("{MARKER}\n{head}\n<details><summary>Details</summary>\n\n");
    let close = "\n</details>\n";
    let budget = COMMENT_LIMIT.saturating_sub(chars(&open) + chars(close) + chars(CUT_NOTE));
    let mut kept = String::new();
    let mut used = 0;
    for line in rest.split_inclusive('\n') {
        let n = chars(line);
        if used + n > budget {
            break;
        }
        kept.push_str(line);
        used += n;
    }
    let folded = format!("{open}{kept}{CUT_NOTE}{close}");
    if chars(&folded) <= COMMENT_LIMIT {
        folded
    } else {
        // The summary itself is too long: keep its first lines.
        let mut out = format!("{MARKER}\n");
        let room = COMMENT_LIMIT - chars(&out) - chars(CUT_NOTE);
        let mut used = 0;
        for line in markdown.split_inclusive('\n') {
            if used + chars(line) > room {
                break;
            }
            used += chars(line);
            out.push_str(line);
        }
        out.push_str(CUT_NOTE);
        out
    }
}

/// The byte offset just after the first Markdown table.
fn table_end(md: &str) -> Option<usize> {
    let mut offset = 0;
    let mut in_table = false;
    for line in md.split_inclusive('\n') {
        let is_row = line.trim_start().starts_with('|');
        if in_table && !is_row {
            return Some(offset);
        }
        in_table |= is_row;
        offset += line.len();
    }
    in_table.then_some(md.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_banner_replaces_the_last_and_keeps_the_comparison() {
        let body = fold(&format!("{}\n| a | b |\n|---|---|\n| 1 | 2 |\n", head_marker("abc")));
        assert_eq!(comment_head(&body), Some("abc"));
        let once = mark_stale(&body, "the run for `def` failed.");
        let twice = mark_stale(&once, "the run for `0123` was cancelled.");
        for s in [&once, &twice] {
            assert!(s.starts_with(&format!("{MARKER}\n{STALE_OPEN}\n> [!WARNING]\n> **Stale.** ")), "{s}");
            assert!(s.ends_with("| 1 | 2 |\n") && s.matches(MARKER).count() == 1, "{s}");
            assert_eq!(comment_head(s), Some("abc"));
        }
        assert!(twice.contains("`0123` was cancelled") && !twice.contains("`def`"), "{twice}");
    }

    #[test]
    fn short_bodies_are_kept_and_long_ones_folded_under_the_limit() {
        let short = "| a | b |\n|---|---|\n| 1 | 2 |\n\nverified\n";
        assert_eq!(fold(short), format!("{MARKER}\n{short}"));
        let table: String = (0..50).map(|i| format!("| w{i} | 1 | 2 |\n")).collect();
        for detail_lines in [3_500usize, 20_000] {
            let detail: String = (0..detail_lines).map(|i| format!("- detail line {i} é\n")).collect();
            let md = format!("## CapsuleBench\n\n{table}\n{detail}");
            let out = fold(&md);
            assert!(out.chars().count() <= COMMENT_LIMIT, "{detail_lines}: {}", out.chars().count());
            assert!(out.starts_with(MARKER));
            assert!(out.contains("<details>"), "{detail_lines}");
            assert!(out.contains(&table), "the table stays open");
            assert!(out.contains("was cut here"), "{detail_lines}");
        }
        // A summary that is itself too long is cut too.
        let huge: String = (0..10_000).map(|i| format!("| {i} | x |\n")).collect();
        assert!(fold(&huge).chars().count() <= COMMENT_LIMIT);
    }
}
