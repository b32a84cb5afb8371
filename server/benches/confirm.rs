//! `cargo xtask bench`: confirms per second over real HTTP, with p50/p99 latency, beside the
//! same machine's one-row-insert transaction rate on the same database in the same run; and the
//! element's `GET config` beside a hello-world axum handler served the same way.
//!
//! Per backend: a fresh database and a real `govifi-server` process on 127.0.0.1:0; the insert
//! rate with N writers (from this process, on the same database) for the run's duration; a pool
//! of sessions with fee quotes prepared (untimed); N workers reading their configs, then a
//! hello-world route served by this process, for the same duration; N workers confirming
//! sessions; then the same confirms spread over two server processes on the one database. The
//! server's own peak RSS is read from /proc. The ratios (confirms/s ÷ inserts/s; config req/s ÷
//! hello req/s and p99 ÷ p99) are the figures tracked. Results also go to
//! `target/bench/results.json`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use server::config::MasterKey;
use sqlx::{Connection, Executor};
use tokio::io::AsyncBufReadExt;
use tokio::sync::Mutex;

struct Options {
    seconds: u64,
    concurrency: usize,
    postgres: Option<String>,
    /// `--backend sqlite|postgres`: only that database (A/B runs of one backend).
    only: Option<String>,
}

fn options() -> Options {
    let mut o = Options {
        seconds: 10,
        concurrency: 16,
        postgres: std::env::var("GOVIFI_BENCH_POSTGRES_URL")
            .or_else(|_| std::env::var("GOVIFI_TEST_POSTGRES_URL"))
            .ok()
            .filter(|s| !s.is_empty()),
        only: None,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--seconds" => {
                o.seconds = args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(o.seconds);
                i += 1;
            }
            "--backend" => {
                o.only = args.get(i + 1).cloned();
                i += 1;
            }
            "--concurrency" => {
                o.concurrency = args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(o.concurrency);
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    o
}

#[derive(serde::Serialize)]
struct Report {
    backend: &'static str,
    confirms: usize,
    confirms_per_s: f64,
    mean_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
    inserts_per_s: f64,
    failures: usize,
    /// The same confirms spread over two server processes on the one database.
    two_processes: Load,
    /// Good clients' config reads alone, then beside a flood of bad credentials, and the flood.
    flood_quiet: Load,
    flood_loud: Load,
    flood: Load,
    /// Peak resident set of the (first) server process, MB (mapped database pages included).
    server_peak_rss_mb: Option<f64>,
    /// Its private (anonymous) memory after the loads, MB.
    server_anon_rss_mb: Option<f64>,
    config: Load,
    hello: Load,
    /// The same two routes with one client at a time: each request's own latency, no queue.
    config_alone: Load,
    hello_alone: Load,
    /// `GET /healthz` on the product's server: its HTTP stack and middleware without a database
    /// call, the floor under `config`'s figures (not a target; it tells the two costs apart).
    healthz: Load,
    /// Where the 1-process confirms' time went, by the server's own histograms.
    profile: Profile,
    /// Who spent the machine's CPU in each load.
    cpu: CpuReport,
}

/// [`Cpu`] of the loads the ratios compare.
#[derive(serde::Serialize)]
struct CpuReport {
    inserts: Cpu,
    confirms: Cpu,
    two_processes: Cpu,
    config: Cpu,
    hello: Cpu,
}

/// Requests per second and latency of one route under the run's concurrency.
#[derive(serde::Serialize, Clone, Copy, Default)]
struct Load {
    requests: usize,
    /// How long the load ran.
    seconds: f64,
    per_s: f64,
    mean_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
    failures: usize,
}

/// `x ÷ of`, for the tables (a zero baseline, from a phase that failed outright, gives a huge
/// ratio rather than a division by zero).
fn ratio(x: f64, of: f64) -> f64 {
    x / of.max(1e-9)
}

fn mean_ms(latencies: &[Duration]) -> f64 {
    if latencies.is_empty() {
        return 0.0;
    }
    latencies.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / latencies.len() as f64
}

/// A figure of a process's `/proc/<pid>/status`, in KiB (Linux): `VmHWM:` its peak resident
/// set, `RssAnon:` its private memory now.
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time so far, in ticks of Linux's `USER_HZ` (100 a second): the machine's busy and total
/// time (`/proc/stat`), one process's (`/proc/<pid>/stat`: its own user and system time), and
/// PostgreSQL's (every `postgres` process, with the time of the backends already gone: the
/// postmaster's reaped children).
#[derive(Clone, Copy, Default)]
struct CpuTicks {
    machine_busy: u64,
    machine_total: u64,
    server: u64,
    database: u64,
    client: u64,
}

const USER_HZ: f64 = 100.0;

/// utime + stime, and cutime + cstime when `children`, of `/proc/<pid>/stat`.
fn process_ticks(pid: &str, children: bool) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime, stime, cutime, cstime are the 14th to 17th fields; `fields` starts at the 3rd.
    Some(field(11) + field(12) + if children { field(13) + field(14) } else { 0 })
}

