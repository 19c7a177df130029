//! csv → parquet on every core: the file is cut into chunks of whole records, each chunk
//! is parsed, typed and encoded as one row group by a worker, and the row groups are
//! appended in file order.
//!
//! Cutting needs no full parse: outside quotes a record ends at `\n` or `\r`, and a quote
//! opens a quoted value only at the start of a field (csv-core's default dialect, the one
//! that typed the columns), so one scan that jumps between quotes and line ends
//! (memchr) finds exact record boundaries. Memory holds [`IN_FLIGHT`] chunks of at most
//! [`CHUNK_BYTES`] (plus one record) with their arrays and encoded row groups, whatever
//! the file's size.
//!
//! The first chunk is parsed before the others: a column whose values there are mostly
//! distinct (or whose distinct values would overflow a dictionary page) is written plain.
//! The parquet writer would try a dictionary for it in every row group and give up each
//! time, at a cost in time and no gain in size.

use arrow_array::builder::{BinaryBuilder, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, NullArray, RecordBatch};
use arrow_schema::{DataType, SchemaRef, TimeUnit};
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk, ArrowRowGroupWriterFactory};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use super::{perr, published_schema, writer_with, ROW_GROUP_ROWS};
use crate::csv_types::{parse_temporal, trim, Temporal, NULL_TOKENS};
use crate::InferError;

/// Most csv bytes in one chunk (a chunk ends at the first record end past this, or after
/// [`ROW_GROUP_ROWS`] lines).
pub(crate) const CHUNK_BYTES: usize = 16 << 20;
/// Chunks read but not yet appended: the workers' and the next ones.
const IN_FLIGHT: usize = 4;
/// Threads parsing, typing and encoding chunks.
const WORKERS: usize = 2;

/// Records of the file between two record boundaries, and its row group's index.
struct Chunk {
    index: usize,
    bytes: Vec<u8>,
}

/// Writes the csv in `reader` (header first; published `columns` in the header's order) to
/// `out` as parquet, a row group per chunk. Returns the data records written.
pub(super) fn to_parquet<R: Read + Send, W: Write + Send>(
    reader: R,
    columns: &[(String, String)],
    out: W,
) -> Result<u64, InferError> {
    to_parquet_in(reader, columns, out, ROW_GROUP_ROWS, CHUNK_BYTES)
}

/// [`to_parquet`] in chunks of at most `max_lines` lines, or `max_bytes` bytes plus a
/// record.
fn to_parquet_in<R: Read + Send, W: Write + Send>(
    mut reader: R,
    columns: &[(String, String)],
    out: W,
    max_lines: usize,
    max_bytes: usize,
) -> Result<u64, InferError> {
    let schema = published_schema(columns)?;
    let kinds: Vec<Kind> = schema.fields().iter().map(|f| Kind::of(f.data_type())).collect();
    let (mut pending, header_end) = read_header(&mut reader)?;
    pending.drain(..header_end);
    // The first chunk, here: its values choose the columns written plain.
    let mut cutter = Cutter {
        reader,
        buf: pending,
        eof: false,
        max_lines,
        max_bytes,
    };
    let mut scratch = Scratch::default();
    let first = match cutter.next()? {
        Some(bytes) => Some(parse_chunk(&bytes, &schema, columns, &kinds, &mut scratch)?),
        None => None,
    };
    let plain: Vec<&str> = match &first {
        Some(batch) => schema
            .fields()
            .iter()
            .zip(batch.columns())
            .filter(|(_, a)| !worth_a_dictionary(a))
            .map(|(f, _)| f.name().as_str())
            .collect(),
        None => Vec::new(),
    };
    let (mut file, factory) = writer_with(out, schema.clone(), &plain)?
        .into_serialized_writer()
        .map_err(perr)?;
    let Some(first) = first else {
        file.close().map_err(perr)?;
        return Ok(0);
    };
    let mut total = first.num_rows() as u64;
    // A chunk of blank lines holds no rows: no row group.
    if total > 0 {
        append(&mut file, encode(&first, &factory, 0)?)?;
    }
    drop(first);
    std::thread::scope(|s| {
        let (work_tx, work_rx) = sync_channel::<Chunk>(1);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let (done_tx, done_rx) = sync_channel::<Done>(IN_FLIGHT);
        let (token_tx, token_rx) = sync_channel::<()>(IN_FLIGHT);
        for _ in 0..IN_FLIGHT {
            let _ = token_tx.send(());
        }
        let splitter = s.spawn(move || split(cutter, &work_tx, &token_rx));
        for _ in 0..WORKERS {
            let work_rx = Arc::clone(&work_rx);
            let done_tx = done_tx.clone();
            let (schema, kinds, factory) = (&schema, &kinds, &factory);
            s.spawn(move || worker(&work_rx, &done_tx, schema, columns, kinds, factory));
        }
        drop(done_tx);
        // Appends row groups in file order as they come back.
        let mut ready: BTreeMap<usize, (u64, Vec<ArrowColumnChunk>)> = BTreeMap::new();
        let mut next = 1usize;
        for done in done_rx.iter() {
            let (index, rows, chunks) = done?;
            ready.insert(index, (rows, chunks));
            while let Some((rows, chunks)) = ready.remove(&next) {
                if rows > 0 {
                    append(&mut file, chunks)?;
                }
                total += rows;
                next += 1;
                let _ = token_tx.send(());
            }
        }
        drop(token_tx);
        let chunks = splitter.join().unwrap_or_else(|p| std::panic::resume_unwind(p))?;
        if chunks != next {
            return Err(InferError::Csv("a chunk of the file was not written".into()));
        }
        file.close().map_err(perr)?;
        Ok(total)
    })
}

