//! The help texts read back as data, for what is generated from them: the completion scripts
//! (`complete.rs`) and the man page (`man.rs`). The help texts are the one place a flag is
//! documented; nothing here lists a flag by hand, so a flag added to a help text is
//! completed and in the man page without another edit.
//!
//! What it reads, by layout alone: in the general help's `Usage:` block, one line per
//! subcommand, `  tcpgoon NAME ARGS  summary`; in a subcommand's help, indented blocks of
//! entries: a line that starts with `-` and stops short of the block's description column
//! (where the first description in the block starts) is an option's entry, its flags
//! (`-c, --connections`), the placeholders of its values (`<N>`), then the description; the
//! lines indented to that column or past it go on with it.

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

/// An option, as a help text's entry gives it.
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

/// The options a help text's entries give, in its order, each once.
pub fn options(help: &str) -> Vec<Opt> {
    let lines: Vec<&str> = help.lines().collect();
    let mut found: Vec<Opt> = Vec::new();
    let mut at = 0;
    while at < lines.len() {
        let block = lines[at..].iter().take_while(|l| indent(l) > 0).count();
        if block == 0 {
            at += 1;
            continue;
        }
        let block_lines = &lines[at..at + block];
        at += block;
        // Lines at the description's column or past it go on with the entry above.
        let Some(column) = block_lines.iter().find_map(|l| description_column(l)) else {
            continue;
        };
        for (i, line) in block_lines.iter().enumerate() {
            if indent(line) >= column {
                continue;
            }
            let Some((tokens, description)) = entry(line) else {
                continue;
            };
            let mut text = description.to_string();
            for next in block_lines[i + 1..]
                .iter()
                .take_while(|l| indent(l) >= column)
            {
                text = join(&text, next.trim());
            }
            for option in group(&tokens, &summary_of(&text)) {
                let known = |o: &Opt| o.spellings().iter().any(|s| option.spellings().contains(s));
                if !found.iter().any(known) {
                    found.push(option);
                }
            }
        }
    }
    found
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

/// An option entry's flag and placeholder tokens and the description after them, or `None`
/// for a line that is no entry.
fn entry(line: &str) -> Option<(Vec<&str>, &str)> {
    let text = line.trim_start();
    if !text.starts_with('-') {
        return None;
    }
    let mut tokens = Vec::new();
    let mut rest = text;
    loop {
        let word_end = rest.find(' ').unwrap_or(rest.len());
        let word = &rest[..word_end];
        let bare = word.trim_end_matches(',');
        if !(is_flag(bare) || is_placeholder(bare)) {
            break;
        }
        tokens.push(word);
        rest = rest[word_end..].trim_start();
        if rest.is_empty() {
            break;
        }
    }
    Some((tokens, rest))
}

/// Tokens to options: `-c, --connections <N>` is one, `-4, -6` two, and `--probe <KIND>,
/// --send <BYTES>` two; a comma ends an option, except the one after a lone short flag that
/// a long one follows.
fn group(tokens: &[&str], summary: &str) -> Vec<Opt> {
    let mut options: Vec<Opt> = Vec::new();
    let mut open = false;
    for token in tokens {
        let bare = token.trim_end_matches(',');
        if is_placeholder(bare) {
            if let Some(last) = options.last_mut() {
                last.values.push(bare[1..bare.len() - 1].to_string());
            }
        } else if let Some(long) = bare.strip_prefix("--") {
            match options.last_mut() {
                Some(last) if open && last.long.is_none() && last.values.is_empty() => {
                    last.long = Some(long.to_string());
                }
                _ => options.push(Opt {
                    short: None,
                    long: Some(long.to_string()),
                    values: Vec::new(),
                    summary: summary.to_string(),
                }),
            }
        } else {
            options.push(Opt {
                short: bare[1..].chars().next(),
                long: None,
                values: Vec::new(),
                summary: summary.to_string(),
            });
        }
        let last = options.last().expect("an option was just added");
        open = token.ends_with(',') && last.long.is_none() && last.values.is_empty();
    }
    options
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

    fn opt(
        short: Option<char>,
        long: Option<&str>,
        values: &[&str],
    ) -> (Option<char>, Option<String>, Vec<String>) {
        (
            short,
            long.map(String::from),
            values.iter().map(|v| v.to_string()).collect(),
        )
    }

    #[test]
    fn entries_are_read_as_the_help_lays_them_out() {
        let help = "\
Options:
  -c, --connections <N>     connections to open                [default: 100]
      --max-latency <P=DUR> fail (exit 3) when latency P exceeds DUR: p50;
                            repeatable
      --min-established <N|PCT%>
                            pass when at least N are established; more than 0
  -4, -6                    resolve <host> to IPv4 (or IPv6) addresses only
      --probe <KIND>, --send <BYTES>, --expect <BYTES>
                            ask each connection for an answer
      --reject-after <K> <TEXT>
                            as --max-open K
  -h, --help                print this help

--interval is 0 or at least 10ms.
  0   every connection was established
      --hold a flag named in a description
";
        let found: Vec<_> = options(help)
            .into_iter()
            .map(|o| (o.short, o.long, o.values))
            .collect();
        assert_eq!(
            found,
            [
                opt(Some('c'), Some("connections"), &["N"]),
                opt(None, Some("max-latency"), &["P=DUR"]),
                opt(None, Some("min-established"), &["N|PCT%"]),
                opt(Some('4'), None, &[]),
                opt(Some('6'), None, &[]),
                opt(None, Some("probe"), &["KIND"]),
                opt(None, Some("send"), &["BYTES"]),
                opt(None, Some("expect"), &["BYTES"]),
                opt(None, Some("reject-after"), &["K", "TEXT"]),
                opt(Some('h'), Some("help"), &[]),
            ]
        );
        let summaries: Vec<String> = options(help).into_iter().map(|o| o.summary).collect();
        assert_eq!(summaries[0], "connections to open");
        assert_eq!(summaries[1], "fail (exit 3) when latency P exceeds DUR");
        assert_eq!(summaries[2], "pass when at least N are established");
        assert_eq!(
            summary_of("the SVG to write (self-contained: no fonts or links)"),
            "the SVG to write"
        );
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
    fn a_flag_in_a_description_is_no_entry() {
        let help = "\
Exit status:
  64  bad input or setup: unknown flag, unusable
      --source, --hdr-log a FIFO with no reader
";
        assert_eq!(options(help), []);
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
