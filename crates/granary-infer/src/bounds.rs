//! Limits that hold before any decoder allocates: a per-request [`Budget`] of bytes and
//! time (with cancellation), a walker that checks the thrift compact encoding of parquet
//! footers and page headers against the bytes that are really there (and against the types
//! parquet-format declares, which is how the parquet crate reads them), and a bounded check
//! of what a compressed buffer expands to.
//!
//! The decoders this crate calls (parquet, arrow IPC) size their buffers from lengths in
//! the file. A footer whose schema list claims 2^31−1 elements, a page that claims (or
//! holds) a gigabyte of zstd-compressed zeros, or an IPC buffer whose length prefix says
//! 2^40 bytes would each allocate before anything is checked; this module rejects them
//! first.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::InferError;

/// Largest parquet footer (thrift `FileMetaData`) read, in bytes.
pub const MAX_FOOTER_BYTES: u64 = 64 << 20;
/// Deepest nesting of thrift structs and lists accepted; parquet's own structures nest
/// fewer than 12 levels.
pub const MAX_THRIFT_DEPTH: usize = 32;
/// Deepest nesting of a parquet schema (groups in groups) accepted.
pub const MAX_SCHEMA_DEPTH: usize = 64;

/// What one preview (or one inference) may spend: `max_bytes` of bytes read plus bytes
/// decompressed, a wall-clock deadline, and a cancellation flag that the caller sets when
/// its client goes away. Shared between threads (`Arc<Budget>`); every check is a few
/// atomic loads.
#[derive(Debug)]
pub struct Budget {
    max_bytes: u64,
    used: AtomicU64,
    deadline: Option<Instant>,
    cancelled: AtomicBool,
}

impl Default for Budget {
    /// 256 MiB and no deadline: for local files and tests.
    fn default() -> Self {
        Budget::new(256 << 20, None)
    }
}

impl Budget {
    /// A budget of `max_bytes` (read + decompressed) that runs out after `time`, if given.
    pub fn new(max_bytes: u64, time: Option<Duration>) -> Self {
        Budget {
            max_bytes,
            used: AtomicU64::new(0),
            deadline: time.map(|t| Instant::now() + t),
            cancelled: AtomicBool::new(false),
        }
    }

    /// The byte limit this budget was made with.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Time until the deadline (zero once passed); `None` without one.
    pub fn time_left(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Bytes spent so far.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Bytes still available.
    pub fn remaining(&self) -> u64 {
        self.max_bytes.saturating_sub(self.used())
    }

    /// Stops all further work charged to this budget: the next [`check`](Self::check)
    /// fails with [`InferError::Cancelled`].
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Fails when the work was cancelled or the deadline passed.
    pub fn check(&self) -> Result<(), InferError> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(InferError::Cancelled);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(InferError::Limit("it took longer than the time allowed".into()));
        }
        Ok(())
    }

    /// Spends `n` bytes; fails (without spending) when that would pass the limit, or when
    /// [`check`](Self::check) fails.
    pub fn charge(&self, n: u64) -> Result<(), InferError> {
        self.check()?;
        let before = self.used.fetch_add(n, Ordering::Relaxed);
        if before.saturating_add(n) > self.max_bytes {
            self.used.fetch_sub(n, Ordering::Relaxed);
            return Err(self.exceeded());
        }
        Ok(())
    }

    fn exceeded(&self) -> InferError {
        InferError::Limit(format!(
            "it needs more than {} MiB of data to decode",
            self.max_bytes >> 20
        ))
    }
}

/// A `Read` that charges every byte it passes to a [`Budget`], so a stream (a jsonl file
/// with a 200 MB line, a csv with one huge field) stops at the budget and on cancellation.
pub struct BudgetReader<'a, R> {
    inner: R,
    budget: &'a Budget,
}

impl<'a, R> BudgetReader<'a, R> {
    pub fn new(inner: R, budget: &'a Budget) -> Self {
        BudgetReader { inner, budget }
    }
}

