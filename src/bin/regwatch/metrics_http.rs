//! The `--metrics` endpoint: a small HTTP/1.1 server for `GET /metrics`,
//! event-driven on one thread (mio), so that no client can hold it up.
//!
//! Every connection has a bounded request head ([`Limits::max_head`]: past
//! it, 431, then at most 64 KiB more read and discarded so that the client
//! sees the 431 rather than a reset, then close), one overall deadline from
//! accept to the last byte of the answer ([`Limits::deadline`]: past it,
//! 408 and close, however the client trickles), and the number of
//! connections is capped ([`Limits::max_conns`]: past it, 503 and close at
//! once). A scrape is answered as soon as its head is complete, whatever
//! other clients hold. A [`Waker`] ends the loop at once on shutdown. One
//! request per connection (`Connection: close`).
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The bounds every client is held to.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Bytes of request line and headers.
    pub max_head: usize,
    /// From accept to the answer written, whatever the client does.
    pub deadline: Duration,
    /// Connections open at once.
    pub max_conns: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head: 8 * 1024,
            deadline: Duration::from_secs(5),
            max_conns: 1024,
        }
    }
}

/// Connections dropped, by reason (exported with the metrics).
#[derive(Default, Debug)]
pub struct Stats {
    /// Refused with 503: the connection cap was reached.
    pub over_capacity: AtomicU64,
    /// Closed with 431: the request head passed [`Limits::max_head`].
    pub header_too_large: AtomicU64,
    /// Closed with 408: the deadline passed before the answer was written.
    pub deadline: AtomicU64,
}

/// The body of `GET /metrics`, made on the server thread per scrape.
pub type Render = Box<dyn FnMut() -> String + Send>;

/// The running server; [`Server::stop`] ends it.
pub struct Server {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `addr` (with a listen backlog of 1024) and serves it on a
    /// thread of its own.
    pub fn start(
        addr: SocketAddr,
        limits: Limits,
        stats: Arc<Stats>,
        render: Render,
    ) -> io::Result<Server> {
        let mut listener = TcpListener::bind(addr)?;
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut lp = Loop {
            poll,
            listener,
            limits,
            stats,
            render,
            stop: stop.clone(),
            conns: Vec::new(),
            free: Vec::new(),
            live: 0,
            serial: 0,
            deadlines: VecDeque::new(),
            accept_again: false,
            accept_paused_until: None,
        };
        let thread = std::thread::Builder::new()
            .name("regwatch-metrics".to_owned())
            .spawn(move || lp.run())?;
        Ok(Server {
            stop,
            waker,
            thread: Some(thread),
        })
    }

    /// Ends the loop (at once: it is woken) and waits for it; every
    /// connection is closed.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

const WAKER: Token = Token(0);
const LISTENER: Token = Token(1);
const FIRST_CONN: usize = 2;
/// Accepted per wake-up before the others get their turn.
const ACCEPT_BURST: usize = 256;

const TOO_LARGE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const TIMEOUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

struct Conn {
    stream: TcpStream,
    serial: u64,
    phase: Phase,
}

enum Phase {
    /// Reading the request line and headers.
    Head(Vec<u8>),
    /// Writing the answer; how much of it is sent.
    Answer(Vec<u8>, usize),
    /// 431 sent and our side shut: reading (and discarding) a little of
    /// what the client had already sent, so that it gets the 431 rather
    /// than a reset; how much more may be read.
    Drain(usize),
}

/// Read and discarded after a 431 at most.
const DRAIN: usize = 64 * 1024;

/// What to do with a connection after an event.
enum Next {
    Keep,
    Close,
}

struct Loop {
    poll: Poll,
    listener: TcpListener,
    limits: Limits,
    stats: Arc<Stats>,
    render: Render,
    stop: Arc<AtomicBool>,
    /// Slots indexed by token - FIRST_CONN; `free` lists the empty ones.
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    live: usize,
    serial: u64,
    /// (deadline, slot, serial) in accept order, so in deadline order.
    deadlines: VecDeque<(Instant, usize, u64)>,
    accept_again: bool,
    accept_paused_until: Option<Instant>,
}

impl Loop {
    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        while !self.stop.load(Ordering::SeqCst) {
            let timeout = self.timeout(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                eprintln!("regwatch watch: --metrics: {e}; the endpoint stops");
                return;
            }
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            for ev in events.iter() {
                match ev.token() {
                    WAKER => {}
                    LISTENER => self.accept_again = true,
                    Token(t) => {
                        let slot = t - FIRST_CONN;
                        let next = match self.conns.get_mut(slot).and_then(Option::as_mut) {
                            Some(Conn {
                                phase: Phase::Answer(..),
                                ..
                            }) => self.send(slot),
                            Some(_) => self.receive(slot),
                            None => Next::Keep,
                        };
                        if let Next::Close = next {
                            self.close(slot);
                        }
                    }
                }
            }
            let now = Instant::now();
            if self.accept_paused_until.is_some_and(|t| t <= now) {
                self.accept_paused_until = None;
                self.accept_again = true;
            }
            if self.accept_again && self.accept_paused_until.is_none() {
                self.accept();
            }
            self.expire(Instant::now());
        }
    }

