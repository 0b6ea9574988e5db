//! The forwarding link: how forwarded requests travel between nodes.
//!
//! ```text
//!  node A                                   node B
//!  caller ─(─▶ writer task)═ TCP frames ═▶ connection task: serve (entity) ─┐
//!  caller ◀─ reader task ◀══ TCP frames ══ connection task ◀────────────────┘
//! ```
//!
//! Membership, heartbeats and "I am leaving" go through ractor_cluster and the gateway actor.
//! Requests don't: a ractor_cluster call crosses about sixteen tasks (stub, session, writer,
//! reader, session, gateway, a reply task, and back), and on a busy machine its round trip
//! alone was longer than a whole local request. The link is one TCP connection per pair of
//! nodes, multiplexed by request id: the calling side has one reader task, and a caller writes
//! its request itself when the connection's writer is free (into its buffer, then a flush that
//! does not wait); when another caller holds it, or the socket cannot take the bytes at once,
//! a writer task writes and flushes (several requests in one flush under load). The serving
//! side has one task that reads the requests, serves them side by side and writes the answers.
//!
//! - **TLS.** Unless `cluster.insecure` is set, every connection is TLS 1.3 with mutual
//!   authentication (see `tls`): each side's certificate must be signed by the cluster CA (and
//!   not revoked). A peer without one, with one from another CA, or speaking plain TCP is
//!   refused and logged. Each certificate names its node: the client checks that the server's
//!   names the node it meant to reach, the server that the client's names the node the client
//!   says it is in the cookie handshake; a mismatch is refused and logged.
//! - **Authentication.** Each side proves it holds the cluster cookie without sending it: the
//!   server sends a random challenge, the client answers `HMAC-SHA256(cookie, challenge ||
//!   client nonce || name)` and the server answers with its own MAC over both nonces. A peer
//!   that fails is refused and logged. With TLS, this runs inside it. MACs are compared in
//!   constant time (`Mac::verify_slice`).
//! - **Bounds.** At most `tls::MAX_HANDSHAKES` incoming connections may be in their handshake
//!   at once (TLS, then the cookie); more are closed at once and logged. An authenticated
//!   connection has at most [`MAX_IN_FLIGHT`] requests in service; past that its next frame
//!   waits to be read (TCP backpressure on the sender).
//! - **Frames** are `[len: u32][id: u64][payload]`, at most 16 MiB. A request's payload is the
//!   versioned `routing::Forward` envelope; an answer's is the runtime's encoded answer.
//! - **Failures.** When a connection breaks, every request waiting on it fails as "may have
//!   been delivered", and `routing` applies its start-by fence before retrying elsewhere
//!   (unless the peer's process exited: see `routing`). The next request opens a new
//!   connection.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::{mpsc, oneshot};

const MAX_FRAME: usize = 16 * 1024 * 1024;
const CLIENT_LABEL: &[u8] = b"troupe-link-v1 client";
const SERVER_LABEL: &[u8] = b"troupe-link-v1 server";
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// Requests one incoming connection may have in service at once (each a future awaiting an
/// actor); the connection reads no further frame until one of them is answered.
const MAX_IN_FLIGHT: usize = 4_096;

type HmacSha256 = Hmac<Sha256>;