impl<R: std::io::Read> std::io::Read for BudgetReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.budget.charge(n as u64).map_err(std::io::Error::other)?;
        Ok(n)
    }
}

/// Turns an io error that carries an [`InferError`] raised by a [`BudgetReader`] back into
/// that error; other io errors stay `Io`.
pub(crate) fn unwrap_io(e: std::io::Error) -> InferError {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<InferError>()) {
        Some(InferError::Cancelled) => InferError::Cancelled,
        Some(InferError::Limit(m)) => InferError::Limit(m.clone()),
        _ => InferError::Io(e),
    }
}

// ---------------------------------------------------------------------------------------
// Thrift compact protocol
// ---------------------------------------------------------------------------------------

/// A value the walker reports, with the path of field ids that leads to it (list elements
/// add nothing to the path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Int(i64),
    Bool(bool),
    StructEnd,
}

const T_STOP: u8 = 0;
const T_TRUE: u8 = 1;
const T_FALSE: u8 = 2;
const T_BYTE: u8 = 3;
const T_I16: u8 = 4;
const T_I32: u8 = 5;
const T_I64: u8 = 6;
const T_DOUBLE: u8 = 7;
const T_BINARY: u8 = 8;
const T_LIST: u8 = 9;
const T_SET: u8 = 10;
const T_MAP: u8 = 11;
const T_STRUCT: u8 = 12;
const T_UUID: u8 = 13;

/// The fewest bytes one element of a list of `ty` takes.
fn min_size(ty: u8) -> usize {
    match ty {
        T_DOUBLE => 8,
        T_UUID => 16,
        _ => 1,
    }
}

/// A field's type as parquet-format declares it. The parquet crate decodes the fields it
/// knows by their id, reading each as declared whatever type its bytes claim, so a field
/// whose compact type differs is read one way here and another way there; the walker
/// refuses it.
#[derive(Debug, Clone, Copy)]
enum Decl {
    Bool,
    Byte,
    /// i16, i32, i64 and enums: the same zigzag varint on the wire.
    Int,
    Double,
    Binary,
    List(&'static Decl),
    Struct(Fields),
}

/// The fields of a struct (or union) that the parquet crate decodes, by id.
type Fields = &'static [(i16, Decl)];

impl Decl {
    /// Whether a value of compact type `ty` has the encoding this declaration reads.
    fn accepts(self, ty: u8) -> bool {
        match self {
            Decl::Bool => ty == T_TRUE || ty == T_FALSE,
            Decl::Byte => ty == T_BYTE,
            Decl::Int => matches!(ty, T_I16 | T_I32 | T_I64),
            Decl::Double => ty == T_DOUBLE,
            Decl::Binary => ty == T_BINARY,
            Decl::List(_) => ty == T_LIST,
            Decl::Struct(_) => ty == T_STRUCT,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Decl::Bool => "bool",
            Decl::Byte => "byte",
            Decl::Int => "integer",
            Decl::Double => "double",
            Decl::Binary => "binary",
            Decl::List(_) => "list",
            Decl::Struct(_) => "struct",
        }
    }
}

fn article(name: &str) -> &'static str {
    if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn type_name(ty: u8) -> &'static str {
    match ty {
        T_TRUE | T_FALSE => "bool",
        T_BYTE => "byte",
        T_I16 | T_I32 | T_I64 => "integer",
        T_DOUBLE => "double",
        T_BINARY => "binary",
        T_LIST => "list",
        T_SET => "set",
        T_MAP => "map",
        T_STRUCT => "struct",
        T_UUID => "uuid",
        _ => "unknown type",
    }
}

