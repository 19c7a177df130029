//! Computes the true schema and row count of dataset files, so the registry never has to
//! trust what a publisher declares. Works on byte streams (`Read`) and on parquet footers,
//! so callers choose where the bytes come from; this crate knows nothing of storage or HTTP.
//! Memory stays bounded whatever the file size: only a prefix is kept for type inference.

mod bounds;
mod csv_types;
mod json_types;
mod parquet_types;
mod preview;
pub mod query;
pub mod rendition;
pub mod stats;
mod tables;
mod types;
pub mod values;

use arrow_schema::Schema;
use granary_core::DataFormat;
use parquet::file::metadata::ParquetMetaDataReader;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

pub use bounds::{
    check_parquet_footer, decompressed_len, parse_page_header, Budget, BudgetReader, PageInfo, Unbounded,
    MAX_FOOTER_BYTES, MAX_SCHEMA_DEPTH, MAX_THRIFT_DEPTH,
};
pub use preview::{
    conform_row, preview_parquet, preview_reader, preview_reader_typed, rows_parquet, rows_reader_typed, Preview,
    MAX_CELL_CHARS, MAX_PREVIEW_ROWS,
};
pub use tables::{same_columns, same_reader, unify_type, version_schema, TableFile, TableMismatch};
pub use types::arrow_type_name;

/// The fixed tail of a parquet file: 4-byte metadata length + `PAR1`.
pub const PARQUET_TAIL: usize = 8;

/// What a file holds: its columns (name, arrow type name) in order, and its exact row count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inferred {
    pub columns: Vec<(String, String)>,
    pub rows: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error("not a readable parquet file: {0}")]
    Parquet(String),
    #[error("not a readable csv file: {0}")]
    Csv(String),
    #[error("not a readable json file: {0}")]
    Json(String),
    #[error("not a readable arrow file: {0}")]
    Arrow(String),
    /// The file needs more memory, bytes or time than the limits allow (a decompression
    /// bomb, a footer or line past its cap, a deadline that passed).
    #[error("too large to read: {0}")]
    Limit(String),
    /// The caller gave up (its client went away); the work stopped at the next read.
    #[error("cancelled")]
    Cancelled,
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs a decoder, turning a panic inside it (arrow and parquet panic on some malformed
/// input) into an error that names the format.
pub(crate) fn guarded<T>(
    what: fn(String) -> InferError,
    f: impl FnOnce() -> Result<T, InferError>,
) -> Result<T, InferError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(what("the file is malformed (its decoder gave up)".into())))
}

impl Inferred {
    fn from_schema(schema: &Schema, rows: u64) -> Self {
        Inferred {
            columns: schema
                .fields()
                .iter()
                .map(|f| (f.name().clone(), types::field_type_name(f)))
                .collect(),
            rows,
        }
    }
}

/// Reads the metadata length from a parquet file's last 8 bytes.
/// Returns how many bytes before the tail hold the metadata.
pub fn parquet_metadata_len(tail: &[u8; PARQUET_TAIL]) -> Result<usize, InferError> {
    parquet::file::metadata::FooterTail::try_from(*tail)
        .map(|t| t.metadata_length())
        .map_err(|e| InferError::Parquet(e.to_string()))
}

/// Schema and row count from a parquet file's metadata bytes (without the 8-byte tail).
/// The footer is checked by [`check_parquet_footer`] before it is decoded, so a footer
/// whose lengths lie is an error, never an allocation.
pub fn infer_parquet_metadata(metadata: &[u8]) -> Result<Inferred, InferError> {
    check_parquet_footer(metadata)?;
    guarded(InferError::Parquet, || {
        let meta = ParquetMetaDataReader::decode_metadata(metadata).map_err(|e| InferError::Parquet(e.to_string()))?;
        let fm = meta.file_metadata();
        let schema = parquet_types::pyarrow_schema(fm.schema_descr(), fm.key_value_metadata())
            .map_err(|e| InferError::Parquet(e.to_string()))?;
        let rows = u64::try_from(fm.num_rows()).map_err(|_| InferError::Parquet("negative row count".into()))?;
        Ok(Inferred::from_schema(&schema, rows))
    })
}

/// Checks a footer length read from a parquet tail against the file's size and
/// [`MAX_FOOTER_BYTES`], before anything that long is read or allocated.
pub fn check_footer_len(meta_len: u64, file_len: u64) -> Result<(), InferError> {
    if meta_len + PARQUET_TAIL as u64 > file_len {
        return Err(InferError::Parquet("metadata length exceeds the file".into()));
    }
    if meta_len > MAX_FOOTER_BYTES {
        return Err(InferError::Limit(format!(
            "its footer is {} MiB; at most {} MiB is read",
            meta_len >> 20,
            MAX_FOOTER_BYTES >> 20
        )));
    }
    Ok(())
}

