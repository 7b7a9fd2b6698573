//! HdrHistogram V2 encodings written by another process (a summary's `histogram`, read back
//! by merge and plot), checked before the hdrhistogram crate decodes them. Its decoder
//! trusts the encoding's header: a payload length of 4 GiB in 40 bytes is a zeroed buffer of
//! 4 GiB before a byte of it is read, and a deflated encoding inflates without bound. Here a
//! deflated encoding is inflated to at most [`V2_MAX_BYTES`], a payload must be there
//! before it is sized for, and a count that is no count (the one the decoder cannot negate)
//! is refused; only then does the crate decode it.

use std::io::Read;

use flate2::read::ZlibDecoder;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{DeserializeError, Deserializer};

use crate::engine::stats::{HISTOGRAM_HIGHEST_MICROS, SIGNIFICANT_FIGURES};

/// The most an encoding is read to, inflated: 16 MiB. tcpgoon's own are at most a few
/// hundred KiB (a count takes at most 9 bytes, and its histograms hold about 23000).
pub const V2_MAX_BYTES: u64 = 16 << 20;

const V2_COOKIE: u32 = 0x1c84_9313;
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9314;
/// Cookie, payload length, normalizing offset, significant digits, lowest, highest, ratio.
const V2_HEADER: usize = 40;

/// A V2 encoding, deflated or not, as bytes; refused in words when it is not one.
pub fn read_v2(bytes: &[u8]) -> Result<Histogram<u64>, String> {
    let not = |why: &str| format!("not an HdrHistogram V2 encoding: {why}");
    let cookie = be_u32(bytes, 0).ok_or_else(|| not("too short"))?;
    let inflated;
    let v2 = match cookie {
        V2_COOKIE => bytes,
        V2_DEFLATE_COOKIE => {
            // Its length, then the deflated V2 encoding; a length past the end is read to it.
            let len = be_u32(bytes, 4).ok_or_else(|| not("too short"))? as usize;
            let deflated = &bytes[8..bytes.len().min(8usize.saturating_add(len))];
            let mut out = Vec::new();
            ZlibDecoder::new(deflated)
                .take(V2_MAX_BYTES + 1)
                .read_to_end(&mut out)
                .map_err(|_| not("its deflated part does not inflate"))?;
            if out.len() as u64 > V2_MAX_BYTES {
                return Err(not("it inflates past 16 MiB"));
            }
            inflated = out;
            &inflated[..]
        }
        _ => return Err(not("it does not begin with a V2 cookie")),
    };
    if be_u32(v2, 0) != Some(V2_COOKIE) || v2.len() < V2_HEADER {
        return Err(not("too short, or its inner cookie is wrong"));
    }
    // Its bounds size the counts it allocates: no wider than the reports' own.
    let figures = be_u32(v2, 12).unwrap_or(u32::MAX);
    let high = v2
        .get(24..32)
        .and_then(|b| b.try_into().ok())
        .map_or(u64::MAX, u64::from_be_bytes);
    if figures > u32::from(SIGNIFICANT_FIGURES) + 2 || high > HISTOGRAM_HIGHEST_MICROS * 4 {
        return Err(format!(
            "an HdrHistogram of {figures} significant figures up to {high}, where tcpgoon \
             writes {SIGNIFICANT_FIGURES} up to {HISTOGRAM_HIGHEST_MICROS} µs"
        ));
    }
    let payload_len = be_u32(v2, 4).map_or(usize::MAX, |n| n as usize);
    let payload = v2
        .get(V2_HEADER..)
        .and_then(|rest| rest.get(..payload_len))
        .ok_or_else(|| not("its payload is shorter than its header says"))?;
    if zigzag_varints(payload).any(|n| n == u64::MAX) {
        return Err(not("a count is out of range"));
    }
    Deserializer::new()
        .deserialize(&mut &v2[..V2_HEADER + payload_len])
        .map_err(|e| not(words(&e)))
}

