//! systemd units of a host root: the unit search path, drop-ins, unit file syntax, and the
//! effective `ExecStart=` / `Environment=` of a service.
//!
//! Follows systemd.unit(5) and systemd.syntax(7): the fragment is the first file found on the
//! search path (highest priority first); drop-ins are `<unit>.d/*.conf` in every search
//! directory, a name in a higher-priority directory hiding the same name in lower ones, applied
//! in lexical order of their file names after the fragment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::fsroot::{Kind, View};
use crate::error::{Error, Result};

/// The unit search path, highest priority first.
pub const UNIT_DIRS: [&str; 5] = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// One `Key=Value` line (continuations joined) and where it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    pub section: String,
    pub key: String,
    pub value: String,
    pub line: usize,
}

fn unit_error(shown: &str, line: usize, what: &str) -> Error {
    Error::new(format!("{shown}:{line}: {what}"))
        .with_hint("correct the unit file by hand (see systemd.syntax(7)), then run stigfix again")
}

/// Parse a unit file: sections, `Key=Value`, `#`/`;` comments, backslash continuation.
pub fn parse_unit(bytes: &[u8], shown: &str) -> Result<Vec<Assignment>> {
    let text = std::str::from_utf8(bytes).map_err(|error| {
        let line = bytes[..error.valid_up_to()]
            .iter()
            .filter(|byte| **byte == b'\n')
            .count()
            + 1;
        unit_error(shown, line, "not UTF-8 text")
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut section: Option<String> = None;
    let mut assignments = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    let mut process = |line: usize, full: &str, section: &mut Option<String>| -> Result<()> {
        let full = full.trim();
        if full.is_empty() || full.starts_with('#') || full.starts_with(';') {
            return Ok(());
        }
        if full.starts_with('[') {
            if !full.ends_with(']') || full.len() < 3 {
                return Err(unit_error(
                    shown,
                    line,
                    &format!("invalid section header `{full}`"),
                ));
            }
            *section = Some(full[1..full.len() - 1].to_string());
            return Ok(());
        }
        let Some((key, value)) = full.split_once('=') else {
            return Err(unit_error(
                shown,
                line,
                &format!("`{full}` is not a `Key=Value` assignment"),
            ));
        };
        let Some(section) = section.as_ref() else {
            return Err(unit_error(
                shown,
                line,
                &format!("assignment `{}` before any [section] header", key.trim()),
            ));
        };
        assignments.push(Assignment {
            section: section.clone(),
            key: key.trim().to_string(),
            value: value.trim().to_string(),
            line,
        });
        Ok(())
    };
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = raw.trim();
        if pending.is_some() && (trimmed.starts_with('#') || trimmed.starts_with(';')) {
            continue;
        }
        let (start, mut full) = match pending.take() {
            Some((start, mut text)) => {
                text.push(' ');
                text.push_str(raw.trim_end());
                (start, text)
            }
            None => (number, raw.trim_end().to_string()),
        };
        let is_comment = full.trim_start().starts_with('#') || full.trim_start().starts_with(';');
        if !is_comment && full.ends_with('\\') {
            full.pop();
            pending = Some((start, full));
            continue;
        }
        process(start, &full, &mut section)?;
    }
    if let Some((start, full)) = pending {
        process(start, &full, &mut section)?;
    }
    Ok(assignments)
}

/// Split a value into words the way systemd does for `ExecStart=` and `Environment=`: double
/// and single quotes, C-style backslash escapes. `$VAR` and `%` specifiers are kept as written.
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

/// An `ExecStart=` command: prefix characters (`-@:+!`), words, and where it was set.
#[derive(Clone, Debug, PartialEq)]
pub struct Exec {
    pub prefix: String,
    pub words: Vec<String>,
    /// Root-relative path of the file that set it.
    pub file: PathBuf,
    pub line: usize,
}

impl Exec {
    pub fn parse(value: &str, file: &Path, line: usize) -> std::result::Result<Exec, String> {
        let prefix: String = value
            .chars()
            .take_while(|c| matches!(c, '-' | '@' | ':' | '+' | '!'))
            .collect();
        let words = split_words(&value[prefix.len()..])?;
        if words.is_empty() {
            return Err("ExecStart= names no command".into());
        }
        Ok(Exec {
            prefix,
            words,
            file: file.to_path_buf(),
            line,
        })
    }

    /// The program's arguments (after the executable, and after argv[0] with `@`).
    pub fn args(&self) -> &[String] {
        let skip = if self.prefix.contains('@') { 2 } else { 1 };
        &self.words[skip.min(self.words.len())..]
    }

    /// The words before the arguments.
    pub fn head(&self) -> &[String] {
        let skip = if self.prefix.contains('@') { 2 } else { 1 };
        &self.words[..skip.min(self.words.len())]
    }

    /// The value of an `ExecStart=` line for these words.
    pub fn render(prefix: &str, words: &[String]) -> String {
        let rendered: Vec<String> = words.iter().map(|word| quote_word(word)).collect();
        format!("{prefix}{}", rendered.join(" "))
    }

    /// The command as one line for messages.
    pub fn display(&self) -> String {
        Exec::render("", &self.words)
    }
}

/// A unit file as read: root-relative resolved path and bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitFile {
    pub name: String,
    pub rel: PathBuf,
    pub bytes: Vec<u8>,
}