/// The processes a load's CPU is charged to: the server processes (their pids), and PostgreSQL's
/// when the bench runs on it (on SQLite a PostgreSQL elsewhere on the machine is not the bench's).
struct Parties {
    servers: Vec<u32>,
    postgres: bool,
}

impl Parties {
    fn of(servers: &[&ServerProcess], postgres: bool) -> Parties {
        Parties { servers: servers.iter().filter_map(|s| s.child.id()).collect(), postgres }
    }
}

/// Runs `work`, and the CPU spent meanwhile.
async fn with_cpu<T>(parties: &Parties, work: impl std::future::Future<Output = T>) -> (T, CpuSpan) {
    let before = CpuTicks::now(parties);
    let out = work.await;
    (out, CpuSpan(before, CpuTicks::now(parties)))
}

/// CPU counters at a load's start and end.
struct CpuSpan(CpuTicks, CpuTicks);

impl CpuTicks {
    fn now(parties: &Parties) -> CpuTicks {
        let mut t = CpuTicks::default();
        if let Some(cpu) = std::fs::read_to_string("/proc/stat").ok().and_then(|s| s.lines().next().map(str::to_owned))
        {
            let v: Vec<u64> = cpu.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
            // user nice system idle iowait irq softirq steal (guest time is inside user).
            t.machine_total = v.iter().take(8).sum();
            t.machine_busy = t.machine_total - v.get(3).copied().unwrap_or(0) - v.get(4).copied().unwrap_or(0);
        }
        t.server = parties.servers.iter().filter_map(|pid| process_ticks(&pid.to_string(), false)).sum();
        t.client = process_ticks("self", false).unwrap_or(0);
        if parties.postgres
            && let Ok(dir) = std::fs::read_dir("/proc")
        {
            for entry in dir.flatten() {
                let pid = entry.file_name().to_string_lossy().into_owned();
                if pid.bytes().all(|b| b.is_ascii_digit())
                    && std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "postgres")
                {
                    t.database += process_ticks(&pid, true).unwrap_or(0);
                }
            }
        }
        t
    }
}

/// Who spent the CPU of one load, per operation answered (µs), and how busy the machine was.
#[derive(serde::Serialize, Clone, Copy, Default)]
struct Cpu {
    /// Share of the machine's CPU time that was busy (all cores; 1.0 = every core all the time).
    machine_busy: f64,
    server_us: f64,
    /// PostgreSQL's processes (zero on SQLite, whose work is inside the server process).
    database_us: f64,
    /// The bench process itself: the load generator (and, for the inserts, the inserting client).
    client_us: f64,
    /// Every process on the machine, busy time ÷ operations.
    machine_us: f64,
}

impl CpuSpan {
    /// Per operation answered over the span.
    fn per(self, operations: usize) -> Cpu {
        let CpuSpan(a, b) = self;
        let per_op = |ticks: u64| ticks as f64 / USER_HZ * 1e6 / operations.max(1) as f64;
        let total = b.machine_total.saturating_sub(a.machine_total);
        let busy = b.machine_busy.saturating_sub(a.machine_busy);
        Cpu {
            machine_busy: busy as f64 / total.max(1) as f64,
            server_us: per_op(b.server.saturating_sub(a.server)),
            database_us: per_op(b.database.saturating_sub(a.database)),
            client_us: per_op(b.client.saturating_sub(a.client)),
            // /proc/stat counts every core: per operation that is CPU time, not wall time.
            machine_us: per_op(busy),
        }
    }
}

/// Latencies' percentile `p` in milliseconds (sorted input).
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// `concurrency` workers sending `request(i)` (i counting up across all workers) until the
/// deadline; a non-2xx answer or no answer counts as a failure.
async fn load<F>(concurrency: usize, seconds: u64, request: F) -> Load
where
    F: Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    load_while(concurrency, move |_| Instant::now() < deadline, request).await
}