/// Schema and row count of a local file, reading only what the format needs.
pub fn infer_file(path: &Path, format: DataFormat) -> Result<Inferred, InferError> {
    let mut file = std::fs::File::open(path)?;
    if format == DataFormat::Parquet {
        let len = file.metadata()?.len();
        if len < (PARQUET_TAIL as u64) + 4 {
            return Err(InferError::Parquet("file is too small".into()));
        }
        let mut tail = [0u8; PARQUET_TAIL];
        file.seek(SeekFrom::End(-(PARQUET_TAIL as i64)))?;
        file.read_exact(&mut tail)?;
        let meta_len = parquet_metadata_len(&tail)? as u64;
        check_footer_len(meta_len, len)?;
        let mut meta = vec![0u8; meta_len as usize];
        file.seek(SeekFrom::End(-((meta_len as i64) + PARQUET_TAIL as i64)))?;
        file.read_exact(&mut meta)?;
        return infer_parquet_metadata(&meta);
    }
    infer_reader(format, BufReader::with_capacity(1 << 20, file))
}

/// Schema and row count of a streamed file in one pass. Not for parquet, whose metadata
/// sits at the end: use [`parquet_metadata_len`] and [`infer_parquet_metadata`].
/// Memory stays bounded whatever the input: a record (csv row, json element) is never
/// held whole past [`MAX_RECORD_BYTES`], and decoder panics become errors.
pub fn infer_reader<R: Read>(format: DataFormat, reader: R) -> Result<Inferred, InferError> {
    match format {
        DataFormat::Csv => guarded(InferError::Csv, || infer_csv(reader)),
        DataFormat::Jsonl => guarded(InferError::Json, || infer_jsonl(reader, 0)),
        DataFormat::Json => guarded(InferError::Json, || infer_json(reader)),
        DataFormat::Arrow | DataFormat::Feather => guarded(InferError::Arrow, || infer_ipc(reader)),
        DataFormat::Parquet => {
            let mut buf = Vec::new();
            reader.take(u64::MAX).read_to_end(&mut buf)?;
            infer_parquet_bytes(&buf)
        }
    }
}

/// Largest single record (a json array element kept for type inference) held in memory.
pub const MAX_RECORD_BYTES: u64 = 64 << 20;

fn infer_parquet_bytes(buf: &[u8]) -> Result<Inferred, InferError> {
    if buf.len() < PARQUET_TAIL + 4 {
        return Err(InferError::Parquet("file is too small".into()));
    }
    let tail: &[u8; PARQUET_TAIL] = buf[buf.len() - PARQUET_TAIL..].try_into().expect("8 bytes");
    let meta_len = parquet_metadata_len(tail)?;
    let end = buf.len() - PARQUET_TAIL;
    let start = end
        .checked_sub(meta_len)
        .ok_or_else(|| InferError::Parquet("metadata length exceeds the file".into()))?;
    infer_parquet_metadata(&buf[start..end])
}

/// Columns and rows of a csv file in one streaming pass: every value narrows its column's
/// type by pyarrow's rules (see `csv_types`), so a late `abc` in a column of integers makes
/// it `string`, as `pyarrow.csv.read_csv` does. Memory is bounded whatever the file's size:
/// values are parsed into a fixed buffer and only their first bytes are kept.
fn infer_csv<R: Read>(reader: R) -> Result<Inferred, InferError> {
    let (names, types, rows) = scan_csv(reader)?;
    Ok(Inferred {
        columns: names
            .into_iter()
            .zip(types)
            .map(|(n, t)| (n, arrow_type_name(&t.data_type())))
            .collect(),
        rows,
    })
}

/// Longest header record accepted (the column names).
const MAX_HEADER_BYTES: usize = 1 << 20;

/// Streaming UTF-8 validation of one value delivered in pieces.
#[derive(Default)]
struct Utf8Check {
    carry: [u8; 4],
    carry_len: usize,
    invalid: bool,
}

impl Utf8Check {
    fn push(&mut self, mut b: &[u8]) {
        if self.invalid {
            return;
        }
        // Complete a character split across pieces, one byte at a time.
        while self.carry_len > 0 && !b.is_empty() {
            self.carry[self.carry_len] = b[0];
            self.carry_len += 1;
            b = &b[1..];
            match std::str::from_utf8(&self.carry[..self.carry_len]) {
                Ok(_) => self.carry_len = 0,
                Err(e) if e.error_len().is_none() && self.carry_len < 4 => {}
                Err(_) => {
                    self.invalid = true;
                    return;
                }
            }
        }
        match std::str::from_utf8(b) {
            Ok(_) => {}
            Err(e) if e.error_len().is_none() => {
                let rest = &b[e.valid_up_to()..];
                self.carry[..rest.len()].copy_from_slice(rest);
                self.carry_len = rest.len();
            }
            Err(_) => self.invalid = true,
        }
    }

