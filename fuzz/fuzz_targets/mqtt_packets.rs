//! MQTT from a broker: control packets (`mqtt::PacketReader`) on any bytes, in any pieces,
//! and the CONNECT a client writes (`mqtt::Connect`), read back by the same reader.
//!
//! Properties, beyond never panicking and never allocating with a packet's length:
//! - what the bytes say does not depend on how they were split: read whole, a byte at a
//!   time, and in two pieces at any cut, the reader gives the same packets (types, flags,
//!   body lengths, ends, errors) in the same order;
//! - a body is never longer than its packet said nor than `MAX_PACKET`, the bodies never
//!   exceed the bytes given, and the reader stops at an error;
//! - a CONNECT made for any attempt, written in pieces of any size, is one packet of type 1
//!   whose body is the length its header says, holding the attempt's client id.
//!
//! The first byte picks what to check; the second, where the two-piece cut falls (or, for a
//! CONNECT, the piece size); the rest are the packets (or the attempt's number and fields).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpgoon::engine::mqtt::{
    self, Connect, ConnectFields, Event, MAX_PACKET, PacketReader, Version,
};

/// The packets `pieces` make, bodies joined: `S kind flags len`, `B n`, `E`, `X err`.
fn packets(pieces: &[&[u8]]) -> Vec<String> {
    let mut reader = PacketReader::default();
    let mut out: Vec<String> = Vec::new();
    let mut body = 0usize;
    let mut declared = 0u32;
    let mut this_body = 0u32;
    let given: usize = pieces.iter().map(|p| p.len()).sum();
    for piece in pieces {
        let mut bytes = *piece;
        loop {
            let (event, used) = reader.next(bytes);
            assert!(used <= bytes.len());
            bytes = &bytes[used..];
            let Some(event) = event else { break };
            match event {
                Event::Body(b) => {
                    assert!(!b.is_empty());
                    body += b.len();
                    this_body += b.len() as u32;
                    assert!(this_body <= declared);
                    match out.last_mut() {
                        Some(last) if last.starts_with('B') => {
                            let n: usize = last[2..].parse().unwrap();
                            *last = format!("B {}", n + b.len());
                        }
                        _ => out.push(format!("B {}", b.len())),
                    }
                }
                Event::Start { kind, flags, len } => {
                    assert!(len <= MAX_PACKET);
                    assert!((1..=15).contains(&kind) && flags < 16);
                    (declared, this_body) = (len, 0);
                    out.push(format!("S {kind} {flags} {len}"));
                }
                Event::End => {
                    assert_eq!(this_body, declared);
                    out.push("E".to_string());
                }
                Event::Error(e) => {
                    out.push(format!("X {e:?}"));
                    assert!(body <= given);
                    return out;
                }
            }
        }
    }
    assert!(body <= given);
    out
}

fn connect(seq: u64, flags: u8, piece: usize, text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    let mut cut = text.len().min(mqtt::MAX_PREFIX);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let (prefix, rest) = text.split_at(cut);
    let fields = ConnectFields {
        version: if flags & 1 == 0 {
            Version::V311
        } else {
            Version::V5
        },
        prefix,
        keep_alive: u16::from(flags),
        user: (flags & 2 != 0).then_some(rest),
        password: (flags & 4 != 0).then_some(rest.as_bytes()),
    };
    let (template, len_at, id_at) = mqtt::connect_template(&fields);
    let packet = Connect {
        template: &template,
        len_at,
        id_at,
        seq,
    };
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; piece.max(1)];
    while bytes.len() < packet.len() {
        let n = packet.fill(bytes.len(), &mut chunk);
        assert!(n > 0);
        bytes.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(packet.fill(bytes.len(), &mut chunk), 0);
    let read = packets(&[&bytes]);
    assert_eq!(read.len(), 3, "{read:?}");
    assert!(read[0].starts_with("S 1 0 "), "{read:?}");
    assert_eq!(read[2], "E");
    let id = format!("{prefix}{seq}");
    let at = bytes.len() - template.len() - seq.to_string().len() + len_at;
    let n = usize::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]));
    assert_eq!(&bytes[at + 2..at + 2 + n], id.as_bytes());
}

fuzz_target!(|data: &[u8]| {
    let [pick, cut, bytes @ ..] = data else {
        return;
    };
    if pick % 4 == 3 {
        let Some((seq, rest)) = bytes.split_first_chunk::<8>() else {
            return;
        };
        connect(
            u64::from_le_bytes(*seq),
            *pick >> 2,
            usize::from(*cut),
            rest,
        );
        return;
    }
    let at = usize::from(*cut).min(bytes.len());
    let (a, b) = bytes.split_at(at);
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    let whole = packets(&[bytes]);
    assert_eq!(packets(&bytewise), whole, "{bytes:?}");
    assert_eq!(packets(&[a, b]), whole, "{bytes:?} cut at {at}");
});