/// A unit found on the search path with its drop-ins in the order they apply.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedUnit {
    pub fragment: UnitFile,
    pub dropins: Vec<UnitFile>,
}

/// What a unit lookup found.
pub enum Found {
    Absent,
    /// A symlink to /dev/null at this root-relative path.
    Masked(PathBuf),
    /// The resolved fragment.
    Fragment(PathBuf),
}

/// The fragment of `unit`: the first regular file named `unit` on the search path.
pub fn find_fragment(view: &View<'_>, unit: &str) -> Result<Found> {
    for dir in UNIT_DIRS {
        let dir = view.resolve(Path::new(dir), true)?;
        if dir.stat.map(|stat| stat.kind) != Some(Kind::Dir) {
            continue;
        }
        let candidate = dir.rel.join(unit);
        let Some(stat) = view.lstat(&candidate)? else {
            continue;
        };
        if stat.kind == Kind::Symlink && view.readlink(&candidate)? == Path::new("/dev/null") {
            return Ok(Found::Masked(candidate));
        }
        let resolved = view.resolve(&candidate, true)?;
        match resolved.stat.map(|stat| stat.kind) {
            Some(Kind::File) => return Ok(Found::Fragment(resolved.rel)),
            None => {
                return Err(Error::new(format!(
                    "{} is a dangling symlink ({} does not exist)",
                    view.show(&candidate),
                    view.show(&resolved.rel)
                ))
                .with_hint(format!(
                    "remove the link or point it at the {unit} unit file on the node"
                )));
            }
            Some(_) => continue,
        }
    }
    Ok(Found::Absent)
}

/// The drop-ins of `unit` in the order they apply: `(name, resolved root-relative path)`.
pub fn find_dropins(view: &View<'_>, unit: &str) -> Result<Vec<(String, PathBuf)>> {
    let mut seen: BTreeMap<String, Option<PathBuf>> = BTreeMap::new();
    for dir in UNIT_DIRS {
        let dir = view.resolve(&Path::new(dir).join(format!("{unit}.d")), true)?;
        if dir.stat.map(|stat| stat.kind) != Some(Kind::Dir) {
            continue;
        }
        for name in view.list(&dir.rel)? {
            if !name.ends_with(".conf") || seen.contains_key(&name) {
                continue;
            }
            let path = dir.rel.join(&name);
            let Some(stat) = view.lstat(&path)? else {
                continue;
            };
            if stat.kind == Kind::Symlink && view.readlink(&path)? == Path::new("/dev/null") {
                seen.insert(name, None);
                continue;
            }
            let resolved = view.resolve(&path, true)?;
            if resolved.stat.map(|stat| stat.kind) == Some(Kind::File) {
                seen.insert(name, Some(resolved.rel));
            }
        }
    }
    Ok(seen
        .into_iter()
        .filter_map(|(name, path)| Some((name, path?)))
        .collect())
}

/// Load a unit and its drop-ins; `Ok(None)` when it is not on the search path.
pub fn load(view: &View<'_>, unit: &str) -> Result<Option<LoadedUnit>> {
    let fragment = match find_fragment(view, unit)? {
        Found::Absent => return Ok(None),
        Found::Masked(path) => {
            return Err(Error::new(format!(
                "{unit} is masked: {} links to /dev/null",
                view.show(&path)
            ))
            .with_hint(format!(
                "unmask it on the node (`systemctl unmask {unit}`) if Docker should run there"
            )));
        }
        Found::Fragment(path) => path,
    };
    let read = |name: String, rel: PathBuf| -> Result<UnitFile> {
        let bytes = view.read(&rel)?;
        Ok(UnitFile { name, rel, bytes })
    };
    let fragment = read(unit.to_string(), fragment)?;
    let mut dropins = Vec::new();
    for (name, rel) in find_dropins(view, unit)? {
        dropins.push(read(name, rel)?);
    }
    Ok(Some(LoadedUnit { fragment, dropins }))
}

/// The `[Service]` settings stigfix reads, after fragment and drop-ins are applied.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceSettings {
    /// The `ExecStart=` commands in effect (systemd accepts exactly one for a non-oneshot).
    pub exec: Vec<Exec>,
    /// Environment variables in assignment order; a later assignment replaces the value.
    pub env: Vec<(String, String)>,
    pub env_files: Vec<String>,
}

