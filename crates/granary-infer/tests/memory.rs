//! Memory bounds on a 1 GiB-class file: a csv of `GRANARY_MEMORY_MIB` MiB (1,024 unless
//! set) is rendered as parquet, its statistics computed, rows read at its last offset,
//! and searched and filtered, while a counting allocator records the most heap in use at
//! once. Each must stay under a bound that does not grow with the file (the chunks, batches
//! and pages in flight), where holding the file or its table would take gigabytes. The
//! counts are exact (rows generated here), so the work is checked, not only its memory.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufWriter, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use granary_core::DataFormat;
use granary_infer::query::{parse_where, query_parquet, Query};
use granary_infer::{rendition, rows_parquet, stats, Budget};

/// Counts the heap in use, and the most in use since the last [`reset_peak`].
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let live = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Starts a new peak from what is in use now; returns that baseline.
fn reset_peak() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

/// The most heap in use since `base` was taken, above it, in MiB.
fn peak_mib(base: usize) -> usize {
    PEAK.load(Ordering::Relaxed).saturating_sub(base) >> 20
}

/// A csv of `rows` rows `id,label,value,ok` made as it is read: `id` counts from 0,
/// `label` is `item-{id}` quoted, `value` is `id / 8` as a decimal, `ok` is `id % 2 == 0`.
struct Rows {
    next: u64,
    rows: u64,
    line: Vec<u8>,
    at: usize,
}

impl Read for Rows {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            if self.at == self.line.len() {
                if self.next == self.rows {
                    break;
                }
                let i = self.next;
                self.line.clear();
                writeln!(self.line, "{i},\"item-{i}\",{},{}", i as f64 / 8.0, i.is_multiple_of(2))?;
                self.at = 0;
                self.next += 1;
            }
            let take = (self.line.len() - self.at).min(buf.len() - n);
            buf[n..n + take].copy_from_slice(&self.line[self.at..self.at + take]);
            self.at += take;
            n += take;
        }
        Ok(n)
    }
}

/// A file read by position (`pread`): a `File`'s own reader shares one offset among its
/// clones, which threads reading row groups side by side would move under each other.
struct At(Arc<std::fs::File>);

impl parquet::file::reader::Length for At {
    fn len(&self) -> u64 {
        self.0.metadata().map_or(0, |m| m.len())
    }
}

/// Reads from an offset on.
struct AtReader {
    file: Arc<std::fs::File>,
    at: u64,
}

impl Read for AtReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = std::os::unix::fs::FileExt::read_at(&*self.file, buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

impl parquet::file::reader::ChunkReader for At {
    type T = std::io::BufReader<AtReader>;
    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(std::io::BufReader::new(AtReader {
            file: self.0.clone(),
            at: start,
        }))
    }
    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        let mut buf = vec![0u8; length];
        std::os::unix::fs::FileExt::read_exact_at(&*self.0, &mut buf, start)?;
        Ok(buf.into())
    }
}

fn at(path: &std::path::Path) -> At {
    At(Arc::new(std::fs::File::open(path).unwrap()))
}

#[test]
fn a_gigabyte_class_csv_is_rendered_summarised_and_read_in_bounded_memory() {
    let mib: u64 = std::env::var("GRANARY_MEMORY_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    // Rows of about 40 bytes each.
    let rows = mib * (1 << 20) / 40;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("big.csv");
    {
        let mut f = BufWriter::with_capacity(1 << 20, std::fs::File::create(&csv).unwrap());
        f.write_all(b"id,label,value,ok\n").unwrap();
        std::io::copy(
            &mut Rows {
                next: 0,
                rows,
                line: Vec::new(),
                at: 0,
            },
            &mut f,
        )
        .unwrap();
        f.flush().unwrap();
    }
    let size = std::fs::metadata(&csv).unwrap().len();
    assert!(size >= mib * (1 << 20) * 9 / 10, "{size} bytes");

    // Inference, then the rendition.
    let base = reset_peak();
    let inferred = granary_infer::infer_file(&csv, DataFormat::Csv).unwrap();
    assert_eq!(inferred.rows, rows);
    let columns = inferred.columns;
    assert_eq!(
        columns,
        [
            ("id", "int64"),
            ("label", "string"),
            ("value", "double"),
            ("ok", "bool")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let parquet = dir.path().join("big.parquet");
    let out = BufWriter::new(std::fs::File::create(&parquet).unwrap());
    assert_eq!(
        rendition::to_parquet(DataFormat::Csv, &csv, &columns, out).unwrap(),
        rows
    );
    let rendition_mib = peak_mib(base);
    std::fs::remove_file(&csv).unwrap();
    eprintln!("{size} bytes of csv, {rows} rows: inference and rendition peaked at {rendition_mib} MiB of heap");
    // Four chunks of 16 MiB in flight, each with its arrays and encoded row group.
    assert!(rendition_mib < 256, "the rendition held {rendition_mib} MiB");

    // Statistics: exact counts and range, in bounded memory.
    let base = reset_peak();
    let s = stats::column_statistics(std::slice::from_ref(&parquet), &[], &|| false).unwrap();
    let stats_mib = peak_mib(base);
    eprintln!("statistics peaked at {stats_mib} MiB");
    assert!(stats_mib < 64, "the statistics held {stats_mib} MiB");
    assert_eq!(s["num_rows"], rows);
    let id = &s["columns"][0]["column_statistics"];
    assert_eq!((id["min"].as_u64(), id["max"].as_u64()), (Some(0), Some(rows - 1)));
    assert_eq!(
        id["histogram"]["hist"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>(),
        rows
    );
    let ok = &s["columns"][3]["column_statistics"]["frequencies"];
    assert_eq!(
        (ok["true"].as_u64(), ok["false"].as_u64()),
        (Some(rows.div_ceil(2)), Some(rows / 2))
    );

    // Rows at the last offset: a few pages.
    let base = reset_peak();
    let budget = Arc::new(Budget::new(64 << 20, None));
    let p = rows_parquet(at(&parquet), rows - 100, 100, budget).unwrap();
    let rows_mib = peak_mib(base);
    eprintln!("rows at the last offset peaked at {rows_mib} MiB");
    assert!(rows_mib < 16, "rows at an offset held {rows_mib} MiB");
    assert_eq!(p.rows.len(), 100);
    assert_eq!(p.rows[99]["id"], rows - 1);
    assert_eq!(p.rows[0]["label"], format!("item-{}", rows - 100));

    // Search and filter count every match over the whole file.
    let base = reset_peak();
    let q = Query {
        search: Some(format!("item-{}", rows - 1)),
        ..Query::default()
    };
    let found = query_parquet(vec![at(&parquet)], &q, 0, 10, Arc::new(Budget::new(u64::MAX / 2, None))).unwrap();
    assert_eq!((found.total, found.partial), (1, false));
    assert_eq!(found.rows[0].0, rows - 1);
    let q = Query {
        filter: Some(parse_where("id >= 1000 AND ok = false").unwrap()),
        ..Query::default()
    };
    let found = query_parquet(vec![at(&parquet)], &q, 0, 10, Arc::new(Budget::new(u64::MAX / 2, None))).unwrap();
    assert_eq!(found.total, (rows - 1000) / 2);
    let query_mib = peak_mib(base);
    eprintln!("search and filter peaked at {query_mib} MiB");
    assert!(query_mib < 64, "search and filter held {query_mib} MiB");
}
