//! Parquet footers, page headers and whole files.
//!
//! The input is taken as a footer (the thrift `FileMetaData` without the 8-byte tail): it
//! is checked and decoded by `infer_parquet_metadata`, read as a page header, and wrapped
//! into a file (`PAR1` + input + length + `PAR1`) whose first rows are previewed. An input
//! that is itself a whole parquet file (the seeds are) is also inferred and previewed as
//! it is, so the page decoders see real pages.
#![no_main]

mod common;

use bytes::Bytes;
use granary_core::DataFormat;
use granary_infer::{Budget, PARQUET_TAIL};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

const MAGIC: &[u8; 4] = b"PAR1";
const ROWS: usize = 10;
const BUDGET_BYTES: u64 = 16 << 20;

fn budget() -> Arc<Budget> {
    Arc::new(Budget::new(BUDGET_BYTES, None))
}

fn preview(file: Bytes) {
    if let Ok(p) = granary_infer::preview_parquet(file, ROWS, budget()) {
        assert!(p.rows.len() <= ROWS, "{} rows previewed, {ROWS} asked", p.rows.len());
    }
}

fn one(data: &[u8]) {
    let _ = granary_infer::infer_parquet_metadata(data);
    let _ = granary_infer::parse_page_header(data);
    let Ok(len) = u32::try_from(data.len()) else {
        return;
    };
    let mut file = Vec::with_capacity(data.len() + 12);
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(data);
    file.extend_from_slice(&len.to_le_bytes());
    file.extend_from_slice(MAGIC);
    preview(Bytes::from(file));

    // A whole file: its own footer, its first page header, its preview.
    if data.len() >= 2 * MAGIC.len() + PARQUET_TAIL && data.starts_with(MAGIC) && data.ends_with(MAGIC) {
        let tail: &[u8; PARQUET_TAIL] = data[data.len() - PARQUET_TAIL..].try_into().expect("8 bytes");
        if let Ok(meta_len) = granary_infer::parquet_metadata_len(tail) {
            if granary_infer::check_footer_len(meta_len as u64, data.len() as u64).is_ok() {
                let end = data.len() - PARQUET_TAIL;
                let _ = granary_infer::infer_parquet_metadata(&data[end - meta_len..end]);
            }
        }
        let _ = granary_infer::infer_reader(DataFormat::Parquet, data);
        let _ = granary_infer::parse_page_header(&data[MAGIC.len()..]);
        preview(Bytes::copy_from_slice(data));
    }
}

fuzz_target!(|data: &[u8]| common::run(data, one));
