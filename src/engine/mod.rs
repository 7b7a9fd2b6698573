//! The engine: the event loops and everything they drive. One thread, one `mio::Poll` per
//! loop; connections live in a slab keyed by their token; time is passed in as `now` so the
//! schedules and deadlines are testable without sockets.
//!
//! May import `error` only. Within the layer, `run_loop` and `server` are the two loops and
//! import the rest; the rest import only each other, downward (`phase` → `pacer`, `conn`,
//! `source`; `stats` → `knee`, `conn` → `session` → `probe`; `conn` → `transport` → `tls`; `conn` →
//! `source`; `stats` → `timeline`).
//!
//! | file | what it owns |
//! |---|---|
//! | `run_loop.rs` | the run's loop: dialing on schedule, holding, draining, stopping |
//! | `server.rs` | the built-in server's loop and its fault modes |
//! | `conn.rs` | one connection: lifecycle states, its stack of layers, failures by cause |
//! | `transport.rs` | a connection's bottom layer, client's and server's: plain or TLS, the one handshake drive loop |
//! | `session.rs` | a connection's top layer: what it speaks once up (a probe), sans-I/O |
//! | `phase.rs` | the run's phases as a policy: which attempt to dial and when, replacements, hold, settle, drain, stops |
//! | `knee.rs` | a limit search's knee: the most connections held with beat latency within a bound |
//! | `pacer.rs` | absolute schedules for attempts and ticks |
//! | `probe.rs` | application probes: what to send, and whether the answer serves |
//! | `session_output.rs` | what every session hands back to the loop: outcome, deadline, writes owed, beats, protocol events |
//! | `ws.rs` | WebSocket's pieces (RFC 6455): keys, the handshake's answer, frames in and out |
//! | `ws_session.rs` | a WebSocket session: the handshake as the probe, pings as heartbeats, frames read |
//! | `mqtt.rs` | MQTT's pieces (3.1.1 and 5.0): the CONNECT, packets read with a bounded length, codes in words |
//! | `mqtt_session.rs` | an MQTT session: CONNECT/CONNACK as the probe, PINGREQ as heartbeats, packets read |
//! | `mqtt_serve.rs` | the built-in server's MQTT (`server --mqtt`): CONNACK in the CONNECT's version, PINGRESP, a refusal past K |
//! | `mqtt_ws_session.rs` | MQTT over WebSocket: the upgrade, then an MQTT session whose packets go in binary frames |
//! | `h2.rs` | HTTP/2's pieces (RFC 9113): the preface, frames read with bounded state, control frames out |
//! | `h2_session.rs` | an HTTP/2 session: the SETTINGS exchange as the probe, PINGs as heartbeats, frames read |
//! | `beat.rs` | heartbeats: when each is due, and where its answer ends and whether it is right |
//! | `deadline.rs` | dial deadlines, a FIFO queue |
//! | `timer.rs` | the poll wait and a timerfd for deadlines finer than the poll's |
//! | `signal.rs` | signals delivered into the loop through a signalfd |
//! | `source.rs` | `--source` lists and the routes that spread attempts over pairs |
//! | `target.rs` | hosts as typed, resolved once |
//! | `stats.rs` | counts by state, causes, latency histograms |
//! | `timeline.rs` | the counts over time, sampled into a bounded buffer, for plots |
//! | `limits.rs` | this machine's limits: open files, ports |
//! | `metrics.rs` | `--metrics`: the scrape endpoint the run's and the server's loops serve, sans-I/O requests and responses |
//! | `push.rs` | `--metrics-push`: the Pushgateway URL read, the one PUT after the run, within a timeout |
//! | `tls.rs` | TLS configuration: the client's sessions, the server's certificate, failures |

pub mod beat;
pub mod conn;
pub mod deadline;
pub mod h2;
pub mod h2_session;
pub mod knee;
pub mod limits;
pub mod metrics;
pub mod mqtt;
pub mod mqtt_serve;
pub mod mqtt_session;
pub mod mqtt_ws_session;
pub mod pacer;
pub mod phase;
pub mod probe;
pub mod push;
pub mod run_loop;
pub mod server;
pub mod session;
pub mod session_output;
pub mod signal;
pub mod source;
pub mod stats;
pub mod target;
pub mod timeline;
pub mod timer;
pub mod tls;
pub mod transport;
pub mod ws;
pub mod ws_serve;
pub mod ws_session;

pub use phase::Stop;
pub use run_loop::{ConnEvent, Engine, Observer, OpenConnections, Outcome, Plan};
