//! What each guest call's `Store` holds, and the limits on it.

use super::caps::Capabilities;
use super::Services;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// A guest ran out of its deadline.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the guest ran for more than {0:?} of guest time in one call")]
pub struct DeadlineExceeded(pub Duration);

/// A guest asked for more memory (or tables, or instances) than allowed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct LimitExceeded(pub String);

/// Memory and table limits of one store.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes per linear memory.
    pub memory_bytes: usize,
    /// Elements per table.
    pub table_elements: usize,
}

impl ResourceLimiter for Limits {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            return Err(LimitExceeded(format!(
                "the guest asked to grow a memory from {current} to {desired} bytes; its limit is {} bytes",
                self.memory_bytes
            ))
            .into());
        }
        Ok(true)
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            return Err(LimitExceeded(format!(
                "the guest asked to grow a table from {current} to {desired} elements; its limit is {}",
                self.table_elements
            ))
            .into());
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        4
    }
}

/// Where a guest's stdout and stderr go: kept up to a cap, the rest
/// dropped (a full pipe would trap the guest).
#[derive(Clone, Default)]
pub struct Captured {
    buf: Arc<Mutex<Vec<u8>>>,
    cap: usize,
}

impl Captured {
    /// A sink keeping at most `cap` bytes.
    pub fn new(cap: usize) -> Captured {
        Captured {
            buf: Arc::default(),
            cap,
        }
    }

    /// What was written, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl tokio::io::AsyncWrite for Captured {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.append(data);
        std::task::Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl wasmtime_wasi::cli::IsTerminal for Captured {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for Captured {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    // Written at once, not by a background task: a guest's last words
    // before a trap (a panic message) are in the buffer when the call ends.
    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::OutputStream> {
        Box::new(self.clone())
    }
}

impl Captured {
    fn append(&self, data: &[u8]) {
        let mut b = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        let room = self.cap.saturating_sub(b.len());
        b.extend_from_slice(&data[..data.len().min(room)]);
    }
}

impl wasmtime_wasi::p2::OutputStream for Captured {
    fn write(&mut self, bytes: bytes::Bytes) -> wasmtime_wasi::p2::StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> wasmtime_wasi::p2::StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> wasmtime_wasi::p2::StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[async_trait::async_trait]
impl wasmtime_wasi::p2::Pollable for Captured {
    async fn ready(&mut self) {}
}

/// The data of one guest call's store.
pub struct GuestData {
    /// The module's name.
    pub module: Arc<str>,
    /// Its allowlist.
    pub caps: Arc<Capabilities>,
    /// Clusters, EKS and the state store.
    pub services: Arc<Services>,
    /// The execution's region (for EKS and EKS tokens).
    pub region: String,
    /// Who is calling, for log lines: `execution state`.
    pub origin: String,
    /// Memory and table limits.
    pub limits: Limits,
    /// Guest time allowed per call.
    pub deadline: Duration,
    /// Guest time used before the current slice.
    used: Duration,
    /// When the guest last (re)started running: set when the call starts
    /// and after each yield to the runtime.
    resumed: Arc<Mutex<Instant>>,
    /// Host time at `resumed`.
    host_at_resume: Duration,
    /// Time spent in host calls so far (not guest time).
    pub host_time: Duration,
    /// Lines logged so far in this call.
    pub log_lines: u32,
    /// The guest's stdout and stderr (one sink).
    pub output: Captured,
    /// A code workflow's journal (none for tasks and pollers).
    pub journal: Option<Box<super::journal::Replay>>,
    wasi: Option<WasiCtx>,
    table: ResourceTable,
}

impl GuestData {
    /// The data for one call.
    pub fn new(
        module: Arc<str>,
        caps: Arc<Capabilities>,
        services: Arc<Services>,
        region: String,
        origin: String,
        limits: Limits,
        deadline: Duration,
    ) -> GuestData {
        GuestData {
            module,
            caps,
            services,
            region,
            origin,
            limits,
            deadline,
            used: Duration::ZERO,
            resumed: Arc::new(Mutex::new(Instant::now())),
            host_at_resume: Duration::ZERO,
            host_time: Duration::ZERO,
            log_lines: 0,
            output: Captured::new(64 * 1024),
            journal: None,
            wasi: None,
            table: ResourceTable::new(),
        }
    }

    /// Starts the clock of guest time (when the call begins to run).
    pub fn start_clock(&mut self) {
        *self.resumed.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.host_at_resume = self.all_host_time();
    }

    /// Adds the slice since the guest last resumed, less the host calls in
    /// it, to the guest time used, and returns the total. Time the guest
    /// spends yielded to the runtime (waiting for a thread) is not counted.
    pub fn tick(&mut self) -> Duration {
        let now = Instant::now();
        let mut resumed = self.resumed.lock().unwrap_or_else(|e| e.into_inner());
        let host = self.all_host_time().saturating_sub(self.host_at_resume);
        self.used += now.saturating_duration_since(*resumed).saturating_sub(host);
        *resumed = now;
        self.host_at_resume = self.all_host_time();
        self.used
    }

    /// Time in host calls, a code workflow's waits for its journal's
    /// commits included.
    fn all_host_time(&self) -> Duration {
        self.host_time + self.journal.as_ref().map_or(Duration::ZERO, |j| j.waited)
    }

    /// A handle that [`tick`](GuestData::tick)'s caller sets when the guest
    /// resumes after a yield.
    pub fn resume_handle(&self) -> Arc<Mutex<Instant>> {
        self.resumed.clone()
    }
}

impl WasiView for GuestData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        // Built on first use, so guests that import no WASI never pay for
        // it. Sandboxed: no environment, arguments, preopened directories
        // or sockets; stdout and stderr captured; clocks and random on.
        // A code workflow's clocks stand still at 0 and its random bytes
        // are zeros: its only time and randomness are the journaled ones.
        let out = self.output.clone();
        let workflow = self.journal.is_some();
        let ctx = self.wasi.get_or_insert_with(|| {
            let mut b = WasiCtx::builder();
            b.stdout(out.clone()).stderr(out).allow_tcp(false).allow_udp(false);
            if workflow {
                b.wall_clock(Frozen)
                    .monotonic_clock(Frozen)
                    .secure_random(wasmtime_wasi::random::Deterministic::new(vec![0]))
                    .insecure_random(wasmtime_wasi::random::Deterministic::new(vec![0]))
                    .insecure_random_seed(0);
            }
            b.build()
        });
        WasiCtxView {
            ctx,
            table: &mut self.table,
        }
    }
}

/// A clock that stands at 0 (a code workflow's WASI clocks).
struct Frozen;

impl wasmtime_wasi::HostWallClock for Frozen {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for Frozen {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}
