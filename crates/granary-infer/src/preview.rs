//! The first rows of a file, as JSON objects in column order: what a registry shows before
//! anyone downloads. Text formats and arrow IPC are read from the front of a stream and
//! stop as soon as they have enough rows; parquet reads its footer and then only the first
//! pages of each column, through any [`ChunkReader`] (a file, bytes, ranged reads of a
//! remote object, …).

//!
//! Every preview runs against a [`Budget`]: bytes read and decompressed are charged to it
//! before they are allocated, so a decompression bomb or a 200 MB line ends the preview
//! with [`InferError::Limit`], and a cancelled budget stops it at the next read.

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use bytes::Bytes;
use granary_core::DataFormat;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::Compression;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::reader::{ChunkReader, Length};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::sync::{Arc, Mutex};

use crate::bounds::{unwrap_io, Budget, BudgetReader, Unbounded};
use crate::{
    check_footer_len, check_parquet_footer, decompressed_len, guarded, parquet_metadata_len, parse_page_header,
    read_full, skip_bare_schema, InferError, IPC_MAGIC, PARQUET_TAIL,
};

/// Each decoded value is charged this many bytes (levels, validity, offsets), so a page
/// that run-length encodes billions of nulls in a few bytes is refused before it expands.
pub const BYTES_PER_VALUE: u64 = 4;
/// Longest parquet page header read, in bytes.
const MAX_PAGE_HEADER: usize = 16 << 20;

/// The most rows a preview holds.
pub const MAX_PREVIEW_ROWS: usize = 100;
/// Text cells longer than this many characters are cut, ending in `…`.
pub const MAX_CELL_CHARS: usize = 1000;

/// Columns (name, arrow type name) and the first rows, each an object keyed by column name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Preview {
    pub columns: Vec<(String, String)>,
    pub rows: Vec<Map<String, Value>>,
}

impl Preview {
    fn from_batches(schema: &Schema, batches: &[RecordBatch], limit: usize) -> Result<Self, InferError> {
        let columns = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), crate::types::field_type_name(f)))
            .collect();
        let mut rows: Vec<Map<String, Value>> = Vec::new();
        for b in batches {
            let take = b.num_rows().min(limit - rows.len());
            for i in 0..take {
                let mut row = Map::with_capacity(b.num_columns());
                for (f, column) in schema.fields().iter().zip(b.columns()) {
                    let mut v = crate::values::cell(column.as_ref(), i);
                    shorten(&mut v);
                    row.insert(f.name().clone(), v);
                }
                rows.push(row);
            }
            if rows.len() == limit {
                break;
            }
        }
        Ok(Preview { columns, rows })
    }

    /// Shows the rows under `columns` (a published schema: name, arrow type name): each
    /// row's values in that order, a column a row lacks as an explicit null. The types
    /// shown are the published ones; the values are what the file holds.
    pub fn conform(&mut self, columns: &[(String, String)]) {
        for row in &mut self.rows {
            conform_row(row, columns);
        }
        self.columns = columns.to_vec();
    }

    /// Appends another file's rows (the next file of the same split), up to `limit` in all.
    pub fn append(&mut self, other: Preview, limit: usize) {
        if self.columns.is_empty() {
            self.columns = other.columns;
        }
        let room = limit.saturating_sub(self.rows.len());
        self.rows.extend(other.rows.into_iter().take(room));
    }
}

/// A row's values under `columns` (a published schema: name, arrow type name), in that
/// order, a column the row lacks as an explicit null. A column published with a seconds
/// unit (`timestamp[s]`, `time32[s]`) and read from a parquet rendition, which holds it in
/// milliseconds (parquet has no seconds), shows without the `.000` the milliseconds add.
pub fn conform_row(row: &mut Map<String, Value>, columns: &[(String, String)]) {
    let mut old = std::mem::take(row);
    *row = columns
        .iter()
        .map(|(name, ty)| {
            let mut v = old.remove(name).unwrap_or(Value::Null);
            if ty == "time32[s]" || ty.starts_with("timestamp[s") {
                if let Value::String(text) = &mut v {
                    drop_whole_millis(text);
                }
            }
            (name.clone(), v)
        })
        .collect();
}

/// `HH:MM:SS.000` or `…THH:MM:SS.000` (with a zone or not) without its `.000`.
fn drop_whole_millis(text: &mut String) {
    let at = text.find('T').map_or(8, |t| t + 9);
    let rest = text.get(at..).unwrap_or_default();
    if rest.starts_with(".000") && !rest[4..].starts_with(|c: char| c.is_ascii_digit()) {
        text.replace_range(at..at + 4, "");
    }
}

