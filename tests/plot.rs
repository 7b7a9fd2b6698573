//! `tcpgoon plot`, through the real binary: the `--json` output of a run and of a limit
//! search, drawn, rendered to PNG by headless Chromium, and the PNG checked where each
//! series should be; `limit --json` and the summary's `timeline`; and bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Guard, args, in_private_net, run, run_bad_input, start_server};
use serde_json::Value;

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tcpgoon-plot-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Every sample of the summary's timeline adds up to the total, time runs forward, and the
/// last sample is the summary's own counts.
fn check_timeline(summary: &Value) -> usize {
    let timeline = &summary["timeline"];
    let columns: Vec<&str> = timeline["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        [
            "elapsed_us",
            "not_initiated",
            "dialing",
            "established",
            "closed",
            "error",
            "served_open"
        ]
    );
    let samples = timeline["samples"].as_array().unwrap();
    assert!(samples.len() >= 2, "{timeline}");
    assert!(samples.len() <= 512, "{}", samples.len());
    let rows = common::timeline_rows(summary);
    let last_t = rows.last().unwrap()[0];
    assert!(last_t <= summary["wall_time_us"].as_u64().unwrap() + 1000);
    samples.len()
}

/// Renders `svg` to a PNG `width` x `height` with headless Chromium and decodes it: (width,
/// height, RGBA bytes).
fn render(svg: &Path, width: u32, height: u32) -> (u32, u32, Vec<u8>) {
    let dir = svg.parent().unwrap();
    let png = dir.join("shot.png");
    let profile = dir.join("chromium-profile");
    let _ = std::fs::remove_file(&png);
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .expect("headless Chromium is needed to check the picture: apt-get install chromium");
    let child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", svg.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let mut guard = Guard(child);
    let started = Instant::now();
    loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            assert!(status.success(), "chromium: {status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "chromium still running after 120 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png).expect("chromium wrote no screenshot"),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let rgba: Vec<u8> = match info.color_type {
        png::ColorType::Rgba => buf[..info.buffer_size()].to_vec(),
        png::ColorType::Rgb => buf[..info.buffer_size()]
            .chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    (info.width, info.height, rgba)
}

struct Image {
    width: u32,
    rgba: Vec<u8>,
}

impl Image {
    fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 4) as usize;
        [self.rgba[i], self.rgba[i + 1], self.rgba[i + 2]]
    }

    /// Pixels within `tolerance` of `colour` in the rectangle.
    fn count(&self, (x0, y0, x1, y1): (u32, u32, u32, u32), colour: [u8; 3], tolerance: u8) -> u32 {
        let mut n = 0;
        for y in y0..y1 {
            for x in x0..x1 {
                let p = self.pixel(x, y);
                if p.iter()
                    .zip(colour)
                    .all(|(a, b)| a.abs_diff(b) <= tolerance)
                {
                    n += 1;
                }
            }
        }
        n
    }
}

fn hex(colour: &str) -> [u8; 3] {
    let c = colour.trim_start_matches('#');
    [0, 2, 4].map(|i| u8::from_str_radix(&c[i..i + 2], 16).unwrap())
}

/// `fill` over white at `opacity`, as the latency panel fills each run.
fn over_white(colour: [u8; 3], opacity: f64) -> [u8; 3] {
    colour.map(|c| (f64::from(c) * opacity + 255.0 * (1.0 - opacity)).round() as u8)
}

/// The numbers of attribute `name` in the first tag of `svg` that contains `marker`.
fn attribute(svg: &str, marker: &str, name: &str) -> f64 {
    let at = svg
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in the SVG"));
    let start = svg[..=at].rfind('<').unwrap();
    let tag = &svg[start..start + svg[start..].find('>').unwrap()];
    let key = format!(" {name}=\"");
    let from = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + key.len();
    tag[from..from + tag[from..].find('"').unwrap()]
        .parse()
        .unwrap()
}

/// The plotting area of the panel `id`, as pixel bounds inside its frame.
fn area(svg: &str, id: &str) -> (u32, u32, u32, u32) {
    let marker = format!("id=\"{id}\"");
    let x = attribute(svg, &marker, "x");
    let y = attribute(svg, &marker, "y");
    let w = attribute(svg, &marker, "width");
    let h = attribute(svg, &marker, "height");
    (
        x as u32 + 2,
        y as u32 + 2,
        (x + w) as u32 - 2,
        (y + h) as u32 - 2,
    )
}

