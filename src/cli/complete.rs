//! `tcpgoon completions bash|zsh|fish`: shell completion scripts, made from the general
//! help's subcommands and the flag table (`docs.rs`), so every flag the table declares is
//! completed, and nothing else.
//!
//! Each script completes the subcommands after `tcpgoon`, each subcommand's options, the
//! values of those whose values are a known list (`--progress`, `--probe`; an argument's
//! placeholder such as `<bash|zsh|fish>`) or files, as the table's kinds say, host names for
//! `<host>`, and nothing after an option that takes another kind of value.

use crate::cli::docs::{self, Opt, Subcommand};
use crate::cli::flags::{Kind, Sub};

/// A shell that `tcpgoon completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Shell {
    pub const NAMES: [&'static str; 3] = ["bash", "zsh", "fish"];

    pub fn parse(text: &str) -> Result<Shell, String> {
        match text {
            "bash" => Ok(Shell::Bash),
            "zsh" => Ok(Shell::Zsh),
            "fish" => Ok(Shell::Fish),
            _ => Err(format!(
                "'{text}' is not a shell tcpgoon completes for: expected {}",
                Shell::NAMES.join(", ")
            )),
        }
    }
}

/// The completion script for `shell`.
pub fn script(shell: Shell) -> String {
    let commands = docs::subcommands();
    match shell {
        Shell::Bash => bash(&commands),
        Shell::Zsh => zsh(&commands),
        Shell::Fish => fish(&commands),
    }
}

/// What may follow an option, or stand as an argument.
#[derive(Debug, PartialEq)]
enum Values {
    /// A flag: nothing.
    Nothing,
    /// A value with nothing to suggest (a count, a duration).
    Any,
    Files,
    Hosts,
    Words(Vec<String>),
}

fn option_values(option: &Opt) -> Values {
    if option.values.is_empty() {
        return Values::Nothing;
    }
    match option.kind {
        Kind::Any => Values::Any,
        Kind::File => Values::Files,
        Kind::Choices(words) => words_of(words),
    }
}

/// The arguments a subcommand's usage line names, `[OPTIONS]` aside: `<host> <port>`.
fn arguments(command: &Subcommand) -> Vec<(String, bool, Values)> {
    command
        .arguments
        .split(' ')
        .filter(|word| *word != "[OPTIONS]")
        // `<host>`, `[run|limit|server]`, `FILE...`; not an option's words (`-o OUT.svg`).
        .filter(|word| word.starts_with(['<', '[']) || word.ends_with("..."))
        .map(|word| {
            let optional = word.starts_with('[');
            let name = word.trim_matches(['<', '>', '[', ']', '.']);
            let values = match docs::choices(word) {
                Some(words) => words_of(&words),
                None if name == "host" => Values::Hosts,
                None if name == "FILE" => Values::Files,
                None => Values::Any,
            };
            (name.to_string(), optional, values)
        })
        .collect()
}

fn words_of(words: &[&str]) -> Values {
    Values::Words(words.iter().map(|w| w.to_string()).collect())
}

fn options_of(command: &Subcommand) -> Vec<Opt> {
    Sub::named(command.name)
        .map(docs::options)
        .unwrap_or_default()
}

fn bash(commands: &[Subcommand]) -> String {
    let mut first_words: Vec<String> = commands.iter().map(|c| c.name.to_string()).collect();
    first_words.extend(docs::global_options().into_iter().map(|(flag, _)| flag));
    let mut out = String::from(
        "# bash completion for tcpgoon, generated from its help texts by\n\
         # `tcpgoon completions bash`. Load it with `source <(tcpgoon completions bash)`, or\n\
         # install it as /usr/share/bash-completion/completions/tcpgoon.\n\
         _tcpgoon() {\n\
         \x20   local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"\" before=\"\"\n\
         \x20   [[ $COMP_CWORD -ge 1 ]] && prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n\
         \x20   [[ $COMP_CWORD -ge 2 ]] && before=\"${COMP_WORDS[COMP_CWORD-2]}\"\n\
         \x20   COMPREPLY=()\n\
         \x20   if [[ $COMP_CWORD -le 1 ]]; then\n",
    );
    out += &format!("        {}\n", bash_reply(&words_of_strings(&first_words)));
    out += "        return 0\n    fi\n    case \"${COMP_WORDS[1]}\" in\n";
    for command in commands {
        out += &format!("    {})\n", command.name);
        let options = options_of(command);
        if !options.is_empty() {
            out += "        case \"$prev\" in\n";
            let mut silent = Vec::new();
            for option in &options {
                let spellings = option.spellings().join("|");
                match option_values(option) {
                    Values::Nothing => {}
                    Values::Any => silent.push(spellings),
                    values => {
                        out += &format!(
                            "        {spellings}) {}; return 0 ;;\n",
                            bash_reply(&values)
                        )
                    }
                }
            }
            if !silent.is_empty() {
                out += &format!("        {}) return 0 ;;\n", silent.join("|"));
            }
            out += "        esac\n";
            let pairs: Vec<String> = options
                .iter()
                .filter(|o| o.values.len() == 2)
                .map(|o| o.spellings().join("|"))
                .collect();
            if !pairs.is_empty() {
                out += &format!(
                    "        case \"$before\" in {}) return 0 ;; esac\n",
                    pairs.join("|")
                );
            }
            let flags: Vec<String> = options.iter().flat_map(Opt::spellings).collect();
            out += "        if [[ $cur == -* ]]; then\n";
            out += &format!("            {}\n", bash_reply(&words_of_strings(&flags)));
            out += "            return 0\n        fi\n";
        }
        // Arguments: the first that is a list or host names is what a word not an option
        // may be (a close guess: counting arguments past options with values is not worth it).
        let guess = arguments(command)
            .into_iter()
            .map(|(_, _, values)| values)
            .find(|v| matches!(v, Values::Words(_) | Values::Hosts | Values::Files));
        if let Some(values) = guess {
            out += &format!("        {}\n", bash_reply(&values));
        }
        out += "        ;;\n";
    }
    out += "    esac\n    return 0\n}\ncomplete -F _tcpgoon tcpgoon\n";
    out
}