/// Cuts long text (see [`MAX_CELL_CHARS`]) and turns integers a double cannot hold into
/// strings of their digits (text formats keep 64-bit integers as they were written).
pub(crate) fn shorten(v: &mut Value) {
    match v {
        Value::Number(n) if !n.is_f64() => {
            if let Some(big) = n
                .as_i64()
                .map(|i| i as i128)
                .or(n.as_u64().map(|u| u as i128))
                .filter(|i| i.abs() > crate::values::MAX_SAFE_INTEGER)
            {
                *v = Value::String(big.to_string());
            }
        }
        Value::String(s) => {
            if let Some((cut, _)) = s.char_indices().nth(MAX_CELL_CHARS) {
                s.truncate(cut);
                s.push('…');
            }
        }
        Value::Array(a) => a.iter_mut().for_each(shorten),
        Value::Object(o) => o.values_mut().for_each(shorten),
        _ => {}
    }
}

fn check_limit(limit: usize) -> usize {
    limit.clamp(1, MAX_PREVIEW_ROWS)
}

/// The first `limit` rows (at most [`MAX_PREVIEW_ROWS`]) of a csv, json, jsonl or arrow IPC
/// stream. Reads only as far as those rows. Parquet needs ranged reads: use
/// [`preview_parquet`]. Every byte read is charged to `budget` (and arrow IPC buffers to
/// what they decompress to); past it, or once it is cancelled, the preview ends with
/// [`InferError::Limit`] or [`InferError::Cancelled`]. csv cells are shown as text; see
/// [`preview_reader_typed`] to show them by the file's published schema.
pub fn preview_reader<R: Read>(
    format: DataFormat,
    reader: R,
    limit: usize,
    budget: &Budget,
) -> Result<Preview, InferError> {
    preview_reader_typed(format, reader, limit, budget, None)
}

/// As [`preview_reader`], with the file's published schema (`columns`: name, arrow type
/// name, as [`infer_reader`](crate::infer_reader) computed it): a csv preview shows each
/// cell by its column's type (numbers, booleans, nulls) and reports those types, so the
/// preview and the published schema agree.
pub fn preview_reader_typed<R: Read>(
    format: DataFormat,
    reader: R,
    limit: usize,
    budget: &Budget,
    columns: Option<&[(String, String)]>,
) -> Result<Preview, InferError> {
    rows_reader_typed(format, reader, 0, limit, budget, columns)
}

/// As [`preview_reader_typed`], from row `offset` (0-based) on: the `offset` rows before
/// are read and dropped without being converted, so memory holds only the rows returned;
/// every byte read on the way is charged to `budget`, which bounds how deep a text file
/// can be read (parquet skips by row group and page: [`rows_parquet`]).
pub fn rows_reader_typed<R: Read>(
    format: DataFormat,
    reader: R,
    offset: u64,
    limit: usize,
    budget: &Budget,
    columns: Option<&[(String, String)]>,
) -> Result<Preview, InferError> {
    let limit = check_limit(limit);
    let reader = BudgetReader::new(reader, budget);
    let out = match format {
        DataFormat::Csv => guarded(InferError::Csv, || preview_csv(reader, offset, limit, columns)),
        DataFormat::Jsonl => guarded(InferError::Json, || {
            preview_jsonl(BufReader::with_capacity(1 << 16, reader), offset, limit, columns)
        }),
        DataFormat::Json => guarded(InferError::Json, || preview_json(reader, offset, limit, columns)),
        DataFormat::Arrow | DataFormat::Feather => {
            guarded(InferError::Arrow, || preview_ipc(reader, offset, limit, budget))
        }
        DataFormat::Parquet => Err(InferError::Parquet(
            "parquet previews need ranged reads; use preview_parquet".into(),
        )),
    };
    out.map_err(|e| budget_error(budget, e))
}

/// A budget stop surfaces inside the decoders as an io error or inside their own error
/// text; either way it is reported as the budget's error.
fn budget_error(budget: &Budget, e: InferError) -> InferError {
    const MARK: &str = "too large to read: ";
    match e {
        InferError::Io(io) => unwrap_io(io),
        e @ (InferError::Limit(_) | InferError::Cancelled) => e,
        other => {
            if let Err(stop) = budget.check() {
                return stop;
            }
            let text = other.to_string();
            match text.rfind(MARK) {
                Some(at) => InferError::Limit(text[at + MARK.len()..].to_string()),
                None => other,
            }
        }
    }
}

