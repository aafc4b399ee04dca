//! The request line's length, checked on each new connection before actix parses it.
//!
//! actix-http reads at most 128 KiB of request head and then answers 431 and closes the
//! connection while the client is still sending: the client sees a reset, not an answer.
//! Here the first request line of a connection is peeked at (nothing is consumed); one
//! longer than [`REQUEST_LINE_LIMIT`] gets a clean 414 once the rest of its head has been
//! read, so that closing the connection does not reset it.

use std::time::{Duration, Instant};

use actix_http::error::DispatchError;
use actix_web::rt::net::TcpStream;

/// The longest request line accepted (method, target, version), as in common servers.
pub const REQUEST_LINE_LIMIT: usize = 8 * 1024;

/// How long a client may take to send its request line, or the rest of a refused head.
const PATIENCE: Duration = Duration::from_secs(5);

/// The most of a refused head that is read (and dropped) before closing anyway.
const DRAIN_LIMIT: usize = 1024 * 1024;

const TOO_LONG: &str = "L’adresse demandée est trop longue (8 Kio au plus).\n";

/// Passes the connection on unless its first request line is too long, in which case
/// it answers 414 itself and ends the connection (an `Err` for actix-server).
pub async fn check(stream: TcpStream) -> Result<TcpStream, DispatchError> {
    let mut buf = vec![0u8; REQUEST_LINE_LIMIT + 1];
    let deadline = Instant::now() + PATIENCE;
    loop {
        let n = stream.peek(&mut buf).await.map_err(DispatchError::Io)?;
        // Closed, a complete line, or a slow client: actix takes over (and times out).
        if n == 0 || buf[..n].contains(&b'\n') || Instant::now() >= deadline {
            return Ok(stream);
        }
        if n > REQUEST_LINE_LIMIT {
            refuse(stream).await;
            return Err(DispatchError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "request line too long",
            )));
        }
        // Part of the line is there: wait for the rest (peek returns at once while data
        // is pending, so pace it).
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Reads the refused head up to its blank line (or a limit), then answers 414.
async fn refuse(stream: TcpStream) {
    let deadline = Instant::now() + PATIENCE;
    let mut chunk = vec![0u8; 16 * 1024];
    let mut tail: Vec<u8> = Vec::with_capacity(16 * 1024 + 3);
    let mut total = 0;
    while total < DRAIN_LIMIT && Instant::now() < deadline {
        let ready = actix_web::rt::time::timeout(PATIENCE, stream.readable()).await;
        if !matches!(ready, Ok(Ok(()))) {
            break;
        }
        match stream.try_read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                total += n;
                tail.extend_from_slice(&chunk[..n]);
                if tail.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
                // Keep only what may start the blank line.
                let keep = tail.len().min(3);
                tail.drain(..tail.len() - keep);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        }
    }
    let response = format!(
        "HTTP/1.1 414 URI Too Long\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{TOO_LONG}",
        TOO_LONG.len()
    );
    let mut out = response.as_bytes();
    while !out.is_empty() && Instant::now() < deadline {
        let ready = actix_web::rt::time::timeout(PATIENCE, stream.writable()).await;
        if !matches!(ready, Ok(Ok(()))) {
            return;
        }
        match stream.try_write(out) {
            Ok(n) => out = &out[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        }
    }
}
