//! WebSocket (RFC 6455), the client's side, sans-I/O: the parts a session is made of, each
//! pure, bytes in and bytes or events out, with no socket and no clock.
//!
//! - [`key`] and [`accept`]: a fresh `Sec-WebSocket-Key` per connection (derived from the
//!   run's seed and the attempt, so nothing is stored per connection) and the
//!   `Sec-WebSocket-Accept` a server must answer it with (§4.2.2).
//! - [`HeadReader`]: the server's opening handshake answer, read as it arrives: its status,
//!   and whether its `Sec-WebSocket-Accept` is the right one. Nothing is buffered; a head
//!   longer than [`MAX_HEAD`] is a protocol error, so a server that sends headers forever
//!   ends the probe instead of growing it.
//! - [`FrameReader`]: frames (§5.2) read incrementally into [`Event`]s, in at most 16 bytes
//!   of state whatever the frame's length: a payload is counted down, never allocated. What
//!   no server may send is a [`WsError`]: a reserved bit or opcode, a masked frame, a
//!   control frame that is fragmented or longer than 125 bytes, a 64-bit length with its top
//!   bit set, a continuation with no message begun, or a new message inside one.
//! - [`OutFrame`]: a masked client frame (§5.3), written from any offset into a caller's
//!   buffer, so a frame that the socket takes in pieces is made again rather than kept.
//!
//! ```text
//!  request ──▶ head: 101 + right accept ──▶ open: frames ──close frame──▶ closed (code)
//!                 ├── another status ──▶ refused (that status)
//!                 └── 101, wrong or no accept ──▶ protocol error
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::digest;

use crate::engine::probe::{STATUS_WHOLE, status_line_byte};

/// The GUID a server appends to the key before hashing it (§1.3).
pub const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The longest opening handshake answer read: past it, the server is not answering a
/// handshake. Real servers answer in a few hundred bytes.
pub const MAX_HEAD: u16 = 16 * 1024;

/// Opcodes (§5.2).
pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// A 64-bit mixer (splitmix64's): the run's seed and an attempt's number in, bits that
/// look random out. Keys and masks need to differ, not to be secret from the server.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Attempt `seq`'s `Sec-WebSocket-Key`: 16 bytes from the run's `seed`, in base64.
pub fn key(seed: u64, seq: u64) -> [u8; 24] {
    let a = mix(seed ^ seq.wrapping_mul(2));
    let b = mix(a ^ seq.wrapping_mul(2).wrapping_add(1));
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&a.to_le_bytes());
    raw[8..].copy_from_slice(&b.to_le_bytes());
    let mut out = [0u8; 24];
    STANDARD
        .encode_slice(raw, &mut out)
        .expect("16 bytes are 24 in base64");
    out
}

/// The `Sec-WebSocket-Accept` that answers `key`: base64 of SHA-1 of key and [`GUID`].
pub fn accept(key: &[u8]) -> [u8; 28] {
    let mut sha1 = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    sha1.update(key);
    sha1.update(GUID);
    let mut out = [0u8; 28];
    STANDARD
        .encode_slice(sha1.finish().as_ref(), &mut out)
        .expect("20 bytes are 28 in base64");
    out
}

/// The masking key of frame `n` of attempt `seq`.
pub fn mask(seed: u64, seq: u64, n: u32) -> [u8; 4] {
    (mix(seed ^ mix(seq) ^ u64::from(n).rotate_left(32)) as u32).to_le_bytes()
}

/// What the opening handshake's answer said, once its head is whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    Pending,
    /// 101 with the right `Sec-WebSocket-Accept`: the connection speaks WebSocket now.
    Upgraded,
    /// Another status: the server refused the upgrade (503, 429, 401…).
    Refused(u16),
    /// 101 with no accept, or the wrong one.
    BadAccept,
    /// Not an HTTP answer, or a head past [`MAX_HEAD`].
    NotHttp,
}

const ACCEPT_NAME: &[u8] = b"sec-websocket-accept:";
/// `name` when the line is not the accept header.
const OTHER: u8 = u8::MAX;

/// The answer's head, read byte by byte: the status line with the probe's own reader, then
/// header lines, of which only `Sec-WebSocket-Accept` is looked at, value matched against
/// the expected one as it comes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadReader {
    /// Where the status line is ([`status_line_byte`]) and its status.
    at: u16,
    status: u16,
    /// Bytes of the head so far.
    len: u16,
    /// Bytes in the current line, `\r` not counted (saturating); the status line is line 0.
    line: u8,
    past_status_line: bool,
    /// Bytes of [`ACCEPT_NAME`] matched at the line's start, or [`OTHER`].
    name: u8,
    /// Bytes of the expected accept matched in this line's value, or [`OTHER`].
    value: u8,
    /// Accept header seen: 0 no, 1 right, 2 wrong.
    accept: u8,
}

