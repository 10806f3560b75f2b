//! `regwatch analyze FILE...`: offline diagnosis of captured traffic.
//!
//! Formats, detected by content: Asterisk `pjsip set logger on` console
//! output (`<--- Transmitting SIP request (N bytes) to UDP:host:port --->`),
//! FreeSWITCH `sofia global siptrace on` (`send N bytes to udp/[host]:port
//! at hh:mm:ss.us:` and 3-space-indented lines between separators), SIPp
//! `-trace_msg` message logs, and pcap / pcapng captures (UDP and TCP SIP,
//! Ethernet, Linux cooked or raw IP). The reading is `regwatch::capture`'s.
//!
//! Every REGISTER and its answers go through an engine's raw-SIP
//! observation; a trunk is made for each registering user@domain seen.
//!
//! Linear in the capture and bounded in memory: the file is streamed (a
//! pcap twice: the first pass finds the registering side and the first
//! time stamp), one message at a time goes through the engine, and the
//! results are written one registration at a time. What the capture
//! itself holds (one trunk per user, its history) is what stays.
use super::term::Style;
use regwatch::capture::packets::{Packets, Payload};
use regwatch::capture::pcap::{PcapNotes, PcapReader};
use regwatch::capture::text::{TextNotes, TextReader};
use regwatch::capture::{self, Clock, Format};
use regwatch::core::terminal_safe as sanitize;
use regwatch::sip;
use regwatch::{Direction, Engine, EngineConfig, HistoryKind, Transport, TrunkConfig};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Captures: Asterisk pjsip logger output, FreeSWITCH siptrace, SIPp
    /// message logs, pcap/pcapng.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print JSON: {"files":[{"path","format","messages","notes","registrations":[{"trunk","state","cause","timeline","diagnosis"}]}]}.
    #[arg(long)]
    json: bool,
}

/// Bytes read at a time.
const CHUNK: usize = 1 << 20;
/// A pcap that cannot be read twice (a pipe) is held in memory, up to this.
const MAX_HELD: u64 = 1 << 30;

/// Runs the messages through an engine, making a trunk for each
/// registering user@domain.
struct Replay {
    engine: Engine,
    messages: u64,
    used: u64,
    /// The earliest time fed (the timeline starts there).
    first: Option<u64>,
    /// The name of the trunk a REGISTER is for (reused).
    name: String,
}

impl Replay {
    fn new() -> Replay {
        Replay {
            engine: Engine::new(EngineConfig::default(), 0, 1),
            messages: 0,
            used: 0,
            first: None,
            name: String::new(),
        }
    }

    /// One message at `at_ms`; `direction` as the registering side saw it,
    /// or `None` to tell from the message (a request is the client's).
    fn feed(
        &mut self,
        at_ms: u64,
        direction: Option<Direction>,
        transport: Option<Transport>,
        bytes: &[u8],
    ) {
        self.messages += 1;
        self.first = Some(self.first.map_or(at_ms, |f| f.min(at_ms)));
        let Ok(m) = sip::parse(bytes) else {
            return;
        };
        let direction = direction.unwrap_or_else(|| capture::client_view(m.is_request()));
        let register = m.is_request()
            && m.method()
                .is_some_and(|x| x.eq_ignore_ascii_case("REGISTER"));
        if direction == Direction::Sent && register {
            let user = m.to().and_then(|t| t.user()).unwrap_or("");
            let domain = match m.start {
                sip::StartLine::Request { uri, .. } => sip::uri_host(uri).unwrap_or(""),
                _ => "",
            };
            let name = &mut self.name;
            name.clear();
            name.push_str(user);
            name.push('@');
            name.push_str(domain);
            if !user.is_empty() && self.engine.find_trunk(name).is_none() {
                let mut cfg = TrunkConfig::new(name);
                let _ = cfg.set("domain", domain);
                let _ = cfg.set("username", user);
                // The capture does not hold the password. A stand-in that
                // passes the password rules keeps findings about a
                // password nobody typed out of the diagnosis; it is never
                // used (no digest is computed here).
                let _ = cfg.set("password", "Capture-Has-No-Password-1");
                if let Some(a) = m.any_authorization().and_then(|a| a.username) {
                    let _ = cfg.set("auth_username", a);
                }
                let _ = self.engine.add_trunk(at_ms, cfg);
            }
        }
        self.engine.observe_message(at_ms, direction, transport, &m);
        self.used += 1;
        // Nobody reads the events here; the trunks keep what matters.
        while self.engine.poll_output().is_some() {}
    }
}