fn mac(cookie: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut m = HmacSha256::new_from_slice(cookie.as_bytes()).expect("HMAC takes any key");
    for p in parts {
        m.update(&(p.len() as u32).to_be_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Whether `tag` is the MAC of `parts` under `cookie`, compared in constant time.
fn verify(cookie: &str, parts: &[&[u8]], tag: &[u8]) -> bool {
    let mut m = HmacSha256::new_from_slice(cookie.as_bytes()).expect("HMAC takes any key");
    for p in parts {
        m.update(&(p.len() as u32).to_be_bytes());
        m.update(p);
    }
    m.verify_slice(tag).is_ok()
}

fn nonce() -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    out[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    out
}

/// Serves an authenticated connection's requests; supplied by `routing`.
pub(crate) type Handler =
    Arc<dyn Fn(Vec<u8>) -> futures::future::BoxFuture<'static, Vec<u8>> + Send + Sync>;

/// The client side's write half, buffered: written by callers when it is free and by the
/// writer task otherwise.
type SharedWriter = tokio::sync::Mutex<BufWriter<Box<dyn AsyncWrite + Send + Unpin>>>;

/// The client side's write buffer. A caller writes its frame itself only when the whole frame
/// fits in what is left of it: then the frame is copied in at once, and a request dropped
/// meanwhile can never leave half a frame on the connection.
const WRITE_BUFFER: usize = 64 * 1024;

/// One open connection to a peer, as its client.
pub(crate) struct Conn {
    writer: Arc<SharedWriter>,
    /// Frames for the writer task (a caller found the writer busy); an empty one asks it to
    /// finish a flush a caller began.
    frames: mpsc::UnboundedSender<Vec<u8>>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Vec<u8>>>>,
    next: AtomicU64,
    closed: AtomicBool,
}

/// A request in flight on a [`Conn`]; dropping it forgets the request.
pub(crate) struct InFlight {
    conn: Arc<Conn>,
    id: u64,
    /// The answer; an error means the connection broke (the request may have arrived).
    pub(crate) answer: oneshot::Receiver<Vec<u8>>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.conn
            .pending
            .lock()
            .expect("pending lock")
            .remove(&self.id);
    }
}

impl Conn {
    /// Sends `payload` as a request. `Err` means it was not sent (the connection is closed).
    pub(crate) fn send(self: &Arc<Self>, payload: &[u8]) -> Result<InFlight, ()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(());
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending lock").insert(id, tx);
        let in_flight = InFlight {
            conn: self.clone(),
            id,
            answer: rx,
        };
        let f = frame(id, payload);
        if !self.write_now(&f) {
            self.frames.send(f).map_err(|_| ())?;
        }
        Ok(in_flight)
    }

    /// Writes `f` on the caller's own thread when the writer is free and the frame fits in
    /// its buffer, then flushes without waiting: one hand-off to the writer task fewer per
    /// request. Whatever the flush could not write at once (the socket is full, or it failed)
    /// is left to the writer task, which waits properly. `false`: not written, queue it.
    fn write_now(&self, f: &[u8]) -> bool {
        use std::future::Future as _;
        use std::task::{Context, Poll};
        let Ok(mut w) = self.writer.try_lock() else {
            return false;
        };
        if f.len() >= WRITE_BUFFER || w.buffer().len() + f.len() > WRITE_BUFFER {
            return false;
        }
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        // Fits in the buffer: copied whole, at once (tokio's `BufWriter` writes to the socket
        // first only when the buffer cannot take it).
        match std::pin::pin!(w.write_all(f)).poll(&mut cx) {
            Poll::Ready(Ok(())) => {}
            // Not possible with room in the buffer; never leave a frame half-written.
            _ => unreachable!("a frame that fits is copied into the buffer at once"),
        }
        if !matches!(std::pin::pin!(w.flush()).poll(&mut cx), Poll::Ready(Ok(()))) {
            // The writer task flushes the rest, waiting for the socket (or finds the error
            // and closes the connection).
            drop(w);
            let _ = self.frames.send(Vec::new());
        }
        true
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        // Dropping the senders fails every waiting request.
        self.pending.lock().expect("pending lock").clear();
    }
}

fn frame(id: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + payload.len());
    out.extend_from_slice(&((8 + payload.len()) as u32).to_be_bytes());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

async fn read_frame<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> std::io::Result<(u64, Vec<u8>)> {
    let len = r.read_u32().await? as usize;
    if !(8..=MAX_FRAME).contains(&len) {
        return Err(std::io::Error::other(format!("bad frame length {len}")));
    }
    let id = r.read_u64().await?;
    let mut payload = vec![0u8; len - 8];
    r.read_exact(&mut payload).await?;
    Ok((id, payload))
}

/// Writes every frame queued on `rx` to `w`, flushing when the queue is empty (an empty
/// frame only asks for the flush a caller began: see [`Conn::write_now`]).
async fn write_frames(
    w: Arc<SharedWriter>,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
) -> std::io::Result<()> {
    while let Some(f) = rx.recv().await {
        let mut w = w.lock().await;
        w.write_all(&f).await?;
        while let Ok(f) = rx.try_recv() {
            w.write_all(&f).await?;
        }
        w.flush().await?;
    }
    Ok(())
}

/// A connected byte stream: plain TCP or TLS over it, and how it splits into the halves the
/// reader and writer tasks own.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    type Read: AsyncRead + Unpin + Send + 'static;
    type Write: AsyncWrite + Unpin + Send + 'static;
    fn halves(self) -> (Self::Read, Self::Write);
    /// The peer's certificate chain, over TLS.
    fn peer_certs(&self) -> Option<&[rustls::pki_types::CertificateDer<'static>]> {
        None
    }
}

