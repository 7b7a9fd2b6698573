//! MQTT 3.1.1 and 5.0, the client's side, sans-I/O: the parts a session is made of, each
//! pure, bytes in and bytes or events out, with no socket and no clock.
//!
//! - [`Connect`]: the CONNECT packet (3.1.1 §3.1, 5.0 §3.1), clean session, its client id
//!   the run's prefix and the attempt's number, so that no two connections share one (a
//!   broker disconnects the older of two connections with one id). Made from a template
//!   the command line builds once ([`connect_template`]) and written from any offset into a
//!   caller's buffer, so the per-attempt packet is made again rather than kept.
//! - [`PacketReader`]: control packets (§2) read incrementally into [`Event`]s, in 8 bytes
//!   of state whatever the packet: the remaining length is a varint of at most 4 bytes,
//!   and a packet whose body is over [`MAX_PACKET`] bytes is a [`MqttError`], never an
//!   allocation of what it claims; a body is counted down, never kept.
//! - [`connack_name`], [`reason_name`]: the words the specifications give a CONNACK's
//!   return code (3.1.1) and a reason code (5.0).
//!
//! ```text
//!  CONNECT ──▶ CONNACK 0 ──▶ open: PINGREQ ⇄ PINGRESP, PUBLISH discarded ──DISCONNECT──▶ closed (reason)
//!                 ├── CONNACK ≠ 0 ──▶ refused (its code, in words)
//!                 └── another packet first, or bytes that are not MQTT ──▶ protocol error
//! ```

/// The largest packet body read: past it, a packet is a protocol error. CONNACK, PINGRESP
/// and DISCONNECT are a few bytes; a broker's PUBLISH to a client that subscribed to
/// nothing should not come at all, and 64 KiB bounds what one may cost to read past.
pub const MAX_PACKET: u32 = 64 * 1024;

/// Control packet types (§2.2.1, 5.0 §2.1.2).
pub const CONNECT: u8 = 1;
pub const CONNACK: u8 = 2;
pub const PUBLISH: u8 = 3;
pub const PUBREL: u8 = 6;
pub const SUBSCRIBE: u8 = 8;
pub const UNSUBSCRIBE: u8 = 10;
pub const PINGREQ: u8 = 12;
pub const PINGRESP: u8 = 13;
pub const DISCONNECT: u8 = 14;
/// AUTH in 5.0; reserved in 3.1.1.
pub const AUTH: u8 = 15;

/// The PINGREQ packet, whole.
pub const PINGREQ_PACKET: [u8; 2] = [PINGREQ << 4, 0];

/// The protocol version `--mqtt-version` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V311,
    V5,
}

impl Version {
    /// The CONNECT's protocol level byte.
    pub fn level(self) -> u8 {
        match self {
            Version::V311 => 4,
            Version::V5 => 5,
        }
    }
}

/// The longest `--mqtt-client-id` prefix; `--mqtt-user` and `--mqtt-password` are at most
/// [`MAX_CREDENTIAL`] bytes each, so that a CONNECT is always under 64 KiB.
pub const MAX_PREFIX: usize = 64;
pub const MAX_CREDENTIAL: usize = 4096;

/// The client id prefix when `--mqtt-client-id` gives none: the process's id, so that two
/// runs at one broker, one machine's shards, do not take each other's ids.
pub fn default_prefix() -> String {
    format!("tcpgoon-{}-", std::process::id())
}

/// What a CONNECT says besides its client id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectFields<'a> {
    pub version: Version,
    pub prefix: &'a str,
    pub keep_alive: u16,
    pub user: Option<&'a str>,
    pub password: Option<&'a [u8]>,
}

/// The CONNECT's variable header and payload with the client id's prefix alone, and where
/// the attempt's part goes: the id's 2-byte length at `len_at` (written with the prefix's
/// length), its number at `id_at`. No fixed header: its remaining length depends on the
/// number's.
pub fn connect_template(fields: &ConnectFields) -> (Vec<u8>, usize, usize) {
    let mut out = vec![0, 4, b'M', b'Q', b'T', b'T', fields.version.level()];
    // Clean session (3.1.1) / clean start (5.0), and the credentials given.
    let mut flags = 0x02;
    if fields.user.is_some() {
        flags |= 0x80;
    }
    if fields.password.is_some() {
        flags |= 0x40;
    }
    out.push(flags);
    out.extend_from_slice(&fields.keep_alive.to_be_bytes());
    if fields.version == Version::V5 {
        // No properties.
        out.push(0);
    }
    let len_at = out.len();
    push_string(&mut out, fields.prefix.as_bytes());
    let id_at = out.len();
    if let Some(user) = fields.user {
        push_string(&mut out, user.as_bytes());
    }
    if let Some(password) = fields.password {
        push_string(&mut out, password);
    }
    (out, len_at, id_at)
}

