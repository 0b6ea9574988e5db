//! `Proxy`: a TCP proxy on loopback that tests can cut, to simulate a network partition between
//! troupe nodes (or an unreachable S3 store). Everything runs on the test's tokio runtime; the
//! tasks end when the `Proxy` is dropped.
//!
//! Every connection watches one `watch` channel holding the current faults, so a change takes
//! effect at once on connections already open: the copy loops wait on the channel alongside
//! their socket reads and writes, with no polling.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::timeout;

/// What a proxy does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward bytes both ways.
    None,
    /// A black hole, like a partition where packets are silently dropped: connections stay
    /// open, no bytes move in either direction (bytes read are held and delivered after the
    /// fault is lifted, like TCP retransmission would; so is an end of stream), new
    /// connections are accepted but nothing is forwarded (the upstream connection is only made
    /// once the fault is lifted).
    Blackhole,
    /// Like a crashed peer or a closed port: every existing connection is closed at once (both
    /// sides), and new connections are closed right after accept.
    Refuse,
}

/// The faults in force: a global one, and overrides per source IP.
#[derive(Clone, Debug)]
struct Faults {
    global: Fault,
    by_source: HashMap<IpAddr, Fault>,
}

impl Faults {
    /// The fault for connections from `source`.
    fn effective(&self, source: IpAddr) -> Fault {
        self.by_source.get(&source).copied().unwrap_or(self.global)
    }
}

/// A TCP proxy from `addr` to one target, with faults that can be switched at any time.
pub struct Proxy {
    /// The address it listens on, `"ip:port"`.
    pub addr: String,
    faults: watch::Sender<Faults>,
    open: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on `listen_ip:0` and forwards each accepted connection to `target` (`"ip:port"`).
    pub async fn start(listen_ip: &str, target: &str) -> Proxy {
        let listener = TcpListener::bind((listen_ip, 0))
            .await
            .unwrap_or_else(|e| panic!("proxy binds {listen_ip}:0: {e}"));
        let addr = listener.local_addr().expect("proxy address").to_string();
        let (faults, rx) = watch::channel(Faults {
            global: Fault::None,
            by_source: HashMap::new(),
        });
        let open = Arc::new(AtomicUsize::new(0));
        let accept = tokio::spawn(accept_loop(
            listener,
            target.to_owned(),
            rx,
            Arc::clone(&open),
        ));
        Proxy {
            addr,
            faults,
            open,
            accept,
        }
    }

    /// Sets the fault for all connections, open and new. Per-source overrides (see
    /// [`Proxy::set_for_source`]) still win over it.
    pub fn set(&self, fault: Fault) {
        self.faults.send_modify(|f| f.global = fault);
    }

    /// Sets the fault only for connections whose source IP (the peer address of the accepted
    /// socket) is `source`, open and new. It overrides the global fault; `Fault::None` removes
    /// the override, so the global fault applies again.
    pub fn set_for_source(&self, source: IpAddr, fault: Fault) {
        self.faults.send_modify(|f| {
            if fault == Fault::None {
                f.by_source.remove(&source);
            } else {
                f.by_source.insert(source, fault);
            }
        });
    }

    /// Number of connections currently open through the proxy (accepted and not yet closed,
    /// including black-holed ones that have no upstream connection yet).
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    /// Stops the accept loop and closes all connections: aborting the accept task drops its
    /// `JoinSet`, which aborts every connection task (and dropping the sender wakes them).
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Accepts connections until the proxy is dropped, one task per connection.
async fn accept_loop(
    listener: TcpListener,
    target: String,
    mut faults: watch::Receiver<Faults>,
    open: Arc<AtomicUsize>,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            // The proxy was dropped.
            changed = faults.changed() => match changed {
                Ok(()) => continue,
                Err(_) => return,
            },
        };
        while connections.try_join_next().is_some() {}
        let Ok((client, peer)) = accepted else {
            // Out of descriptors or the like; don't spin on it.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let source = peer.ip();
        if faults.borrow().effective(source) == Fault::Refuse {
            drop(client);
            continue;
        }
        let gate = Gate {
            faults: faults.clone(),
            source,
        };
        let guard = OpenGuard::new(&open);
        let target = target.clone();
        connections.spawn(async move {
            let _guard = guard;
            // Any `Err` means the connection is cut: returning drops (closes) both sockets.
            let _ = serve(client, &target, gate).await;
        });
    }
}

/// Counts an open connection until dropped (also when its task is aborted).
struct OpenGuard(Arc<AtomicUsize>);

