//! HTTP/2 (RFC 9113), the client's side of a connection's frames, sans-I/O: the parts a
//! session is made of (`h2_session`), each pure, bytes in and bytes or events out, with no
//! socket and no clock. No HPACK: the probe opens no stream, so no header block is ever
//! decoded.
//!
//! - [`PREFACE`] and [`CLIENT_SETTINGS`]: what a client writes first (§3.4): the connection
//!   preface and a SETTINGS frame that turns server push off and keeps every other
//!   setting at its default, so the largest frame we take is [`MAX_FRAME_SIZE`].
//! - [`FrameReader`]: frames (§4.1) read incrementally into [`Event`]s, in 12 bytes of state
//!   whatever the frame: the 9-byte header as it arrives, then the payload counted down,
//!   never buffered, whatever its stream. A frame longer than [`MAX_FRAME_SIZE`] is a
//!   FRAME_SIZE_ERROR before a byte of its payload is read; so are a SETTINGS, PING,
//!   GOAWAY or WINDOW_UPDATE of a length that type cannot have (§6), and a SETTINGS, PING
//!   or GOAWAY on a stream other than 0 is a PROTOCOL_ERROR. An answer that begins
//!   `HTTP/` is a server speaking HTTP/1, said as such.
//! - [`control`]: a frame of ours with an 8-byte payload or none (SETTINGS ACK, PING and
//!   its ACK, GOAWAY), written from any offset, so a frame that the socket takes in pieces
//!   is made again rather than kept.
//! - [`H2Event`]: what the server said that the reports count: a GOAWAY by its error code's
//!   name, an ALPN choice that is not `h2`, a frame no server may send.
//! - [`ServerReader`]: the built-in server's side (`server --h2`): the client's preface
//!   checked, its frames read with the same reader, a SETTINGS acknowledged and a PING
//!   answered; [`SERVER_SETTINGS`] its first frame, [`goaway`] the refusal past its cap.

/// The client connection preface (§3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// SETTINGS_MAX_FRAME_SIZE's default (§6.5.2), which we never raise: the longest frame a
/// server may send us.
pub const MAX_FRAME_SIZE: u16 = 16_384;

/// Frame types (§6).
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;

/// The ACK flag of SETTINGS and PING.
pub const ACK: u8 = 0x1;

/// Our SETTINGS (§6.5): SETTINGS_ENABLE_PUSH = 0; everything else at its default.
pub const CLIENT_SETTINGS: [u8; 15] = [0, 0, 6, SETTINGS, 0, 0, 0, 0, 0, 0, 0x2, 0, 0, 0, 0];

/// What the client writes first: the preface, then its SETTINGS.
pub fn client_start(from: usize, out: &mut [u8]) -> usize {
    let whole = PREFACE.iter().chain(CLIENT_SETTINGS.iter());
    let mut written = 0;
    for (slot, &byte) in out.iter_mut().zip(whole.skip(from)) {
        *slot = byte;
        written += 1;
    }
    written
}

/// The length of [`client_start`]'s bytes.
pub const CLIENT_START_LEN: usize = PREFACE.len() + CLIENT_SETTINGS.len();

/// A connection-level frame (stream 0) of `kind` with `flags` and `payload` (empty or 8
/// bytes: a SETTINGS ACK, a PING or its ACK, a GOAWAY's last stream and code), written
/// from `from` on into `out`, as many bytes as fit; how many.
pub fn control(kind: u8, flags: u8, payload: &[u8], from: usize, out: &mut [u8]) -> usize {
    let len = payload.len().min(8);
    let head = [0, 0, len as u8, kind, flags, 0, 0, 0, 0];
    let whole = head.iter().chain(payload[..len].iter());
    let mut written = 0;
    for (slot, &byte) in out.iter_mut().zip(whole.skip(from)) {
        *slot = byte;
        written += 1;
    }
    written
}

/// The name RFC 9113 §7 gives an error code.
pub fn error_name(code: u32) -> Option<&'static str> {
    Some(match code {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x4 => "SETTINGS_TIMEOUT",
        0x5 => "STREAM_CLOSED",
        0x6 => "FRAME_SIZE_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xa => "CONNECT_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        0xc => "INADEQUATE_SECURITY",
        0xd => "HTTP_1_1_REQUIRED",
        _ => return None,
    })
}