/// Appends one row group's encoded columns to the file.
fn append<W: Write + Send>(
    file: &mut parquet::file::writer::SerializedFileWriter<W>,
    chunks: Vec<ArrowColumnChunk>,
) -> Result<(), InferError> {
    let mut group = file.next_row_group().map_err(perr)?;
    for c in chunks {
        c.append_to_row_group(&mut group).map_err(perr)?;
    }
    group.close().map_err(perr)?;
    Ok(())
}

/// The most bytes of distinct values a column may have in the first chunk to be
/// dictionary-encoded: the parquet writer's dictionary page limit (1 MiB by default).
const DICTIONARY_BYTES: usize = 1 << 20;

/// Whether a dictionary pays for `a`: at most half its values distinct, and the
/// distinct ones within [`DICTIONARY_BYTES`]. Booleans and nulls are never
/// dictionary-encoded, so the answer does not matter for them.
fn worth_a_dictionary(a: &ArrayRef) -> bool {
    use arrow_array::cast::AsArray;
    use arrow_array::Array;
    let most = (a.len() - a.null_count()) / 2;
    // Each distinct value costs its bytes and a length in a dictionary page.
    let fits = |values: &mut dyn Iterator<Item = &[u8]>, extra: usize| {
        let mut seen: std::collections::HashSet<&[u8], foldhash::fast::RandomState> = Default::default();
        let mut bytes = 0usize;
        for v in values {
            if seen.insert(v) {
                bytes += v.len() + extra;
                if seen.len() > most || bytes > DICTIONARY_BYTES {
                    return false;
                }
            }
        }
        true
    };
    match a.data_type() {
        DataType::Utf8 => fits(&mut a.as_string::<i32>().iter().flatten().map(str::as_bytes), 4),
        DataType::Binary => fits(&mut a.as_binary::<i32>().iter().flatten(), 4),
        _ => {
            // Fixed-width values: their bytes, whatever the type.
            let data = a.to_data();
            let width = match data.data_type().primitive_width() {
                Some(w) if !data.buffers().is_empty() => w,
                _ => return true,
            };
            let buffer = &data.buffers()[0].as_slice()[data.offset() * width..];
            fits(
                &mut (0..a.len())
                    .filter(|&i| a.is_valid(i))
                    .map(|i| &buffer[i * width..(i + 1) * width]),
                0,
            )
        }
    }
}

/// Cuts the bytes after the header into chunks of whole records.
struct Cutter<R> {
    reader: R,
    /// Read and not yet handed out; begins at a record boundary.
    buf: Vec<u8>,
    eof: bool,
    max_lines: usize,
    max_bytes: usize,
}

