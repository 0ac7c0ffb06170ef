//! Unit file syntax (systemd.syntax(7), systemd's `config_parse()`): sections, `Key=Value`,
//! comments, backslash continuations, and the word splitting of `ExecStart=` and
//! `Environment=` values.
//!
//! systemd skips a line it cannot parse with a warning (`Missing '=', ignoring line.`) and goes
//! on; stigfix keeps such lines as [`BadLine`]s, so that what they were meant to say makes the
//! values they could affect `unknown` instead of silently missing.

/// One `Key=Value` line (continuations joined) and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    pub section: String,
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// A line systemd would skip (or a file it would not load), and why.
#[derive(Clone, Debug, PartialEq)]
pub struct BadLine {
    pub line: usize,
    pub what: String,
}

/// A parsed unit file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parsed {
    pub assignments: Vec<Assignment>,
    pub bad: Vec<BadLine>,
}

/// Parse a unit file the way systemd's `config_parse()` reads it: a UTF-8 byte order mark is
/// skipped; a line whose first non-blank character is `#` or `;` is a comment, even inside a
/// continuation; a line ending in an odd number of backslashes continues on the next line, the
/// backslash becoming a space.
pub fn parse_unit(bytes: &[u8]) -> Parsed {
    let mut parsed = Parsed::default();
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let line = bytes[..error.valid_up_to()]
                .iter()
                .filter(|byte| **byte == b'\n')
                .count()
                + 1;
            parsed.bad.push(BadLine {
                line,
                what: "not UTF-8 text".to_string(),
            });
            return parsed;
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut section: Option<String> = None;
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in text.split('\n').enumerate() {
        let number = index + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = raw.trim_start();
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let (start, mut full) = match pending.take() {
            Some((start, mut joined)) => {
                joined.push_str(raw);
                (start, joined)
            }
            None => (number, raw.to_string()),
        };
        if ends_escaped(&full) {
            full.pop();
            full.push(' ');
            pending = Some((start, full));
            continue;
        }
        parse_line(start, &full, &mut section, &mut parsed);
    }
    if let Some((start, full)) = pending {
        parse_line(start, &full, &mut section, &mut parsed);
    }
    parsed
}

/// Whether a line ends in an unescaped backslash (systemd counts escapes from the start).
fn ends_escaped(line: &str) -> bool {
    let mut escaped = false;
    for c in line.chars() {
        escaped = if escaped { false } else { c == '\\' };
    }
    escaped
}

fn parse_line(line: usize, full: &str, section: &mut Option<String>, parsed: &mut Parsed) {
    let full = full.trim();
    if full.is_empty() {
        return;
    }
    let mut bad = |what: String| parsed.bad.push(BadLine { line, what });
    if full.starts_with('[') {
        if !full.ends_with(']') || full.len() < 3 {
            bad(format!("invalid section header `{full}`"));
            *section = None;
            return;
        }
        *section = Some(full[1..full.len() - 1].to_string());
        return;
    }
    let Some((key, value)) = full.split_once('=') else {
        bad(format!("`{full}` is not a `Key=Value` assignment"));
        return;
    };
    let Some(current) = section.as_ref() else {
        bad(format!(
            "assignment `{}` before any [section] header",
            key.trim()
        ));
        return;
    };
    parsed.assignments.push(Assignment {
        section: current.clone(),
        key: key.trim().to_string(),
        value: value.trim().to_string(),
        line,
    });
}

/// Split a value into words the way systemd does for `ExecStart=` and `Environment=`
/// (`extract_first_word()` with unquoting and C escapes): double and single quotes, `\a \b \f
/// \n \r \s \t \v \xNN \uNNNN \UNNNNNNNN \NNN`. `$VAR` and `%` specifiers are kept as written.
pub fn split_words(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            match c {
                '"' | '\'' => loop {
                    match chars.next() {
                        None => {
                            return Err(format!(
                                "unterminated {} quote in `{text}`",
                                if c == '"' { "double" } else { "single" }
                            ));
                        }
                        Some(q) if q == c => break,
                        Some('\\') => word.push(unescape(&mut chars, text)?),
                        Some(other) => word.push(other),
                    }
                },
                '\\' => word.push(unescape(&mut chars, text)?),
                other => word.push(other),
            }
        }
        words.push(word);
    }
    Ok(words)
}

fn unescape(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    text: &str,
) -> std::result::Result<char, String> {
    let Some(c) = chars.next() else {
        return Err(format!("trailing backslash in `{text}`"));
    };
    let mut number = |digits: usize, radix: u32| -> std::result::Result<char, String> {
        let mut value = 0u32;
        for _ in 0..digits {
            let digit = chars
                .next()
                .and_then(|d| d.to_digit(radix))
                .ok_or_else(|| format!("bad escape sequence in `{text}`"))?;
            value = value * radix + digit;
        }
        char::from_u32(value).ok_or_else(|| format!("bad escape sequence in `{text}`"))
    };
    Ok(match c {
        'a' => '\u{7}',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        's' => ' ',
        't' => '\t',
        'v' => '\u{b}',
        'x' => number(2, 16)?,
        'u' => number(4, 16)?,
        'U' => number(8, 16)?,
        '0'..='7' => {
            let rest = number(2, 8)?;
            char::from_u32(c.to_digit(8).unwrap_or(0) * 64 + rest as u32)
                .ok_or_else(|| format!("bad escape sequence in `{text}`"))?
        }
        other => other,
    })
}