fn type_name(kind: u8) -> &'static str {
    match kind {
        SETTINGS => "SETTINGS",
        PING => "PING",
        GOAWAY => "GOAWAY",
        WINDOW_UPDATE => "WINDOW_UPDATE",
        _ => "frame",
    }
}

/// What the server chose in ALPN when it was not `h2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    Http11,
    /// No protocol: the server ignored ALPN.
    Nothing,
    Other,
}

impl Alpn {
    /// What `chosen` is, `None` when it is `h2`.
    pub fn of(chosen: Option<&[u8]>) -> Option<Alpn> {
        match chosen {
            Some(b"h2") => None,
            Some(b"http/1.1") => Some(Alpn::Http11),
            Some(_) => Some(Alpn::Other),
            None => Some(Alpn::Nothing),
        }
    }
}

/// What no server may send (§4.2, §6), and so ends the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H2Error {
    /// A frame longer than [`MAX_FRAME_SIZE`].
    TooLong,
    /// A SETTINGS, PING, GOAWAY or WINDOW_UPDATE of a length that type cannot have.
    Length(u8),
    /// A SETTINGS, PING or GOAWAY on a stream other than 0.
    Stream(u8),
    /// The server's first frame was not SETTINGS (§3.4).
    NotSettingsFirst,
    /// The answer began `HTTP/`: the server speaks HTTP/1.
    Http1,
}

impl H2Error {
    pub fn label(self) -> String {
        match self {
            H2Error::TooLong => format!("a frame over {MAX_FRAME_SIZE} bytes (FRAME_SIZE_ERROR)"),
            H2Error::Length(kind) => {
                format!("a {} of a wrong length (FRAME_SIZE_ERROR)", type_name(kind))
            }
            H2Error::Stream(kind) => {
                format!(
                    "a {} on a stream other than 0 (PROTOCOL_ERROR)",
                    type_name(kind)
                )
            }
            H2Error::NotSettingsFirst => {
                "a first frame that is not SETTINGS (PROTOCOL_ERROR)".to_string()
            }
            H2Error::Http1 => "an HTTP/1 answer to the HTTP/2 preface".to_string(),
        }
    }
}

/// What the HTTP/2 peer said that the reports count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H2Event {
    /// The server sent GOAWAY: its error code, last stream and debug data's length.
    GoAway {
        code: u32,
        last_stream: u32,
        debug: u16,
    },
    /// Over TLS, the server chose another protocol than `h2`.
    Alpn(Alpn),
    Frame(H2Error),
}

impl H2Event {
    pub fn label(self) -> String {
        match self {
            H2Event::GoAway {
                code,
                last_stream,
                debug,
            } => {
                let name = match error_name(code) {
                    Some(name) => name.to_string(),
                    None => format!("error code {code:#x}"),
                };
                format!("GOAWAY {name} (last stream {last_stream}, {debug} bytes of debug data)")
            }
            H2Event::Alpn(Alpn::Http11) => "ALPN: the server chose http/1.1, not h2".to_string(),
            H2Event::Alpn(Alpn::Nothing) => {
                "ALPN: the server chose no protocol, not h2".to_string()
            }
            H2Event::Alpn(Alpn::Other) => {
                "ALPN: the server chose another protocol, not h2".to_string()
            }
            H2Event::Frame(e) => e.label(),
        }
    }
}

/// A frame's header (§4.1), once whole and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// At most [`MAX_FRAME_SIZE`].
    pub len: u16,
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
}

/// What a frame's bytes say, in order: its header, its payload in pieces, its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    Start(Header),
    Payload(&'a [u8]),
    End,
    Error(H2Error),
}

/// Frames read incrementally: the header's bytes as they come, then the payload's bytes
/// left.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameReader {
    head: [u8; 9],
    /// Header bytes read, 0 to 9 (9: in the payload), and [`FRAMED`].
    at: u8,
    left: u16,
}

const IN_PAYLOAD: u8 = 9;
/// In `at`: a frame's header was read whole (so an `HTTP/` can no longer begin the answer).
const FRAMED: u8 = 0x80;

