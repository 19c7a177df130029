//! Schema inference and previews of streamed formats. The first byte picks the format
//! (csv, json, jsonl, arrow IPC); the rest is the file.
#![no_main]

mod common;

use granary_core::DataFormat;
use granary_infer::Budget;
use libfuzzer_sys::fuzz_target;

const FORMATS: [DataFormat; 4] = [DataFormat::Csv, DataFormat::Json, DataFormat::Jsonl, DataFormat::Arrow];
const ROWS: usize = 20;

fn one(data: &[u8]) {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let format = FORMATS[pick as usize % FORMATS.len()];
    let _ = granary_infer::infer_reader(format, file);
    let budget = Budget::new(16 << 20, None);
    if let Ok(p) = granary_infer::preview_reader(format, file, ROWS, &budget) {
        assert!(p.rows.len() <= ROWS, "{} rows previewed, {ROWS} asked", p.rows.len());
    }
}

fuzz_target!(|data: &[u8]| common::run(data, one));