/// Plain TCP splits into owned halves, without a lock between them.
impl Stream for tokio::net::TcpStream {
    type Read = tokio::net::tcp::OwnedReadHalf;
    type Write = tokio::net::tcp::OwnedWriteHalf;
    fn halves(self) -> (Self::Read, Self::Write) {
        self.into_split()
    }
}

/// A TLS session's state is shared by both directions, so its halves share a lock.
impl Stream for tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    type Read = tokio::io::ReadHalf<Self>;
    type Write = tokio::io::WriteHalf<Self>;
    fn halves(self) -> (Self::Read, Self::Write) {
        tokio::io::split(self)
    }
}

impl Stream for tokio_rustls::server::TlsStream<tokio::net::TcpStream> {
    type Read = tokio::io::ReadHalf<Self>;
    type Write = tokio::io::WriteHalf<Self>;
    fn halves(self) -> (Self::Read, Self::Write) {
        tokio::io::split(self)
    }
    fn peer_certs(&self) -> Option<&[rustls::pki_types::CertificateDer<'static>]> {
        self.get_ref().1.peer_certificates()
    }
}

/// The link's name in refusal logs.
const LINK: &str = "forwarding";

/// This node's links: the listener, and a client connection per peer.
pub(crate) struct Links {
    name: String,
    cookie: String,
    source: std::net::IpAddr,
    /// TLS for every connection, unless the cluster runs `insecure`.
    tls: Option<crate::tls::ClusterTls>,
    conns: Mutex<HashMap<String, Arc<Conn>>>,
}

impl Links {
    pub(crate) fn new(
        name: String,
        cookie: String,
        source: std::net::IpAddr,
        tls: Option<crate::tls::ClusterTls>,
    ) -> Arc<Self> {
        Arc::new(Self {
            name,
            cookie,
            source,
            tls,
            conns: Mutex::new(HashMap::new()),
        })
    }