/// The first `limit` rows of a parquet file: its footer, then page by page from the start
/// of each column until enough rows are decoded. Pages are read one at a time through
/// `input`, so memory holds a few pages per column, never a whole row group. The footer is
/// checked by [`check_parquet_footer`] before it is decoded; each page header is read
/// before its page, and the page's stored and decompressed sizes and value count are
/// charged to `budget` first (zstd, gzip and lz4-frame pages are also decompressed into
/// nothing, bounded, since their decoders do not stop at the declared size).
pub fn preview_parquet<R: ChunkReader + 'static>(
    input: R,
    limit: usize,
    budget: Arc<Budget>,
) -> Result<Preview, InferError> {
    rows_parquet(input, 0, limit, budget)
}

/// `limit` rows of a parquet file from row `offset` (0-based; past the end gives no rows),
/// under the same checks as [`preview_parquet`]. Row groups before `offset` are never
/// read; inside the first group read, the file's offset index (when it has one, as
/// pyarrow and arrow-rs write by default) lets whole pages before `offset` go unread, so
/// the cost is a few pages per column wherever the rows are.
pub fn rows_parquet<R: ChunkReader + 'static>(
    input: R,
    offset: u64,
    limit: usize,
    budget: Arc<Budget>,
) -> Result<Preview, InferError> {
    let limit = check_limit(limit);
    guarded(InferError::Parquet, || {
        preview_parquet_inner(input, offset, limit, budget.clone())
    })
    .map_err(|e| budget_error(&budget, e))
}

fn preview_parquet_inner<R: ChunkReader + 'static>(
    input: R,
    offset: u64,
    limit: usize,
    budget: Arc<Budget>,
) -> Result<Preview, InferError> {
    let perr = |e: parquet::errors::ParquetError| InferError::Parquet(e.to_string());
    let mut meta = read_footer(&input, &budget)?;
    // The row groups holding rows from `offset` on, and the rows to pass over in the first.
    let mut first = None;
    let mut before = 0u64;
    for (i, rg) in meta.row_groups().iter().enumerate() {
        let n = rg.num_rows().max(0) as u64;
        if before + n > offset {
            first = Some((i, offset - before));
            break;
        }
        before += n;
    }
    let (groups, skip_in_group) = match first {
        Some((i, skip)) => ((i..meta.num_row_groups()).collect::<Vec<_>>(), skip),
        None => (Vec::new(), 0),
    };
    if skip_in_group > 0 {
        // The offset index says where each page starts, so pages before the offset are
        // skipped unread. Its bytes are charged before they are read.
        let ranges = meta.row_groups().iter().flat_map(|rg| rg.columns()).filter_map(|c| {
            let start = u64::try_from(c.offset_index_offset()?).ok()?;
            Some(start..start.saturating_add(u64::try_from(c.offset_index_length()?).ok()?))
        });
        let span = ranges.fold(None::<std::ops::Range<u64>>, |acc, r| {
            Some(match acc {
                None => r,
                Some(a) => a.start.min(r.start)..a.end.max(r.end),
            })
        });
        if let Some(span) = span {
            budget.charge(span.end.saturating_sub(span.start))?;
            let mut reader = ParquetMetaDataReader::new_with_metadata(meta)
                .with_offset_index_policy(parquet::file::metadata::PageIndexPolicy::Optional);
            reader.read_page_indexes(&input).map_err(perr)?;
            meta = reader.finish().map_err(perr)?;
        }
    }
    let (source, meta, schema) = bounded_source(input, meta, budget)?;
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(source, meta)
        .with_batch_size(limit)
        .with_row_groups(groups)
        .with_offset(usize::try_from(skip_in_group).unwrap_or(usize::MAX))
        .with_limit(limit)
        .build()
        .map_err(perr)?;
    let mut batches = Vec::new();
    let mut rows = 0;
    for b in reader {
        let b = b.map_err(|e| InferError::Parquet(e.to_string()))?;
        rows += b.num_rows();
        batches.push(b);
        if rows >= limit {
            break;
        }
    }
    Preview::from_batches(&schema, &batches, limit)
}

/// Reads and checks a parquet file's footer (its bytes charged to `budget` first).
pub(crate) fn read_footer<R: ChunkReader>(input: &R, budget: &Budget) -> Result<ParquetMetaData, InferError> {
    let perr = |e: parquet::errors::ParquetError| InferError::Parquet(e.to_string());
    let len = input.len();
    if len < (PARQUET_TAIL as u64) + 4 {
        return Err(InferError::Parquet("file is too small".into()));
    }
    let tail = input.get_bytes(len - PARQUET_TAIL as u64, PARQUET_TAIL).map_err(perr)?;
    let tail: [u8; PARQUET_TAIL] = tail
        .as_ref()
        .try_into()
        .map_err(|_| InferError::Parquet("short read".into()))?;
    let meta_len = parquet_metadata_len(&tail)? as u64;
    check_footer_len(meta_len, len)?;
    budget.charge(meta_len)?;
    let footer = input
        .get_bytes(len - PARQUET_TAIL as u64 - meta_len, meta_len as usize)
        .map_err(perr)?;
    check_parquet_footer(&footer)?;
    ParquetMetaDataReader::decode_metadata(&footer).map_err(perr)
}