/// Self-contained, as docs/output.md promises: no scripts, links, images or fonts to fetch.
fn check_self_contained(svg: &str) {
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    for banned in [
        "<script",
        "href",
        "<image",
        "@import",
        "url(",
        "@font-face",
        "<foreignObject",
    ] {
        assert!(!svg.contains(banned), "the SVG has {banned}");
    }
    assert!(svg.contains("sans-serif"), "no generic font family");
    // Every element opened is closed (a crude well-formedness check that can fail).
    let opened = svg.matches("<path").count();
    let closed = svg.matches("/>").count() + svg.matches("</path>").count();
    assert!(closed >= opened);
    assert_eq!(svg.matches("<svg").count(), svg.matches("</svg>").count());
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
}

#[test]
fn a_run_and_a_limit_search_are_drawn_where_they_belong() {
    let dir = scratch("drawn");
    let files = in_private_net(|| {
        // Closes each connection 150 ms after accepting it: established, then closed.
        let (_closing, closing) =
            start_server(&["-m", "0", "-d", "20s", "-i", "0", "--close-after", "150ms"]);
        let run_out = run(&[
            "run",
            "127.0.0.1",
            &closing,
            "-c",
            "300",
            "-s",
            "1ms",
            "-i",
            "50ms",
            "-y",
            "--json",
        ]);
        assert_eq!(run_out.code, Some(2), "{run_out:?}");
        // Never accepts: backlog + 1 = 17 handshakes, then SYNs dropped and attempts time out.
        let (_stuck, stuck) = start_server(&[
            "-m",
            "0",
            "-d",
            "20s",
            "-i",
            "0",
            "--no-accept",
            "--backlog",
            "16",
        ]);
        let limit_out = run(&[
            "limit",
            "127.0.0.1",
            &stuck,
            "-c",
            "1000",
            "-r",
            "1000",
            "-t",
            "300ms",
            "-i",
            "50ms",
            "--json",
        ]);
        assert_eq!(limit_out.code, Some(0), "{limit_out:?}");
        (run_out.stdout, limit_out.stdout)
    });
    let Some((run_json, limit_json)) = files else {
        return;
    };

    // The JSON: ticks, then one summary with a timeline that adds up; the search's finding.
    let run_lines = json_lines(&run_json);
    assert!(run_lines.len() >= 3);
    assert_eq!(run_lines.last().unwrap()["type"], "summary");
    assert!(
        run_lines[..run_lines.len() - 1]
            .iter()
            .all(|l| l["type"] == "tick")
    );
    assert!(check_timeline(run_lines.last().unwrap()) >= 100);
    let limit_lines = json_lines(&limit_json);
    let limit_summary = limit_lines.last().unwrap();
    assert_eq!(limit_summary["type"], "summary");
    assert!(
        limit_lines[..limit_lines.len() - 1]
            .iter()
            .all(|l| l["type"] == "tick")
    );
    assert!(limit_lines.len() >= 3, "ticks every 50ms: {limit_json}");
    check_timeline(limit_summary);
    let limit = &limit_summary["limit"];
    assert_eq!(limit["finding"], "found", "{limit}");
    assert_eq!(limit["held"], 17, "{limit}");
    assert_eq!(limit["cause"], "timed out", "{limit}");
    let loss_us = limit["loss_us"].as_u64().unwrap();
    assert!((300_000..5_000_000).contains(&loss_us), "{limit}");
    assert_eq!(limit_summary["exit_status"], 0);

    let run_file = dir.join("run.jsonl");
    let limit_file = dir.join("limit.jsonl");
    std::fs::write(&run_file, &run_json).unwrap();
    std::fs::write(&limit_file, &limit_json).unwrap();
    let svg_file = dir.join("plot.svg");
    let out = run(&[
        "plot",
        run_file.to_str().unwrap(),
        limit_file.to_str().unwrap(),
        "-o",
        svg_file.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    let svg = std::fs::read_to_string(&svg_file).unwrap();
    check_self_contained(&svg);
    assert!(svg.contains("limit: 17 held"), "no limit label");
    assert!(svg.contains("(timed out)"));
    assert!(svg.contains("asked for 300"));

    let width = attribute(&svg, "<svg", "width") as u32;
    let height = attribute(&svg, "<svg", "height") as u32;
    let (w, h, rgba) = render(&svg_file, width, height);
    assert_eq!((w, h), (width, height));
    let image = Image { width: w, rgba };
    let everything = (0, 0, w, h);
    let white = image.count(everything, [255, 255, 255], 0);
    assert!(
        white < w * h * 9 / 10,
        "the picture is almost blank: {white} of {} pixels white",
        w * h
    );

    let established = hex("#009e73");
    let closed = hex("#cc79a7");
    let dialing = hex("#e69f00");
    let error = hex("#d55e00");
    let run_area = area(&svg, "timeline-0");
    let limit_area = area(&svg, "timeline-1");
    let latency_area = area(&svg, "latency");
    let run_pixels = (run_area.2 - run_area.0) * (run_area.3 - run_area.1);
    // The run: established and closed, each a real band; nothing failed, nothing dialing
    // long enough to show.
    assert!(image.count(run_area, established, 2) > run_pixels / 20);
    assert!(image.count(run_area, closed, 2) > run_pixels / 20);
    assert_eq!(
        image.count(run_area, error, 2),
        0,
        "errors drawn for a run without any"
    );
    // Established is the bottom band: it is there along the bottom of the area.
    let bottom_row = (run_area.0, run_area.3 - 3, run_area.2, run_area.3 - 1);
    assert!(image.count(bottom_row, established, 2) > (run_area.2 - run_area.0) / 2);
    // The search: 17 established, the rest dialing, then the attempts that timed out.
    assert!(image.count(limit_area, established, 2) > 0);
    assert!(image.count(limit_area, dialing, 2) > run_pixels / 20);
    assert!(image.count(limit_area, error, 2) > 0);
    assert_eq!(image.count(limit_area, closed, 2), 0);
    // The limit: a dashed black line across the area at the held count.
    let line_y = attribute(&svg, "id=\"limit-1\"", "y1").round() as u32;
    let dark = |(x0, x1): (u32, u32), y: u32| {
        (x0..x1)
            .filter(|x| image.pixel(*x, y).iter().all(|c| *c < 0x30))
            .count() as u32
    };
    let across = (limit_area.0, limit_area.2);
    let on_line = dark(across, line_y).max(dark(across, line_y - 1));
    assert!(
        on_line > (across.1 - across.0) * 2 / 5,
        "the limit line has {on_line} dark pixels at y {line_y}"
    );
    // The latency panel: each run's fill, in its own colour.
    let first = over_white(hex("#0072b2"), 0.35);
    let second = over_white(hex("#e69f00"), 0.35);
    assert!(
        image.count(latency_area, first, 4) > 50,
        "no fill of the run"
    );
    assert!(
        image.count(latency_area, second, 4) > 50,
        "no fill of the search"
    );
    // Nothing of the latency panel's fills in the timelines.
    assert_eq!(image.count(run_area, first, 4), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_summary_without_a_time_series_draws_the_latency_alone() {
    let dir = scratch("merged");
    let out = in_private_net(|| {
        let (_server, port) = start_server(&["-m", "0", "-d", "20s", "-i", "0"]);
        let quiet = run(&[
            "run",
            "127.0.0.1",
            &port,
            "-c",
            "50",
            "-s",
            "0",
            "-i",
            "0",
            "-y",
            "--json",
        ]);
        let ticking = run(&[
            "run",
            "127.0.0.1",
            &port,
            "-c",
            "50",
            "-s",
            "1ms",
            "-i",
            "20ms",
            "-y",
            "--json",
        ]);
        (quiet, ticking)
    });
    let Some((quiet, ticking)) = out else { return };
    assert_eq!(quiet.code, Some(0), "{quiet:?}");
    assert_eq!(ticking.code, Some(0), "{ticking:?}");
    // With -i 0 there is no tick, and the summary has the timeline all the same.
    let lines = json_lines(&quiet.stdout);
    assert_eq!(lines.len(), 1);
    check_timeline(&lines[0]);
    let lines = json_lines(&ticking.stdout);
    assert!(lines.len() >= 3, "{}", ticking.stdout);
    let last = lines.len() - 1;
    // As a tcpgoon from before timelines printed it: the summary alone, without one.
    let mut summary = lines[last].clone();
    summary.as_object_mut().unwrap().remove("timeline");
    let file = dir.join("merged.jsonl");
    std::fs::write(&file, format!("{summary}\n")).unwrap();
    let svg_file = dir.join("merged.svg");
    let plotted = run(&[
        "plot",
        file.to_str().unwrap(),
        "-o",
        svg_file.to_str().unwrap(),
    ]);
    assert_eq!(plotted.code, Some(0), "{plotted:?}");
    let svg = std::fs::read_to_string(&svg_file).unwrap();
    check_self_contained(&svg);
    assert!(!svg.contains("id=\"timeline-0\""));
    assert!(svg.contains("No time series in this summary"));
    assert!(svg.contains("id=\"latency\""));
    assert!(svg.contains("50 connections, p50"), "{svg}");
    // And from stdin, with the ticks but no timeline: the ticks make the time series.
    let mut with_ticks = String::new();
    for tick in &lines[..last] {
        assert_eq!(tick["type"], "tick");
        with_ticks.push_str(&format!("{tick}\n"));
    }
    with_ticks.push_str(&summary.to_string());
    let piped = common::run_with_input(
        &["plot", "-", "-o", svg_file.to_str().unwrap()],
        &with_ticks,
    );
    assert_eq!(piped.code, Some(0), "{piped:?}");
    let svg = std::fs::read_to_string(&svg_file).unwrap();
    assert!(svg.contains("id=\"timeline-0\""));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_merge_of_shards_is_drawn_with_its_time_series() {
    let dir = scratch("merge-series");
    let shards = in_private_net(|| {
        let (_server, port) = start_server(&["-m", "0", "-d", "20s", "-i", "0"]);
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            + Duration::from_millis(1500);
        let start = format!("@{}.{:06}", at.as_secs(), at.subsec_micros());
        let started = Instant::now();
        let guards: Vec<Guard> = (0..2)
            .map(|i| {
                common::spawn(&args!(
                    "run 127.0.0.1 {port} -c 200 -s 1ms -i 0 -y --json --shard {i}/2 \
                     --start-at {start}"
                ))
            })
            .collect();
        guards
            .into_iter()
            .map(|g| common::finish(g, started, Duration::from_secs(20)))
            .collect::<Vec<_>>()
    });
    let Some(shards) = shards else { return };
    let mut files = Vec::new();
    for (i, out) in shards.iter().enumerate() {
        assert_eq!(out.code, Some(0), "{out:?}");
        let file = dir.join(format!("shard{i}.jsonl"));
        std::fs::write(&file, &out.stdout).unwrap();
        files.push(file.to_str().unwrap().to_string());
    }
    let mut args = vec!["merge", "--json"];
    args.extend(files.iter().map(String::as_str));
    let merged = run(&args);
    assert_eq!(merged.code, Some(0), "{merged:?}");
    let lines = json_lines(&merged.stdout);
    assert_eq!(lines.len(), 1, "{}", merged.stdout);
    assert_eq!(lines[0]["counts"]["established"], 200);
    check_timeline(&lines[0]);
    let file = dir.join("merged.jsonl");
    std::fs::write(&file, &merged.stdout).unwrap();
    let svg_file = dir.join("merged.svg");
    let plotted = run(&args!("plot -o"; svg_file.to_str().unwrap(), file.to_str().unwrap()));
    assert_eq!(plotted.code, Some(0), "{plotted:?}");
    let svg = std::fs::read_to_string(&svg_file).unwrap();
    check_self_contained(&svg);
    assert!(svg.contains("id=\"timeline-0\""), "{svg}");
    assert!(!svg.contains("No time series"), "{svg}");
    assert!(svg.contains("asked for 200"), "{svg}");
    // Drawn: the established band fills the panel along its bottom.
    let width = attribute(&svg, "<svg", "width") as u32;
    let height = attribute(&svg, "<svg", "height") as u32;
    let (w, h, rgba) = render(&svg_file, width, height);
    let image = Image { width: w, rgba };
    assert_eq!((w, h), (width, height));
    let panel = area(&svg, "timeline-0");
    let established = hex("#009e73");
    let pixels = (panel.2 - panel.0) * (panel.3 - panel.1);
    assert!(image.count(panel, established, 2) > pixels / 4);
    let bottom_row = (panel.0, panel.3 - 3, panel.2, panel.3 - 1);
    assert!(image.count(bottom_row, established, 2) > (panel.2 - panel.0) / 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_is_one_line_and_exit_64() {
    let dir = scratch("bad");
    let good_out = dir.join("out.svg");
    let out = good_out.to_str().unwrap();
    let not_json = dir.join("report.txt");
    std::fs::write(&not_json, "Total: 5, Dialing: 0, Established: 5\n").unwrap();
    let ticks_only = dir.join("ticks.jsonl");
    std::fs::write(
        &ticks_only,
        "{\"type\":\"tick\",\"version\":1,\"elapsed_us\":5,\"counts\":{\"total\":1,\"not_initiated\":1,\"dialing\":0,\"established\":0,\"closed\":0,\"error\":0}}\n",
    )
    .unwrap();
    let bad_histogram = dir.join("bad.jsonl");
    std::fs::write(
        &bad_histogram,
        "{\"type\":\"summary\",\"counts\":{\"total\":1,\"not_initiated\":0,\"dialing\":0,\"established\":1,\"closed\":0,\"error\":0},\"connect_latency_us\":{\"count\":1,\"histogram\":\"bm90IGEgaGlzdG9ncmFt\"}}\n",
    )
    .unwrap();
    let empty = dir.join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["plot", not_json.to_str().unwrap(), "-o", out],
            "report.txt:1: not the JSON Lines",
        ),
        (
            vec!["plot", ticks_only.to_str().unwrap(), "-o", out],
            "no summary",
        ),
        (vec!["plot", empty.to_str().unwrap(), "-o", out], "empty"),
        (
            vec!["plot", bad_histogram.to_str().unwrap(), "-o", out],
            "not an HdrHistogram",
        ),
        (
            vec!["plot", "/nonexistent/run.jsonl", "-o", out],
            "cannot read /nonexistent/run.jsonl",
        ),
        (vec!["plot", ticks_only.to_str().unwrap()], "plot needs -o"),
        (vec!["plot", "-o", out], "at least one FILE"),
        (
            vec!["plot", "x.jsonl", "-o", out, "--bogus"],
            "unknown option '--bogus'",
        ),
        (vec!["plot", "x.jsonl", "-o"], "--output needs a value"),
    ];
    for (args, says) in cases {
        let bad = run_bad_input(&args);
        assert!(bad.stderr.contains(says), "{args:?}: {}", bad.stderr);
        assert!(!good_out.exists(), "{args:?} wrote the picture");
    }
    // An -o that cannot be created, with good input.
    let good = dir.join("good.jsonl");
    std::fs::write(
        &good,
        "{\"type\":\"summary\",\"counts\":{\"total\":1,\"not_initiated\":0,\"dialing\":0,\"established\":1,\"closed\":0,\"error\":0}}\n",
    )
    .unwrap();
    let bad = run_bad_input(&[
        "plot",
        good.to_str().unwrap(),
        "-o",
        "/nonexistent/dir/out.svg",
    ]);
    assert!(
        bad.stderr
            .contains("cannot create -o /nonexistent/dir/out.svg"),
        "{}",
        bad.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_plot_is_the_plot_help_and_fits_80_columns() {
    for args in [
        &["help", "plot"][..],
        &["plot", "--help"][..],
        &["plot", "-h"][..],
    ] {
        let out = run(args);
        assert_eq!(out.code, Some(0));
        assert!(
            out.stdout
                .contains("tcpgoon plot [OPTIONS] FILE... -o OUT.svg"),
            "{}",
            out.stdout
        );
        for line in out.stdout.lines() {
            assert!(line.chars().count() <= 80, "too wide: {line}");
        }
    }
}

#[test]
fn a_heartbeat_run_draws_its_beat_latency_rising_as_connections_pile_up() {
    let dir = scratch("beats");
    // Each echo waits 1 ms for every connection open past 20: the beats slow as the run
    // opens its 200.
    let (_server, port) = start_server(&[
        "-m",
        "0",
        "-d",
        "60s",
        "-i",
        "0",
        "--echo",
        "--slow-after",
        "20",
        "--slow-by",
        "1ms",
    ]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 200 -s 5ms -i 0 -y --json --expect ping --heartbeat 100ms \
         --hold 1s --send";
        "ping\\n"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    let summary = json_lines(&out.stdout).pop().unwrap();
    let columns = summary["timeline"]["columns"].to_string();
    assert!(columns.contains("\"beat_p99_us\""), "{columns}");
    let file = dir.join("beats.jsonl");
    std::fs::write(&file, &out.stdout).unwrap();
    let svg_file = dir.join("beats.svg");
    let plotted = run(&args!("plot -o"; svg_file.to_str().unwrap(), file.to_str().unwrap()));
    assert_eq!(plotted.code, Some(0), "{plotted:?}");
    let svg = std::fs::read_to_string(&svg_file).unwrap();
    check_self_contained(&svg);
    assert!(svg.contains("beat p99 (right axis)"), "{svg}");
    assert!(svg.contains("id=\"beat-p99\""), "{svg}");
    let width = attribute(&svg, "<svg", "width") as u32;
    let height = attribute(&svg, "<svg", "height") as u32;
    let (w, h, rgba) = render(&svg_file, width, height);
    assert_eq!((w, h), (width, height));
    let image = Image { width: w, rgba };
    let panel = area(&svg, "timeline-0");
    let beat = hex("#f0e442");
    // The curve, 3 px wide, across most of the run.
    let (x0, y0, x1, y1) = panel;
    assert!(
        image.count(panel, beat, 8) > (x1 - x0) / 2 * 3,
        "{} beat pixels",
        image.count(panel, beat, 8)
    );
    // Low where the first beats were answered, high by the end: the axis reaches the
    // run's highest p99, so the curve climbs into the top fifth of the panel, and it
    // starts in the bottom fifth.
    let fifth = (y1 - y0) / 5;
    let left_third = x0 + (x1 - x0) / 3;
    let right_half = x0 + (x1 - x0) / 2;
    assert!(image.count((x0, y1 - fifth, left_third, y1), beat, 8) > 10);
    assert!(image.count((right_half, y0, x1, y0 + fifth), beat, 8) > 10);
    assert_eq!(image.count((x0, y0, left_third, y0 + fifth), beat, 8), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_output_that_is_an_input_a_device_a_fifo_or_stdout() {
    let dir = scratch("outputs");
    let good = dir.join("good.jsonl");
    let summary = "{\"type\":\"summary\",\"counts\":{\"total\":1,\"not_initiated\":0,\"dialing\":0,\"established\":1,\"closed\":0,\"error\":0}}\n";
    std::fs::write(&good, summary).unwrap();
    let input = good.to_str().unwrap();
    // The input as the output, by its name and through a link: refused, the input intact.
    let link = dir.join("link.jsonl");
    std::fs::hard_link(&good, &link).unwrap();
    for out in [input, link.to_str().unwrap()] {
        let bad = run_bad_input(&["plot", input, "-o", out]);
        assert!(bad.stderr.contains("is also an input"), "{}", bad.stderr);
        assert_eq!(std::fs::read_to_string(&good).unwrap(), summary);
    }
    // Devices and pipes cannot be synced: a good write to them is a success.
    let null = run(&["plot", input, "-o", "/dev/null"]);
    assert_eq!(null.code, Some(0), "{null:?}");
    let piped = run(&["plot", input, "-o", "/dev/stdout"]);
    assert_eq!(piped.code, Some(0), "{piped:?}");
    assert!(piped.stdout.starts_with("<svg"), "{}", piped.stdout);
    // `-o -` is stdout, not a file called `-`.
    let dash = Command::new(common::BIN)
        .args(["plot", input, "-o", "-"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(dash.status.code(), Some(0), "{dash:?}");
    assert!(String::from_utf8_lossy(&dash.stdout).starts_with("<svg"));
    assert!(!dir.join("-").exists());
    // A FIFO with no reader is refused at once, as --summary refuses one.
    let fifo = dir.join("fifo.svg");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let out = common::finish(
        common::spawn(&["plot", input, "-o", fifo.to_str().unwrap()]),
        Instant::now(),
        Duration::from_secs(10),
    );
    assert_eq!(out.code, Some(64), "{out:?}");
    let stderr = out.stderr;
    assert!(stderr.contains("a FIFO with no reader"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
