//! Settings read from the environment only (the Lambda function, which has no
//! command line).

use clap::{Command, Parser};

use crate::error::SettingsError;

/// Parses `P` as if the program had been started with no arguments, so each
/// setting comes from its environment variable (or its default) through the
/// same clap definitions the servers parse their flags with. Variables that
/// are empty or blank count as unset. Errors name the variable, never a flag.
///
/// # Errors
/// [`SettingsError::Environment`]: a variable's value cannot be parsed.
pub fn parse_env_only<P: Parser>() -> Result<P, SettingsError> {
    let command = P::command().mut_args(|arg| {
        let blank = arg
            .get_env()
            .and_then(std::env::var_os)
            .is_some_and(|v| v.to_str().is_some_and(|s| s.trim().is_empty()));
        if blank {
            arg.env(None::<&str>)
        } else {
            arg
        }
    });
    let name = command.get_name().to_owned();
    let matches = command
        .clone()
        .try_get_matches_from([name])
        .map_err(|e| env_error(&command, &e))?;
    P::from_arg_matches(&matches).map_err(|e| env_error(&command, &e))
}

/// clap's message with each `'--flag <VALUE>'` it quotes replaced by the
/// flag's variable.
pub(crate) fn env_error(command: &Command, error: &clap::Error) -> SettingsError {
    let rendered = error.to_string();
    let message = rendered
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .trim();
    let mut out = String::new();
    let mut rest = message;
    while let Some(start) = rest.find("'--") {
        out.push_str(&rest[..start]);
        let quoted = &rest[start + 1..];
        let Some(end) = quoted.find('\'') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let long = quoted[2..end].split([' ', '=']).next().unwrap_or_default();
        let env = command
            .get_arguments()
            .find(|a| a.get_long() == Some(long))
            .and_then(clap::Arg::get_env);
        match env {
            Some(env) => out.push_str(&env.to_string_lossy()),
            None => out.push_str(&rest[start..start + end + 2]),
        }
        rest = &quoted[end + 1..];
    }
    out.push_str(rest);
    SettingsError::Environment(out)
}