    /// Whether the value was valid UTF-8; resets for the next value.
    fn finish(&mut self) -> bool {
        let ok = !self.invalid && self.carry_len == 0;
        *self = Utf8Check::default();
        ok
    }
}

/// The header's names, each column's types and the number of data records (blank lines
/// are not records, as in pyarrow). Every record must have as many fields as the header.
/// Two stages on two threads: this one splits the bytes into fields (csv-core) and checks
/// records; a second types the fields, in batches, in order (a file of one batch is typed
/// here).
fn scan_csv<R: Read>(reader: R) -> Result<(Vec<String>, Vec<csv_types::ColumnTypes>, u64), InferError> {
    std::thread::scope(|s| {
        type Typing<'s> = (SyncSender<FieldBatch>, std::thread::ScopedJoinHandle<'s, FieldTyper>);
        let mut typing: Option<Typing<'_>> = None;
        // A file of one batch is typed on this thread.
        let mut inline: Option<FieldTyper> = None;
        let split = split_csv(reader, |names, batch, last| {
            if last && typing.is_none() {
                let mut typer = FieldTyper::new(names.len());
                typer.add(&batch);
                inline = Some(typer);
                return;
            }
            let (tx, _) = typing.get_or_insert_with(|| {
                let (tx, rx) = std::sync::mpsc::sync_channel::<FieldBatch>(2);
                let mut typer = FieldTyper::new(names.len());
                let handle = s.spawn(move || {
                    rx.into_iter().for_each(|b| typer.add(&b));
                    typer
                });
                (tx, handle)
            });
            // The typing thread ends only when this side hangs up.
            let _ = tx.send(batch);
        });
        let typed = typing
            .map(|(tx, handle)| {
                drop(tx);
                handle.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
            })
            .or(inline);
        let (names, records) = split?;
        let types = typed.map_or_else(|| vec![csv_types::ColumnTypes::default(); names.len()], |t| t.types);
        Ok((names, types, records))
    })
}

use std::sync::mpsc::SyncSender;

/// Data fields of a csv file in order, `columns` per record: each field's first bytes (at
/// most [`csv_types::MAX_TYPED_VALUE`]), whether it was cut there, whether it is UTF-8.
#[derive(Default)]
struct FieldBatch {
    bytes: Vec<u8>,
    /// (end of the field's bytes in `bytes`, cut, UTF-8)
    fields: Vec<(usize, bool, bool)>,
}

/// A batch is handed to the typing thread once it holds this many fields, or bytes (a
/// batch is cut between fields, so it holds at most one value's first bytes more).
const FIELD_BATCH: usize = 1 << 14;
const BATCH_BYTES: usize = 1 << 20;

/// Types fields into their columns, batch after batch (fields come a record's columns at a
/// time, so the column is the field's position modulo their number).
struct FieldTyper {
    types: Vec<csv_types::ColumnTypes>,
    column: usize,
}

impl FieldTyper {
    fn new(columns: usize) -> Self {
        FieldTyper {
            types: vec![csv_types::ColumnTypes::default(); columns],
            column: 0,
        }
    }

    fn add(&mut self, batch: &FieldBatch) {
        let mut start = 0;
        for &(end, truncated, valid) in &batch.fields {
            let t = &mut self.types[self.column];
            if t.typed() {
                t.add(&batch.bytes[start..end], truncated, valid);
            } else {
                t.add_text(valid);
            }
            start = end;
            self.column += 1;
            if self.column == self.types.len() {
                self.column = 0;
            }
        }
    }
}