impl HeadReader {
    /// Reads the head from `bytes`, `expected` the accept its key asks for: what it says,
    /// and how many bytes were the head's (the rest are frames).
    pub fn read(&mut self, expected: &[u8; 28], bytes: &[u8]) -> (Head, usize) {
        for (i, &byte) in bytes.iter().enumerate() {
            self.len += 1;
            if self.len > MAX_HEAD {
                return (Head::NotHttp, i + 1);
            }
            if self.at < STATUS_WHOLE {
                if !status_line_byte(&mut self.at, &mut self.status, byte) {
                    return (Head::NotHttp, i + 1);
                }
                continue;
            }
            match byte {
                b'\n' => {
                    if self.past_status_line && self.line == 0 {
                        return (self.judge(), i + 1);
                    }
                    if self.past_status_line && self.name == ACCEPT_NAME.len() as u8 {
                        self.accept = if usize::from(self.value) == expected.len() {
                            1
                        } else {
                            2
                        };
                    }
                    self.past_status_line = true;
                    (self.line, self.name, self.value) = (0, 0, 0);
                }
                b'\r' => {}
                _ => {
                    self.line = self.line.saturating_add(1);
                    if !self.past_status_line {
                        continue;
                    }
                    let name = usize::from(self.name);
                    if name < ACCEPT_NAME.len() {
                        self.name = if byte.to_ascii_lowercase() == ACCEPT_NAME[name] {
                            self.name + 1
                        } else {
                            OTHER
                        };
                    } else if self.name != OTHER && self.value != OTHER {
                        let at = usize::from(self.value);
                        if byte == b' ' || byte == b'\t' {
                            // Space around the value is not the value's (§ RFC 7230 3.2).
                            if at != 0 && at != expected.len() {
                                self.value = OTHER;
                            }
                        } else if at < expected.len() && byte == expected[at] {
                            self.value += 1;
                        } else {
                            self.value = OTHER;
                        }
                    }
                }
            }
        }
        (Head::Pending, bytes.len())
    }

    /// The status, once read.
    pub fn status(&self) -> Option<u16> {
        (self.at == STATUS_WHOLE).then_some(self.status)
    }

    fn judge(&self) -> Head {
        match (self.status, self.accept) {
            (101, 1) => Head::Upgraded,
            (101, _) => Head::BadAccept,
            (status, _) => Head::Refused(status),
        }
    }
}

/// The longest server ping payload a session answers (`ws_session`).
pub const OWED_MAX: usize = 8;

/// What the protocol said that the reports count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsEvent {
    /// The server closed with this code (1005 when it gave none).
    Closed(u16),
    /// 101 with no `Sec-WebSocket-Accept`, or the wrong one.
    BadAccept,
    /// The answer to the handshake was not HTTP.
    NotHttp,
    /// A frame no server may send.
    Frame(WsError),
    /// A ping longer than [`OWED_MAX`]: not answered.
    PingTooLong,
}

impl WsEvent {
    pub fn label(self) -> String {
        match self {
            WsEvent::Closed(code) => {
                format!("closed by the server with {code}{}", close_name(code))
            }
            WsEvent::BadAccept => "a 101 without the right Sec-WebSocket-Accept".to_string(),
            WsEvent::NotHttp => "an answer to the handshake that is not HTTP".to_string(),
            WsEvent::Frame(e) => e.label().to_string(),
            WsEvent::PingTooLong => format!("a ping over {OWED_MAX} bytes, not answered"),
        }
    }
}

/// The name RFC 6455 §7.4.1 and the IANA registry give a close code, after a space.
pub fn close_name(code: u16) -> &'static str {
    match code {
        1000 => " (normal closure)",
        1001 => " (going away)",
        1002 => " (protocol error)",
        1003 => " (unsupported data)",
        1005 => " (no status)",
        1007 => " (invalid payload)",
        1008 => " (policy violation)",
        1009 => " (message too big)",
        1011 => " (internal error)",
        1012 => " (service restart)",
        1013 => " (try again later)",
        1014 => " (bad gateway)",
        _ => "",
    }
}

/// What no server may send (§5.2, §5.4, §5.5), and so ends the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsError {
    /// RSV1-3 set with no extension agreed.
    Reserved,
    /// An opcode RFC 6455 does not define.
    Opcode(u8),
    /// The server masked a frame.
    Masked,
    /// A control frame with FIN clear or a payload over 125 bytes.
    Control,
    /// A 64-bit length with its most significant bit set.
    Length,
    /// A continuation with no message begun, or a new message before the last one ended.
    Fragment,
}