    /// How long the next poll may wait.
    fn timeout(&self, now: Instant) -> Option<Duration> {
        if self.accept_again && self.accept_paused_until.is_none() {
            return Some(Duration::ZERO);
        }
        [
            self.deadlines.front().map(|d| d.0),
            self.accept_paused_until,
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|t| t.saturating_duration_since(now))
    }

    fn accept(&mut self) {
        self.accept_again = false;
        for _ in 0..ACCEPT_BURST {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    if self.live >= self.limits.max_conns {
                        self.stats.over_capacity.fetch_add(1, Ordering::Relaxed);
                        let _ = stream.write(BUSY);
                        continue;
                    }
                    let slot = self.free.pop().unwrap_or_else(|| {
                        self.conns.push(None);
                        self.conns.len() - 1
                    });
                    if self
                        .poll
                        .registry()
                        .register(&mut stream, Token(slot + FIRST_CONN), Interest::READABLE)
                        .is_err()
                    {
                        self.free.push(slot);
                        continue;
                    }
                    self.serial += 1;
                    self.deadlines.push_back((
                        Instant::now() + self.limits.deadline,
                        slot,
                        self.serial,
                    ));
                    self.conns[slot] = Some(Conn {
                        stream,
                        serial: self.serial,
                        phase: Phase::Head(Vec::new()),
                    });
                    self.live += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_out_of_files(&e) => {
                    // The pending connection stays queued; try again when a
                    // connection has closed or a little later.
                    self.accept_paused_until = Some(Instant::now() + Duration::from_millis(100));
                    return;
                }
                // The peer went away before the accept, or a transient
                // network error: the next connection may do better.
                Err(_) => {}
            }
        }
        self.accept_again = true;
    }

    /// Reads what the client sent; answers once the head is complete.
    fn receive(&mut self, slot: usize) -> Next {
        let max = self.limits.max_head;
        let Some(c) = self.conns[slot].as_mut() else {
            return Next::Close;
        };
        let mut buf = [0u8; 4096];
        loop {
            let n = match c.stream.read(&mut buf) {
                Ok(0) => return Next::Close,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Next::Close,
            };
            match &mut c.phase {
                Phase::Head(head) => {
                    let from = head.len().saturating_sub(3);
                    head.extend_from_slice(&buf[..n]);
                    if let Some(end) = head_end(head, from) {
                        c.phase = Phase::Answer(answer(&head[..end], &mut self.render), 0);
                        return self.send(slot);
                    }
                    if head.len() > max {
                        self.stats.header_too_large.fetch_add(1, Ordering::Relaxed);
                        if c.stream.write(TOO_LARGE).is_err()
                            || c.stream.shutdown(std::net::Shutdown::Write).is_err()
                        {
                            return Next::Close;
                        }
                        c.phase = Phase::Drain(DRAIN);
                    }
                }
                Phase::Drain(left) => {
                    if n >= *left {
                        return Next::Close;
                    }
                    *left -= n;
                }
                Phase::Answer(..) => return Next::Keep,
            }
        }
    }

    /// Writes what the socket takes of the answer; closes once it is sent.
    fn send(&mut self, slot: usize) -> Next {
        let Some(c) = self.conns[slot].as_mut() else {
            return Next::Close;
        };
        let Phase::Answer(out, sent) = &mut c.phase else {
            return Next::Keep;
        };
        while *sent < out.len() {
            match c.stream.write(&out[*sent..]) {
                Ok(0) => return Next::Close,
                Ok(n) => *sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Wait for room; stop listening for reads (a client
                    // that keeps sending is not read any further).
                    let _ = self.poll.registry().reregister(
                        &mut c.stream,
                        Token(slot + FIRST_CONN),
                        Interest::WRITABLE,
                    );
                    return Next::Keep;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
        Next::Close
    }

    fn close(&mut self, slot: usize) {
        if let Some(mut c) = self.conns[slot].take() {
            let _ = self.poll.registry().deregister(&mut c.stream);
            self.free.push(slot);
            self.live -= 1;
            if self.accept_paused_until.is_some() {
                // A descriptor is free again.
                self.accept_paused_until = None;
                self.accept_again = true;
            }
        }
    }

    /// Closes every connection whose deadline has passed (408).
    fn expire(&mut self, now: Instant) {
        while let Some(&(at, slot, serial)) = self.deadlines.front() {
            if at > now {
                break;
            }
            self.deadlines.pop_front();
            let Some(c) = self.conns[slot].as_mut() else {
                continue;
            };
            if c.serial != serial {
                continue;
            }
            if let Phase::Head(_) = c.phase {
                self.stats.deadline.fetch_add(1, Ordering::Relaxed);
                let _ = c.stream.write(TIMEOUT);
            } else if let Phase::Answer(..) = c.phase {
                self.stats.deadline.fetch_add(1, Ordering::Relaxed);
            }
            self.close(slot);
        }
    }
}

fn is_out_of_files(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(code) if code == libc::EMFILE || code == libc::ENFILE)
}

/// Where the head ends (after its blank line), searching from `from`.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(p) = memchr::memchr(b'\n', &buf[i..]) {
        let nl = i + p;
        if buf.get(nl + 1) == Some(&b'\n') {
            return Some(nl + 2);
        }
        if buf.get(nl + 1) == Some(&b'\r') && buf.get(nl + 2) == Some(&b'\n') {
            return Some(nl + 3);
        }
        i = nl + 1;
    }
    None
}