    /// Binds `addr` and serves authenticated peers with `handler`.
    pub(crate) async fn listen(
        self: &Arc<Self>,
        addr: SocketAddr,
        handler: Handler,
    ) -> std::io::Result<tokio::task::JoinHandle<()>> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let me = Arc::downgrade(self);
        let tls = self.tls.clone();
        Ok(tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors, say: don't spin, try again shortly.
                        tracing::warn!(error = %e, "forwarding link cannot accept");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                // Bounded: a connection that holds no permit is closed at once (logged).
                let permit = match &tls {
                    Some(tls) => match tls.admit(LINK, peer) {
                        Some(p) => Some(p),
                        None => continue,
                    },
                    None => None,
                };
                let (me, handler, tls) = (me.clone(), handler.clone(), tls.clone());
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    let served = match tls {
                        // A refusal is logged by `accept`.
                        Some(tls) => match tls.accept(LINK, stream, peer).await {
                            Ok(s) => serve_conn(me, s, peer, handler, permit).await,
                            Err(_) => return,
                        },
                        None => serve_conn(me, stream, peer, handler, permit).await,
                    };
                    if let Err(e) = served {
                        tracing::debug!(%peer, error = %e, "forwarding link closed");
                    }
                });
            }
        }))
    }

    /// The open connection to `node` at `addr`, opening one if needed.
    pub(crate) async fn conn(&self, node: &str, addr: &str) -> std::io::Result<Arc<Conn>> {
        if let Some(c) = self.conns.lock().expect("conns lock").get(node) {
            if !c.closed.load(Ordering::Acquire) {
                return Ok(c.clone());
            }
        }
        let conn = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.open(node, addr))
            .await
            .map_err(|_| std::io::Error::other(format!("connecting to {addr} timed out")))??;
        let mut conns = self.conns.lock().expect("conns lock");
        match conns.get(node) {
            // Somebody else connected meanwhile: use theirs, let ours go.
            Some(c) if !c.closed.load(Ordering::Acquire) => {
                conn.close();
                Ok(c.clone())
            }
            _ => {
                conns.insert(node.to_owned(), conn.clone());
                Ok(conn)
            }
        }
    }

    async fn open(&self, node: &str, addr: &str) -> std::io::Result<Arc<Conn>> {
        let stream = dial(addr, self.source).await?;
        match &self.tls {
            Some(tls) => {
                let peer = stream.peer_addr()?;
                let stream = tls.connect(LINK, stream, peer).await?;
                // The node we meant to reach, not any node of the cluster.
                if !tls.check_name(LINK, peer, stream.get_ref().1.peer_certificates(), node) {
                    return Err(std::io::Error::other(format!(
                        "the certificate of {addr} does not name node {node}"
                    )));
                }
                self.handshake(stream, addr).await.inspect_err(|e| {
                    if let Some(why) = crate::tls::after_handshake_failure(e) {
                        tls.refused(LINK, peer, &why);
                    }
                })
            }
            None => self.handshake(stream, addr).await,
        }
    }

    /// The cookie handshake, client side, then the connection's reader and writer tasks.
    async fn handshake<S: Stream>(&self, mut stream: S, addr: &str) -> std::io::Result<Arc<Conn>> {
        let mut challenge = [0u8; 32];
        stream.read_exact(&mut challenge).await?;
        let mine = nonce();
        let proof = mac(
            &self.cookie,
            &[CLIENT_LABEL, &challenge, &mine, self.name.as_bytes()],
        );
        let mut hello = Vec::new();
        hello.extend_from_slice(&mine);
        hello.extend_from_slice(&proof);
        hello.extend_from_slice(&(self.name.len() as u16).to_be_bytes());
        hello.extend_from_slice(self.name.as_bytes());
        stream.write_all(&hello).await?;
        let mut theirs = [0u8; 32];
        stream.read_exact(&mut theirs).await?;
        if !verify(&self.cookie, &[SERVER_LABEL, &challenge, &mine], &theirs) {
            tracing::warn!(%addr, "forwarding link refused: the peer does not hold the cluster cookie");
            return Err(std::io::Error::other("peer failed authentication"));
        }
        let (r, w) = stream.halves();
        let (tx, rx) = mpsc::unbounded_channel();
        let w: Box<dyn AsyncWrite + Send + Unpin> = Box::new(w);
        let conn = Arc::new(Conn {
            writer: Arc::new(tokio::sync::Mutex::new(BufWriter::with_capacity(
                WRITE_BUFFER,
                w,
            ))),
            frames: tx,
            pending: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            closed: AtomicBool::new(false),
        });
        let writer = conn.clone();
        let shared = conn.writer.clone();
        tokio::spawn(async move {
            let _ = write_frames(shared, rx).await;
            writer.close();
        });
        let reader = Arc::downgrade(&conn);
        tokio::spawn(async move {
            let mut r = BufReader::new(r);
            loop {
                let Ok((id, payload)) = read_frame(&mut r).await else {
                    break;
                };
                let Some(conn) = reader.upgrade() else { break };
                let waiter = conn.pending.lock().expect("pending lock").remove(&id);
                if let Some(w) = waiter {
                    let _ = w.send(payload);
                }
            }
            if let Some(conn) = reader.upgrade() {
                conn.close();
            }
        });
        Ok(conn)
    }

    /// Closes the client connection to `node`, failing what waits on it.
    pub(crate) fn drop_conn(&self, node: &str) {
        if let Some(c) = self.conns.lock().expect("conns lock").remove(node) {
            c.close();
        }
    }
}

