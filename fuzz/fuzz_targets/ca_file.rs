//! The bytes of a `--ca` file: `tls::ca_certificates`, the PEM text read into the roots a
//! server's chain is verified against and the certificates it pins.
//!
//! Properties, beyond never panicking:
//! - a file taken holds at least one certificate, and those certificates written back as
//!   PEM are taken again as the same certificates, in the same order;
//! - a refusal is one short line that names the file (`--ca 'FILE': …`): the parser's own
//!   message prints a faulty line byte by byte, which for a long line was megabytes.

#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use tcpgoon::engine::tls::ca_certificates;

fuzz_target!(|data: &[u8]| {
    match ca_certificates(data) {
        Ok(certs) => {
            assert!(!certs.is_empty());
            let mut pem = String::new();
            for cert in &certs {
                let body = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
                pem.push_str("-----BEGIN CERTIFICATE-----\n");
                for line in body.as_bytes().chunks(64) {
                    pem.push_str(std::str::from_utf8(line).unwrap());
                    pem.push('\n');
                }
                pem.push_str("-----END CERTIFICATE-----\n");
            }
            assert_eq!(ca_certificates(pem.as_bytes()), Ok(certs));
        }
        Err(refused) => {
            assert!(refused.starts_with("--ca 'FILE': "), "{refused}");
            assert!(!refused.contains('\n'), "{refused}");
            assert!(refused.len() <= 200, "{refused}");
        }
    }
});
