//! The results: text or JSON, one registration after another.
use super::exchanges::Ending;
use super::report::{AorReport, Tally, EPISODES_HEAD};
use super::{plural, Note, Replay};
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
    replay: &mut Replay,
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
        fields.extend(summary_json(replay));
        fields.sort_by(|a, b| a.0.cmp(b.0));
        out.write_all(b"{\n")?;
        for (k, v) in &fields {
            write!(out, "      {}: ", json!(k))?;
            write_pretty(out, v, 6)?;
            out.write_all(b",\n")?;
        }
        // Every exchange, unfolded, from the spill file.
        out.write_all(b"      \"exchanges\": [")?;
        if let Some(s) = replay.report.spill.as_mut().filter(|s| s.count > 0) {
            out.write_all(b"\n        ")?;
            s.copy_to(out)?;
            out.write_all(b"\n      ")?;
        }
        out.write_all(b"],\n")?;
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
        write_summary_text(out, st, replay)?;
    }
    let (problems, regs) = write_registrations(out, st, json, replay)?;
    let problems = problems || replay.report.failed > 0;
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
        let mut reg = json!({
            "trunk": &*snap.name,
            "state": snap.state.as_str(),
            "cause": d.cause.as_str(),
            "timeline": timeline,
            "diagnosis": d,
        });
        if let Some(o) = reg.as_object_mut() {
            if snap.history.len() >= engine.config().history_len {
                o.insert(
                    "timeline_note".into(),
                    json!(format!(
                        "the last {} events of the registration; `exchanges` lists every exchange",
                        engine.config().history_len
                    )),
                );
            }
            if let Some(a) = replay.report.aors.get(&id) {
                o.insert("exchanges".into(), aor_json(a, offset));
            }
        }
        out.write_all(b",\n        ")?;
        write_pretty(out, &reg, 8)?;
    } else {
        let aor = replay.report.aors.get(&id);
        write!(
            out,
            "  {} {} ({})",
            st.bold(&terminal_safe(&snap.name)),
            snap.state,
            d.cause.as_str()
        )?;
        match aor {
            Some(a) => writeln!(
                out,
                ": {}, {} failed, {}–{} s",
                plural(a.exchanges, "exchange", "exchanges"),
                a.failed,
                Seconds(a.first_ms.saturating_sub(offset)),
                Seconds(a.last_ms.saturating_sub(offset))
            )?,
            None => writeln!(out)?,
        }
        if let Some(a) = aor {
            write_episodes(out, st, a, offset)?;
            // The last exchange step by step, as the engine recorded it.
            writeln!(out, "    the last exchange:")?;
            for h in history.filter(|h| h.at_ms >= a.last_start_ms) {
                let at = Seconds(h.at_ms.saturating_sub(offset));
                write!(out, "    {at:>13} s  {}", h.kind)?;
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
        }
        if aor
            .and_then(AorReport::last)
            .is_some_and(|e| e.capture_ended_after_ms.is_some())
        {
            writeln!(
                out,
                "    {}",
                st.dim("the capture ended before the last REGISTER's answer or Timer F: the state below is as of its end")
            )?;
        }
        writeln!(out, "    now: {}", terminal_safe(&d.summary))?;
        if !matches!(d.cause, regwatch::Cause::Healthy) {
            for (i, r) in d.remediation.iter().enumerate() {
                writeln!(out, "      {}. {}", i + 1, terminal_safe(r))?;
            }
        }
        if let Some(a) = aor {
            let failed: Vec<String> = a
                .counts
                .iter()
                .filter(|(s, _)| !matches!(*s, "healthy" | "expiry_drift" | "deregistered"))
                .filter(|(s, _)| *s != d.cause.as_str())
                .filter(|(s, _)| regwatch::Cause::parse(s).is_some())
                .map(|(s, _)| format!("`regwatch explain {s}`"))
                .collect();
            if !failed.is_empty() {
                writeln!(out, "    the failures above: {}", failed.join(", "))?;
            }
        }
    }
    Ok(Some(problem))
}

/// The file-wide counts as JSON fields.
fn summary_json(replay: &Replay) -> Vec<(&'static str, Value)> {
    let mut v = vec![
        ("not_understood", replay.skipped.json()),
        ("unmatched", replay.unmatched.json()),
        ("exchange_count", json!(replay.report.exchanges)),
        ("failed_exchanges", json!(replay.report.failed)),
        ("causes", counts_json(&replay.report.counts)),
        (
            "other_messages",
            Value::Object(
                replay
                    .other
                    .iter()
                    .map(|(m, n)| (m.clone(), json!(n)))
                    .collect(),
            ),
        ),
    ];
    if replay.outside.total > 0 {
        v.push(("outside_registration", replay.outside.json()));
    }
    if let Some(e) = &replay.report.spill_error {
        v.push((
            "exchanges_error",
            json!(format!("the exchanges could not be listed: {e}")),
        ));
    }
    if replay.open_limit_hits() > 0 {
        v.push((
            "open_limit",
            json!(format!(
                "{} exchanges were closed before their answer or Timer F: more than {} were open at once",
                replay.open_limit_hits(),
                super::exchanges::MAX_OPEN
            )),
        ));
    }
    v
}

