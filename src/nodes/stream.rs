//! Docker's multiplexed log stream, as `GET /services/{id}/logs?stdout=1&stderr=1&details=1`
//! answers it for a service without a TTY: frames of `[stream, 0, 0, 0, size (u32 big endian)]`
//! and `size` bytes, stream 1 stdout and 2 stderr (3: an error of the daemon's own). With
//! `details=1` each frame is one log message, `ATTRIBUTES LINE`: the attributes are `key=value`
//! pairs, query-escaped and joined by `,` (moby `api/server/httputils/write_log_stream.go`),
//! among them `com.docker.swarm.task.id` and `com.docker.swarm.node.id`; the line is the
//! message's bytes as the task wrote them (with its `\n`; a line longer than the log driver's
//! 16 KiB buffer comes in several messages, the last one ending in `\n`), so concatenating a
//! task's messages in order gives back what it wrote.

use std::collections::BTreeMap;

/// What one task wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskOutput {
    /// The node it ran on (`com.docker.swarm.node.id`).
    pub node: String,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Errors of the daemon about the stream (stream 3).
    pub daemon: Vec<u8>,
}

/// The task of each message, from its `details` attributes: `(task id, node id, line)`.
fn attributed(payload: &[u8]) -> Option<(String, String, &[u8])> {
    let space = payload.iter().position(|byte| *byte == b' ')?;
    let (attributes, line) = (&payload[..space], &payload[space + 1..]);
    let attributes = std::str::from_utf8(attributes).ok()?;
    let mut task = None;
    let mut node = None;
    for pair in attributes.split(',') {
        let (key, value) = pair.split_once('=')?;
        match unescape(key).as_str() {
            "com.docker.swarm.task.id" => task = Some(unescape(value)),
            "com.docker.swarm.node.id" => node = Some(unescape(value)),
            _ => {}
        }
    }
    Some((task?, node.unwrap_or_default(), line))
}

/// Go's `url.QueryUnescape`: `%XX` and `+` for a space.
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = |at: usize| {
            bytes
                .get(at)
                .and_then(|byte| char::from(*byte).to_digit(16))
        };
        match (bytes[index], hex(index + 1), hex(index + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                index += 3;
                continue;
            }
            (b'+', _, _) => out.push(b' '),
            (byte, _, _) => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Split a service's log stream by task. `Err` when the bytes are not a multiplexed stream
/// with details (a service with a TTY, a proxy that rewrote the answer): the message says
/// where it stops making sense.
pub fn by_task(body: &[u8]) -> Result<BTreeMap<String, TaskOutput>, String> {
    let mut tasks: BTreeMap<String, TaskOutput> = BTreeMap::new();
    let mut offset = 0;
    while offset < body.len() {
        let Some(header) = body.get(offset..offset + 8) else {
            return Err(format!(
                "the log stream ends inside a frame header at byte {offset} of {}",
                body.len()
            ));
        };
        if header[0] > 3 || header[1..4] != [0, 0, 0] {
            return Err(format!(
                "the logs are not Docker's multiplexed stream (byte {offset} starts {:?}, not a frame header)",
                String::from_utf8_lossy(&header[..header.len().min(8)])
            ));
        }
        let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let start = offset + 8;
        let Some(payload) = body.get(start..start + size) else {
            return Err(format!(
                "the log stream ends inside a frame at byte {start} ({size} bytes announced, {} there)",
                body.len() - start
            ));
        };
        let Some((task, node, line)) = attributed(payload) else {
            return Err(format!(
                "a log message at byte {offset} does not name its task (the request asked for details=1): {:?}",
                String::from_utf8_lossy(&payload[..payload.len().min(80)])
            ));
        };
        let entry = tasks.entry(task).or_default();
        entry.node = node;
        match header[0] {
            1 | 0 => entry.stdout.extend_from_slice(line),
            2 => entry.stderr.extend_from_slice(line),
            _ => entry.daemon.extend_from_slice(line),
        }
        offset = start + size;
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, payload: &str) -> Vec<u8> {
        let mut out = vec![stream, 0, 0, 0];
        out.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
        out.extend_from_slice(payload.as_bytes());
        out
    }

    const A: &str =
        "com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s,com.docker.swarm.task.id=t1";
    const B: &str =
        "com.docker.swarm.node.id=n2,com.docker.swarm.service.id=s,com.docker.swarm.task.id=t2";

    #[test]
    fn messages_are_put_back_together_per_task() {
        let long = "x".repeat(300);
        let mut body = Vec::new();
        body.extend(frame(1, &format!("{A} {{\n")));
        body.extend(frame(1, &format!("{B} other\n")));
        // A line the log driver split: two messages, the first without its newline.
        body.extend(frame(1, &format!("{A} \"{long}")));
        body.extend(frame(1, &format!("{A} \"\n")));
        body.extend(frame(2, &format!("{B} error: boom\n")));
        body.extend(frame(1, &format!("{A} }}\n")));
        let tasks = by_task(&body).unwrap();
        assert_eq!(
            String::from_utf8(tasks["t1"].stdout.clone()).unwrap(),
            format!("{{\n\"{long}\"\n}}\n")
        );
        assert_eq!(tasks["t1"].node, "n1");
        assert_eq!(tasks["t2"].stdout, b"other\n");
        assert_eq!(tasks["t2"].stderr, b"error: boom\n");
    }

    #[test]
    fn escaped_attributes_and_spaces_in_lines() {
        let body = frame(
            1,
            "com.docker.swarm.task.id=t%2C1,com.docker.swarm.node.id=n+1 a b c\n",
        );
        let tasks = by_task(&body).unwrap();
        assert_eq!(tasks["t,1"].stdout, b"a b c\n");
        assert_eq!(tasks["t,1"].node, "n 1");
    }

    #[test]
    fn what_is_not_a_multiplexed_stream_is_refused_with_where() {
        let error = by_task(b"{\"format_version\": 2}\n").unwrap_err();
        assert!(error.contains("not Docker's multiplexed stream"), "{error}");
        let mut cut = frame(1, &format!("{A} line\n"));
        cut.truncate(20);
        let error = by_task(&cut).unwrap_err();
        assert!(error.contains("ends inside a frame"), "{error}");
        let error = by_task(&frame(1, "no attributes here\n")).unwrap_err();
        assert!(error.contains("does not name its task"), "{error}");
        assert!(by_task(b"").unwrap().is_empty());
    }
}
