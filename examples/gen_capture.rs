//! Writes a synthetic registration capture for load-testing
//! `regwatch analyze`: a SIPp `-trace_msg` message log (default) or a pcap
//! (Ethernet, IPv4, UDP) of many users registering at once.
//!
//!     cargo run --release --example gen_capture -- \
//!         --users 500000 --messages 1000000 [--pcap] [--start 23:50:00] \
//!         [--fresh-dialogs] > capture.log
//!
//! Each user registers in its own dialog (Call-ID) through one of four
//! domains. An exchange is REGISTER / 407 / REGISTER with credentials /
//! 200 OK. When there are fewer than four messages per user, some users
//! send a single REGISTER that is never answered, so that the capture has
//! exactly `--messages` messages and `--users` distinct users; when there
//! are more, users re-register (the same Call-ID, the next CSeq; with
//! `--fresh-dialogs` a new Call-ID each time) until the count is reached. 64 exchanges are in flight at once and their messages
//! interleave, as on a busy registrar; messages are 0.5 ms apart.
use std::collections::VecDeque;
use std::io::{self, BufWriter, Write};

const DOMAINS: [&str; 4] = [
    "acme.sip.twilio.com",
    "globex.sip.twilio.com",
    "initech.example.net",
    "umbrella.example.org",
];
const REGISTRAR: [u8; 4] = [192, 0, 2, 10];
const WINDOW: usize = 64;

struct Opts {
    users: u64,
    messages: u64,
    pcap: bool,
    /// A new Call-ID for every exchange.
    fresh: bool,
    /// Start, in milliseconds since midnight of day 0 (2026-11-24).
    start_ms: u64,
}

fn usage() -> ! {
    eprintln!(
        "usage: gen_capture [--users N] [--messages N] [--pcap] [--start HH:MM:SS] \
         [--fresh-dialogs] > FILE\n\
         defaults: 1000 users, 4 messages per user, SIPp message log, 12:00:00"
    );
    std::process::exit(2)
}

fn opts() -> Opts {
    let mut o = Opts {
        users: 1000,
        messages: 0,
        pcap: false,
        fresh: false,
        start_ms: 12 * 3_600_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = || -> u64 {
            args.next()
                .and_then(|v| v.replace('_', "").parse().ok())
                .unwrap_or_else(|| usage())
        };
        match a.as_str() {
            "--users" => o.users = num(),
            "--messages" => o.messages = num(),
            "--pcap" => o.pcap = true,
            "--fresh-dialogs" => o.fresh = true,
            "--start" => {
                let v = args.next().unwrap_or_else(|| usage());
                let p: Vec<u64> = v.split(':').filter_map(|x| x.parse().ok()).collect();
                if p.len() != 3 || p[0] > 23 || p[1] > 59 || p[2] > 59 {
                    usage();
                }
                o.start_ms = (p[0] * 3600 + p[1] * 60 + p[2]) * 1000;
            }
            _ => usage(),
        }
    }
    if o.messages == 0 {
        o.messages = 4 * o.users;
    }
    if o.users == 0 || o.messages < o.users {
        eprintln!("gen_capture: need at least one message per user");
        std::process::exit(2);
    }
    o
}

/// One message of an exchange, seen from the registering client.
struct Msg {
    sent: bool,
    text: String,
}

fn client_ip(user: u64) -> [u8; 4] {
    // Distinct for the first 2^24 - 1 users.
    let n = (user + 1) as u32;
    [10, (n >> 16) as u8, (n >> 8) as u8, n as u8]
}

fn ip_str(ip: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3])
}

/// The messages of one exchange: `full` = REGISTER / 407 / REGISTER with
/// credentials / 200; otherwise a lone REGISTER. `round` numbers the
/// user's exchanges (the CSeq goes on in the same dialog).
fn exchange(user: u64, round: u64, full: bool, fresh: bool) -> Vec<Msg> {
    let name = format!("u{user:07}");
    let domain = DOMAINS[(user % DOMAINS.len() as u64) as usize];
    let ip = ip_str(client_ip(user));
    let dialog = if fresh { round } else { 0 };
    let call_id = format!(
        "{user:x}-{:08x}-{dialog}@{ip}",
        user.wrapping_mul(2654435761) as u32
    );
    let tag = format!("{:08x}", (user ^ 0x5bd1e995).wrapping_mul(40503) as u32);
    let cseq = if fresh { 1 } else { 2 * round + 1 };
    let register = |cseq: u64, auth: bool| {
        let mut m = format!(
            "REGISTER sip:{domain} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {ip}:5060;branch=z9hG4bK-{user}-{cseq}\r\n\
             From: <sip:{name}@{domain}>;tag={tag}\r\n\
             To: <sip:{name}@{domain}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{name}@{ip}:5060>\r\n"
        );
        if auth {
            m.push_str(&format!(
                "Proxy-Authorization: Digest username=\"{name}\",realm=\"sip.twilio.com\",\
                 nonce=\"n{user:x}r{round}\",uri=\"sip:{domain}\",\
                 response=\"0123456789abcdef0123456789abcdef\",algorithm=MD5,\
                 cnonce=\"6b8b4567\",nc=00000001,qop=auth\r\n"
            ));
        }
        m.push_str(
            "Expires: 600\r\nMax-Forwards: 70\r\nUser-Agent: SIPp\r\nContent-Length: 0\r\n\r\n",
        );
        Msg {
            sent: true,
            text: m,
        }
    };
    let response = |cseq: u64, status: &str, extra: &str| Msg {
        sent: false,
        text: format!(
            "SIP/2.0 {status}\r\n\
             Via: SIP/2.0/UDP {ip}:5060;branch=z9hG4bK-{user}-{cseq}\r\n\
             From: <sip:{name}@{domain}>;tag={tag}\r\n\
             To: <sip:{name}@{domain}>;tag=r{tag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             {extra}Server: Twilio\r\nContent-Length: 0\r\n\r\n"
        ),
    };
    if !full {
        return vec![register(cseq, false)];
    }
    vec![
        register(cseq, false),
        response(
            cseq,
            "407 Proxy Authentication Required",
            &format!(
                "Proxy-Authenticate: Digest realm=\"sip.twilio.com\", \
                 nonce=\"n{user:x}r{round}\", qop=\"auth\"\r\n"
            ),
        ),
        register(cseq + 1, true),
        response(
            cseq + 1,
            "200 OK",
            &format!("Contact: <sip:{name}@{ip}:5060>;expires=600\r\n"),
        ),
    ]
}