impl WsError {
    pub fn label(self) -> &'static str {
        match self {
            WsError::Reserved => "a frame with a reserved bit set",
            WsError::Opcode(_) => "a frame with an undefined opcode",
            WsError::Masked => "a masked frame from the server",
            WsError::Control => "a fragmented or over-long control frame",
            WsError::Length => "a frame length past 2^63",
            WsError::Fragment => "a message fragment out of order",
        }
    }
}

/// What a frame's bytes say, in order: its header, its payload in pieces, its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    Start { opcode: u8, fin: bool, len: u64 },
    Payload(&'a [u8]),
    End,
    Error(WsError),
}

/// Frames read incrementally. Its state: where in the header it is, the first byte, and
/// the length (accumulating, then counting down the payload).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameReader {
    /// 0: the first byte is next; 1: the second; 2: `need` length bytes; 3: in the payload.
    stage: u8,
    first: u8,
    need: u8,
    /// A data message is begun and not finished (its last frame had FIN clear).
    in_message: bool,
    /// The length as it accumulates, then the payload's bytes left: a u64 kept in four
    /// u16s so that the reader, in every held connection, needs no 8-byte alignment.
    left: [u16; 4],
}

fn join(parts: [u16; 4]) -> u64 {
    parts.iter().fold(0, |n, &p| n << 16 | u64::from(p))
}

fn split(n: u64) -> [u16; 4] {
    [
        (n >> 48) as u16,
        (n >> 32) as u16,
        (n >> 16) as u16,
        n as u16,
    ]
}

impl FrameReader {
    /// The next event in `bytes`, and how many bytes it took; `None` when `bytes` ended
    /// before one was whole. After an [`Event::Error`] the stream is no longer framed: stop.
    pub fn next<'a>(&mut self, bytes: &'a [u8]) -> (Option<Event<'a>>, usize) {
        let mut left = join(self.left);
        let out = self.step(&mut left, bytes);
        self.left = split(left);
        out
    }

    fn step<'a>(&mut self, left: &mut u64, bytes: &'a [u8]) -> (Option<Event<'a>>, usize) {
        let mut used = 0;
        while used < bytes.len() || (self.stage == 3 && *left == 0) {
            if self.stage == 3 {
                if *left == 0 {
                    self.stage = 0;
                    return (Some(Event::End), used);
                }
                let n = (bytes.len() - used).min(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= n as u64;
                return (Some(Event::Payload(&bytes[used..used + n])), used + n);
            }
            let byte = bytes[used];
            used += 1;
            match self.stage {
                0 => {
                    self.first = byte;
                    self.stage = 1;
                }
                1 => {
                    if byte & 0x80 != 0 {
                        return (Some(Event::Error(WsError::Masked)), used);
                    }
                    let len = byte & 0x7f;
                    *left = u64::from(len);
                    self.need = match len {
                        126 => 2,
                        127 => 8,
                        _ => 0,
                    };
                    if self.need == 0 {
                        return (Some(self.start(*left)), used);
                    }
                    *left = 0;
                    self.stage = 2;
                }
                _ => {
                    if self.need == 8 && *left == 0 && byte & 0x80 != 0 {
                        return (Some(Event::Error(WsError::Length)), used);
                    }
                    *left = *left << 8 | u64::from(byte);
                    self.need -= 1;
                    if self.need == 0 {
                        return (Some(self.start(*left)), used);
                    }
                }
            }
        }
        (None, used)
    }

    /// The header is whole: check it, and go on to its payload.
    fn start(&mut self, len: u64) -> Event<'static> {
        let fin = self.first & 0x80 != 0;
        let opcode = self.first & 0x0f;
        if self.first & 0x70 != 0 {
            return Event::Error(WsError::Reserved);
        }
        match opcode {
            CLOSE | PING | PONG => {
                if !fin || len > 125 {
                    return Event::Error(WsError::Control);
                }
            }
            CONTINUATION => {
                if !self.in_message {
                    return Event::Error(WsError::Fragment);
                }
                self.in_message = !fin;
            }
            TEXT | BINARY => {
                if self.in_message {
                    return Event::Error(WsError::Fragment);
                }
                self.in_message = !fin;
            }
            other => return Event::Error(WsError::Opcode(other)),
        }
        self.stage = 3;
        Event::Start { opcode, fin, len }
    }
}

