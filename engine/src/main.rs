//! The `aslan` command: a thin shell over the `aslan` library.

use anyhow::Context as _;
use aslan::asl::{HistorySink, Machine, Status};
use aslan::config::EngineConfig;
use aslan::exec::{Clock, SimulatedClock, SystemClock};
use aslan::tasks::mock::MockTasks;
use aslan::tasks::Registry;
use aslan::{Engine, EngineError, RunOnce};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

// A run of many small states allocates and frees many small JSON values;
// glibc's malloc spent a quarter of a whole-process run in its own code and
// in page faults of memory it had given back (see BENCHMARKS.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod client_cmd;
mod history_out;
mod serve;
use client_cmd::client_cmd;
use history_out::HistoryWriter;

#[derive(Parser)]
#[command(
    name = "aslan",
    version,
    about = "Run AWS Step Functions state machines (Amazon States Language) locally"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum ClockKind {
    /// Wall-clock time: Wait states really wait.
    Real,
    /// Simulated time that jumps to the next timer (for tests).
    Simulated,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a state machine once, in process, and print its output.
    ///
    /// Exit 0 with the output on stdout when it succeeds; exit 1 with
    /// {"Error", "Cause"} on stdout when it fails; exit 2 for an invalid
    /// definition or bad arguments.
    Run {
        /// The state machine definition (ASL JSON), or a code workflow (a
        /// `.wasm` component of world `workflow`).
        definition: PathBuf,
        /// The execution input, as JSON text.
        #[arg(long, conflicts_with = "input_file")]
        input: Option<String>,
        /// A file holding the execution input.
        #[arg(long)]
        input_file: Option<PathBuf>,
        /// A Step Functions Local MockConfigFile for Task states.
        #[arg(long, requires = "test_case")]
        mock_config: Option<PathBuf>,
        /// The test case in the mock config to use.
        #[arg(long, requires = "mock_config")]
        test_case: Option<String>,
        /// The state machine's name (default: the definition's file stem).
        #[arg(long)]
        name: Option<String>,
        /// The execution's name (default: a generated one).
        #[arg(long)]
        execution_name: Option<String>,
        /// Print the history events as JSON lines on stderr.
        #[arg(long)]
        history: bool,
        /// Which clock drives Wait states, retries and timeouts.
        #[arg(long, value_enum, default_value = "real")]
        clock: ClockKind,
        /// The engine configuration (TOML): credentials per cluster,
        /// WebAssembly modules and pollers.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Register a WebAssembly component for this run as NAME
        /// (`arn:aslan:states:::wasm:NAME`); repeatable. Its limits and
        /// allowlist come from `[modules.NAME]` in the configuration.
        #[arg(long = "module", value_name = "NAME=PATH", value_parser = parse_module)]
        modules: Vec<(String, PathBuf)>,
    },
    /// Serve the AWS Step Functions API (JSON 1.0 protocol) with durable
    /// executions stored in a local folder.
    Serve {
        /// Where executions are stored (a sled database; created if missing).
        #[arg(long, default_value = "aslan-data")]
        data: PathBuf,
        /// Address to listen on. Without credentials only loopback is allowed.
        #[arg(long, default_value = "127.0.0.1:8083")]
        listen: std::net::SocketAddr,
        /// Region in ARNs.
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// Account in ARNs.
        #[arg(long, default_value = "123456789012")]
        account: String,
        /// A Step Functions Local MockConfigFile; pick a test case by starting
        /// an execution of `STATE_MACHINE_ARN#TestCase`.
        #[arg(long)]
        mock_config: Option<PathBuf>,
        /// Do not fsync each group commit (faster; a crash may lose the last
        /// ~200 ms and repeat their effects).
        #[arg(long)]
        no_fsync: bool,
        /// The engine configuration (TOML): credentials per cluster.
        #[arg(long)]
        config: Option<PathBuf>,
        /// After StopExecution, delete the EKS clusters, node groups and
        /// Fargate profiles the execution created and did not delete.
        #[arg(long)]
        cleanup_on_stop: bool,
        /// How long GetActivityTask waits for a task, in seconds (AWS: 60).
        #[arg(long, default_value_t = 60)]
        activity_wait_seconds: u64,
        /// Require SigV4-signed requests with this access key id.
        #[arg(long, env = "ASLAN_ACCESS_KEY_ID", requires = "secret_access_key")]
        access_key_id: Option<String>,
        /// ... and this secret access key.
        #[arg(
            long,
            env = "ASLAN_SECRET_ACCESS_KEY",
            hide_env_values = true,
            requires = "access_key_id"
        )]
        secret_access_key: Option<String>,
        /// The web console's login token (with credentials set). Without
        /// it, a random one is made and printed at startup.
        #[arg(long, env = "ASLAN_CONSOLE_TOKEN", hide_env_values = true)]
        console_token: Option<String>,
    },
    /// Inspect and stop executions on a running `aslan serve`.
    Executions {
        #[command(subcommand)]
        cmd: ExecCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// Register, list and remove WebAssembly modules on a running `aslan serve`.
    Modules {
        #[command(subcommand)]
        cmd: ModCmd,
        #[command(flatten)]
        conn: Conn,
    },
    /// Print the least-privilege IAM policy (JSON) a definition's EKS states
    /// need; with --rbac, the Kubernetes RBAC rules of its eks:call and
    /// eks:runJob states instead.
    Policy {
        /// The state machine definition (ASL JSON).
        definition: PathBuf,
        /// The region in ARNs (default `*`).
        #[arg(long, default_value = "*")]
        region: String,
        /// The account in ARNs (default `*`).
        #[arg(long, default_value = "*")]
        account: String,
        /// Print the Kubernetes RBAC rules instead.
        #[arg(long)]
        rbac: bool,
    },
    /// Validate a definition; print every problem. Exit 0 valid, 2 invalid.
    Validate {
        /// The state machine definition (ASL JSON).
        definition: PathBuf,
        /// Print the diagnostics as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct Conn {
    /// The server's URL.
    #[arg(long, global = true, env = "ASLAN_ENDPOINT", default_value = "http://127.0.0.1:8083")]
    endpoint: String,
    /// Region to sign for.
    #[arg(long, global = true, default_value = "us-east-1")]
    region: String,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum ModCmd {
    /// Compile and register a component as NAME (replacing one of that
    /// name); the server keeps it across restarts.
    Add {
        /// The module's name (`arn:aslan:states:::wasm:NAME`).
        name: String,
        /// The component (`.wasm`).
        path: PathBuf,
        /// Its limits and allowlist, as a `[modules.NAME]` table of the
        /// configuration file, in a TOML file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// List the registered modules.
    List,
    /// Remove a module.
    Remove {
        /// The module's name.
        name: String,
    },
}

#[derive(Subcommand)]
enum ExecCmd {
    /// List a state machine's executions, newest first.
    List {
        /// State machine name or ARN.
        state_machine: String,
        /// Only executions with this status (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED).
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value = "100")]
        max: usize,
    },
    /// Describe one execution.
    Describe {
        /// Execution ARN.
        arn: String,
    },
    /// Print an execution's history events.
    History {
        /// Execution ARN.
        arn: String,
        /// Newest first.
        #[arg(long)]
        reverse: bool,
    },
    /// Delete the EKS clusters, node groups and Fargate profiles an
    /// execution created and did not delete (node groups and Fargate
    /// profiles first), as its history records them.
    #[cfg(feature = "eks")]
    Cleanup {
        /// Execution ARN.
        arn: String,
        /// How long to wait for node groups and Fargate profiles to be gone
        /// before deleting their clusters.
        #[arg(long, default_value_t = 1800)]
        wait_seconds: u64,
    },
    /// Stop a running execution.
    Stop {
        /// Execution ARN.
        arn: String,
        /// Error name to record.
        #[arg(long)]
        error: Option<String>,
        /// Cause to record.
        #[arg(long)]
        cause: Option<String>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        // Warnings and errors unless ASLAN_LOG says otherwise.
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ASLAN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("aslan: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn load_config(path: Option<&Path>) -> anyhow::Result<EngineConfig> {
    Ok(match path {
        Some(p) => EngineConfig::load(p)?,
        None => EngineConfig::default(),
    })
}

/// For a `.wasm` given to `aslan run`: the module name it is registered
/// under (its file stem, with other characters than letters, digits, `-`
/// and `_` made `-`).
fn code_workflow(path: &Path) -> anyhow::Result<Option<String>> {
    if path.extension().and_then(|e| e.to_str()) != Some("wasm") {
        return Ok(None);
    }
    if !cfg!(feature = "wasm") {
        anyhow::bail!("this build of aslan has no WebAssembly support (feature `wasm`)");
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = stem
        .chars()
        .take(80)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    Ok(Some(if name.is_empty() { "workflow".into() } else { name }))
}

#[cfg(feature = "wasm")]
fn workflow_definition(module: &str) -> String {
    aslan::wasm::workflow::definition(module)
}

#[cfg(not(feature = "wasm"))]
fn workflow_definition(_: &str) -> String {
    unreachable!("code_workflow refuses .wasm without the wasm feature")
}

fn load_machine(path: &Path, tasks: &Registry) -> anyhow::Result<Result<Machine, Vec<aslan::asl::Diagnostic>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(tasks.compile(&text))
}

fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
        Cmd::Serve {
            data,
            listen,
            region,
            account,
            mock_config,
            no_fsync,
            config,
            cleanup_on_stop,
            activity_wait_seconds,
            access_key_id,
            secret_access_key,
            console_token,
        } => {
            let credentials = match (access_key_id, secret_access_key) {
                (Some(a), Some(s)) => Some(aslan::api::sigv4::Credentials {
                    access_key_id: a,
                    secret_access_key: s,
                }),
                _ => None,
            };
            let mock = match mock_config {
                Some(f) => Some(std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?),
                None => None,
            };
            let config = load_config(config.as_deref())?;
            let opts = serve::ServeOptions {
                config,
                data,
                listen,
                region,
                account,
                mock,
                fsync: !no_fsync,
                credentials,
                console_token,
                activity_wait: std::time::Duration::from_secs(activity_wait_seconds),
                cleanup_on_stop,
            };
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            rt.block_on(serve::serve(opts))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Executions { cmd, conn } => client_cmd(cmd, conn),
        Cmd::Modules { cmd, conn } => client_cmd::modules_cmd(cmd, conn),
        Cmd::Policy {
            definition,
            region,
            account,
            rbac,
        } => {
            let def = match load_machine(&definition, &Registry::builtin(&EngineConfig::default()))? {
                Ok(_) => {
                    let text = std::fs::read_to_string(&definition)?;
                    serde_json::from_str::<Value>(&text)?
                }
                Err(diags) => {
                    for d in &diags {
                        eprintln!("{}: {d}", definition.display());
                    }
                    return Ok(ExitCode::from(2));
                }
            };
            let out = if rbac {
                aslan::policy::rbac(&def)
            } else {
                aslan::policy::iam_policy(&def, &aslan::policy::Scope { region, account })
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Validate { definition, json } => {
            match load_machine(&definition, &Registry::builtin(&EngineConfig::default()))? {
                Ok(_) => {
                    if json {
                        println!("{}", json!({"result": "OK", "diagnostics": []}));
                    } else {
                        println!("{}: valid", definition.display());
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(diags) => {
                    if json {
                        println!("{}", json!({"result": "FAIL", "diagnostics": diags}));
                    } else {
                        for d in &diags {
                            eprintln!("{}: {d}", definition.display());
                        }
                        eprintln!("{}: {} problem(s)", definition.display(), diags.len());
                    }
                    Ok(ExitCode::from(2))
                }
            }
        }
        Cmd::Run {
            definition,
            input,
            input_file,
            mock_config,
            test_case,
            name,
            execution_name,
            history,
            clock,
            config,
            modules,
        } => {
            let config = load_config(config.as_deref())?;
            let mut modules = modules;
            let workflow = code_workflow(&definition)?;
            if let Some(name) = &workflow {
                modules.push((name.clone(), definition.clone()));
            }
            let registry = with_modules(Registry::builtin(&config), &config, &modules)?;
            let text = match &workflow {
                Some(name) => workflow_definition(name),
                None => std::fs::read_to_string(&definition)
                    .with_context(|| format!("cannot read {}", definition.display()))?,
            };
            let input_text = match (input, input_file) {
                (Some(s), _) => s,
                (None, Some(f)) => {
                    std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?
                }
                (None, None) => "{}".to_string(),
            };
            let input: Value = serde_json::from_str(&input_text).context("the input is not valid JSON")?;
            let sm_name = name.unwrap_or_else(|| {
                // `order.asl.json` and `order.json` both name the machine `order`.
                definition
                    .file_stem()
                    .map(|s| s.to_string_lossy().trim_end_matches(".asl").to_string())
                    .unwrap_or_else(|| "StateMachine".into())
            });
            let registry = match (mock_config, test_case) {
                (Some(f), Some(case)) => {
                    let text = std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?;
                    registry.with_mock_tasks(MockTasks::from_config(&text, &sm_name, &case)?)
                }
                _ => registry,
            };
            let clock: Arc<dyn Clock> = match clock {
                ClockKind::Real => Arc::new(SystemClock),
                ClockKind::Simulated => Arc::new(SimulatedClock::new(SystemClock.now_ms())),
            };
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            // The history goes to stderr as it is recorded, from a thread
            // of its own: a long run holds little of it in memory. The first
            // write error stops the writing and is reported once the run has
            // ended.
            let history_out = history.then(|| Arc::new(HistoryWriter::start(std::io::stderr())));
            let sink = history_out
                .clone()
                .map(|out| HistorySink(Arc::new(move |ev| out.push(ev))));
            let once = RunOnce {
                state_machine_name: sm_name,
                execution_name,
                history: false,
                history_sink: sink,
            };
            let run = Engine::builder()
                .registry(registry)
                .clock(clock)
                .run_once(&text, input, once);
            let result = match rt.block_on(run) {
                Ok(r) => r,
                Err(EngineError::InvalidDefinition(diags)) => {
                    for d in &diags {
                        eprintln!("{}: {d}", definition.display());
                    }
                    return Ok(ExitCode::from(2));
                }
                Err(e) => return Err(e.into()),
            };
            if let Some(out) = &history_out {
                out.finish().context("cannot write the history")?;
            }
            let mut out = std::io::stdout().lock();
            match result.status {
                Status::Succeeded(v) => {
                    // Serialized whole, then written at once: stdout's line
                    // buffering would scan every piece for newlines.
                    let mut line = serde_json::to_vec(&v)?;
                    line.push(b'\n');
                    out.write_all(&line)?;
                    Ok(ExitCode::SUCCESS)
                }
                Status::Failed(e) | Status::TimedOut(e) | Status::Aborted(e) => {
                    writeln!(out, "{}", json!({"Error": e.error, "Cause": e.cause}))?;
                    Ok(ExitCode::from(1))
                }
                Status::Running => unreachable!("the runner returns only when the execution ended"),
            }
        }
    }
}

fn parse_module(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((n, p)) if !n.is_empty() && !p.is_empty() => Ok((n.to_string(), PathBuf::from(p))),
        _ => Err(format!("expected NAME=PATH, got {s:?}")),
    }
}

/// Adds the WebAssembly host when modules or pollers are configured.
#[cfg(feature = "wasm")]
fn with_modules(r: Registry, config: &EngineConfig, extra: &[(String, PathBuf)]) -> anyhow::Result<Registry> {
    if extra.is_empty() && config.modules.is_empty() && config.pollers.is_empty() {
        return Ok(r);
    }
    let host = aslan::wasm::host_with_modules(config, extra, Arc::new(aslan::wasm::MemoryState::default()))?;
    if let Some(e) = aslan::wasm::check_pollers(&host, &config.pollers).into_iter().next() {
        return Err(e.into());
    }
    Ok(r.with_wasm(host, &config.pollers))
}

#[cfg(not(feature = "wasm"))]
fn with_modules(r: Registry, _: &EngineConfig, extra: &[(String, PathBuf)]) -> anyhow::Result<Registry> {
    anyhow::ensure!(
        extra.is_empty(),
        "this build of aslan has no WebAssembly support (feature `wasm`)"
    );
    Ok(r)
}
