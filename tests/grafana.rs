//! deploy/grafana: the dashboard and its provisioning. The dashboard's JSON is type-checked
//! with `tsc` against the dashboard types Grafana publishes (npm `@grafana/schema`, which
//! ships TypeScript types and no JSON schema), and a copy broken on purpose must fail that
//! check. Every query in it runs against a real Prometheus (Debian's `prometheus`, scraping
//! a run every 100 ms) through its HTTP API, and must return data.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{Guard, TempDir, args, finish, installed, spawn, start_server, wait_for};
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana");

/// Where .ci/run installs `@grafana/schema` and `typescript` (npm, pinned versions).
const NPM_PREFIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/grafana-schema");

fn dashboard() -> Value {
    let path = format!("{DEPLOY}/dashboards/tcpgoon.json");
    let text = std::fs::read_to_string(&path).expect("read the dashboard");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

fn panels(dashboard: &Value) -> &Vec<Value> {
    dashboard["panels"].as_array().expect("panels")
}

fn yaml(file: &str) -> Yaml {
    let text = std::fs::read_to_string(format!("{DEPLOY}/{file}")).expect("read the YAML");
    let mut docs = YamlLoader::load_from_str(&text).expect("YAML");
    assert_eq!(docs.len(), 1, "{file} holds one document");
    docs.remove(0)
}

/// The module each panel type's options and field config are typed in, in `@grafana/schema`.
fn panel_types(panel_type: &str) -> &'static str {
    match panel_type {
        "timeseries" => "timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen",
        "stat" => "stat/panelcfg/x/StatPanelCfg_types.gen",
        other => panic!("a panel of type {other}: add its types to tests/grafana.rs"),
    }
}

/// The dashboard as TypeScript: each part an object literal typed with Grafana's own type,
/// so that tsc reports a field the type does not have (an excess property) as well as a
/// value of the wrong type. The dashboard is typed as `Dashboard`; a panel's `options` and
/// `fieldConfig.defaults.custom`, which `Dashboard` leaves as records, with its panel
/// plugin's `Options` and `FieldConfig`. `Json<T>` is `T` as JSON spells it: the schema's
/// string enums (`LegendDisplayMode.List`) are their string values (`"list"`); nothing else
/// changes.
fn as_typescript(dashboard: &Value) -> String {
    let mut ts = String::from(
        "import type { Dashboard } from '@grafana/schema';\n\
         type Json<T> = T extends string ? `${T}`\n\
         \x20 : T extends number | boolean | null | undefined ? T\n\
         \x20 : T extends ReadonlyArray<infer U> ? Array<Json<U>>\n\
         \x20 : T extends object ? { [K in keyof T]: Json<T[K]> }\n\
         \x20 : T;\n",
    );
    let mut imported = Vec::new();
    for panel in panels(dashboard) {
        let kind = panel["type"].as_str().expect("a panel's type");
        if !imported.contains(&kind) {
            ts += &format!(
                "import type * as {kind} from '@grafana/schema/dist/esm/raw/composable/{}';\n",
                panel_types(kind)
            );
            imported.push(kind);
        }
    }
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap();
    ts += &format!(
        "export const dashboard: Json<Dashboard> = {};\n",
        pretty(dashboard)
    );
    for (i, panel) in panels(dashboard).iter().enumerate() {
        let kind = panel["type"].as_str().unwrap();
        let options = &panel["options"];
        ts += &format!(
            "export const options{i}: Json<{kind}.Options> = {};\n",
            pretty(options)
        );
        let custom = &panel["fieldConfig"]["defaults"]["custom"];
        if !custom.is_null() {
            ts += &format!(
                "export const custom{i}: Json<{kind}.FieldConfig> = {};\n",
                pretty(custom)
            );
        }
    }
    ts
}

/// The tsc .ci/run installed, or `None` when it is not there (under CI its absence fails the
/// test).
fn tsc() -> Option<PathBuf> {
    let tsc = Path::new(NPM_PREFIX).join("node_modules/.bin/tsc");
    let schema = Path::new(NPM_PREFIX).join("node_modules/@grafana/schema/package.json");
    let found = installed("node") && tsc.exists() && schema.exists();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "no tsc and @grafana/schema in {NPM_PREFIX}; .ci/run installs them"
        );
        eprintln!("skipped: no tsc and @grafana/schema in {NPM_PREFIX} (.ci/run installs them)");
        return None;
    }
    Some(tsc)
}

