//! The source layout keeps its promise (src/lib.rs): imports run one way, from `commands`
//! down through `cli` and `report` (siblings that never import each other), `judge`,
//! `engine` and `units` to `error`, and no two modules import each other. Read from the
//! source as text: every `crate::` path names the module it reaches.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, top first, as ranks: a module may import from its own layer or from a
/// layer of a higher rank. Layers of one rank are siblings and never import each other.
const LAYERS: &[(&str, usize)] = &[
    ("commands", 0),
    ("cli", 1),
    ("report", 1),
    ("judge", 2),
    ("engine", 3),
    ("units", 4),
    ("error", 5),
];

fn layer(module: &str) -> &str {
    module.split("::").next().unwrap()
}

fn rank(module: &str) -> usize {
    LAYERS
        .iter()
        .find(|(l, _)| *l == layer(module))
        .map(|(_, rank)| *rank)
        .unwrap_or_else(|| panic!("module {module} is in no layer"))
}

/// Whether `module` may import `target`: its own layer, or one further down.
fn may_import(module: &str, target: &str) -> bool {
    layer(module) == layer(target) || rank(target) > rank(module)
}

/// Every `.rs` file under `dir`, as its module path (`engine::conn`, `report` for
/// report/mod.rs).
fn modules(root: &Path, dir: &Path, out: &mut BTreeMap<String, PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            modules(root, &path, out);
            continue;
        }
        let relative = path.strip_prefix(root).unwrap().with_extension("");
        let mut parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        let name = parts.join("::");
        if name != "lib" && name != "main" {
            out.insert(name, path);
        }
    }
}

/// The modules a file's `crate::` paths reach: the longest prefix of each path that is a
/// module.
fn imports(text: &str, known: &BTreeMap<String, PathBuf>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        let mut path = Vec::new();
        for segment in rest.split("::") {
            let name: String = segment
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                .collect();
            if name.is_empty() || name.len() != segment.len() && !segment.starts_with(&name) {
                break;
            }
            path.push(name.clone());
            if name.len() != segment.len() {
                break;
            }
        }
        while !path.is_empty() && !known.contains_key(&path.join("::")) {
            path.pop();
        }
        if !path.is_empty() {
            found.insert(path.join("::"));
        }
    }
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut known = BTreeMap::new();
    modules(&root, &root, &mut known);
    known
        .iter()
        .map(|(name, path)| {
            let mut reached = imports(&fs::read_to_string(path).unwrap(), &known);
            reached.remove(name);
            (name.clone(), reached)
        })
        .collect()
}

#[test]
fn every_module_belongs_to_a_layer_folder() {
    let graph = graph();
    assert!(graph.len() > 20, "{} modules found", graph.len());
    for module in graph.keys() {
        assert!(
            LAYERS.iter().any(|(l, _)| *l == layer(module)),
            "{module} is in no layer"
        );
    }
}

#[test]
fn imports_run_downward() {
    let mut upward = Vec::new();
    for (module, reached) in graph() {
        for target in reached {
            if !may_import(&module, &target) {
                upward.push(format!("{module} imports {target}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that run upward or sideways: {upward:#?}"
    );
}

#[test]
fn the_siblings_and_the_layers_below_hold_their_places() {
    // The rule above, spelled out for the cuts that matter most.
    assert!(!may_import("report::text", "cli::help"));
    assert!(!may_import("cli::parse", "report::text"));
    assert!(!may_import("judge::exit", "report::text"));
    assert!(!may_import("engine::conn", "judge::exit"));
    assert!(!may_import("units::duration", "engine::conn"));
    assert!(may_import("commands::run", "cli::config"));
    assert!(may_import("commands::run", "report::text"));
    assert!(may_import("report::text", "judge::exit"));
    assert!(may_import("cli::parse", "judge::thresholds"));
    assert!(may_import("judge::thresholds", "units::duration"));
}

#[test]
fn nothing_in_report_reaches_the_command_line() {
    let reached: Vec<String> = graph()
        .into_iter()
        .filter(|(module, _)| layer(module) == "report")
        .flat_map(|(module, reached)| {
            reached
                .into_iter()
                .filter(|target| layer(target) == "cli")
                .map(move |target| format!("{module} imports {target}"))
        })
        .collect();
    assert!(reached.is_empty(), "{reached:#?}");
}

#[test]
fn no_two_modules_import_each_other() {
    let graph = graph();
    let mut mutual = Vec::new();
    for (module, reached) in &graph {
        for target in reached {
            if graph[target].contains(module) && module < target {
                mutual.push(format!("{module} <-> {target}"));
            }
        }
    }
    assert!(
        mutual.is_empty(),
        "modules importing each other: {mutual:#?}"
    );
}

#[test]
fn the_check_sees_an_upward_import() {
    // The parser above must find what it is looking for, or the checks pass on nothing.
    let mut known = BTreeMap::new();
    for name in ["engine", "engine::conn", "report", "report::text"] {
        known.insert(name.to_string(), PathBuf::new());
    }
    let text = "use crate::report::text::{self, Summary};\nuse crate::engine::Plan;\n";
    let found = imports(text, &known);
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["engine", "report::text"]
    );
}