/// Splits a csv stream into its header's names and data fields, handing the fields on in
/// batches (`emit(names, batch, last)`, `last` for the final batch); returns the names and
/// the number of data records.
fn split_csv<R: Read>(
    mut reader: R,
    mut emit: impl FnMut(&[String], FieldBatch, bool),
) -> Result<(Vec<String>, u64), InferError> {
    use csv_core::ReadFieldResult;
    let mut rdr = csv_core::Reader::new();
    let mut input = vec![0u8; 1 << 16];
    let mut out = vec![0u8; 1 << 12];
    // A UTF-8 byte order mark before the header is not part of the first name.
    let mut end = 0usize;
    while end < 3 {
        match reader.read(&mut input[end..]) {
            Ok(0) => break,
            Ok(n) => end += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut start = if input[..end].starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let mut eof = false;
    let mut head: Vec<u8> = Vec::new();
    let mut batch = FieldBatch::default();
    let mut field_start = 0usize;
    let mut truncated = false;
    let mut utf8 = Utf8Check::default();
    let mut names: Option<Vec<String>> = None;
    let mut header: Vec<Vec<u8>> = Vec::new();
    let mut header_bytes = 0usize;
    let (mut records, mut fields, mut columns) = (0u64, 0usize, 0usize);
    loop {
        if start == end && !eof {
            end = match reader.read(&mut input) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            start = 0;
            eof = end == 0;
        }
        let (res, nin, nout) = rdr.read_field(&input[start..end], &mut out);
        start += nin;
        let piece = &out[..nout];
        if names.is_none() {
            header_bytes += nout;
            if header_bytes > MAX_HEADER_BYTES {
                return Err(InferError::Csv(format!(
                    "the header line is longer than {} MiB",
                    MAX_HEADER_BYTES >> 20
                )));
            }
            head.extend_from_slice(piece);
        } else if fields < columns {
            if !truncated {
                let room = csv_types::MAX_TYPED_VALUE - (batch.bytes.len() - field_start);
                if piece.len() > room {
                    truncated = true;
                }
                batch.bytes.extend_from_slice(&piece[..piece.len().min(room)]);
            }
            utf8.push(piece);
        }
        match res {
            ReadFieldResult::InputEmpty | ReadFieldResult::OutputFull => {}
            ReadFieldResult::Field { record_end } => {
                match &names {
                    None => header.push(std::mem::take(&mut head)),
                    Some(n) if fields < columns => {
                        batch.fields.push((batch.bytes.len(), truncated, utf8.finish()));
                        field_start = batch.bytes.len();
                        truncated = false;
                        if batch.fields.len() >= FIELD_BATCH || batch.bytes.len() >= BATCH_BYTES {
                            emit(n, std::mem::take(&mut batch), false);
                            field_start = 0;
                        }
                    }
                    Some(_) => {}
                }
                fields += 1;
                if record_end {
                    match &names {
                        None => {
                            let n: Vec<String> = header
                                .drain(..)
                                .map(|b| String::from_utf8_lossy(&b).into_owned())
                                .collect();
                            let mut seen = std::collections::HashSet::with_capacity(n.len());
                            if let Some(dup) = n.iter().find(|name| !seen.insert(name.as_str())) {
                                return Err(InferError::Csv(format!(
                                    "the header names column {dup:?} more than once; a schema maps each name to one type, so rename the columns"
                                )));
                            }
                            columns = n.len();
                            names = Some(n);
                        }
                        Some(_) if fields != columns => {
                            return Err(InferError::Csv(format!(
                                "record {} has {fields} fields, but the header has {columns}",
                                records + 2,
                            )));
                        }
                        Some(_) => records += 1,
                    }
                    fields = 0;
                }
            }
            ReadFieldResult::End => break,
        }
    }
    let names = names.ok_or_else(|| InferError::Csv("file is empty".into()))?;
    emit(&names, batch, true);
    Ok((names, records))
}

/// Bytes of JSON lines typed as one chunk (then to the end of the line it stops in).
const JSONL_CHUNK: u64 = 4 << 20;
/// Threads typing chunks of one JSON-lines file at once.
const JSONL_WORKERS: usize = 2;

/// Columns and rows of a JSON-lines file from every record, in one streaming pass (see
/// `json_types`), a line may hold several records separated by white space, and blank
/// lines are not rows, as in pyarrow. The file is read in chunks of whole lines (a line at
/// most [`MAX_RECORD_BYTES`]); [`JSONL_WORKERS`] threads type chunks side by side, each
/// record typed as it is parsed, and the chunks' types are merged in file order. Merging
/// is the same lattice whatever the grouping, so the answer is the one-record-at-a-time
/// answer; a chunk whose records clash is typed again record by record against the file
/// so far, so an error names the first line that clashes. Memory holds a few chunks.
fn infer_jsonl<R: Read>(reader: R, skipped_lines: u64) -> Result<Inferred, InferError> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    // A file of one chunk is typed on this thread.
    let Some(first) = next_chunk(&mut reader, 0)? else {
        return merge_chunks(std::iter::empty(), skipped_lines);
    };
    let second = match first.overlong {
        true => None,
        false => next_chunk(&mut reader, 1)?,
    };
    let Some(second) = second else {
        let typed = type_chunk(&first);
        return merge_chunks(std::iter::once((first, typed)), skipped_lines);
    };
    std::thread::scope(|s| {
        let mut to_workers = Vec::with_capacity(JSONL_WORKERS);
        let mut from_workers = Vec::with_capacity(JSONL_WORKERS);
        for _ in 0..JSONL_WORKERS {
            let (chunks, work) = std::sync::mpsc::sync_channel::<JsonChunk>(1);
            let (done, typed) = std::sync::mpsc::sync_channel::<(JsonChunk, Option<JsonTyped>)>(1);
            s.spawn(move || {
                for chunk in work {
                    let t = type_chunk(&chunk);
                    if done.send((chunk, t)).is_err() {
                        break;
                    }
                }
            });
            to_workers.push(chunks);
            from_workers.push(typed);
        }
        let merger = s.spawn(move || {
            let n = from_workers.len();
            let chunks = (0..).map_while(|i| from_workers[i % n].recv().ok());
            merge_chunks(chunks, skipped_lines)
        });
        let read = send_chunks(&mut reader, [first, second], &to_workers);
        drop(to_workers);
        let merged = merger.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        match (read, merged) {
            (_, Err(e)) | (Err(e), _) => Err(e),
            (Ok(()), Ok(found)) => Ok(found),
        }
    })
}

/// Whole lines of a JSON-lines file, the `index`th chunk of it.
struct JsonChunk {
    index: usize,
    data: Vec<u8>,
    /// The line after `data` is longer than [`MAX_RECORD_BYTES`]: reading stopped there.
    overlong: bool,
}

/// A chunk's records merged into one type: the type, its records and its lines. `None`
/// from [`type_chunk`] when the chunk's records clash (typed again in order to find where).
struct JsonTyped {
    t: json_types::JsonType,
    rows: u64,
    lines: u64,
}

/// The `index`th chunk of whole lines of `reader` (a chunk of [`JSONL_CHUNK`] bytes, then
/// to the end of the line it stops in), or `None` at the end. A line past
/// [`MAX_RECORD_BYTES`] ends the chunk before it, marked `overlong`.
fn next_chunk<R: std::io::BufRead>(reader: &mut R, index: usize) -> Result<Option<JsonChunk>, InferError> {
    use std::io::BufRead as _;
    let mut data = Vec::with_capacity(JSONL_CHUNK as usize + (64 << 10));
    (&mut *reader).take(JSONL_CHUNK).read_to_end(&mut data)?;
    if data.is_empty() {
        return Ok(None);
    }
    let mut overlong = false;
    if data.last() != Some(&b'\n') {
        // Finish the line the chunk stops in, refusing it past the limit.
        let start = data.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
        let room = (MAX_RECORD_BYTES + 1).saturating_sub((data.len() - start) as u64);
        (&mut *reader).take(room).read_until(b'\n', &mut data)?;
        if data.last() != Some(&b'\n') && (data.len() - start) as u64 > MAX_RECORD_BYTES {
            data.truncate(start);
            overlong = true;
        }
    }
    Ok(Some(JsonChunk { index, data, overlong }))
}

/// Hands `first` and then the rest of `reader`'s chunks to the workers, chunk `i` to worker
/// `i % n`; stops early when the workers stop taking chunks (the merge found an error).
fn send_chunks<R: std::io::BufRead>(
    reader: &mut R,
    first: [JsonChunk; 2],
    workers: &[std::sync::mpsc::SyncSender<JsonChunk>],
) -> Result<(), InferError> {
    let [a, b] = first;
    let mut pending = vec![a, b].into_iter();
    let mut index = 2;
    loop {
        let chunk = match pending.next() {
            Some(c) => c,
            None => match next_chunk(reader, index)? {
                Some(c) => {
                    index += 1;
                    c
                }
                None => return Ok(()),
            },
        };
        let overlong = chunk.overlong;
        if workers[chunk.index % workers.len()].send(chunk).is_err() || overlong {
            return Ok(());
        }
    }
}

/// Types a chunk's records and merges them, or `None` when they clash.
fn type_chunk(chunk: &JsonChunk) -> Option<JsonTyped> {
    let mut t = json_types::JsonType::Struct(Default::default());
    let mut rows = 0;
    let lines = type_lines(chunk, &mut t, &mut rows).ok()?;
    Some(JsonTyped { t, rows, lines })
}

/// Types the records of `chunk` one at a time into `file`, counting them into `rows`.
/// Returns the chunk's lines, or the first line (counted from 1 in the chunk) whose
/// record cannot be read or clashes, with why.
fn type_lines(chunk: &JsonChunk, file: &mut json_types::JsonType, rows: &mut u64) -> Result<u64, (u64, String)> {
    let data = match chunk.index {
        0 => chunk.data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&chunk.data),
        _ => &chunk.data[..],
    };
    let mut lines = 0;
    for line in data.split_inclusive(|b| *b == b'\n') {
        lines += 1;
        for record in serde_json::Deserializer::from_slice(line).into_iter::<json_types::Typed>() {
            let json_types::Typed(t) = record.map_err(|e| (lines, e.to_string()))?;
            if !matches!(t, json_types::JsonType::Struct(_)) {
                let found = t.kind_phrase();
                return Err((lines, format!("expected one JSON object per line, found {found}")));
            }
            file.merge(t, "")
                .map_err(|e| (lines, format!("{e}; pyarrow cannot read such a file either")))?;
            *rows += 1;
        }
    }
    Ok(lines)
}

