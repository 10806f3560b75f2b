//! `regwatch analyze FILE...`: offline diagnosis of captured traffic.
//!
//! Formats, detected by content: Asterisk `pjsip set logger on` console
//! output (`<--- Transmitting SIP request (N bytes) to UDP:host:port --->`),
//! FreeSWITCH `sofia global siptrace on` (`send N bytes to udp/[host]:port
//! at hh:mm:ss.us:` and 3-space-indented lines between separators), SIPp
//! `-trace_msg` message logs, and pcap / pcapng captures (UDP and TCP SIP,
//! Ethernet, Linux cooked or raw IP).
//!
//! Every REGISTER and its answers go through an engine's raw-SIP
//! observation; a trunk is made for each registering user@domain seen.
use super::term::Style;
use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use regwatch::sip::{self, StreamFramer};
use regwatch::{Direction, Engine, EngineConfig, HistoryKind, Transport, TrunkConfig};
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Captures: Asterisk pjsip logger output, FreeSWITCH siptrace, SIPp
    /// message logs, pcap/pcapng.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print JSON: {"files":[{"path","format","messages","registrations":[{"trunk","state","cause","timeline","diagnosis"}]}]}.
    #[arg(long)]
    json: bool,
}

/// One SIP message as captured.
struct Captured {
    /// Milliseconds since the first message (or its index when the format
    /// has no time).
    at_ms: u64,
    /// As the registering side saw it (`Sent` = a request it sent).
    direction: Direction,
    transport: Option<Transport>,
    bytes: Vec<u8>,
}

impl Captured {
    /// A message the capturing side sent (`sent`) or received, turned to
    /// the registering side's view.
    fn by(at_ms: u64, sent: bool, transport: Option<Transport>, bytes: Vec<u8>) -> Captured {
        Captured {
            at_ms,
            direction: client_view(sent, &bytes),
            transport,
            bytes,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Asterisk,
    Freeswitch,
    Sipp,
    Pcap,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Asterisk => "asterisk_pjsip_logger",
            Format::Freeswitch => "freeswitch_siptrace",
            Format::Sipp => "sipp_trace_msg",
            Format::Pcap => "pcap",
        }
    }
}

fn detect(bytes: &[u8]) -> Option<Format> {
    if bytes.len() >= 4 {
        let magic = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if matches!(
            magic,
            0xa1b2c3d4 | 0xd4c3b2a1 | 0xa1b23c4d | 0x4d3cb2a1 | 0x0a0d0d0a
        ) {
            return Some(Format::Pcap);
        }
    }
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(1 << 20)]);
    if text.contains("<--- Transmitting SIP") || text.contains("<--- Received SIP") {
        Some(Format::Asterisk)
    } else if text.contains(" bytes to ")
        && text
            .contains("   ------------------------------------------------------------------------")
        || text.contains(" bytes from ")
            && text.contains(
                "   ------------------------------------------------------------------------",
            )
    {
        Some(Format::Freeswitch)
    } else if text.contains("message sent") || text.contains("message received") {
        Some(Format::Sipp)
    } else {
        None
    }
}

fn transport_of(s: &str) -> Option<Transport> {
    Transport::parse(s)
}

/// The direction, as the registering side saw it, of a message the
/// capturing side `sent` (true) or received: a request the capturer sent is
/// the client's; a response it sent means the capturer is the server.
fn client_view(capturer_sent: bool, bytes: &[u8]) -> Direction {
    let is_request = sip::parse(bytes).map(|m| m.is_request()).unwrap_or(true);
    match (capturer_sent, is_request) {
        (true, true) | (false, false) => {
            if capturer_sent {
                Direction::Sent
            } else {
                Direction::Received
            }
        }
        // The capturer is the registrar: flip.
        (true, false) => Direction::Received,
        (false, true) => Direction::Sent,
    }
}

/// `<--- Transmitting SIP request (N bytes) to UDP:1.2.3.4:5060 --->`.
fn asterisk(text: &str) -> Vec<Captured> {
    let mut out = Vec::new();
    let marks: Vec<(usize, &str)> = text.match_indices("<--- ").collect();
    for (i, (pos, _)) in marks.iter().enumerate() {
        let rest = &text[*pos..];
        let Some(nl) = rest.find('\n') else { continue };
        let head = &rest[..nl];
        let sent = head.contains("Transmitting SIP");
        if !sent && !head.contains("Received SIP") {
            continue;
        }
        let transport = head
            .split_once(") to ")
            .or_else(|| head.split_once(") from "))
            .and_then(|(_, t)| t.split(':').next())
            .and_then(transport_of);
        let end = marks.get(i + 1).map_or(text.len(), |(p, _)| *p);
        let body = &text[pos + nl + 1..end];
        let bytes = body.as_bytes().to_vec();
        out.push(Captured::by(out.len() as u64, sent, transport, bytes));
    }
    out
}

