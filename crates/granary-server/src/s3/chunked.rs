//! The `aws-chunked` content encoding S3 clients use to stream a body of known length in
//! signed or unsigned chunks with optional trailing checksums (`x-amz-content-sha256:
//! STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` or `STREAMING-UNSIGNED-PAYLOAD-TRAILER`;
//! AWS "Signature Calculations for the Authorization Header: Transferring Payload in
//! Multiple Chunks"). Decoded as it streams: memory stays at one header line plus whatever
//! the transport delivers at once. Chunk signatures, when present, are verified chunk by
//! chunk, each over the previous one; trailing headers are read and dropped (the bytes are
//! verified against the digest in the object key instead).

use bytes::{Buf, Bytes, BytesMut};
use futures::stream::{BoxStream, Stream, StreamExt};
use sha2::{Digest as _, Sha256};

use super::sigv4::{hmac, EMPTY_SHA256};

/// Longest chunk header or trailer line accepted (the size, the signature and a margin).
const MAX_LINE: usize = 4096;

/// What verifies each chunk's `chunk-signature`: the request's signing key, date and scope,
/// and the signature of the previous chunk (the seed signature for the first).
pub struct ChunkSigner {
    pub key: [u8; 32],
    pub amz_date: String,
    pub scope: String,
    pub previous: String,
}

impl ChunkSigner {
    fn expected(&mut self, data_sha256: &str) -> String {
        let to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{data_sha256}",
            self.amz_date, self.scope, self.previous
        );
        hex::encode(hmac(&self.key, to_sign.as_bytes()))
    }
}

enum Phase {
    Header,
    Data { remaining: u64, signature: Option<String> },
    DataEnd { signature: Option<String> },
    Trailer,
    Done,
}

struct State<E> {
    inner: BoxStream<'static, Result<Bytes, E>>,
    buf: BytesMut,
    phase: Phase,
    signer: Option<ChunkSigner>,
    hasher: Sha256,
    decoded: u64,
    expected_len: Option<u64>,
    ended: bool,
}