/// A client frame, masked (§5.3): FIN set, `opcode`, `payload` masked with `mask`.
#[derive(Debug, Clone, Copy)]
pub struct OutFrame<'a> {
    pub opcode: u8,
    pub mask: [u8; 4],
    pub payload: &'a [u8],
}

impl OutFrame<'_> {
    fn header_len(&self) -> usize {
        match self.payload.len() {
            0..=125 => 2 + 4,
            126..=0xffff => 4 + 4,
            _ => 10 + 4,
        }
    }

    /// The frame's length in bytes.
    pub fn len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the frame's bytes from `from` on into `out`, as many as fit; how many.
    pub fn fill(&self, from: usize, out: &mut [u8]) -> usize {
        let mut header = [0u8; 14];
        let n = self.payload.len();
        header[0] = 0x80 | self.opcode;
        let at = match n {
            0..=125 => {
                header[1] = 0x80 | n as u8;
                2
            }
            126..=0xffff => {
                header[1] = 0x80 | 126;
                header[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                4
            }
            _ => {
                header[1] = 0x80 | 127;
                header[2..10].copy_from_slice(&(n as u64).to_be_bytes());
                10
            }
        };
        header[at..at + 4].copy_from_slice(&self.mask);
        let head = at + 4;
        let mut written = 0;
        for (i, slot) in (from..self.len()).zip(out.iter_mut()) {
            *slot = if i < head {
                header[i]
            } else {
                let j = i - head;
                self.payload[j] ^ self.mask[j % 4]
            };
            written += 1;
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_sample_key_is_accepted_as_the_rfc_says() {
        // RFC 6455 §1.3.
        assert_eq!(
            &accept(b"dGhlIHNhbXBsZSBub25jZQ=="),
            b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn keys_differ_by_attempt_and_run_and_are_16_bytes() {
        let k = key(1, 0);
        assert_ne!(k, key(1, 1));
        assert_ne!(k, key(2, 0));
        assert_eq!(STANDARD.decode(k).unwrap().len(), 16);
    }

    const HEAD: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nsec-websocket-accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \r\n\r\n";

    fn expected() -> [u8; 28] {
        accept(b"dGhlIHNhbXBsZSBub25jZQ==")
    }

    fn read_whole(head: &[u8], split: usize) -> (Head, usize) {
        let mut r = HeadReader::default();
        let (first, used) = r.read(&expected(), &head[..split]);
        if first != Head::Pending {
            return (first, used);
        }
        let (out, more) = r.read(&expected(), &head[split..]);
        (out, used + more)
    }

    #[test]
    fn a_101_with_the_right_accept_upgrades_in_any_pieces() {
        let mut bytes = HEAD.to_vec();
        bytes.extend_from_slice(b"\x81\x02hi");
        for split in 0..=HEAD.len() {
            assert_eq!(
                read_whole(&bytes, split),
                (Head::Upgraded, HEAD.len()),
                "{split}"
            );
        }
    }

    #[test]
    fn a_wrong_or_missing_accept_is_a_bad_accept() {
        let wrong = String::from_utf8_lossy(HEAD).replace("xOo=", "xOp=");
        assert_eq!(read_whole(wrong.as_bytes(), 5).0, Head::BadAccept);
        let longer = String::from_utf8_lossy(HEAD).replace("xOo=", "xOo=x");
        assert_eq!(read_whole(longer.as_bytes(), 5).0, Head::BadAccept);
        let none = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
        assert_eq!(read_whole(none, 3).0, Head::BadAccept);
    }

    #[test]
    fn another_status_refuses_and_names_itself() {
        let head = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(read_whole(head, 10).0, Head::Refused(503));
        let mut r = HeadReader::default();
        r.read(&expected(), b"HTTP/1.1 429");
        assert_eq!(r.status(), Some(429));
    }

    #[test]
    fn not_http_or_endless_headers_end_the_head() {
        assert_eq!(read_whole(b"SSH-2.0-x\r\n", 2).0, Head::NotHttp);
        let mut r = HeadReader::default();
        let mut endless = b"HTTP/1.1 101 OK\r\n".to_vec();
        endless.extend(std::iter::repeat_n(b'x', usize::from(MAX_HEAD)));
        assert_eq!(r.read(&expected(), &endless).0, Head::NotHttp);
    }

    fn events(reader: &mut FrameReader, mut bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let (event, used) = reader.next(bytes);
            bytes = &bytes[used..];
            match event {
                Some(Event::Payload(p)) => out.push(format!("payload {p:?}")),
                Some(e) => out.push(format!("{e:?}")),
                None => return out,
            }
            if matches!(event, Some(Event::Error(_))) {
                return out;
            }
        }
    }

    #[test]
    fn frames_are_read_in_any_pieces() {
        // A text frame "hi", a pong with 4 bytes, a 300-byte binary frame.
        let mut stream = b"\x81\x02hi\x8a\x04abcd\x82\x7e\x01\x2c".to_vec();
        stream.extend(std::iter::repeat_n(7u8, 300));
        let whole: Vec<String> = events(&mut FrameReader::default(), &stream)
            .into_iter()
            .filter(|e| !e.starts_with("payload"))
            .collect();
        assert_eq!(
            whole,
            [
                "Start { opcode: 1, fin: true, len: 2 }",
                "End",
                "Start { opcode: 10, fin: true, len: 4 }",
                "End",
                "Start { opcode: 2, fin: true, len: 300 }",
                "End",
            ]
        );
        for split in 0..stream.len() {
            let mut r = FrameReader::default();
            let mut seen: Vec<String> = events(&mut r, &stream[..split]);
            seen.extend(events(&mut r, &stream[split..]));
            let payload: usize = seen
                .iter()
                .filter(|e| e.starts_with("payload"))
                .map(|e| e.matches(',').count() + 1)
                .sum();
            assert!(payload >= 2 + 4 + 300 - 3, "{split}: {payload}");
            let starts = seen.iter().filter(|e| e.starts_with("Start")).count();
            assert_eq!(starts, 3, "{split}");
        }
    }

    #[test]
    fn an_empty_frame_ends_at_once() {
        let mut r = FrameReader::default();
        assert_eq!(
            events(&mut r, b"\x89\x00"),
            ["Start { opcode: 9, fin: true, len: 0 }", "End"]
        );
    }

    #[test]
    fn what_no_server_may_send_is_an_error_not_an_allocation() {
        let error = |bytes: &[u8]| {
            let mut r = FrameReader::default();
            events(&mut r, bytes).pop().unwrap()
        };
        assert_eq!(error(b"\xc1\x00"), "Error(Reserved)");
        assert_eq!(error(b"\x83\x00"), "Error(Opcode(3))");
        assert_eq!(error(b"\x81\x80abcd"), "Error(Masked)");
        assert_eq!(error(b"\x09\x00"), "Error(Control)");
        assert_eq!(error(b"\x89\x7e\x00\x80"), "Error(Control)");
        assert_eq!(error(b"\x82\x7f\x80\0\0\0\0\0\0\0"), "Error(Length)");
        assert_eq!(error(b"\x80\x00"), "Error(Fragment)");
        assert_eq!(error(b"\x01\x01a\x81\x00"), "Error(Fragment)");
        // The largest legal length is counted, not allocated.
        let mut r = FrameReader::default();
        assert_eq!(
            events(&mut r, b"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xffab")[0],
            "Start { opcode: 2, fin: true, len: 9223372036854775807 }"
        );
    }

    #[test]
    fn a_fragmented_message_may_carry_control_frames_between() {
        let mut r = FrameReader::default();
        let seen = events(&mut r, b"\x01\x01a\x89\x00\x80\x01b");
        assert_eq!(seen.iter().filter(|e| e.starts_with("Start")).count(), 3);
        assert!(!seen.iter().any(|e| e.starts_with("Error")));
    }

    #[test]
    fn out_frames_are_masked_and_written_from_any_offset() {
        for len in [0usize, 4, 125, 126, 300, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let frame = OutFrame {
                opcode: TEXT,
                mask: [1, 2, 3, 4],
                payload: &payload,
            };
            let mut whole = vec![0u8; frame.len()];
            assert_eq!(frame.fill(0, &mut whole), frame.len());
            // In pieces of 7: the same bytes.
            let mut pieces = Vec::new();
            let mut chunk = [0u8; 7];
            while pieces.len() < frame.len() {
                let n = frame.fill(pieces.len(), &mut chunk);
                pieces.extend_from_slice(&chunk[..n]);
            }
            assert_eq!(pieces, whole);
            // A server reads it back: unmask.
            let mut read = FrameReader::default();
            let mut unmasked = whole.clone();
            unmasked[1] &= 0x7f;
            let head = frame.len() - len;
            let body: Vec<u8> = whole[head..]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ [1, 2, 3, 4][i % 4])
                .collect();
            assert_eq!(body, payload);
            let mut server_view = unmasked[..head - 4].to_vec();
            server_view.extend_from_slice(&payload);
            let (event, _) = read.next(&server_view);
            assert_eq!(
                event,
                Some(Event::Start {
                    opcode: TEXT,
                    fin: true,
                    len: len as u64
                })
            );
        }
    }
}