fn words_of_strings(words: &[String]) -> Values {
    Values::Words(words.to_vec())
}

/// Fills COMPREPLY with the candidates for `values` that start with `$cur`.
fn bash_reply(values: &Values) -> String {
    match values {
        Values::Words(words) => format!(
            "mapfile -t COMPREPLY < <(compgen -W '{}' -- \"$cur\")",
            words.join(" ")
        ),
        Values::Files => {
            "compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- \"$cur\")"
                .to_string()
        }
        Values::Hosts => "mapfile -t COMPREPLY < <(compgen -A hostname -- \"$cur\")".to_string(),
        Values::Nothing | Values::Any => "COMPREPLY=()".to_string(),
    }
}

fn zsh(commands: &[Subcommand]) -> String {
    let mut out = String::from(
        "#compdef tcpgoon\n\
         # zsh completion for tcpgoon, generated from its help texts by\n\
         # `tcpgoon completions zsh`. Install it as _tcpgoon in a directory of $fpath, or load\n\
         # it with `source <(tcpgoon completions zsh)` after compinit.\n\
         \n\
         _tcpgoon() {\n\
         \x20 local curcontext=\"$curcontext\" state line\n\
         \x20 typeset -A opt_args\n\
         \x20 _arguments -C \\\n",
    );
    for (flag, summary) in docs::global_options() {
        out += &format!("    '(- *){flag}[{}]' \\\n", zsh_text(&summary));
    }
    out += "    '1: :->command' \\\n    '*:: :->argument' && return\n";
    out += "  case $state in\n    command)\n      local -a commands\n      commands=(\n";
    for command in commands {
        out += &format!(
            "        '{}:{}'\n",
            command.name,
            zsh_text(&command.summary).replace(':', "\\:")
        );
    }
    out += "      )\n      _describe -t commands 'tcpgoon command' commands\n      ;;\n";
    out += "    argument)\n      case $words[1] in\n";
    for command in commands {
        let mut specs = Vec::new();
        for option in options_of(command) {
            // `{-c,--connections}'[…]'` is one spec for each spelling, by brace expansion.
            let names = match option.spellings().as_slice() {
                [one] => one.clone(),
                many => format!("{{{}}}", many.join(",")),
            };
            let mut spec = format!("{names}'[{}]", zsh_text(&option.summary));
            let values = option_values(&option);
            for (at, value) in option.values.iter().enumerate() {
                let action = if at == 0 {
                    zsh_action(&values)
                } else {
                    " ".to_string()
                };
                spec += &format!(":{}:{action}", zsh_text(value).replace('%', ""));
            }
            specs.push(spec + "'");
        }
        for (at, (name, optional, values)) in arguments(command).into_iter().enumerate() {
            // `FILE...`: any number of them.
            let position = if name == "FILE" && command.arguments.contains("FILE...") {
                "*".to_string()
            } else {
                (at + 1).to_string()
            };
            let colons = if optional { "::" } else { ":" };
            specs.push(format!(
                "'{position}{colons}{name}:{}'",
                zsh_action(&values)
            ));
        }
        out += &format!("        {})\n", command.name);
        if specs.is_empty() {
            out += "          _message 'no more arguments'\n";
        } else {
            out += "          _arguments \\\n";
            let last = specs.len() - 1;
            for (at, spec) in specs.iter().enumerate() {
                let end = if at == last { "" } else { " \\" };
                out += &format!("            {spec}{end}\n");
            }
        }
        out += "          ;;\n";
    }
    out += "      esac\n      ;;\n  esac\n}\n\n";
    out += "if [ \"$funcstack[1]\" = \"_tcpgoon\" ]; then\n  _tcpgoon \"$@\"\nelse\n  \
            compdef _tcpgoon tcpgoon\nfi\n";
    out
}