/// A decoding error in words.
fn words(e: &DeserializeError) -> &'static str {
    match e {
        DeserializeError::IoError(_) => "it ends before its counts do",
        DeserializeError::InvalidCookie => "it does not begin as the V2 encoding does",
        DeserializeError::UnsupportedFeature => {
            "it uses a feature of the format tcpgoon does not read (a normalizing offset, or \
             values that are not whole)"
        }
        DeserializeError::UnsuitableCounterType => "a count is past 2^64",
        DeserializeError::InvalidParameters => "its bounds or significant figures are not valid",
        DeserializeError::UsizeTypeTooSmall => "it is too large for this machine",
        DeserializeError::EncodedArrayTooLong => "it has more counts than its bounds hold",
    }
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let four = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(four.try_into().ok()?))
}

/// The payload's numbers as the V2 format writes them: LEB128, at most nine bytes, the
/// ninth taken whole. The zigzag encoding of `i64::MIN` is `u64::MAX`, a run of zeros the
/// decoder negates (and overflows). A number cut short ends the sequence; the decoder
/// refuses it.
fn zigzag_varints(payload: &[u8]) -> impl Iterator<Item = u64> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let mut value = 0u64;
        for i in 0..9 {
            let byte = *payload.get(at)?;
            at += 1;
            if i == 8 {
                return Some(value | u64::from(byte) << 56);
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::{Serializer, V2DeflateSerializer, V2Serializer};

    fn header(payload_len: u32) -> Vec<u8> {
        let mut v2 = Vec::new();
        v2.extend(V2_COOKIE.to_be_bytes());
        v2.extend(payload_len.to_be_bytes());
        v2.extend(0u32.to_be_bytes());
        v2.extend(3u32.to_be_bytes());
        v2.extend(1u64.to_be_bytes());
        v2.extend(3_600_000_000u64.to_be_bytes());
        v2.extend(1f64.to_be_bytes());
        v2
    }

    #[test]
    fn encodings_read_back_deflated_or_not() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in [1, 70, 70, 5000, 3_000_000] {
            h.record(v).unwrap();
        }
        let (mut plain, mut deflated) = (Vec::new(), Vec::new());
        V2Serializer::new().serialize(&h, &mut plain).unwrap();
        V2DeflateSerializer::new()
            .serialize(&h, &mut deflated)
            .unwrap();
        assert_eq!(read_v2(&plain).unwrap(), h);
        assert_eq!(read_v2(&deflated).unwrap(), h);
        let values: Vec<u64> = zigzag_varints(&plain[V2_HEADER..]).collect();
        assert!(!values.is_empty() && !values.contains(&u64::MAX));
    }

    #[test]
    fn a_payload_the_header_claims_and_the_bytes_lack_is_refused_unread() {
        // The crate would zero 4 GiB for it first.
        let refused = read_v2(&header(u32::MAX)).unwrap_err();
        assert!(
            refused.contains("shorter than its header says"),
            "{refused}"
        );
    }

    #[test]
    fn a_run_of_zeros_of_i64_min_is_refused() {
        // Its negation overflowed in the crate's decoder.
        let mut v2 = header(9);
        v2.extend([0xff; 9]);
        let refused = read_v2(&v2).unwrap_err();
        assert!(refused.contains("out of range"), "{refused}");
    }

    #[test]
    fn a_deflate_bomb_is_read_to_the_bound() {
        let mut inner = header(0);
        inner.resize(V2_MAX_BYTES as usize + 100, 0);
        let mut deflated = Vec::new();
        let mut z = flate2::write::ZlibEncoder::new(&mut deflated, flate2::Compression::best());
        std::io::Write::write_all(&mut z, &inner).unwrap();
        z.finish().unwrap();
        let mut bytes = V2_DEFLATE_COOKIE.to_be_bytes().to_vec();
        bytes.extend((deflated.len() as u32).to_be_bytes());
        bytes.extend(deflated);
        let refused = read_v2(&bytes).unwrap_err();
        assert!(refused.contains("past 16 MiB"), "{refused}");
    }
}