// The structs of parquet-format (parquet.thrift) that the parquet crate's footer and page
// header decoders read, with the fields they read. Fields left out are skipped by their
// compact type, as the walker skips them.
const EMPTY: Fields = &[];
const STATISTICS: Fields = &[
    (1, Decl::Binary),
    (2, Decl::Binary),
    (3, Decl::Int),
    (4, Decl::Int),
    (5, Decl::Binary),
    (6, Decl::Binary),
    (7, Decl::Bool),
    (8, Decl::Bool),
];
const TIME_UNIT: Fields = &[
    (1, Decl::Struct(EMPTY)),
    (2, Decl::Struct(EMPTY)),
    (3, Decl::Struct(EMPTY)),
];
const TIME_TYPE: Fields = &[(1, Decl::Bool), (2, Decl::Struct(TIME_UNIT))];
const LOGICAL_TYPE: Fields = &[
    (1, Decl::Struct(EMPTY)),
    (2, Decl::Struct(EMPTY)),
    (3, Decl::Struct(EMPTY)),
    (4, Decl::Struct(EMPTY)),
    (5, Decl::Struct(&[(1, Decl::Int), (2, Decl::Int)])),
    (6, Decl::Struct(EMPTY)),
    (7, Decl::Struct(TIME_TYPE)),
    (8, Decl::Struct(TIME_TYPE)),
    (10, Decl::Struct(&[(1, Decl::Byte), (2, Decl::Bool)])),
    (11, Decl::Struct(EMPTY)),
    (12, Decl::Struct(EMPTY)),
    (13, Decl::Struct(EMPTY)),
    (14, Decl::Struct(EMPTY)),
    (15, Decl::Struct(EMPTY)),
    (16, Decl::Struct(&[(1, Decl::Byte)])),
    (17, Decl::Struct(&[(1, Decl::Binary)])),
    (18, Decl::Struct(&[(1, Decl::Binary), (2, Decl::Int)])),
];
const SCHEMA_ELEMENT: Fields = &[
    (1, Decl::Int),
    (2, Decl::Int),
    (3, Decl::Int),
    (4, Decl::Binary),
    (5, Decl::Int),
    (6, Decl::Int),
    (7, Decl::Int),
    (8, Decl::Int),
    (9, Decl::Int),
    (10, Decl::Struct(LOGICAL_TYPE)),
];
const COLUMN_META_DATA: Fields = &[
    (1, Decl::Int),
    (2, Decl::List(&Decl::Int)),
    (4, Decl::Int),
    (5, Decl::Int),
    (6, Decl::Int),
    (7, Decl::Int),
    (9, Decl::Int),
    (10, Decl::Int),
    (11, Decl::Int),
    (12, Decl::Struct(STATISTICS)),
    (
        13,
        Decl::List(&Decl::Struct(&[(1, Decl::Int), (2, Decl::Int), (3, Decl::Int)])),
    ),
    (14, Decl::Int),
    (15, Decl::Int),
    (
        16,
        Decl::Struct(&[(1, Decl::Int), (2, Decl::List(&Decl::Int)), (3, Decl::List(&Decl::Int))]),
    ),
    (
        17,
        Decl::Struct(&[
            (
                1,
                Decl::Struct(&[
                    (1, Decl::Double),
                    (2, Decl::Double),
                    (3, Decl::Double),
                    (4, Decl::Double),
                    (5, Decl::Double),
                    (6, Decl::Double),
                    (7, Decl::Double),
                    (8, Decl::Double),
                ]),
            ),
            (2, Decl::List(&Decl::Int)),
        ]),
    ),
];
const COLUMN_CHUNK: Fields = &[
    (1, Decl::Binary),
    (2, Decl::Int),
    (3, Decl::Struct(COLUMN_META_DATA)),
    (4, Decl::Int),
    (5, Decl::Int),
    (6, Decl::Int),
    (7, Decl::Int),
];
const ROW_GROUP: Fields = &[
    (1, Decl::List(&Decl::Struct(COLUMN_CHUNK))),
    (2, Decl::Int),
    (3, Decl::Int),
    (
        4,
        Decl::List(&Decl::Struct(&[(1, Decl::Int), (2, Decl::Bool), (3, Decl::Bool)])),
    ),
    (5, Decl::Int),
    (7, Decl::Int),
];
/// `FileMetaData`, the footer.
const FILE_META_DATA: Fields = &[
    (1, Decl::Int),
    (2, Decl::List(&Decl::Struct(SCHEMA_ELEMENT))),
    (3, Decl::Int),
    (4, Decl::List(&Decl::Struct(ROW_GROUP))),
    (5, Decl::List(&Decl::Struct(&[(1, Decl::Binary), (2, Decl::Binary)]))),
    (6, Decl::Binary),
    (7, Decl::List(&Decl::Struct(&[(1, Decl::Struct(EMPTY))]))),
];
const DATA_PAGE_HEADER: Fields = &[
    (1, Decl::Int),
    (2, Decl::Int),
    (3, Decl::Int),
    (4, Decl::Int),
    (5, Decl::Struct(STATISTICS)),
];
const DATA_PAGE_HEADER_V2: Fields = &[
    (1, Decl::Int),
    (2, Decl::Int),
    (3, Decl::Int),
    (4, Decl::Int),
    (5, Decl::Int),
    (6, Decl::Int),
    (7, Decl::Bool),
    (8, Decl::Struct(STATISTICS)),
];
/// `PageHeader`, before every page.
const PAGE_HEADER: Fields = &[
    (1, Decl::Int),
    (2, Decl::Int),
    (3, Decl::Int),
    (4, Decl::Int),
    (5, Decl::Struct(DATA_PAGE_HEADER)),
    (6, Decl::Struct(EMPTY)),
    (7, Decl::Struct(&[(1, Decl::Int), (2, Decl::Int), (3, Decl::Bool)])),
    (8, Decl::Struct(DATA_PAGE_HEADER_V2)),
];