/// Like [`load`], each worker going on while `more(i)` says so for the next request.
async fn load_while<F, M>(concurrency: usize, more: M, request: F) -> Load
where
    F: Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
    M: Fn(usize) -> bool + Send + Sync + 'static,
{
    let (request, more) = (Arc::new(request), Arc::new(more));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let failures = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (request, more, next, failures) = (request.clone(), more.clone(), next.clone(), failures.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if !more(i) {
                        break;
                    }
                    let t = Instant::now();
                    let answered = match request(i).send().await {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if answered {
                        mine.push(t.elapsed());
                    } else {
                        failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                mine
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap_or_default());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    Load {
        requests: all.len(),
        seconds: elapsed,
        per_s: all.len() as f64 / elapsed,
        mean_ms: mean_ms(&all),
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
        failures: failures.load(std::sync::atomic::Ordering::Relaxed),
    }
}

/// Good clients reading their configs alone, then the same clients while a flood of
/// `FLOOD_REQUESTS` bad credentials comes from another address (127.0.0.2): (quiet, flooded,
/// the flood's own figures).
async fn flood(base: &str, credentials: &Arc<Vec<(String, String)>>, o: &Options) -> (Load, Load, Load) {
    const GOOD_CLIENTS: usize = 4;
    let http = reqwest::Client::new();
    let good = |offset| config_call(&http, base, credentials, offset);
    let quiet = load(GOOD_CLIENTS, o.seconds.div_ceil(2), good(0)).await;
    let b = base.to_owned();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The attacker runs on a thread of its own (one core at most), as it would on a machine of
    // its own: its client's work is not the server's.
    let flood = {
        let done = done.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let attacker = reqwest::Client::builder()
                    .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
                    .build()
                    .expect("a client on 127.0.0.2");
                let flood = load_while(
                    FLOOD_CLIENTS,
                    |i| i < FLOOD_REQUESTS,
                    move |i| {
                        let id = format!("cs_{:024}", i);
                        attacker
                            .get(format!("{b}/v1/hosted-sessions/{id}/config"))
                            .bearer_auth(format!("{id}_secret_bad{i}"))
                    },
                )
                .await;
                done.store(true, std::sync::atomic::Ordering::SeqCst);
                flood
            })
        })
    };
    let flooded = load_while(GOOD_CLIENTS, move |_| !done.load(std::sync::atomic::Ordering::SeqCst), good(7_919)).await;
    (quiet, flooded, flood.join().expect("flood"))
}

/// The flood's size (issue 14) and its concurrent connections.
const FLOOD_REQUESTS: usize = 10_000;
const FLOOD_CLIENTS: usize = 16;

/// A hello-world axum handler on its own port, served exactly as the product is.
async fn hello_server() -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let router = axum::Router::new().route("/", axum::routing::get(|| async { "Hello, world!" }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::app::serve(listener, router, async move {
        let _ = stopped.await;
    }));
    (base, stop)
}

