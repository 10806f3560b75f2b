use std::time::Instant;
fn main() {
    let msg = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-7;rport=5060;received=198.51.100.7\r\nFrom: <sip:office@acme.sip.twilio.com>;tag=8f2c1a\r\nTo: <sip:office@acme.sip.twilio.com>;tag=2f1e3c9d_6772d868_1b1a\r\nCall-ID: 5b7a8c1e-2d4f-4e0b-9f1a-7c3d2e1f0a9b\r\nCSeq: 7 REGISTER\r\nContact: <sip:office@203.0.113.5:5060>;expires=1200,<sip:office@198.51.100.7:5060>;expires=3600, <sip:desk@10.0.0.9:5060;ob>;expires=60\r\nServer: Twilio\r\nContent-Length: 0\r\n\r\n";
    let n = 1_000_000;
    let t = Instant::now();
    for _ in 0..n { std::hint::black_box(regwatch::sip::parse(std::hint::black_box(msg.as_bytes())).unwrap()); }
    println!("parse only: {:?}", t.elapsed() / n);
    let m = regwatch::sip::parse(msg.as_bytes()).unwrap();
    let t = Instant::now();
    for _ in 0..n { std::hint::black_box(m.contacts()); }
    println!("contacts: {:?}", t.elapsed() / n);
    let t = Instant::now();
    for _ in 0..n { std::hint::black_box((m.cseq(), m.call_id(), m.server(), m.expires(), m.min_expires(), m.retry_after(), m.x_twilio_error())); }
    println!("lookups: {:?}", t.elapsed() / n);
}