impl<R: Read> Cutter<R> {
    /// The next chunk: at most `max_lines` lines, or the first record end at or past
    /// `max_bytes`; `None` at the end of the file.
    fn next(&mut self) -> Result<Option<Vec<u8>>, InferError> {
        let mut scan = Scan::new();
        loop {
            let cut = match scan.advance(&self.buf, self.max_lines, self.max_bytes) {
                Some(cut) => cut,
                None if !self.eof => {
                    self.eof = fill(&mut self.reader, &mut self.buf, 1 << 20)? == 0;
                    continue;
                }
                None => self.buf.len(),
            };
            if cut == 0 {
                return Ok(None);
            }
            let mut rest = Vec::with_capacity(self.max_bytes.min(CHUNK_BYTES) + (1 << 20));
            rest.extend_from_slice(&self.buf[cut..]);
            self.buf.truncate(cut);
            return Ok(Some(std::mem::replace(&mut self.buf, rest)));
        }
    }
}

/// Reads until the header record is whole: the bytes read, and where the data begins
/// (after a UTF-8 byte order mark, blank lines and the header).
fn read_header<R: Read>(reader: &mut R) -> Result<(Vec<u8>, usize), InferError> {
    let mut buf = Vec::with_capacity(1 << 16);
    let mut rdr = csv_core::Reader::new();
    let mut out = vec![0u8; 1 << 16];
    let mut ends = vec![0usize; 1024];
    let mut pos = 0usize;
    let mut eof = false;
    loop {
        if pos == buf.len() && !eof {
            eof = fill(reader, &mut buf, 1 << 16)? == 0;
            if pos == 0 && buf.starts_with(b"\xEF\xBB\xBF") {
                pos = 3;
            }
        }
        let (res, nin, _, _) = rdr.read_record(&buf[pos..], &mut out, &mut ends);
        pos += nin;
        match res {
            csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End => return Ok((buf, pos)),
            csv_core::ReadRecordResult::InputEmpty => {}
            // Only the header's end matters here: its fields are the published columns.
            csv_core::ReadRecordResult::OutputFull | csv_core::ReadRecordResult::OutputEndsFull => {}
        }
        if pos == buf.len() && eof {
            // The last record lacks its line end; csv-core reports it with the next call.
            let (res, nin, _, _) = rdr.read_record(&[], &mut out, &mut ends);
            pos += nin;
            let _ = res;
            return Ok((buf, pos));
        }
    }
}

/// Appends up to `want` bytes from `reader` to `buf`; the bytes read (0 at the end).
fn fill<R: Read>(reader: &mut R, buf: &mut Vec<u8>, want: usize) -> Result<usize, InferError> {
    let start = buf.len();
    buf.resize(start + want, 0);
    let mut got = 0;
    while got < want {
        match reader.read(&mut buf[start + got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                buf.truncate(start + got);
                return Err(e.into());
            }
        }
    }
    buf.truncate(start + got);
    Ok(got)
}

/// Where the scan is between calls: outside or inside a quoted value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quoting {
    Outside,
    Inside,
}

/// Finds record ends in a buffer that begins at a record boundary; `from`, `quoting` and
/// `lines` carry the scan between calls as the buffer grows.
struct Scan {
    from: usize,
    quoting: Quoting,
    lines: usize,
}

impl Scan {
    fn new() -> Self {
        Scan {
            from: 0,
            quoting: Quoting::Outside,
            lines: 0,
        }
    }

    /// Scans on; `Some(cut)` once `max_lines` records have ended or a record ends at or past
    /// `max_bytes`.
    fn advance(&mut self, buf: &[u8], max_lines: usize, max_bytes: usize) -> Option<usize> {
        let mut i = self.from;
        loop {
            match self.quoting {
                Quoting::Outside => {
                    let Some(j) = memchr::memchr3(b'"', b'\n', b'\r', &buf[i..]).map(|j| i + j) else {
                        self.from = buf.len();
                        return None;
                    };
                    if buf[j] == b'"' {
                        // A quote opens a quoted value only at the start of a field.
                        if j == 0 || matches!(buf[j - 1], b',' | b'\n' | b'\r') {
                            self.quoting = Quoting::Inside;
                        }
                        i = j + 1;
                        continue;
                    }
                    // `\r\n` ends one record.
                    i = if buf[j] == b'\r' && buf.get(j + 1) == Some(&b'\n') {
                        j + 2
                    } else {
                        j + 1
                    };
                    self.lines += 1;
                    if self.lines >= max_lines || i >= max_bytes {
                        self.from = i;
                        return Some(i);
                    }
                }
                Quoting::Inside => {
                    let Some(j) = memchr::memchr(b'"', &buf[i..]).map(|j| i + j) else {
                        self.from = buf.len();
                        return None;
                    };
                    match buf.get(j + 1) {
                        // `""` is a quote inside the value.
                        Some(b'"') => i = j + 2,
                        Some(_) => {
                            self.quoting = Quoting::Outside;
                            i = j + 1;
                        }
                        // Undecided until the next byte is read.
                        None => {
                            self.from = j;
                            return None;
                        }
                    }
                }
            }
        }
    }
}

