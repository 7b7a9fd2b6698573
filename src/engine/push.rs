//! `--metrics-push URL`: once the run is over and its report decided, one HTTP/1.1 `PUT` of
//! the final exposition to a Prometheus Pushgateway, which keeps it for Prometheus to
//! scrape: for a one-shot run (CI) that no scraper would catch.
//!
//! The URL is the Pushgateway's: `http://HOST[:PORT]/metrics/job/JOB[/LABEL/VALUE]…`, the
//! grouping labels in the path as the Pushgateway reads them (a value may be URL-encoded,
//! or base64 after `@base64`, as it defines). Plain `http://` only. A `PUT` replaces every
//! series of the group, so the group holds this run's and no earlier run's.
//!
//! [`PushUrl`] and [`answer_of`] are the sans-I/O parts: the URL read, the request's bytes,
//! the answer's status. [`push`] does the I/O, blocking, after the loop is over, within
//! [`PUSH_TIMEOUT`] for the connect, the request and the answer together (a name is
//! resolved before that, as the run resolves its target: loopback or a local resolver).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The most time a push takes, from connect to answer.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of an answer read: its status line and the start of its body say enough.
const MAX_ANSWER: usize = 16 * 1024;

/// A Pushgateway URL, checked for form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushUrl {
    /// As typed, for messages.
    pub url: String,
    /// A name or an address; an IPv6 address without its brackets.
    pub host: String,
    pub port: u16,
    /// `/metrics/job/…`, as typed.
    pub path: String,
}