/// The whole answer to a complete request head.
fn answer(head: &[u8], render: &mut Render) -> Vec<u8> {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let mut parts = line
        .split(|b| *b == b' ')
        .filter(|p| !p.is_empty())
        .map(|p| p.strip_suffix(b"\r").unwrap_or(p));
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let path = target.split(|b| *b == b'?').next().unwrap_or_default();
    let (status, body) = match method {
        b"GET" | b"HEAD" if path == b"/metrics" || path == b"/" => ("200 OK", Some(render())),
        b"GET" | b"HEAD" => ("404 Not Found", None),
        _ => ("405 Method Not Allowed", None),
    };
    let body = body.unwrap_or_default();
    let mut out = format!("HTTP/1.1 {status}\r\n");
    if status.starts_with("200") {
        out.push_str("Content-Type: text/plain; version=0.0.4\r\n");
    } else if status.starts_with("405") {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    if method != b"HEAD" {
        out.push_str(&body);
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_ends_at_the_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest", 0), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\nA: b\n\n", 0), Some(21));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n", 0), None);
        // A search resumed a few bytes back still finds a split CRLFCRLF.
        let b = b"GET / HTTP/1.1\r\n\r\n";
        assert_eq!(head_end(b, b.len() - 5), Some(b.len()));
    }

    #[test]
    fn answers() {
        let mut r: Render = Box::new(|| "m 1\n".to_owned());
        let ok = answer(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &mut r);
        let ok = String::from_utf8(ok).unwrap();
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("Content-Length: 4\r\n") && ok.ends_with("\r\n\r\nm 1\n"));
        let head = String::from_utf8(answer(b"HEAD /metrics?x=1 HTTP/1.1\r\n\r\n", &mut r));
        assert!(head
            .unwrap()
            .ends_with("Content-Length: 4\r\nConnection: close\r\n\r\n"));
        let nf = String::from_utf8(answer(b"GET /other HTTP/1.1\r\n\r\n", &mut r)).unwrap();
        assert!(nf.starts_with("HTTP/1.1 404"), "{nf}");
        let post = String::from_utf8(answer(b"POST /metrics HTTP/1.1\r\n\r\n", &mut r)).unwrap();
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
        let junk = String::from_utf8(answer(b"\r\n\r\n", &mut r)).unwrap();
        assert!(junk.starts_with("HTTP/1.1 405"), "{junk}");
    }
}