impl ServiceSettings {
    /// Apply one parsed file on top of the settings so far.
    pub fn apply(&mut self, assignments: &[Assignment], file: &Path, shown: &str) -> Result<()> {
        for assignment in assignments.iter().filter(|a| a.section == "Service") {
            let located = |what: String| unit_error(shown, assignment.line, &what);
            match assignment.key.as_str() {
                "ExecStart" => {
                    if assignment.value.is_empty() {
                        self.exec.clear();
                    } else {
                        self.exec.push(
                            Exec::parse(&assignment.value, file, assignment.line)
                                .map_err(located)?,
                        );
                    }
                }
                "Environment" => {
                    let words = split_words(&assignment.value).map_err(located)?;
                    if words.is_empty() {
                        self.env.clear();
                    }
                    for word in words {
                        let Some((name, value)) = word.split_once('=') else {
                            continue;
                        };
                        if !valid_env_name(name) {
                            continue;
                        }
                        match self.env.iter_mut().find(|(existing, _)| existing == name) {
                            Some(slot) => slot.1 = value.to_string(),
                            None => self.env.push((name.to_string(), value.to_string())),
                        }
                    }
                }
                "EnvironmentFile" => {
                    if assignment.value.is_empty() {
                        self.env_files.clear();
                    } else {
                        self.env_files.push(assignment.value.clone());
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub fn get_env(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(existing, _)| existing == name)
            .map(|(_, value)| value.as_str())
    }
}

pub fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parse every file of a loaded unit and compute its effective `[Service]` settings.
pub fn effective(view: &View<'_>, unit: &LoadedUnit) -> Result<ServiceSettings> {
    let mut settings = ServiceSettings::default();
    for file in std::iter::once(&unit.fragment).chain(&unit.dropins) {
        let shown = view.show(&file.rel);
        let assignments = parse_unit(&file.bytes, &shown)?;
        settings.apply(&assignments, &file.rel, &shown)?;
    }
    if settings.exec.len() > 1 {
        let places: Vec<String> = settings
            .exec
            .iter()
            .map(|exec| format!("{}:{}", view.show(&exec.file), exec.line))
            .collect();
        return Err(Error::new(format!(
            "{} has more than one ExecStart= ({}); systemd refuses it",
            unit.fragment.name,
            places.join(", ")
        ))
        .with_hint("put an empty `ExecStart=` line before the ExecStart= that should win in the drop-in, then run stigfix again"));
    }
    Ok(settings)
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
        let line = Exec::render("", &words);
        assert_eq!(split_words(&line).unwrap(), words);
    }

    #[test]
    fn unit_syntax() {
        let text = "# c\n[Unit]\nDescription=x\n\n[Service]\n; c\nExecStart=/usr/bin/dockerd \\\n  -H fd:// \\\n# inside\n  --debug\nEnvironment=\"A=1 2\" B=3\n";
        let assignments = parse_unit(text.as_bytes(), "f").unwrap();
        assert_eq!(assignments.len(), 3);
        assert_eq!(assignments[1].key, "ExecStart");
        assert_eq!(assignments[1].line, 7);
        assert_eq!(
            split_words(&assignments[1].value).unwrap(),
            ["/usr/bin/dockerd", "-H", "fd://", "--debug"]
        );
        let error = parse_unit(b"[Service\nA=1\n", "/r/x.conf").unwrap_err();
        assert_eq!(
            error.message(),
            "/r/x.conf:1: invalid section header `[Service`"
        );
        let error = parse_unit(b"[Service]\nA=1\n\xff\n", "/r/x.conf").unwrap_err();
        assert_eq!(error.message(), "/r/x.conf:3: not UTF-8 text");
        assert!(error.hint().is_some());
        let error = parse_unit(b"[Service]\nnonsense\n", "/r/x.conf").unwrap_err();
        assert!(error.message().starts_with("/r/x.conf:2: "));
    }

    #[test]
    fn exec_reset_and_environment() {
        let mut settings = ServiceSettings::default();
        let fragment = parse_unit(
            b"[Service]\nExecStart=/usr/bin/dockerd -H fd://\nEnvironment=A=1 \"B=two words\"\n",
            "f",
        )
        .unwrap();
        settings.apply(&fragment, Path::new("/f"), "f").unwrap();
        let dropin = parse_unit(
            b"[Service]\nExecStart=\nExecStart=-/usr/bin/dockerd -H unix://\nEnvironment='A=3'\n",
            "d",
        )
        .unwrap();
        settings.apply(&dropin, Path::new("/d"), "d").unwrap();
        assert_eq!(settings.exec.len(), 1);
        assert_eq!(settings.exec[0].prefix, "-");
        assert_eq!(settings.exec[0].args(), ["-H", "unix://"]);
        assert_eq!(settings.exec[0].file, Path::new("/d"));
        assert_eq!(settings.get_env("A"), Some("3"));
        assert_eq!(settings.get_env("B"), Some("two words"));
        let reset = parse_unit(b"[Service]\nEnvironment=\nEnvironment=C=1\n", "e").unwrap();
        settings.apply(&reset, Path::new("/e"), "e").unwrap();
        assert_eq!(settings.get_env("A"), None);
        assert_eq!(settings.get_env("C"), Some("1"));
        let broken = parse_unit(b"[Service]\nEnvironment=\"A=1\n", "/r/b.conf").unwrap();
        let error = settings
            .apply(&broken, Path::new("/b"), "/r/b.conf")
            .unwrap_err();
        assert!(
            error
                .message()
                .starts_with("/r/b.conf:2: unterminated double quote")
        );
    }
}
