//! `wildrydes-sandbox serve`: runs one sandbox process as the launcher
//! starts it, without the `wildrydes` CLI. The sandbox's own tests give
//! the launcher this binary as its serve command, so the sandbox crate is
//! tested on its own; the CLI runs the same library function from its
//! hidden `wildrydes sandbox serve`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use wildrydes_sandbox::server::{self, Role};
use wildrydes_sandbox::topology::{Layout, Topology};

const USAGE: &str = "usage: wildrydes-sandbox serve --role <region:NAME|global> --dir <PATH> --listen-fd <FD> --topology <JSON>";

/// The arguments the launcher appends to its serve command.
struct Handed {
    role: Role,
    dir: PathBuf,
    listen_fd: i32,
    topology: Topology,
}

fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Handed, String> {
    let mut args = args.into_iter();
    if args.next().as_deref() != Some("serve".as_ref()) {
        return Err(USAGE.to_owned());
    }
    let (mut role, mut dir, mut fd, mut topology) = (None, None, None, None);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{} needs a value\n{USAGE}", flag.to_string_lossy()))?;
        let text = || {
            value
                .to_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{} is not UTF-8", flag.to_string_lossy()))
        };
        match flag.to_str() {
            Some("--role") => role = Some(Role::parse(&text()?).map_err(|e| e.to_string())?),
            Some("--dir") => dir = Some(PathBuf::from(&value)),
            Some("--listen-fd") => {
                fd = Some(
                    text()?
                        .parse::<i32>()
                        .map_err(|e| format!("--listen-fd: {e}"))?,
                )
            }
            Some("--topology") => {
                topology =
                    Some(serde_json::from_str(&text()?).map_err(|e| format!("--topology: {e}"))?)
            }
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        }
    }
    match (role, dir, fd, topology) {
        (Some(role), Some(dir), Some(listen_fd), Some(topology)) => Ok(Handed {
            role,
            dir,
            listen_fd,
            topology,
        }),
        _ => Err(format!("missing arguments\n{USAGE}")),
    }
}

fn main() -> ExitCode {
    let handed = match parse(std::env::args_os().skip(1)) {
        Ok(h) => h,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    // Served processes log to the file the launcher gave them as stderr;
    // aws-sigv4's debug output (canonical requests, session tokens) never.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
        .add_directive("aws_sigv4=info".parse().expect("a valid directive"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    let served = runtime.block_on(server::serve_inherited(
        handed.role,
        Layout::new(handed.dir),
        handed.topology,
        handed.listen_fd,
    ));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(1)
        }
    }
}
