//! The results: text or JSON, one registration after another.
use super::{Note, Replay};
use crate::term::Style;
use regwatch::capture::Format;
use regwatch::core::terminal_safe as sanitize;
use regwatch::{HistoryKind, TrunkId};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::io::{self, Write};
use std::path::Path;

/// `regwatch::core::terminal_safe`, with printable ASCII (nearly all of
/// it) let through at once.
pub(super) fn terminal_safe(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        Cow::Borrowed(s)
    } else {
        sanitize(s)
    }
}

/// Milliseconds shown as seconds with three decimals (`12.345`), as
/// `{:.3}` shows them divided by 1000, without going through a float.
struct Seconds(u64);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut buf = [0u8; 32];
        let mut w = &mut buf[..];
        // 32 bytes hold any u64 of seconds and three decimals.
        let _ = write!(w, "{}.{:03}", self.0 / 1000, self.0 % 1000);
        let len = 32 - w.len();
        f.pad(std::str::from_utf8(&buf[..len]).unwrap_or(""))
    }
}

/// `v` pretty-printed as `serde_json::to_string_pretty` does, its lines
/// after the first indented by `indent` spaces (to sit inside an outer
/// pretty-printed document). Pretty JSON has line feeds only between
/// tokens (never inside a string), so indenting after each is exact.
fn write_pretty(out: &mut dyn Write, v: &Value, indent: usize) -> io::Result<()> {
    const SPACES: &[u8] = &[b' '; 64];
    let pad = &SPACES[..indent.min(SPACES.len())];
    let text = serde_json::to_vec_pretty(v).map_err(io::Error::other)?;
    let mut rest = &text[..];
    while let Some(nl) = memchr::memchr(b'\n', rest) {
        out.write_all(&rest[..=nl])?;
        out.write_all(pad)?;
        rest = &rest[nl + 1..];
    }
    out.write_all(rest)
}

/// Writes one file's results; whether a registration has a problem.
pub(super) fn write_file(
    out: &mut dyn Write,
    st: &Style,
    json: bool,
    path: &Path,
    format: Format,
    replay: &Replay,
    notes: &[Note],
) -> io::Result<bool> {
    let shown_path = path.display().to_string();
    if json {
        // The file object, keys in order as serde_json writes a map, the
        // registrations streamed one by one.
        let mut fields: Vec<(&str, Value)> = vec![
            ("format", json!(format.as_str())),
            ("messages", json!(replay.messages)),
            ("observed", json!(replay.used)),
            ("path", json!(shown_path)),
        ];
        if !notes.is_empty() {
            let v: Vec<Value> = notes
                .iter()
                .map(|n| json!({"code": n.code, "count": n.count, "text": n.text}))
                .collect();
            fields.push(("notes", Value::Array(v)));
        }
        fields.sort_by(|a, b| a.0.cmp(b.0));
        out.write_all(b"{\n")?;
        for (k, v) in &fields {
            write!(out, "      {}: ", json!(k))?;
            write_pretty(out, v, 6)?;
            out.write_all(b",\n")?;
        }
        out.write_all(b"      \"registrations\": [")?;
    } else {
        writeln!(
            out,
            "{} {}",
            st.bold(&terminal_safe(&shown_path)),
            st.dim(&format!(
                "({}, {} SIP messages)",
                format.as_str(),
                replay.messages
            ))
        )?;
        for n in notes {
            writeln!(out, "  {} {}", st.warn("note:"), n.text)?;
        }
    }
    let (problems, regs) = write_registrations(out, st, json, replay)?;
    if json {
        if regs > 0 {
            out.write_all(b"\n      ")?;
        }
        out.write_all(b"]\n    }")?;
    } else if regs == 0 {
        writeln!(out, "  no REGISTER in it")?;
    }
    Ok(problems)
}

/// Some registrations rendered: the text, whether one has a problem, how
/// many.
struct Rendered {
    text: Vec<u8>,
    problems: bool,
    regs: u64,
}