fn main() {
    let o = options();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let mut reports = Vec::new();
    runtime.block_on(async {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().expect("temp dir");
        let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
        let wanted = |backend: &str| o.only.as_deref().is_none_or(|only| only == backend);
        if wanted("sqlite") {
            reports.push(bench("sqlite", &sqlite, &o).await);
        }
        match o.postgres.as_ref().filter(|_| wanted("postgres")) {
            Some(admin) => {
                let name = format!("govifi_bench_{}", server::domain::ids::random_base62(12).to_ascii_lowercase());
                let mut conn = sqlx::AnyConnection::connect(admin).await.expect("connect to PostgreSQL");
                conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create bench database");
                let mut url = url::Url::parse(admin).expect("a URL");
                url.set_path(&format!("/{name}"));
                reports.push(bench("postgres", url.as_str(), &o).await);
                let _ = conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await;
            }
            None => println!("(PostgreSQL skipped: set GOVIFI_TEST_POSTGRES_URL or GOVIFI_BENCH_POSTGRES_URL)"),
        }
    });
    println!("\n== confirm benchmark: {} s per phase, {} concurrent ==", o.seconds, o.concurrency);
    println!(
        "{:<9} {:>9} {:>11} {:>9} {:>9} {:>13} {:>7} {:>9}",
        "database", "confirms", "confirms/s", "p50 ms", "p99 ms", "inserts/s", "ratio", "failures"
    );
    for r in &reports {
        println!(
            "{:<9} {:>9} {:>11.1} {:>9.1} {:>9.1} {:>13.1} {:>7.2} {:>9}",
            r.backend,
            r.confirms,
            r.confirms_per_s,
            r.p50_ms,
            r.p99_ms,
            r.inserts_per_s,
            ratio(r.confirms_per_s, r.inserts_per_s),
            r.failures
        );
    }
    println!("(ratio = confirms/s ÷ one-row-insert transactions/s on the same database; target ≥ 0.5)");
    println!("\n== where a confirm's time goes (the server's own histograms over the 1-process load; means, ms) ==");
    println!(
        "{:<9} {:>8} {:>7} {:>8} {:>10} {:>7} {:>8} {:>11} {:>12} {:>7} {:>15}",
        "database",
        "answer",
        "server",
        "checks",
        "claim",
        "authorize",
        "finish",
        "turn wait",
        "commit wait",
        "COMMIT",
        "writes/COMMIT"
    );
    for r in &reports {
        let p = &r.profile;
        println!(
            "{:<9} {:>8.2} {:>7.2} {:>8.2} {:>10.2} {:>7.2} {:>8.2} {:>11.2} {:>12.2} {:>7.2} {:>15.1}",
            r.backend,
            r.mean_ms,
            p.handler_ms,
            p.checks_ms,
            p.claim_ms,
            p.authorize_ms,
            p.finish_ms,
            p.turn_wait_ms,
            p.commit_wait_ms,
            p.commit_ms,
            p.members_per_commit
        );
    }
    println!(
        "(answer = the client's mean latency; server = the confirm route's own time. A write on SQLite waits its turn \
         for the one writer, runs, then waits for the group's COMMIT; on PostgreSQL those columns are empty)"
    );
    println!("\n== CPU per operation (µs: the processes' user + system time ÷ operations answered) ==");
    println!(
        "{:<9} {:<14} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "database", "load", "busy", "server", "database", "client", "machine"
    );
    for r in &reports {
        let c = &r.cpu;
        for (name, cpu) in [
            ("inserts", &c.inserts),
            ("confirms", &c.confirms),
            ("2 processes", &c.two_processes),
            ("GET config", &c.config),
            ("hello world", &c.hello),
        ] {
            println!(
                "{:<9} {:<14} {:>7.0}% {:>9.0} {:>9.0} {:>9.0} {:>9.0}",
                r.backend,
                name,
                cpu.machine_busy * 100.0,
                cpu.server_us,
                cpu.database_us,
                cpu.client_us,
                cpu.machine_us
            );
        }
        println!(
            "{:<9} CPU ratios: insert ÷ confirm {:.2}, hello ÷ config {:.2} (what the ratios above reach when the \
             machine's cores are the bound)",
            r.backend,
            ratio(c.inserts.machine_us, c.confirms.machine_us),
            ratio(c.hello.machine_us, c.config.machine_us)
        );
    }
    println!(
        "(busy = the machine's cores in use over the load; client = the bench process: the load generator, the \
         inserting client, and the hello-world handler; on SQLite the database's work is inside the server)"
    );
    println!("\n== confirms with one and two server processes on one database ==");
    println!("{:<9} {:>13} {:>13} {:>9} {:>9}", "database", "1 process/s", "2 processes/s", "scaling", "p99 ms");
    for r in &reports {
        println!(
            "{:<9} {:>13.1} {:>13.1} {:>9.2} {:>9.1}",
            r.backend,
            r.confirms_per_s,
            r.two_processes.per_s,
            ratio(r.two_processes.per_s, r.confirms_per_s),
            r.two_processes.p99_ms
        );
    }
    println!("(the server processes, the database and the load generator share the machine's cores)");
    println!("\n== GET config beside a hello-world axum handler ({} concurrent) ==", o.concurrency);
    println!(
        "{:<9} {:>11} {:>9} {:>11} {:>9} {:>9} {:>9} {:>9}",
        "database", "config/s", "p99 ms", "hello/s", "p99 ms", "req ratio", "p99 ratio", "failures"
    );
    for r in &reports {
        println!(
            "{:<9} {:>11.1} {:>9.2} {:>11.1} {:>9.2} {:>9.2} {:>9.2} {:>9}",
            r.backend,
            r.config.per_s,
            r.config.p99_ms,
            r.hello.per_s,
            r.hello.p99_ms,
            ratio(r.config.per_s, r.hello.per_s),
            ratio(r.config.p99_ms, r.hello.p99_ms),
            r.config.failures + r.hello.failures
        );
    }
    println!("(req ratio = config req/s ÷ hello req/s, target ≥ 0.5; p99 ratio = config p99 ÷ hello p99, target ≤ 5)");
    println!("\n== The same two routes with one client at a time (no queue) ==");
    println!(
        "{:<9} {:>11} {:>11} {:>11} {:>11} {:>9} {:>9}",
        "database", "config p50", "config p99", "hello p50", "hello p99", "p50 ratio", "p99 ratio"
    );
    for r in &reports {
        let (c, h) = (&r.config_alone, &r.hello_alone);
        println!(
            "{:<9} {:>11.3} {:>11.3} {:>11.3} {:>11.3} {:>9.2} {:>9.2}",
            r.backend,
            c.p50_ms,
            c.p99_ms,
            h.p50_ms,
            h.p99_ms,
            ratio(c.p50_ms, h.p50_ms),
            ratio(c.p99_ms, h.p99_ms)
        );
    }
    println!(
        "(ms; under the {}-client loads above each request also waits behind the others, so there a p99 ratio \
         follows the req/s ratio)",
        o.concurrency
    );
    println!("\n== The server's floor: GET /healthz through the same stack, no database ==");
    println!(
        "{:<9} {:>11} {:>9} {:>14} {:>16}",
        "database", "healthz/s", "p99 ms", "÷ hello req/s", "config ÷ healthz"
    );
    for r in &reports {
        println!(
            "{:<9} {:>11.1} {:>9.2} {:>14.2} {:>16.2}",
            r.backend,
            r.healthz.per_s,
            r.healthz.p99_ms,
            ratio(r.healthz.per_s, r.hello.per_s),
            ratio(r.config.per_s, r.healthz.per_s)
        );
    }
    println!("\n== GET config for 4 good clients, alone and beside a flood of {FLOOD_REQUESTS} bad credentials ==");
    println!("{:<9} {:>13} {:>15} {:>9} {:>13}", "database", "p99 alone ms", "p99 flooded ms", "ratio", "flood req/s");
    for r in &reports {
        println!(
            "{:<9} {:>13.2} {:>15.2} {:>9.2} {:>13.0}",
            r.backend,
            r.flood_quiet.p99_ms,
            r.flood_loud.p99_ms,
            ratio(r.flood_loud.p99_ms, r.flood_quiet.p99_ms),
            ratio((r.flood.requests + r.flood.failures) as f64, r.flood.seconds),
        );
    }
    println!("(ratio = p99 beside the flood ÷ p99 alone, target ≤ 2; the flood comes from 127.0.0.2)");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    for r in &reports {
        match (r.server_peak_rss_mb, r.server_anon_rss_mb) {
            (Some(peak), Some(anon)) => println!(
                "{}: server process after the config and confirm loads: peak RSS {peak:.1} MB, private {anon:.1} MB \
                 (target ≤ 64 MB)",
                r.backend
            ),
            _ => println!("{}: the server's RSS is not available on this system", r.backend),
        }
    }
    let results = serde_json::json!({
        "seconds": o.seconds,
        "concurrency": o.concurrency,
        "results": reports,
    });
    match std::fs::create_dir_all(&out)
        .and_then(|_| std::fs::write(out.join("results.json"), serde_json::to_vec_pretty(&results).unwrap_or_default()))
    {
        Ok(()) => println!("results: {}", out.join("results.json").display()),
        Err(e) => println!("could not write the results: {e}"),
    }
}

