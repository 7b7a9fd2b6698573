//! README.md and docs/ hold together: README stays a short start (at most 400 lines, the
//! two commands first, a map naming every page of docs/), and every relative link in
//! README.md and docs/*.md reaches a file that exists and, with a `#anchor`, a heading of
//! that file, as GitHub makes anchors from headings. The pages moved out of README, and
//! links between them are written by hand; this is what keeps them from rotting.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// README.md, then docs/*.md in name order.
fn pages() -> Vec<PathBuf> {
    let root = Path::new(ROOT);
    let mut docs: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .expect("a docs/ folder")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    let mut pages = vec![root.join("README.md")];
    pages.extend(docs);
    pages
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The lines of `text` outside fenced code blocks (``` at any indent, as list items
/// indent theirs), with their 1-based numbers.
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            lines.push((i + 1, line));
        }
    }
    lines
}

/// The anchor GitHub gives a heading: lowercase, each space a hyphen, and every character
/// but letters, digits, `-` and `_` dropped (backticks, colons, dots, `<`, `>`, `?`).
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a page's headings; a repeated heading gets -1, -2, … as on GitHub.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (_, line) in prose(text) {
        let level = line.chars().take_while(|&c| c == '#').count();
        if level == 0 || level > 6 || !line[level..].starts_with(' ') {
            continue;
        }
        let base = slug(&line[level..]);
        let mut anchor = base.clone();
        let mut n = 0;
        while found.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        found.insert(anchor);
    }
    found
}

/// `text` with its code spans blanked out, so that `[::1]:80` or `f(x)` in code is never
/// read as a link. A span may run over a line break but not over a blank line, so each
/// paragraph is taken on its own; an opening run of backticks with no closing run of the
/// same length is literal text.
fn without_code_spans(paragraph: &str) -> String {
    let chars: Vec<char> = paragraph.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&c| c == '`').count();
        let mut j = i + run;
        let mut close = None;
        while j < chars.len() {
            if chars[j] == '`' {
                let other = chars[j..].iter().take_while(|&&c| c == '`').count();
                if other == run {
                    close = Some(j);
                    break;
                }
                j += other;
            } else {
                j += 1;
            }
        }
        match close {
            Some(j) => {
                // Keep the line breaks, so a link's line number stays right.
                out.extend(
                    chars[i..j + run]
                        .iter()
                        .map(|&c| if c == '\n' { '\n' } else { ' ' }),
                );
                i = j + run;
            }
            None => {
                out.extend(&chars[i..i + run]);
                i += run;
            }
        }
    }
    out
}

/// Each inline link and image target in `text` (`[text](target)`, `![alt](target)`),
/// with its line number, outside code blocks and code spans.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let lines = prose(text);
    let mut start = 0;
    while start < lines.len() {
        let mut end = start;
        while end < lines.len()
            && !lines[end].1.trim().is_empty()
            && (end == start || lines[end].0 == lines[end - 1].0 + 1)
        {
            end += 1;
        }
        let paragraph: Vec<&str> = lines[start..end.max(start + 1)]
            .iter()
            .map(|(_, l)| *l)
            .collect();
        let first = lines[start].0;
        let plain = without_code_spans(&paragraph.join("\n"));
        let mut from = 0;
        while let Some(at) = plain[from..].find("](") {
            let target_start = from + at + 2;
            let target: String = plain[target_start..]
                .chars()
                .take_while(|&c| c != ')' && !c.is_whitespace())
                .collect();
            let line = first + plain[..target_start].matches('\n').count();
            found.push((line, target));
            from = target_start;
        }
        start = end.max(start + 1);
    }
    found
}

/// What is wrong with each relative link of `page`, one line each.
fn broken_links(page: &Path) -> Vec<String> {
    let text = read(page);
    let dir = page.parent().unwrap();
    let mut broken = Vec::new();
    for (line, target) in links(&text) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (path, anchor) = match target.split_once('#') {
            Some((path, anchor)) => (path, Some(anchor)),
            None => (target.as_str(), None),
        };
        let file = if path.is_empty() {
            page.to_path_buf()
        } else {
            dir.join(path)
        };
        let at = format!("{}:{line}: {target}", page.display());
        if !file.exists() {
            broken.push(format!("{at}: no file {}", file.display()));
            continue;
        }
        let Some(anchor) = anchor else { continue };
        if file.extension().is_none_or(|ext| ext != "md") {
            broken.push(format!("{at}: an anchor into a file that is not Markdown"));
        } else if !anchors(&read(&file)).contains(anchor) {
            broken.push(format!(
                "{at}: no heading of {} has this anchor",
                file.display()
            ));
        }
    }
    broken
}