fn push_string(out: &mut Vec<u8>, bytes: &[u8]) {
    // The command line bounds every part far below 64 KiB.
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A remaining length as its varint (§2.2.3): the bytes, and how many.
pub fn varint(mut n: u32) -> ([u8; 4], usize) {
    let mut out = [0u8; 4];
    let mut used = 0;
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        out[used] = byte;
        used += 1;
        if n == 0 || used == 4 {
            return (out, used);
        }
    }
}

/// `seq` in decimal: its digits, and where they start.
fn digits(seq: u64) -> ([u8; 20], usize) {
    let mut out = [0u8; 20];
    let mut at = out.len();
    let mut n = seq;
    loop {
        at -= 1;
        out[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return (out, at);
        }
    }
}

/// One attempt's CONNECT, made from the template.
#[derive(Debug, Clone, Copy)]
pub struct Connect<'a> {
    pub template: &'a [u8],
    pub len_at: usize,
    pub id_at: usize,
    pub seq: u64,
}

impl Connect<'_> {
    fn parts(&self, fixed: &mut [u8; 5], id_len: &mut [u8; 2], number: &mut [u8; 20]) -> usize {
        let (raw, at) = digits(self.seq);
        let n = raw.len() - at;
        number[..n].copy_from_slice(&raw[at..]);
        let rem = self.template.len() + n;
        let (len, used) = varint(rem as u32);
        fixed[0] = CONNECT << 4;
        fixed[1..1 + used].copy_from_slice(&len[..used]);
        let prefix = self.id_at - self.len_at - 2;
        *id_len = ((prefix + n) as u16).to_be_bytes();
        n
    }

    /// The packet's length in bytes.
    pub fn len(&self) -> usize {
        let n = 20 - digits(self.seq).1;
        let rem = self.template.len() + n;
        1 + varint(rem as u32).1 + rem
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the packet's bytes from `from` on into `out`, as many as fit; how many.
    pub fn fill(&self, from: usize, out: &mut [u8]) -> usize {
        let (mut fixed, mut id_len, mut number) = ([0u8; 5], [0u8; 2], [0u8; 20]);
        let n = self.parts(&mut fixed, &mut id_len, &mut number);
        let fixed_len = 1 + varint((self.template.len() + n) as u32).1;
        let parts: [&[u8]; 6] = [
            &fixed[..fixed_len],
            &self.template[..self.len_at],
            &id_len,
            &self.template[self.len_at + 2..self.id_at],
            &number[..n],
            &self.template[self.id_at..],
        ];
        let mut skip = from;
        let mut written = 0;
        for part in parts {
            if skip >= part.len() {
                skip -= part.len();
                continue;
            }
            let take = (part.len() - skip).min(out.len() - written);
            out[written..written + take].copy_from_slice(&part[skip..skip + take]);
            written += take;
            skip = 0;
            if written == out.len() {
                break;
            }
        }
        written
    }
}

/// What no server may send, and so ends the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttError {
    /// A remaining length whose fourth byte still continues.
    Length,
    /// A packet whose body is over [`MAX_PACKET`] bytes.
    TooLarge,
    /// Packet type 0, or fixed header flags the packet type does not allow.
    Reserved,
}

impl MqttError {
    pub fn label(self) -> String {
        match self {
            MqttError::Length => "a packet with a malformed remaining length".to_string(),
            MqttError::TooLarge => format!("a packet over {} KiB", MAX_PACKET / 1024),
            MqttError::Reserved => "a packet with a reserved type or flags".to_string(),
        }
    }
}

/// What a packet's bytes say, in order: its header, its body in pieces, its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Its type (the first byte's high nibble), flags (the low one) and body length.
    Start {
        kind: u8,
        flags: u8,
        len: u32,
    },
    Body(&'a [u8]),
    End,
    Error(MqttError),
}

/// Packets read incrementally. Its state: where in the header it is, the first byte, and
/// the length (accumulating, then counting down the body).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacketReader {
    /// 0: the first byte is next; 1..=4: that many length bytes read; 5: in the body.
    stage: u8,
    first: u8,
    /// The length as it accumulates, then the body's bytes left (two halves: in every
    /// held connection, no 4-byte alignment).
    left: [u16; 2],
}