/// `input` (whose checked footer is `meta`) as a source read through [`Bounded`], the
/// reader metadata for pyarrow's types where arrow-rs can read them, and the schema the
/// batches are shown with. Source and metadata are cheap to clone (a reader per row group).
pub(crate) fn bounded_source<R: ChunkReader + 'static>(
    input: R,
    meta: ParquetMetaData,
    budget: Arc<Budget>,
) -> Result<(Bounded<R>, ArrowReaderMetadata, SchemaRef), InferError> {
    let perr = |e: parquet::errors::ParquetError| InferError::Parquet(e.to_string());
    let mut chunks = Vec::new();
    for rg in meta.row_groups() {
        for c in rg.columns() {
            let (start, n) = c.byte_range();
            chunks.push((start, start.saturating_add(n), c.compression()));
        }
    }
    // Read with pyarrow's types, so values show as pyarrow reads them (a zone arrow-rs does
    // not restore, a dictionary pyarrow decodes); where arrow-rs cannot, with its own.
    let meta = Arc::new(meta);
    let fm = meta.file_metadata();
    let pyarrow = crate::parquet_types::pyarrow_schema(fm.schema_descr(), fm.key_value_metadata()).map_err(perr)?;
    let wanted = ArrowReaderOptions::new().with_schema(Arc::new(crate::parquet_types::reader_schema(&pyarrow)));
    let meta = ArrowReaderMetadata::try_new(meta.clone(), wanted)
        .or_else(|_| ArrowReaderMetadata::try_new(meta.clone(), ArrowReaderOptions::new()))
        .or_else(|_| ArrowReaderMetadata::try_new(meta, ArrowReaderOptions::new().with_skip_arrow_metadata(true)))
        .map_err(perr)?;
    let schema: SchemaRef = Arc::new(pyarrow);
    let source = Bounded {
        inner: Arc::new(input),
        budget,
        chunks: Arc::new(chunks),
        pages: Arc::default(),
    };
    Ok((source, meta, schema))
}

/// A [`ChunkReader`] that reads each page header before parquet does and charges the
/// page to the budget, and checks what zstd/gzip/lz4-frame page bodies expand to.
pub(crate) struct Bounded<R> {
    inner: Arc<R>,
    budget: Arc<Budget>,
    /// Byte range and codec of every column chunk.
    chunks: Arc<Vec<(u64, u64, Compression)>>,
    /// Headers read, by the offset of the page body that follows them.
    pages: Arc<Mutex<HashMap<u64, crate::PageInfo>>>,
}

impl<R> Clone for Bounded<R> {
    fn clone(&self) -> Self {
        Bounded {
            inner: self.inner.clone(),
            budget: self.budget.clone(),
            chunks: self.chunks.clone(),
            pages: self.pages.clone(),
        }
    }
}

fn to_parquet(e: InferError) -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::External(Box::new(e))
}

impl<R: ChunkReader> Length for Bounded<R> {
    fn len(&self) -> u64 {
        self.inner.len()
    }
}

impl<R: ChunkReader> Bounded<R> {
    fn codec_at(&self, offset: u64) -> Option<Unbounded> {
        let (_, _, c) = self.chunks.iter().find(|(s, e, _)| (*s..*e).contains(&offset))?;
        match c {
            Compression::ZSTD(_) => Some(Unbounded::Zstd),
            Compression::GZIP(_) => Some(Unbounded::Gzip),
            Compression::LZ4 => Some(Unbounded::Lz4Frame),
            _ => None,
        }
    }
}

