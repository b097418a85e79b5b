//! `aslan-local-cloud --listen 127.0.0.1:PORT [--run-processes] [--eks-listen ...]`: starts the
//! emulator (Kubernetes API over HTTPS, EKS REST API over HTTP), prints one JSON line on stdout
//! when ready, and serves until killed. Logs go to stderr.

use clap::Parser;
use std::io::Write;
use std::net::SocketAddr;

/// A local Kubernetes API server emulator for testing Aslan.
#[derive(Parser, Debug)]
#[command(name = "aslan-local-cloud", version)]
struct Args {
    /// Where to listen; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Run each container's command + args as a local process instead of simulating it.
    #[arg(long)]
    run_processes: bool,
    /// Refuse every watch with 403 Forbidden, as a cluster whose RBAC does
    /// not grant `watch`.
    #[arg(long)]
    refuse_watch: bool,
    /// A fixed bearer token (default: a random one).
    #[arg(long)]
    token: Option<String>,
    /// An EKS cluster name whose tokens are accepted (repeatable; default: aslan-local).
    #[arg(long = "eks-cluster")]
    eks_clusters: Vec<String>,
    /// How many events the watch log keeps.
    #[arg(long, default_value_t = 10_000)]
    event_log_capacity: usize,
    /// Where the EKS REST API listens (plain HTTP); port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    eks_listen: SocketAddr,
    /// How long (ms) an EKS cluster, node group or Fargate profile stays CREATING.
    #[arg(long, default_value_t = 300)]
    eks_create_ms: u64,
    /// How long (ms) one stays DELETING before it is gone.
    #[arg(long, default_value_t = 300)]
    eks_delete_ms: u64,
    /// The most EKS clusters (ResourceLimitExceededException beyond).
    #[arg(long, default_value_t = 100)]
    eks_max_clusters: usize,
    /// The region in EKS ARNs when a request's signature names none.
    #[arg(long, default_value = "us-east-1")]
    eks_region: String,
    /// The account id in EKS ARNs.
    #[arg(long, default_value = "123456789012")]
    eks_account_id: String,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let mut opts = aslan_local_cloud::Options {
        listen: args.listen,
        run_processes: args.run_processes,
        refuse_watch: args.refuse_watch,
        token: args.token,
        event_log_capacity: args.event_log_capacity,
        eks_listen: args.eks_listen,
        eks_create_delay: std::time::Duration::from_millis(args.eks_create_ms),
        eks_delete_delay: std::time::Duration::from_millis(args.eks_delete_ms),
        eks_max_clusters: args.eks_max_clusters,
        eks_region: args.eks_region,
        eks_account_id: args.eks_account_id,
        ..Default::default()
    };
    if !args.eks_clusters.is_empty() {
        opts.eks_clusters = args.eks_clusters;
    }
    let handle = match aslan_local_cloud::start(opts).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("aslan-local-cloud: {e}");
            std::process::exit(1);
        }
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", handle.ready_line());
        let _ = out.flush();
    }
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("aslan-local-cloud: {e}");
            std::process::exit(1);
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    handle.shutdown();
}
