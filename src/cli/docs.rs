//! What the completion scripts (`complete.rs`) and the man page (`man.rs`) are made from:
//! the subcommands, as the general help's `Usage:` block lists them, one line each,
//! `  tcpgoon NAME ARGS  summary`; each subcommand's options, from the flag table
//! (`flags.rs`), each with the first clause of its description; and the column a help
//! line's description starts at, for the man page's lists. Nothing here lists a flag by
//! hand, so a flag added to the table is completed and in the man page without another
//! edit.

use crate::cli::flags::{Flag, Kind, Section, Sub};
use crate::cli::help::{HELP, topic};

/// A subcommand, as the general help's `Usage:` block lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Subcommand {
    pub name: &'static str,
    /// What follows the name on its usage line: `[OPTIONS] <host> <port>`.
    pub arguments: String,
    /// Its description there, on one line.
    pub summary: String,
    /// Its own help text, when it has one (`tcpgoon help NAME`).
    pub help: Option<&'static str>,
}

/// An option of a subcommand, as its completions offer it.
#[derive(Debug, Clone, PartialEq)]
pub struct Opt {
    /// `-c`, without the dash.
    pub short: Option<char>,
    /// `--connections`, without the dashes.
    pub long: Option<String>,
    /// The placeholders of its values, `<N>` as `N`; none for a flag.
    pub values: Vec<String>,
    /// The description's first clause, on one line.
    pub summary: String,
    /// What completes its value.
    pub kind: Kind,
}

impl Opt {
    /// Its spellings, short first: `-c`, `--connections`.
    pub fn spellings(&self) -> Vec<String> {
        let short = self.short.map(|c| format!("-{c}"));
        let long = self.long.as_ref().map(|l| format!("--{l}"));
        short.into_iter().chain(long).collect()
    }
}

/// The subcommands the general help lists, in its order.
pub fn subcommands() -> Vec<Subcommand> {
    let mut found: Vec<Subcommand> = Vec::new();
    for line in usage_block(HELP) {
        let text = line.trim_start();
        let indent = line.len() - text.len();
        match text.strip_prefix("tcpgoon ") {
            Some(rest) if indent <= 2 => {
                let (arguments, summary) = split_at_gap(rest);
                let (name, arguments) = arguments.split_once(' ').unwrap_or((arguments, ""));
                found.push(Subcommand {
                    name,
                    arguments: arguments.trim().to_string(),
                    summary: summary.to_string(),
                    help: topic(name),
                });
            }
            _ => {
                if let Some(last) = found.last_mut() {
                    last.summary = join(&last.summary, text);
                }
            }
        }
    }
    found
}

/// The options of the program itself, before any subcommand: those the general help's
/// `Usage:` block names in its summaries (`also --help, -h`), each with the summary that
/// names it.
pub fn global_options() -> Vec<(String, String)> {
    let mut flags: Vec<(String, String)> = Vec::new();
    for command in subcommands() {
        let Some((_, also)) = command.summary.split_once("(also ") else {
            continue;
        };
        let also = also.split(')').next().unwrap_or("");
        for word in also.split([' ', ',']) {
            if is_flag(word) && !flags.iter().any(|(f, _)| f == word) {
                let summary = summary_of(command.summary.split(" (").next().unwrap_or(""));
                flags.push((word.to_string(), summary));
            }
        }
    }
    flags
}

/// The options of `sub`, in the order its help shows them, each with the summary of the
/// entry that describes it (a joined entry shares the one above's).
pub fn options(sub: Sub) -> Vec<Opt> {
    let mut found = Vec::new();
    for section in Section::ALL {
        let mut summary = String::new();
        for flag in sub.flags().filter(|flag| flag.section == section) {
            if !flag.joined {
                let lines: Vec<&str> = flag.help.iter().map(|line| line.trim()).collect();
                summary = summary_of(&lines.join(" "));
            }
            found.push(Opt::of(flag, &summary));
        }
    }
    found
}

impl Opt {
    fn of(flag: &Flag, summary: &str) -> Opt {
        let bare = |spelling: &str| spelling.trim_start_matches('-').to_string();
        Opt {
            short: flag.short.and_then(|s| s[1..].chars().next()),
            long: flag.long.map(bare),
            values: flag.values.iter().map(|v| v.to_string()).collect(),
            summary: summary.to_string(),
            kind: flag.kind,
        }
    }
}

/// Where a tagged line's description starts: after its flags and placeholders for an
/// option (`--max-latency <P=DUR> fail …`, one space after the tag), else after the first
/// gap of two spaces (`0   every connection…`); `None` for a line with no description.
pub fn description_column(line: &str) -> Option<usize> {
    let text = line.trim_start();
    let tag_end = if text.starts_with('-') {
        let mut end = 0;
        for word in text.split(' ') {
            let bare = word.trim_end_matches(',');
            if word.is_empty() || !(is_flag(bare) || is_placeholder(bare)) {
                break;
            }
            end += word.len() + 1;
        }
        end.min(text.len())
    } else {
        text.find("  ")?
    };
    let rest = &text[tag_end..];
    let gap = rest.len() - rest.trim_start().len();
    (!rest.trim().is_empty()).then_some(indent(line) + tag_end + gap)
}