struct Walker<'a, F> {
    buf: &'a [u8],
    pos: usize,
    path: Vec<i16>,
    on: F,
    /// Set when a length or a read went past the end of `buf`: with more bytes the same
    /// data might be whole (a page header read in pieces).
    short: bool,
}

type WalkResult<T> = Result<T, String>;

impl<'a, F: FnMut(&[i16], Event) -> WalkResult<()>> Walker<'a, F> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The field ids leading to the current field, e.g. `4.1.3`.
    fn path_text(&self) -> String {
        let ids: Vec<String> = self.path.iter().map(i16::to_string).collect();
        ids.join(".")
    }

    fn byte(&mut self) -> WalkResult<u8> {
        let Some(&b) = self.buf.get(self.pos) else {
            self.short = true;
            return Err("thrift data ends early".into());
        };
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> WalkResult<u64> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return Err("thrift varint overflows 64 bits".into());
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("thrift varint is too long".into())
    }

    fn zigzag(&mut self) -> WalkResult<i64> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn skip(&mut self, n: usize) -> WalkResult<()> {
        if n > self.remaining() {
            self.short = true;
            return Err(format!(
                "thrift data claims {n} bytes where {} remain",
                self.remaining()
            ));
        }
        self.pos += n;
        Ok(())
    }

    /// A list or set header: (element count, element type), the count checked against the
    /// bytes that remain.
    fn list_header(&mut self) -> WalkResult<(usize, u8)> {
        let h = self.byte()?;
        let ty = h & 0x0f;
        let size = match h >> 4 {
            15 => self.varint()?,
            n => u64::from(n),
        };
        let room = (self.remaining() / min_size(ty)) as u64;
        if size > room {
            self.short = true;
            return Err(format!(
                "a thrift list claims {size} elements where {} bytes remain",
                self.remaining()
            ));
        }
        Ok((size as usize, ty))
    }

    /// A value of compact type `ty`, declared `decl` when the parquet crate decodes it
    /// (checked by the caller), `None` where it skips it.
    fn value(&mut self, ty: u8, decl: Option<Decl>, depth: usize) -> WalkResult<()> {
        if depth > MAX_THRIFT_DEPTH {
            return Err(format!("thrift data nests deeper than {MAX_THRIFT_DEPTH} levels"));
        }
        match ty {
            T_TRUE | T_FALSE => {
                // Inside a list a bool is a byte of its own; as a field it lives in the type.
                let b = self.byte()?;
                (self.on)(&self.path, Event::Bool(b == T_TRUE))?;
            }
            T_BYTE => {
                let b = self.byte()? as i8;
                (self.on)(&self.path, Event::Int(b.into()))?;
            }
            T_I16 | T_I32 | T_I64 => {
                let v = self.zigzag()?;
                (self.on)(&self.path, Event::Int(v))?;
            }
            T_DOUBLE => self.skip(8)?,
            T_UUID => self.skip(16)?,
            T_BINARY => {
                let n = self.varint()?;
                self.skip(usize::try_from(n).map_err(|_| "thrift binary length overflows")?)?;
            }
            T_LIST | T_SET => {
                let (n, elem) = self.list_header()?;
                if n == 0 {
                    return Ok(());
                }
                // The parquet crate skips a boolean list element as no bytes at all;
                // parquet-format has no list of booleans.
                if elem == T_TRUE || elem == T_FALSE {
                    return Err("a thrift list of booleans".into());
                }
                let elem_decl = match decl {
                    Some(Decl::List(e)) if !e.accepts(elem) => {
                        return Err(format!(
                            "field {} holds {} elements where parquet-format has {} elements",
                            self.path_text(),
                            type_name(elem),
                            e.name()
                        ))
                    }
                    Some(Decl::List(e)) => Some(*e),
                    _ => None,
                };
                for _ in 0..n {
                    self.value(elem, elem_decl, depth + 1)?;
                }
            }
            T_MAP => {
                let n = self.varint()?;
                if n > 0 {
                    let kv = self.byte()?;
                    if n > (self.remaining() / 2) as u64 {
                        self.short = true;
                        return Err(format!(
                            "a thrift map claims {n} entries where {} bytes remain",
                            self.remaining()
                        ));
                    }
                    for _ in 0..n {
                        self.value(kv >> 4, None, depth + 1)?;
                        self.value(kv & 0x0f, None, depth + 1)?;
                    }
                }
            }
            T_STRUCT => self.fields(
                match decl {
                    Some(Decl::Struct(fields)) => fields,
                    _ => EMPTY,
                },
                depth + 1,
            )?,
            other => return Err(format!("unknown thrift type {other}")),
        }
        Ok(())
    }

    /// The fields of a struct whose known fields are `known`.
    fn fields(&mut self, known: Fields, depth: usize) -> WalkResult<()> {
        if depth > MAX_THRIFT_DEPTH {
            return Err(format!("thrift data nests deeper than {MAX_THRIFT_DEPTH} levels"));
        }
        let mut last: i16 = 0;
        loop {
            let h = self.byte()?;
            let ty = h & 0x0f;
            if ty == T_STOP {
                (self.on)(&self.path, Event::StructEnd)?;
                return Ok(());
            }
            let id = match h >> 4 {
                0 => i16::try_from(self.zigzag()?).map_err(|_| "thrift field id overflows")?,
                d => last.checked_add(d as i16).ok_or("thrift field id overflows")?,
            };
            last = id;
            self.path.push(id);
            let decl = known.iter().find(|(k, _)| *k == id).map(|(_, d)| *d);
            if let Some(d) = decl.filter(|d| !d.accepts(ty)) {
                return Err(format!(
                    "field {} is {} {} where parquet-format has {} {}",
                    self.path_text(),
                    article(type_name(ty)),
                    type_name(ty),
                    article(d.name()),
                    d.name()
                ));
            }
            if ty == T_TRUE || ty == T_FALSE {
                (self.on)(&self.path, Event::Bool(ty == T_TRUE))?;
            } else {
                self.value(ty, decl, depth)?;
            }
            self.path.pop();
        }
    }
}