const IN_BODY: u8 = 5;

impl PacketReader {
    /// The next event in `bytes`, and how many bytes it took; `None` when `bytes` ended
    /// before one was whole. After an [`Event::Error`] the stream is no longer framed: stop.
    pub fn next<'a>(&mut self, bytes: &'a [u8]) -> (Option<Event<'a>>, usize) {
        let mut left = u32::from(self.left[0]) << 16 | u32::from(self.left[1]);
        let out = self.step(&mut left, bytes);
        self.left = [(left >> 16) as u16, left as u16];
        out
    }

    fn step<'a>(&mut self, left: &mut u32, bytes: &'a [u8]) -> (Option<Event<'a>>, usize) {
        let mut used = 0;
        while used < bytes.len() || (self.stage == IN_BODY && *left == 0) {
            if self.stage == IN_BODY {
                if *left == 0 {
                    self.stage = 0;
                    return (Some(Event::End), used);
                }
                let n = (bytes.len() - used).min(*left as usize);
                *left -= n as u32;
                return (Some(Event::Body(&bytes[used..used + n])), used + n);
            }
            let byte = bytes[used];
            used += 1;
            if self.stage == 0 {
                self.first = byte;
                *left = 0;
                self.stage = 1;
                continue;
            }
            // Length byte `stage` (1..=4), least significant 7 bits first.
            *left |= u32::from(byte & 0x7f) << (7 * u32::from(self.stage - 1));
            if byte & 0x80 != 0 {
                if self.stage == 4 {
                    return (Some(Event::Error(MqttError::Length)), used);
                }
                self.stage += 1;
                continue;
            }
            return (Some(self.start(*left)), used);
        }
        (None, used)
    }

    /// The header is whole: check it, and go on to its body.
    fn start(&mut self, len: u32) -> Event<'static> {
        let (kind, flags) = (self.first >> 4, self.first & 0x0f);
        let allowed = match kind {
            0 => false,
            // QoS 3 is malformed.
            PUBLISH => flags & 0x06 != 0x06,
            PUBREL | SUBSCRIBE | UNSUBSCRIBE => flags == 0x02,
            _ => flags == 0,
        };
        if !allowed {
            return Event::Error(MqttError::Reserved);
        }
        if len > MAX_PACKET {
            return Event::Error(MqttError::TooLarge);
        }
        self.stage = IN_BODY;
        Event::Start { kind, flags, len }
    }
}

/// The words MQTT 3.1.1 (§3.2.2.3) gives a CONNACK's return code.
pub fn connack_name(code: u8) -> &'static str {
    match code {
        0 => "connection accepted",
        1 => "unacceptable protocol version",
        2 => "identifier rejected",
        3 => "server unavailable",
        4 => "bad user name or password",
        5 => "not authorized",
        _ => "a return code 3.1.1 does not define",
    }
}

/// The words MQTT 5.0 (§2.4) gives a reason code of CONNACK and DISCONNECT.
pub fn reason_name(code: u8) -> &'static str {
    match code {
        0x00 => "success",
        0x04 => "disconnect with will message",
        0x80 => "unspecified error",
        0x81 => "malformed packet",
        0x82 => "protocol error",
        0x83 => "implementation specific error",
        0x84 => "unsupported protocol version",
        0x85 => "client identifier not valid",
        0x86 => "bad user name or password",
        0x87 => "not authorized",
        0x88 => "server unavailable",
        0x89 => "server busy",
        0x8A => "banned",
        0x8B => "server shutting down",
        0x8C => "bad authentication method",
        0x8D => "keep alive timeout",
        0x8E => "session taken over",
        0x8F => "topic filter invalid",
        0x90 => "topic name invalid",
        0x93 => "receive maximum exceeded",
        0x94 => "topic alias invalid",
        0x95 => "packet too large",
        0x96 => "message rate too high",
        0x97 => "quota exceeded",
        0x98 => "administrative action",
        0x99 => "payload format invalid",
        0x9A => "retain not supported",
        0x9B => "QoS not supported",
        0x9C => "use another server",
        0x9D => "server moved",
        0x9E => "shared subscriptions not supported",
        0x9F => "connection rate exceeded",
        0xA0 => "maximum connect time",
        0xA1 => "subscription identifiers not supported",
        0xA2 => "wildcard subscriptions not supported",
        _ => "a reason code 5.0 does not define",
    }
}