impl FrameReader {
    /// The next event in `bytes`, and how many bytes it took; `None` when `bytes` ended
    /// before one was whole. After an [`Event::Error`] the stream is no longer framed: stop.
    pub fn next<'a>(&mut self, bytes: &'a [u8]) -> (Option<Event<'a>>, usize) {
        let mut used = 0;
        loop {
            if self.at & !FRAMED == IN_PAYLOAD {
                if self.left == 0 {
                    self.at = FRAMED;
                    return (Some(Event::End), used);
                }
                if used == bytes.len() {
                    return (None, used);
                }
                let n = (bytes.len() - used).min(usize::from(self.left));
                self.left -= n as u16;
                return (Some(Event::Payload(&bytes[used..used + n])), used + n);
            }
            let Some(&byte) = bytes.get(used) else {
                return (None, used);
            };
            self.head[usize::from(self.at & !FRAMED)] = byte;
            self.at += 1;
            used += 1;
            if self.at & !FRAMED == IN_PAYLOAD {
                return (Some(self.start()), used);
            }
        }
    }

    /// The header is whole: check it, and go on to its payload.
    fn start(&mut self) -> Event<'static> {
        let h = self.head;
        let first = self.at & FRAMED == 0;
        self.at |= FRAMED;
        if first && h.starts_with(b"HTTP/") {
            return Event::Error(H2Error::Http1);
        }
        let len = u32::from(h[0]) << 16 | u32::from(h[1]) << 8 | u32::from(h[2]);
        if len > u32::from(MAX_FRAME_SIZE) {
            return Event::Error(H2Error::TooLong);
        }
        let (kind, flags) = (h[3], h[4]);
        let stream = u32::from_be_bytes([h[5] & 0x7f, h[6], h[7], h[8]]);
        let length_ok = match kind {
            SETTINGS if flags & ACK != 0 => len == 0,
            SETTINGS => len % 6 == 0,
            PING => len == 8,
            GOAWAY => len >= 8,
            WINDOW_UPDATE => len == 4,
            _ => true,
        };
        if !length_ok {
            return Event::Error(H2Error::Length(kind));
        }
        if matches!(kind, SETTINGS | PING | GOAWAY) && stream != 0 {
            return Event::Error(H2Error::Stream(kind));
        }
        self.left = len as u16;
        Event::Start(Header {
            len: len as u16,
            kind,
            flags,
            stream,
        })
    }
}

/// The built-in server's SETTINGS (§3.4: its first frame): every setting at its default.
pub const SERVER_SETTINGS: [u8; 9] = [0, 0, 0, SETTINGS, 0, 0, 0, 0, 0];

/// A GOAWAY with `code`, last stream 0 (no stream was opened) and `debug` as its debug
/// data (at most [`MAX_FRAME_SIZE`] - 8 bytes are kept).
pub fn goaway(code: u32, debug: &[u8]) -> Vec<u8> {
    let debug = &debug[..debug.len().min(usize::from(MAX_FRAME_SIZE) - 8)];
    let len = (8 + debug.len()) as u32;
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend([GOAWAY, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend(code.to_be_bytes());
    out.extend(debug);
    out
}

/// ENHANCE_YOUR_CALM (§7): the built-in server's GOAWAY past its cap.
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// What a client sent the server that ends the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientError {
    /// Its first 24 bytes were not the preface.
    Preface,
    Frame(H2Error),
}

/// A client's bytes read by the built-in server: the preface, then frames. What it owes
/// the client in answer (a SETTINGS ACK for each SETTINGS, a PING ACK for each PING) is
/// appended to a caller's buffer; nothing else is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerReader {
    /// Bytes of the preface matched.
    preface: u8,
    frames: FrameReader,
    /// The frame being read: its type (`u8::MAX`: of another stream), whether it is an
    /// ACK, its payload's first 8 bytes and how many came.
    kind: u8,
    ack: bool,
    at: u8,
    payload: [u8; 8],
}