/// Writes every registration, in trunk order; whether one has a problem,
/// and how many were written. The rendering (snapshot, diagnosis, text)
/// is the bulk of the writing for a large capture: as text, pieces of it
/// are rendered on two threads (the calling one and a helper taking every
/// other piece) and written in order, so the output is the same bytes as
/// rendering them one by one. JSON is rendered on the calling thread
/// alone: its rendering allocates so much that two threads took about 30 %
/// more CPU time in all (500k registrations, a loaded two-core machine)
/// for no gain in time.
fn write_registrations(
    out: &mut dyn Write,
    st: &Style,
    json: bool,
    replay: &Replay,
) -> io::Result<(bool, u64)> {
    /// Trunks per piece.
    const PIECE: usize = 2048;
    let ids: Vec<TrunkId> = replay.engine.trunk_ids().collect();
    let pieces: Vec<&[TrunkId]> = ids.chunks(PIECE).collect();
    let render = |ids: &[TrunkId]| -> Rendered {
        let mut r = Rendered {
            text: Vec::with_capacity(ids.len() * if json { 1536 } else { 384 }),
            problems: false,
            regs: 0,
        };
        for &id in ids {
            // Writing to a Vec cannot fail.
            if let Ok(Some(p)) = render_registration(&mut r.text, st, json, replay, id) {
                r.problems |= p;
                r.regs += 1;
            }
        }
        r
    };
    let mut problems = false;
    let mut regs = 0u64;
    let mut put = |out: &mut dyn Write, r: Rendered| -> io::Result<()> {
        // In JSON each registration comes after ",\n"; the first of the
        // file after "\n" alone.
        let text = match r.text.split_first() {
            Some((b',', rest)) if json && regs == 0 => rest,
            _ => &r.text[..],
        };
        out.write_all(text)?;
        problems |= r.problems;
        regs += r.regs;
        Ok(())
    };
    if pieces.len() < 2 || json {
        for p in &pieces {
            put(out, render(p))?;
        }
        return Ok((problems, regs));
    }
    std::thread::scope(|s| -> io::Result<()> {
        // At most two rendered pieces wait; when the writing stops (a
        // closed stdout) the receiver goes and the helper stops too.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Rendered>(2);
        let render = &render;
        let odd: Vec<&[TrunkId]> = pieces.iter().skip(1).step_by(2).copied().collect();
        s.spawn(move || {
            for p in odd {
                if tx.send(render(p)).is_err() {
                    break;
                }
            }
        });
        for (i, p) in pieces.iter().enumerate() {
            let r = if i % 2 == 0 {
                render(p)
            } else {
                rx.recv()
                    .map_err(|_| io::Error::other("the rendering thread failed"))?
            };
            put(out, r)?;
        }
        Ok(())
    })?;
    Ok((problems, regs))
}

/// One registration, as text or as a JSON element (after ",\n" and its
/// indentation); whether it has a problem (`None`: no such trunk).
fn render_registration(
    out: &mut Vec<u8>,
    st: &Style,
    json: bool,
    replay: &Replay,
    id: TrunkId,
) -> io::Result<Option<bool>> {
    let engine = &replay.engine;
    let offset = replay.first.unwrap_or(0);
    let (Ok(snap), Ok(d)) = (engine.snapshot(id), engine.diagnose(id)) else {
        return Ok(None);
    };
    let problem = !matches!(
        d.cause,
        regwatch::Cause::Healthy | regwatch::Cause::ExpiryDrift | regwatch::Cause::Deregistered
    );
    let history = snap
        .history
        .iter()
        .filter(|h| h.kind != HistoryKind::Configured);
    if json {
        let timeline: Vec<Value> = history
            .map(|h| {
                json!({
                    "at_ms": h.at_ms.saturating_sub(offset),
                    "event": h.kind.to_string(),
                    "code": (h.code != 0).then_some(h.code),
                    "expires": h.expires,
                    "state": h.state.as_str(),
                    "cause": h.cause.as_str(),
                })
            })
            .collect();
        let reg = json!({
            "trunk": &*snap.name,
            "state": snap.state.as_str(),
            "cause": d.cause.as_str(),
            "timeline": timeline,
            "diagnosis": d,
        });
        out.write_all(b",\n        ")?;
        write_pretty(out, &reg, 8)?;
    } else {
        writeln!(
            out,
            "  {} {} ({})",
            st.bold(&terminal_safe(&snap.name)),
            snap.state,
            d.cause.as_str()
        )?;
        for h in history {
            let at = Seconds(h.at_ms.saturating_sub(offset));
            write!(out, "    {at:>9} s  {}", h.kind)?;
            if h.code != 0 {
                write!(out, " {}", h.code)?;
            }
            if let Some(e) = h.expires {
                write!(out, " expires={e}")?;
            }
            if h.credentials {
                out.write_all(b" +credentials")?;
            }
            out.write_all(b"\n")?;
        }
        writeln!(out, "    {}", terminal_safe(&d.summary))?;
        if !matches!(d.cause, regwatch::Cause::Healthy) {
            for (i, r) in d.remediation.iter().enumerate() {
                writeln!(out, "      {}. {}", i + 1, terminal_safe(r))?;
            }
        }
    }
    Ok(Some(problem))
}