/// What the broker said that the reports count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttEvent {
    /// A CONNACK that refused, with its return code (3.1.1) or reason code (5.0).
    Refused { v5: bool, code: u8 },
    /// A DISCONNECT from the broker, with its reason code (5.0; 0 when it gave none).
    Disconnected(u8),
    /// A CONNACK too short to hold its code.
    ShortConnack,
    /// A packet no broker sends a client that asked nothing: its type.
    Unexpected(u8),
    /// Bytes that are not MQTT packets.
    Packet(MqttError),
}

impl MqttEvent {
    pub fn label(self) -> String {
        match self {
            MqttEvent::Refused { v5: false, code } => {
                format!("CONNACK refused: {} ({code})", connack_name(code))
            }
            MqttEvent::Refused { v5: true, code } => {
                format!("CONNACK refused: {} (0x{code:02x})", reason_name(code))
            }
            // Code 0 is "success" in a CONNACK, "normal disconnection" in a DISCONNECT.
            MqttEvent::Disconnected(0) => {
                "DISCONNECT from the broker: normal disconnection (0x00)".to_string()
            }
            MqttEvent::Disconnected(code) => {
                format!(
                    "DISCONNECT from the broker: {} (0x{code:02x})",
                    reason_name(code)
                )
            }
            MqttEvent::ShortConnack => "a CONNACK too short to hold its code".to_string(),
            MqttEvent::Unexpected(kind) => {
                format!("a packet of type {kind} no broker sends this client")
            }
            MqttEvent::Packet(e) => e.label(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(version: Version) -> ConnectFields<'static> {
        ConnectFields {
            version,
            prefix: "tg-",
            keep_alive: 2,
            user: None,
            password: None,
        }
    }

    fn whole(connect: &Connect) -> Vec<u8> {
        let mut out = vec![0u8; connect.len()];
        assert_eq!(connect.fill(0, &mut out), connect.len());
        out
    }

    #[test]
    fn a_3_1_1_connect_is_the_spec_s_bytes_with_the_attempt_s_id() {
        let (template, len_at, id_at) = connect_template(&fields(Version::V311));
        let connect = Connect {
            template: &template,
            len_at,
            id_at,
            seq: 42,
        };
        assert_eq!(
            whole(&connect),
            b"\x10\x11\0\x04MQTT\x04\x02\0\x02\0\x05tg-42".to_vec()
        );
    }

    #[test]
    fn a_5_0_connect_has_no_properties_and_carries_credentials() {
        let mut f = fields(Version::V5);
        f.user = Some("u");
        f.password = Some(b"pw");
        let (template, len_at, id_at) = connect_template(&f);
        let connect = Connect {
            template: &template,
            len_at,
            id_at,
            seq: 0,
        };
        assert_eq!(
            whole(&connect),
            b"\x10\x18\0\x04MQTT\x05\xc2\0\x02\0\0\x04tg-0\0\x01u\0\x02pw".to_vec()
        );
    }

    #[test]
    fn a_connect_is_written_the_same_from_any_offset_and_a_long_one_has_a_long_length() {
        let password = vec![b'p'; 300];
        let mut f = fields(Version::V311);
        f.user = Some("user");
        f.password = Some(&password);
        let (template, len_at, id_at) = connect_template(&f);
        for seq in [0, 9, 10, u64::MAX] {
            let connect = Connect {
                template: &template,
                len_at,
                id_at,
                seq,
            };
            let all = whole(&connect);
            assert_eq!(&all[..3], [0x10, (all.len() - 3) as u8 | 0x80, 2]);
            for piece in [1, 3, 7, 64] {
                let mut pieces = Vec::new();
                let mut chunk = vec![0u8; piece];
                while pieces.len() < connect.len() {
                    let n = connect.fill(pieces.len(), &mut chunk);
                    assert!(n > 0);
                    pieces.extend_from_slice(&chunk[..n]);
                }
                assert_eq!(pieces, all, "{seq} {piece}");
            }
            // The id read back: its length and its digits.
            let at = 3 + len_at;
            let n = usize::from(u16::from_be_bytes([all[at], all[at + 1]]));
            assert_eq!(all[at + 2..at + 2 + n], *format!("tg-{seq}").as_bytes());
        }
    }

    #[test]
    fn varints_are_the_spec_s() {
        assert_eq!(varint(0), ([0, 0, 0, 0], 1));
        assert_eq!(varint(127), ([0x7f, 0, 0, 0], 1));
        assert_eq!(varint(128), ([0x80, 0x01, 0, 0], 2));
        assert_eq!(varint(16_383), ([0xff, 0x7f, 0, 0], 2));
        assert_eq!(varint(268_435_455), ([0xff, 0xff, 0xff, 0x7f], 4));
    }

    fn events(reader: &mut PacketReader, mut bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let (event, used) = reader.next(bytes);
            bytes = &bytes[used..];
            match event {
                Some(Event::Body(b)) => out.push(format!("body {}", b.len())),
                Some(e) => out.push(format!("{e:?}")),
                None => return out,
            }
            if matches!(event, Some(Event::Error(_))) {
                return out;
            }
        }
    }

    #[test]
    fn packets_are_read_in_any_pieces() {
        // CONNACK 0, PINGRESP, a PUBLISH of 200 bytes (a 2-byte length), DISCONNECT 0x8b.
        let mut stream = b"\x20\x02\0\0\xd0\x00\x30\xc8\x01".to_vec();
        stream.extend(std::iter::repeat_n(7u8, 200));
        stream.extend_from_slice(b"\xe0\x01\x8b");
        let heads = |seen: &[String]| -> Vec<String> {
            seen.iter()
                .filter(|e| !e.starts_with("body"))
                .cloned()
                .collect()
        };
        let expected = [
            "Start { kind: 2, flags: 0, len: 2 }",
            "End",
            "Start { kind: 13, flags: 0, len: 0 }",
            "End",
            "Start { kind: 3, flags: 0, len: 200 }",
            "End",
            "Start { kind: 14, flags: 0, len: 1 }",
            "End",
        ];
        assert_eq!(
            heads(&events(&mut PacketReader::default(), &stream)),
            expected
        );
        for split in 0..stream.len() {
            let mut r = PacketReader::default();
            let mut seen = events(&mut r, &stream[..split]);
            seen.extend(events(&mut r, &stream[split..]));
            assert_eq!(heads(&seen), expected, "{split}");
            let body: usize = seen
                .iter()
                .filter_map(|e| e.strip_prefix("body "))
                .map(|n| n.parse::<usize>().unwrap())
                .sum();
            assert_eq!(body, 2 + 200 + 1, "{split}");
        }
    }

    #[test]
    fn what_no_server_may_send_is_an_error_not_an_allocation() {
        let last = |bytes: &[u8]| {
            let mut r = PacketReader::default();
            events(&mut r, bytes).pop().unwrap()
        };
        // A fifth length byte.
        assert_eq!(last(b"\x30\xff\xff\xff\xff\x01"), "Error(Length)");
        // The largest length a varint holds is refused as it is read, not allocated.
        assert_eq!(last(b"\x30\xff\xff\xff\x7f"), "Error(TooLarge)");
        assert_eq!(last(b"\x30\x81\x80\x04"), "Error(TooLarge)");
        assert_eq!(
            last(b"\x30\x80\x80\x04"),
            "Start { kind: 3, flags: 0, len: 65536 }"
        );
        assert_eq!(last(b"\x00\x00"), "Error(Reserved)");
        assert_eq!(last(b"\xd1\x00"), "Error(Reserved)");
        assert_eq!(last(b"\x36\x00"), "Error(Reserved)");
        assert_eq!(last(b"\x60\x00"), "Error(Reserved)");
        let mut r = PacketReader::default();
        assert_eq!(
            events(&mut r, b"\x62\x00"),
            ["Start { kind: 6, flags: 2, len: 0 }", "End"]
        );
    }

    #[test]
    fn codes_are_named_in_words() {
        assert_eq!(
            MqttEvent::Refused { v5: false, code: 3 }.label(),
            "CONNACK refused: server unavailable (3)"
        );
        assert_eq!(
            MqttEvent::Refused {
                v5: true,
                code: 0x97
            }
            .label(),
            "CONNACK refused: quota exceeded (0x97)"
        );
        assert_eq!(
            MqttEvent::Disconnected(0x89).label(),
            "DISCONNECT from the broker: server busy (0x89)"
        );
        assert_eq!(
            MqttEvent::Disconnected(0).label(),
            "DISCONNECT from the broker: normal disconnection (0x00)"
        );
        assert_eq!(reason_name(0x9F), "connection rate exceeded");
        assert_eq!(reason_name(0x8A), "banned");
        assert_eq!(connack_name(4), "bad user name or password");
    }
}