fn zsh_action(values: &Values) -> String {
    match values {
        Values::Words(words) => format!("({})", words.join(" ")),
        Values::Files => "_files".to_string(),
        Values::Hosts => "_hosts".to_string(),
        Values::Nothing | Values::Any => " ".to_string(),
    }
}

/// Text for inside a single-quoted `_arguments` spec: no quotes, brackets or backslashes.
fn zsh_text(text: &str) -> String {
    text.replace('\\', "")
        .replace('\'', "'\\''")
        .replace('[', "(")
        .replace(']', ")")
}

fn fish(commands: &[Subcommand]) -> String {
    let mut out = String::from(
        "# fish completion for tcpgoon, generated from its help texts by\n\
         # `tcpgoon completions fish`. Install it as ~/.config/fish/completions/tcpgoon.fish,\n\
         # or load it with `tcpgoon completions fish | source`.\n\
         function __tcpgoon_needs_command\n\
         \x20   test (count (commandline -opc)) -eq 1\n\
         end\n\
         function __tcpgoon_command\n\
         \x20   set -l words (commandline -opc)\n\
         \x20   test (count $words) -ge 2; and test $words[2] = $argv[1]\n\
         end\n\
         complete -c tcpgoon -f\n",
    );
    for (flag, summary) in docs::global_options() {
        let spelling = match flag.strip_prefix("--") {
            Some(long) => format!("-l {long}"),
            None => format!("-s {}", &flag[1..]),
        };
        out += &format!(
            "complete -c tcpgoon -n __tcpgoon_needs_command {spelling} -d {}\n",
            fish_text(&summary)
        );
    }
    for command in commands {
        out += &format!(
            "complete -c tcpgoon -n __tcpgoon_needs_command -a {} -d {}\n",
            command.name,
            fish_text(&command.summary)
        );
    }
    for command in commands {
        let when = format!("-n '__tcpgoon_command {}'", command.name);
        for option in options_of(command) {
            let mut line = format!("complete -c tcpgoon {when}");
            if let Some(short) = option.short {
                line += &format!(" -s {short}");
            }
            if let Some(long) = &option.long {
                line += &format!(" -l {long}");
            }
            line += &fish_values(&option_values(&option));
            line += &format!(" -d {}\n", fish_text(&option.summary));
            out += &line;
        }
        if let Some((name, _, values)) = arguments(command).into_iter().next() {
            let describe = match values {
                Values::Hosts => format!(" -d {}", fish_text(&name)),
                _ => String::new(),
            };
            let values = match values {
                Values::Files => " -F".to_string(),
                other => fish_values(&other),
            };
            if !values.is_empty() {
                out += &format!("complete -c tcpgoon {when}{values}{describe}\n");
            }
        }
    }
    out
}

fn fish_values(values: &Values) -> String {
    match values {
        Values::Nothing => String::new(),
        Values::Any => " -x".to_string(),
        Values::Files => " -r -F".to_string(),
        Values::Hosts => " -x -a '(__fish_print_hostnames)'".to_string(),
        Values::Words(words) => format!(" -x -a {}", fish_text(&words.join(" "))),
    }
}

/// `text` as one single-quoted fish word.
fn fish_text(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_general_help_names_the_shells_this_completes_for() {
        let completions = docs::subcommands()
            .into_iter()
            .find(|c| c.name == "completions")
            .expect("completions in the general help");
        assert_eq!(
            docs::choices(&completions.arguments),
            Some(Shell::NAMES.to_vec())
        );
        for name in Shell::NAMES {
            assert!(Shell::parse(name).is_ok());
        }
        assert!(
            Shell::parse("tcsh")
                .unwrap_err()
                .contains("expected bash, zsh, fish")
        );
    }

    #[test]
    fn values_are_suggested_where_they_are_a_list() {
        let opt = |long: &str, _: &str| {
            docs::options(Sub::Run)
                .into_iter()
                .find(|o| o.long.as_deref() == Some(long))
                .expect("an option of run")
        };
        assert_eq!(option_values(&opt("hdr-log", "FILE")), Values::Files);
        assert_eq!(
            option_values(&opt("progress", "MODE")),
            words_of(&["auto", "bar", "lines"])
        );
        assert_eq!(
            option_values(&opt("probe", "KIND")),
            words_of(&crate::engine::probe::ProbeKind::NAMES)
        );
        assert_eq!(option_values(&opt("hold", "DUR")), Values::Any);
    }
}