/// Merges typed chunks, in file order, into the file's columns and rows. Line numbers in errors count `skipped_lines` before the first
/// chunk (blank lines a caller consumed).
fn merge_chunks(
    chunks: impl Iterator<Item = (JsonChunk, Option<JsonTyped>)>,
    skipped_lines: u64,
) -> Result<Inferred, InferError> {
    let mut file = json_types::JsonType::Struct(Default::default());
    let (mut rows, mut lines) = (0u64, skipped_lines);
    for (chunk, typed) in chunks {
        let before = file.clone();
        let merged = typed.and_then(|t| file.merge(t.t, "").ok().map(|_| (t.rows, t.lines)));
        let (chunk_rows, chunk_lines) = match merged {
            Some(counts) => counts,
            None => {
                // Record by record against the file so far: the first line that clashes.
                file = before;
                let mut chunk_rows = 0;
                let chunk_lines = type_lines(&chunk, &mut file, &mut chunk_rows)
                    .map_err(|(line, why)| InferError::Json(format!("line {}: {why}", lines + line)))?;
                (chunk_rows, chunk_lines)
            }
        };
        rows += chunk_rows;
        lines += chunk_lines;
        check_width(&file)?;
        if chunk.overlong {
            return Err(InferError::Json(format!(
                "line {} is longer than {} MiB",
                lines + 1,
                MAX_RECORD_BYTES >> 20
            )));
        }
    }
    if lines == 0 {
        return Err(InferError::Json("file is empty".into()));
    }
    let json_types::JsonType::Struct(fields) = file else {
        unreachable!("merged into a struct")
    };
    let schema = Schema::new(json_types::JsonType::fields(&fields));
    Ok(Inferred::from_schema(&schema, rows))
}