impl<R: ChunkReader> ChunkReader for Bounded<R> {
    type T = std::io::Chain<Cursor<Vec<u8>>, R::T>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        self.budget.check().map_err(to_parquet)?;
        let mut r = self.inner.get_read(start)?;
        // parquet opens a reader at a page's body too, once it has peeked at the header
        // (skipping rows): that header is already read and charged.
        if self.pages.lock().expect("not poisoned").contains_key(&start) {
            return Ok(Cursor::new(Vec::new()).chain(r));
        }
        let mut head = Vec::new();
        loop {
            let want = (head.len() * 2).clamp(256, MAX_PAGE_HEADER);
            let got = (&mut r).take((want - head.len()) as u64).read_to_end(&mut head)?;
            match parse_page_header(&head).map_err(to_parquet)? {
                Some(info) => {
                    // Charged when the page's body is fetched: a page skipped whole (rows
                    // before an offset) costs only its header.
                    self.budget.charge(info.header_len as u64).map_err(to_parquet)?;
                    self.pages
                        .lock()
                        .expect("not poisoned")
                        .insert(start + info.header_len as u64, info);
                    break;
                }
                None if got == 0 || head.len() >= MAX_PAGE_HEADER => break, // parquet reports it
                None => {}
            }
        }
        Ok(Cursor::new(head).chain(r))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.budget.check().map_err(to_parquet)?;
        let bytes = self.inner.get_bytes(start, length)?;
        let page = self.pages.lock().expect("not poisoned").remove(&start);
        // Read through the offset index, a page comes whole (header and body) from here:
        // its header is read and charged as `get_read` does.
        let charge = |info: &crate::PageInfo| {
            let n = info
                .compressed_size
                .saturating_add(info.uncompressed_size)
                .saturating_add(info.num_values.saturating_mul(BYTES_PER_VALUE));
            self.budget.charge(n).map_err(to_parquet)
        };
        let (page, body) = match page {
            Some(info) => {
                charge(&info)?;
                (Some(info), 0)
            }
            None => match parse_page_header(&bytes) {
                Ok(Some(info)) if info.header_len < bytes.len() => {
                    charge(&info)?;
                    let at = info.header_len;
                    (Some(info), at)
                }
                _ => (None, 0),
            },
        };
        if let (Some(info), Some(codec)) = (page, self.codec_at(start)) {
            let bytes = &bytes[body..];
            let levels = (info.levels_len as usize).min(bytes.len());
            if info.compressed && info.uncompressed_size > info.levels_len {
                decompressed_len(codec, &bytes[levels..], info.uncompressed_size - info.levels_len)
                    .map_err(to_parquet)?;
            }
        }
        Ok(bytes)
    }
}

/// The first `limit` rows of a csv file, each cell shown by its column's type in `columns`
/// (the file's published schema; without it every cell is text). Reading stops after
/// those rows. A byte order mark is dropped, blank lines are not rows, invalid UTF-8 is
/// shown with replacement characters.
fn preview_csv<R: Read>(
    reader: R,
    skip: u64,
    limit: usize,
    columns: Option<&[(String, String)]>,
) -> Result<Preview, InferError> {
    let cerr = |e: csv::Error| match e.into_kind() {
        csv::ErrorKind::Io(io) => InferError::Io(io),
        other => InferError::Csv(format!("{other:?}")),
    };
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    if reader.fill_buf()?.starts_with(b"\xef\xbb\xbf") {
        reader.consume(3);
    }
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(reader);
    let header: Vec<String> = csv
        .byte_headers()
        .map_err(cerr)?
        .iter()
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .collect();
    let kinds: Vec<Option<&str>> = header
        .iter()
        .enumerate()
        .map(|(i, name)| {
            columns
                .and_then(|c| c.get(i))
                .filter(|(n, _)| n == name)
                .map(|(_, t)| t.as_str())
        })
        .collect();
    let types: Vec<Option<arrow_schema::DataType>> =
        kinds.iter().map(|k| k.and_then(crate::rendition::parse_type)).collect();
    let mut rows = Vec::new();
    let mut record = csv::ByteRecord::new();
    for _ in 0..skip {
        if !csv.read_byte_record(&mut record).map_err(cerr)? {
            break;
        }
    }
    while rows.len() < limit && csv.read_byte_record(&mut record).map_err(cerr)? {
        let mut row = Map::new();
        for (i, name) in header.iter().enumerate() {
            let mut v = record.get(i).map_or(Value::Null, |cell| {
                crate::csv_types::preview_cell(cell, types[i].as_ref())
            });
            shorten(&mut v);
            row.insert(name.clone(), v);
        }
        rows.push(row);
    }
    let columns = header
        .iter()
        .zip(&kinds)
        .map(|(n, k)| (n.clone(), k.unwrap_or("string").to_string()))
        .collect();
    Ok(Preview { columns, rows })
}

/// Rows from JSON objects: with the file's published `columns`, each object's values under
/// those columns as they are (a key the first rows lack is still a column); without them,
/// typed by arrow's inference over these rows.
fn objects_preview(
    values: Vec<Value>,
    limit: usize,
    columns: Option<&[(String, String)]>,
) -> Result<Preview, InferError> {
    if let Some(columns) = columns {
        let rows = values
            .into_iter()
            .take(limit)
            .map(|v| {
                columns
                    .iter()
                    .map(|(name, _)| {
                        let mut cell = v.get(name).cloned().unwrap_or(Value::Null);
                        shorten(&mut cell);
                        (name.clone(), cell)
                    })
                    .collect()
            })
            .collect();
        return Ok(Preview {
            columns: columns.to_vec(),
            rows,
        });
    }
    let jerr = |e: arrow_schema::ArrowError| InferError::Json(e.to_string());
    let schema = Arc::new(arrow_json::reader::infer_json_schema_from_iterator(values.iter().map(Ok)).map_err(jerr)?);
    let mut decoder = arrow_json::ReaderBuilder::new(schema.clone())
        .with_batch_size(limit.max(1))
        .build_decoder()
        .map_err(jerr)?;
    decoder.serialize(&values).map_err(jerr)?;
    let batches: Vec<RecordBatch> = decoder.flush().map_err(jerr)?.into_iter().collect();
    Preview::from_batches(&schema, &batches, limit)
}

