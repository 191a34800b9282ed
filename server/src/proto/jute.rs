//! Jute binary encoding: big-endian integers, length-prefixed buffers and strings
//! where a length of -1 means null. Decoding never panics on hostile input.

use thiserror::Error;

/// Why a record could not be decoded. Any of these closes the connection that sent it.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record truncated: needed {needed} more bytes at offset {offset}")]
    Truncated { offset: usize, needed: usize },
    #[error("invalid length {len} at offset {offset}")]
    BadLength { offset: usize, len: i32 },
    #[error("unknown {what} {value}")]
    Unknown { what: &'static str, value: i32 },
    #[error("{0}")]
    Invalid(&'static str),
}

/// Reads jute fields from a byte slice.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Largest buffer, string or vector length accepted.
    max_len: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            max_len: buf.len(),
        }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                offset: self.pos,
                needed: n - self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn read_i64(&mut self) -> Result<i64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    /// One raw byte (a tag in our own records).
    pub fn read_u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    /// Java's readBoolean: any non-zero byte is true.
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.take(1)?[0] != 0)
    }

    /// A length field: -1 is null, anything else below 0 or beyond the frame is an error.
    fn read_len(&mut self) -> Result<Option<usize>, DecodeError> {
        let offset = self.pos;
        let len = self.read_i32()?;
        match len {
            -1 => Ok(None),
            l if l < -1 || l as usize > self.max_len => Err(DecodeError::BadLength { offset, len }),
            l => Ok(Some(l as usize)),
        }
    }

    pub fn read_buffer(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        match self.read_len()? {
            None => Ok(None),
            Some(n) => Ok(Some(self.take(n)?.to_vec())),
        }
    }

    /// A ustring; null reads as the empty string (kazoo sends -1 for ""). Invalid UTF-8
    /// is replaced rather than rejected, as Java's decoder does; paths with the
    /// replacement character then fail validation where ZooKeeper would.
    pub fn read_string(&mut self) -> Result<String, DecodeError> {
        match self.read_len()? {
            None => Ok(String::new()),
            Some(n) => Ok(String::from_utf8_lossy(self.take(n)?).into_owned()),
        }
    }

    /// A vector of elements; null reads as empty.
    pub fn read_vec<T>(
        &mut self,
        mut each: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        // ZooKeeper's BinaryIndex reads a count below -1 as an empty vector too.
        let offset = self.pos;
        let count = self.read_i32()?;
        if count > 0 && count as usize > self.max_len {
            return Err(DecodeError::BadLength { offset, len: count });
        }
        match usize::try_from(count).ok() {
            None => Ok(Vec::new()),
            Some(n) => {
                // Each element takes at least one byte: cap the pre-allocation by what is left.
                let mut out = Vec::with_capacity(n.min(self.remaining()));
                for _ in 0..n {
                    out.push(each(self)?);
                }
                Ok(out)
            }
        }
    }

    pub fn read_string_vec(&mut self) -> Result<Vec<String>, DecodeError> {
        self.read_vec(|r| r.read_string())
    }
}

/// Writes jute fields into a growable buffer.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer { buf: Vec::new() }
    }

    /// A writer whose first four bytes are reserved for the frame length.
    pub fn framed() -> Self {
        Writer {
            buf: vec![0, 0, 0, 0],
        }
    }

    /// Fills in the reserved frame length and returns the frame.
    pub fn finish_frame(mut self) -> Vec<u8> {
        let len = (self.buf.len() - 4) as u32;
        self.buf[..4].copy_from_slice(&len.to_be_bytes());
        self.buf
    }

    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn write_i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn write_i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn write_bool(&mut self, v: bool) {
        self.buf.push(v as u8);
    }

    pub fn write_buffer(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.write_i32(-1),
            Some(b) => {
                self.write_i32(b.len() as i32);
                self.buf.extend_from_slice(b);
            }
        }
    }

    pub fn write_string(&mut self, s: &str) {
        self.write_i32(s.len() as i32);
        self.buf.extend_from_slice(s.as_bytes());
    }

    pub fn write_raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    pub fn write_vec<T>(&mut self, items: &[T], mut each: impl FnMut(&mut Self, &T)) {
        self.write_i32(items.len() as i32);
        for item in items {
            each(self, item);
        }
    }

    pub fn write_string_vec<S: AsRef<str>>(&mut self, items: &[S]) {
        self.write_vec(items, |w, s| w.write_string(s.as_ref()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_empty_buffers_differ() {
        let mut w = Writer::new();
        w.write_buffer(None);
        w.write_buffer(Some(b""));
        let bytes = w.into_inner();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.read_buffer().unwrap(), None);
        assert_eq!(r.read_buffer().unwrap(), Some(vec![]));
        assert!(r.is_empty());
    }

    #[test]
    fn lengths_below_minus_one_or_past_the_frame_are_rejected() {
        let mut w = Writer::new();
        w.write_i32(-2);
        assert!(matches!(
            Reader::new(&w.into_inner()).read_buffer(),
            Err(DecodeError::BadLength { .. })
        ));
        let mut w = Writer::new();
        w.write_i32(100);
        w.write_raw(b"abc");
        assert!(matches!(
            Reader::new(&w.into_inner()).read_string(),
            Err(DecodeError::BadLength { .. })
        ));
    }

    #[test]
    fn framed_writer_prefixes_length() {
        let mut w = Writer::framed();
        w.write_i32(-2);
        w.write_i32(11);
        assert_eq!(
            w.finish_frame(),
            vec![0, 0, 0, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11]
        );
    }
}
