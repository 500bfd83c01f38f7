//! Lets awc read an HTTP/1.1 response body that ends when the server closes the connection.
//!
//! A response with neither `Content-Length` nor chunked `Transfer-Encoding` has a body that lasts until the
//! server closes the connection (RFC 9112 §6.3, last rule). Some proxies and small servers stream an answer that
//! way (`Connection: close`, then the events, then close). awc 3 reads such a body in full only when the status
//! line says `HTTP/1.0`; under `HTTP/1.1` its decoder (actix-http's `ResponseHead::decode`) reads it as empty,
//! even with `Connection: close` (actix/actix-web#2287; the fix, #3038, was not merged), so a complete answer
//! reached the user as nothing at all.
//!
//! [`CloseDelimited`] sits between awc and the TCP stream and looks at each response head as awc reads it. When
//! the head says the body ends at the close, it changes the status line's `HTTP/1.1` into `HTTP/1.0` (the same
//! length), and awc reads the body to the end of the connection (and does not reuse the connection, which the
//! server closes anyway). Nothing else is changed, and the body passes through as it arrives, so streaming is
//! not delayed.
//!
//! Only plain `http://` connections are looked at: under `https://` awc puts TLS on top of this stream, so the
//! bytes here are encrypted and pass through untouched (see [`unreadable_over_tls`] for that case).

use actix_rt::net::{ActixStream, Ready, TcpStream};
use actix_tls::connect::{ConnectError, ConnectInfo, Connection, ConnectorService};
use actix_web::dev::Service;
use awc::http::{header, StatusCode, Uri, Version};
use futures_util::future::LocalBoxFuture;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A response head longer than this is not looked at (it passes through as it is): actix-http itself refuses
/// a head past 128 KiB, and real heads are a few hundred bytes.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How much is read from the socket at a time while a head is held.
const READ_CHUNK_BYTES: usize = 8 * 1024;

/// awc's TCP connector ([`ConnectorService`]: DNS, then TCP) with each stream wrapped in [`CloseDelimited`].
/// Give it to `awc::Connector::connector`.
#[derive(Clone, Default)]
pub struct CloseDelimitedConnector {
    tcp: ConnectorService,
}

impl Service<ConnectInfo<Uri>> for CloseDelimitedConnector {
    type Response = Connection<Uri, CloseDelimited<TcpStream>>;
    type Error = ConnectError;
    type Future = LocalBoxFuture<'static, Result<Self::Response, ConnectError>>;

    fn poll_ready(&self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&self, request: ConnectInfo<Uri>) -> Self::Future {
        // awc passes the whole URL: TLS is put on top of this stream for anything but `http`.
        let plain = request.request().scheme_str() == Some("http");
        let connecting = self.tcp.call(request);
        Box::pin(async move {
            let (tcp, connection) = connecting.await?.replace_io(());
            let (_, connection) = connection.replace_io(CloseDelimited::new(tcp, plain));
            Ok(connection)
        })
    }
}

/// Where the connection is in its request/response exchange (awc sends one request at a time and reads its
/// whole response before it sends the next one on the same connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing sent yet, or the last response's head was handed over: the next write starts a new request.
    Idle,
    /// A request was sent: what is read next is its response head, held until the head is complete.
    AwaitingHead,
    /// Not plain HTTP (TLS runs on top): every byte passes through untouched.
    Off,
}

/// A stream that makes close-delimited HTTP/1.1 response bodies readable by awc (see the module docs).
#[derive(Debug)]
pub struct CloseDelimited<Io> {
    io: Io,
    phase: Phase,
    /// Bytes read from `io` that the reader has not taken yet: first `ready` bytes that may be handed out,
    /// then the start of a response head that is still being read.
    held: Vec<u8>,
    /// How many bytes at the start of `held` are decided (passed on as they are, or after the version change).
    ready: usize,
    /// The request being answered is a `HEAD`: its response has no body, whatever its headers say.
    head_request: bool,
}

impl<Io> CloseDelimited<Io> {
    /// Wraps `io`; `plain` is false for a stream that TLS will run on, which then passes through untouched.
    pub fn new(io: Io, plain: bool) -> Self {
        Self {
            io,
            phase: if plain { Phase::Idle } else { Phase::Off },
            held: Vec::new(),
            ready: 0,
            head_request: false,
        }
    }

    /// A write: the first one after a response starts the next request, whose response head is looked at.
    fn note_write(&mut self, bytes: &[u8]) {
        if self.phase == Phase::Idle && !bytes.is_empty() {
            self.phase = Phase::AwaitingHead;
            self.head_request = bytes.starts_with(b"HEAD ");
        }
    }