/// Decodes an `aws-chunked` body. `signer` verifies chunk signatures (None for unsigned
/// streaming); `decoded_len` is `x-amz-decoded-content-length`, checked at the end.
/// Errors (as the stream's last item): a malformed chunk header, a wrong chunk signature, a
/// body that ends early, or a decoded length that differs from the one declared.
pub fn decode<S, E>(
    body: S,
    signer: Option<ChunkSigner>,
    decoded_len: Option<u64>,
) -> impl Stream<Item = Result<Bytes, String>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let state = State {
        inner: body.boxed(),
        buf: BytesMut::new(),
        phase: Phase::Header,
        signer,
        hasher: Sha256::new(),
        decoded: 0,
        expected_len: decoded_len,
        ended: false,
    };
    futures::stream::unfold(Some(state), |state| async move {
        let mut st = state?;
        match step(&mut st).await {
            Ok(Some(bytes)) => Some((Ok(bytes), Some(st))),
            Ok(None) => None,
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// Reads more of the underlying body into the buffer; false at its end.
async fn fill<E: std::fmt::Display>(st: &mut State<E>) -> Result<bool, String> {
    if st.ended {
        return Ok(false);
    }
    match st.inner.next().await {
        Some(Ok(b)) => {
            st.buf.extend_from_slice(&b);
            Ok(true)
        }
        Some(Err(e)) => Err(format!("reading the request body failed: {e}")),
        None => {
            st.ended = true;
            Ok(false)
        }
    }
}

/// Takes one CRLF-terminated line off the buffer, reading more as needed.
async fn line<E: std::fmt::Display>(st: &mut State<E>) -> Result<Option<String>, String> {
    loop {
        if let Some(pos) = st.buf.windows(2).position(|w| w == b"\r\n") {
            let l = st.buf.split_to(pos);
            st.buf.advance(2);
            return String::from_utf8(l.to_vec())
                .map(Some)
                .map_err(|_| "an aws-chunked header is not text".to_string());
        }
        if st.buf.len() > MAX_LINE {
            return Err("an aws-chunked header line is too long".into());
        }
        if !fill(st).await? {
            return Ok(None);
        }
    }
}

async fn step<E: std::fmt::Display>(st: &mut State<E>) -> Result<Option<Bytes>, String> {
    loop {
        match std::mem::replace(&mut st.phase, Phase::Done) {
            Phase::Header => {
                let l = line(st)
                    .await?
                    .ok_or_else(|| "the aws-chunked body ended before its last chunk".to_string())?;
                let (size, ext) = l.split_once(';').unwrap_or((l.as_str(), ""));
                let size = u64::from_str_radix(size.trim(), 16)
                    .map_err(|_| format!("an aws-chunked chunk size {:?} is not hexadecimal", size.trim()))?;
                let signature = ext
                    .split(';')
                    .find_map(|e| e.trim().strip_prefix("chunk-signature="))
                    .map(str::to_string);
                if st.signer.is_some() && signature.is_none() {
                    return Err("a signed aws-chunked chunk has no chunk-signature".into());
                }
                if size == 0 {
                    check_signature(st, signature)?;
                    st.phase = Phase::Trailer;
                } else {
                    st.phase = Phase::Data {
                        remaining: size,
                        signature,
                    };
                }
            }
            Phase::Data { remaining, signature } => {
                if st.buf.is_empty() && !fill(st).await? {
                    return Err("the aws-chunked body ended inside a chunk".into());
                }
                let take = (st.buf.len() as u64).min(remaining) as usize;
                let data = st.buf.split_to(take).freeze();
                if st.signer.is_some() {
                    st.hasher.update(&data);
                }
                st.decoded += data.len() as u64;
                let left = remaining - take as u64;
                st.phase = if left == 0 {
                    Phase::DataEnd { signature }
                } else {
                    Phase::Data {
                        remaining: left,
                        signature,
                    }
                };
                if !data.is_empty() {
                    return Ok(Some(data));
                }
            }
            Phase::DataEnd { signature } => {
                let l = line(st)
                    .await?
                    .ok_or_else(|| "the aws-chunked body ended after a chunk".to_string())?;
                if !l.is_empty() {
                    return Err("an aws-chunked chunk is longer than its declared size".into());
                }
                check_signature(st, signature)?;
                st.phase = Phase::Header;
            }
            Phase::Trailer => {
                // Trailing headers (checksums, a trailer signature) until an empty line or
                // the end of the body.
                match line(st).await? {
                    Some(l) if !l.is_empty() => st.phase = Phase::Trailer,
                    _ => {
                        if let Some(n) = st.expected_len {
                            if n != st.decoded {
                                return Err(format!(
                                    "the aws-chunked body decoded to {} bytes; x-amz-decoded-content-length says {n}",
                                    st.decoded
                                ));
                            }
                        }
                        st.phase = Phase::Done;
                    }
                }
            }
            Phase::Done => return Ok(None),
        }
    }
}

fn check_signature<E>(st: &mut State<E>, signature: Option<String>) -> Result<(), String> {
    let Some(signer) = st.signer.as_mut() else {
        return Ok(());
    };
    let data_hash = hex::encode(std::mem::take(&mut st.hasher).finalize());
    let expected = signer.expected(&data_hash);
    let given = signature.unwrap_or_default();
    if !constant_eq(expected.as_bytes(), given.as_bytes()) {
        return Err("an aws-chunked chunk signature does not match".into());
    }
    signer.previous = expected;
    Ok(())
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    async fn run(parts: Vec<&'static [u8]>, signer: Option<ChunkSigner>, len: Option<u64>) -> Result<Vec<u8>, String> {
        let body = futures::stream::iter(
            parts
                .into_iter()
                .map(|p| Ok::<_, std::io::Error>(Bytes::from_static(p))),
        );
        let out: Vec<Bytes> = decode(body, signer, len).try_collect().await?;
        Ok(out.concat())
    }

    #[tokio::test]
    async fn unsigned_with_trailer_split_anywhere() {
        let body: &'static [u8] = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";
        for cut in 1..body.len() {
            let (a, b) = body.split_at(cut);
            assert_eq!(
                run(vec![a, b], None, Some(11)).await.unwrap(),
                b"hello world",
                "cut at {cut}"
            );
        }
        assert!(run(vec![body], None, Some(12))
            .await
            .unwrap_err()
            .contains("decoded to 11"));
        assert!(run(vec![b"5\r\nhel"], None, None)
            .await
            .unwrap_err()
            .contains("ended inside"));
        assert!(run(vec![b"zz\r\n"], None, None)
            .await
            .unwrap_err()
            .contains("not hexadecimal"));
        assert!(run(vec![b"2\r\nhello\r\n0\r\n\r\n"], None, None)
            .await
            .unwrap_err()
            .contains("longer"));
    }

    /// The signed-chunk example of the AWS documentation (a 66,560-byte object of 'a' in
    /// 64 KiB chunks): the published chunk signatures must verify.
    #[tokio::test]
    async fn aws_documentation_signed_chunks() {
        let scope = "20130524/us-east-1/s3/aws4_request".to_string();
        let key = {
            let k = hmac(b"AWS4wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", b"20130524");
            let k = hmac(&k, b"us-east-1");
            let k = hmac(&k, b"s3");
            hmac(&k, b"aws4_request")
        };
        let signer = || ChunkSigner {
            key,
            amz_date: "20130524T000000Z".into(),
            scope: scope.clone(),
            previous: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
        };
        let a64 = vec![b'a'; 65536];
        let a1 = vec![b'a'; 1024];
        let mut body = Vec::new();
        body.extend_from_slice(
            b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n",
        );
        body.extend_from_slice(&a64);
        body.extend_from_slice(
            b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n",
        );
        body.extend_from_slice(&a1);
        body.extend_from_slice(
            b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n",
        );
        let leaked: &'static [u8] = Box::leak(body.into_boxed_slice());
        let out = run(vec![leaked], Some(signer()), Some(66560)).await.unwrap();
        assert_eq!(out.len(), 66560);
        let mut tampered = leaked.to_vec();
        tampered[200] = b'b';
        let tampered: &'static [u8] = Box::leak(tampered.into_boxed_slice());
        assert!(run(vec![tampered], Some(signer()), None)
            .await
            .unwrap_err()
            .contains("signature"));
    }
}