/// Days since 1970-01-01 to (year, month, day) (proleptic Gregorian).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// 2026-11-24 as days since the epoch.
const DAY0: i64 = 20_781;

struct Sink<W: Write> {
    out: W,
    pcap: bool,
    ip_id: u16,
}

impl<W: Write> Sink<W> {
    fn header(&mut self) -> io::Result<()> {
        if self.pcap {
            let mut h = Vec::with_capacity(24);
            h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
            h.extend_from_slice(&2u16.to_le_bytes());
            h.extend_from_slice(&4u16.to_le_bytes());
            h.extend_from_slice(&0i32.to_le_bytes());
            h.extend_from_slice(&0u32.to_le_bytes());
            h.extend_from_slice(&65_535u32.to_le_bytes());
            h.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
            self.out.write_all(&h)?;
        }
        Ok(())
    }

    fn message(&mut self, at_us: u64, user: u64, m: &Msg) -> io::Result<()> {
        if self.pcap {
            return self.frame(at_us, user, m);
        }
        let day_ms = at_us / 1000;
        let (y, mo, d) = civil(DAY0 + (day_ms / 86_400_000) as i64);
        let s = (at_us / 1_000_000) % 86_400;
        writeln!(
            self.out,
            "----------------------------------------------- {y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}.{:06}",
            s / 3600,
            s / 60 % 60,
            s % 60,
            at_us % 1_000_000
        )?;
        if m.sent {
            writeln!(self.out, "UDP message sent ({} bytes):\n", m.text.len())?;
        } else {
            writeln!(
                self.out,
                "UDP message received [{}] bytes :\n",
                m.text.len()
            )?;
        }
        writeln!(self.out, "{}", m.text)
    }

    fn frame(&mut self, at_us: u64, user: u64, m: &Msg) -> io::Result<()> {
        let (src, dst) = if m.sent {
            (client_ip(user), REGISTRAR)
        } else {
            (REGISTRAR, client_ip(user))
        };
        let payload = m.text.as_bytes();
        let udp_len = 8 + payload.len();
        let ip_len = 20 + udp_len;
        let mut f = Vec::with_capacity(14 + ip_len);
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        self.ip_id = self.ip_id.wrapping_add(1);
        ip[4..6].copy_from_slice(&self.ip_id.to_be_bytes());
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&src);
        ip[16..20].copy_from_slice(&dst);
        let mut sum: u32 = ip
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(&5060u16.to_be_bytes());
        f.extend_from_slice(&5060u16.to_be_bytes());
        f.extend_from_slice(&(udp_len as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(payload);
        let secs = (at_us / 1_000_000) as u32;
        let mut rec = Vec::with_capacity(16);
        rec.extend_from_slice(&secs.to_le_bytes());
        rec.extend_from_slice(&((at_us % 1_000_000) as u32).to_le_bytes());
        rec.extend_from_slice(&(f.len() as u32).to_le_bytes());
        rec.extend_from_slice(&(f.len() as u32).to_le_bytes());
        self.out.write_all(&rec)?;
        self.out.write_all(&f)
    }
}

fn main() -> io::Result<()> {
    let o = opts();
    // Full exchanges (4 messages) and lone REGISTERs (1) so that the totals
    // come out exact: 4·full + lone = messages, and every user appears.
    let (full_total, lone_total) = if o.messages >= 4 * o.users {
        (o.messages / 4, o.messages % 4)
    } else {
        let full = (o.messages - o.users) / 3;
        (full, o.messages - 4 * full)
    };
    let exchanges = full_total + lone_total;
    let stdout = io::stdout();
    let mut sink = Sink {
        out: BufWriter::with_capacity(1 << 20, stdout.lock()),
        pcap: o.pcap,
        ip_id: 0,
    };
    sink.header()?;
    // Day 0 starts at the epoch of the pcap clock; the log prints dates.
    let mut at_us = o.start_ms * 1000;
    let mut in_flight: VecDeque<(u64, std::vec::IntoIter<Msg>)> = VecDeque::new();
    let mut next = 0u64; // the next exchange's number
    let window = WINDOW.min(o.users as usize);
    let mut written = 0u64;
    loop {
        while in_flight.len() < window && next < exchanges {
            let user = next % o.users;
            let round = next / o.users;
            // The full exchanges spread evenly among the lone REGISTERs.
            let full = (next + 1) * full_total / exchanges > next * full_total / exchanges;
            in_flight.push_back((user, exchange(user, round, full, o.fresh).into_iter()));
            next += 1;
        }
        let Some((user, mut msgs)) = in_flight.pop_front() else {
            break;
        };
        if let Some(m) = msgs.next() {
            sink.message(at_us, user, &m)?;
            written += 1;
            at_us += 500;
            in_flight.push_back((user, msgs));
        }
    }
    sink.out.flush()?;
    eprintln!(
        "gen_capture: {written} messages, {} users, {full_total} full exchanges",
        o.users.min(next)
    );
    Ok(())
}
