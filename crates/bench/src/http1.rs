//! A minimal HTTP/1.1 keep-alive client connection for the load generator: writes a prepared
//! request and reads one response (status, headers, a `Content-Length` or chunked body).
//! Hand-rolled so that generating a request costs a memcpy and two syscalls: the generator
//! runs on one core and must outrun the bare baseline on the other.

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Conn {
    addr: String,
    stream: TcpStream,
    /// Read buffer: `buf[start..end]` is received and not yet consumed. Allocated (and
    /// zeroed) once: a read must not cost a memset.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Conn {
    pub async fn connect(addr: &str) -> anyhow::Result<Self> {
        let stream =
            TcpStream::connect(addr).await.with_context(|| format!("connecting {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Self { addr: addr.to_string(), stream, buf: vec![0; 64 * 1024], start: 0, end: 0 })
    }

    /// Sends `request` and returns the response's status. Reconnects once when the server
    /// closed the connection before answering (an idle keep-alive connection may be closed).
    pub async fn exchange(&mut self, request: &[u8]) -> anyhow::Result<u16> {
        match self.try_exchange(request).await {
            Ok(Some(status)) => Ok(status),
            Ok(None) | Err(_) => {
                *self = Self::connect(&self.addr).await?;
                self.try_exchange(request).await?.context("the server closed the connection")
            }
        }
    }

    /// `None` when the connection was closed before any byte of the response.
    async fn try_exchange(&mut self, request: &[u8]) -> anyhow::Result<Option<u16>> {
        self.stream.write_all(request).await?;
        // Headers.
        let head_end = loop {
            if let Some(i) = find(&self.buf[self.start..self.end], b"\r\n\r\n") {
                break self.start + i + 4;
            }
            if self.fill().await? == 0 {
                if self.end == self.start {
                    return Ok(None);
                }
                bail!("the connection closed inside a response head");
            }
        };
        let head = &self.buf[self.start..head_end];
        let status = std::str::from_utf8(head.get(9..12).context("short status line")?)?
            .parse::<u16>()
            .context("bad status line")?;
        let mut length = 0usize;
        let mut chunked = false;
        let mut close = false;
        for line in head.split(|b| *b == b'\n').skip(1) {
            let line = std::str::from_utf8(line)?.trim_end();
            let Some((name, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().context("bad content-length")?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
        self.start = head_end;
        if chunked {
            self.skip_chunked().await?;
        } else {
            self.skip(length).await?;
        }
        if close {
            *self = Self::connect(&self.addr).await?;
        }
        Ok(Some(status))
    }

    /// Reads more bytes after `end`; 0 at end of stream.
    async fn fill(&mut self) -> anyhow::Result<usize> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                (self.start, self.end) = (0, self.end - self.start);
            } else {
                let len = self.buf.len();
                self.buf.resize(len * 2, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    async fn skip(&mut self, mut n: usize) -> anyhow::Result<()> {
        loop {
            let have = (self.end - self.start).min(n);
            self.start += have;
            n -= have;
            if n == 0 {
                return Ok(());
            }
            if self.fill().await? == 0 {
                bail!("the connection closed inside a response body");
            }
        }
    }

    async fn skip_chunked(&mut self) -> anyhow::Result<()> {
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf[self.start..self.end], b"\r\n") {
                    break self.start + i;
                }
                if self.fill().await? == 0 {
                    bail!("the connection closed inside a chunked body");
                }
            };
            let size = std::str::from_utf8(&self.buf[self.start..line_end])?;
            let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
                .context("bad chunk size")?;
            self.start = line_end + 2;
            // The chunk and its CRLF; the last chunk (0) has no trailers from our servers.
            self.skip(size + 2).await?;
            if size == 0 {
                return Ok(());
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers every request it reads with the next canned response.
    async fn serve(responses: Vec<&'static str>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 4096];
            for r in responses {
                let _ = s.read(&mut buf).await.unwrap();
                s.write_all(r.as_bytes()).await.unwrap();
            }
        });
        addr
    }

    #[tokio::test]
    async fn reads_sized_chunked_and_empty_responses_on_one_connection() {
        let addr = serve(vec![
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            "HTTP/1.1 204 No Content\r\n\r\n",
            "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}",
        ])
        .await;
        let mut c = Conn::connect(&addr).await.unwrap();
        let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        for want in [200, 201, 204, 404] {
            assert_eq!(c.exchange(req).await.unwrap(), want);
        }
        assert_eq!(c.start, c.end, "nothing left over");
    }
}