    /// Decides about every complete head in the undecided bytes: interim (1xx) heads are passed on and the
    /// next head is awaited; the final head is passed on (changed if its body ends at the close), and then
    /// everything after it.
    fn scan_heads(&mut self) {
        while self.phase == Phase::AwaitingHead {
            let undecided = self.held.get(self.ready..).unwrap_or_default();
            let Some(len) = head_len(undecided) else {
                if undecided.len() > MAX_HEAD_BYTES {
                    self.pass_the_rest();
                }
                return;
            };
            let head = undecided.get(..len).unwrap_or_default();
            match classify_head(head, self.head_request) {
                HeadKind::Interim => self.ready += len,
                HeadKind::Framed => self.pass_the_rest(),
                HeadKind::CloseDelimited => {
                    // `HTTP/1.1 ` → `HTTP/1.0 `: the minor version digit is the status line's eighth byte.
                    if let Some(minor) = self.held.get_mut(self.ready + 7) {
                        *minor = b'0';
                    }
                    self.pass_the_rest();
                }
            }
        }
    }

    /// Everything held may be handed out, and what follows passes through until the next request.
    fn pass_the_rest(&mut self) {
        self.ready = self.held.len();
        self.phase = Phase::Idle;
    }
}

/// The length of the head at the start of `bytes` (up to and including the blank line that ends it), once
/// the blank line has arrived. Lines may end in `\r\n` or `\n`, as actix-http's parser accepts both.
fn head_len(bytes: &[u8]) -> Option<usize> {
    let mut start = 0;
    loop {
        let rest = bytes.get(start..)?;
        let line_len = rest.iter().position(|&b| b == b'\n')?;
        let line = rest.get(..line_len)?;
        let next = start + line_len + 1;
        if start > 0 && (line.is_empty() || line == b"\r") {
            return Some(next);
        }
        start = next;
    }
}

/// What a response head says about the body that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeadKind {
    /// `1xx` (but `101`): another head follows.
    Interim,
    /// The body's end is known without a close (length, chunks, no body at all), or it is not HTTP/1.1, or
    /// the head cannot be read here (then awc judges it, as without this wrapper).
    Framed,
    /// An HTTP/1.1 response whose body ends when the server closes the connection.
    CloseDelimited,
}

/// Applies RFC 9112 §6.3 to a complete response head (status line and headers).
fn classify_head(head: &[u8], head_request: bool) -> HeadKind {
    let Ok(text) = std::str::from_utf8(head) else {
        return HeadKind::Framed;
    };
    let mut lines = text.lines();
    let Some(status) = lines
        .next()
        .and_then(|line| line.strip_prefix("HTTP/1.1 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
    else {
        return HeadKind::Framed;
    };
    if (100..200).contains(&status) {
        // 101 Switching Protocols hands the connection over to another protocol: nothing more to look at.
        return if status == 101 {
            HeadKind::Framed
        } else {
            HeadKind::Interim
        };
    }
    if head_request || status == 204 || status == 304 {
        return HeadKind::Framed;
    }
    let mut content_length = false;
    let mut transfer_encoding: Option<&str> = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = true;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = Some(value);
        }
    }
    match transfer_encoding {
        // Chunked only when it is the last coding; any other coding is read until the close.
        Some(codings) => {
            let last = codings.rsplit(',').next().unwrap_or_default().trim();
            if last.eq_ignore_ascii_case("chunked") {
                HeadKind::Framed
            } else {
                HeadKind::CloseDelimited
            }
        }
        None if content_length => HeadKind::Framed,
        None => HeadKind::CloseDelimited,
    }
}

/// The body of this response is close-delimited but awc will read it as empty: an HTTP/1.1 response with a
/// body but neither `Content-Length` nor `Transfer-Encoding`, which only reaches awc unchanged over TLS (on
/// plain HTTP [`CloseDelimited`] turns it into an HTTP/1.0 response, which awc reads to the end).
pub fn unreadable_over_tls(
    version: Version,
    status: StatusCode,
    headers: &awc::http::header::HeaderMap,
) -> bool {
    version == Version::HTTP_11
        && !status.is_informational()
        && status != StatusCode::NO_CONTENT
        && status != StatusCode::NOT_MODIFIED
        && !headers.contains_key(header::CONTENT_LENGTH)
        && !headers.contains_key(header::TRANSFER_ENCODING)
}