/// A session ready to confirm: (session id, client secret, fee quote id).
type Prepared = (String, String, String);

/// A `govifi-server` process on the bench's database (killed when dropped).
struct ServerProcess {
    url: String,
    child: tokio::process::Child,
}

const BOOTSTRAP_ID: &str = "bench-client";
const BOOTSTRAP_SECRET: &str = "bench-secret-0123456789abcdefghij";

impl ServerProcess {
    async fn start(database_url: &str, master_key: &str, assets: &std::path::Path) -> ServerProcess {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_govifi-server"));
        // Only the settings given here: none of the caller's GOVIFI_*, and no workspace `.env`
        // (the server looks for one from its working directory up).
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("GOVIFI_")) {
            command.env_remove(name);
        }
        let mut child = command
            .current_dir(std::env::temp_dir())
            .env("GOVIFI_BIND", "127.0.0.1:0")
            .env("GOVIFI_DATABASE_URL", database_url)
            .env("GOVIFI_MASTER_KEY", master_key)
            .env("GOVIFI_ASSETS_DIR", assets)
            .env("GOVIFI_PUBLIC_URL", "http://bench.local")
            .env("GOVIFI_BOOTSTRAP_CLIENT_ID", BOOTSTRAP_ID)
            .env("GOVIFI_BOOTSTRAP_CLIENT_SECRET", BOOTSTRAP_SECRET)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("govifi-server starts");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("server output") {
                if let Some(url) = line.strip_prefix("govifi-server listening on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("govifi-server exited before listening");
        })
        .await
        .expect("govifi-server listens within 60 s");
        // Keep reading its output, so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        ServerProcess { url, child }
    }

    fn peak_rss_mb(&self) -> Option<f64> {
        self.child.id().and_then(|pid| status_kb(pid, "VmHWM:")).map(|kb| kb as f64 / 1024.0)
    }

    /// Its private memory now (heap and stacks; not the database file's mapped pages).
    fn anon_rss_mb(&self) -> Option<f64> {
        self.child.id().and_then(|pid| status_kb(pid, "RssAnon:")).map(|kb| kb as f64 / 1024.0)
    }

    /// SIGTERM, and wait for it to finish what it has in flight.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await;
    }
}

