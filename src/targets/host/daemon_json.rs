//! `/etc/docker/daemon.json`: parse (keys kept in file order) and render (2-space pretty
//! printing with a trailing newline, other keys and their order kept).
//!
//! A byte order mark is read the way dockerd 24.0 and later read it: moby's
//! `getConflictFreeConfiguration()` (daemon/config/config.go, since commit d42495033e
//! "daemon/config: support alternate (common) unicode encodings using a BOM", first released
//! in v24.0.0) decodes the file with `unicode.BOMOverride` then `encoding.UTF8Validator`: a
//! UTF-8 BOM is skipped, UTF-16 LE or BE with a BOM is decoded, anything else must be UTF-8.
//! Older dockerd (20.10 — Debian 12's `docker.io` 20.10.24, tried — and 23.0) refuse such a
//! file: `unable to configure the Docker daemon with file …: invalid character 'ï' looking for
//! beginning of value`. So stigfix reads it, notes the difference, and writes UTF-8 without a
//! BOM when it rewrites the file (what every dockerd reads).

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The text of daemon.json and the byte order mark it started with, if any.
pub fn decode(bytes: &[u8]) -> std::result::Result<(String, Option<&'static str>), String> {
    let utf16 = |rest: &[u8], little: bool| -> std::result::Result<String, String> {
        let units: Vec<u16> = rest
            .chunks(2)
            .map(|pair| {
                let pair = [pair[0], *pair.get(1).unwrap_or(&0)];
                if little {
                    u16::from_le_bytes(pair)
                } else {
                    u16::from_be_bytes(pair)
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|_| "not valid UTF-16 text".to_string())
    };
    if let Some(rest) = bytes.strip_prefix(b"\xef\xbb\xbf") {
        return Ok((utf8(rest)?, Some("UTF-8")));
    }
    if let Some(rest) = bytes.strip_prefix(b"\xff\xfe") {
        return Ok((utf16(rest, true)?, Some("UTF-16 LE")));
    }
    if let Some(rest) = bytes.strip_prefix(b"\xfe\xff") {
        return Ok((utf16(rest, false)?, Some("UTF-16 BE")));
    }
    Ok((utf8(bytes)?, None))
}

fn utf8(bytes: &[u8]) -> std::result::Result<String, String> {
    std::str::from_utf8(bytes)
        .map(str::to_string)
        .map_err(|error| {
            let line = bytes[..error.valid_up_to()]
                .iter()
                .filter(|byte| **byte == b'\n')
                .count()
                + 1;
            format!("line {line} is not UTF-8 text")
        })
}

/// What stigfix notes about a daemon.json that starts with a byte order mark.
pub fn bom_note(shown: &str, encoding: &str) -> String {
    format!(
        "{shown} starts with a {encoding} byte order mark: dockerd 24.0 and later read it as stigfix does, older dockerd (20.10, 23.0) refuse to start with it (`invalid character 'ï' looking for beginning of value`); when stigfix rewrites the file it writes UTF-8 without the mark"
    )
}

/// Parse daemon.json; `shown` names the file in errors.
pub fn parse(bytes: &[u8], shown: &str) -> Result<Map<String, Value>> {
    let hint = "correct the JSON by hand (dockerd refuses it too), then run stigfix again";
    let (text, _) =
        decode(bytes).map_err(|why| Error::new(format!("{shown}: {why}")).with_hint(hint))?;
    let text = text.as_str();
    if text.trim().is_empty() {
        // dockerd treats an empty file as no configuration.
        return Ok(Map::new());
    }
    let value: Value = serde_json::from_str(text).map_err(|error| {
        let message = error.to_string();
        let message = match message.rfind(" at line ") {
            Some(index) => message[..index].to_string(),
            None => message,
        };
        Error::new(format!(
            "{shown}:{}:{}: not valid JSON: {message}",
            error.line(),
            error.column()
        ))
        .with_hint(hint)
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(Error::new(format!(
            "{shown}: daemon.json must hold a JSON object, not {}",
            kind(&other)
        ))
        .with_hint(hint)),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub fn render(map: &Map<String, Value>) -> Vec<u8> {
    let mut text = serde_json::to_string_pretty(&Value::Object(map.clone()))
        .unwrap_or_else(|_| "{}".to_string());
    text.push('\n');
    text.into_bytes()
}

/// The strings of an array-valued key (other entries ignored).
pub fn strings(map: &Map<String, Value>, key: &str) -> Vec<String> {
    match map.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(item)) => vec![item.clone()],
        _ => Vec::new(),
    }
}

pub fn string(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key)
        .and_then(Value::as_str)
        .filter(|value| !value.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_reports_lines() {
        let map = parse(
            b"{\"b\": 1, \"a\": [\"x\"], \"c\": {\"z\": 1, \"y\": 2}}",
            "f",
        )
        .unwrap();
        let text = String::from_utf8(render(&map)).unwrap();
        assert_eq!(
            text,
            "{\n  \"b\": 1,\n  \"a\": [\n    \"x\"\n  ],\n  \"c\": {\n    \"z\": 1,\n    \"y\": 2\n  }\n}\n"
        );
        let error = parse(b"{\n  \"a\": 1,\n  \"b\" 2\n}\n", "/r/daemon.json").unwrap_err();
        assert_eq!(
            error.message(),
            "/r/daemon.json:3:7: not valid JSON: expected `:`"
        );
        assert!(
            parse(b"[]", "f")
                .unwrap_err()
                .message()
                .contains("JSON object")
        );
        assert!(parse(b"  \n", "f").unwrap().is_empty());
    }

    #[test]
    fn a_byte_order_mark_is_read_as_dockerd_24_reads_it() {
        let map = parse(b"\xef\xbb\xbf{\"hosts\": [\"tcp://0.0.0.0:2375\"]}\n", "f").unwrap();
        assert_eq!(strings(&map, "hosts"), ["tcp://0.0.0.0:2375"]);
        assert_eq!(decode(b"\xef\xbb\xbf{}").unwrap().1, Some("UTF-8"));
        let mut le = vec![0xff, 0xfe];
        for unit in "{\"debug\": true}".encode_utf16() {
            le.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(
            decode(&le).unwrap(),
            ("{\"debug\": true}".to_string(), Some("UTF-16 LE"))
        );
        let mut be = vec![0xfe, 0xff];
        for unit in "{}".encode_utf16() {
            be.extend_from_slice(&unit.to_be_bytes());
        }
        assert!(parse(&be, "f").unwrap().is_empty());
        assert_eq!(
            parse(b"{\n\"a\": \"\xff\"}", "/r/daemon.json")
                .unwrap_err()
                .message(),
            "/r/daemon.json: line 2 is not UTF-8 text"
        );
        assert_eq!(decode(b"{}").unwrap().1, None);
    }
}