impl PushUrl {
    /// Reads `url`; the error says what is wrong with it, for a one-line usage error.
    pub fn parse(url: &str) -> Result<PushUrl, String> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!(
                "'{url}' is not a URL: http://HOST:PORT/metrics/job/JOB, the Pushgateway's"
            ));
        };
        if scheme.eq_ignore_ascii_case("https") {
            return Err(format!(
                "'{url}': https:// is not supported; push over http:// (to a Pushgateway on \
                 this machine, or through a TLS proxy)"
            ));
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(format!("'{url}': only http:// is supported"));
        }
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(format!("'{url}': no user or password in the URL"));
        }
        let (host, port) = host_and_port(authority).ok_or_else(|| {
            format!("'{url}': HOST or HOST:PORT, with PORT from 1 to 65535, after http://")
        })?;
        if let Some(bad) = path.chars().find(|c| !allowed_in_path(*c)) {
            return Err(format!(
                "'{url}': {bad:?} cannot be in the path (URL-encode a label's value)"
            ));
        }
        let groups: Vec<&str> = path.split('/').skip(1).collect();
        let shape = match groups.as_slice() {
            ["metrics", "job" | "job@base64", job, labels @ ..] => {
                !job.is_empty()
                    && labels.len() % 2 == 0
                    && labels.chunks(2).all(|pair| !pair[0].is_empty())
            }
            _ => false,
        };
        if !shape {
            return Err(format!(
                "'{url}': the path is /metrics/job/JOB, then LABEL/VALUE pairs, as the \
                 Pushgateway reads it"
            ));
        }
        Ok(PushUrl {
            url: url.to_string(),
            host,
            port,
            path: path.to_string(),
        })
    }

    /// Where the host name leads; an error when nowhere.
    pub fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port).to_socket_addrs()?.collect();
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the name has no address",
            ));
        }
        Ok(addrs)
    }

    /// The whole request: `PUT path`, the exposition in the Prometheus text format.
    pub fn request(&self, body: &[u8]) -> Vec<u8> {
        let host = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        let mut out = format!(
            "PUT {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: tcpgoon/{}\r\n\
             Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.path,
            env!("CARGO_PKG_VERSION"),
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`; port 80 when none.
fn host_and_port(authority: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        match after {
            "" => (host, None),
            after => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let name_like = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == ':';
    if host.is_empty() || !host.chars().all(name_like) {
        return None;
    }
    let port = match port {
        None => 80,
        Some(port) => port.parse::<u16>().ok().filter(|p| *p != 0)?,
    };
    Some((host.to_string(), port))
}

/// A path's characters as RFC 3986 has them (`%` for what is encoded), no query or fragment.
fn allowed_in_path(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/-._~%!$&'()*+,;=:@".contains(c)
}

/// An answer's status code and its reason with the first line of its body (what a
/// Pushgateway says is wrong), once its head is whole; `None` before, or when it is not HTTP.
pub fn answer_of(bytes: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split("\r\n").next()?;
    let mut parts = status.splitn(3, ' ');
    let version = parts.next()?;
    let code = parts.next()?;
    if !version.starts_with("HTTP/1.")
        || code.len() != 3
        || !code.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let code = code.parse::<u16>().ok().filter(|c| *c >= 100)?;
    let reason = parts.next().unwrap_or_default().trim();
    let said = body.lines().map(str::trim).find(|l| !l.is_empty());
    let what = match said {
        Some(said) => format!(
            "{code} {reason}: {}",
            said.chars().take(200).collect::<String>()
        ),
        None => format!("{code} {reason}"),
    };
    // One line on stderr, whatever the peer sent.
    let what = what
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Some((code, what))
}

/// Why a push failed, in words for one line.
#[derive(Debug, PartialEq, Eq)]
pub struct PushFailed(pub String);

/// Pushes `body` to `url`: connects, writes the request, reads the answer, all within
/// `timeout`. Blocking: only once the loop is over.
pub fn push(url: &PushUrl, body: &[u8], timeout: Duration) -> Result<(), PushFailed> {
    let failed = PushFailed;
    let addrs = url
        .resolve()
        .map_err(|e| failed(format!("cannot resolve {}: {e}", url.host)))?;
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    };
    let late = || failed(format!("no answer within {}", secs(timeout)));
    let mut last = None;
    let mut stream = None;
    for addr in &addrs {
        let Some(time) = left() else { break };
        match TcpStream::connect_timeout(addr, time) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some((addr, e)),
        }
    }
    let Some(mut stream) = stream else {
        return Err(match last {
            Some((addr, e)) if e.kind() != io::ErrorKind::TimedOut => {
                failed(format!("cannot connect to {addr}: {e}"))
            }
            _ => late(),
        });
    };
    let timed_out = |e: &io::Error| {
        matches!(
            e.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        )
    };
    let request = url.request(body);
    let mut written = 0;
    while written < request.len() {
        let time = left().ok_or_else(late)?;
        let _ = stream.set_write_timeout(Some(time));
        match stream.write(&request[written..]) {
            Ok(0) => return Err(failed("the connection closed while pushing".to_string())),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if timed_out(&e) => return Err(late()),
            Err(e) => return Err(failed(format!("cannot send: {e}"))),
        }
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let time = left().ok_or_else(late)?;
        let _ = stream.set_read_timeout(Some(time));
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.len() >= MAX_ANSWER {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if timed_out(&e) => {
                // The head is enough; a body that does not end in time is let go.
                if answer_of(&answer).is_some() {
                    break;
                }
                return Err(late());
            }
            Err(e) => return Err(failed(format!("cannot read the answer: {e}"))),
        }
    }
    match answer_of(&answer) {
        Some((code, _)) if (200..300).contains(&code) => Ok(()),
        Some((_, what)) => Err(failed(format!("the Pushgateway answered {what}"))),
        None if answer.is_empty() => Err(failed("the connection closed unanswered".to_string())),
        None => Err(failed("the answer is not HTTP".to_string())),
    }
}

/// `5s`, `1.5s`.
fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pushgateway_url_is_read_with_its_grouping_labels() {
        let url = PushUrl::parse("http://127.0.0.1:9091/metrics/job/tcpgoon/instance/ci").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.path.as_str()),
            ("127.0.0.1", 9091, "/metrics/job/tcpgoon/instance/ci")
        );
        let url = PushUrl::parse("http://[::1]:9091/metrics/job/t").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 9091));
        let url = PushUrl::parse("HTTP://localhost/metrics/job@base64/dGNw/x/a%20b").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("localhost", 80));
    }

    #[test]
    fn a_url_that_is_not_a_pushgateway_s_says_why() {
        let error = |url: &str| PushUrl::parse(url).unwrap_err();
        assert!(
            error("https://127.0.0.1:9091/metrics/job/t").contains("https:// is not supported")
        );
        assert!(error("ftp://127.0.0.1/metrics/job/t").contains("only http://"));
        assert!(error("127.0.0.1:9091/metrics/job/t").contains("is not a URL"));
        for bad in [
            "http://127.0.0.1:9091/",
            "http://127.0.0.1:9091",
            "http://127.0.0.1:9091/metrics/job/",
            "http://127.0.0.1:9091/metrics/job/t/instance",
            "http://127.0.0.1:9091/metrics/job/t//v",
            "http://127.0.0.1:9091/metrics/t",
        ] {
            assert!(
                error(bad).contains("/metrics/job/JOB"),
                "{bad}: {}",
                error(bad)
            );
        }
        for bad in [
            "http://127.0.0.1:0/metrics/job/t",
            "http://127.0.0.1:99999/metrics/job/t",
            "http:///metrics/job/t",
            "http://[::1/metrics/job/t",
            "http://a b/metrics/job/t",
        ] {
            assert!(error(bad).contains("HOST:PORT"), "{bad}: {}", error(bad));
        }
        assert!(error("http://u:p@127.0.0.1/metrics/job/t").contains("no user"));
        assert!(error("http://127.0.0.1/metrics/job/t?x=1").contains("'?' cannot"));
        assert!(error("http://127.0.0.1/metrics/job/t\r\nX: y").contains("cannot be in"));
    }

    #[test]
    fn the_request_is_one_put_with_the_exposition() {
        let url = PushUrl::parse("http://[::1]:9091/metrics/job/t").unwrap();
        let request = String::from_utf8(url.request(b"a 1\n")).unwrap();
        assert!(request.starts_with("PUT /metrics/job/t HTTP/1.1\r\nHost: [::1]:9091\r\n"));
        assert!(request.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
        assert!(request.ends_with("\r\nContent-Length: 4\r\nConnection: close\r\n\r\na 1\n"));
    }

    #[test]
    fn an_answer_s_status_and_what_it_says() {
        assert_eq!(answer_of(b"HTTP/1.1 200 OK\r\n"), None);
        assert_eq!(
            answer_of(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
            Some((200, "200 OK".to_string()))
        );
        assert_eq!(
            answer_of(b"HTTP/1.1 400 Bad Request\r\n\r\npushed metrics are invalid\nmore\n"),
            Some((
                400,
                "400 Bad Request: pushed metrics are invalid".to_string()
            ))
        );
        assert_eq!(answer_of(b"SSH-2.0-OpenSSH\r\n\r\n"), None);
        assert_eq!(answer_of(b"HTTP/1.1 20 OK\r\n\r\n"), None);
        assert_eq!(answer_of(b"HTTP/1.1 082 OK\r\n\r\n"), None);
        assert_eq!(
            answer_of(b"HTTP/1.1 502 Bad\nGateway\r\n\r\nno\rthing\n"),
            Some((502, "502 Bad Gateway: no thing".to_string()))
        );
    }
}
