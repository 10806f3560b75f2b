use super::*;
use std::io::{Read, Write};
use std::net::TcpListener;

/// A TCP peer on loopback that runs `serve` on its first connection.
fn peer(serve: impl FnOnce(TcpStream) + Send + 'static) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((s, _)) = l.accept() {
            serve(s);
        }
    });
    addr
}

/// Writes `bytes` again and again until the client goes away.
fn flood(bytes: &'static [u8]) -> impl FnOnce(TcpStream) + Send + 'static {
    move |mut s| while s.write_all(bytes).is_ok() {}
}

fn options(local: &str) -> String {
    format!("OPTIONS sip:hostile.test SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bK-t\r\nContent-Length: 0\r\n\r\n")
}

fn over_tcp(addr: SocketAddr) -> Result<(String, Exchanged), ExchangeError> {
    let ep = Endpoint {
        host: "127.0.0.1".to_owned(),
        port: addr.port(),
        transport: Transport::Tcp,
    };
    exchange(
        &ep,
        addr,
        Duration::from_secs(20),
        "z9hG4bK-t",
        None,
        &options,
    )
}

fn protocol_detail(r: Result<(String, Exchanged), ExchangeError>) -> String {
    match r {
        Err(ExchangeError::Transport(TransportErrorKind::Protocol, d)) => d,
        other => panic!("not a protocol error: {other:?}"),
    }
}

#[test]
fn an_endless_stream_is_not_sip() {
    let d = protocol_detail(over_tcp(peer(flood(&[b'A'; 4096]))));
    assert!(d.contains("without a complete SIP message"), "{d}");
}

#[test]
fn endless_crs_are_not_sip() {
    let d = protocol_detail(over_tcp(peer(flood(&[b'\r'; 4096]))));
    assert!(d.contains("without a complete SIP message"), "{d}");
}

#[test]
fn a_huge_header_is_not_sip() {
    let addr = peer(|mut s| {
        let mut m = b"SIP/2.0 200 OK\r\nX-Big: ".to_vec();
        m.resize(1 << 20, b'a');
        m.extend_from_slice(b"\r\n\r\n");
        let _ = s.write_all(&m);
    });
    let d = protocol_detail(over_tcp(addr));
    assert!(d.contains("without a complete SIP message"), "{d}");
}

#[test]
fn garbage_is_not_sip() {
    let addr = peer(|mut s| {
        let _ = s.write_all(b"\x16\x03\x01\x02\x00\x01\xfc binary noise\r\n\r\n");
        std::thread::sleep(Duration::from_secs(5));
    });
    let d = protocol_detail(over_tcp(addr));
    assert_eq!(d, "the peer sent 24 bytes that are not a SIP message");
}

#[test]
fn a_trickled_tls_handshake_ends_at_the_deadline() {
    // A ServerHello that never ends, a byte every 50 ms for 5 s: each
    // read gets its byte well within the timeout, so only an overall
    // deadline ends the exchange (with a timeout, not a TLS failure).
    let addr = peer(|mut s| {
        let mut record = vec![0x16, 0x03, 0x03, 0x40, 0x00, 0x02, 0x00, 0x3f, 0xfc];
        record.resize(100, 0x42);
        for b in record {
            if s.write_all(&[b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let tls = TlsTarget {
        server_name: "hostile.test".to_owned(),
        config: Arc::new(config),
    };
    let ep = Endpoint {
        host: "127.0.0.1".to_owned(),
        port: addr.port(),
        transport: Transport::Tls,
    };
    let r = exchange(
        &ep,
        addr,
        Duration::from_millis(1000),
        "z9hG4bK-t",
        Some(&tls),
        &options,
    );
    assert_eq!(r.err(), Some(ExchangeError::Timeout));
}

#[test]
fn a_pinged_exchange_still_gets_its_answer() {
    let addr = peer(|mut s| {
        let mut buf = [0u8; 2048];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"\r\n\r\n\r\n\r\n");
        let mut pong = [0u8; 2];
        let _ = s.read_exact(&mut pong);
        assert_eq!(&pong, b"\r\n");
        let _ = s.write_all(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP x;branch=z9hG4bK-t\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    });
    let (_, x) = over_tcp(addr).unwrap();
    assert!(x.response.starts_with(b"SIP/2.0 200 OK"));
}
