//! A hostile-input corpus, generated here: crafted parquet footers, decompression bombs in
//! parquet and arrow IPC, huge lines and fields, deep nesting. Every case must end in an
//! error (or a bounded result) without the process allocating what the file claims.
//! One test, in its own process, so the peak memory it asserts is this corpus's alone.

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use granary_core::DataFormat;
use granary_infer::{
    decompressed_len, infer_parquet_metadata, infer_reader, preview_parquet, preview_reader, Budget, InferError,
    Unbounded,
};
use std::io::Read;
use std::sync::Arc;

/// Thrift compact protocol, just enough to write parquet footers by hand.
#[derive(Default)]
struct Thrift {
    out: Vec<u8>,
    last: Vec<i16>,
}

impl Thrift {
    fn varint(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.out.push(b);
                return;
            }
            self.out.push(b | 0x80);
        }
    }
    fn header(&mut self, id: i16, ty: u8) {
        let last = self.last.last_mut().unwrap();
        let delta = id - *last;
        assert!((1..=15).contains(&delta));
        self.out.push(((delta as u8) << 4) | ty);
        *last = id;
    }
    fn begin(&mut self) -> &mut Self {
        self.last.push(0);
        self
    }
    fn end(&mut self) -> &mut Self {
        self.out.push(0);
        self.last.pop();
        self
    }
    fn i32(&mut self, id: i16, v: i32) -> &mut Self {
        self.header(id, 5);
        self.varint(((v << 1) ^ (v >> 31)) as u32 as u64);
        self
    }
    fn i64(&mut self, id: i16, v: i64) -> &mut Self {
        self.header(id, 6);
        self.varint(((v << 1) ^ (v >> 63)) as u64);
        self
    }
    fn string(&mut self, id: i16, s: &str) -> &mut Self {
        self.header(id, 8);
        self.varint(s.len() as u64);
        self.out.extend_from_slice(s.as_bytes());
        self
    }
    /// A list field of `n` structs (the caller writes them).
    fn struct_list(&mut self, id: i16, n: u64) -> &mut Self {
        self.header(id, 9);
        if n < 15 {
            self.out.push(((n as u8) << 4) | 12);
        } else {
            self.out.push(0xfc);
            self.varint(n);
        }
        self
    }
}

fn parquet_file(footer: &[u8]) -> Vec<u8> {
    let mut f = b"PAR1".to_vec();
    f.extend_from_slice(footer);
    f.extend_from_slice(&(footer.len() as u32).to_le_bytes());
    f.extend_from_slice(b"PAR1");
    f
}

fn footer_of(file: &[u8]) -> &[u8] {
    let n = u32::from_le_bytes(file[file.len() - 8..file.len() - 4].try_into().unwrap()) as usize;
    &file[file.len() - 8 - n..file.len() - 8]
}

/// A footer with a schema of `groups` nested groups around one int32 leaf, where the root
/// claims `root_children` children.
fn schema_footer(root_children: i32, groups: usize) -> Vec<u8> {
    let mut t = Thrift::default();
    t.begin().i32(1, 1).struct_list(2, groups as u64 + 2);
    t.begin().string(4, "schema").i32(5, root_children).end();
    for _ in 0..groups {
        t.begin().i32(3, 0).string(4, "g").i32(5, 1).end();
    }
    t.begin().i32(1, 1).i32(3, 0).string(4, "a").end();
    t.i64(3, 0).struct_list(4, 0).end();
    t.out
}

fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb >> 10)
}

/// A stream of `head`, then `n` bytes of `fill`, then `tail`, never held in memory.
fn streamed(head: &'static [u8], fill: u8, n: u64, tail: &'static [u8]) -> impl Read {
    head.chain(std::io::repeat(fill).take(n)).chain(tail)
}

fn limited(r: Result<impl std::fmt::Debug, InferError>) -> String {
    match r {
        Err(InferError::Limit(m)) => m,
        other => panic!("expected a limit error, got {other:?}"),
    }
}