fn preview_jsonl<R: BufRead>(
    reader: R,
    mut skip: u64,
    limit: usize,
    columns: Option<&[(String, String)]>,
) -> Result<Preview, InferError> {
    let mut values = Vec::with_capacity(limit);
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        // A line may hold several records (pyarrow reads them all).
        for v in serde_json::Deserializer::from_slice(&line).into_iter::<Value>() {
            let v = v.map_err(|e| InferError::Json(format!("line {}: {e}", i + 1)))?;
            if !v.is_object() {
                return Err(InferError::Json(format!("line {}: expected a JSON object", i + 1)));
            }
            if skip > 0 {
                skip -= 1;
                continue;
            }
            values.push(v);
            if values.len() == limit {
                break;
            }
        }
        if values.len() == limit {
            break;
        }
    }
    objects_preview(values, limit, columns)
}

/// A top-level array of objects (read only as far as `limit` elements), or JSON lines.
fn preview_json<R: Read>(
    reader: R,
    skip: u64,
    limit: usize,
    columns: Option<&[(String, String)]>,
) -> Result<Preview, InferError> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut blank = false;
    let first = loop {
        let buf = reader.fill_buf()?;
        let Some(&b) = buf.first() else {
            if blank {
                return objects_preview(Vec::new(), limit, columns); // blank lines only
            }
            return Err(InferError::Json("file is empty".into()));
        };
        blank = true;
        if b.is_ascii_whitespace() {
            reader.consume(1);
        } else {
            break b;
        }
    };
    if first != b'[' {
        return preview_jsonl(reader, skip, limit, columns);
    }
    let mut values = Vec::with_capacity(limit);
    let mut de = serde_json::Deserializer::from_reader(reader);
    let read = serde::Deserializer::deserialize_seq(
        &mut de,
        FirstElements {
            out: &mut values,
            skip,
            limit,
        },
    );
    // Stopping early is reported as an error by the deserializer; what was read is kept.
    if values.len() < limit {
        read.map_err(|e| InferError::Json(e.to_string()))?;
    }
    if values.iter().any(|v| !v.is_object()) {
        return Err(InferError::Json("expected an array of objects".into()));
    }
    objects_preview(values, limit, columns)
}

/// Collects the first `limit` elements of an array, then stops reading.
struct FirstElements<'a> {
    out: &'a mut Vec<Value>,
    /// Elements read past first (checked to be objects, not kept).
    skip: u64,
    limit: usize,
}

impl<'de> serde::de::Visitor<'de> for FirstElements<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of objects")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for _ in 0..self.skip {
            match seq.next_element::<SkippedObject>()? {
                Some(SkippedObject) => {}
                None => return Ok(()),
            }
        }
        while self.out.len() < self.limit {
            match seq.next_element::<Value>()? {
                Some(v) => self.out.push(v),
                None => return Ok(()),
            }
        }
        Err(serde::de::Error::custom("enough rows"))
    }
}

/// An array element read past: must be an object, its contents are not kept.
struct SkippedObject;

impl<'de> serde::Deserialize<'de> for SkippedObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = SkippedObject;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of objects")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<SkippedObject, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(SkippedObject)
            }
        }
        d.deserialize_map(V)
    }
}