fn counts_json(counts: &[(&'static str, u64)]) -> Value {
    Value::Object(
        counts
            .iter()
            .map(|(s, n)| ((*s).to_owned(), json!(n)))
            .collect(),
    )
}

fn counts_text(counts: &[(&'static str, u64)]) -> String {
    let mut c = counts.to_vec();
    c.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    c.iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One AOR's exchanges, summed up, as JSON (the exchanges themselves are
/// in the file's `exchanges`).
fn aor_json(a: &AorReport, offset: u64) -> Value {
    json!({
        "count": a.exchanges,
        "failed": a.failed,
        "first_ms": a.first_ms.saturating_sub(offset),
        "last_ms": a.last_ms.saturating_sub(offset),
        "causes": counts_json(&a.counts),
    })
}

/// The counts of a file, as text.
fn write_summary_text(out: &mut dyn Write, st: &Style, replay: &Replay) -> io::Result<()> {
    write_tally(out, st, "not understood", &replay.skipped)?;
    write_tally(out, st, "not part of an exchange", &replay.unmatched)?;
    write_tally(out, st, "left out", &replay.outside)?;
    if !replay.other.is_empty() {
        let o: Vec<String> = replay
            .other
            .iter()
            .map(|(m, n)| format!("{} {n}", terminal_safe(m)))
            .collect();
        writeln!(
            out,
            "  {} {}",
            st.dim("not about registration:"),
            o.join(", ")
        )?;
    }
    let r = &replay.report;
    if r.exchanges > 0 {
        writeln!(
            out,
            "  {}, {} failed: {}",
            plural(r.exchanges, "REGISTER exchange", "REGISTER exchanges"),
            r.failed,
            counts_text(&r.counts)
        )?;
    }
    if replay.open_limit_hits() > 0 {
        writeln!(
            out,
            "  {} {} exchanges closed before their answer or Timer F: more than {} were open at once",
            st.warn("note:"),
            replay.open_limit_hits(),
            super::exchanges::MAX_OPEN
        )?;
    }
    Ok(())
}

fn write_tally(out: &mut dyn Write, st: &Style, what: &str, t: &Tally) -> io::Result<()> {
    if t.total == 0 {
        return Ok(());
    }
    writeln!(
        out,
        "  {} {}",
        st.warn(&format!("{what}:")),
        plural(t.total, "message", "messages")
    )?;
    for (reason, n, offsets) in &t.reasons {
        let list: Vec<String> = offsets.iter().map(|o| o.number().to_string()).collect();
        let kind = offsets.first().map_or("", |o| o.kind());
        let more = if *n > offsets.len() as u64 {
            format!(" (the first {})", offsets.len())
        } else {
            String::new()
        };
        writeln!(
            out,
            "    {n} {}: {kind}s {}{more}",
            terminal_safe(reason),
            list.join(", ")
        )?;
    }
    Ok(())
}

/// An AOR's episodes, one line each.
fn write_episodes(out: &mut dyn Write, st: &Style, a: &AorReport, offset: u64) -> io::Result<()> {
    for (i, e) in a.episodes().enumerate() {
        if i == EPISODES_HEAD && a.hidden_episodes > 0 {
            writeln!(
                out,
                "    {}",
                st.dim(&format!(
                    "... {} ({}) not listed here; the counts include them and --json lists every exchange",
                    plural(a.hidden_episodes, "episode", "episodes"),
                    plural(a.hidden_exchanges, "exchange", "exchanges")
                ))
            )?;
        }
        let first = Seconds(e.first_ms.saturating_sub(offset));
        let when = if e.count > 1 {
            format!("{first}–{} s", Seconds(e.last_ms.saturating_sub(offset)))
        } else {
            format!("{first} s")
        };
        let times = if e.count > 1 {
            format!("×{} similar", e.count)
        } else {
            String::new()
        };
        let status = if e.failed {
            st.warn(e.status()).to_string()
        } else {
            e.status().to_owned()
        };
        write!(out, "    {when:>15} {times:>11}  {status}:")?;
        if let Some(c) = e.challenge() {
            write!(out, " {c} →")?;
        }
        match (e.code(), e.ending()) {
            (_, Ending::ChallengeUnanswered) => {
                write!(out, " no REGISTER with credentials followed")?
            }
            (Some(c), _) => write!(out, " {c} {}", terminal_safe(&e.reason))?,
            (None, Ending::Abandoned) => {
                write!(out, " no answer before the client sent a new REGISTER")?
            }
            (None, _) => write!(out, " no answer")?,
        }
        if let Some(u) = e.auth_user() {
            write!(out, ", authorization user `{}`", terminal_safe(u))?;
        }
        if let Some(x) = e.expires {
            write!(out, ", expires {x}")?;
        }
        if let Some(g) = e.granted {
            write!(out, ", granted {g}")?;
        }
        if e.retransmissions > 0 {
            write!(
                out,
                ", {}",
                plural(e.retransmissions, "retransmission", "retransmissions")
            )?;
        }
        if let Some(ms) = e.capture_ended_after_ms {
            if ms < super::exchanges::TIMER_F_MS {
                write!(
                    out,
                    " (the capture ended {} s after it, before Timer F's 32 s: it may have ended early)",
                    Seconds(ms)
                )?;
            } else {
                write!(
                    out,
                    " (none by the end of the capture, {} s after it)",
                    Seconds(ms)
                )?;
            }
        }
        out.write_all(b"\n")?;
    }
    if a.counts.len() > 1 {
        writeln!(out, "    causes: {}", counts_text(&a.counts))?;
    }
    Ok(())
}