/// Hands the chunks after the first to the workers, a token per chunk; returns the number
/// of chunks, the first included.
fn split<R: Read>(
    mut cutter: Cutter<R>,
    work: &std::sync::mpsc::SyncSender<Chunk>,
    tokens: &Receiver<()>,
) -> Result<usize, InferError> {
    let mut index = 1usize;
    while let Some(bytes) = cutter.next()? {
        if tokens.recv().is_err() || work.send(Chunk { index, bytes }).is_err() {
            // The writer stopped (it reports why).
            return Ok(index);
        }
        index += 1;
    }
    Ok(index)
}

type Done = Result<(usize, u64, Vec<ArrowColumnChunk>), InferError>;

fn worker(
    work: &Mutex<Receiver<Chunk>>,
    done: &std::sync::mpsc::SyncSender<Done>,
    schema: &SchemaRef,
    columns: &[(String, String)],
    kinds: &[Kind],
    factory: &ArrowRowGroupWriterFactory,
) {
    let mut scratch = Scratch::default();
    loop {
        let chunk = match work.lock().map(|rx| rx.recv()) {
            Ok(Ok(chunk)) => chunk,
            _ => return,
        };
        let index = chunk.index;
        let result = crate::guarded(InferError::Csv, || {
            let batch = parse_chunk(&chunk.bytes, schema, columns, kinds, &mut scratch)?;
            drop(chunk);
            let rows = batch.num_rows() as u64;
            Ok((index, rows, encode(&batch, factory, index)?))
        });
        let failed = result.is_err();
        if done.send(result).is_err() || failed {
            return;
        }
    }
}

/// Encodes a batch as one row group's column chunks.
fn encode(
    batch: &RecordBatch,
    factory: &ArrowRowGroupWriterFactory,
    index: usize,
) -> Result<Vec<ArrowColumnChunk>, InferError> {
    let mut writers = factory.create_column_writers(index).map_err(perr)?;
    let mut leaves = writers.iter_mut();
    for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
        for leaf in compute_leaves(field, array).map_err(perr)? {
            let w = leaves
                .next()
                .ok_or_else(|| InferError::Parquet("the schema has fewer leaves than the data".into()))?;
            w.write(&leaf).map_err(perr)?;
        }
    }
    writers.into_iter().map(|w| w.close().map_err(perr)).collect()
}

/// How a column's cells are read.
#[derive(Clone, Copy)]
enum Kind {
    Null,
    Int64,
    Double,
    Bool,
    String,
    Binary,
    /// `date32[day]`: days.
    Date,
    /// `time32`: seconds or milliseconds since midnight (this many per second).
    Time(i64),
    /// `timestamp`: UTC instants in this unit.
    Stamp(TimeUnit),
    /// Any other type: the trimmed text, cast by arrow.
    Cast,
}

impl Kind {
    fn of(dt: &DataType) -> Kind {
        match dt {
            DataType::Null => Kind::Null,
            DataType::Int64 => Kind::Int64,
            DataType::Float64 => Kind::Double,
            DataType::Boolean => Kind::Bool,
            DataType::Utf8 => Kind::String,
            DataType::Binary => Kind::Binary,
            DataType::Date32 => Kind::Date,
            DataType::Time32(TimeUnit::Second) => Kind::Time(1),
            DataType::Time32(_) => Kind::Time(1000),
            DataType::Timestamp(unit, _) => Kind::Stamp(*unit),
            _ => Kind::Cast,
        }
    }
}