async fn bench(backend: &'static str, database_url: &str, o: &Options) -> Report {
    let assets = tempfile::tempdir().expect("temp dir");
    let master_key = MasterKey::generate().to_base64();
    let server = ServerProcess::start(database_url, &master_key, assets.path()).await;
    let base = server.url.clone();
    let postgres = backend == "postgres";
    let one_server = Parties::of(&[&server], postgres);
    let ((inserts_per_s, inserted), span) = with_cpu(&one_server, insert_rate(database_url, o)).await;
    let inserts_cpu = span.per(inserted);
    println!("{backend}: one-row-insert transactions: {inserts_per_s:.1}/s");

    let http = reqwest::Client::builder().pool_max_idle_per_host(o.concurrency * 2).build().expect("client");
    let key = merchant(&http, &base).await;
    // Enough sessions for both confirm phases (the insert rate bounds how fast confirms can go).
    let pool_size = ((inserts_per_s * o.seconds as f64) as usize).clamp(400, 20_000);
    let prepared = prepare(&http, &base, &key, pool_size, o.concurrency).await;
    println!("{backend}: prepared {pool_size} sessions with fee quotes");

    // The element's first call, round-robin over the sessions (each credential stays well under
    // its 120-a-minute budget), then the hello-world handler, each for the run's duration.
    let credentials: Arc<Vec<(String, String)>> =
        Arc::new(prepared.iter().map(|(id, secret, _)| (id.clone(), secret.clone())).collect());
    let config_calls = || config_call(&http, &base, &credentials, 0);
    let (config, span) = with_cpu(&one_server, load(o.concurrency, o.seconds, config_calls())).await;
    let config_cpu = span.per(config.requests);
    let (hello_base, hello_stop) = hello_server().await;
    let (c, h) = (http.clone(), hello_base.clone());
    let (hello, span) = with_cpu(&one_server, load(o.concurrency, o.seconds, move |_| c.get(format!("{h}/")))).await;
    // The hello-world handler runs inside the bench process: its CPU is in `client_us`.
    let hello_cpu = span.per(hello.requests);
    // One client at a time: what a page's call costs when nothing else queues beside it.
    let config_alone = load(1, o.seconds.div_ceil(2), config_calls()).await;
    let c = http.clone();
    let hello_alone = load(1, o.seconds.div_ceil(2), move |_| c.get(format!("{hello_base}/"))).await;
    let _ = hello_stop.send(());
    let (c, b) = (http.clone(), base.clone());
    let healthz = load(o.concurrency, o.seconds, move |_| c.get(format!("{b}/healthz"))).await;
    println!(
        "{backend}: GET config {:.1}/s (p99 {:.2} ms), hello world {:.1}/s (p99 {:.2} ms)",
        config.per_s, config.p99_ms, hello.per_s, hello.p99_ms
    );
    println!("{backend}: GET /healthz on the server {:.1}/s (p99 {:.2} ms)", healthz.per_s, healthz.p99_ms);

    let (quiet, flooded, flood_load) = flood(&base, &credentials, o).await;
    println!(
        "{backend}: GET config p99 {:.2} ms alone, {:.2} ms beside {} bad credentials ({} turned away or refused)",
        quiet.p99_ms, flooded.p99_ms, FLOOD_REQUESTS, flood_load.failures
    );

    // Confirms, one server process; then two on the same database, the clients alternating.
    let sessions = Arc::new(Mutex::new(prepared));
    let before = scrape(&http, &base).await;
    let (one, span) = with_cpu(&one_server, confirms(&http, std::slice::from_ref(&base), &sessions, o)).await;
    let confirms_cpu = span.per(one.requests);
    println!("{backend}: confirms, 1 process: {:.1}/s (p99 {:.1} ms)", one.per_s, one.p99_ms);
    let profile = Profile::between(&before, &scrape(&http, &base).await);
    let (server_peak_rss_mb, server_anon_rss_mb) = (server.peak_rss_mb(), server.anon_rss_mb());
    // The first phase may have used up the sessions (it ends early if so, and its rate holds);
    // the second starts with enough again, prepared after the first server's RSS was read.
    top_up(&http, &base, &key, &sessions, pool_size, o.concurrency).await;
    let second = ServerProcess::start(database_url, &master_key, assets.path()).await;
    let two_servers = Parties::of(&[&server, &second], postgres);
    let (two, span) = with_cpu(&two_servers, confirms(&http, &[base.clone(), second.url.clone()], &sessions, o)).await;
    let two_cpu = span.per(two.requests);
    println!("{backend}: confirms, 2 processes: {:.1}/s (p99 {:.1} ms)", two.per_s, two.p99_ms);
    second.stop().await;
    server.stop().await;

    Report {
        backend,
        confirms: one.requests,
        confirms_per_s: one.per_s,
        mean_ms: one.mean_ms,
        p50_ms: one.p50_ms,
        p99_ms: one.p99_ms,
        inserts_per_s,
        failures: one.failures,
        two_processes: two,
        server_peak_rss_mb,
        server_anon_rss_mb,
        flood_quiet: quiet,
        flood_loud: flooded,
        flood: flood_load,
        config,
        hello,
        config_alone,
        hello_alone,
        healthz,
        profile,
        cpu: CpuReport {
            inserts: inserts_cpu,
            confirms: confirms_cpu,
            two_processes: two_cpu,
            config: config_cpu,
            hello: hello_cpu,
        },
    }
}

