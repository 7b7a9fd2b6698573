//! The picture: one SVG document, self-contained (no scripts, links, images or web fonts;
//! text in generic font families), drawn from the runs read back by `input`. For each run
//! with a time series, a panel of its connections by state over time, stacked so the bands
//! add up to the attempts made (served, established, dialing, closed, error, bottom to
//! top), with the limit of a `limit` search marked and, for a run with heartbeats, its beat
//! latency over time (p99 solid, p50 dashed) on a second axis, labelled inside the right
//! edge; then one panel of connect latency for
//! every run, a histogram over logarithmic buckets on a log axis, with p50 and p99 marked.
//!
//! Each panel's plotting area is a `<rect>` with an `id` (`timeline-0`, …, `latency`) and
//! `class="plot-area"`, so a test can find where to look in a rendering.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use crate::report::plot::input::{Point, Run};

/// The colours of the states, colour-blind safe (Okabe and Ito's palette).
pub const SERVED: &str = "#0072b2";
pub const ESTABLISHED: &str = "#009e73";
pub const DIALING: &str = "#e69f00";
pub const CLOSED: &str = "#cc79a7";
pub const ERROR: &str = "#d55e00";
/// One colour per run in the latency panel, in the order given.
pub const RUN_COLOURS: [&str; 6] = [
    "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00",
];
/// The beat latency curve: yellow over a dark halo, seen on white and on every band.
pub const BEAT: &str = "#f0e442";
const BEAT_HALO: &str = "#333333";
/// How opaque a run's histogram is filled (its outline is solid).
pub const LATENCY_FILL_OPACITY: f64 = 0.35;

const WIDTH: f64 = 960.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 28.0;
const PLOT_HEIGHT: f64 = 220.0;
const FONT: &str = "DejaVu Sans, Liberation Sans, Helvetica, Arial, sans-serif";
const INK: &str = "#222222";
const GRID: &str = "#dddddd";

/// The whole SVG document for `runs`.
pub fn render(runs: &[Run]) -> String {
    let mut body = String::new();
    let mut y = 12.0;
    for (i, run) in runs.iter().enumerate() {
        y = timeline_panel(&mut body, run, i, y);
    }
    y = latency_panel(&mut body, runs, y);
    let height = (y + 12.0).ceil();
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"{FONT}\" font-size=\"12\" \
         fill=\"{INK}\">\n<title>tcpgoon plot</title>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n{body}</svg>\n"
    );
    svg
}

fn plot_width() -> f64 {
    WIDTH - LEFT - RIGHT
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn title(svg: &mut String, y: f64, text: &str) {
    let _ = writeln!(
        svg,
        "<text x=\"{LEFT}\" y=\"{y:.1}\" font-size=\"15\" font-weight=\"bold\">{}</text>",
        escape(text)
    );
}

/// Swatches with labels in a row from `x`; returns where the row ends.
fn legend(svg: &mut String, mut x: f64, y: f64, items: &[(&str, String)]) -> f64 {
    for (colour, label) in items {
        let _ = writeln!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{colour}\"/>\
             <text x=\"{:.1}\" y=\"{y:.1}\">{}</text>",
            y - 10.0,
            x + 17.0,
            escape(label)
        );
        // About 7 px a character at 12 px: no font metrics without a font.
        x += 17.0 + 7.0 * label.chars().count() as f64 + 16.0;
    }
    x
}

fn plot_area(svg: &mut String, id: &str, top: f64) {
    let _ = writeln!(
        svg,
        "<rect id=\"{id}\" class=\"plot-area\" x=\"{LEFT}\" y=\"{top:.1}\" width=\"{:.1}\" \
         height=\"{PLOT_HEIGHT}\" fill=\"none\" stroke=\"{INK}\" stroke-width=\"1\"/>",
        plot_width()
    );
}

/// Round steps for a linear axis from 0 to at least `max`: (step, axis maximum).
fn nice_axis(max: f64) -> (f64, f64) {
    let max = if max > 0.0 { max } else { 1.0 };
    let rough = max / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * magnitude);
    let step = if max >= 1.0 { step.max(1.0) } else { step };
    (step, (max / step).ceil() * step)
}

/// A whole count as an axis label: 1500 is `1500`, 25000 is `25k`.
fn count_label(v: f64) -> String {
    if v >= 10_000.0 && (v / 1000.0).fract() == 0.0 {
        format!("{}k", v / 1000.0)
    } else {
        format!("{v}")
    }
}

