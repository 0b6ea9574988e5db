//! The `troupe` binary. Everything lives in the library; see `troupe::startup::serve`.

use clap::Parser;
use std::process::ExitCode;
use troupe::cli::{Cli, ClusterCommand, Command, KeysCommand};
use troupe::config::{self, Overrides};

// glibc malloc took a third of the CPU of actor activation, plus lock waits; mimalloc doubles
// activations per second (benches/actor_runtime.rs). Built with `no_thp`: mimalloc otherwise
// asks for transparent huge pages, and each connection's buffers then cost 18.5 KiB of RSS
// instead of 11.4 KiB (10,000 event streams, benches/playback.rs part 3).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Serve {
            config,
            data_dir,
            listen,
            node_name,
            cluster_listen,
            seeds,
        } => {
            let overrides = Overrides {
                data_dir,
                listen,
                node_name,
                cluster_listen,
                seeds,
            };
            config::load(config.as_deref(), &overrides)
                .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))
                .and_then(troupe::startup::serve)
        }
        Command::Migrate {
            config,
            data_dir,
            to,
        } => {
            let overrides = Overrides {
                data_dir,
                ..Default::default()
            };
            config::load(config.as_deref(), &overrides)
                .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))
                .and_then(|c| troupe::startup::migrate(c, &to))
        }
        Command::Keys {
            command: KeysCommand::Rotate { config },
        } => config::load(config.as_deref(), &Overrides::default())
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))
            .and_then(troupe::startup::rotate_keys),
        Command::Cluster {
            command: ClusterCommand::Forget { name, config },
        } => config::load(config.as_deref(), &Overrides::default())
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))
            .and_then(|c| troupe::startup::forget_member(c, &name)),
        Command::Cluster {
            command: ClusterCommand::Certs { out, nodes, revoke },
        } => troupe::certs::run(&out, &nodes, &revoke),
        Command::Cluster {
            command: ClusterCommand::Cookie,
        } => {
            println!("{}", troupe::certs::fresh_cookie());
            Ok(())
        }
        Command::Reindex { config, data_dir } => {
            let overrides = Overrides {
                data_dir,
                ..Default::default()
            };
            config::load(config.as_deref(), &overrides)
                .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))
                .and_then(troupe::startup::reindex)
        }
        Command::Openapi => serde_json::to_string_pretty(&troupe::http::openapi())
            .map(|json| println!("{json}"))
            .map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("troupe: {e:#}");
            ExitCode::FAILURE
        }
    }
}