/// Refuses a JSON file whose records hold more than [`json_types::MAX_JSON_KEYS`] keys.
fn check_width(t: &json_types::JsonType) -> Result<(), InferError> {
    if t.width() > json_types::MAX_JSON_KEYS {
        return Err(InferError::Limit(format!(
            "its records hold more than {} distinct keys (nested keys included); at most {} columns are read",
            json_types::MAX_JSON_KEYS,
            json_types::MAX_JSON_KEYS
        )));
    }
    Ok(())
}

/// `.json` files are either one top-level array of objects or JSON lines (what pyarrow's
/// `read_json` expects); the first non-blank byte decides.
fn infer_json<R: Read>(reader: R) -> Result<Inferred, InferError> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut blank = false;
    let mut skipped_lines = 0u64;
    let first = loop {
        let buf = std::io::BufRead::fill_buf(&mut reader)?;
        if buf.is_empty() && blank {
            // Blank lines only: JSON lines without a record, as pyarrow reads them.
            return Ok(Inferred {
                columns: Vec::new(),
                rows: 0,
            });
        }
        if buf.is_empty() {
            return Err(InferError::Json("file is empty".into()));
        }
        blank = true;
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let b = buf[i];
                skipped_lines += buf[..i].iter().filter(|c| **c == b'\n').count() as u64;
                std::io::BufRead::consume(&mut reader, i);
                break b;
            }
            None => {
                let n = buf.len();
                skipped_lines += buf.iter().filter(|c| **c == b'\n').count() as u64;
                std::io::BufRead::consume(&mut reader, n);
            }
        }
    };
    if first != b'[' {
        return infer_jsonl(reader, skipped_lines);
    }
    let progress = std::rc::Rc::new(std::cell::Cell::new(Progress::default()));
    let counted = CountingReader {
        inner: reader,
        progress: progress.clone(),
    };
    let mut de = serde_json::Deserializer::from_reader(counted);
    let (file, rows) = serde::Deserializer::deserialize_seq(&mut de, ArraySampler { progress })
        .map_err(|e| InferError::Json(e.to_string()))?;
    de.end().map_err(|e| InferError::Json(e.to_string()))?;
    let json_types::JsonType::Struct(fields) = file else {
        unreachable!("merged into a struct")
    };
    Ok(Inferred::from_schema(
        &Schema::new(json_types::JsonType::fields(&fields)),
        rows,
    ))
}

