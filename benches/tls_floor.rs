//! The TLS floor for `scripts/bench --tls`: the least client work a TLS handshake takes
//! with the library tcpgoon uses (rustls, ring provider, no resumption, no verification).
//! `tls_floor <ip> <port> <connections> <threads>`: each thread opens its share of the
//! connections one after another, with blocking sockets, does the handshake and keeps the
//! socket open; no event loop, no bookkeeping, no report but one line:
//! `tls_floor: handshakes <n> failed <m>`. Exit 1 if any failed.
//!
//! Built as a bench target (`harness = false`) so `cargo test` never compiles it.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use tcpgoon::engine::tls::NoVerification;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 4 {
        eprintln!("usage: tls_floor <ip> <port> <connections> <threads>");
        std::process::exit(64);
    }
    let addr: SocketAddr = format!("{}:{}", args[0], args[1])
        .parse()
        .expect("ip and port");
    let connections: usize = args[2].parse().expect("connections");
    let threads: usize = args[3].parse().expect("threads");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerification::new()))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    let config = Arc::new(config);
    let name = ServerName::IpAddress(addr.ip().into());
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (config, name) = (config.clone(), name.clone());
            let share = connections / threads + usize::from(t < connections % threads);
            std::thread::spawn(move || {
                let (mut done, mut failed) = (0usize, 0usize);
                let mut held = Vec::with_capacity(share);
                for _ in 0..share {
                    let ok = TcpStream::connect(addr).ok().and_then(|mut sock| {
                        let mut conn = ClientConnection::new(config.clone(), name.clone()).ok()?;
                        while conn.is_handshaking() {
                            conn.complete_io(&mut sock).ok()?;
                        }
                        Some(sock)
                    });
                    match ok {
                        Some(sock) => {
                            done += 1;
                            held.push(sock);
                        }
                        None => failed += 1,
                    }
                }
                (done, failed)
            })
        })
        .collect();
    let (mut done, mut failed) = (0, 0);
    for worker in workers {
        let (d, f) = worker.join().expect("a worker");
        done += d;
        failed += f;
    }
    println!("tls_floor: handshakes {done} failed {failed}");
    std::process::exit(i32::from(failed > 0));
}
