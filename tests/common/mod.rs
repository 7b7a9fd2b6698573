//! What the integration tests share, by concern: child processes of the real binary
//! (`process`), reading a finished run's output (`output`), namespaces and loopback sockets
//! (`net`), servers to run against (`servers`), temp dirs, certificates and nginx (`files`), terminals and full pipes (`terminal`), and
//! the JSON summary (`json`). The re-exports below let a test import from `common` alone.
//!
//! Everything here is used by two test files or more; a helper only one test file needs
//! lives in that file. Each test file is a binary of its own that compiles this module and
//! uses a part of it, so every other binary would report the rest as dead code or unused
//! imports: hence the allows. To find a helper no test uses any more, delete the allow and
//! look for an item that every binary reports.
#![allow(dead_code)]

mod files;
mod json;
mod net;
mod output;
mod process;
mod servers;
mod terminal;

#[allow(unused_imports)]
pub use self::{files::*, json::*, net::*, output::*, process::*, servers::*, terminal::*};