fn one_big_value_parquet(bytes: usize, compression: parquet::basic::Compression) -> Vec<u8> {
    let zeros = "\0".repeat(bytes);
    let text: ArrayRef = Arc::new(StringArray::from(vec![zeros.as_str(), "small"]));
    let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
    let batch = RecordBatch::try_from_iter([("id", ids), ("text", text)]).unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(compression)
        .set_dictionary_enabled(false)
        .build();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

#[test]
fn hostile_corpus_ends_in_errors_with_bounded_memory() {
    // 1. A footer whose schema list claims 2^31-1 elements in a few bytes.
    let mut t = Thrift::default();
    t.begin().i32(1, 1).struct_list(2, (1 << 31) - 1);
    t.out.extend_from_slice(&[0x18, 0x01, b'x', 0x00]);
    let file = parquet_file(&t.out);
    assert!(file.len() < 600);
    let err = infer_parquet_metadata(footer_of(&file)).unwrap_err().to_string();
    assert!(err.contains("claims 2147483647 elements"), "{err}");
    let err = preview_parquet(bytes::Bytes::from(file.clone()), 10, Arc::new(Budget::default()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("claims 2147483647 elements"), "{err}");

    // 2. A root that claims 2^31-1 children where one element follows.
    let err = infer_parquet_metadata(&schema_footer(i32::MAX, 0))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("claims 2147483647 children but only 1 elements follow"),
        "{err}"
    );
    let err = infer_parquet_metadata(&schema_footer(-5, 0)).unwrap_err().to_string();
    assert!(err.contains("-5 children"), "{err}");
    // The same footer, honest, decodes: the crafted writer is right.
    let ok = infer_parquet_metadata(&schema_footer(1, 0)).unwrap();
    assert_eq!(ok.columns, vec![("a".to_string(), "int32".to_string())]);
    assert_eq!(ok.rows, 0);

    // 3. A schema nested 10,000 groups deep (a stack overflow in a recursive reader).
    let m = limited(infer_parquet_metadata(&schema_footer(1, 10_000)));
    assert!(m.contains("deeper than 64"), "{m}");
    // 60 levels are fine.
    infer_parquet_metadata(&schema_footer(1, 60)).unwrap();

    // 4. Garbage, truncated and lying tails.
    for bad in [
        &b"PAR1\xff\xff\xff\xff\x00PAR1"[..],
        b"PAR1PAR1PAR1",
        b"\x00\x00\x00\x00\xff\xff\xff\x7fPAR1",
    ] {
        let r = preview_parquet(bytes::Bytes::from(bad.to_vec()), 10, Arc::new(Budget::default()));
        assert!(matches!(r, Err(InferError::Parquet(_))), "{r:?}");
    }

    // 5. A decompression bomb: one 24 MiB value of zeros, a few KiB on disk.
    for codec in [
        parquet::basic::Compression::ZSTD(Default::default()),
        parquet::basic::Compression::GZIP(Default::default()),
        parquet::basic::Compression::SNAPPY,
        parquet::basic::Compression::LZ4_RAW,
    ] {
        let bomb = one_big_value_parquet(24 << 20, codec);
        assert!(bomb.len() < 4 << 20, "{codec:?}: {} bytes", bomb.len());
        let budget = Arc::new(Budget::new(8 << 20, None));
        let m = limited(preview_parquet(bytes::Bytes::from(bomb.clone()), 10, budget));
        assert!(m.contains("more than 8 MiB"), "{codec:?}: {m}");
        // With room for it, the same file previews, cut to the cell limit.
        let p = preview_parquet(bytes::Bytes::from(bomb), 10, Arc::new(Budget::new(256 << 20, None))).unwrap();
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.rows[1]["text"], "small");
    }

    // 6. A zstd stream that expands past what it claims is stopped at the claim.
    let zeros = zstd::encode_all(std::io::repeat(0).take(32 << 20), 3).unwrap();
    assert_eq!(
        decompressed_len(Unbounded::Zstd, &zeros, 32 << 20).unwrap(),
        Some(32 << 20)
    );
    let m = limited(decompressed_len(Unbounded::Zstd, &zeros, 1 << 20));
    assert!(m.contains("1048576 bytes"), "{m}");

    // 7. An arrow IPC bomb: one 24 MiB value, zstd-compressed record batch.
    let zeros = "\0".repeat(24 << 20);
    let text: ArrayRef = Arc::new(StringArray::from(vec![zeros.as_str()]));
    let batch = RecordBatch::try_from_iter([("text", text)]).unwrap();
    drop(zeros);
    let mut ipc = Vec::new();
    let opts = arrow_ipc::writer::IpcWriteOptions::default()
        .try_with_compression(Some(arrow_ipc::CompressionType::ZSTD))
        .unwrap();
    let mut w = arrow_ipc::writer::StreamWriter::try_new_with_options(&mut ipc, &batch.schema(), opts).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    drop(w);
    drop(batch);
    assert!(ipc.len() < 1 << 20);
    let m = limited(preview_reader(
        DataFormat::Arrow,
        &ipc[..],
        10,
        &Budget::new(8 << 20, None),
    ));
    assert!(m.contains("more than 8 MiB"), "{m}");
    // Its row count still comes from the headers alone.
    assert_eq!(infer_reader(DataFormat::Arrow, &ipc[..]).unwrap().rows, 1);

    // 8. A jsonl file whose second line is 100 MB: the preview stops at its budget.
    let jsonl = streamed(b"{\"a\": 1}\n{\"a\": \"", b'x', 100 << 20, b"\"}\n");
    let m = limited(preview_reader(
        DataFormat::Jsonl,
        jsonl,
        10,
        &Budget::new(8 << 20, None),
    ));
    assert!(m.contains("more than 8 MiB"), "{m}");
    // ... and a csv with one 100 MB field.
    let csv = streamed(b"a,b\n1,\"", b'x', 100 << 20, b"\"\n2,y\n");
    limited(preview_reader(DataFormat::Csv, csv, 10, &Budget::new(8 << 20, None)));

    // 9. Inference (a publish reads every byte) types and counts through huge csv fields in
    // constant memory; a JSON-lines line is typed whole, so one past 64 MiB is refused,
    // naming the line and the limit, before it is held.
    let csv = streamed(b"a,b\n1,\"", b'x', 100 << 20, b"\"\n2,y\n");
    assert_eq!(infer_reader(DataFormat::Csv, csv).unwrap().rows, 2);
    let jsonl = streamed(b"{\"a\": 1}\n{\"a\": \"", b'x', 100 << 20, b"\"}\n");
    let err = infer_reader(DataFormat::Jsonl, jsonl).unwrap_err().to_string();
    assert!(err.contains("line 2 is longer than 64 MiB"), "{err}");
    let jsonl = streamed(b"{\"a\": \"1\"}\n{\"a\": \"", b'x', 60 << 20, b"\"}\n");
    assert_eq!(infer_reader(DataFormat::Jsonl, jsonl).unwrap().rows, 2);
    // A json array whose first element is 70 MB is refused past 64 MiB, not held whole.
    let json = streamed(b"[{\"a\": \"", b'x', 70 << 20, b"\"}]");
    let err = infer_reader(DataFormat::Json, json).unwrap_err().to_string();
    assert!(err.contains("longer than 64 MiB"), "{err}");

    // 10. Deep nesting in json text.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(infer_reader(DataFormat::Json, deep.as_bytes()).is_err());
    let deep = format!("{{\"a\": {}1{}}}\n", "[".repeat(100_000), "]".repeat(100_000));
    assert!(infer_reader(DataFormat::Jsonl, deep.as_bytes()).is_err());
    assert!(preview_reader(DataFormat::Jsonl, deep.as_bytes(), 10, &Budget::default()).is_err());

    // 11. A cancelled budget stops a preview at its next read.
    let budget = Budget::default();
    budget.cancel();
    let r = preview_reader(DataFormat::Jsonl, &b"{\"a\": 1}\n"[..], 10, &budget);
    assert!(matches!(r, Err(InferError::Cancelled)), "{r:?}");

    // Test data is built in memory (one 24 MiB string at a time); what the files claim
    // (gigabytes, 2^31 elements) is never allocated.
    let peak = peak_rss_mib();
    assert!(peak < 400, "peak RSS {peak} MiB");
}