/// Walks one thrift struct at the start of `buf`, whose fields the parquet crate reads as
/// `known` declares them; returns how many bytes it took. On error, the flag says whether
/// the walk ran out of bytes (more of the stream might complete it).
fn walk_struct<F: FnMut(&[i16], Event) -> WalkResult<()>>(
    buf: &[u8],
    known: Fields,
    on: F,
) -> Result<usize, (String, bool)> {
    let mut w = Walker {
        buf,
        pos: 0,
        path: Vec::new(),
        on,
        short: false,
    };
    match w.fields(known, 0) {
        Ok(()) => Ok(w.pos),
        Err(m) => Err((m, w.short)),
    }
}

/// Checks a parquet footer (the thrift `FileMetaData`, without the 8-byte tail) before
/// the parquet crate decodes it: every field that crate reads has the type parquet-format
/// declares (it decodes fields by id, not by the type their bytes claim), every list and
/// string fits in the bytes that remain, nesting stays under [`MAX_THRIFT_DEPTH`], and
/// the schema's `num_children` form a tree
/// of the elements that are there, no deeper than [`MAX_SCHEMA_DEPTH`]
/// (parquet-format `FileMetaData.schema`: a depth-first list of `SchemaElement`).
pub fn check_parquet_footer(meta: &[u8]) -> Result<(), InferError> {
    let bad = |m: String| InferError::Parquet(format!("malformed footer: {m}"));
    if meta.len() as u64 > MAX_FOOTER_BYTES {
        return Err(InferError::Limit(format!(
            "its footer is {} MiB; at most {} MiB is read",
            meta.len() >> 20,
            MAX_FOOTER_BYTES >> 20
        )));
    }
    // num_children of each schema element, in order (None for leaves).
    let mut children: Vec<Option<i64>> = Vec::new();
    let mut current: Option<i64> = None;
    walk_struct(meta, FILE_META_DATA, |path, ev| {
        match (path, ev) {
            ([2, 5], Event::Int(n)) => current = Some(n),
            ([2], Event::StructEnd) => children.push(current.take()),
            _ => {}
        }
        Ok(())
    })
    .map_err(|(m, _)| bad(m))?;
    // Replay the depth-first list: a stack of how many children each open group still needs.
    let mut open: Vec<i64> = Vec::new();
    for (i, n) in children.iter().enumerate() {
        if i > 0 && open.is_empty() {
            return Err(bad(format!("schema element {i} is outside the root")));
        }
        if let Some(top) = open.last_mut() {
            *top -= 1;
        }
        match *n {
            Some(n) if n < 0 => return Err(bad(format!("schema element {i} has {n} children"))),
            Some(n) if n > (children.len() - i - 1) as i64 => {
                return Err(bad(format!(
                    "schema element {i} claims {n} children but only {} elements follow",
                    children.len() - i - 1
                )))
            }
            Some(n) if n > 0 || i == 0 => open.push(n),
            _ => {}
        }
        if open.len() > MAX_SCHEMA_DEPTH {
            return Err(InferError::Limit(format!(
                "its schema nests deeper than {MAX_SCHEMA_DEPTH} levels"
            )));
        }
        while open.last() == Some(&0) {
            open.pop();
        }
    }
    Ok(())
}