/// The element's first call, `GET config`, round-robin over `credentials` from `offset` on.
fn config_call(
    http: &reqwest::Client,
    base: &str,
    credentials: &Arc<Vec<(String, String)>>,
    offset: usize,
) -> impl Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static {
    let (http, base, credentials) = (http.clone(), base.to_owned(), credentials.clone());
    move |i| {
        let (id, secret) = &credentials[(offset + i) % credentials.len()];
        http.get(format!("{base}/v1/hosted-sessions/{id}/config")).bearer_auth(secret)
    }
}

/// The server's Prometheus text (`GET /metrics`); empty if it does not answer.
async fn scrape(http: &reqwest::Client, base: &str) -> String {
    match http.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// A histogram's `_sum` and `_count` in a Prometheus text: the series `name`, with `labels` as
/// rendered inside the braces (`""` for none).
fn sum_and_count(text: &str, name: &str, labels: &str) -> (f64, f64) {
    let pick = |suffix: &str| {
        let prefix =
            if labels.is_empty() { format!("{name}{suffix} ") } else { format!("{name}{suffix}{{{labels}}} ") };
        text.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.trim().parse::<f64>().ok()).unwrap_or(0.0)
    };
    (pick("_sum"), pick("_count"))
}

/// Where a confirm's time went in one load, from the server's own histograms: the mean of each,
/// over what was recorded between two scrapes.
#[derive(serde::Serialize, Default)]
struct Profile {
    /// `govifi_confirm_step_seconds{step}`, ms: the checks before the claim, the claim's write,
    /// the processor's authorization, the finish's write.
    checks_ms: f64,
    claim_ms: f64,
    authorize_ms: f64,
    finish_ms: f64,
    /// The confirm route as the server timed it (from the request's arrival to its answer), ms.
    handler_ms: f64,
    /// SQLite's group commit: a write's wait for the writer's turn, its wait for the `COMMIT`
    /// after it, the `COMMIT` itself (ms), and writes made durable per `COMMIT`. Zero on
    /// PostgreSQL (no group commit there).
    turn_wait_ms: f64,
    commit_wait_ms: f64,
    commit_ms: f64,
    members_per_commit: f64,
}

impl Profile {
    fn between(before: &str, after: &str) -> Profile {
        let mean = |name: &str, labels: &str| {
            let ((s0, c0), (s1, c1)) = (sum_and_count(before, name, labels), sum_and_count(after, name, labels));
            if c1 > c0 { (s1 - s0) / (c1 - c0) } else { 0.0 }
        };
        let step_ms = |step: &str| mean("govifi_confirm_step_seconds", &format!("step=\"{step}\"")) * 1000.0;
        let ms = |name: &str| mean(name, "") * 1000.0;
        Profile {
            checks_ms: step_ms("checks"),
            claim_ms: step_ms("claim"),
            authorize_ms: step_ms("authorize"),
            finish_ms: step_ms("finish"),
            handler_ms: mean(
                "govifi_http_request_duration_seconds",
                "method=\"POST\",route=\"/v1/hosted-sessions/{id}/confirm\"",
            ) * 1000.0,
            turn_wait_ms: ms("govifi_db_write_turn_wait_seconds"),
            commit_wait_ms: ms("govifi_db_write_commit_wait_seconds"),
            commit_ms: ms("govifi_db_group_commit_seconds"),
            members_per_commit: mean("govifi_db_group_commit_members", ""),
        }
    }
}

