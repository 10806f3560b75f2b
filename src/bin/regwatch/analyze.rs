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
//! pcap once, or twice when the registering side cannot be learnt as it
//! goes: see `pcap`), one message at a time goes through the engine, and
//! the results are rendered a few thousand registrations at a time (text
//! on two threads: see `render`). What the capture itself holds (one
//! trunk per user, its history) is what stays.
use super::term::Style;
use regwatch::capture::text::{TextNotes, TextReader};
use regwatch::capture::{self, Clock, Format};
use regwatch::sip;
use regwatch::{Direction, Engine, EngineConfig, Transport, TrunkConfig};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

mod pcap;
mod render;

use pcap::replay_pcap;
use render::{terminal_safe, write_file};

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
            // Every exchange of the capture stays in the timeline.
            engine: Engine::new(
                EngineConfig {
                    history_fold: false,
                    ..EngineConfig::default()
                },
                0,
                1,
            ),
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
    /// Its time, milliseconds.
    at: u64,
    /// As the registering side saw it, or `None` to tell from the message
    /// (a request is the client's).
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