/// A latency in microseconds as people read it: `52µs`, `1.25ms`, `2.5s`.
pub fn micros_label(us: f64) -> String {
    let (value, unit) = if us < 1000.0 {
        (us, "µs")
    } else if us < 1_000_000.0 {
        (us / 1000.0, "ms")
    } else {
        (us / 1_000_000.0, "s")
    };
    let text = if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{unit}")
}

/// Draws one run's states over time from `y`; returns the `y` below it.
fn timeline_panel(svg: &mut String, run: &Run, index: usize, y: f64) -> f64 {
    let name = match &run.target {
        Some(target) => format!("{}: {target}", run.source),
        None => run.source.clone(),
    };
    let kind = if run.limit.is_some() {
        "limit search"
    } else {
        "run"
    };
    if run.timeline.len() < 2 {
        title(svg, y + 16.0, &format!("{name} ({kind})"));
        let _ = writeln!(
            svg,
            "<text x=\"{LEFT}\" y=\"{:.1}\">No time series in this summary (one without a \
             timeline or ticks): its latency is drawn below.</text>",
            y + 36.0
        );
        return y + 52.0;
    }
    title(
        svg,
        y + 16.0,
        &format!("{name}: connections by state over time ({kind})"),
    );
    let points = &run.timeline;
    let last = points[points.len() - 1];
    let probe = points.iter().any(|p| p.served.is_some());
    // Bottom to top; each band's value at a point.
    type Band = (&'static str, &'static str, fn(&Point) -> u64);
    let mut bands: Vec<Band> = Vec::new();
    if probe {
        bands.push(("served", SERVED, |p| {
            p.served.unwrap_or(0).min(p.established)
        }));
        bands.push(("established, not served", ESTABLISHED, |p| {
            p.established - p.served.unwrap_or(0).min(p.established)
        }));
    } else {
        bands.push(("established", ESTABLISHED, |p| p.established));
    }
    bands.push(("dialing", DIALING, |p| p.dialing));
    bands.push(("closed", CLOSED, |p| p.closed));
    bands.push(("error", ERROR, |p| p.error));
    let mut items: Vec<(&str, String)> = bands
        .iter()
        .map(|(label, colour, value)| (*colour, format!("{label} {}", value(&last))))
        .collect();
    let beats = points.iter().any(|p| p.beat_p99_us.is_some());
    if beats {
        items.push((BEAT, "beat p99 (right axis)".to_string()));
    }
    legend(svg, LEFT, y + 38.0, &items);

    let top = y + 50.0;
    let bottom = top + PLOT_HEIGHT;
    let most_made = points.iter().map(Point::made).max().unwrap_or(0);
    // A run is drawn up to what it asked for; a search, which asks for all it may, to what
    // it made.
    let asked = run.limit.is_none().then_some(run.total);
    let (y_step, y_max) = nice_axis(most_made.max(asked.unwrap_or(0)) as f64);
    let end_us = last.elapsed_us.max(1) as f64;
    let seconds = end_us >= 2_000_000.0;
    let (unit, per_unit) = if seconds { ("s", 1e6) } else { ("ms", 1e3) };
    let (x_step, x_max) = nice_axis(end_us / per_unit);
    let x_of = |us: f64| LEFT + us / per_unit / x_max * plot_width();
    let y_of = |v: f64| bottom - v / y_max * PLOT_HEIGHT;

    grid_and_labels(svg, top, y_step, y_max, &|v| y_of(v), &count_label);
    let mut tick = 0.0;
    while tick <= x_max + x_step / 1e6 {
        let x = LEFT + tick / x_max * plot_width();
        let _ = writeln!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{bottom:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{INK}\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            bottom + 5.0,
            bottom + 18.0,
            trim_number(tick)
        );
        tick += x_step;
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">time since the start ({unit})</text>\
         <text transform=\"translate({:.1} {:.1}) rotate(-90)\" text-anchor=\"middle\">\
         connections</text>",
        LEFT + plot_width() / 2.0,
        bottom + 36.0,
        LEFT - 52.0,
        top + PLOT_HEIGHT / 2.0
    );

    // The bands, stacked.
    let mut below: Vec<u64> = vec![0; points.len()];
    for (label, colour, value) in &bands {
        let above: Vec<u64> = points
            .iter()
            .zip(&below)
            .map(|(p, b)| b + value(p))
            .collect();
        if above != below {
            let mut path = String::new();
            for (p, v) in points.iter().zip(&above) {
                let command = if path.is_empty() { 'M' } else { 'L' };
                let _ = write!(
                    path,
                    "{command}{:.2},{:.2} ",
                    x_of(p.elapsed_us as f64),
                    y_of(*v as f64)
                );
            }
            for (p, v) in points.iter().zip(&below).rev() {
                let _ = write!(
                    path,
                    "L{:.2},{:.2} ",
                    x_of(p.elapsed_us as f64),
                    y_of(*v as f64)
                );
            }
            let _ = writeln!(
                svg,
                "<path d=\"{}Z\" fill=\"{colour}\"><title>{label}</title></path>",
                path.trim_end()
            );
        }
        below = above;
    }
    if beats {
        beat_curve(svg, points, top, &x_of);
    }
    if let Some(asked) = asked {
        let ya = y_of(asked as f64);
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{ya:.1}\" x2=\"{:.1}\" y2=\"{ya:.1}\" stroke=\"#777777\" \
             stroke-dasharray=\"2 3\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#555555\" \
             stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\">asked for {asked}\
             </text>",
            LEFT + plot_width(),
            LEFT + plot_width() - 4.0,
            ya - 4.0
        );
    }
    if let Some(limit) = &run.limit {
        let yl = y_of(limit.held as f64);
        let _ = writeln!(
            svg,
            "<line id=\"limit-{index}\" x1=\"{LEFT}\" y1=\"{yl:.1}\" x2=\"{:.1}\" y2=\"{yl:.1}\" \
             stroke=\"#000000\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>",
            LEFT + plot_width()
        );
        let what = match limit.finding.as_str() {
            "found" => format!("limit: {} held", limit.held),
            "knee" => format!("knee: {} held within the beat latency bound", limit.held),
            "no_limit" => format!("no limit found: {} held", limit.held),
            "evicted" => format!("no capacity limit (an eviction): {} held", limit.held),
            "local_limit" => format!("this machine's limit came first: {} held", limit.held),
            "no_connection" => "nothing held: no limit to measure".to_string(),
            other => format!("{other}: {} held", limit.held),
        };
        let mut label = what;
        if let Some(loss) = limit.loss_us {
            let xl = x_of(loss as f64);
            let _ = writeln!(
                svg,
                "<line x1=\"{xl:.1}\" y1=\"{top:.1}\" x2=\"{xl:.1}\" y2=\"{bottom:.1}\" \
                 stroke=\"#000000\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>"
            );
            let _ = write!(
                label,
                "; first loss at {}",
                micros_label(loss as f64).replace("µs", " µs")
            );
            if let Some(cause) = &limit.cause {
                let _ = write!(label, " ({cause})");
            }
        }
        let above_line = yl - 6.0 > top + 14.0;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-weight=\"bold\" \
             stroke=\"#ffffff\" stroke-width=\"4\" paint-order=\"stroke\">{}</text>",
            LEFT + plot_width() - 6.0,
            if above_line { yl - 6.0 } else { yl + 16.0 },
            escape(&label)
        );
    }
    plot_area(svg, &format!("timeline-{index}"), top);
    bottom + 52.0
}

