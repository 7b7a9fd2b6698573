//! `--metrics-push URL` as typed, and a Pushgateway's answer: `push::PushUrl::parse` and
//! `push::answer_of` on any text and bytes.
//!
//! Properties, beyond never panicking:
//! - a refusal is one line, and names the URL;
//! - an accepted URL is `http://`, a host of name characters (or an IPv6 address), a port
//!   from 1, and a path under `/metrics/job/` with a non-empty job and whole LABEL/VALUE
//!   pairs; it parses back to itself;
//! - the request it makes is one `PUT <path> HTTP/1.1` line, headers, a blank line and the
//!   body: nothing in the URL can add a line or a header;
//! - an answer read has a status of three digits, and its words are one line.
//!
//! The first byte chooses: even, the rest is a URL (as UTF-8, lossily); odd, an answer.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpgoon::engine::push::{PushUrl, answer_of};

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    if choice % 2 == 1 {
        if let Some((code, what)) = answer_of(rest) {
            assert!((100..=999).contains(&code), "{code}");
            assert!(!what.contains('\n') && !what.contains('\r'), "{what:?}");
            assert!(what.starts_with(&code.to_string()), "{what:?}");
        }
        return;
    }
    let text = String::from_utf8_lossy(rest);
    match PushUrl::parse(&text) {
        Err(message) => {
            assert!(
                !message.contains('\n') || text.contains('\n'),
                "{message:?}"
            );
            assert!(message.contains(&format!("'{text}'")), "{message:?}");
        }
        Ok(url) => {
            assert!(
                url.url.to_ascii_lowercase().starts_with("http://"),
                "{url:?}"
            );
            assert!(url.port >= 1);
            assert!(!url.host.is_empty());
            assert!(
                url.host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:".contains(c)),
                "{url:?}"
            );
            let parts: Vec<&str> = url.path.split('/').collect();
            assert_eq!(parts[0], "", "{url:?}");
            assert_eq!(parts[1], "metrics", "{url:?}");
            assert!(parts[2] == "job" || parts[2] == "job@base64", "{url:?}");
            assert!(!parts[3].is_empty(), "{url:?}");
            assert!(parts[4..].len().is_multiple_of(2), "{url:?}");
            assert_eq!(PushUrl::parse(&url.url).as_ref(), Ok(&url));
            let request = url.request(b"x 1\n");
            let request = String::from_utf8(request).expect("ASCII request");
            let (head, body) = request.split_once("\r\n\r\n").expect("a head");
            assert_eq!(body, "x 1\n");
            let lines: Vec<&str> = head.split("\r\n").collect();
            assert_eq!(lines[0], format!("PUT {} HTTP/1.1", url.path));
            assert_eq!(lines.len(), 6, "{head:?}");
            assert!(lines.iter().all(|l| !l.contains('\r')));
        }
    }
});