#[test]
fn slugs_are_githubs() {
    assert_eq!(slug("Exit status"), "exit-status");
    assert_eq!(
        slug("JSON Lines: `--json`, and the summary in a file: `--summary <FILE>`"),
        "json-lines---json-and-the-summary-in-a-file---summary-file"
    );
    assert_eq!(
        slug("Plots: `tcpgoon plot FILE... -o OUT.svg`"),
        "plots-tcpgoon-plot-file--o-outsvg"
    );
    assert_eq!(
        slug("100,000 connections held at once"),
        "100000-connections-held-at-once"
    );
    let repeated = anchors("# A\n\n```\n# not a heading\n```\n## A\n### B_c?\n");
    assert_eq!(repeated, ["a", "a-1", "b_c"].map(String::from).into());
}

#[test]
fn links_skip_code() {
    let text = "see [Usage](usage.md#exit-status) and `[::1](x)`,\n`a\n[b](c)` and\n\
                ![pic](img/p.png)\n```\n[in](block)\n```\n[last](last.md)\n";
    let found: Vec<(usize, String)> = links(text);
    assert_eq!(
        found,
        [
            (1, "usage.md#exit-status"),
            (4, "img/p.png"),
            (8, "last.md")
        ]
        .map(|(l, t)| (l, t.to_string()))
    );
}

#[test]
fn every_relative_link_resolves() {
    let broken: Vec<String> = pages().iter().flat_map(|p| broken_links(p)).collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// A broken link is caught: a file that is not there, and an anchor no heading makes.
#[test]
fn a_broken_link_is_caught() {
    let dir = std::env::temp_dir().join(format!("tcpgoon-docs-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let page = dir.join("page.md");
    fs::write(
        &page,
        "# Page\n\n[here](#page) [gone](missing.md) [bad](#nowhere) [ok](page.md#page)\n",
    )
    .unwrap();
    let broken = broken_links(&page);
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(broken.len(), 2, "{broken:?}");
    assert!(broken[0].contains("missing.md: no file"), "{broken:?}");
    assert!(broken[1].contains("#nowhere: no heading"), "{broken:?}");
}

#[test]
fn readme_is_a_short_start_with_the_two_commands_first() {
    let readme = read(&Path::new(ROOT).join("README.md"));
    let lines = readme.lines().count();
    assert!(
        lines <= 400,
        "README.md has {lines} lines; the reference belongs in docs/"
    );
    // The first block, before any section: the build-and-demo command, then the tests.
    let block = readme.find("\n```sh\n").expect("README has a sh block") + "\n```sh\n".len();
    assert!(
        readme[..block].lines().all(|l| !l.starts_with("## ")),
        "README's two commands come before its first section"
    );
    let end = block + readme[block..].find("```\n").expect("the block ends");
    let commands: Vec<&str> = readme[block..end].lines().collect();
    assert_eq!(commands.len(), 2, "two commands: {commands:?}");
    assert!(
        commands[0].starts_with("cargo build --release && unshare --net ")
            && commands[0].contains("tcpgoon server")
            && commands[0].contains("tcpgoon run"),
        "the first builds and runs the demo, in a network namespace of its own: {}",
        commands[0]
    );
    assert!(
        commands[1] == "scripts/test",
        "the second runs the tests: {}",
        commands[1]
    );
    let ci = read(&Path::new(ROOT).join(".ci/run"));
    assert!(
        ci.lines().any(|l| l.starts_with(commands[1])),
        ".ci/run runs README's test command, {}",
        commands[1]
    );
}

/// README's map into docs/ names every page, and so does docs/README.md, the index.
#[test]
fn every_page_is_on_the_map() {
    let readme = read(&Path::new(ROOT).join("README.md"));
    let index = read(&Path::new(ROOT).join("docs/README.md"));
    let from_readme: BTreeSet<String> = links(&readme).into_iter().map(|(_, t)| t).collect();
    let from_index: BTreeSet<String> = links(&index).into_iter().map(|(_, t)| t).collect();
    for page in pages().iter().skip(1) {
        let name = page.file_name().unwrap().to_str().unwrap();
        if name == "README.md" {
            continue;
        }
        assert!(
            from_readme.contains(&format!("docs/{name}")),
            "README.md's map has no line for docs/{name}"
        );
        assert!(
            from_index.contains(name),
            "docs/README.md has no line for {name}"
        );
    }
}