/// Reads a chunk: `None` at the end.
fn read_chunk(src: &mut dyn Read, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        match src.read(buf) {
            Ok(0) => return Ok(None),
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reads up to `n` bytes (fewer only at the end).
fn read_head(src: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    src.take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// One message on its way from the reading thread to the replay.
struct Msg {
    at: u64,
    direction: Option<Direction>,
    transport: Option<Transport>,
    bytes: Vec<u8>,
}

/// Runs `read` on a thread of its own, which hands what it finds over in
/// batches, while `each` takes them on the calling thread: reading and
/// parsing the file overlap with the engine's work (two cores). At most
/// `QUEUE` batches wait, so memory stays bounded.
fn pipelined<M: Send, T: Send>(
    read: impl FnOnce(&mut dyn FnMut(M)) -> io::Result<T> + Send,
    mut each: impl FnMut(M),
) -> io::Result<T> {
    const BATCH: usize = 256;
    const QUEUE: usize = 8;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<M>>(QUEUE);
    std::thread::scope(|s| {
        let reader = s.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let r = read(&mut |m| {
                batch.push(m);
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    // The other side only goes away on a panic.
                    let _ = tx.send(full);
                }
            });
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            r
        });
        for batch in rx {
            batch.into_iter().for_each(&mut each);
        }
        reader
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the reading thread failed")))
    })
}

/// A text log through its reader and the replay.
fn replay_text(format: Format, src: &mut (dyn Read + Send)) -> io::Result<(Replay, Vec<Note>)> {
    let mut reader = TextReader::new(format).ok_or_else(|| io::Error::other("not a text log"))?;
    let mut replay = Replay::new();
    let read = |out: &mut dyn FnMut(Msg)| -> io::Result<Vec<Note>> {
        let mut clock = Clock::default();
        let mut buf = vec![0u8; CHUNK];
        loop {
            while let Some(m) = reader.next_message() {
                out(Msg {
                    at: clock.place(m.stamp),
                    direction: None,
                    transport: m.transport,
                    bytes: m.bytes,
                });
            }
            match read_chunk(src, &mut buf)? {
                Some(n) => reader.push(&buf[..n]),
                None if reader.is_finished() => break,
                None => reader.finish(),
            }
        }
        Ok(text_notes(reader.notes(), &clock))
    };
    let notes = pipelined(read, |m: Msg| {
        replay.feed(m.at, m.direction, m.transport, &m.bytes)
    })?;
    Ok((replay, notes))
}

/// The frames of a pcap through the packet reader; every payload to `each`.
fn pcap_pass(src: &mut dyn Read, each: &mut dyn FnMut(Payload)) -> io::Result<PcapNotes> {
    let mut reader = PcapReader::new();
    let mut packets = Packets::new();
    let mut out = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    let mut eof = false;
    loop {
        loop {
            match reader.next_frame() {
                Ok(Some(f)) => packets.frame(&f, &mut out),
                Ok(None) => break,
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            }
            for p in out.drain(..) {
                each(p);
            }
        }
        if eof {
            return Ok(reader.notes().clone());
        }
        match read_chunk(src, &mut buf)? {
            Some(n) => reader.push(&buf[..n]),
            None => {
                reader.finish();
                eof = true;
            }
        }
    }
}

/// Where a pcap's bytes come from, twice.
enum Twice {
    /// A regular file: opened again, read up to the length seen the first
    /// time.
    File(PathBuf),
    /// Anything else, held.
    Held(Vec<u8>),
}

