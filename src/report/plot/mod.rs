//! `tcpgoon plot`: the `--json` output of runs, limit searches and merges, read back
//! (`input`) and drawn as one self-contained SVG picture (`svg`). Pure: text in, text out;
//! the driver in `commands` reads the files and writes the picture.
//!
//! The writer is our own, a few hundred lines: the picture is two kinds of panel, stacked
//! areas and a histogram, and a plotting crate would add dependencies and build time for
//! less control over the colours and layout that the tests check.

pub mod input;
pub mod svg;

pub use input::{LimitMark, Point, Run, read_runs};
pub use svg::render;
