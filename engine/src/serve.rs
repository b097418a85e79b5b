//! `aslan serve`: the Step Functions API over HTTP, with durable executions.

use anyhow::Context as _;
use aslan::api::{self, sigv4::Credentials, Api, ApiConfig};
use aslan::exec::{Clock, SystemClock};
use aslan::store::Store;
use aslan::tasks::mock::MockConfig;
use aslan::tasks::Registry;
use aslan::Engine;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub struct ServeOptions {
    pub config: aslan::config::EngineConfig,
    pub data: PathBuf,
    pub listen: SocketAddr,
    pub region: String,
    pub account: String,
    pub mock: Option<String>,
    pub fsync: bool,
    pub credentials: Option<Credentials>,
    pub console_token: Option<String>,
    pub activity_wait: std::time::Duration,
    pub cleanup_on_stop: bool,
}

pub async fn serve(o: ServeOptions) -> anyhow::Result<()> {
    if o.credentials.is_none() && !o.listen.ip().is_loopback() {
        anyhow::bail!(
            "refusing to listen on {} without credentials: set ASLAN_ACCESS_KEY_ID and ASLAN_SECRET_ACCESS_KEY to require signed requests, or listen on a loopback address",
            o.listen
        );
    }
    let mut console_token = o.console_token.filter(|t| !t.is_empty());
    if console_token
        .as_deref()
        .is_some_and(|t| !aslan::console::auth::valid_token(t))
    {
        anyhow::bail!("the console token must be at least 32 characters of A-Z, a-z, 0-9, '.', '_', '~' and '-'");
    }
    let store = Store::open(&o.data).with_context(|| format!("cannot open the store in {}", o.data.display()))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let registry = match &o.mock {
        Some(text) => Registry::builtin(&o.config).with_mock_config(MockConfig::new(text)?),
        None => Registry::builtin(&o.config),
    };
    let registry = with_wasm(registry, &o.config, &store)?;
    // The same engine an embedding program opens, with the HTTP API over it.
    let engine = Engine::builder()
        .store(store.clone())
        .registry(registry)
        .clock(clock.clone())
        .region_account(&o.region, &o.account)
        .fsync(o.fsync)
        .open()
        .await?;
    let report = engine.recovery().clone();
    let engine = Arc::new(engine);
    eprintln!(
        "aslan: recovered {} running execution(s), {} timer(s), {} task(s) dispatched again, {} poll(s) resumed, {} task(s) waiting for a token or worker in {} ms",
        report.executions, report.timers, report.tasks, report.polls, report.parked, report.elapsed_ms
    );
    if report.failed > 0 {
        eprintln!(
            "aslan: {} execution(s) could not be recovered and were marked FAILED (see the log)",
            report.failed
        );
    }
    let listener = tokio::net::TcpListener::bind(o.listen)
        .await
        .with_context(|| format!("cannot listen on {}", o.listen))?;
    let addr = listener.local_addr()?;
    match &o.credentials {
        Some(c) => {
            eprintln!(
                "aslan: requests must be SigV4-signed with access key {}",
                c.access_key_id
            );
            let console = format!("aslan: web console on http://{addr}/: log in with the access key pair");
            if console_token.is_none() {
                // 244 random bits, shown once: the operator's to hand out.
                let t = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
                eprintln!("{console} or the console token {t}");
                console_token = Some(t);
            } else {
                eprintln!("{console} or the console token given with --console-token");
            }
        }
        None => {
            eprintln!("aslan: no credentials configured: serving loopback only, requests are not authenticated");
            eprintln!("aslan: web console on http://{addr}/");
        }
    }
    eprintln!(
        "aslan: serving the Step Functions API on http://{addr} (data in {}, fsync {})",
        o.data.display(),
        if o.fsync {
            "fdatasync on every group commit"
        } else {
            "off"
        }
    );
    let stopping = aslan::tasks::CancellationToken::new();
    let api = Arc::new(Api {
        cfg: ApiConfig {
            region: o.region,
            account: o.account,
            credentials: o.credentials,
            console_token,
            activity_wait: o.activity_wait,
            cleanup_on_stop: o.cleanup_on_stop,
        },
        engine: engine.clone(),
        admin: tokio::sync::Mutex::new(()),
        stopping: stopping.clone(),
        sessions: Default::default(),
    });
    let app = api::router(api.clone()).merge(aslan::console::router(api));
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Workers in GetActivityTask get their empty answer now rather
            // than holding the shutdown for up to a minute.
            stopping.cancel();
        })
        .await?;
    eprintln!("aslan: shutting down: finishing the current commit");
    // Long polls may still hold the API (and the engine): stop the
    // executor itself.
    engine.executor().shutdown().await;
    eprintln!("aslan: stopped");
    Ok(())
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// The WebAssembly host: the configured modules, then the ones registered
/// through the API (kept in the store), and the pollers. A poller whose
/// module is missing is reported, not fatal: its module can be added
/// through the API.
#[cfg(feature = "wasm")]
fn with_wasm(r: Registry, config: &aslan::config::EngineConfig, store: &Store) -> anyhow::Result<Registry> {
    let host = aslan::wasm::host_with_modules(config, &[], Arc::new(store.clone()))?;
    let n = aslan::api::modules::load_stored(store, &host)
        .map_err(|e| anyhow::anyhow!("cannot load the stored modules: {e}"))?;
    if n > 0 {
        eprintln!("aslan: loaded {n} WebAssembly module(s) from the store");
    }
    for e in aslan::wasm::check_pollers(&host, &config.pollers) {
        eprintln!("aslan: warning: {e}");
    }
    Ok(r.with_wasm(host, &config.pollers))
}

#[cfg(not(feature = "wasm"))]
fn with_wasm(r: Registry, _: &aslan::config::EngineConfig, _: &Store) -> anyhow::Result<Registry> {
    Ok(r)
}