/// sofia-sip's tport log: a stamp line, a separator, the message with
/// each line indented by three spaces, a separator.
fn freeswitch(text: &str) -> Vec<Captured> {
    const SEP: &str = "------------------------------------------------------------------------";
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim_start();
        let sent = l.starts_with("send ");
        let recv = l.starts_with("recv ");
        if !(sent || recv) || !l.contains(" bytes ") {
            i += 1;
            continue;
        }
        let transport = l
            .split_whitespace()
            .find(|w| w.contains("/["))
            .and_then(|w| w.split('/').next())
            .and_then(transport_of);
        let at_ms = l
            .rsplit_once(" at ")
            .and_then(|(_, t)| parse_hms(t.trim_end_matches(':')))
            .unwrap_or(out.len() as u64);
        i += 1;
        if i < lines.len() && lines[i].trim() == SEP {
            i += 1;
        }
        let mut msg = String::new();
        while i < lines.len() && lines[i].trim() != SEP {
            msg.push_str(lines[i].strip_prefix("   ").unwrap_or(lines[i]));
            msg.push_str("\r\n");
            i += 1;
        }
        i += 1;
        // The blank line that ends the header section may be logged as an
        // indented empty line or not at all.
        if !msg.ends_with("\r\n\r\n") {
            msg.push_str("\r\n");
        }
        let bytes = msg.into_bytes();
        out.push(Captured::by(at_ms, sent, transport, bytes));
    }
    rebase(&mut out);
    out
}

/// `hh:mm:ss.micro` as milliseconds since midnight.
fn parse_hms(s: &str) -> Option<u64> {
    let mut it = s.split(':');
    let h: u64 = it.next()?.trim().parse().ok()?;
    let m: u64 = it.next()?.parse().ok()?;
    let sec: f64 = it.next()?.parse().ok()?;
    Some((h * 3600 + m * 60) * 1000 + (sec * 1000.0) as u64)
}

