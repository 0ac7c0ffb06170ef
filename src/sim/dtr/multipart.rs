//! The body of the offline CVE database upload (docs/reference/api-facts.md §3.5): `multipart/form-data`
//! (RFC 2046 §5.1.1, RFC 7578) holding a tar archive.

/// Whether `data` starts with a tar header: `ustar` magic at offset 257 (POSIX `ustar\0`
/// and GNU `ustar  \0` both match).
pub(crate) fn is_tar(data: &[u8]) -> bool {
    data.len() >= 512 && &data[257..262] == b"ustar"
}

/// One part of a multipart/form-data body.
#[derive(Debug)]
pub(crate) struct FormPart<'a> {
    /// `name` parameter of `Content-Disposition`.
    pub(crate) name: Option<String>,
    pub(crate) filename: Option<String>,
    pub(crate) data: &'a [u8],
}

/// The boundary of a `multipart/form-data` Content-Type (quoted or not, 1-70 characters).
pub(crate) fn multipart_boundary(content_type: &str) -> Option<String> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    header_params(params)
        .into_iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value)
        .filter(|b| !b.is_empty() && b.len() <= 70)
}

/// Parses `; key=value; key="quoted \" value"` parameters.
fn header_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ';' || c.is_whitespace()).is_some() {}
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ';')).collect();
        if key.is_empty() && chars.peek().is_none() {
            return params;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            if chars.next_if_eq(&'"').is_some() {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => value.extend(chars.next()),
                        c => value.push(c),
                    }
                }
                // Skip anything up to the next parameter.
                while chars.next_if(|c| *c != ';').is_some() {}
            } else {
                value = std::iter::from_fn(|| chars.next_if(|c| *c != ';')).collect();
                value = value.trim().to_owned();
            }
        }
        params.push((key.trim().to_owned(), value));
    }
}

/// Position of `needle` in `haystack`.
pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while let Some(offset) = haystack.get(from..)?.iter().position(|&b| b == first) {
        let at = from + offset;
        if haystack.get(at + 1..at + needle.len())? == rest {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Parses a multipart body (RFC 2046 §5.1.1, RFC 7578) with CRLF line breaks: an optional
/// preamble, parts framed by `--boundary` lines, the close delimiter `--boundary--`.
pub(crate) fn parse_multipart<'a>(
    body: &'a [u8],
    boundary: &str,
) -> Result<Vec<FormPart<'a>>, String> {
    let dash_boundary = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    let mut pos = if body.starts_with(dash_boundary.as_bytes()) {
        dash_boundary.len()
    } else {
        find(body, delimiter.as_bytes()).ok_or("no boundary delimiter found")? + delimiter.len()
    };
    let mut parts = Vec::new();
    loop {
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        // Transport padding, then the CRLF that ends the delimiter line.
        let padding = rest
            .iter()
            .take_while(|b| **b == b' ' || **b == b'\t')
            .count();
        if !rest[padding..].starts_with(b"\r\n") {
            return Err("boundary delimiter not followed by CRLF".to_owned());
        }
        pos += padding + 2;
        let (headers, data_start) = if body[pos..].starts_with(b"\r\n") {
            ("", pos + 2)
        } else {
            let end = find(&body[pos..], b"\r\n\r\n").ok_or("part headers are not terminated")?;
            let headers = std::str::from_utf8(&body[pos..pos + end])
                .map_err(|_| "part headers are not UTF-8".to_owned())?;
            (headers, pos + end + 4)
        };
        let data_len = find(&body[data_start..], delimiter.as_bytes())
            .ok_or("missing closing boundary delimiter")?;
        let mut part = FormPart {
            name: None,
            filename: None,
            data: &body[data_start..data_start + data_len],
        };
        for line in headers.split("\r\n").filter(|l| !l.is_empty()) {
            let Some((header, value)) = line.split_once(':') else {
                return Err(format!("malformed part header line: {line:?}"));
            };
            if !header.trim().eq_ignore_ascii_case("content-disposition") {
                continue;
            }
            let (disposition, params) = value.split_once(';').unwrap_or((value, ""));
            if !disposition.trim().eq_ignore_ascii_case("form-data") {
                return Err(format!("unexpected disposition {:?}", disposition.trim()));
            }
            for (key, value) in header_params(params) {
                if key.eq_ignore_ascii_case("name") {
                    part.name = Some(value);
                } else if key.eq_ignore_ascii_case("filename") {
                    part.filename = Some(value);
                }
            }
        }
        parts.push(part);
        pos = data_start + data_len + delimiter.len();
    }
}
