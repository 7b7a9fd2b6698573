//! deploy/kubernetes/job.yaml is what a cluster runs. These tests read it as the Job
//! controller and the kubelet would, and run its command line through the real binary, pod
//! by pod, against the built-in server on loopback; then they merge the pods' output as
//! docs' recipe does (`tcpgoon merge -`) and check what the Job's podFailurePolicy does
//! with each exit status the pods really give. `kubernetes-validate --strict` (in .ci/run)
//! checks the fields and their types; it does not check values (it takes
//! `restartPolicy: Sometimes`), which is what the first tests here do.
//!
//! The last three need `run --shard`, `run --start-at` and `tcpgoon merge` (branch shards,
//! issue #14): until those are merged they fail, on `unknown option '--shard'`.

mod common;

use common::*;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use yaml_rust2::{Yaml, YamlLoader};

const MANIFEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/kubernetes/job.yaml");

fn job() -> Yaml {
    let text = std::fs::read_to_string(MANIFEST).expect("read deploy/kubernetes/job.yaml");
    let mut docs = YamlLoader::load_from_str(&text).expect("job.yaml is YAML");
    assert_eq!(docs.len(), 1, "job.yaml holds one object");
    docs.remove(0)
}

fn str_at<'a>(node: &'a Yaml, what: &str) -> &'a str {
    node.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {node:?}"))
}

fn int_at(node: &Yaml, what: &str) -> i64 {
    node.as_i64()
        .unwrap_or_else(|| panic!("{what} is not an integer: {node:?}"))
}

fn list_at<'a>(node: &'a Yaml, what: &str) -> &'a Vec<Yaml> {
    node.as_vec()
        .unwrap_or_else(|| panic!("{what} is not a list: {node:?}"))
}

/// The one container of the pod template.
fn container(job: &Yaml) -> &Yaml {
    let containers = list_at(&job["spec"]["template"]["spec"]["containers"], "containers");
    assert_eq!(containers.len(), 1, "one container: {containers:?}");
    &containers[0]
}

fn args(job: &Yaml) -> Vec<&str> {
    list_at(&container(job)["args"], "args")
        .iter()
        .map(|a| str_at(a, "an arg"))
        .collect()
}

/// N, as the pods' `--shard $(JOB_COMPLETION_INDEX)/N` says it.
fn shards_in_args(job: &Yaml) -> i64 {
    let args = args(job);
    let at = args
        .iter()
        .position(|a| *a == "--shard")
        .expect("args have --shard");
    let value = args.get(at + 1).expect("--shard has a value");
    let n = value
        .strip_prefix("$(JOB_COMPLETION_INDEX)/")
        .unwrap_or_else(|| panic!("--shard {value}: not $(JOB_COMPLETION_INDEX)/N"));
    n.parse().unwrap_or_else(|_| panic!("--shard {value}: N"))
}

/// Pod `index`'s command line, with every `$(VAR)` expanded as the kubelet expands it:
/// from the container's env, where `set` overrides values as `kubectl set env` does, and
/// JOB_COMPLETION_INDEX, which the Job controller adds to every pod of an Indexed Job. A
/// reference to a variable that is not defined would reach tcpgoon verbatim: a mistake in
/// the manifest, so it fails the test.
fn pod_args(job: &Yaml, index: i64, set: &[(&str, &str)]) -> Vec<String> {
    let mut env: Vec<(String, String)> = list_at(&container(job)["env"], "env")
        .iter()
        .map(|e| {
            let name = str_at(&e["name"], "an env name").to_string();
            let value = str_at(&e["value"], "an env value").to_string();
            (name, value)
        })
        .collect();
    for (name, value) in set {
        let entry = env
            .iter_mut()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("the manifest has no env {name} to set"));
        entry.1 = value.to_string();
    }
    env.push(("JOB_COMPLETION_INDEX".into(), index.to_string()));
    args(job)
        .iter()
        .map(|arg| {
            let mut out = String::new();
            let mut rest = *arg;
            while let Some(at) = rest.find("$(") {
                out.push_str(&rest[..at]);
                let end = rest[at..].find(')').expect("$( closed") + at;
                let name = &rest[at + 2..end];
                let (_, value) = env
                    .iter()
                    .find(|(n, _)| n == name)
                    .unwrap_or_else(|| panic!("{arg}: no env {name} for $({name})"));
                out.push_str(value);
                rest = &rest[end + 1..];
            }
            out.push_str(rest);
            out
        })
        .collect()
}

