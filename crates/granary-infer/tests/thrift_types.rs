//! The parquet crate decodes footers and page headers by field id: it reads each field it
//! knows as parquet-format declares it, whatever type the bytes say the field has. A
//! footer whose field types lie is read one way by the bounds check and another by the
//! decoder, so it must be refused before it is decoded (found by fuzzing: an `i32` where
//! `key_value_metadata` belongs made the decoder reserve room for 2^31-1 entries).

use bytes::Bytes;
use granary_infer::{check_parquet_footer, infer_parquet_metadata, parse_page_header, preview_parquet, Budget};
use std::sync::Arc;

fn parquet_file(footer: &[u8]) -> Vec<u8> {
    let mut f = b"PAR1".to_vec();
    f.extend_from_slice(footer);
    f.extend_from_slice(&(footer.len() as u32).to_le_bytes());
    f.extend_from_slice(b"PAR1");
    f
}

/// `footer` is refused, with `reason`, by the check and by both readers that run it.
fn refused(footer: &[u8], what: &str, reason: &str) {
    let err = check_parquet_footer(footer).expect_err(what).to_string();
    assert!(err.contains(&format!("malformed footer: {reason}")), "{what}: {err}");
    let err = infer_parquet_metadata(footer).expect_err(what).to_string();
    assert!(err.contains("malformed footer"), "{what}: {err}");
    let err = preview_parquet(
        Bytes::from(parquet_file(footer)),
        10,
        Arc::new(Budget::new(16 << 20, None)),
    )
    .expect_err(what)
    .to_string();
    assert!(err.contains("malformed footer"), "{what}: {err}");
}

#[test]
fn a_field_sent_as_another_type_is_refused() {
    // FileMetaData { 5: i32 } whose varint bytes (fc ff ff ff ff 07) read as a list
    // header are "2^31-1 structs follow": key_value_metadata is a list<KeyValue>.
    refused(
        &[0x55, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00],
        "an i32 where a list belongs",
        "field 5 is an integer where parquet-format has a list",
    );
    // FileMetaData { 2: list<struct>[ SchemaElement { 4: i32 1 } ] }: a name is a string.
    refused(
        &[0x29, 0x1c, 0x45, 0x02, 0x00, 0x00],
        "an i32 where a string belongs",
        "field 2.4 is an integer where parquet-format has a binary",
    );
    // FileMetaData { 4: list<struct>[ RowGroup { 1: binary "" } ] }: columns is a list.
    refused(
        &[0x49, 0x1c, 0x18, 0x00, 0x00, 0x00],
        "a binary where a list belongs",
        "field 4.1 is a binary where parquet-format has a list",
    );
}

#[test]
fn a_list_of_another_element_type_is_refused() {
    // FileMetaData { 2: list<i32>[1] }: the schema is a list of structs.
    refused(
        &[0x29, 0x15, 0x02, 0x00],
        "a list of i32 where structs belong",
        "field 2 holds integer elements where parquet-format has struct elements",
    );
    // An empty list says nothing of its elements, whatever type it names.
    check_parquet_footer(&[0x29, 0x05, 0x00]).expect("an empty list");
    check_parquet_footer(&[0x29, 0x00, 0x00]).expect("an empty list, header 0");
}

#[test]
fn a_list_of_booleans_is_refused_even_where_unknown() {
    // FileMetaData { 20: list<bool>[3] }: the parquet crate skips each boolean of a list
    // as zero bytes, thrift writes one byte each; parquet-format has no such list.
    refused(
        &[0x09, 0x28, 0x31, 0x01, 0x02, 0x01, 0x00],
        "a list of booleans",
        "a thrift list of booleans",
    );
}

#[test]
fn unknown_fields_of_any_type_are_still_skipped() {
    // FileMetaData { 20: list<string>["a"], 21: i64 7, 22: struct { 1: binary "" } }
    check_parquet_footer(&[0x09, 0x28, 0x18, 0x01, b'a', 0x16, 0x0e, 0x1c, 0x18, 0x00, 0x00, 0x00])
        .expect("unknown fields");
}

#[test]
fn a_page_header_field_sent_as_another_type_is_refused() {
    // PageHeader { 1: i32 0, 2: binary "abc", 3: i32 3 }: the walker would skip the
    // binary and see no uncompressed size; the parquet crate would read the binary's
    // length as the page's uncompressed size.
    let header = [0x15, 0x00, 0x18, 0x03, b'a', b'b', b'c', 0x15, 0x06, 0x00];
    let err = parse_page_header(&header).expect_err("a binary where an i32 belongs");
    assert!(
        err.to_string()
            .contains("malformed page header: field 2 is a binary where parquet-format has an integer"),
        "{err}"
    );
    // The same header with its sizes as i32s is fine.
    let header = [0x15, 0x00, 0x15, 0x06, 0x15, 0x06, 0x00];
    let info = parse_page_header(&header).unwrap().unwrap();
    assert_eq!((info.uncompressed_size, info.compressed_size), (3, 3));
}
