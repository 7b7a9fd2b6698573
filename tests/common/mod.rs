//! What the integration tests share, by concern. Each test file is a binary of its own that
//! compiles this module and uses part of it: `use common::*`-style imports reach everything
//! through the re-exports below.
#![allow(dead_code)]

mod json;
mod net;
mod output;
mod process;
mod servers;
mod terminal;

// A binary that uses nothing of a module would otherwise warn of an unused import.
#[allow(unused_imports)]
pub use self::{json::*, net::*, output::*, process::*, servers::*, terminal::*};
