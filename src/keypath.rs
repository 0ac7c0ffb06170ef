//! Dotted key paths such as `auth.sessions.lifetime_minutes` or
//! `user_workload_defaults.swarm_defaults."tasktemplate.restartpolicy.delay".value`.

use std::fmt;

/// The wildcard segment.
pub const WILDCARD: &str = "*";

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyPath(Vec<String>);

impl KeyPath {
    /// Parse a dotted path; segments that are not bare TOML keys are written in double quotes.
    pub fn parse(text: &str) -> Result<KeyPath, String> {
        let mut segments = Vec::new();
        let mut chars = text.chars().peekable();
        loop {
            let mut segment = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped) => segment.push(escaped),
                            None => return Err(format!("unterminated quoted key in `{text}`")),
                        },
                        Some(other) => segment.push(other),
                        None => return Err(format!("unterminated quoted key in `{text}`")),
                    }
                }
            } else if chars.peek() == Some(&'*') {
                // A wildcard segment: every item of a collection (`repositories.*.scanOnPush`).
                chars.next();
                segment.push('*');
            } else {
                while let Some(&next) = chars.peek() {
                    if next == '.' {
                        break;
                    }
                    if !is_bare(next) {
                        return Err(format!(
                            "`{text}` is not a key path: `{next}` needs the segment in double quotes"
                        ));
                    }
                    segment.push(next);
                    chars.next();
                }
                if segment.is_empty() {
                    return Err(format!("`{text}` is not a key path: empty segment"));
                }
            }
            segments.push(segment);
            match chars.next() {
                None => break,
                Some('.') => continue,
                Some(other) => {
                    return Err(format!("`{text}` is not a key path: unexpected `{other}`"));
                }
            }
        }
        Ok(KeyPath(segments))
    }

    pub fn from_segments(segments: Vec<String>) -> KeyPath {
        KeyPath(segments)
    }

    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// True when a segment is the wildcard `*`.
    pub fn is_pattern(&self) -> bool {
        self.0.iter().any(|segment| segment == WILDCARD)
    }

    /// Whether a concrete path is one of the paths this pattern stands for.
    pub fn matches(&self, concrete: &KeyPath) -> bool {
        self.0.len() == concrete.0.len()
            && self
                .0
                .iter()
                .zip(&concrete.0)
                .all(|(pattern, segment)| pattern == WILDCARD || pattern == segment)
    }

    /// The last segment (the key itself).
    pub fn leaf(&self) -> &str {
        self.0.last().map(String::as_str).unwrap_or_default()
    }

    /// Look the path up in a plain TOML table.
    pub fn lookup<'a>(&self, table: &'a toml::Table) -> Option<&'a toml::Value> {
        let (last, parents) = self.0.split_last()?;
        let mut current = table;
        for segment in parents {
            current = current.get(segment)?.as_table()?;
        }
        current.get(last)
    }
}

fn is_bare(character: char) -> bool {
    character.is_ascii_alphanumeric() || character == '_' || character == '-'
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, segment) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(".")?;
            }
            if segment == WILDCARD || (!segment.is_empty() && segment.chars().all(is_bare)) {
                f.write_str(segment)?;
            } else {
                write!(
                    f,
                    "\"{}\"",
                    segment.replace('\\', "\\\\").replace('"', "\\\"")
                )?;
            }
        }
        Ok(())
    }
}

impl serde::Serialize for KeyPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for KeyPath {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        KeyPath::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bare_and_quoted_segments() {
        let path = KeyPath::parse(r#"a.b."c.d".e"#).unwrap();
        assert_eq!(path.segments(), ["a", "b", "c.d", "e"]);
        assert_eq!(path.to_string(), r#"a.b."c.d".e"#);
        assert_eq!(path.leaf(), "e");
    }

    #[test]
    fn wildcard_segments_match_concrete_paths() {
        let pattern = KeyPath::parse("repositories.*.scanOnPush").unwrap();
        assert!(pattern.is_pattern());
        assert_eq!(pattern.to_string(), "repositories.*.scanOnPush");
        let concrete = KeyPath::parse(r#"repositories."team/app".scanOnPush"#).unwrap();
        assert!(!concrete.is_pattern());
        assert!(pattern.matches(&concrete));
        assert!(!pattern.matches(&KeyPath::parse("repositories.x.immutableTags").unwrap()));
    }

    #[test]
    fn rejects_bad_paths() {
        assert!(KeyPath::parse("a..b").is_err());
        assert!(KeyPath::parse("a b").is_err());
        assert!(KeyPath::parse("\"open").is_err());
        assert!(KeyPath::parse("").is_err());
    }

    #[test]
    fn looks_up_nested_values() {
        let table: toml::Table =
            toml::from_str("[auth.sessions]\nlifetime_minutes = 10\n").unwrap();
        let path = KeyPath::parse("auth.sessions.lifetime_minutes").unwrap();
        assert_eq!(path.lookup(&table), Some(&toml::Value::Integer(10)));
        assert_eq!(KeyPath::parse("auth.nothing").unwrap().lookup(&table), None);
    }
}