async fn serve_conn<S: Stream>(
    links: Weak<Links>,
    mut stream: S,
    peer: SocketAddr,
    handler: Handler,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) -> std::io::Result<()> {
    let (cookie, tls) = links
        .upgrade()
        .map(|l| (l.cookie.clone(), l.tls.clone()))
        .ok_or_else(|| std::io::Error::other("shutting down"))?;
    // Handshake, server side.
    let challenge = nonce();
    stream.write_all(&challenge).await?;
    let hello = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        let mut theirs = [0u8; 32];
        stream.read_exact(&mut theirs).await?;
        let mut proof = [0u8; 32];
        stream.read_exact(&mut proof).await?;
        let len = stream.read_u16().await? as usize;
        let mut name = vec![0u8; len.min(256)];
        stream.read_exact(&mut name).await?;
        Ok::<_, std::io::Error>((theirs, proof, name))
    })
    .await
    .map_err(|_| std::io::Error::other("handshake timed out"))??;
    let (theirs, proof, name) = hello;
    if !verify(&cookie, &[CLIENT_LABEL, &challenge, &theirs, &name], &proof) {
        tracing::warn!(%peer, "forwarding link refused: the peer failed authentication (wrong cluster cookie?)");
        return Ok(());
    }
    // The node it says it is must be the node its certificate names.
    if let Some(tls) = &tls {
        if !tls.check_name(
            LINK,
            peer,
            stream.peer_certs(),
            &String::from_utf8_lossy(&name),
        ) {
            return Ok(());
        }
    }
    // Authenticated: the connection no longer counts as one in its handshake.
    drop(permit);
    stream
        .write_all(&mac(&cookie, &[SERVER_LABEL, &challenge, &theirs]))
        .await?;
    let (r, w) = stream.halves();
    serve_frames(r, w, handler).await
}

/// Reads the next frame; owns the reader, so the read can wait across the serving loop's
/// turns without losing a half-read frame.
async fn next_frame<R: AsyncRead + Unpin>(mut r: R) -> (R, std::io::Result<(u64, Vec<u8>)>) {
    let frame = read_frame(&mut r).await;
    (r, frame)
}

/// Serves an authenticated connection's requests in this one task: each frame read becomes a
/// handler future polled here beside the next read, and each answer is written here, those
/// ready together in one flush. A spawned task per request and a writer task were two
/// hand-offs per forwarded request (a quarter of the forwarding cost, `benches/cluster.rs`);
/// the handlers only decode, wait for an actor and encode, so one task keeps up. When the
/// peer goes, the requests in service still run to their end (their answers have nowhere to
/// go), as an actor call cut off half way would not.
async fn serve_frames<R, W>(r: R, w: W, handler: Handler) -> std::io::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    use futures::stream::{FuturesUnordered, StreamExt};
    use futures::FutureExt;
    let mut w = BufWriter::new(w);
    let mut serving = FuturesUnordered::new();
    let mut reading = Box::pin(next_frame(BufReader::new(r)));
    let result = loop {
        tokio::select! {
            (r, frame) = &mut reading, if serving.len() < MAX_IN_FLIGHT => {
                let (id, payload) = match frame {
                    Ok(frame) => frame,
                    Err(e) => break Err(e),
                };
                serving.push(handler(payload).map(move |answer| (id, answer)));
                reading = Box::pin(next_frame(r));
            }
            Some((id, answer)) = serving.next(), if !serving.is_empty() => {
                let mut answer: Option<(u64, Vec<u8>)> = Some((id, answer));
                let written = async {
                    while let Some((id, a)) = answer.take() {
                        w.write_all(&((8 + a.len()) as u32).to_be_bytes()).await?;
                        w.write_all(&id.to_be_bytes()).await?;
                        w.write_all(&a).await?;
                        answer = serving.next().now_or_never().flatten();
                    }
                    w.flush().await
                }
                .await;
                if let Err(e) = written {
                    break Err(e);
                }
            }
        }
    };
    if !serving.is_empty() {
        tokio::spawn(async move { while serving.next().await.is_some() {} });
    }
    result
}