impl<Io: AsyncRead + Unpin> AsyncRead for CloseDelimited<Io> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.ready > 0 {
                let n = this.ready.min(buf.remaining());
                buf.put_slice(this.held.get(..n).unwrap_or_default());
                this.held.drain(..n);
                this.ready -= n;
                return Poll::Ready(Ok(()));
            }
            if this.phase != Phase::AwaitingHead {
                return Pin::new(&mut this.io).poll_read(cx, buf);
            }
            let mut chunk = [0u8; READ_CHUNK_BYTES];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.io).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                // The connection ended inside a head: hand over what there is (awc reports it), then the end.
                this.pass_the_rest();
                if this.ready == 0 {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            this.held.extend_from_slice(read.filled());
            this.scan_heads();
        }
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for CloseDelimited<Io> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.note_write(bytes);
        Pin::new(&mut this.io).poll_write(cx, bytes)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            this.note_write(first);
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl<Io: ActixStream> ActixStream for CloseDelimited<Io> {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
        if self.ready > 0 {
            return Poll::Ready(Ok(Ready::READABLE));
        }
        self.io.poll_read_ready(cx)
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
        self.io.poll_write_ready(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const REQUEST: &[u8] =
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}";

    /// Sends `request` through a wrapped stream whose server side answers `response` (written in `pieces`
    /// of this size) and closes; returns what the client side reads.
    async fn exchange(request: &[u8], response: &[u8], piece: usize, plain: bool) -> Vec<u8> {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let mut client = CloseDelimited::new(client, plain);
        client.write_all(request).await.unwrap();
        let mut got = vec![0u8; request.len()];
        server.read_exact(&mut got).await.unwrap();
        for part in response.chunks(piece.max(1)) {
            server.write_all(part).await.unwrap();
        }
        drop(server);
        let mut read = Vec::new();
        client.read_to_end(&mut read).await.unwrap();
        read
    }

    #[actix_rt::test]
    async fn a_close_delimited_http_1_1_answer_is_presented_as_http_1_0_and_nothing_else_changes() {
        let head =
            "200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\ndata: x\n\n";
        let response = format!("HTTP/1.1 {head}");

        for piece in [1, 7, 4096] {
            let read = exchange(REQUEST, response.as_bytes(), piece, true).await;

            assert_eq!(
                String::from_utf8(read).unwrap(),
                format!("HTTP/1.0 {head}"),
                "written in pieces of {piece}"
            );
        }
    }

    #[actix_rt::test]
    async fn framed_answers_and_bodyless_ones_pass_unchanged() {
        let answers: [&[u8]; 6] = [
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 304 Not Modified\r\n\r\n",
            b"HTTP/1.0 200 OK\r\n\r\nread to the end already",
            b"not http at all\n\nstill not",
        ];
        for answer in answers {
            assert_eq!(exchange(REQUEST, answer, 3, true).await, answer);
        }
        let head = b"HEAD / HTTP/1.1\r\nhost: x\r\n\r\n";
        let answer = b"HTTP/1.1 200 OK\r\n\r\n";
        assert_eq!(exchange(head, answer, 3, true).await, answer);
    }

    #[actix_rt::test]
    async fn a_body_whose_last_coding_is_not_chunked_is_read_to_the_close() {
        let response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nzz";

        let read = exchange(REQUEST, response, 5, true).await;

        assert!(read.starts_with(b"HTTP/1.0 200 OK"), "{read:?}");
    }

    #[actix_rt::test]
    async fn an_interim_answer_passes_and_the_final_head_is_looked_at() {
        let response =
            b"HTTP/1.1 103 Early Hints\nlink: </x>\n\nHTTP/1.1 200 OK\nconnection: close\n\nbody";

        let read = exchange(REQUEST, response, 2, true).await;

        let expected =
            b"HTTP/1.1 103 Early Hints\nlink: </x>\n\nHTTP/1.0 200 OK\nconnection: close\n\nbody";
        assert_eq!(read, expected);
    }

    #[actix_rt::test]
    async fn a_stream_under_tls_is_never_touched() {
        let response = b"HTTP/1.1 200 OK\r\n\r\nbody";

        assert_eq!(exchange(REQUEST, response, 3, false).await, response);
    }

    #[actix_rt::test]
    async fn only_the_head_of_each_response_is_looked_at() {
        // Arrange: a first, framed answer whose body looks like a close-delimited head.
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let mut client = CloseDelimited::new(client, true);
        let first = b"HTTP/1.1 200 OK\r\ncontent-length: 19\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
        let second = b"HTTP/1.1 200 OK\r\n\r\nthe end";
        let mut sink = vec![0u8; REQUEST.len()];

        client.write_all(REQUEST).await.unwrap();
        server.read_exact(&mut sink).await.unwrap();
        server.write_all(first).await.unwrap();
        let mut read = vec![0u8; first.len()];
        client.read_exact(&mut read).await.unwrap();
        assert_eq!(read, first, "the body of a framed answer is not a head");
        client.write_all(REQUEST).await.unwrap();
        server.read_exact(&mut sink).await.unwrap();
        server.write_all(second).await.unwrap();
        drop(server);
        let mut read = Vec::new();
        client.read_to_end(&mut read).await.unwrap();

        assert_eq!(read, b"HTTP/1.0 200 OK\r\n\r\nthe end");
    }

    #[test]
    fn an_http_1_1_answer_without_length_is_unreadable_over_tls() {
        use awc::http::header::{HeaderMap, HeaderValue};
        let mut headers = HeaderMap::new();
        let ok = StatusCode::OK;
        assert!(unreadable_over_tls(Version::HTTP_11, ok, &headers));
        assert!(!unreadable_over_tls(Version::HTTP_10, ok, &headers));
        assert!(!unreadable_over_tls(Version::HTTP_2, ok, &headers));
        assert!(!unreadable_over_tls(
            Version::HTTP_11,
            StatusCode::NO_CONTENT,
            &headers
        ));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        assert!(!unreadable_over_tls(Version::HTTP_11, ok, &headers));
    }
}