/// A word as systemd reads it back: bare when safe, else in double quotes with escapes.
pub fn quote_word(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '"' | '\'' | '\\'));
    if safe {
        return word.to_string();
    }
    let mut quoted = String::from("\"");
    for c in word.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if c.is_control() => quoted.push_str(&format!("\\x{:02x}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// An environment variable name systemd accepts (`env_name_is_valid()`).
pub fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The names a line of text mentions (every run of `[A-Za-z0-9_]` that is a valid name).
pub fn names_in(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|part| valid_env_name(part))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_follow_systemd_quoting() {
        assert_eq!(
            split_words(r#"/usr/bin/dockerd -H fd:// "--label=a b" 'x y' a\ b --x="q\"z""#)
                .unwrap(),
            [
                "/usr/bin/dockerd",
                "-H",
                "fd://",
                "--label=a b",
                "x y",
                "a b",
                "--x=q\"z"
            ]
        );
        assert_eq!(split_words(r"a\x41\tb").unwrap(), ["aA\tb"]);
        assert!(
            split_words(r#"/usr/bin/dockerd "open"#)
                .unwrap_err()
                .contains("unterminated double quote")
        );
        assert_eq!(quote_word("a b"), "\"a b\"");
        assert_eq!(quote_word("$DOCKER_OPTS"), "$DOCKER_OPTS");
        let words = vec!["a b".to_string(), "q\"\\".to_string(), "c".to_string()];
        let line: Vec<String> = words.iter().map(|word| quote_word(word)).collect();
        assert_eq!(split_words(&line.join(" ")).unwrap(), words);
    }

    #[test]
    fn unit_syntax() {
        let text = "# c\n[Unit]\nDescription=x\n\n[Service]\n; c\nExecStart=/usr/bin/dockerd \\\n  -H fd:// \\\n# inside\n  --debug\nEnvironment=\"A=1 2\" B=3\n";
        let parsed = parse_unit(text.as_bytes());
        assert!(parsed.bad.is_empty());
        let assignments = parsed.assignments;
        assert_eq!(assignments.len(), 3);
        assert_eq!(assignments[1].key, "ExecStart");
        assert_eq!(assignments[1].line, 7);
        assert_eq!(
            split_words(&assignments[1].value).unwrap(),
            ["/usr/bin/dockerd", "-H", "fd://", "--debug"]
        );
    }

    #[test]
    fn continuation_needs_an_odd_backslash_at_the_very_end() {
        // `\\` is an escaped backslash; `\ ` (a space after it) does not continue either.
        let parsed = parse_unit(b"[Service]\nA=x \\\\\nB=1\nC=y \\ \nD=2\r\nE=z\\\r\n  w\n");
        let keys: Vec<(&str, &str, usize)> = parsed
            .assignments
            .iter()
            .map(|a| (a.key.as_str(), a.value.as_str(), a.line))
            .collect();
        assert_eq!(
            keys,
            [
                ("A", "x \\\\", 2),
                ("B", "1", 3),
                ("C", "y \\", 4),
                ("D", "2", 5),
                ("E", "z   w", 6)
            ]
        );
    }

    #[test]
    fn lines_systemd_skips_are_kept_as_bad_lines() {
        let parsed = parse_unit(b"A=0\n[Service\nB=1\n[Service]\nExecStart /x\nC=2\n\xff\n");
        let bad: Vec<(usize, &str)> = parsed
            .bad
            .iter()
            .map(|bad| (bad.line, bad.what.as_str()))
            .collect();
        assert_eq!(bad, [(7, "not UTF-8 text")]);
        let parsed = parse_unit(b"A=0\n[Service\nB=1\n[Service]\nExecStart /x\nC=2\n");
        let bad: Vec<(usize, &str)> = parsed
            .bad
            .iter()
            .map(|bad| (bad.line, bad.what.as_str()))
            .collect();
        assert_eq!(
            bad,
            [
                (1, "assignment `A` before any [section] header"),
                (2, "invalid section header `[Service`"),
                (3, "assignment `B` before any [section] header"),
                (5, "`ExecStart /x` is not a `Key=Value` assignment"),
            ]
        );
        assert_eq!(parsed.assignments.len(), 1);
        assert_eq!(parsed.assignments[0].key, "C");
    }

    #[test]
    fn names_in_a_line() {
        assert_eq!(
            names_in("if [ -z \"${DOCKER_CERT_PATH}\" ]; then"),
            ["if", "z", "DOCKER_CERT_PATH", "then"]
        );
        assert_eq!(names_in("export DOCKER_OPTS"), ["export", "DOCKER_OPTS"]);
    }
}
