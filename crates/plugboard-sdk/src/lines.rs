//! Splitting the host's input into lines of at most a given length: a longer line is read and
//! thrown away in pieces as it arrives, never held whole.

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// What [`LineReader::next`] found.
#[derive(Debug, PartialEq)]
pub(crate) enum Line<'a> {
    /// One line, without its `\n`.
    Text(&'a [u8]),
    /// A line over the limit, of this many bytes, discarded.
    TooLong(usize),
    /// The end of the input.
    End,
}

/// Reads lines from `R`. [`LineReader::next`] is cancel safe: a partial line is kept in the
/// reader, so the loop can wait for it in `tokio::select!` beside other work.
pub(crate) struct LineReader<R> {
    input: BufReader<R>,
    max_line_bytes: usize,
    line: Vec<u8>,
    /// Bytes of the current line thrown away because it is over the limit.
    discarded: usize,
    /// The previous call returned a line; clear it before reading on.
    returned: bool,
}

const READ_BUFFER_BYTES: usize = 64 * 1024;

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub(crate) fn new(input: R, max_line_bytes: usize) -> LineReader<R> {
        LineReader {
            input: BufReader::with_capacity(READ_BUFFER_BYTES, input),
            max_line_bytes,
            line: Vec::new(),
            discarded: 0,
            returned: false,
        }
    }

    /// The next line, or the end of the input. A last line without `\n` counts as a line.
    ///
    /// # Errors
    /// A failed read.
    pub(crate) async fn next(&mut self) -> std::io::Result<Line<'_>> {
        if self.returned {
            self.returned = false;
            self.line.clear();
            if self.line.capacity() > READ_BUFFER_BYTES {
                self.line = Vec::new();
            }
        }
        loop {
            // `fill_buf` is cancel safe, and everything below it up to the next await leaves the
            // reader consistent, so dropping this future at the await loses nothing.
            let available = self.input.fill_buf().await?;
            if available.is_empty() {
                return Ok(self.finish_line_at_end());
            }
            let newline = available.iter().position(|&byte| byte == b'\n');
            let piece = &available[..newline.unwrap_or(available.len())];
            if self.discarded == 0 && self.line.len() + piece.len() <= self.max_line_bytes {
                self.line.extend_from_slice(piece);
            } else {
                self.discarded += self.line.len() + piece.len();
                self.line.clear();
            }
            let consumed = newline.map_or(available.len(), |at| at + 1);
            self.input.consume(consumed);
            if newline.is_some() {
                return Ok(self.take_line());
            }
        }
    }

    fn finish_line_at_end(&mut self) -> Line<'_> {
        if self.line.is_empty() && self.discarded == 0 {
            return Line::End;
        }
        self.take_line()
    }

    fn take_line(&mut self) -> Line<'_> {
        self.returned = true;
        if self.discarded > 0 {
            let bytes = std::mem::take(&mut self.discarded);
            return Line::TooLong(bytes);
        }
        Line::Text(&self.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(input: &[u8], max_line_bytes: usize) -> Vec<String> {
        let mut reader = LineReader::new(input, max_line_bytes);
        let mut seen = Vec::new();
        loop {
            match reader.next().await.expect("reading a slice cannot fail") {
                Line::Text(text) => seen.push(String::from_utf8_lossy(text).into_owned()),
                Line::TooLong(bytes) => seen.push(format!("<{bytes} bytes>")),
                Line::End => return seen,
            }
        }
    }

    #[tokio::test]
    async fn splits_lines_and_keeps_a_last_line_without_newline() {
        assert_eq!(read_all(b"a\n\nbc\nd", 10).await, ["a", "", "bc", "d"]);
    }

    #[tokio::test]
    async fn discards_a_line_over_the_limit_and_goes_on() {
        assert_eq!(
            read_all(b"12345\n123456\nok\n1234567", 5).await,
            ["12345", "<6 bytes>", "ok", "<7 bytes>"]
        );
    }

    #[tokio::test]
    async fn discards_a_long_line_that_spans_many_reads() {
        let mut input = vec![b'x'; READ_BUFFER_BYTES * 3 + 7];
        input.extend_from_slice(b"\nafter\n");
        let seen = read_all(&input, READ_BUFFER_BYTES).await;
        assert_eq!(
            seen,
            [
                format!("<{} bytes>", READ_BUFFER_BYTES * 3 + 7),
                "after".to_owned()
            ]
        );
    }
}