/// tsc's verdict on `dashboard`: `Ok` when it type-checks, else tsc's errors. The check runs
/// in a directory of its own under the npm prefix, where `@grafana/schema` resolves.
fn type_check(tsc: &Path, name: &str, dashboard: &Value) -> Result<(), String> {
    let dir = Path::new(NPM_PREFIX).join(format!("check-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("dashboard.ts"), as_typescript(dashboard)).unwrap();
    let config = r#"{
  "compilerOptions": {
    "strict": true, "noEmit": true, "skipLibCheck": true, "types": [],
    "target": "es2022", "module": "esnext", "moduleResolution": "bundler"
  },
  "files": ["dashboard.ts"]
}
"#;
    std::fs::write(dir.join("tsconfig.json"), config).unwrap();
    let out = Command::new(tsc)
        .arg("-p")
        .arg(dir.join("tsconfig.json"))
        .stdin(Stdio::null())
        .output()
        .expect("run tsc");
    let _ = std::fs::remove_dir_all(&dir);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        assert!(said.trim().is_empty(), "tsc passed but said: {said}");
        Ok(())
    } else {
        // A tsc that did not get as far as the types (a bad config, a module not found)
        // must not pass for a check that found the broken field.
        assert!(!said.contains("TS2307"), "tsc found no module: {said}");
        assert!(
            said.contains("error TS"),
            "tsc failed without an error: {said}"
        );
        Err(said)
    }
}

#[test]
fn the_dashboard_type_checks_against_grafana_s_published_schema_and_a_broken_copy_does_not() {
    let Some(tsc) = tsc() else { return };
    let good = dashboard();
    if let Err(errors) = type_check(&tsc, "good", &good) {
        panic!("the dashboard does not type-check:\n{errors}");
    }
    // A misspelled field of a panel.
    let mut misspelled = good.clone();
    let panel = misspelled["panels"][0].as_object_mut().unwrap();
    let grid = panel.remove("gridPos").unwrap();
    panel.insert("gridPoss".into(), grid);
    let errors = type_check(&tsc, "misspelled", &misspelled).expect_err("gridPoss passed");
    assert!(errors.contains("'\"gridPoss\"' does not exist"), "{errors}");
    // A value of the wrong type at the top.
    let mut wrong_type = good.clone();
    wrong_type["schemaVersion"] = Value::from("41");
    let errors = type_check(&tsc, "wrong-type", &wrong_type).expect_err("a string version");
    assert!(
        errors.contains("not assignable to type 'number'"),
        "{errors}"
    );
    // A value no panel plugin's enum has, deep in a panel's options.
    let mut wrong_value = good.clone();
    wrong_value["panels"][4]["options"]["legend"]["displayMode"] = Value::from("lists");
    let errors = type_check(&tsc, "wrong-value", &wrong_value).expect_err("lists passed");
    assert!(errors.contains("'\"lists\"' is not assignable"), "{errors}");
    // A field a panel's field config does not have.
    let mut wrong_custom = good;
    wrong_custom["panels"][4]["fieldConfig"]["defaults"]["custom"]["lineWidht"] = Value::from(1);
    let errors = type_check(&tsc, "wrong-custom", &wrong_custom).expect_err("lineWidht");
    assert!(errors.contains("lineWidht"), "{errors}");
}

/// Each query's data source: the dashboard's `datasource` variable, never a fixed uid.
fn is_the_variable(datasource: &Value) -> bool {
    datasource["type"] == "prometheus" && datasource["uid"] == "${datasource}"
}