/// What a parquet page header says about the page that follows it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PageInfo {
    /// Length of the thrift header itself, in bytes.
    pub header_len: usize,
    /// Bytes of the page body as stored.
    pub compressed_size: u64,
    /// Bytes of the page body after decompression, as the header claims.
    pub uncompressed_size: u64,
    /// Values in the page (data and dictionary pages).
    pub num_values: u64,
    /// For data page v2: bytes of levels stored uncompressed before the compressed values.
    pub levels_len: u64,
    /// For data page v2: whether the values are compressed (default true).
    pub compressed: bool,
}

/// Reads a parquet `PageHeader` at the start of `buf`. `Ok(None)` when `buf` ends before
/// the header does (read more and try again); an error when it is malformed, a field
/// that the parquet crate reads having another type than parquet-format declares
/// included (so that the sizes read here are the sizes it will use).
pub fn parse_page_header(buf: &[u8]) -> Result<Option<PageInfo>, InferError> {
    let mut info = PageInfo {
        compressed: true,
        ..PageInfo::default()
    };
    let (mut def, mut rep) = (0i64, 0i64);
    let mut bad_size = None;
    let walked = walk_struct(buf, PAGE_HEADER, |path, ev| {
        match (path, ev) {
            ([2], Event::Int(n)) => {
                info.uncompressed_size = u64::try_from(n).unwrap_or_else(|_| {
                    bad_size = Some(n);
                    0
                })
            }
            ([3], Event::Int(n)) => {
                info.compressed_size = u64::try_from(n).unwrap_or_else(|_| {
                    bad_size = Some(n);
                    0
                })
            }
            ([5, 1] | [7, 1] | [8, 1], Event::Int(n)) => info.num_values = u64::try_from(n).unwrap_or(u64::MAX),
            ([8, 5], Event::Int(n)) => def = n,
            ([8, 6], Event::Int(n)) => rep = n,
            ([8, 7], Event::Bool(b)) => info.compressed = b,
            _ => {}
        }
        Ok(())
    });
    match walked {
        Ok(len) => info.header_len = len,
        Err((_, true)) => return Ok(None),
        Err((m, false)) => return Err(InferError::Parquet(format!("malformed page header: {m}"))),
    }
    if let Some(n) = bad_size {
        return Err(InferError::Parquet(format!("malformed page header: page size {n}")));
    }
    if def < 0 || rep < 0 {
        return Err(InferError::Parquet(
            "malformed page header: negative level length".into(),
        ));
    }
    info.levels_len = (def + rep) as u64;
    Ok(Some(info))
}