fn preview_ipc<R: Read>(reader: R, skip: u64, limit: usize, budget: &Budget) -> Result<Preview, InferError> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut head = [0u8; 8];
    let n = read_full(&mut reader, &mut head)?;
    // The file format is the stream format behind an 8-byte magic (and a footer, not needed).
    let pending = if n >= 6 && &head[..6] == IPC_MAGIC {
        // Writers pad the magic with zeros to their alignment; the first message follows.
        let word = loop {
            let mut word = [0u8; 4];
            let got = read_full(&mut reader, &mut word)?;
            if got < 4 || word != [0; 4] {
                break word[..got].to_vec();
            }
        };
        match <[u8; 4]>::try_from(word.as_slice()) {
            Ok(first) if first != [0xff; 4] => bare_schema(&mut reader, first)?,
            _ => word,
        }
    } else if n >= 4 && &head[..4] == b"FEA1" {
        return Err(InferError::Arrow(
            "feather v1 files are not supported; write feather v2 (arrow IPC)".into(),
        ));
    } else {
        head[..n].to_vec()
    };
    let aerr = |e: arrow_schema::ArrowError| InferError::Arrow(e.to_string());
    let mut reader = Cursor::new(pending).chain(reader);
    let mut decoder = arrow_ipc::reader::StreamDecoder::new();
    let mut dict_ids = Vec::new();
    let mut batches = Vec::new();
    let mut rows = 0;
    // Rows still to pass over before the first one kept.
    let mut skip = skip;
    let mut feed = |message: Vec<u8>, rows: &mut usize| -> Result<(), InferError> {
        let mut buffer = arrow_buffer::Buffer::from_vec(message);
        while !buffer.is_empty() {
            if let Some(b) = decoder.decode(&mut buffer).map_err(aerr)? {
                let n = b.num_rows() as u64;
                if skip >= n {
                    skip -= n;
                    continue;
                }
                let b = b.slice(skip as usize, (n - skip) as usize);
                skip = 0;
                *rows += b.num_rows();
                batches.push(b);
            }
        }
        Ok(())
    };
    // A file may hold a record batch before the dictionaries it uses (polars writes them
    // so; file readers find dictionaries through the footer): such batches wait, in the
    // budget, until every dictionary of the schema has passed.
    let mut waiting: Vec<Vec<u8>> = Vec::new();
    let mut dictionaries = 0usize;
    while rows < limit {
        let Some((message, header)) = next_ipc_message(&mut reader, budget, &mut dict_ids)? else {
            break;
        };
        match header {
            arrow_ipc::MessageHeader::DictionaryBatch => dictionaries += 1,
            arrow_ipc::MessageHeader::RecordBatch if dictionaries < dict_ids.len() => {
                waiting.push(message);
                continue;
            }
            _ => {}
        }
        feed(message, &mut rows)?;
        if dictionaries >= dict_ids.len() {
            for m in std::mem::take(&mut waiting) {
                feed(m, &mut rows)?;
            }
        }
    }
    for m in waiting {
        feed(m, &mut rows)?;
    }
    // The decoder handles a message once bytes after it arrive: the end-of-stream marker
    // completes a schema message that no batch follows, or a last batch without a body (a
    // table of null columns).
    if rows < limit {
        let mut end = arrow_buffer::Buffer::from_vec(vec![0xffu8, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        if let Some(b) = decoder.decode(&mut end).map_err(aerr)? {
            let n = b.num_rows() as u64;
            if skip < n {
                batches.push(b.slice(skip as usize, (n - skip) as usize));
            }
        }
    }
    let schema = decoder
        .schema()
        .ok_or_else(|| InferError::Arrow("no schema message".into()))?;
    Preview::from_batches(&schema, &batches, limit)
}

/// A bare schema flatbuffer after an IPC file's magic (see [`skip_bare_schema`]) framed as
/// a message, then the continuation marker and length of the message after it, for the
/// stream decoder. `first` is the bare flatbuffer's first word.
fn bare_schema<R: Read>(reader: &mut R, first: [u8; 4]) -> Result<Vec<u8>, InferError> {
    let (bare, next) = skip_bare_schema(reader, first)?;
    let len = i32::try_from(bare.len()).map_err(|_| InferError::Arrow("schema too large".into()))?;
    let mut out = Vec::with_capacity(16 + bare.len());
    out.extend_from_slice(&[0xff; 4]);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&bare);
    if let Some(next) = next {
        out.extend_from_slice(&[0xff; 4]);
        out.extend_from_slice(&next.to_le_bytes());
    }
    Ok(out)
}