/// Bytes read so far, and where the element being kept for the sample started (`None`
/// while elements are skipped, which costs no memory).
#[derive(Clone, Copy, Default)]
struct Progress {
    read: u64,
    kept_from: Option<u64>,
}

/// Counts what the JSON parser reads and stops it when one kept element passes
/// [`MAX_RECORD_BYTES`].
struct CountingReader<R> {
    inner: R,
    progress: std::rc::Rc<std::cell::Cell<Progress>>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut p = self.progress.get();
        if p.kept_from.is_some_and(|from| p.read - from > MAX_RECORD_BYTES) {
            return Err(std::io::Error::other(format!(
                "an array element is longer than {} MiB",
                MAX_RECORD_BYTES >> 20
            )));
        }
        let n = self.inner.read(buf)?;
        p.read += n as u64;
        self.progress.set(p);
        Ok(n)
    }
}

/// Walks a top-level JSON array one element at a time, typing each as it is parsed (see
/// `json_types`; no element is kept) and merging it into the file's type, and counting
/// them; an element past [`MAX_RECORD_BYTES`] is refused before it is held.
struct ArraySampler {
    progress: std::rc::Rc<std::cell::Cell<Progress>>,
}

impl<'de> serde::de::Visitor<'de> for ArraySampler {
    type Value = (json_types::JsonType, u64);
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of objects")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        use serde::de::Error;
        let mut file = json_types::JsonType::Struct(Default::default());
        let (mut rows, mut width) = (0u64, 0usize);
        loop {
            let mut p = self.progress.get();
            p.kept_from = Some(p.read);
            self.progress.set(p);
            let Some(json_types::Typed(t)) = seq.next_element::<json_types::Typed>()? else {
                break;
            };
            rows += 1;
            if !matches!(t, json_types::JsonType::Struct(_)) {
                return Err(A::Error::custom(format!(
                    "expected an array of objects, found {} at element {rows}",
                    t.kind_phrase()
                )));
            }
            width += file
                .merge(t, "")
                .map_err(|e| A::Error::custom(format!("element {rows}: {e}")))?;
            if width > json_types::MAX_JSON_KEYS {
                return Err(A::Error::custom(format!(
                    "too large to read: its records hold more than {} distinct keys (nested keys included); at most {} columns are read",
                    json_types::MAX_JSON_KEYS,
                    json_types::MAX_JSON_KEYS
                )));
            }
        }
        Ok((file, rows))
    }
}

const IPC_MAGIC: &[u8; 6] = b"ARROW1";