impl OpenGuard {
    fn new(open: &Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::SeqCst);
        OpenGuard(Arc::clone(open))
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The connection must be closed: refused, broken, or the proxy is gone.
#[derive(Debug)]
struct Cut;

/// One connection's view of the faults.
struct Gate {
    faults: watch::Receiver<Faults>,
    source: IpAddr,
}

impl Gate {
    /// The fault now in force (marking it seen); `Err` if it is `Refuse`.
    fn current(&mut self) -> Result<Fault, Cut> {
        match self.faults.borrow_and_update().effective(self.source) {
            Fault::Refuse => Err(Cut),
            fault => Ok(fault),
        }
    }

    /// Waits for the faults to change; `Err` if the result is `Refuse` or the proxy is gone.
    /// Cancel-safe.
    async fn changed(&mut self) -> Result<Fault, Cut> {
        self.faults.changed().await.map_err(|_| Cut)?;
        self.current()
    }

    /// Waits until traffic may flow (`Fault::None`).
    async fn open(&mut self) -> Result<(), Cut> {
        while self.current()? != Fault::None {
            self.changed().await?;
        }
        Ok(())
    }
}

/// Serves one accepted connection until both directions end or it is cut.
async fn serve(mut client: TcpStream, target: &str, mut gate: Gate) -> Result<(), Cut> {
    // A black hole accepts but doesn't reach the target until it is lifted.
    gate.open().await?;
    let connect = TcpStream::connect(target);
    tokio::pin!(connect);
    let mut upstream = loop {
        tokio::select! {
            connected = &mut connect => break connected.map_err(|_| Cut)?,
            changed = gate.changed() => { changed?; }
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (client_read, client_write) = client.split();
    let (upstream_read, upstream_write) = upstream.split();
    let up = pipe(
        client_read,
        upstream_write,
        Gate {
            faults: gate.faults.clone(),
            source: gate.source,
        },
    );
    let down = pipe(upstream_read, client_write, gate);
    tokio::try_join!(up, down)?;
    Ok(())
}

/// Copies `from` to `to` while the gate is open, holding what it has read while it is
/// black-holed. Ends `Ok` after forwarding end of stream, `Err` when cut.
async fn pipe(mut from: ReadHalf<'_>, mut to: WriteHalf<'_>, mut gate: Gate) -> Result<(), Cut> {
    let mut buf = vec![0; 16 * 1024];
    loop {
        // A black hole doesn't interrupt a read: what arrives is held below.
        let n = loop {
            tokio::select! {
                read = from.read(&mut buf) => break read.map_err(|_| Cut)?,
                changed = gate.changed() => { changed?; }
            }
        };
        gate.open().await?;
        if n == 0 {
            let _ = to.shutdown().await;
            return Ok(());
        }
        let mut written = 0;
        while written < n {
            gate.open().await?;
            tokio::select! {
                wrote = to.write(&buf[written..n]) => match wrote {
                    Ok(0) | Err(_) => return Err(Cut),
                    Ok(w) => written += w,
                },
                changed = gate.changed() => { changed?; }
            }
        }
    }
}

// ---- tests ----

/// How long a read must stay silent to count as blocked.
const SILENCE: Duration = Duration::from_millis(300);
/// How long anything expected may take.
const PATIENCE: Duration = Duration::from_secs(5);

/// A tiny echo server on 127.0.0.1; runs until the test's runtime ends.
async fn echo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// Connects to `addr` from the source IP `source`.
async fn connect_from(source: &str, addr: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(addr.parse().unwrap()).await.unwrap()
}

/// Writes `msg` and reads its echo.
async fn round_trip(stream: &mut TcpStream, msg: &[u8]) {
    stream.write_all(msg).await.unwrap();
    let mut got = vec![0; msg.len()];
    timeout(PATIENCE, stream.read_exact(&mut got))
        .await
        .expect("echo within patience")
        .unwrap();
    assert_eq!(got, msg);
}

/// Asserts nothing arrives on `stream` for `SILENCE`.
async fn assert_silent(stream: &mut TcpStream) {
    let mut byte = [0; 1];
    let read = timeout(SILENCE, stream.read(&mut byte)).await;
    assert!(read.is_err(), "expected silence, got {read:?}");
}

/// Asserts `stream` is closed by the far side (EOF or reset) promptly.
async fn assert_closed(stream: &mut TcpStream) {
    let mut buf = [0; 64];
    loop {
        match timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("closed within patience")
        {
            Ok(0) | Err(_) => return,
            // Anything echoed before the cut.
            Ok(_) => continue,
        }
    }
}

/// Waits until the proxy counts `n` open connections.
async fn wait_open(proxy: &Proxy, n: usize) {
    timeout(PATIENCE, async {
        while proxy.open_connections() != n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} open, expected {n}", proxy.open_connections()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfaulted_proxy_forwards_bytes_both_ways() {
    let proxy = Proxy::start("127.0.0.1", &echo_server().await).await;
    let mut client = TcpStream::connect(&proxy.addr).await.unwrap();
    round_trip(&mut client, b"hello").await;
    round_trip(&mut client, &vec![7; 100_000]).await;
    wait_open(&proxy, 1).await;

    // A half-close travels through, and the echo server's close comes back.
    client.shutdown().await.unwrap();
    assert_closed(&mut client).await;
    wait_open(&proxy, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_proxy_holds_bytes_until_healed() {
    let proxy = Proxy::start("127.0.0.1", &echo_server().await).await;
    let mut client = TcpStream::connect(&proxy.addr).await.unwrap();
    round_trip(&mut client, b"before").await;

    proxy.set(Fault::Blackhole);
    client.write_all(b"held").await.unwrap();
    assert_silent(&mut client).await;
    assert_eq!(proxy.open_connections(), 1, "a black hole closes nothing");

    // A new connection is accepted but goes nowhere.
    let mut late = TcpStream::connect(&proxy.addr).await.unwrap();
    late.write_all(b"late").await.unwrap();
    assert_silent(&mut late).await;

    proxy.set(Fault::None);
    let mut got = [0; 4];
    timeout(PATIENCE, client.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"held");
    timeout(PATIENCE, late.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"late");
    round_trip(&mut client, b"after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackhole_stops_the_return_direction_too() {
    // The upstream speaks first, unprompted, once the connection is up.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let _ = rx.await;
        let _ = stream.write_all(b"news").await;
        let mut sink = [0; 1];
        let _ = stream.read(&mut sink).await;
    });
    let proxy = Proxy::start("127.0.0.1", &target).await;
    let mut client = TcpStream::connect(&proxy.addr).await.unwrap();
    wait_open(&proxy, 1).await;

    proxy.set(Fault::Blackhole);
    tx.send(()).unwrap();
    assert_silent(&mut client).await;

    proxy.set(Fault::None);
    let mut got = [0; 4];
    timeout(PATIENCE, client.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"news");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_proxy_closes_open_connections_and_new_ones() {
    let proxy = Proxy::start("127.0.0.1", &echo_server().await).await;
    let mut client = TcpStream::connect(&proxy.addr).await.unwrap();
    round_trip(&mut client, b"hi").await;

    proxy.set(Fault::Refuse);
    assert_closed(&mut client).await;
    wait_open(&proxy, 0).await;

    // The port still accepts (the listener is up) but closes at once.
    let mut again = TcpStream::connect(&proxy.addr).await.unwrap();
    let _ = again.write_all(b"anyone?").await;
    assert_closed(&mut again).await;

    proxy.set(Fault::None);
    let mut healed = TcpStream::connect(&proxy.addr).await.unwrap();
    round_trip(&mut healed, b"back").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusing_a_blackholed_connection_closes_it() {
    let proxy = Proxy::start("127.0.0.1", &echo_server().await).await;
    proxy.set(Fault::Blackhole);
    let mut client = TcpStream::connect(&proxy.addr).await.unwrap();
    client.write_all(b"stuck").await.unwrap();
    assert_silent(&mut client).await;

    proxy.set(Fault::Refuse);
    assert_closed(&mut client).await;
    wait_open(&proxy, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_for_one_source_leaves_other_sources_through() {
    let proxy = Proxy::start("127.0.0.1", &echo_server().await).await;
    let mut one = connect_from("127.0.0.1", &proxy.addr).await;
    let mut two = connect_from("127.0.0.2", &proxy.addr).await;
    round_trip(&mut one, b"one").await;
    round_trip(&mut two, b"two").await;

    let source: IpAddr = "127.0.0.1".parse().unwrap();
    proxy.set_for_source(source, Fault::Blackhole);
    one.write_all(b"held").await.unwrap();
    assert_silent(&mut one).await;
    round_trip(&mut two, b"still").await;
    let mut new_two = connect_from("127.0.0.2", &proxy.addr).await;
    round_trip(&mut new_two, b"new").await;

    // The override beats the global fault, and removing it restores the global one.
    proxy.set_for_source(source, Fault::None);
    let mut got = [0; 4];
    timeout(PATIENCE, one.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"held");

    proxy.set_for_source(source, Fault::Refuse);
    assert_closed(&mut one).await;
    round_trip(&mut two, b"alive").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_proxy_closes_its_connections_and_port() {
    let proxy = Proxy::start("127.0.0.1", &echo_server().await).await;
    let addr = proxy.addr.clone();
    let mut client = TcpStream::connect(&addr).await.unwrap();
    round_trip(&mut client, b"bye").await;

    drop(proxy);
    assert_closed(&mut client).await;
    // The listener went with the accept task: the port now refuses.
    let refused = timeout(PATIENCE, async {
        loop {
            match TcpStream::connect(&addr).await {
                Err(_) => return,
                Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    })
    .await;
    assert!(refused.is_ok(), "port still accepting after drop");
}