/// SIPp `-trace_msg`: blocks after `----- <date> <time>` lines,
/// `UDP message sent (N bytes):` / `UDP message received [N] bytes :`.
fn sipp(text: &str) -> Vec<Captured> {
    let mut out = Vec::new();
    for block in text.split("-----------------------------------------------") {
        let sent = block.contains("message sent");
        if !sent && !block.contains("message received") {
            continue;
        }
        let at_ms = block
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(parse_hms)
            .unwrap_or(out.len() as u64);
        let transport = block
            .lines()
            .find(|l| l.contains("message"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(transport_of);
        let Some(start) = block.find("\n\n") else {
            continue;
        };
        let msg = block[start + 2..].trim_start_matches('\n');
        if msg.trim().is_empty() {
            continue;
        }
        let bytes = msg.as_bytes().to_vec();
        out.push(Captured::by(at_ms, sent, transport, bytes));
    }
    rebase(&mut out);
    out
}

fn rebase(v: &mut [Captured]) {
    if let Some(first) = v.iter().map(|c| c.at_ms).min() {
        for c in v.iter_mut() {
            c.at_ms -= first;
        }
    }
}

/// UDP payloads and reassembled TCP streams of a pcap or pcapng file.
fn pcap(bytes: &[u8]) -> Result<Vec<Captured>, String> {
    use pcap_file::pcap::PcapReader;
    use pcap_file::pcapng::{Block, PcapNgReader};
    // (time µs, linktype, frame)
    let mut frames: Vec<(u64, u32, Vec<u8>)> = Vec::new();
    let is_ng = bytes.len() >= 4 && bytes[..4] == [0x0a, 0x0d, 0x0d, 0x0a];
    if is_ng {
        let mut r = PcapNgReader::new(bytes).map_err(|e| e.to_string())?;
        let mut links: Vec<u32> = Vec::new();
        while let Some(b) = r.next_block() {
            match b.map_err(|e| e.to_string())? {
                Block::InterfaceDescription(d) => links.push(u32::from(d.linktype)),
                Block::EnhancedPacket(p) => {
                    let link = links.get(p.interface_id as usize).copied().unwrap_or(1);
                    frames.push((p.timestamp.as_micros() as u64, link, p.data.to_vec()));
                }
                Block::SimplePacket(p) => {
                    frames.push((0, links.first().copied().unwrap_or(1), p.data.to_vec()));
                }
                _ => {}
            }
        }
    } else {
        let mut r = PcapReader::new(bytes).map_err(|e| e.to_string())?;
        let link = u32::from(r.header().datalink);
        while let Some(p) = r.next_packet() {
            let p = p.map_err(|e| e.to_string())?;
            frames.push((p.timestamp.as_micros() as u64, link, p.data.to_vec()));
        }
    }
    type Flow = (SocketAddr, SocketAddr);
    let mut raw: Vec<(u64, SocketAddr, SocketAddr, Transport, Vec<u8>)> = Vec::new();
    let mut streams: HashMap<Flow, (StreamFramer, u64)> = HashMap::new();
    let mut seen_seq: HashMap<Flow, std::collections::HashSet<u32>> = HashMap::new();
    for (t, link, data) in frames {
        let sliced = match link {
            1 => SlicedPacket::from_ethernet(&data),
            113 => SlicedPacket::from_linux_sll(&data),
            101 | 228 | 229 => SlicedPacket::from_ip(&data),
            0 if data.len() > 4 => SlicedPacket::from_ip(&data[4..]), // BSD loopback
            _ => continue,
        };
        let Ok(s) = sliced else { continue };
        let (src_ip, dst_ip): (IpAddr, IpAddr) = match &s.net {
            Some(NetSlice::Ipv4(v4)) => (
                v4.header().source_addr().into(),
                v4.header().destination_addr().into(),
            ),
            Some(NetSlice::Ipv6(v6)) => (
                v6.header().source_addr().into(),
                v6.header().destination_addr().into(),
            ),
            _ => continue,
        };
        match &s.transport {
            Some(TransportSlice::Udp(u)) => {
                let payload = u.payload();
                if payload.len() < 8 {
                    continue;
                }
                raw.push((
                    t,
                    SocketAddr::new(src_ip, u.source_port()),
                    SocketAddr::new(dst_ip, u.destination_port()),
                    Transport::Udp,
                    payload.to_vec(),
                ));
            }
            Some(TransportSlice::Tcp(tc)) => {
                let payload = tc.payload();
                if payload.is_empty() {
                    continue;
                }
                let flow = (
                    SocketAddr::new(src_ip, tc.source_port()),
                    SocketAddr::new(dst_ip, tc.destination_port()),
                );
                // Retransmitted segments carry a sequence number seen already.
                if !seen_seq
                    .entry(flow)
                    .or_default()
                    .insert(tc.sequence_number())
                {
                    continue;
                }
                let (framer, _) = streams
                    .entry(flow)
                    .or_insert_with(|| (StreamFramer::new(), t));
                framer.push(payload);
                while let Ok(Some(f)) = framer.next_frame() {
                    if let sip::Frame::Message(m) = f {
                        raw.push((t, flow.0, flow.1, Transport::Tcp, m));
                    }
                }
            }
            _ => {}
        }
    }
    // The registering side: whoever sends REGISTERs.
    let clients: std::collections::HashSet<SocketAddr> = raw
        .iter()
        .filter(|(_, _, _, _, b)| is_register_request(b))
        .map(|(_, src, _, _, _)| *src)
        .collect();
    let first = raw.iter().map(|r| r.0).min().unwrap_or(0);
    Ok(raw
        .into_iter()
        .filter(|(_, src, dst, _, _)| clients.contains(src) || clients.contains(dst))
        .map(|(t, src, _, tr, b)| Captured {
            at_ms: (t - first) / 1000,
            direction: if clients.contains(&src) {
                Direction::Sent
            } else {
                Direction::Received
            },
            transport: Some(tr),
            bytes: b,
        })
        .collect())
}

fn is_register_request(b: &[u8]) -> bool {
    sip::parse(b).is_ok_and(|m| {
        m.is_request()
            && m.method()
                .is_some_and(|x| x.eq_ignore_ascii_case("REGISTER"))
    })
}

/// Runs the messages through an engine, making a trunk for each
/// registering user@domain.
fn replay(msgs: &[Captured]) -> (Engine, usize) {
    let mut engine = Engine::new(EngineConfig::default(), 0, 1);
    let mut used = 0;
    for c in msgs {
        let Ok(m) = sip::parse(&c.bytes) else {
            continue;
        };
        if c.direction == Direction::Sent && is_register_request(&c.bytes) {
            let user = m.to().and_then(|t| t.user()).unwrap_or("").to_owned();
            let domain = match m.start {
                sip::StartLine::Request { uri, .. } => sip::uri_host(uri).unwrap_or("").to_owned(),
                _ => String::new(),
            };
            let name = format!("{user}@{domain}");
            if engine.find_trunk(&name).is_none() && !user.is_empty() {
                let mut cfg = TrunkConfig::new(&name);
                let _ = cfg.set("domain", &domain);
                let _ = cfg.set("username", &user);
                // The capture does not hold the password. A stand-in that
                // passes the password rules keeps findings about a
                // password nobody typed out of the diagnosis; it is never
                // used (no digest is computed here).
                let _ = cfg.set("password", "Capture-Has-No-Password-1");
                if let Some(a) = m.any_authorization().and_then(|a| a.username) {
                    let _ = cfg.set("auth_username", a);
                }
                let _ = engine.add_trunk(c.at_ms, cfg);
            }
        }
        if engine
            .observe_sip(c.at_ms, c.direction, c.transport, &c.bytes)
            .is_ok()
        {
            used += 1;
        }
    }
    (engine, used)
}

pub fn run(a: &Args) -> u8 {
    let st = Style::stdout();
    let mut problems = false;
    let mut unreadable = false;
    let mut files = Vec::new();
    for path in &a.files {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("regwatch analyze: {}: {e}", path.display());
                unreadable = true;
                continue;
            }
        };
        let Some(format) = detect(&bytes) else {
            eprintln!("regwatch analyze: {}: not a pjsip logger output, a sofia siptrace, a SIPp message log or a pcap file", path.display());
            unreadable = true;
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let msgs = match format {
            Format::Asterisk => asterisk(&text),
            Format::Freeswitch => freeswitch(&text),
            Format::Sipp => sipp(&text),
            Format::Pcap => match pcap(&bytes) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("regwatch analyze: {}: {e}", path.display());
                    unreadable = true;
                    continue;
                }
            },
        };
        let (engine, used) = replay(&msgs);
        let mut regs = Vec::new();
        if !a.json {
            println!(
                "{} {}",
                st.bold(&path.display().to_string()),
                st.dim(&format!(
                    "({}, {} SIP messages)",
                    format.as_str(),
                    msgs.len()
                ))
            );
        }
        for id in engine.trunk_ids() {
            let (Ok(snap), Ok(d)) = (engine.snapshot(id), engine.diagnose(id)) else {
                continue;
            };
            if !matches!(
                d.cause,
                regwatch::Cause::Healthy
                    | regwatch::Cause::ExpiryDrift
                    | regwatch::Cause::Deregistered
            ) {
                problems = true;
            }
            let timeline: Vec<serde_json::Value> = snap
                .history
                .iter()
                .filter(|h| h.kind != HistoryKind::Configured)
                .map(|h| {
                    json!({
                        "at_ms": h.at_ms,
                        "event": h.kind.to_string(),
                        "code": (h.code != 0).then_some(h.code),
                        "expires": h.expires,
                        "state": h.state.as_str(),
                        "cause": h.cause.as_str(),
                    })
                })
                .collect();
            if !a.json {
                println!(
                    "  {} {} ({})",
                    st.bold(&snap.name),
                    snap.state,
                    d.cause.as_str()
                );
                for h in snap
                    .history
                    .iter()
                    .filter(|h| h.kind != HistoryKind::Configured)
                {
                    let mut line = format!("    {:>9.3} s  {}", h.at_ms as f64 / 1000.0, h.kind);
                    if h.code != 0 {
                        line.push_str(&format!(" {}", h.code));
                    }
                    if let Some(e) = h.expires {
                        line.push_str(&format!(" expires={e}"));
                    }
                    if h.credentials {
                        line.push_str(" +credentials");
                    }
                    println!("{line}");
                }
                println!("    {}", d.summary);
                if !matches!(d.cause, regwatch::Cause::Healthy) {
                    for (i, r) in d.remediation.iter().enumerate() {
                        println!("      {}. {r}", i + 1);
                    }
                }
            }
            regs.push(json!({
                "trunk": &*snap.name,
                "state": snap.state.as_str(),
                "cause": d.cause.as_str(),
                "timeline": timeline,
                "diagnosis": d,
            }));
        }
        if regs.is_empty() && !a.json {
            println!("  no REGISTER in it");
        }
        files.push(json!({
            "path": path.display().to_string(),
            "format": format.as_str(),
            "messages": msgs.len(),
            "observed": used,
            "registrations": regs,
        }));
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"files": files})).unwrap_or_default()
        );
    }
    if unreadable {
        2
    } else if problems {
        1
    } else {
        0
    }
}
