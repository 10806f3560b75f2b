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
//! observation (`replay`); a trunk is made for each registering
//! user@domain seen. Every exchange (the transaction chain of a Call-ID:
//! REGISTER, retransmissions, challenge, REGISTER with credentials, final
//! answer, or none within Timer F) is reported with the engine's
//! classification of its outcome (`exchanges`), folded per AOR into
//! episodes with a count per cause (`report`), and listed one by one in
//! `--json`. Every message is accounted for: part of an exchange, about
//! something else (counted per method), or left out with its reason and
//! its line or record number.
//!
//! Linear in the capture and bounded in memory: the file is streamed (a
//! pcap once, or twice when the registering side cannot be learnt as it
//! goes: see `pcap`), one message at a time goes through the engine, an
//! exchange is held only while open (at most `exchanges::MAX_OPEN`), the
//! per-AOR summaries keep their first and last 40 episodes (the rest
//! counted and said), `--json`'s list of every exchange goes through a
//! temporary file, and the results are rendered a few thousand
//! registrations at a time (text on two threads: see `render`). What the
//! capture itself holds (one trunk per user, its history) is what stays.
use super::term::Style;
use regwatch::capture::text::{TextNotes, TextReader};
use regwatch::capture::{self, Clock, Format};
use regwatch::{Direction, Transport};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

mod exchanges;
mod pcap;
mod render;
mod replay;
mod report;

use pcap::replay_pcap;
use render::{terminal_safe, write_file};
use replay::Replay;
use report::Offset;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Captures: Asterisk pjsip logger output, FreeSWITCH siptrace, SIPp
    /// message logs, pcap/pcapng.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print JSON: {"files": [{"path", "format", "messages", "observed", "notes", "not_understood", "unmatched", "other_messages", "causes", "exchange_count", "failed_exchanges", "exchanges": [{"aor", "call_id", "cseq", "status", "cause", "code", "auth_user", "retransmissions", ...}], "registrations": [{"trunk", "state", "cause", "timeline", "exchanges", "diagnosis"}]}]}.
    #[arg(long)]
    json: bool,
}

/// Bytes read at a time.
const CHUNK: usize = 1 << 20;
/// A pcap that cannot be read twice (a pipe) is held in memory, up to this.
const MAX_HELD: u64 = 1 << 30;

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
    /// Where it is in the file.
    offset: Offset,
    /// Left out: neither end is a registering address (a pcap).
    outside: bool,
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
fn replay_text(
    format: Format,
    src: &mut (dyn Read + Send),
    json: bool,
) -> io::Result<(Replay, Vec<Note>)> {
    let mut reader = TextReader::new(format).ok_or_else(|| io::Error::other("not a text log"))?;
    let mut replay = Replay::new(json);
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
                    offset: Offset::Line(m.line),
                    outside: false,
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
        replay.feed(m.at, m.direction, m.transport, &m.bytes, m.offset)
    })?;
    replay.finish();
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
    if n.unended_headers > 0 {
        out.push(Note {
            code: "text.unended_headers",
            count: n.unended_headers,
            text: format!(
                "{} no blank line after the headers (trimmed from the log); read as ending there",
                plural(n.unended_headers, "message has", "messages have")
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
fn read_file(path: &Path, json: bool) -> Result<(Format, Replay, Vec<Note>), String> {
    let mut f = File::open(path).map_err(|e| e.to_string())?;
    let regular = f.metadata().map(|m| m.is_file()).unwrap_or(false);
    let head = read_head(&mut f, capture::DETECT_BYTES).map_err(|e| e.to_string())?;
    let Some(format) = capture::detect(&head) else {
        return Err(
            "not a pjsip logger output, a sofia siptrace, a SIPp message log or a pcap file".into(),
        );
    };
    let read = match format {
        Format::Pcap => replay_pcap(path, head, &mut f, regular, json),
        _ => replay_text(format, &mut io::Cursor::new(head).chain(&mut f), json),
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
            let (format, mut replay, notes) = match read_file(path, a.json) {
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
            problems |= write_file(out, &st, a.json, path, format, &mut replay, &notes)?;
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