/// The beat latency of `points` on an axis of its own from 0 at the bottom of the plotting
/// area from `top`, its labels inside the right edge.
fn beat_curve(svg: &mut String, points: &[Point], top: f64, x_of: &dyn Fn(f64) -> f64) {
    let bottom = top + PLOT_HEIGHT;
    let most = points
        .iter()
        .filter_map(|p| p.beat_p99_us)
        .max()
        .unwrap_or(0);
    let (step, max) = nice_axis(most as f64);
    let y_of = |us: f64| bottom - us / max * PLOT_HEIGHT;
    let right = LEFT + plot_width();
    // Not at the top, where the `asked for` label is: the steps below it say the scale.
    let mut v = step;
    while v < max - step / 1e6 || v == step {
        let y = y_of(v);
        let _ = writeln!(
            svg,
            "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{right:.1}\" y2=\"{y:.1}\" \
             stroke=\"{BEAT_HALO}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" stroke=\"#ffffff\" \
             stroke-width=\"3\" paint-order=\"stroke\">{}</text>",
            right - 5.0,
            right - 7.0,
            y + 4.0,
            micros_label(v)
        );
        v += step;
    }
    // Samples without an answered beat are passed over, not breaks: at a step of a few
    // milliseconds most samples have none, and a curve broken at each would be dust.
    let path = |value: fn(&Point) -> Option<u64>| {
        let mut path = String::new();
        for p in points {
            if let Some(us) = value(p) {
                let (x, y) = (x_of(p.elapsed_us as f64), y_of(us as f64));
                if path.is_empty() {
                    // A segment of no length, so that a single sample shows as a dot.
                    let _ = write!(path, "M{x:.2},{y:.2} ");
                }
                let _ = write!(path, "L{x:.2},{y:.2} ");
            }
        }
        path.trim_end().to_string()
    };
    let (p99, p50) = (path(|p| p.beat_p99_us), path(|p| p.beat_p50_us));
    let _ = writeln!(
        svg,
        "<g fill=\"none\" stroke-linejoin=\"round\" stroke-linecap=\"round\">\
         <path d=\"{p50}\" stroke=\"{BEAT_HALO}\" stroke-width=\"3.5\"/>\
         <path d=\"{p50}\" stroke=\"{BEAT}\" stroke-width=\"1.5\" stroke-dasharray=\"5 4\"/>\
         <path d=\"{p99}\" stroke=\"{BEAT_HALO}\" stroke-width=\"5\"/>\
         <path id=\"beat-p99\" d=\"{p99}\" stroke=\"{BEAT}\" stroke-width=\"3\">\
         <title>beat latency p99</title></path></g>"
    );
}