// ---------------------------------------------------------------------------------------
// Decompression
// ---------------------------------------------------------------------------------------

/// A compression codec whose decoder in the parquet or arrow crates grows its output with
/// whatever the compressed stream yields, not with the size the file declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unbounded {
    Zstd,
    Gzip,
    Lz4Frame,
}

/// Decompresses `input` into nothing, failing once it yields more than `max` bytes.
/// Returns how many bytes it yields. A stream the decoder cannot read is not judged here
/// (`Ok(None)`): the real decoder reports it.
pub fn decompressed_len(codec: Unbounded, input: &[u8], max: u64) -> Result<Option<u64>, InferError> {
    use std::io::Read;
    let reader: Box<dyn Read + '_> = match codec {
        Unbounded::Zstd => match zstd::stream::read::Decoder::with_buffer(input) {
            Ok(d) => Box::new(d),
            Err(_) => return Ok(None),
        },
        Unbounded::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Unbounded::Lz4Frame => Box::new(lz4_flex::frame::FrameDecoder::new(input)),
    };
    let mut counted = 0u64;
    let mut limited = reader.take(max.saturating_add(1));
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match limited.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => counted += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Ok(None),
        }
    }
    if counted > max {
        return Err(InferError::Limit(format!(
            "a compressed buffer expands to more than the {max} bytes allowed"
        )));
    }
    Ok(Some(counted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_longer_than_its_bytes_is_refused() {
        // FileMetaData { 2: list<struct> with 2^31-1 elements } and nothing after.
        let mut buf = vec![0x29, 0xfc];
        buf.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x07]);
        let err = check_parquet_footer(&buf).unwrap_err().to_string();
        assert!(err.contains("claims 2147483647 elements"), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        // Structs in structs, each field 15 of the one around it (an id no struct knows).
        let buf = vec![0xfc; 200];
        let err = check_parquet_footer(&buf).unwrap_err().to_string();
        assert!(err.contains("deeper than 32"), "{err}");
    }

    #[test]
    fn budget_charges_and_cancels() {
        let b = Budget::new(10, None);
        b.charge(6).unwrap();
        assert!(matches!(b.charge(5), Err(InferError::Limit(_))));
        assert_eq!(b.used(), 6);
        b.cancel();
        assert!(matches!(b.charge(1), Err(InferError::Cancelled)));
    }
}
