//! A minimal HTTP/1.1 client for the load benchmarks: one keep-alive connection, one request
//! at a time, with the request bytes built once and sent as they are (so the load generator
//! costs little next to the server it measures). Handles `Content-Length` and chunked bodies
//! and `Connection: close`.

use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A request that takes longer than this is an error (and its connection is dropped).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// `METHOD path HTTP/1.1` with `Host`, an optional bearer token and an optional JSON body.
pub fn http_request(
    method: &str,
    path: &str,
    host: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    if let Some(t) = token {
        r += &format!("Authorization: Bearer {t}\r\n");
    }
    match body {
        Some(b) => {
            r += &format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            )
        }
        None => r += "\r\n",
    }
    r.into_bytes()
}

pub struct RawConn {
    addr: String,
    io: Option<BufReader<TcpStream>>,
    line: String,
    /// The body of the last response.
    pub body: Vec<u8>,
}

impl RawConn {
    pub fn new(addr: &str) -> RawConn {
        RawConn {
            addr: addr.to_owned(),
            io: None,
            line: String::new(),
            body: Vec::new(),
        }
    }

    /// Opens the connection now rather than at the first request.
    pub async fn connect(&mut self) -> Result<(), String> {
        if self.io.is_none() {
            let s = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let _ = s.set_nodelay(true);
            self.io = Some(BufReader::with_capacity(4096, s));
        }
        Ok(())
    }

    /// Sends `req` and reads the answer (into `self.body`); returns its status. On any error
    /// (or `Connection: close`) the connection is dropped, and the next request opens another.
    pub async fn request(&mut self, req: &[u8]) -> Result<u16, String> {
        self.connect().await?;
        let io = self.io.as_mut().expect("connection");
        let r = tokio::time::timeout(
            REQUEST_TIMEOUT,
            exchange(io, req, &mut self.line, &mut self.body),
        )
        .await
        .unwrap_or_else(|_| Err("timeout".into()));
        match r {
            Ok((status, close)) => {
                if close {
                    self.io = None;
                }
                Ok(status)
            }
            Err(e) => {
                self.io = None;
                Err(e)
            }
        }
    }
}

/// One request and its response; returns the status and whether the server closes.
async fn exchange(
    io: &mut BufReader<TcpStream>,
    req: &[u8],
    line: &mut String,
    body: &mut Vec<u8>,
) -> Result<(u16, bool), String> {
    io.get_mut()
        .write_all(req)
        .await
        .map_err(|e| format!("write: {e}"))?;
    read_line(io, line).await?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {line:?}"))?;
    let (mut length, mut chunked, mut close) = (None, false, false);
    loop {
        read_line(io, line).await?;
        if line == "\r\n" || line == "\n" {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    body.clear();
    if chunked {
        loop {
            read_line(io, line).await?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| format!("bad chunk size {line:?}"))?;
            if size == 0 {
                // Trailers, then the blank line.
                loop {
                    read_line(io, line).await?;
                    if line == "\r\n" || line == "\n" {
                        break;
                    }
                }
                break;
            }
            let old = body.len();
            body.resize(old + size, 0);
            io.read_exact(&mut body[old..])
                .await
                .map_err(|e| format!("read: {e}"))?;
            read_line(io, line).await?;
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        io.read_exact(body)
            .await
            .map_err(|e| format!("read: {e}"))?;
    }
    Ok((status, close))
}

/// Reads one line (with its line end) into `line`; EOF is an error.
/// Reads one line (with its line ending) into `line`; an error at the end of the stream.
pub async fn read_line(io: &mut BufReader<TcpStream>, line: &mut String) -> Result<(), String> {
    line.clear();
    match io.read_line(line).await {
        Ok(0) => Err("connection closed".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("read: {e}")),
    }
}
