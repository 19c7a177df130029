//! `granary`: the registry server (`serve`), operator commands (`admin`), and the user CLI
//! (`login`, `dataset …`), in one binary.

mod admin;
mod client;
mod dataset;
mod digests;
mod local;
mod login;
mod output;
mod progress;
mod pull;
mod serve;
mod sessions;

use clap::{Parser, Subcommand};
use std::io::Write;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "granary",
    version,
    about = "A self-hostable dataset registry",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry server.
    Serve(serve::ServeArgs),
    /// Operator commands that work on the registry's database directly.
    Admin(admin::AdminArgs),
    /// Save the server URL and API key the other commands use (in a profile).
    Login(login::LoginArgs),
    /// Show who the registry takes the API key for, and where the key came from.
    Whoami(login::WhoamiArgs),
    /// Forget a saved profile and its API key.
    Logout(login::LogoutArgs),
    /// Print a shell completion script: `granary completions bash > /etc/bash_completion.d/granary`.
    Completions {
        /// bash, zsh, fish, powershell or elvish
        shell: clap_complete::Shell,
    },
    /// Inspect, push and look up datasets.
    #[command(subcommand)]
    Dataset(dataset::DatasetCommand),
}

#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read at its start (`MALLOC_CONF` syntax; the `MALLOC_CONF`
/// environment variable overrides them, `_RJEM_MALLOC_CONF` where jemalloc keeps its prefix).
/// Measured under a saturating mixed load, the server's live heap stays under 9 MiB while
/// the defaults let RSS climb by a third over 15 minutes in per-thread caches and arenas
/// before levelling off (docs/BENCHMARKS.md#soak): two arenas, small thread caches, and a
/// background thread that returns freed pages after a second keep memory where the work is.
/// On Linux jemalloc also serves C's `malloc`, so SQLite's page caches live under the same
/// limits (and in `/metrics`) instead of in glibc arenas of their own.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[allow(non_upper_case_globals)]
#[cfg_attr(target_os = "linux", export_name = "malloc_conf")]
#[cfg_attr(not(target_os = "linux"), export_name = "_rjem_malloc_conf")]
pub static malloc_conf: &[u8] =
    b"background_thread:true,narenas:2,tcache_max:4096,dirty_decay_ms:1000,muzzy_decay_ms:1000\0";

/// Heap figures from jemalloc for `/metrics` (`stats.allocated`, `stats.resident`); the
/// epoch is advanced first so the figures are current.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
fn jemalloc_stats() -> Option<granary_server::metrics::AllocatorStats> {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().ok()?;
    Some(granary_server::metrics::AllocatorStats {
        allocated: stats::allocated::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
    })
}

fn main() -> ExitCode {
    #[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
    granary_server::metrics::set_allocator_probe(jemalloc_stats);
    let cli = Cli::parse();
    // A command whose output is piped into `head` ends quietly when the reader goes, with
    // the status a process killed by SIGPIPE has (141), as other command-line tools do.
    // SIGPIPE itself stays ignored: a socket the registry closes (TLS spoken to a plain HTTP
    // server) must be an error message, not a silent death.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to std") {
            if msg.contains("Broken pipe") {
                std::process::exit(141);
            }
            // Any other failure to write the output (a full disk, a closed terminal) is
            // one line and exit 1, like every other failure.
            let reason = msg.split_once(": ").map_or(msg, |(_, r)| r);
            let stream = if msg.contains("stderr") { "stderr" } else { "stdout" };
            let _ = writeln!(std::io::stderr(), "error: cannot write to {stream}: {reason}");
            std::process::exit(1);
        }
        default_hook(info);
    }));
    // Blocking work (file reads and writes of the local store, previews) is I/O-bound or
    // bounded by its own slots; tokio's default of up to 512 such threads only adds stacks
    // and allocator caches under load (a soak grew to 90 of them), so at most 64.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(64)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Admin(args) => admin::run(args).await,
            Command::Login(args) => login::run(args).await,
            Command::Whoami(args) => login::whoami(args).await,
            Command::Logout(args) => login::logout(args).await,
            Command::Completions { shell } => {
                use clap::CommandFactory;
                let mut script = Vec::new();
                clap_complete::generate(shell, &mut Cli::command(), "granary", &mut script);
                match std::io::stdout().write_all(&script) {
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(141),
                    r => r.map_err(|e| anyhow::anyhow!("cannot write to stdout: {e}")),
                }
            }
            Command::Dataset(cmd) => dataset::run(cmd).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the outermost message and its causes, never a backtrace.
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg.push_str(": ");
                    msg.push_str(&c);
                }
            }
            // Messages from parsers can span lines; keep the contract of one line.
            let msg: Vec<&str> = msg.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            eprintln!("error: {}", msg.join(" "));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every command's arguments are consistent (clap's debug checks: unique names, valid
    /// defaults, aliases).
    #[test]
    fn command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