/// A date or timestamp as an instant in `unit` (a date is its midnight); `None` for other
/// text or an instant out of range.
fn instant(v: &[u8], unit: TimeUnit) -> Option<i64> {
    let (secs, nanos) = match parse_temporal(v)? {
        Temporal::Date(days) => (days.checked_mul(86_400)?, 0),
        Temporal::Stamp { secs, nanos, .. } => (secs, nanos.unwrap_or(0)),
        Temporal::Time(_) => return None,
    };
    let (per_second, nanos_per) = match unit {
        TimeUnit::Second => (1, 1_000_000_000),
        TimeUnit::Millisecond => (1_000, 1_000_000),
        TimeUnit::Microsecond => (1_000_000, 1_000),
        TimeUnit::Nanosecond => (1_000_000_000, 1),
    };
    secs.checked_mul(per_second)?.checked_add(nanos / nanos_per)
}

/// One column's values being built.
enum Column {
    Null(usize),
    Int64(Int64Builder),
    Double(Float64Builder),
    Bool(BooleanBuilder),
    String(StringBuilder),
    Binary(BinaryBuilder),
    /// Days.
    Date(Int32Builder),
    /// Since midnight, in this many per second.
    Time(Int32Builder, i64),
    Stamp(Int64Builder, TimeUnit),
    Cast(StringBuilder),
}

impl Column {
    fn new(kind: Kind, rows: usize, bytes: usize) -> Column {
        match kind {
            Kind::Null => Column::Null(0),
            Kind::Int64 => Column::Int64(Int64Builder::with_capacity(rows)),
            Kind::Double => Column::Double(Float64Builder::with_capacity(rows)),
            Kind::Bool => Column::Bool(BooleanBuilder::with_capacity(rows)),
            Kind::String => Column::String(StringBuilder::with_capacity(rows, bytes)),
            Kind::Binary => Column::Binary(BinaryBuilder::with_capacity(rows, bytes)),
            Kind::Date => Column::Date(Int32Builder::with_capacity(rows)),
            Kind::Time(per_second) => Column::Time(Int32Builder::with_capacity(rows), per_second),
            Kind::Stamp(unit) => Column::Stamp(Int64Builder::with_capacity(rows), unit),
            Kind::Cast => Column::Cast(StringBuilder::with_capacity(rows, bytes)),
        }
    }

    /// Adds a missing cell (a record shorter than the header).
    fn missing(&mut self) {
        match self {
            Column::Null(n) => *n += 1,
            Column::Int64(b) | Column::Stamp(b, _) => b.append_null(),
            Column::Date(b) | Column::Time(b, _) => b.append_null(),
            Column::Double(b) => b.append_null(),
            Column::Bool(b) => b.append_null(),
            Column::String(b) | Column::Cast(b) => b.append_null(),
            Column::Binary(b) => b.append_null(),
        }
    }

    /// Adds one cell, read by the rules that typed the column (as a preview shows it:
    /// pyarrow's null tokens are null in typed columns, a string column keeps every cell as
    /// written). `Err(())` when the cell is not of the column's type.
    fn push(&mut self, v: &[u8]) -> Result<(), ()> {
        let null = || NULL_TOKENS.contains(&v);
        match self {
            Column::Null(n) => *n += 1,
            Column::String(b) => match std::str::from_utf8(v) {
                Ok(s) => b.append_value(s),
                Err(_) => b.append_value(String::from_utf8_lossy(v)),
            },
            Column::Binary(b) => b.append_value(v),
            Column::Int64(b) => {
                if null() {
                    b.append_null()
                } else {
                    b.append_value(parse_i64(trim(v)).ok_or(())?)
                }
            }
            Column::Double(b) => {
                if null() {
                    b.append_null()
                } else {
                    let t = std::str::from_utf8(trim(v)).map_err(|_| ())?;
                    b.append_value(t.parse::<f64>().map_err(|_| ())?)
                }
            }
            Column::Bool(b) => {
                if null() {
                    b.append_null()
                } else {
                    b.append_value(match trim(v) {
                        b"true" | b"True" | b"TRUE" | b"1" => true,
                        b"false" | b"False" | b"FALSE" | b"0" => false,
                        _ => return Err(()),
                    })
                }
            }
            Column::Date(b) => {
                if null() {
                    b.append_null()
                } else {
                    match parse_temporal(trim(v)) {
                        Some(Temporal::Date(days)) => b.append_value(i32::try_from(days).map_err(|_| ())?),
                        _ => return Err(()),
                    }
                }
            }
            Column::Time(b, per_second) => {
                if null() {
                    b.append_null()
                } else {
                    match parse_temporal(trim(v)) {
                        Some(Temporal::Time(secs)) => {
                            b.append_value(i32::try_from(secs * *per_second).map_err(|_| ())?)
                        }
                        _ => return Err(()),
                    }
                }
            }
            Column::Stamp(b, unit) => {
                if null() {
                    b.append_null()
                } else {
                    b.append_value(instant(trim(v), *unit).ok_or(())?)
                }
            }
            Column::Cast(b) => {
                if null() {
                    b.append_null()
                } else {
                    b.append_value(String::from_utf8_lossy(trim(v)))
                }
            }
        }
        Ok(())
    }

