//! AMI messages: `Key: Value` headers.

/// One AMI message (an event or a response): its headers in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AmiMessage {
    /// `(key, value)` pairs as received, values trimmed.
    pub headers: Vec<(String, String)>,
}

impl AmiMessage {
    /// Parses one message, in either form:
    ///
    /// * real AMI: one `Key: Value` per line (`\r\n` or `\n`);
    /// * one line with ` | ` between headers, as in logs and the captured
    ///   fixtures (`06:01:09 Event: Registry | Privilege: system,all | ...`).
    ///   Anything before the first key on the line (a timestamp) is dropped.
    ///
    /// Lines or segments without `: ` are skipped; this never fails.
    pub fn parse(text: &str) -> AmiMessage {
        let mut msg = AmiMessage::default();
        let lines: Vec<&str> = text
            .split('\n')
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.trim().is_empty())
            .collect();
        if lines.len() == 1 {
            for seg in lines[0].split(" | ") {
                msg.push_segment(seg);
            }
        } else {
            for l in lines {
                msg.push_segment(l);
            }
        }
        msg
    }

    fn push_segment(&mut self, seg: &str) {
        let seg = seg.trim();
        let (key, value) = match seg.find(": ") {
            Some(i) => (&seg[..i], &seg[i + 2..]),
            None => match seg.strip_suffix(':') {
                Some(k) => (k, ""),
                None => return,
            },
        };
        // `06:01:09 Event` -> `Event`.
        let key = key.split_whitespace().last().unwrap_or("");
        if key.is_empty() {
            return;
        }
        self.headers.push((key.to_owned(), value.trim().to_owned()));
    }

    /// The first header with this name (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The `Event` header.
    pub fn event(&self) -> Option<&str> {
        self.get("Event")
    }
}

/// Splits a stream of AMI text into messages: blank lines end a message
/// (real AMI), and a line carrying ` | `-separated headers with an `Event`
/// or `Response` is a message by itself (the log form).
pub fn ami_messages(text: &str) -> Vec<AmiMessage> {
    let mut out = Vec::new();
    let mut block = String::new();
    let flush = |block: &mut String, out: &mut Vec<AmiMessage>| {
        if !block.trim().is_empty() {
            let m = AmiMessage::parse(block);
            if !m.headers.is_empty() {
                out.push(m);
            }
        }
        block.clear();
    };
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            flush(&mut block, &mut out);
            continue;
        }
        if line.contains(" | ") {
            let m = AmiMessage::parse(line);
            if m.get("Event").is_some() || m.get("Response").is_some() {
                flush(&mut block, &mut out);
                out.push(m);
                continue;
            }
        }
        block.push_str(line);
        block.push('\n');
    }
    flush(&mut block, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms() {
        let a = AmiMessage::parse(
            "06:01:09 Event: Registry | Privilege: system,all | ChannelType: PJSIP | Status: Rejected",
        );
        assert_eq!(a.event(), Some("Registry"));
        assert_eq!(a.get("channeltype"), Some("PJSIP"));
        let b = AmiMessage::parse("Event: Registry\r\nChannelType: PJSIP\r\nStatus: Rejected\r\n");
        assert_eq!(b.get("Status"), Some("Rejected"));
        let all =
            ami_messages("Event: A\r\nX: 1\r\n\r\nEvent: B\r\n\r\n10:00:00 Event: C | Y: 2\n");
        let names: Vec<_> = all.iter().filter_map(|m| m.event()).collect();
        assert_eq!(names, ["A", "B", "C"]);
    }
}