/// Arrow IPC file (feather v2) or stream: the schema message and each record batch's
/// row count are read from the message headers; bodies are skipped, never decoded.
fn infer_ipc<R: Read>(reader: R) -> Result<Inferred, InferError> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut head = [0u8; 8];
    let n = read_full(&mut reader, &mut head)?;
    let mut pending: Vec<u8> = Vec::new();
    let file_format = n >= 6 && &head[..6] == IPC_MAGIC;
    if file_format {
        // file format: magic, zero padding to the writer's alignment, then the stream format
    } else if n >= 4 && &head[..4] == b"FEA1" {
        return Err(InferError::Arrow(
            "feather v1 files are not supported; write feather v2 (arrow IPC)".into(),
        ));
    } else {
        pending.extend_from_slice(&head[..n]);
    }
    let mut reader = Cursor::new(pending).chain(reader);
    let mut schema: Option<Schema> = None;
    let mut rows = 0u64;
    let ipc_err = |m: &str| InferError::Arrow(m.to_string());
    let mut seen_message = false;
    loop {
        let mut word = [0u8; 4];
        if read_full(&mut reader, &mut word)? < 4 {
            break; // stream ended without an end-of-stream marker
        }
        let mut len = i32::from_le_bytes(word);
        if file_format && !seen_message && word != [0xff; 4] && word != [0; 4] {
            // The schema is a bare flatbuffer outside any message (polars); the file's
            // schema is then read from the footer, as pyarrow reads it.
            let (bare, next) = skip_bare_schema(&mut reader, word)?;
            len = match next {
                Some(len) => len,
                None => {
                    // No message at all: the bytes end in the footer.
                    let schema = footer_schema_of(&bare)?.ok_or_else(|| ipc_err("no message after the file magic"))?;
                    return Ok(Inferred::from_schema(&schema, 0));
                }
            };
        } else if len == -1 {
            if read_full(&mut reader, &mut word)? < 4 {
                return Err(ipc_err("truncated message header"));
            }
            len = i32::from_le_bytes(word);
        }
        if len == 0 {
            if file_format && !seen_message {
                continue; // still in the padding after the file magic
            }
            if file_format {
                // The footer's schema is the file's (pyarrow reads it from there).
                if let Some(s) = footer_schema(&mut reader)? {
                    schema = Some(s);
                }
            }
            break; // end of stream
        }
        seen_message = true;
        if !(0..=(64 << 20)).contains(&len) {
            return Err(ipc_err("invalid message length"));
        }
        let mut meta = vec![0u8; len as usize];
        reader.read_exact(&mut meta).map_err(|_| ipc_err("truncated message"))?;
        let msg = arrow_ipc::root_as_message(&meta).map_err(|e| InferError::Arrow(e.to_string()))?;
        if let Some(s) = msg.header_as_schema() {
            schema = Some(arrow_ipc::convert::fb_to_schema(s));
        } else if let Some(b) = msg.header_as_record_batch() {
            rows += u64::try_from(b.length()).map_err(|_| ipc_err("negative batch length"))?;
        }
        let body = u64::try_from(msg.bodyLength()).map_err(|_| ipc_err("negative body length"))?;
        let skipped = std::io::copy(&mut (&mut reader).take(body), &mut std::io::sink())?;
        if skipped != body {
            return Err(ipc_err("truncated message body"));
        }
    }
    let schema = schema.ok_or_else(|| ipc_err("no schema message"))?;
    Ok(Inferred::from_schema(&schema, rows))
}

/// Some writers (polars) put an IPC file's schema right after the file magic as a bare
/// message flatbuffer, without continuation marker or length; messages resume, 8-byte
/// aligned, at the first continuation marker. Reads from there (`first` is the bare
/// flatbuffer's first word) to that marker: returns the bytes before it and the message
/// length that follows it, or `None` when the file ends first (a file without messages,
/// whose bytes then end in its footer). At most [`MAX_FOOTER_BYTES`] are kept.
pub(crate) fn skip_bare_schema<R: Read>(reader: &mut R, first: [u8; 4]) -> Result<(Vec<u8>, Option<i32>), InferError> {
    let mut bare = first.to_vec();
    let mut word = [0u8; 4];
    let got = read_full(reader, &mut word)?;
    bare.extend_from_slice(&word[..got]);
    loop {
        let mut pair = [0u8; 8];
        let got = read_full(reader, &mut pair)?;
        if got == 8 && pair[..4] == [0xff; 4] {
            return Ok((bare, Some(i32::from_le_bytes(pair[4..].try_into().expect("4 bytes")))));
        }
        bare.extend_from_slice(&pair[..got]);
        if got < 8 {
            return Ok((bare, None));
        }
        if bare.len() as u64 > MAX_FOOTER_BYTES {
            return Err(InferError::Arrow("no message after the file magic".into()));
        }
    }
}

/// After an IPC file's end-of-stream marker: the footer, its length and the closing magic.
/// Returns the footer's schema; `None` when the file ends without a readable footer.
fn footer_schema<R: Read>(reader: &mut R) -> Result<Option<Schema>, InferError> {
    let mut tail = Vec::new();
    reader.take(MAX_FOOTER_BYTES + 1).read_to_end(&mut tail)?;
    if tail.len() as u64 > MAX_FOOTER_BYTES {
        return Err(InferError::Limit(format!(
            "an arrow file footer may be at most {} MiB",
            MAX_FOOTER_BYTES >> 20
        )));
    }
    footer_schema_of(&tail)
}

/// The schema in the footer that `bytes` end with (`footer, i32 length, ARROW1`).
fn footer_schema_of(tail: &[u8]) -> Result<Option<Schema>, InferError> {
    let n = tail.len();
    if n < 10 || &tail[n - 6..] != IPC_MAGIC {
        return Ok(None);
    }
    let len = i32::from_le_bytes(tail[n - 10..n - 6].try_into().expect("4 bytes"));
    let Some(start) = usize::try_from(len).ok().and_then(|l| (n - 10).checked_sub(l)) else {
        return Ok(None);
    };
    let footer = arrow_ipc::root_as_footer(&tail[start..n - 10]).map_err(|e| InferError::Arrow(e.to_string()))?;
    Ok(footer.schema().map(arrow_ipc::convert::fb_to_schema))
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
