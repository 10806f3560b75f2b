//! The stream framer's memory bound on a hostile stream: whatever arrives,
//! after framing what it can the framer holds at most one message's limit.
use regwatch::sip::{Frame, StreamFramer, MAX_MESSAGE};

fn drain(f: &mut StreamFramer) -> Vec<Frame> {
    let mut out = Vec::new();
    while let Ok(Some(fr)) = f.next_frame() {
        out.push(fr);
    }
    out
}

/// Found by the `framer` fuzz target: a stream of CRs that never brings
/// the LF of a keep-alive was kept whole (and rescanned on every read).
#[test]
fn an_endless_run_of_cr_is_not_buffered() {
    let mut f = StreamFramer::new();
    let read = vec![b'\r'; 4096];
    for _ in 0..(4 * MAX_MESSAGE / read.len()) {
        f.push(&read);
        assert!(drain(&mut f).is_empty());
        assert!(f.buffered() <= 1, "{} bytes buffered", f.buffered());
    }
    // The run is still one keep-alive, and what follows frames as usual.
    let msg = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n";
    f.push(b"\n");
    f.push(msg);
    assert_eq!(
        drain(&mut f),
        [Frame::KeepAlive, Frame::Message(msg.to_vec())]
    );
    assert_eq!(f.buffered(), 0);
}

#[test]
fn mixed_cr_lf_runs_ending_in_cr_wait_for_the_lf() {
    let mut f = StreamFramer::new();
    f.push(b"\r\n\r\r\r");
    assert!(drain(&mut f).is_empty());
    assert!(f.buffered() <= 1);
    f.push(b"\n");
    assert_eq!(drain(&mut f), [Frame::KeepAlive]);
    assert_eq!(f.buffered(), 0);
}

/// The framer remembers how far it searched a header section and how long
/// the message is while its body arrives; read one byte at a time, a
/// stream frames exactly as in one read (every way a header can end,
/// split at every byte).
#[test]
fn one_byte_reads_frame_as_one_read() {
    let mut stream = Vec::new();
    for (end, body) in [
        ("\r\n\r\n", ""),
        ("\n\n", ""),
        ("\n\r\n", ""),
        ("\r\n\r\n", "hello"),
        ("\n\n", "v=0\r\n"),
    ] {
        let head = format!("OPTIONS sip:a@b SIP/2.0\r\nl: {}{end}", body.len());
        stream.extend_from_slice(head.as_bytes());
        stream.extend_from_slice(body.as_bytes());
        stream.extend_from_slice(b"\r\n\r\n");
    }
    let mut whole = StreamFramer::new();
    whole.push(&stream);
    let expected = drain(&mut whole);
    assert_eq!(
        expected
            .iter()
            .filter(|f| matches!(f, Frame::Message(_)))
            .count(),
        5
    );
    let mut f = StreamFramer::new();
    let mut got = Vec::new();
    for b in &stream {
        f.push(std::slice::from_ref(b));
        got.extend(drain(&mut f));
    }
    let messages = |v: &[Frame]| {
        v.iter()
            .filter_map(|f| match f {
                Frame::Message(m) => Some(m.clone()),
                Frame::KeepAlive => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(messages(&got), messages(&expected));
    assert_eq!(f.buffered(), 0);
}