/// Horizontal grid lines and their labels at each `step` up to `max`.
fn grid_and_labels(
    svg: &mut String,
    top: f64,
    step: f64,
    max: f64,
    y_of: &dyn Fn(f64) -> f64,
    label: &dyn Fn(f64) -> String,
) {
    let mut v = 0.0;
    while v <= max + step / 1e6 {
        let y = y_of(v);
        if y >= top - 0.5 {
            let _ = writeln!(
                svg,
                "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{GRID}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                LEFT + plot_width(),
                LEFT - 6.0,
                y + 4.0,
                label(v)
            );
        }
        v += step;
    }
}

fn trim_number(v: f64) -> String {
    let text = format!("{v:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Buckets a histogram per decade: enough to show a shape, few enough that each holds
/// several of the microsecond values a loopback run measures (at 20 a decade, a bucket at
/// 20µs is 2.4µs wide) and, for a small run, several connections.
fn buckets_per_decade(fewest: u64) -> f64 {
    if fewest >= 200 { 20.0 } else { 10.0 }
}

/// The share of `h`'s values in each logarithmic bucket: (bucket index, share).
fn shares(h: &Histogram<u64>, per_decade: f64) -> Vec<(i64, f64)> {
    let total = h.len().max(1) as f64;
    let mut out: Vec<(i64, f64)> = Vec::new();
    for v in h.iter_recorded() {
        let value = h.median_equivalent(v.value_iterated_to()).max(1) as f64;
        let bucket = (value.log10() * per_decade).floor() as i64;
        let share = v.count_at_value() as f64 / total;
        match out.last_mut() {
            Some((b, s)) if *b == bucket => *s += share,
            _ => out.push((bucket, share)),
        }
    }
    out
}

/// Draws the connect latency of every run from `y`; returns the `y` below it.
fn latency_panel(svg: &mut String, runs: &[Run], y: f64) -> f64 {
    title(
        svg,
        y + 16.0,
        "Connect latency: share of connections, log scale",
    );
    let drawn: Vec<(usize, &Run, &Histogram<u64>)> = runs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            r.connect
                .as_ref()
                .filter(|h| !h.is_empty())
                .map(|h| (i, r, h))
        })
        .collect();
    if drawn.is_empty() {
        let _ = writeln!(
            svg,
            "<text x=\"{LEFT}\" y=\"{:.1}\">No connection was established: no latency to \
             draw.</text>",
            y + 36.0
        );
        return y + 52.0;
    }
    let mut row = y + 38.0;
    for (i, run, h) in &drawn {
        let colour = RUN_COLOURS[i % RUN_COLOURS.len()];
        let label = format!(
            "{}: {} connections, p50 {}, p99 {}, max {}",
            run.source,
            h.len(),
            micros_label(h.value_at_quantile(0.5) as f64),
            micros_label(h.value_at_quantile(0.99) as f64),
            micros_label(h.max() as f64)
        );
        legend(svg, LEFT, row, &[(colour, label)]);
        row += 18.0;
    }
    let top = row - 4.0;
    let bottom = top + PLOT_HEIGHT;
    let fewest = drawn.iter().map(|(_, _, h)| h.len()).min().unwrap_or(0);
    let per_decade = buckets_per_decade(fewest);
    let lowest = drawn
        .iter()
        .map(|(_, _, h)| h.min().max(1))
        .min()
        .unwrap_or(1);
    let highest = drawn
        .iter()
        .map(|(_, _, h)| h.max().max(1))
        .max()
        .unwrap_or(1);
    let first_decade = (lowest as f64).log10().floor() as i32;
    let last_decade = ((highest as f64).log10() + 1e-9)
        .ceil()
        .max(first_decade as f64 + 1.0) as i32;
    let span = f64::from(last_decade - first_decade);
    let x_of = |us: f64| LEFT + (us.log10() - f64::from(first_decade)) / span * plot_width();
    let all: Vec<Vec<(i64, f64)>> = drawn
        .iter()
        .map(|(_, _, h)| shares(h, per_decade))
        .collect();
    let most = all.iter().flatten().map(|(_, s)| *s).fold(0.0, f64::max);
    let (y_step, y_max) = nice_axis(most * 100.0);
    let y_of = |percent: f64| bottom - percent / y_max * PLOT_HEIGHT;
    grid_and_labels(svg, top, y_step, y_max, &|v| y_of(v), &|v| {
        format!("{}%", trim_number(v))
    });
    // Decades, labelled, and the 2-9 multiples between them as fainter lines.
    for decade in first_decade..=last_decade {
        let base = 10f64.powi(decade);
        let x = x_of(base);
        let _ = writeln!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{GRID}\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            bottom + 5.0,
            bottom + 18.0,
            micros_label(base)
        );
        if decade < last_decade {
            for m in 2..10 {
                let xm = x_of(base * f64::from(m));
                let _ = writeln!(
                    svg,
                    "<line x1=\"{xm:.1}\" y1=\"{top:.1}\" x2=\"{xm:.1}\" y2=\"{bottom:.1}\" \
                     stroke=\"#f0f0f0\"/><line x1=\"{xm:.1}\" y1=\"{bottom:.1}\" x2=\"{xm:.1}\" \
                     y2=\"{:.1}\" stroke=\"{INK}\"/>",
                    bottom + 3.0
                );
            }
        }
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">connect latency (log scale)</text>\
         <text transform=\"translate({:.1} {:.1}) rotate(-90)\" text-anchor=\"middle\">\
         share of connections</text>",
        LEFT + plot_width() / 2.0,
        bottom + 36.0,
        LEFT - 52.0,
        top + PLOT_HEIGHT / 2.0
    );
    for ((i, _, h), buckets) in drawn.iter().zip(&all) {
        let colour = RUN_COLOURS[i % RUN_COLOURS.len()];
        let edge =
            |b: i64| x_of(10f64.powf(b as f64 / per_decade)).clamp(LEFT, LEFT + plot_width());
        let mut path = String::new();
        let mut previous: Option<i64> = None;
        for (b, share) in buckets {
            let (x0, x1, ys) = (edge(*b), edge(b + 1), y_of(share * 100.0));
            if previous != Some(b - 1) {
                if let Some(previous) = previous {
                    let _ = write!(path, "L{:.2},{bottom:.2} ", edge(previous + 1));
                }
                let _ = write!(path, "M{x0:.2},{bottom:.2} ");
            }
            let _ = write!(path, "L{x0:.2},{ys:.2} L{x1:.2},{ys:.2} ");
            previous = Some(*b);
        }
        if let Some(last) = previous {
            let _ = write!(path, "L{:.2},{bottom:.2}", edge(last + 1));
        }
        let _ = writeln!(
            svg,
            "<path d=\"{path}\" fill=\"{colour}\" fill-opacity=\"{LATENCY_FILL_OPACITY}\" \
             stroke=\"{colour}\" stroke-width=\"1.5\" stroke-linejoin=\"round\"/>"
        );
        for (name, q) in [("p50", 0.5), ("p99", 0.99)] {
            let x = x_of(h.value_at_quantile(q).max(1) as f64);
            let _ = writeln!(
                svg,
                "<line x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" \
                 stroke=\"{colour}\" stroke-width=\"1.2\" stroke-dasharray=\"4 3\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"{colour}\" \
                 stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\">{name}</text>",
                x + 3.0,
                top + 13.0 + 13.0 * *i as f64
            );
        }
    }
    plot_area(svg, "latency", top);
    bottom + 52.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_take_round_steps() {
        assert_eq!(nice_axis(65.0), (20.0, 80.0));
        assert_eq!(nice_axis(100.0), (20.0, 100.0));
        assert_eq!(nice_axis(3.0), (1.0, 3.0));
        assert_eq!(nice_axis(0.0), (1.0, 1.0));
        assert_eq!(nice_axis(1066.0), (250.0, 1250.0));
    }

    #[test]
    fn latencies_read_as_people_write_them() {
        assert_eq!(micros_label(52.0), "52µs");
        assert_eq!(micros_label(1000.0), "1ms");
        assert_eq!(micros_label(1250.0), "1.25ms");
        assert_eq!(micros_label(2_500_000.0), "2.5s");
        assert_eq!(micros_label(100.0), "100µs");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a<b & \"c\"\n"), "a&lt;b &amp; &quot;c&quot; ");
    }
}