/// Reads one IPC message (continuation, length, flatbuffer header, body) and returns its
/// bytes and header type, or `None` at the end of the stream. The body's length, and for compressed
/// record and dictionary batches what every buffer expands to, are checked against
/// `budget` before the body is allocated or handed to arrow, whose decoder sizes its
/// output from the buffer's 8-byte length prefix (Arrow columnar format, "Compression").
/// `dict_ids` holds the schema's dictionary ids in field order, once the schema has passed:
/// arrow-rs numbers a schema's dictionaries 0, 1, … in that order whatever ids the writer
/// gave them (polars gives others), so a dictionary batch's id is rewritten to its
/// position there before the decoder sees it.
fn next_ipc_message<R: Read>(
    reader: &mut R,
    budget: &Budget,
    dict_ids: &mut Vec<i64>,
) -> Result<Option<(Vec<u8>, arrow_ipc::MessageHeader)>, InferError> {
    let ipc_err = |m: &str| InferError::Arrow(m.to_string());
    let mut word = [0u8; 4];
    if read_full(reader, &mut word)? < 4 {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(8);
    out.extend_from_slice(&word);
    let mut len = i32::from_le_bytes(word);
    if len == -1 {
        if read_full(reader, &mut word)? < 4 {
            return Err(ipc_err("truncated message header"));
        }
        out.extend_from_slice(&word);
        len = i32::from_le_bytes(word);
    }
    if len == 0 {
        return Ok(None);
    }
    if !(0..=(64 << 20)).contains(&len) {
        return Err(ipc_err("invalid message length"));
    }
    let start = out.len();
    out.resize(start + len as usize, 0);
    reader
        .read_exact(&mut out[start..])
        .map_err(|_| ipc_err("truncated message"))?;
    let msg = arrow_ipc::root_as_message(&out[start..]).map_err(|e| InferError::Arrow(e.to_string()))?;
    let header = msg.header_type();
    let body_len = u64::try_from(msg.bodyLength()).map_err(|_| ipc_err("negative body length"))?;
    if body_len > budget.remaining() {
        return Err(InferError::Limit(format!(
            "a record batch holds {} MiB; at most {} MiB is decoded",
            body_len >> 20,
            budget.max_bytes() >> 20
        )));
    }
    let batch = msg
        .header_as_record_batch()
        .or_else(|| msg.header_as_dictionary_batch().and_then(|d| d.data()));
    let checks: Vec<(u64, u64)> = match &batch {
        Some(b) if b.compression().is_some() => b
            .buffers()
            .map(|bufs| bufs.iter().map(|x| (x.offset() as u64, x.length() as u64)).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let codec = match batch.and_then(|b| b.compression()).map(|c| c.codec()) {
        Some(arrow_ipc::CompressionType::ZSTD) => Some(Unbounded::Zstd),
        Some(_) => Some(Unbounded::Lz4Frame),
        None => None,
    };
    if let Some(schema) = msg.header_as_schema() {
        fn collect(f: arrow_ipc::Field<'_>, ids: &mut Vec<i64>) {
            if let Some(d) = f.dictionary() {
                ids.push(d.id());
            }
            for child in f.children().into_iter().flatten() {
                collect(child, ids);
            }
        }
        dict_ids.clear();
        for f in schema.fields().into_iter().flatten() {
            collect(f, dict_ids);
        }
    }
    let renumber = msg.header_as_dictionary_batch().and_then(|d| {
        let position = dict_ids.iter().position(|id| *id == d.id())? as i64;
        let slot = d._tab.vtable().get(arrow_ipc::DictionaryBatch::VT_ID) as usize;
        (position != d.id() && slot != 0).then(|| (d._tab.loc() + slot, position))
    });
    if let Some((at, id)) = renumber {
        out[start + at..start + at + 8].copy_from_slice(&id.to_le_bytes());
    }
    let body_start = out.len();
    out.resize(body_start + body_len as usize, 0);
    reader
        .read_exact(&mut out[body_start..])
        .map_err(|_| ipc_err("truncated message body"))?;
    if let Some(codec) = codec {
        let body = &out[body_start..];
        for (offset, length) in checks {
            let end = offset.checked_add(length).filter(|e| *e <= body_len);
            let Some(end) = end else {
                return Err(ipc_err("a buffer lies outside its message body"));
            };
            if length < 8 {
                continue;
            }
            let buf = &body[offset as usize..end as usize];
            let declared = i64::from_le_bytes(buf[..8].try_into().expect("8 bytes"));
            if declared == -1 || declared == 0 {
                continue; // stored uncompressed, or empty
            }
            let declared = u64::try_from(declared).map_err(|_| ipc_err("negative buffer length"))?;
            budget.charge(declared)?;
            decompressed_len(codec, &buf[8..], declared)?;
        }
    }
    Ok(Some((out, header)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_read_from_milliseconds_show_as_seconds() {
        let columns: Vec<(String, String)> = [
            ("t", "time32[s]"),
            ("ts", "timestamp[s, tz=UTC]"),
            ("ms", "timestamp[ms]"),
            ("s", "timestamp[s]"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .to_vec();
        let mut row: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "t": "12:30:00.000", "ts": "2020-01-01T00:00:00.000+00:00", "ms": "2020-01-01T00:00:00.000",
            "s": "2020-01-01T00:00:00"
        }))
        .unwrap();
        conform_row(&mut row, &columns);
        assert_eq!(
            Value::Object(row),
            serde_json::json!({"t": "12:30:00", "ts": "2020-01-01T00:00:00+00:00", "ms": "2020-01-01T00:00:00.000", "s": "2020-01-01T00:00:00"})
        );
    }
}