/// A TCP connection to `addr` from `source` (unless it is unspecified), with `TCP_NODELAY`.
pub(crate) async fn dial(
    addr: &str,
    source: std::net::IpAddr,
) -> std::io::Result<tokio::net::TcpStream> {
    let target = tokio::net::lookup_host(addr)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{addr} resolves to nothing")))?;
    let socket = if target.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    if !source.is_unspecified() && source.is_ipv4() == target.is_ipv4() {
        socket.bind(std::net::SocketAddr::new(source, 0))?;
    }
    let stream = socket.connect(target).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo() -> Handler {
        Arc::new(|bytes: Vec<u8>| {
            Box::pin(async move {
                let mut out = b"echo:".to_vec();
                out.extend(bytes);
                out
            })
        })
    }

    async fn server(cookie: &str) -> (Arc<Links>, String, tokio::task::JoinHandle<()>) {
        serving(cookie, echo()).await
    }

    async fn serving(
        cookie: &str,
        handler: Handler,
    ) -> (Arc<Links>, String, tokio::task::JoinHandle<()>) {
        serving_tls(cookie, handler, None).await
    }

    async fn serving_tls(
        cookie: &str,
        handler: Handler,
        tls: Option<crate::tls::ClusterTls>,
    ) -> (Arc<Links>, String, tokio::task::JoinHandle<()>) {
        let links = Links::new(
            "server".into(),
            cookie.into(),
            "127.0.0.1".parse().unwrap(),
            tls,
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let task = links.listen(addr, handler).await.unwrap();
        (links, addr.to_string(), task)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_and_answers_are_matched_by_id_over_one_connection() {
        let (_s, addr, _task) = server("cookie").await;
        let client = Links::new(
            "client".into(),
            "cookie".into(),
            "127.0.0.1".parse().unwrap(),
            None,
        );
        let conn = client.conn("server", &addr).await.unwrap();
        let mut waits = Vec::new();
        for i in 0..200u32 {
            let f = conn.send(&i.to_be_bytes()).unwrap();
            waits.push((i, f));
        }
        for (i, mut f) in waits {
            let answer = (&mut f.answer).await.unwrap();
            assert_eq!(answer[..5], *b"echo:");
            assert_eq!(answer[5..], i.to_be_bytes());
        }
        // The same connection serves the next caller.
        let again = client.conn("server", &addr).await.unwrap();
        assert!(Arc::ptr_eq(&conn, &again));
    }

    /// Callers write small frames themselves and leave big ones (and those that meet a busy
    /// writer) to the writer task: from many threads at once, with frames larger than the
    /// write buffer among them and requests dropped as soon as sent, over plain TCP and TLS,
    /// every answer matches its request and the connection stays whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn callers_writing_themselves_and_the_writer_task_never_mix_frames() {
        use crate::tls::testing::Ca;
        let ca = Ca::new("cluster");
        for tls in [false, true] {
            let (_s, addr, _t) = serving_tls("c", echo(), tls.then(|| ca.tls("server"))).await;
            let c = client(tls.then(|| ca.tls("client")));
            let conn = c.conn("server", &addr).await.unwrap();
            let mut callers = tokio::task::JoinSet::new();
            for t in 0..8u32 {
                let conn = conn.clone();
                callers.spawn(async move {
                    for i in 0..150u32 {
                        // Mostly small; every 10th larger than the write buffer, every 7th
                        // close to what is left of it.
                        let len = match i % 10 {
                            0 => WRITE_BUFFER + 1_000 + i as usize,
                            3 => WRITE_BUFFER - 20 - i as usize,
                            _ => 8 + (i as usize * 37) % 500,
                        };
                        let mut payload = vec![(t * 31 + i) as u8; len];
                        payload[..4].copy_from_slice(&(t * 1_000 + i).to_be_bytes());
                        let f = conn.send(&payload).unwrap();
                        if i % 13 == 5 {
                            // Dropped at once: its answer is forgotten, nothing else.
                            drop(f);
                            continue;
                        }
                        let mut f = f;
                        let answer = tokio::time::timeout(Duration::from_secs(20), &mut f.answer)
                            .await
                            .expect("answered")
                            .expect("the connection holds");
                        assert_eq!(answer[..5], *b"echo:");
                        assert!(answer[5..] == payload[..], "caller {t}, request {i}");
                    }
                });
            }
            while let Some(done) = callers.join_next().await {
                done.unwrap();
            }
            let again = c.conn("server", &addr).await.unwrap();
            assert!(
                Arc::ptr_eq(&conn, &again),
                "one connection throughout (tls {tls})"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_peer_without_the_cookie_gets_no_link_either_way() {
        let (_s, addr, _task) = server("right").await;
        let intruder = Links::new(
            "x".into(),
            "wrong".into(),
            "127.0.0.1".parse().unwrap(),
            None,
        );
        assert!(intruder.conn("server", &addr).await.is_err());
        // Nor does a client with the right cookie get one to a server holding another.
        let (_s2, addr2, _task2) = server("wrong").await;
        let client = Links::new(
            "c".into(),
            "right".into(),
            "127.0.0.1".parse().unwrap(),
            None,
        );
        assert!(client.conn("server", &addr2).await.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_broken_connection_fails_what_waits_and_the_next_call_reconnects() {
        let hang: Handler = Arc::new(|_| Box::pin(std::future::pending()));
        let (_links, addr, task) = serving("c", hang).await;
        let client = Links::new(
            "client".into(),
            "c".into(),
            "127.0.0.1".parse().unwrap(),
            None,
        );
        let conn = client.conn("server", &addr).await.unwrap();
        let mut waiting = conn.send(b"never answered").unwrap();
        client.drop_conn("server");
        assert!(
            (&mut waiting.answer).await.is_err(),
            "a waiting request must fail, not hang"
        );
        assert!(conn.send(b"late").is_err());
        task.abort();
        let _ = task.await;
        let (_s, addr2, _t) = server("c").await;
        let fresh = client.conn("server", &addr2).await.unwrap();
        let mut f = fresh.send(b"hi").unwrap();
        assert_eq!((&mut f.answer).await.unwrap(), b"echo:hi");
    }

    fn client(tls: Option<crate::tls::ClusterTls>) -> Arc<Links> {
        Links::new(
            "client".into(),
            "c".into(),
            "127.0.0.1".parse().unwrap(),
            tls,
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn over_tls_nodes_of_one_ca_talk_and_everyone_else_is_refused() {
        use crate::tls::testing::Ca;
        let (ca, other) = (Ca::new("cluster"), Ca::new("another"));
        let (_s, addr, _t) = serving_tls("c", echo(), Some(ca.tls("server"))).await;

        let friend = client(Some(ca.tls("client")));
        let conn = friend.conn("server", &addr).await.unwrap();
        let mut f = conn.send(b"hi").unwrap();
        assert_eq!((&mut f.answer).await.unwrap(), b"echo:hi");

        // A certificate from another CA, and plain TCP, get nothing.
        assert!(client(Some(other.tls("stranger")))
            .conn("server", &addr)
            .await
            .is_err());
        assert!(client(None).conn("server", &addr).await.is_err());
        // Nor does our node trust a server with another CA's certificate, or a plain one.
        let (_s2, addr2, _t2) = serving_tls("c", echo(), Some(other.tls("server"))).await;
        assert!(friend.conn("other", &addr2).await.is_err());
        let (_s3, addr3, _t3) = serving("c", echo()).await;
        assert!(friend.conn("plain", &addr3).await.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_certificate_that_names_another_node_is_refused_both_ways() {
        use crate::tls::testing::Ca;
        let ca = Ca::new("cluster");
        let (_s, addr, _t) = serving_tls("c", echo(), Some(ca.tls("server"))).await;
        // The client says it is "client", but its certificate names "mallory".
        assert!(client(Some(ca.tls("mallory")))
            .conn("server", &addr)
            .await
            .is_err());
        // The client meant to reach "server"; the node at that address is "elsewhere".
        let (_s2, addr2, _t2) = serving_tls("c", echo(), Some(ca.tls("elsewhere"))).await;
        let honest = client(Some(ca.tls("client")));
        assert!(honest.conn("server", &addr2).await.is_err());
        // The same client and servers, named rightly, talk.
        let conn = honest.conn("server", &addr).await.unwrap();
        let mut f = conn.send(b"hi").unwrap();
        assert_eq!((&mut f.answer).await.unwrap(), b"echo:hi");
        assert!(honest.conn("elsewhere", &addr2).await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tls_client_without_a_certificate_is_refused() {
        use crate::tls::testing::Ca;
        let ca = Ca::new("cluster");
        let (_s, addr, _t) = serving_tls("c", echo(), Some(ca.tls("server"))).await;
        use rustls::pki_types::pem::PemObject;
        // Trusts the CA, but presents no certificate of its own.
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls::pki_types::CertificateDer::pem_slice_iter(ca.pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(crate::tls::ClusterTls::server_name(), tcp)
            .await
            .unwrap();
        // TLS 1.3: the refusal arrives at the first read, never a challenge.
        let mut challenge = [0u8; 32];
        assert!(tls.read_exact(&mut challenge).await.is_err());
    }
}