/// A pcap: the registering side (whoever sends REGISTERs) and the first
/// time stamp in a first pass, the replay in a second.
fn replay_pcap(
    path: &Path,
    head: Vec<u8>,
    rest: &mut (dyn Read + Send),
    regular: bool,
) -> io::Result<(Replay, Vec<Note>)> {
    let source = if regular {
        Twice::File(path.to_path_buf())
    } else {
        let mut held = head.clone();
        (&mut *rest).take(MAX_HELD + 1).read_to_end(&mut held)?;
        if held.len() as u64 > MAX_HELD {
            return Err(io::Error::other(
                "over 1 GiB from a pipe or device; save the capture to a file first",
            ));
        }
        Twice::Held(held)
    };
    let mut clients: HashSet<SocketAddr> = HashSet::new();
    let mut first: Option<u64> = None;
    let scan = |p: Payload| {
        first = Some(first.map_or(p.ts_us, |f| f.min(p.ts_us)));
        if capture::is_register_request(&p.bytes) {
            clients.insert(p.src);
        }
    };
    let mut length = 0u64;
    match &source {
        Twice::File(_) => {
            let mut counted = CountingReader {
                inner: io::Cursor::new(&head[..]).chain(rest),
                n: &mut length,
            };
            pipelined(|out| pcap_pass(&mut counted, &mut |p| out(p)), scan)?
        }
        Twice::Held(b) => pipelined(|out| pcap_pass(&mut &b[..], &mut |p| out(p)), scan)?,
    };
    let first = first.unwrap_or(0);
    let clients = &clients;
    let mut replay = Replay::new();
    let play = |out: &mut dyn FnMut(Msg), p: Payload| {
        let sent = clients.contains(&p.src);
        if !sent && !clients.contains(&p.dst) {
            return;
        }
        let direction = if sent {
            Direction::Sent
        } else {
            Direction::Received
        };
        out(Msg {
            at: p.ts_us.saturating_sub(first) / 1000,
            direction: Some(direction),
            transport: Some(p.transport),
            bytes: p.bytes,
        });
    };
    let feed = |m: Msg| replay.feed(m.at, m.direction, m.transport, &m.bytes);
    let notes = match &source {
        Twice::File(p) => {
            let mut f = File::open(p)?.take(length);
            pipelined(|out| pcap_pass(&mut f, &mut |p| play(out, p)), feed)?
        }
        Twice::Held(b) => pipelined(|out| pcap_pass(&mut &b[..], &mut |p| play(out, p)), feed)?,
    };
    Ok((replay, pcap_notes(&notes)))
}

struct CountingReader<'a, R> {
    inner: R,
    n: &'a mut u64,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        *self.n += k as u64;
        Ok(k)
    }
}