/// Confirms the prepared sessions for the run's duration, `concurrency` clients spread over the
/// servers at `bases`.
async fn confirms(http: &reqwest::Client, bases: &[String], sessions: &Arc<Mutex<Vec<Prepared>>>, o: &Options) -> Load {
    let latencies = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let failures = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(o.seconds);
    let workers: Vec<_> = (0..o.concurrency)
        .map(|w| {
            let (pool, latencies, failures, http) =
                (sessions.clone(), latencies.clone(), failures.clone(), http.clone());
            let base = bases[w % bases.len()].clone();
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let Some((id, secret, quote)) = pool.lock().await.pop() else { break };
                    let t = Instant::now();
                    let r = http
                        .post(format!("{base}/v1/hosted-sessions/{id}/confirm"))
                        .bearer_auth(&secret)
                        .header("idempotency-key", &id)
                        .json(&json!({"fee_quote_id": quote, "payment_method": {"type": "card",
                            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"},
                            "billing": {"cardholder_name": "Bench", "postal_code": "94107"}}}))
                        .send()
                        .await;
                    let elapsed = t.elapsed();
                    match r {
                        Ok(r) if r.status().is_success() => latencies.lock().await.push(elapsed),
                        _ => {
                            failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut l = latencies.lock().await.clone();
    l.sort();
    Load {
        requests: l.len(),
        seconds: elapsed,
        per_s: l.len() as f64 / elapsed,
        mean_ms: mean_ms(&l),
        p50_ms: percentile(&l, 0.50),
        p99_ms: percentile(&l, 0.99),
        failures: failures.load(std::sync::atomic::Ordering::Relaxed),
    }
}

/// The baseline: one-row INSERT transactions, one commit each, as fast as the same concurrency
/// can commit them. It runs on a pool of its own, not through the server's write path (whose
/// group commit on SQLite would fold many of these into one commit): on SQLite one connection
/// that the writers take in turn, as the server's own writer is taken; on PostgreSQL one
/// connection per writer.
async fn insert_rate(database_url: &str, o: &Options) -> (f64, usize) {
    let sqlite = database_url.starts_with("sqlite:");
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(if sqlite { 1 } else { o.concurrency as u32 })
        .test_before_acquire(false)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if sqlite {
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000;")
                        .await?;
                }
                Ok(())
            })
        })
        .connect(database_url)
        .await
        .expect("the baseline's pool");
    sqlx::query("CREATE TABLE bench_rows (id TEXT PRIMARY KEY, v BIGINT NOT NULL)")
        .execute(&pool)
        .await
        .expect("bench table");
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(o.seconds);
    let workers: Vec<_> = (0..o.concurrency)
        .map(|_| {
            let (pool, count) = (pool.clone(), count.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let mut tx = if sqlite { pool.begin_with("BEGIN IMMEDIATE").await } else { pool.begin().await }
                        .expect("begin");
                    sqlx::query("INSERT INTO bench_rows (id, v) VALUES ($1, $2)")
                        .bind(server::domain::ids::new_id("row"))
                        .bind(1i64)
                        .execute(&mut *tx)
                        .await
                        .expect("insert");
                    tx.commit().await.expect("commit");
                    count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let count = count.load(std::sync::atomic::Ordering::Relaxed);
    let rate = count as f64 / started.elapsed().as_secs_f64();
    pool.close().await;
    (rate, count)
}

/// An account (no fees beyond the defaults) and an API key for it, through the bootstrap client.
async fn merchant(http: &reqwest::Client, base: &str) -> String {
    let token: Value = http
        .post(format!("{base}/oauth2/token"))
        .basic_auth(BOOTSTRAP_ID, Some(BOOTSTRAP_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    let token = token["access_token"].as_str().expect("access_token").to_owned();
    let tenant: Value = http
        .post(format!("{base}/api/clients"))
        .bearer_auth(&token)
        .json(&json!({"name": "Bench"}))
        .send()
        .await
        .expect("client")
        .json()
        .await
        .expect("json");
    let account: Value = http
        .post(format!("{base}/api/paymentaccounts"))
        .bearer_auth(&token)
        .json(&json!({"client_id": tenant["id"], "name": "Bench", "currency": "USD",
                      "fee_rules": [{"method": "card", "percent_bps": 295, "min_fee": 195}]}))
        .send()
        .await
        .expect("account")
        .json()
        .await
        .expect("json");
    let key: Value = http
        .post(format!("{base}/api/paymentaccounts/{}/api-keys", account["uid"].as_str().expect("uid")))
        .bearer_auth(&token)
        .json(&json!({"label": "bench", "scopes": ["*"]}))
        .send()
        .await
        .expect("key")
        .json()
        .await
        .expect("json");
    key["key"].as_str().expect("key").to_owned()
}

/// Prepares sessions (untimed) until the pool holds `want`.
async fn top_up(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    sessions: &Mutex<Vec<Prepared>>,
    want: usize,
    concurrency: usize,
) {
    let have = sessions.lock().await.len();
    if have < want {
        let more = prepare(http, base, key, want - have, concurrency).await;
        sessions.lock().await.extend(more);
    }
}

/// `n` sessions, each with a card fee quote: (session id, client secret, quote id).
async fn prepare(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    n: usize,
    concurrency: usize,
) -> Vec<(String, String, String)> {
    let out = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, base, key, out, next) =
                (http.clone(), base.to_owned(), key.to_owned(), out.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                    let s: Value = http
                        .post(format!("{base}/v1/hosted-sessions"))
                        .bearer_auth(&key)
                        .json(&json!({"amount": 14227, "currency": "USD",
                            "success_url": "https://bench.example/ok", "cancel_url": "https://bench.example/no"}))
                        .send()
                        .await
                        .expect("session")
                        .json()
                        .await
                        .expect("json");
                    let (id, secret) = (
                        s["session_id"].as_str().expect("id").to_owned(),
                        s["client_secret"].as_str().expect("secret").to_owned(),
                    );
                    let q: Value = http
                        .post(format!("{base}/v1/hosted-sessions/{id}/quote-fee"))
                        .bearer_auth(&secret)
                        .json(&json!({"payment_method_type": "card", "card_bin": "424242"}))
                        .send()
                        .await
                        .expect("quote")
                        .json()
                        .await
                        .expect("json");
                    out.lock().await.push((id, secret, q["fee_quote_id"].as_str().expect("quote id").to_owned()));
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    Arc::try_unwrap(out).map(|m| m.into_inner()).unwrap_or_default()
}
