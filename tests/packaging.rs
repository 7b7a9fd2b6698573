//! Packaging and conventions, through the real binary: every help text fits 80 columns;
//! docs/usage.md's Usage block is `run --help`; `tcpgoon completions bash|zsh|fish`
//! complete every flag and subcommand the help texts give, in the shells themselves;
//! `tcpgoon man` renders without a warning and names them all; durations on the flags the
//! original tool lacks need a unit.
//!
//! The flags are read from the help output here with a reading of its own, not the one the
//! generators use (src/cli/docs.rs, from the flag table in src/cli/flags.rs), so a generator
//! that drops a flag fails these tests.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{BIN, args, installed, run, run_bad_input, start_server};

fn stdout_of(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(out.code, Some(0), "{args:?}: {out:?}");
    out.stdout
}

/// The subcommands `tcpgoon help` lists under `Usage:`.
fn subcommands() -> Vec<String> {
    stdout_of(&["help"])
        .lines()
        .skip_while(|l| *l != "Usage:")
        .filter_map(|l| l.strip_prefix("  tcpgoon "))
        .map(|rest| rest.split(' ').next().unwrap().to_string())
        .collect()
}

/// The subcommands with a help of their own (`tcpgoon help NAME` is not the general
/// help), which gives their options.
fn with_options() -> Vec<String> {
    let general = stdout_of(&["help"]);
    subcommands()
        .into_iter()
        .filter(|command| stdout_of(&["help", command]) != general)
        .collect()
}

/// Every flag a subcommand's help gives in its option entries: lines indented at most six
/// columns that start with `-`, outside the exit statuses; the words at their start that
/// are flags (`-c,` `--connections`), past placeholders (`<N>`).
fn flags_of(command: &str) -> BTreeSet<String> {
    let help = stdout_of(&[command, "--help"]);
    let mut flags = BTreeSet::new();
    let mut section = "";
    for line in help.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            section = line;
            continue;
        }
        let text = line.trim_start();
        let indent = line.len() - text.len();
        if section.starts_with("Exit status") || indent > 6 || !text.starts_with('-') {
            continue;
        }
        for word in text.split(' ') {
            let word = word.trim_end_matches(',');
            if word.starts_with('<') && word.ends_with('>') {
                continue;
            }
            let is_flag = (word.starts_with("--") && word.len() > 2)
                || (word.len() == 2 && word.starts_with('-'));
            if !is_flag {
                break;
            }
            flags.insert(word.to_string());
        }
    }
    assert!(flags.len() >= 2, "{command}: too few flags read: {flags:?}");
    flags
}

#[test]
fn every_help_text_fits_80_columns() {
    let mut texts = vec![("help".to_string(), stdout_of(&["help"]))];
    for command in subcommands() {
        texts.push((
            format!("{command} --help"),
            stdout_of(&[&command, "--help"]),
        ));
        texts.push((format!("help {command}"), stdout_of(&["help", &command])));
    }
    for (what, text) in texts {
        for line in text.lines() {
            let columns = line.chars().count();
            assert!(columns <= 80, "`tcpgoon {what}`: {columns} columns: {line}");
        }
    }
}

/// docs/usage.md's Usage block is `tcpgoon run --help`, exactly. The help text in
/// src/cli/help.rs and the flag table in src/cli/flags.rs are the source; after changing
/// them, refresh docs/usage.md with
/// `TCPGOON_BLESS=1 cargo test --release --test packaging`, which writes the block anew.
#[test]
fn readme_usage_is_run_help() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/usage.md");
    let readme = fs::read_to_string(&path).unwrap();
    let section = readme
        .find("# Usage\n")
        .expect("docs/usage.md has a Usage section");
    let opening = "\n```\n";
    let start =
        section + readme[section..].find(opening).expect("a block in Usage") + opening.len();
    let end = start + readme[start..].find("```\n").expect("the Usage block ends");
    let help = stdout_of(&["run", "--help"]);
    if std::env::var_os("TCPGOON_BLESS").is_some() {
        fs::write(
            &path,
            format!("{}{help}{}", &readme[..start], &readme[end..]),
        )
        .unwrap();
        return;
    }
    assert!(
        readme[start..end] == help,
        "docs/usage.md's Usage block is not `tcpgoon run --help`; refresh it with \
         TCPGOON_BLESS=1 cargo test --release --test packaging"
    );
}