impl ServerReader {
    /// Reads `bytes`, appending the answers they are owed to `out`.
    pub fn on_bytes(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) -> Result<(), ClientError> {
        while usize::from(self.preface) < PREFACE.len() {
            let Some((&byte, rest)) = bytes.split_first() else {
                return Ok(());
            };
            if byte != PREFACE[usize::from(self.preface)] {
                return Err(ClientError::Preface);
            }
            self.preface += 1;
            bytes = rest;
        }
        loop {
            let (event, used) = self.frames.next(bytes);
            bytes = &bytes[used..];
            match event {
                None => return Ok(()),
                Some(Event::Error(e)) => return Err(ClientError::Frame(e)),
                Some(Event::Start(h)) => {
                    self.kind = if h.stream == 0 { h.kind } else { u8::MAX };
                    (self.ack, self.at) = (h.flags & ACK != 0, 0);
                }
                Some(Event::Payload(p)) => {
                    for (i, &b) in p.iter().enumerate() {
                        if let Some(slot) = self.payload.get_mut(usize::from(self.at) + i) {
                            *slot = b;
                        }
                    }
                    self.at = self.at.saturating_add(p.len().min(255) as u8);
                }
                Some(Event::End) => {
                    let mut frame = [0u8; 17];
                    let n = match (self.kind, self.ack) {
                        (SETTINGS, false) => control(SETTINGS, ACK, &[], 0, &mut frame),
                        (PING, false) => control(PING, ACK, &self.payload, 0, &mut frame),
                        _ => 0,
                    };
                    out.extend_from_slice(&frame[..n]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(reader: &mut FrameReader, mut bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let (event, used) = reader.next(bytes);
            bytes = &bytes[used..];
            match event {
                Some(Event::Payload(p)) => out.push(format!("payload {}", p.len())),
                Some(e) => out.push(format!("{e:?}")),
                None => return out,
            }
            if matches!(event, Some(Event::Error(_))) {
                return out;
            }
        }
    }

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut out = len.to_be_bytes()[1..].to_vec();
        out.extend([kind, flags]);
        out.extend(stream.to_be_bytes());
        out.extend(payload);
        out
    }

    #[test]
    fn the_client_start_is_the_preface_and_our_settings_in_any_pieces() {
        let mut whole = [0u8; CLIENT_START_LEN];
        assert_eq!(client_start(0, &mut whole), CLIENT_START_LEN);
        assert_eq!(&whole[..24], b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        // Our SETTINGS read back as a server would: one setting, push off.
        let mut r = FrameReader::default();
        assert_eq!(
            events(&mut r, &whole[24..]),
            [
                "Start(Header { len: 6, kind: 4, flags: 0, stream: 0 })",
                "payload 6",
                "End"
            ]
        );
        let mut pieces = Vec::new();
        let mut chunk = [0u8; 7];
        while pieces.len() < CLIENT_START_LEN {
            let n = client_start(pieces.len(), &mut chunk);
            pieces.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(pieces, whole);
    }

    #[test]
    fn control_frames_are_written_from_any_offset() {
        let mut ping = [0u8; 17];
        assert_eq!(control(PING, ACK, b"12345678", 0, &mut ping), 17);
        assert_eq!(ping, frame(PING, ACK, 0, b"12345678")[..]);
        let mut tail = [0u8; 64];
        assert_eq!(control(PING, ACK, b"12345678", 10, &mut tail), 7);
        assert_eq!(&tail[..7], b"2345678");
        let mut ack = [0u8; 9];
        assert_eq!(control(SETTINGS, ACK, &[], 0, &mut ack), 9);
        assert_eq!(ack, [0, 0, 0, 4, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn frames_are_read_in_any_pieces_and_other_streams_are_counted_not_kept() {
        let mut stream = frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]);
        stream.extend(frame(WINDOW_UPDATE, 0, 0, &[0, 0xff, 0, 0]));
        stream.extend(frame(DATA, 0, 5, &[7; 16_384]));
        stream.extend(frame(SETTINGS, ACK, 0, &[]));
        let starts = [
            "Start(Header { len: 6, kind: 4, flags: 0, stream: 0 })",
            "Start(Header { len: 4, kind: 8, flags: 0, stream: 0 })",
            "Start(Header { len: 16384, kind: 0, flags: 0, stream: 5 })",
            "Start(Header { len: 0, kind: 4, flags: 1, stream: 0 })",
        ];
        for split in (0..stream.len()).step_by(7).chain([9, 15, 16, 28]) {
            let mut r = FrameReader::default();
            let mut seen = events(&mut r, &stream[..split]);
            seen.extend(events(&mut r, &stream[split..]));
            let got: Vec<&str> = seen
                .iter()
                .filter(|e| e.starts_with("Start"))
                .map(String::as_str)
                .collect();
            assert_eq!(got, starts, "{split}");
            assert_eq!(seen.iter().filter(|e| *e == "End").count(), 4, "{split}");
            let payload: usize = seen
                .iter()
                .filter_map(|e| e.strip_prefix("payload "))
                .map(|n| n.parse::<usize>().unwrap())
                .sum();
            assert_eq!(payload, 6 + 4 + 16_384, "{split}");
        }
        // The reader's whole state, whatever the frame.
        assert_eq!(std::mem::size_of::<FrameReader>(), 12);
    }

    #[test]
    fn what_no_server_may_send_is_an_error_not_an_allocation() {
        let error = |bytes: &[u8]| {
            let mut r = FrameReader::default();
            events(&mut r, bytes).pop().unwrap()
        };
        // 16385 bytes claimed: refused at the header, nothing read after it.
        assert_eq!(error(&[0, 0x40, 0x01, 0, 0, 0, 0, 0, 1]), "Error(TooLong)");
        assert_eq!(
            error(&[0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1]),
            "Error(TooLong)"
        );
        assert_eq!(error(&frame(PING, 0, 0, b"1234567")), "Error(Length(6))");
        assert_eq!(error(&frame(SETTINGS, 0, 0, b"12345")), "Error(Length(4))");
        assert_eq!(
            error(&frame(SETTINGS, ACK, 0, b"123456")),
            "Error(Length(4))"
        );
        assert_eq!(error(&frame(GOAWAY, 0, 0, b"1234")), "Error(Length(7))");
        assert_eq!(error(&frame(WINDOW_UPDATE, 0, 3, b"1")), "Error(Length(8))");
        assert_eq!(error(&frame(PING, 0, 1, b"12345678")), "Error(Stream(6))");
        assert_eq!(error(b"HTTP/1.1 400 Bad Request\r\n"), "Error(Http1)");
        // Not first: the same bytes are a frame's header (too long, here).
        let mut r = FrameReader::default();
        events(&mut r, &frame(SETTINGS, 0, 0, &[]));
        assert_eq!(
            events(&mut r, b"HTTP/1.1 4").pop().unwrap(),
            "Error(TooLong)"
        );
        // The reserved bit of the stream is not the stream's.
        let mut r = FrameReader::default();
        assert_eq!(
            events(&mut r, &frame(SETTINGS, ACK, 0x8000_0000, &[]))[0],
            "Start(Header { len: 0, kind: 4, flags: 1, stream: 0 })"
        );
    }

    #[test]
    fn the_server_side_acks_settings_and_pings_and_refuses_a_bad_preface() {
        let mut client = [0u8; CLIENT_START_LEN];
        client_start(0, &mut client);
        let mut bytes = client.to_vec();
        bytes.extend(frame(PING, 0, 0, b"12345678"));
        bytes.extend(frame(DATA, 0, 1, &[0; 100]));
        bytes.extend(frame(SETTINGS, ACK, 0, &[]));
        let mut want = frame(SETTINGS, ACK, 0, &[]);
        want.extend(frame(PING, ACK, 0, b"12345678"));
        for split in 0..bytes.len() {
            let mut r = ServerReader::default();
            let mut out = Vec::new();
            r.on_bytes(&bytes[..split], &mut out).unwrap();
            r.on_bytes(&bytes[split..], &mut out).unwrap();
            assert_eq!(out, want, "{split}");
        }
        let mut r = ServerReader::default();
        assert_eq!(
            r.on_bytes(b"GET / HTTP/1.1\r\n", &mut Vec::new()),
            Err(ClientError::Preface)
        );
        let refusal = goaway(ENHANCE_YOUR_CALM, b"full");
        let mut r = FrameReader::default();
        assert_eq!(
            events(&mut r, &refusal),
            [
                "Start(Header { len: 12, kind: 7, flags: 0, stream: 0 })",
                "payload 12",
                "End"
            ]
        );
        assert_eq!(&refusal[9..17], &[0, 0, 0, 0, 0, 0, 0, 0xb]);
    }

    #[test]
    fn goaway_and_alpn_say_what_happened_in_words() {
        let goaway = H2Event::GoAway {
            code: 0xb,
            last_stream: 0,
            debug: 3,
        };
        assert_eq!(
            goaway.label(),
            "GOAWAY ENHANCE_YOUR_CALM (last stream 0, 3 bytes of debug data)"
        );
        let unknown = H2Event::GoAway {
            code: 0x77,
            last_stream: 1,
            debug: 0,
        };
        assert!(unknown.label().starts_with("GOAWAY error code 0x77 "));
        assert_eq!(Alpn::of(Some(b"h2")), None);
        assert_eq!(Alpn::of(Some(b"http/1.1")), Some(Alpn::Http11));
        assert_eq!(Alpn::of(None), Some(Alpn::Nothing));
        assert_eq!(
            H2Event::Alpn(Alpn::Http11).label(),
            "ALPN: the server chose http/1.1, not h2"
        );
    }
}