    fn finish(self, target: &DataType) -> Result<ArrayRef, String> {
        Ok(match self {
            Column::Null(n) => Arc::new(NullArray::new(n)),
            Column::Int64(mut b) => Arc::new(b.finish()),
            Column::Double(mut b) => Arc::new(b.finish()),
            Column::Bool(mut b) => Arc::new(b.finish()),
            Column::String(mut b) => Arc::new(b.finish()),
            Column::Binary(mut b) => Arc::new(b.finish()),
            Column::Date(mut b) | Column::Time(mut b, _) => {
                arrow_cast::cast(&b.finish(), target).map_err(|e| e.to_string())?
            }
            Column::Stamp(mut b, _) => arrow_cast::cast(&b.finish(), target).map_err(|e| e.to_string())?,
            // Unsafe: a value the type cannot read is an error, not a null.
            Column::Cast(mut b) => {
                let options = arrow_cast::CastOptions {
                    safe: false,
                    ..Default::default()
                };
                arrow_cast::cast_with_options(&b.finish(), target, &options).map_err(|e| e.to_string())?
            }
        })
    }
}

/// One csv cell as its rendition holds it, shown as [`crate::values::cell`] shows the
/// rendition's value, under the published type `target` (seconds units kept, where the
/// rendition has milliseconds): so the first rows, read from the csv, look as rows at any
/// other offset, read from the rendition. `None` when the cell is not of the type.
pub(crate) fn typed_cell(v: &[u8], target: &DataType) -> Option<serde_json::Value> {
    let mut column = Column::new(Kind::of(target), 1, v.len());
    column.push(v).ok()?;
    let array = column.finish(target).ok()?;
    Some(crate::values::cell(array.as_ref(), 0))
}

/// An int64 as the column's values are written: decimal with an optional sign, or
/// `0x`/`0X` and 1–16 hex digits (two's complement).
fn parse_i64(t: &[u8]) -> Option<i64> {
    if let Some(hex) = t.strip_prefix(b"0x").or_else(|| t.strip_prefix(b"0X")) {
        if hex.is_empty() || hex.len() > 16 {
            return None;
        }
        return hex
            .iter()
            .try_fold(0u64, |a, b| Some(a << 4 | u64::from((*b as char).to_digit(16)?)))
            .map(|n| n as i64);
    }
    let (negative, digits) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        let d = d.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?;
        n = if negative {
            n.checked_sub(i64::from(d))?
        } else {
            n.checked_add(i64::from(d))?
        };
    }
    Some(n)
}

/// A worker's buffers for csv-core's output, kept from chunk to chunk.
#[derive(Default)]
struct Scratch {
    out: Vec<u8>,
    ends: Vec<usize>,
}