/// What the Job's podFailurePolicy does with a pod whose container exited with `code`: the
/// action of the first rule that matches, as the Job controller reads them; None when no
/// rule matches (the failure then counts against backoffLimitPerIndex).
fn action_for(job: &Yaml, code: i64) -> Option<String> {
    let name = str_at(&container(job)["name"], "the container's name");
    let rules = list_at(&job["spec"]["podFailurePolicy"]["rules"], "rules");
    for rule in rules {
        let action = str_at(&rule["action"], "an action");
        assert!(
            ["FailJob", "FailIndex", "Ignore", "Count"].contains(&action),
            "not an action of podFailurePolicy: {action}"
        );
        let on = &rule["onExitCodes"];
        if on.is_badvalue() {
            continue; // an onPodConditions rule: no exit code matches it
        }
        if let Some(container) = on["containerName"].as_str() {
            assert_eq!(container, name, "a rule names a container the pod lacks");
        }
        let values: Vec<i64> = list_at(&on["values"], "values")
            .iter()
            .map(|v| int_at(v, "an exit code"))
            .collect();
        let matches = match str_at(&on["operator"], "operator") {
            "In" => values.contains(&code),
            "NotIn" => !values.contains(&code),
            other => panic!("not an operator of onExitCodes: {other}"),
        };
        if matches {
            return Some(action.to_string());
        }
    }
    None
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn the_job_is_indexed_with_one_pod_per_shard_and_never_retries() {
    let job = job();
    assert_eq!(str_at(&job["apiVersion"], "apiVersion"), "batch/v1");
    assert_eq!(str_at(&job["kind"], "kind"), "Job");
    let spec = &job["spec"];
    assert_eq!(str_at(&spec["completionMode"], "completionMode"), "Indexed");
    let n = shards_in_args(&job);
    assert!(n >= 2, "--shard .../{n}");
    assert_eq!(int_at(&spec["completions"], "completions"), n);
    assert_eq!(int_at(&spec["parallelism"], "parallelism"), n);
    // A retry would start after --start-at: no shard is run twice.
    assert_eq!(
        int_at(&spec["backoffLimitPerIndex"], "backoffLimitPerIndex"),
        0
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(str_at(&pod["restartPolicy"], "restartPolicy"), "Never");
    let args = args(&job);
    assert_eq!(args[0], "run");
    for flag in ["--json", "--start-at", "--assume-yes"] {
        assert!(args.contains(&flag), "args lack {flag}: {args:?}");
    }
    // scripts/image tags the image with the crate's version.
    let image = str_at(&container(&job)["image"], "image");
    assert!(
        image.ends_with(&format!("/tcpgoon:{}", env!("CARGO_PKG_VERSION"))),
        "{image}: not the tag scripts/image gives"
    );
}

#[test]
fn the_failure_policy_fails_the_job_on_bad_input_and_retries_no_shard() {
    let job = job();
    assert_eq!(action_for(&job, 64).as_deref(), Some("FailJob"));
    for code in [1, 2, 3] {
        assert_eq!(
            action_for(&job, code).as_deref(),
            Some("FailIndex"),
            "{code}"
        );
    }
    // Killed for memory (137), or a crash: no rule, so backoffLimitPerIndex (0) fails the
    // index; no rule may Ignore it, which would start a replacement after --start-at.
    assert_eq!(action_for(&job, 137), None);
}

#[test]
fn every_flag_of_the_job_is_a_flag_of_tcpgoon_run() {
    let help = run(&["run", "--help"]);
    assert_eq!(help.code, Some(0), "{help:?}");
    let job = job();
    for flag in args(&job).into_iter().filter(|a| a.starts_with('-')) {
        let listed = help.stdout.lines().any(|line| {
            line.split(|c: char| c.is_whitespace() || c == ',')
                .any(|word| word == flag)
        });
        assert!(
            listed,
            "`tcpgoon run --help` lists no {flag}:\n{}",
            help.stdout
        );
    }
}

/// The pods' command lines, each of them run as its pod would run it with a target and a
/// start time set, make one run; `tcpgoon merge -` of their concatenated output (what
/// `kubectl logs` of each pod gives) reports it whole. Then a pod started again, after the
/// start time, as a retry would be: exit 64, which fails the whole Job.
#[test]
fn the_pods_make_one_run_that_merges_whole_and_a_late_pod_fails_the_job() {
    let job = job();
    let n = shards_in_args(&job);
    let (_server, port) = start_server(&["-m", "0", "-d", "30s", "-i", "0"]);
    let start_at = format!("@{}", unix_now() + 2);
    let set = [
        ("TARGET_HOST", "127.0.0.1"),
        ("TARGET_PORT", port.as_str()),
        ("START_AT", start_at.as_str()),
    ];
    // The manifest's own size, 30000 connections held for a minute, is a cluster's; here
    // the last value given counts, as for every option.
    let smaller = ["-c", "30", "-s", "1ms", "--hold", "100ms"];
    let started = Instant::now();
    let pods: Vec<Guard> = (0..n)
        .map(|index| {
            let mut args = pod_args(&job, index, &set);
            args.extend(smaller.iter().map(|a| a.to_string()));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            spawn(&args)
        })
        .collect();
    let mut logs = String::new();
    for (index, pod) in pods.into_iter().enumerate() {
        let out = finish(pod, started, Duration::from_secs(30));
        assert_eq!(out.code, Some(0), "shard {index}/{n}: {out:?}");
        assert_eq!(out.stderr, "", "shard {index}: its log must stay JSON");
        let summaries = out
            .stdout
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).expect(line))
            .filter(|value| value["type"] == "summary")
            .count();
        assert_eq!(summaries, 1, "shard {index}: {}", out.stdout);
        logs.push_str(&out.stdout);
    }
    let merged = run_with_input(&["merge", "-"], &logs);
    assert_eq!(merged.code, Some(0), "{merged:?}");
    let counts = merged.final_counts();
    assert_eq!(
        (
            counts.total,
            counts.established,
            counts.closed,
            counts.error
        ),
        (30, 30, 0, 0),
        "{}",
        merged.stdout
    );

    let late = run(&pod_args(&job, 0, &set)
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    assert_eq!(late.code, Some(64), "a pod after --start-at: {late:?}");
    assert_eq!(action_for(&job, 64).as_deref(), Some("FailJob"));
}

/// A server that holds 20 of 30: the shards whose connections it turned away exit 2, which
/// fails their indexes only, and the merge of every shard's output exits 2 as well.
#[test]
fn shards_that_find_failures_fail_their_indexes_and_the_merge() {
    let job = job();
    let n = shards_in_args(&job);
    let (_server, port) = start_server(&["-m", "0", "-d", "30s", "-i", "0", "--max-open", "20"]);
    let start_at = format!("@{}", unix_now() + 2);
    let set = [
        ("TARGET_HOST", "127.0.0.1"),
        ("TARGET_PORT", port.as_str()),
        ("START_AT", start_at.as_str()),
    ];
    let started = Instant::now();
    let pods: Vec<Guard> = (0..n)
        .map(|index| {
            let mut args = pod_args(&job, index, &set);
            args.extend(["-c", "30", "-s", "1ms", "--hold", "200ms"].map(String::from));
            spawn(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .collect();
    let mut logs = String::new();
    let mut failed = 0;
    for (index, pod) in pods.into_iter().enumerate() {
        let out = finish(pod, started, Duration::from_secs(30));
        let code = i64::from(out.code.expect("exited"));
        match code {
            0 => {}
            2 => {
                failed += 1;
                assert_eq!(action_for(&job, code).as_deref(), Some("FailIndex"));
            }
            _ => panic!("shard {index}: exit {code}: {out:?}"),
        }
        logs.push_str(&out.stdout);
    }
    assert!(failed >= 1, "no shard saw the 10 turned away");
    let merged = run_with_input(&["merge", "-"], &logs);
    assert_eq!(merged.code, Some(2), "{merged:?}");
    let counts = merged.final_counts();
    assert_eq!(counts.total, 30, "{}", merged.stdout);
    assert_eq!(counts.closed, 10, "{}", merged.stdout);
    assert!(counts.adds_up(), "{}", merged.stdout);
}