#[test]
fn the_dashboard_asks_for_any_prometheus_and_its_provisioning_finds_it() {
    let dashboard = dashboard();
    assert_eq!(dashboard["uid"], "tcpgoon");
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    let names: Vec<&str> = variables
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(names, ["datasource", "job", "instance", "target"]);
    assert_eq!(variables[0]["type"], "datasource");
    assert_eq!(variables[0]["query"], "prometheus");
    for variable in &variables[1..] {
        assert!(is_the_variable(&variable["datasource"]), "{variable}");
    }
    let mut ids = Vec::new();
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().expect("a title");
        assert!(is_the_variable(&panel["datasource"]), "{title}");
        assert!(panel["description"].as_str().is_some(), "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}");
        for target in targets {
            assert!(is_the_variable(&target["datasource"]), "{title}");
            let expr = target["expr"].as_str().expect("an expr");
            // Every series is filtered by the three variables.
            for variable in ["$job", "$instance", "$target"] {
                assert!(expr.contains(variable), "{title}: {expr}");
            }
        }
        let grid = &panel["gridPos"];
        let (x, w) = (grid["x"].as_u64().unwrap(), grid["w"].as_u64().unwrap());
        assert!(x + w <= 24, "{title} is wider than the dashboard");
        ids.push(panel["id"].as_u64().expect("an id"));
    }
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "panel ids are unique");

    // The provider reads a directory of JSON files; the data source is a Prometheus.
    let provider = &yaml("provisioning/dashboards/tcpgoon.yaml");
    assert_eq!(provider["apiVersion"].as_i64(), Some(1));
    let provider = &provider["providers"][0];
    assert_eq!(provider["type"].as_str(), Some("file"));
    assert!(
        provider["options"]["path"].as_str().is_some(),
        "{provider:?}"
    );
    let source = &yaml("provisioning/datasources/prometheus.yaml");
    assert_eq!(source["apiVersion"].as_i64(), Some(1));
    assert_eq!(
        source["datasources"][0]["type"].as_str(),
        Some("prometheus")
    );
}

/// A loopback port nothing listens on now (the tests run in a namespace of their own).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 GET to 127.0.0.1:`port`, read to its end: (status line, body); `None` when
/// nothing listens or the answer is not whole.
fn http_get(port: u16, path: &str) -> Option<(String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.lines().next()?.to_string();
    Some((status, body.to_string()))
}

/// `text` for a URL's query string: everything but the unreserved characters escaped.
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Prometheus API answer's JSON (the body's one line that begins with `{`, chunked or not).
fn api(port: u16, path: &str) -> Value {
    let Some((_, body)) = http_get(port, path) else {
        return Value::Null;
    };
    let json = body.lines().find(|l| l.starts_with('{')).unwrap_or("null");
    serde_json::from_str(json).unwrap_or(Value::Null)
}

/// An instant query's result, or `None` when Prometheus did not answer `success`.
fn instant_query(port: u16, query: &str) -> Option<Vec<Value>> {
    let answer = api(
        port,
        &format!("/api/v1/query?query={}", percent_encoded(query)),
    );
    if answer["status"] != "success" {
        return None;
    }
    answer["data"]["result"].as_array().cloned()
}

/// The dashboard's variables and Grafana's macros, as Grafana would fill them in for the
/// run: `$__rate_interval` at least four scrape intervals (100 ms here), so every rate has
/// samples to work with.
fn substituted(expr: &str, job: &str, instance: &str, target: &str) -> String {
    expr.replace("$__rate_interval", "1s")
        .replace("$__interval", "1s")
        .replace("$__range", "1m")
        .replace("$job", job)
        .replace("$instance", instance)
        .replace("$target", target)
}

