//! `/etc/docker/daemon.json`: parse (keys kept in file order) and render (2-space pretty
//! printing with a trailing newline, other keys and their order kept).

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Parse daemon.json; `shown` names the file in errors.
pub fn parse(bytes: &[u8], shown: &str) -> Result<Map<String, Value>> {
    let hint = "correct the JSON by hand (dockerd refuses it too), then run stigfix again";
    let text = std::str::from_utf8(bytes).map_err(|error| {
        let line = bytes[..error.valid_up_to()]
            .iter()
            .filter(|byte| **byte == b'\n')
            .count()
            + 1;
        Error::new(format!("{shown}:{line}: not UTF-8 text")).with_hint(hint)
    })?;
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
}