/// Runs `shell` with `args`, then the binary's path as its one argument; its stdout, once
/// it has exited 0 with nothing on stderr.
fn shell(shell: &str, args: &[&str]) -> String {
    let out = Command::new(shell)
        .args(args)
        .arg(BIN)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {shell}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "{shell} {args:?}: {stderr}"
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `script` in bash with the completion loaded; its stdout.
fn in_bash(script: &str) -> String {
    let script = format!("source <(\"$0\" completions bash) || exit 9\n{script}");
    shell("bash", &["--norc", "--noprofile", "-c", &script])
}

/// What bash completes for the words typed so far, the last being the one completed (as
/// bash-completion calls the function: COMP_WORDS and COMP_CWORD set).
fn bash_completes(words: &[&str]) -> BTreeSet<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    in_bash(&format!(
        "COMP_WORDS=({}); COMP_CWORD={}; _tcpgoon; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        quoted.join(" "),
        words.len() - 1
    ))
    .lines()
    .filter(|l| !l.is_empty())
    .map(String::from)
    .collect()
}

fn set(words: &[&str]) -> BTreeSet<String> {
    words.iter().map(|w| w.to_string()).collect()
}

#[test]
fn bash_completes_every_subcommand_and_flag() {
    assert_eq!(
        in_bash("complete -p tcpgoon"),
        "complete -F _tcpgoon tcpgoon\n"
    );
    let mut first: BTreeSet<String> = subcommands().into_iter().collect();
    first.extend(set(&["-h", "--help", "-V", "--version"]));
    assert_eq!(bash_completes(&["tcpgoon", ""]), first);
    assert_eq!(bash_completes(&["tcpgoon", "li"]), set(&["limit"]));
    for command in with_options() {
        assert_eq!(
            bash_completes(&["tcpgoon", &command, "-"]),
            flags_of(&command),
            "tcpgoon {command} -<TAB>"
        );
    }
    // Values: lists where the help gives one, nothing for a count or a duration.
    assert_eq!(
        bash_completes(&["tcpgoon", "completions", ""]),
        set(&["bash", "zsh", "fish"])
    );
    assert_eq!(
        bash_completes(&["tcpgoon", "help", ""]),
        with_options().into_iter().collect()
    );
    assert_eq!(
        bash_completes(&["tcpgoon", "run", "--progress", ""]),
        set(&["auto", "bar", "lines"])
    );
    assert_eq!(
        bash_completes(&["tcpgoon", "limit", "--probe", "re"]),
        set(&["redis"])
    );
    assert!(bash_completes(&["tcpgoon", "run", "-c", ""]).is_empty());
    assert!(bash_completes(&["tcpgoon", "run", "--hold", "-"]).is_empty());
    // -d is a flag of run and takes a duration in server.
    assert!(bash_completes(&["tcpgoon", "run", "-d", "--js"]).contains("--json"));
    assert!(bash_completes(&["tcpgoon", "server", "-d", "-"]).is_empty());
    // server --reject-after K TEXT: nothing to suggest for either value.
    assert!(bash_completes(&["tcpgoon", "server", "--reject-after", "5", "-"]).is_empty());
    let dir = std::env::temp_dir().join(format!("tcpgoon-complete-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("latency.hlog"), "").unwrap();
    let prefix = format!("{}/lat", dir.display());
    assert_eq!(
        bash_completes(&["tcpgoon", "run", "--hdr-log", &prefix]),
        set(&[&format!("{}/latency.hlog", dir.display())])
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// What fish completes for `line`: the candidates, without their descriptions.
fn fish_completes(line: &str) -> BTreeSet<String> {
    let script = format!("\"$argv[1]\" completions fish | source; or exit 9; complete -C '{line}'");
    shell("fish", &["--no-config", "-c", &script])
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect()
}

#[test]
fn fish_completes_every_subcommand_and_flag() {
    if !installed("fish") {
        return;
    }
    let script = stdout_of(&["completions", "fish"]);
    let check = Command::new("fish")
        .args(["--no-config", "-n", "-c", &script])
        .output()
        .expect("run fish -n");
    assert!(check.status.success(), "{check:?}");
    let subcommands: BTreeSet<String> = subcommands().into_iter().collect();
    assert_eq!(fish_completes("tcpgoon "), subcommands);
    for command in with_options() {
        assert_eq!(
            fish_completes(&format!("tcpgoon {command} -")),
            flags_of(&command),
            "tcpgoon {command} -<TAB>"
        );
    }
    assert_eq!(
        fish_completes("tcpgoon completions "),
        set(&["bash", "zsh", "fish"])
    );
    assert_eq!(
        fish_completes("tcpgoon run --progress "),
        set(&["auto", "bar", "lines"])
    );
}

#[test]
fn zsh_loads_a_completion_that_names_every_subcommand_and_flag() {
    if !installed("zsh") {
        return;
    }
    let script = stdout_of(&["completions", "zsh"]);
    let check = Command::new("zsh")
        .args(["-n", "-c", &script])
        .output()
        .expect("run zsh -n");
    assert!(check.status.success(), "{check:?}");
    // Loaded after compinit, as its header says, it is the completion of tcpgoon.
    let dump = std::env::temp_dir().join(format!("tcpgoon-zcompdump-{}", std::process::id()));
    let loaded = Command::new("zsh")
        .args(["-f", "-c"])
        .arg(format!(
            "autoload -U compinit && compinit -u -d '{}' && source <(\"$0\" completions zsh) \
             && print -r -- $_comps[tcpgoon]",
            dump.display()
        ))
        .arg(BIN)
        .output()
        .expect("run zsh");
    let _ = fs::remove_file(&dump);
    assert_eq!(
        String::from_utf8_lossy(&loaded.stdout),
        "_tcpgoon\n",
        "{loaded:?}"
    );
    for command in subcommands() {
        assert!(
            script.contains(&format!("\n        '{command}:")),
            "{command} is not among the zsh commands"
        );
    }
    // Each subcommand's branch of the script specifies each of its flags.
    for command in with_options() {
        let start = script
            .find(&format!("\n        {command})\n"))
            .unwrap_or_else(|| panic!("no zsh branch for {command}"));
        let branch = &script[start..start + script[start..].find("\n          ;;").unwrap()];
        for flag in flags_of(&command) {
            let specified = [",", "}", "'", "["]
                .iter()
                .any(|after| branch.contains(&format!("{flag}{after}")));
            assert!(specified, "zsh: {command} {flag} missing");
        }
    }
}

#[test]
fn the_man_page_renders_cleanly_and_names_every_flag() {
    let page = stdout_of(&["man"]);
    let path = std::env::temp_dir().join(format!("tcpgoon-{}.1", std::process::id()));
    fs::write(&path, &page).unwrap();
    let rendered = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-P-cbou"])
        .arg(&path)
        .output()
        .expect("run groff");
    let stderr = String::from_utf8_lossy(&rendered.stderr);
    assert!(
        rendered.status.success() && stderr.is_empty(),
        "groff: {stderr}"
    );
    let text = String::from_utf8(rendered.stdout).unwrap();
    if installed("mandoc") {
        let lint = Command::new("mandoc")
            .args(["-Tlint", "-W", "style"])
            .arg(&path)
            .output()
            .expect("run mandoc");
        assert!(lint.status.success(), "mandoc -Tlint: {lint:?}");
        assert!(lint.stdout.is_empty() && lint.stderr.is_empty(), "{lint:?}");
    }
    let _ = fs::remove_file(&path);
    let synopsis = &text[text.find("SYNOPSIS").unwrap()..text.find("DESCRIPTION").unwrap()];
    for command in subcommands() {
        assert!(
            synopsis.contains(&format!("tcpgoon {command}")),
            "{command}"
        );
    }
    for command in with_options() {
        let heading = format!("\nTCPGOON {}\n", command.to_uppercase());
        let start = text
            .find(&heading)
            .unwrap_or_else(|| panic!("no section {heading:?}"));
        let section = &text[start + heading.len()..];
        let section = &section[..section.find("\nTCPGOON ").unwrap_or(section.len())];
        for flag in flags_of(&command) {
            let named = section
                .split(|c: char| c.is_whitespace() || c == ',')
                .any(|word| word == flag);
            assert!(named, "man page, {command}: {flag} missing");
        }
    }
}

#[test]
fn completions_and_man_refuse_what_they_do_not_take() {
    for args in [
        &["completions"][..],
        &["completions", "tcsh"],
        &["completions", "bash", "zsh"],
        &["completions", "--bash"],
        &["man", "extra"],
    ] {
        run_bad_input(args);
    }
    let out = run_bad_input(&["completions", "tcsh"]);
    assert_eq!(
        out.stderr,
        "tcpgoon: 'tcsh' is not a shell tcpgoon completes for: expected bash, zsh, fish\n"
    );
}

#[test]
fn a_duration_flag_the_original_lacks_needs_a_unit() {
    for (args, message) in [
        (
            &["run", "127.0.0.1", "9", "-y", "--hold", "1"][..],
            "tcpgoon: --hold: '1' has no unit: write 1s or 1ms\n",
        ),
        (
            &["run", "127.0.0.1", "9", "-y", "--max-latency", "p99=1"],
            "tcpgoon: --max-latency: '1' has no unit: write 1ms or 1s\n",
        ),
        (
            &["limit", "127.0.0.1", "9", "-t", "200"],
            "tcpgoon: --dial-timeout: '200' has no unit: write 200ms or 200s\n",
        ),
        (
            &["limit", "127.0.0.1", "9", "-i", "2"],
            "tcpgoon: --interval: '2' has no unit: write 2s or 2ms\n",
        ),
        (
            &["server", "-p", "0", "-d", "30"],
            "tcpgoon: --duration: '30' has no unit: write 30s or 30ms\n",
        ),
        (
            &["server", "-p", "0", "--close-after", "50"],
            "tcpgoon: --close-after: '50' has no unit: write 50ms or 50s\n",
        ),
        (
            &["run", "127.0.0.1", "9", "-y", "--hold", "1m30"],
            "tcpgoon: --hold: invalid duration '1m30': each number of a compound duration \
             needs a unit, e.g. 1m30s\n",
        ),
    ] {
        assert_eq!(run_bad_input(args).stderr, message, "{args:?}");
    }
}

#[test]
fn compound_durations_and_the_originals_bare_numbers_are_read() {
    // A server told to stop after 1m30s, a run that holds for 0m0.2s and waits on each
    // attempt 1s500ms: all read; the original's bare -s, -t and -i keep their units.
    let (_server, port) = start_server(&["-m", "0", "-d", "1m30s", "-i", "0"]);
    let out = run(&args!(
        "run 127.0.0.1 {port} -c 3 -s 1 -t 1500 -i 0 -y --hold 0m0.2s --settle 0h0m0.01s"
    ));
    assert_eq!(out.code, Some(0), "{out:?}");
    let hold = out.line("Hold: ");
    assert!(hold.starts_with("Hold: 20"), "{hold}");
    let out = run(&args!("run 127.0.0.1 {port} -c 1 -t 1s500ms -i 0 -y"));
    assert_eq!(out.code, Some(0), "{out:?}");
}
