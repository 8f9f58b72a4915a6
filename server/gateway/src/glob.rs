//! `*` patterns for model names: `*` matches any run of characters.

/// Whether `name` matches `pattern`.
pub fn matches(pattern: &str, name: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == name;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// How specific a pattern is: more literal characters win.
pub fn specificity(pattern: &str) -> usize {
    pattern.chars().filter(|&c| c != '*').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("gpt-4o", "gpt-4o"));
        assert!(!matches("gpt-4o", "gpt-4o-mini"));
        assert!(matches("gpt-4o*", "gpt-4o-mini"));
        assert!(matches("*", "anything"));
        assert!(matches("*", ""));
        assert!(matches("claude-*-sonnet", "claude-3-5-sonnet"));
        assert!(!matches("claude-*-sonnet", "claude-3-5-opus"));
        assert!(matches("a*b*c", "aXbYc"));
        assert!(!matches("a*b*c", "aXcYb"));
        assert!(
            !matches("ab*ba", "aba"),
            "prefix and suffix must not overlap"
        );
        assert!(specificity("gpt-4o*") > specificity("gpt*"));
    }
}