pub fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The choices a placeholder spells out: `<bash|zsh|fish>` and `[run|limit|server]` are
/// bash, zsh and fish, and run, limit and server; `<N|PCT%>` is a form, not a list.
pub fn choices(placeholder: &str) -> Option<Vec<&str>> {
    let inner = placeholder
        .trim_start_matches(['<', '['])
        .trim_end_matches(['>', ']']);
    let words: Vec<&str> = inner.split('|').collect();
    let lowercase = |w: &&str| {
        w.starts_with(|c: char| c.is_ascii_lowercase())
            && w.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    (words.len() > 1 && words.iter().all(lowercase)).then_some(words)
}

/// `-c`, `-4`, `--all-addresses`.
fn is_flag(word: &str) -> bool {
    let name = word
        .strip_prefix("--")
        .or_else(|| word.strip_prefix('-').filter(|n| n.len() == 1));
    name.is_some_and(|n| {
        n.starts_with(|c: char| c.is_ascii_alphanumeric())
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// `<N>`, `<P=DUR>`, `<N|PCT%>`.
fn is_placeholder(word: &str) -> bool {
    word.len() > 2 && word.starts_with('<') && word.ends_with('>') && !word.contains(' ')
}

/// A description's first clause, for a completion's one line: up to its first colon or
/// semicolon (unless that leaves a word or two: `auto: a status line…`), without its
/// `[default: …]`, and at most 60 characters.
fn summary_of(description: &str) -> String {
    let text = match description.find("[default:") {
        Some(at) => &description[..at],
        None => description,
    };
    let mut clause = text.split([';', ':']).next().unwrap_or(text);
    if clause.len() < 16 {
        clause = text.split(';').next().unwrap_or(text);
    }
    // A colon inside parentheses cuts them open: `the SVG (self-contained: …)` ends before.
    if clause.matches('(').count() > clause.matches(')').count() {
        clause = &clause[..clause.rfind('(').unwrap_or(clause.len())];
    }
    let clause = clause.trim().trim_end_matches([',', '.']);
    if clause.chars().count() <= 60 {
        return clause.to_string();
    }
    let cut: String = clause.chars().take(57).collect();
    let words = cut
        .rsplit_once(' ')
        .map_or(cut.as_str(), |(words, _)| words);
    format!("{}...", words.trim_end_matches([',', ' ']))
}

/// The lines of the block under `Usage:`, up to the blank line that ends it.
fn usage_block(help: &str) -> impl Iterator<Item = &str> {
    help.lines()
        .skip_while(|line| *line != "Usage:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
}

/// `NAME ARGS    summary` split at its first run of two or more spaces.
fn split_at_gap(text: &str) -> (&str, &str) {
    match text.find("  ") {
        Some(at) => (&text[..at], text[at..].trim()),
        None => (text, ""),
    }
}

fn join(first: &str, second: &str) -> String {
    if first.is_empty() {
        second.to_string()
    } else {
        format!("{first} {second}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_come_from_the_table_with_their_first_clause() {
        let run = options(Sub::Run);
        let connections = &run[0];
        assert_eq!(connections.short, Some('c'));
        assert_eq!(connections.long.as_deref(), Some("connections"));
        assert_eq!(connections.values, ["N"]);
        assert_eq!(connections.summary, "connections to open");
        let latency = run
            .iter()
            .find(|o| o.long.as_deref() == Some("max-latency"));
        assert_eq!(
            latency.map(|o| o.summary.as_str()),
            Some("fail (exit 3) when connect latency statistic P exceeds DUR")
        );
        // Limit's `--probe <KIND>, --send <BYTES>, …` share one description.
        let limit = options(Sub::Limit);
        let summary = |long: &str| {
            let option = limit.iter().find(|o| o.long.as_deref() == Some(long));
            option.map(|o| o.summary.clone())
        };
        assert_eq!(summary("send"), summary("probe"));
        assert_eq!(
            summary_of("the SVG to write (self-contained: no fonts or links)"),
            "the SVG to write"
        );
        let four = limit.iter().position(|o| o.short == Some('4'));
        assert_eq!(limit[four.unwrap() + 1].short, Some('6'));
    }

    #[test]
    fn descriptions_start_after_the_tag() {
        assert_eq!(
            description_column("  -c, --connections <N>     open"),
            Some(28)
        );
        assert_eq!(
            description_column("      --max-latency <P=DUR> fail"),
            Some(28)
        );
        assert_eq!(description_column("      --min-established <N|PCT%>"), None);
        assert_eq!(description_column("  0   every connection"), Some(6));
        assert_eq!(
            description_column("  tcpgoon run 127.0.0.1 8080 -c 1"),
            None
        );
    }

    #[test]
    fn the_general_help_lists_every_subcommand() {
        let names: Vec<&str> = subcommands().iter().map(|c| c.name).collect();
        for name in [
            "run",
            "limit",
            "server",
            "completions",
            "man",
            "version",
            "help",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        let run = &subcommands()[0];
        assert_eq!(run.arguments, "[OPTIONS] <host> <port>");
        assert!(run.help.is_some());
        for flag in ["--help", "-h", "--version", "-V"] {
            assert!(global_options().iter().any(|(f, _)| f == flag), "{flag}");
        }
    }

    #[test]
    fn placeholders_that_list_words_are_choices() {
        assert_eq!(
            choices("<bash|zsh|fish>"),
            Some(vec!["bash", "zsh", "fish"])
        );
        assert_eq!(
            choices("[run|limit|server]"),
            Some(vec!["run", "limit", "server"])
        );
        assert_eq!(choices("<N|PCT%>"), None);
        assert_eq!(choices("<FILE>"), None);
    }
}