/// Parses one chunk of whole records into a batch of the published types.
fn parse_chunk(
    bytes: &[u8],
    schema: &SchemaRef,
    columns: &[(String, String)],
    kinds: &[Kind],
    scratch: &mut Scratch,
) -> Result<RecordBatch, InferError> {
    use csv_core::ReadRecordResult;
    let width = kinds.len();
    let estimate = memchr::memchr_iter(b'\n', bytes).count() + 1;
    let per_column = bytes.len() / width.max(1);
    let mut builders: Vec<Column> = kinds.iter().map(|k| Column::new(*k, estimate, per_column)).collect();
    let mut rdr = csv_core::Reader::new();
    let Scratch { out, ends } = scratch;
    // Unquoting only shrinks values: a record's output fits in the chunk's length.
    if out.len() < bytes.len().max(64) {
        out.resize(bytes.len().max(64), 0);
    }
    if ends.len() < width + 1 {
        ends.resize(width + 1, 0);
    }
    // Output and ends of the record being read (csv-core counts both from its start).
    let (mut pos, mut olen, mut elen, mut rows) = (0usize, 0usize, 0usize, 0usize);
    loop {
        let input = &bytes[pos..];
        let (res, nin, nout, nend) = rdr.read_record(input, &mut out[olen..], &mut ends[elen..]);
        pos += nin;
        olen += nout;
        elen += nend;
        match res {
            // An empty input ends the file, so the last record needs no line end.
            ReadRecordResult::InputEmpty if input.is_empty() => break,
            ReadRecordResult::InputEmpty => {}
            ReadRecordResult::OutputFull => {
                let len = out.len();
                out.resize(len * 2, 0);
            }
            ReadRecordResult::OutputEndsFull => {
                let len = ends.len();
                ends.resize(len * 2, 0);
            }
            ReadRecordResult::Record => {
                add_record(&mut builders, &out[..olen], &ends[..elen], columns, rows)?;
                rows += 1;
                olen = 0;
                elen = 0;
            }
            ReadRecordResult::End => break,
        }
    }
    let arrays = builders
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            b.finish(schema.field(i).data_type())
                .map_err(|e| InferError::Csv(format!("column {:?}: {e}", columns[i].0)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| InferError::Csv(e.to_string()))
}

/// Adds one record (its fields end at `ends` in `out`) to the columns.
fn add_record(
    builders: &mut [Column],
    out: &[u8],
    ends: &[usize],
    columns: &[(String, String)],
    row: usize,
) -> Result<(), InferError> {
    let mut start = 0;
    for (i, b) in builders.iter_mut().enumerate() {
        match ends.get(i) {
            Some(&end) => {
                let v = &out[start..end];
                b.push(v).map_err(|()| {
                    let (name, kind) = &columns[i];
                    InferError::Csv(format!(
                        "column {name:?}: {:?} (data row {} of its chunk) is not a {kind}",
                        String::from_utf8_lossy(&v[..v.len().min(64)]),
                        row + 1
                    ))
                })?;
                start = end;
            }
            None => b.missing(),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cuts(data: &[u8], lines: usize) -> Vec<usize> {
        let mut scan = Scan::new();
        let mut out = vec![];
        while let Some(c) = scan.advance(data, lines, usize::MAX) {
            out.push(c);
            scan.lines = 0;
        }
        out
    }

    #[test]
    fn record_ends_skip_line_ends_inside_quotes() {
        let data = b"1,\"a\nb\",x\n2,\"c\"\"\n\",y\r\n3,d\"e,\"f\"\n";
        let ends: Vec<usize> = cuts(data, 1);
        let want: Vec<usize> = {
            let s = std::str::from_utf8(data).unwrap();
            vec![s.find("x\n").unwrap() + 2, s.find("y\r").unwrap() + 3, data.len()]
        };
        assert_eq!(ends, want);
    }

    #[test]
    fn integers_read_as_the_column_was_typed() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"0xFFFFFFFFFFFFFFFF"), Some(-1));
        assert_eq!(parse_i64(b"0x1f"), Some(31));
        assert_eq!(parse_i64(b"-"), None);
        assert_eq!(parse_i64(b"1.5"), None);
    }

    /// Every csv of the seeded corpus pyarrow reads (`tests/pyarrow/csv_corpus.py`), with
    /// the columns inference gives it, rendered whole and in chunks of a few lines and
    /// bytes (so records, quoted values and `\r\n` fall across chunk ends), reads back as
    /// the table pyarrow writes from it (`tests/pyarrow/same_table.py`).
    #[test]
    fn corpus_renditions_equal_pyarrow_in_any_chunking() {
        let dir = tempfile::tempdir().unwrap();
        let tests = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pyarrow");
        let made = std::process::Command::new("python3")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .arg(format!("{tests}/csv_corpus.py"))
            .arg(dir.path())
            .output();
        match made {
            Ok(o) if o.status.success() => {}
            other => {
                eprintln!("skipped: python3 with pyarrow is needed (.ci/run installs it): {other:?}");
                return;
            }
        }
        let expected: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("expected.json")).unwrap()).unwrap();
        let mut pairs = vec![];
        for (n, (name, want)) in expected.as_object().unwrap().iter().enumerate() {
            if want.get("error").is_some() {
                continue;
            }
            let csv = dir.path().join(name);
            let columns = crate::infer_file(&csv, granary_core::DataFormat::Csv).unwrap().columns;
            // A row group per record is slow to write: the first files only.
            let tiny = if n < 12 { 1 } else { 0 };
            let chunkings = [
                ("whole", ROW_GROUP_ROWS, CHUNK_BYTES),
                ("small", 7, 200),
                ("tiny", 1, 1),
            ];
            for (tag, lines, bytes) in chunkings.into_iter().take(2 + tiny) {
                let out = dir.path().join(format!("{name}.{tag}.parquet"));
                let file = std::fs::File::create(&out).unwrap();
                let rows = to_parquet_in(std::fs::File::open(&csv).unwrap(), &columns, file, lines, bytes)
                    .unwrap_or_else(|e| panic!("{name} ({tag}): {e}"));
                assert_eq!(serde_json::json!(rows), want["rows"], "{name} ({tag})");
                pairs.push(format!("{}\t{}", csv.display(), out.display()));
                if tag == "whole" {
                    // The first rows read from the csv show as the rendition's rows do.
                    let budget = Arc::new(crate::Budget::default());
                    let text = crate::rows_reader_typed(
                        granary_core::DataFormat::Csv,
                        std::fs::File::open(&csv).unwrap(),
                        0,
                        100,
                        &budget,
                        Some(&columns),
                    )
                    .unwrap();
                    let mut rendered = crate::rows_parquet(std::fs::File::open(&out).unwrap(), 0, 100, budget).unwrap();
                    rendered.conform(&columns);
                    assert_eq!(text.rows, rendered.rows, "{name}: the csv's rows and its rendition's");
                }
            }
        }
        assert!(pairs.len() > 30, "the corpus has files pyarrow reads");
        let list = dir.path().join("pairs.tsv");
        std::fs::write(&list, pairs.join("\n")).unwrap();
        let same = std::process::Command::new("python3")
            .arg(format!("{tests}/same_table.py"))
            .arg(&list)
            .output()
            .unwrap();
        assert!(
            same.status.success(),
            "{}{}",
            String::from_utf8_lossy(&same.stdout),
            String::from_utf8_lossy(&same.stderr)
        );
    }

    /// Values with quotes, commas and line ends inside quotes, records ending in `\n` or
    /// `\r\n`: cut into chunks of a few records anywhere, every value comes back as written.
    #[test]
    fn quoted_line_ends_survive_any_chunking() {
        let mut csv = String::from("id,text,n\n");
        let mut want = vec![];
        for i in 0..1000 {
            let text = match i % 5 {
                0 => format!("line {i}\nnext \"quoted\", and\r\nmore"),
                1 => String::new(),
                2 => format!("plain {i}"),
                3 => "\"".to_string(),
                _ => format!(",{i},"),
            };
            let eol = if i % 3 == 0 { "\r\n" } else { "\n" };
            csv.push_str(&format!(
                "{i},\"{}\",{}{eol}",
                text.replace('"', "\"\""),
                if i % 7 == 0 { "NA".into() } else { (i * 2).to_string() }
            ));
            want.push((i as i64, text, (i % 7 != 0).then_some(i as i64 * 2)));
        }
        let columns = crate::infer_reader(granary_core::DataFormat::Csv, csv.as_bytes())
            .unwrap()
            .columns;
        assert_eq!(
            columns,
            [("id", "int64"), ("text", "string"), ("n", "int64")].map(|(a, b)| (a.to_string(), b.to_string()))
        );
        for (lines, bytes) in [(ROW_GROUP_ROWS, CHUNK_BYTES), (3, 10), (1, 1), (64, 4096)] {
            let mut out = Vec::new();
            let rows = to_parquet_in(csv.as_bytes(), &columns, &mut out, lines, bytes).unwrap();
            assert_eq!(rows, 1000);
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes::Bytes::from(out), 4096).unwrap();
            let mut got = vec![];
            for b in reader {
                let b = b.unwrap();
                use arrow_array::{cast::AsArray, Array};
                let (ids, texts, ns) = (
                    b.column(0).as_primitive::<arrow_array::types::Int64Type>(),
                    b.column(1).as_string::<i32>(),
                    b.column(2).as_primitive::<arrow_array::types::Int64Type>(),
                );
                for r in 0..b.num_rows() {
                    got.push((
                        ids.value(r),
                        texts.value(r).to_string(),
                        ns.is_valid(r).then(|| ns.value(r)),
                    ));
                }
            }
            assert_eq!(got, want, "chunks of {lines} lines, {bytes} bytes");
        }
    }
}
