//! Text from a pack shown to people: which characters must never reach a
//! terminal or a Markdown comment as they are.
//!
//! A pack's strings (workload ids, tracks, metric names) are the packer's.
//! Control characters can drive a terminal; bidirectional overrides and
//! isolates (U+202A–U+202E, U+2066–U+2069, ...) reorder what a reader sees;
//! zero-width and other invisible characters (U+200B, U+FEFF, ...) make two
//! different ids look alike. Every place that prints or renders pack text
//! escapes what [`is_deceptive`] names.

/// Whether `c` is a control, bidirectional-formatting, invisible or
/// line-separating character: shown escaped, never as itself.
pub fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'                      // soft hyphen
                | '\u{034F}'                // combining grapheme joiner
                | '\u{061C}'                // Arabic letter mark
                | '\u{115F}' | '\u{1160}'   // Hangul fillers
                | '\u{180E}'                // Mongolian vowel separator
                | '\u{200B}'..='\u{200F}'   // zero-width space, joiners, LRM, RLM
                | '\u{2028}' | '\u{2029}'   // line and paragraph separators
                | '\u{202A}'..='\u{202E}'   // bidi embeddings and overrides
                | '\u{2060}'..='\u{2064}'   // word joiner, invisible operators
                | '\u{2066}'..='\u{2069}'   // bidi isolates
                | '\u{3164}'                // Hangul filler
                | '\u{FEFF}'                // zero-width no-break space (BOM)
                | '\u{FFA0}'                // halfwidth Hangul filler
                | '\u{FFF9}'..='\u{FFFB}'   // interlinear annotations
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deceptive_characters() {
        for c in
            ['\u{202E}', '\u{2066}', '\u{2069}', '\u{200B}', '\u{FEFF}', '\u{200F}', '\u{1B}', '\u{7F}', '\u{2028}']
        {
            assert!(is_deceptive(c), "{:?}", c);
        }
        for c in ['a', 'é', '中', '_', ' ', '\u{1F600}'] {
            assert!(!is_deceptive(c), "{c:?}");
        }
    }
}
