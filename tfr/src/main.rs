#![doc = include_str!("../README.md")]

mod cli;
mod credentials;
mod error;
mod exchange;
mod host;
mod http;
mod secret;
mod tokens;

use std::path::PathBuf;
use std::process::ExitCode;

use cli::{Cli, Command};
use error::Error;

fn main() -> ExitCode {
    let command = Cli::parse_command();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tfr: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tfr: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `command` with the process's environment.
async fn run(command: Command) -> Result<(), Error> {
    let env = |name: &str| std::env::var(name).ok();
    let ssl_cert_file = env("SSL_CERT_FILE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let client = http::Client::new(ssl_cert_file)?;
    match command {
        Command::Login { login, output } => exchange::login(login, output, &client, &env).await,
        Command::ListTokens { host, json } => {
            let master = tokens::master_token(env(tokens::MASTER_TOKEN_VAR))?;
            tokens::list(&client, &host, &master, json).await
        }
        Command::CreateToken(create) => {
            let master = tokens::master_token(env(tokens::MASTER_TOKEN_VAR))?;
            tokens::create(&client, &create, &master).await
        }
        Command::DeleteToken { host, name } => {
            let master = tokens::master_token(env(tokens::MASTER_TOKEN_VAR))?;
            tokens::delete(&client, &host, &name, &master).await
        }
    }
}
