//! The built-in server's side of WebSocket (`tcpgoon server --ws`): enough of RFC 6455 to
//! be a target for `--probe ws`, and to misbehave as the client's error paths need. Sans-I/O:
//! bytes read in, bytes to write appended to the connection's echo buffer, and whether the
//! connection is to be closed once they are written.
//!
//! ```text
//!  Head ──GET with a Sec-WebSocket-Key──▶ 101 (its accept, or a wrong one with
//!    │                                     --ws-wrong-accept) ──▶ Open
//!    │                                     └─ past --ws-close-past K: 101, then a
//!    │                                        close frame 1013, then closed
//!    └──anything else, or a head over 16 KiB──▶ 400, then closed
//!  Open: ping ──▶ pong with its payload; text, binary, continuation ──▶ the same frame
//!        back, unmasked; close ──▶ close with its payload, then closed;
//!        a frame no client may send ──▶ close 1002, then closed
//! ```
//! Messages are echoed frame by frame as their bytes arrive, so nothing grows with a
//! message's length; a control frame's payload (at most 125 bytes) is kept until it ends.

use crate::engine::ws::{self, BINARY, CLOSE, CONTINUATION, MAX_HEAD, PING, PONG, TEXT};

/// What a connection is to do once its bytes to write are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Continue,
    Close,
}

/// Where the frame being read is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Head,
    /// The first byte of a frame header is next.
    First,
    Second,
    /// `need` more bytes of the extended length.
    Length,
    /// `need` more bytes of the mask.
    Mask,
    Payload,
    /// Closed, or closing: what arrives is discarded.
    Done,
}

/// One connection's WebSocket, server side.
#[derive(Debug, Clone)]
pub struct WsServe {
    stage: Stage,
    head: Vec<u8>,
    wrong_accept: bool,
    /// Past `--ws-close-past`: closed with 1013 once upgraded.
    turned_away: bool,
    first: u8,
    need: u8,
    len: u64,
    mask: [u8; 4],
    /// Payload bytes of the frame read so far.
    at: u64,
    control: Vec<u8>,
}

impl WsServe {
    pub fn new(wrong_accept: bool, turned_away: bool) -> WsServe {
        WsServe {
            stage: Stage::Head,
            head: Vec::new(),
            wrong_accept,
            turned_away,
            first: 0,
            need: 0,
            len: 0,
            mask: [0; 4],
            at: 0,
            control: Vec::new(),
        }
    }

    /// Past `--ws-close-past`: it is closed once upgraded.
    pub fn turned_away(&self) -> bool {
        self.turned_away
    }

    /// Takes `bytes` the client sent; appends what to write back to `out`.
    pub fn on_bytes(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) -> After {
        if self.stage == Stage::Head {
            let room = usize::from(MAX_HEAD) - self.head.len();
            let take = bytes.len().min(room);
            self.head.extend_from_slice(&bytes[..take]);
            let Some(end) = find(&self.head, b"\r\n\r\n") else {
                if self.head.len() == usize::from(MAX_HEAD) {
                    return self.bad_request(out);
                }
                return After::Continue;
            };
            // What came after the head is the first frames.
            let past = self.head.len() - (end + 4);
            bytes = &bytes[take - past..];
            let Some(key) = header(&self.head[..end], b"sec-websocket-key") else {
                return self.bad_request(out);
            };
            let mut accept = ws::accept(key);
            if self.wrong_accept {
                accept = ws::accept(b"not the key the client sent");
            }
            out.extend_from_slice(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Accept: ",
            );
            out.extend_from_slice(&accept);
            out.extend_from_slice(b"\r\n\r\n");
            self.head = Vec::new();
            if self.turned_away {
                return self.close_with(out, &[0x03, 0xf5]);
            }
            self.stage = Stage::First;
        }
        while !bytes.is_empty() && self.stage != Stage::Done {
            let used = match self.step(bytes, out) {
                Ok(used) => used,
                Err(after) => return after,
            };
            bytes = &bytes[used..];
        }
        if self.stage == Stage::Done {
            After::Close
        } else {
            After::Continue
        }
    }