/// Debian's Prometheus scraping 127.0.0.1:`metrics` every 100 ms, its config and storage in
/// `dir`, its API on the returned port once it lists that target.
fn prometheus(dir: &TempDir, metrics: u16) -> (Guard, u16) {
    let web = free_port();
    let config = format!(
        "global:\n  scrape_interval: 100ms\n  scrape_timeout: 100ms\n\
         scrape_configs:\n  - job_name: tcpgoon\n    static_configs:\n      - targets: ['127.0.0.1:{metrics}']\n"
    );
    std::fs::write(dir.path("prometheus.yml"), config).unwrap();
    let guard = Guard(
        Command::new("prometheus")
            .arg(format!("--config.file={}", dir.path("prometheus.yml")))
            .arg(format!("--storage.tsdb.path={}", dir.path("data")))
            .arg(format!("--web.listen-address=127.0.0.1:{web}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    wait_for("prometheus to be ready", || {
        http_get(web, "/-/ready").is_some_and(|(status, _)| status.contains(" 200 "))
    });
    wait_for("prometheus to list its target", || {
        http_get(web, "/api/v1/targets")
            .is_some_and(|(_, body)| body.contains(&format!("127.0.0.1:{metrics}")))
    });
    (guard, web)
}

#[test]
fn every_query_in_the_dashboard_returns_data_from_a_real_prometheus() {
    if !installed("prometheus") {
        return;
    }
    let dashboard = dashboard();
    let dir = TempDir::new("grafana-prometheus");
    let metrics = free_port();
    let (_prometheus, web) = prometheus(&dir, metrics);
    let (_server, port) = start_server(&["-m", "0", "-d", "60s", "-i", "0", "--echo"]);
    let started = Instant::now();
    // Paced over 4 s, so the queries run while attempts are made and beats answered.
    let guard = spawn(&args!(
        "run 127.0.0.1 {port} -c 40 -s 100ms -y -i 0 --expect ping --heartbeat 100ms --hold 4s --metrics 127.0.0.1:{metrics} --metrics-linger 2s --send";
        "ping\\n"
    ));
    let (job, instance, target) = (
        "tcpgoon",
        format!("127.0.0.1:{metrics}"),
        format!("127.0.0.1:{port}"),
    );
    let fill = |expr: &str| substituted(expr, job, &instance, &target);
    // Ready when Prometheus has held connections and a beat p99 to show.
    let held = fill(r#"sum(tcpgoon_connections{state="established", target=~"$target"})"#);
    let p99 = fill(
        "histogram_quantile(0.99, sum by (le) (rate(tcpgoon_beat_latency_seconds_bucket[$__rate_interval])))",
    );
    let number = |r: &Option<Vec<Value>>| {
        let value = r.as_ref()?.first()?["value"][1]
            .as_str()?
            .parse::<f64>()
            .ok();
        value.filter(|v| v.is_finite())
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = number(&instant_query(web, &held)).is_some_and(|n| n >= 10.0)
            && number(&instant_query(web, &p99)).is_some();
        if ready {
            break;
        }
        if Instant::now() > deadline {
            let out = finish(guard, started, Duration::from_secs(30));
            panic!("prometheus never had the run's held count and beat p99\n{out:?}");
        }
        thread::sleep(Duration::from_millis(50));
    }
    let mut empty = Vec::new();
    let mut asked = 0;
    for panel in panels(&dashboard) {
        for query in panel["targets"].as_array().unwrap() {
            let expr = fill(query["expr"].as_str().unwrap());
            asked += 1;
            match instant_query(web, &expr) {
                Some(result) if !result.is_empty() => {}
                result => empty.push(format!("{}: {expr}: {result:?}", panel["title"])),
            }
        }
    }
    // The variables' label_values(metric, label) is Prometheus' label values API.
    for variable in &dashboard["templating"]["list"].as_array().unwrap()[1..] {
        let query = variable["query"]["query"]
            .as_str()
            .expect("a variable query");
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .expect("label_values(metric, label)");
        let (series, label) = inner.rsplit_once(", ").unwrap();
        let path = format!(
            "/api/v1/label/{label}/values?match[]={}",
            percent_encoded(&fill(series))
        );
        let answer = api(web, &path);
        let wanted = match label {
            "job" => job,
            "instance" => &instance,
            _ => &target,
        };
        let values = answer["data"].as_array().cloned().unwrap_or_default();
        if !values.iter().any(|v| v == wanted) {
            empty.push(format!("{query}: {answer}"));
        }
    }
    let out = finish(guard, started, Duration::from_secs(30));
    assert!(asked >= 15, "{asked} queries");
    assert!(
        empty.is_empty(),
        "queries without data:\n{}",
        empty.join("\n")
    );
    assert_eq!(out.code, Some(0), "{out:?}");
}