/// Something the reading skipped, cut or reinterpreted.
struct Note {
    code: &'static str,
    count: u64,
    text: String,
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn pcap_notes(n: &PcapNotes) -> Vec<Note> {
    let mut out = Vec::new();
    if n.bad_records > 0 {
        out.push(Note {
            code: "pcap.bad_record",
            count: n.bad_records,
            text: format!(
                "{} skipped (the first: {}); {} passed over to find the next good one",
                plural(n.bad_records, "bad record", "bad records"),
                n.first_bad.unwrap_or("malformed"),
                plural(n.skipped_bytes, "byte", "bytes"),
            ),
        });
    }
    if let Some((have, need)) = n.truncated {
        out.push(Note {
            code: "pcap.truncated",
            count: 1,
            text: format!(
                "the file is truncated: it ends inside a record ({have} of its {need} bytes); \
                 the {} before it were read",
                plural(n.frames, "frame", "frames")
            ),
        });
    }
    out
}

fn text_notes(n: TextNotes, clock: &Clock) -> Vec<Note> {
    let mut out = Vec::new();
    if n.long_lines > 0 {
        out.push(Note {
            code: "text.long_line",
            count: n.long_lines,
            text: format!(
                "{} longer than 128 KiB skipped",
                plural(n.long_lines, "line", "lines")
            ),
        });
    }
    if n.cut_messages > 0 {
        out.push(Note {
            code: "text.cut_message",
            count: n.cut_messages,
            text: format!(
                "{} longer than 64 KiB cut to 64 KiB",
                plural(n.cut_messages, "message", "messages")
            ),
        });
    }
    if clock.invalid > 0 {
        out.push(Note {
            code: "time.invalid",
            count: clock.invalid,
            text: format!(
                "{} not a time of day; each such message was placed at the time of the one before it",
                plural(clock.invalid, "time stamp is", "time stamps are")
            ),
        });
    }
    if clock.midnights > 0 {
        out.push(Note {
            code: "time.midnight",
            count: clock.midnights,
            text: format!(
                "the trace crosses midnight ({}): times after it go on from the day before",
                plural(clock.midnights, "time", "times")
            ),
        });
    }
    out
}

/// One file read: its format and the replay, or why it cannot be read.
fn read_file(path: &Path) -> Result<(Format, Replay, Vec<Note>), String> {
    let mut f = File::open(path).map_err(|e| e.to_string())?;
    let regular = f.metadata().map(|m| m.is_file()).unwrap_or(false);
    let head = read_head(&mut f, capture::DETECT_BYTES).map_err(|e| e.to_string())?;
    let Some(format) = capture::detect(&head) else {
        return Err(
            "not a pjsip logger output, a sofia siptrace, a SIPp message log or a pcap file".into(),
        );
    };
    let read = match format {
        Format::Pcap => replay_pcap(path, head, &mut f, regular),
        _ => replay_text(format, &mut io::Cursor::new(head).chain(&mut f)),
    };
    let (replay, notes) = read.map_err(|e| e.to_string())?;
    Ok((format, replay, notes))
}

/// `regwatch::core::terminal_safe`, with printable ASCII (nearly all of
/// it) let through at once.
fn terminal_safe(s: &str) -> Cow<'_, str> {
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
fn write_file(
    out: &mut dyn Write,
    st: &Style,
    json: bool,
    path: &Path,
    format: Format,
    replay: &Replay,
    notes: &[Note],
) -> io::Result<bool> {
    let mut problems = false;
    let engine = &replay.engine;
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
    let offset = replay.first.unwrap_or(0);
    let mut regs = 0u64;
    for id in engine.trunk_ids() {
        let (Ok(snap), Ok(d)) = (engine.snapshot(id), engine.diagnose(id)) else {
            continue;
        };
        if !matches!(
            d.cause,
            regwatch::Cause::Healthy | regwatch::Cause::ExpiryDrift | regwatch::Cause::Deregistered
        ) {
            problems = true;
        }
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
            out.write_all(if regs == 0 { b"\n" } else { b",\n" })?;
            out.write_all(b"        ")?;
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
        regs += 1;
    }
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

pub fn run(a: &Args) -> u8 {
    let st = Style::stdout();
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut problems = false;
    let mut unreadable = false;
    let mut written = 0usize;
    let mut write = |out: &mut dyn Write| -> io::Result<()> {
        if a.json {
            out.write_all(b"{\n  \"files\": [")?;
        }
        for (i, path) in a.files.iter().enumerate() {
            let (format, replay, notes) = match read_file(path) {
                Ok(r) => r,
                Err(e) => {
                    // Keep the order of what is printed on both streams.
                    out.flush()?;
                    eprintln!(
                        "regwatch analyze: {}: {}",
                        terminal_safe(&path.display().to_string()),
                        terminal_safe(&e)
                    );
                    unreadable = true;
                    continue;
                }
            };
            if a.json {
                out.write_all(if written == 0 { b"\n    " } else { b",\n    " })?;
            }
            problems |= write_file(out, &st, a.json, path, format, &replay, &notes)?;
            written += 1;
            if i + 1 == a.files.len() {
                // The process ends here: freeing every trunk of a large
                // capture one by one would only take time.
                std::mem::forget(replay);
            }
        }
        if a.json {
            out.write_all(if written == 0 {
                b"]\n}\n"
            } else {
                b"\n  ]\n}\n"
            })?;
        }
        out.flush()
    };
    // A closed stdout (`| head`) ends the output, not the verdict.
    let _ = write(&mut out);
    if unreadable {
        2
    } else if problems {
        1
    } else {
        0
    }
}