    fn bad_request(&mut self, out: &mut Vec<u8>) -> After {
        self.stage = Stage::Done;
        self.head = Vec::new();
        out.extend_from_slice(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        After::Close
    }

    /// A close frame with `payload` (a code and maybe a reason), then the end.
    fn close_with(&mut self, out: &mut Vec<u8>, payload: &[u8]) -> After {
        frame_header(out, 0x80 | CLOSE, payload.len() as u64);
        out.extend_from_slice(payload);
        self.stage = Stage::Done;
        After::Close
    }

    /// Reads from `bytes` what the stage it is in takes; how many. `Err`: the connection
    /// ends here.
    fn step(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<usize, After> {
        let byte = bytes[0];
        match self.stage {
            Stage::First => {
                self.first = byte;
                self.stage = Stage::Second;
            }
            Stage::Second => {
                let opcode = self.first & 0x0f;
                let control = opcode >= CLOSE;
                let known = matches!(opcode, CONTINUATION | TEXT | BINARY | CLOSE | PING | PONG);
                // A client masks every frame; no extension is agreed; a control frame is
                // whole and short.
                if byte & 0x80 == 0
                    || self.first & 0x70 != 0
                    || !known
                    || (control && (self.first & 0x80 == 0 || byte & 0x7f > 125))
                {
                    return Err(self.close_with(out, &[0x03, 0xea]));
                }
                self.len = u64::from(byte & 0x7f);
                (self.stage, self.need) = match self.len {
                    126 => (Stage::Length, 2),
                    127 => (Stage::Length, 8),
                    _ => (Stage::Mask, 4),
                };
                if self.stage == Stage::Length {
                    self.len = 0;
                }
            }
            Stage::Length => {
                self.len = self.len << 8 | u64::from(byte);
                self.need -= 1;
                if self.need == 0 {
                    if self.len >> 63 != 0 {
                        return Err(self.close_with(out, &[0x03, 0xea]));
                    }
                    (self.stage, self.need) = (Stage::Mask, 4);
                }
            }
            Stage::Mask => {
                self.mask[usize::from(4 - self.need)] = byte;
                self.need -= 1;
                if self.need == 0 {
                    self.begin(out);
                }
            }
            Stage::Payload => {
                let n = usize::try_from(self.len - self.at)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                for &b in &bytes[..n] {
                    let plain = b ^ self.mask[(self.at % 4) as usize];
                    self.at += 1;
                    if self.first & 0x0f >= CLOSE {
                        self.control.push(plain);
                    } else {
                        out.push(plain);
                    }
                }
                if self.at == self.len {
                    return self.end(out).map(|()| n);
                }
                return Ok(n);
            }
            Stage::Head | Stage::Done => {}
        }
        if self.stage == Stage::Payload && self.len == 0 {
            self.end(out)?;
        }
        Ok(1)
    }

    /// The header is whole: a data frame's header is echoed at once, unmasked.
    fn begin(&mut self, out: &mut Vec<u8>) {
        self.stage = Stage::Payload;
        self.at = 0;
        self.control.clear();
        if self.first & 0x0f < CLOSE {
            frame_header(out, self.first, self.len);
        }
    }

    /// The frame's payload is whole: a ping is answered, a close returned.
    fn end(&mut self, out: &mut Vec<u8>) -> Result<(), After> {
        self.stage = Stage::First;
        match self.first & 0x0f {
            PING => {
                frame_header(out, 0x80 | PONG, self.control.len() as u64);
                out.extend_from_slice(&self.control);
            }
            CLOSE => {
                let payload = std::mem::take(&mut self.control);
                return Err(self.close_with(out, &payload));
            }
            _ => {}
        }
        Ok(())
    }
}

/// A server frame's header (unmasked) with `first` (FIN, opcode) and a payload of `len`.
fn frame_header(out: &mut Vec<u8>, first: u8, len: u64) {
    out.push(first);
    match len {
        0..=125 => out.push(len as u8),
        126..=0xffff => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The value of header `name` (lowercase) in `head`, trimmed; `None` when it is missing.
fn header<'a>(head: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    head.split(|&b| b == b'\n').skip(1).find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        line[..colon]
            .eq_ignore_ascii_case(name)
            .then(|| line[colon + 1..].trim_ascii())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ws::{Event, FrameReader, OutFrame};

    const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let frame = OutFrame {
            opcode,
            mask: [1, 2, 3, 4],
            payload,
        };
        let mut bytes = vec![0; frame.len()];
        frame.fill(0, &mut bytes);
        bytes
    }

    /// The frames a client reads in `bytes`: opcode and payload.
    fn frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut reader = FrameReader::default();
        let mut seen = Vec::new();
        loop {
            let (event, used) = reader.next(bytes);
            bytes = &bytes[used..];
            match event {
                Some(Event::Start { opcode, .. }) => seen.push((opcode, Vec::new())),
                Some(Event::Payload(p)) => seen.last_mut().unwrap().1.extend_from_slice(p),
                Some(Event::End) => {}
                Some(Event::Error(e)) => panic!("{e:?}"),
                None => return seen,
            }
        }
    }

    #[test]
    fn the_upgrade_carries_the_rfc_s_accept_and_frames_come_back_in_any_pieces() {
        let mut input = REQUEST.to_vec();
        input.extend(masked(PING, b"p1"));
        input.extend(masked(TEXT, b"hello"));
        input.extend(masked(BINARY, &[7; 300]));
        input.extend(masked(CLOSE, &[0x03, 0xe8]));
        for piece in [1, 2, 7, 4096] {
            let mut serve = WsServe::new(false, false);
            let mut out = Vec::new();
            let mut after = After::Continue;
            for chunk in input.chunks(piece) {
                after = serve.on_bytes(chunk, &mut out);
            }
            assert_eq!(after, After::Close);
            let head_end = find(&out, b"\r\n\r\n").unwrap() + 4;
            let head = std::str::from_utf8(&out[..head_end]).unwrap();
            // RFC 6455 §1.3's example key and accept.
            assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
            assert!(head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
            assert_eq!(
                frames(&out[head_end..]),
                [
                    (PONG, b"p1".to_vec()),
                    (TEXT, b"hello".to_vec()),
                    (BINARY, vec![7; 300]),
                    (CLOSE, vec![0x03, 0xe8]),
                ],
                "{piece}"
            );
        }
    }

    #[test]
    fn the_faults_a_wrong_accept_a_close_past_k_a_bad_request_a_bad_frame() {
        let mut out = Vec::new();
        WsServe::new(true, false).on_bytes(REQUEST, &mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 101 ") && !text.contains("s3pPLMBiTxaQ9kYGzzhZRbK"));

        let mut out = Vec::new();
        let after = WsServe::new(false, true).on_bytes(REQUEST, &mut out);
        assert_eq!(after, After::Close);
        assert!(out.ends_with(b"\x88\x02\x03\xf5"), "1013: {out:?}");

        let mut out = Vec::new();
        let after = WsServe::new(false, false).on_bytes(b"GET / HTTP/1.1\r\n\r\n", &mut out);
        assert_eq!(after, After::Close);
        assert!(out.starts_with(b"HTTP/1.1 400 "));

        let mut serve = WsServe::new(false, false);
        let mut out = Vec::new();
        serve.on_bytes(REQUEST, &mut out);
        out.clear();
        // Unmasked: a client must mask.
        assert_eq!(serve.on_bytes(b"\x81\x02hi", &mut out), After::Close);
        assert_eq!(out, b"\x88\x02\x03\xea");
        // A head that never ends is bounded.
        let mut serve = WsServe::new(false, false);
        let mut out = Vec::new();
        let mut after = After::Continue;
        for _ in 0..20 {
            after = serve.on_bytes(&[b'x'; 1024], &mut out);
        }
        assert_eq!(after, After::Close);
        assert!(out.starts_with(b"HTTP/1.1 400 "));
    }
}
