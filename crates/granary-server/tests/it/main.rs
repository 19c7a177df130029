//! In-process tests of every route through the real router (`tower::ServiceExt::oneshot`).

mod auth_errors;
mod byte_routes;
mod croissant;
mod discovery;
mod downloads;
mod failures;
mod gc;
mod helpers;
mod history;
mod hostile;
mod oci_v2;
mod openapi;
mod operations;
mod preview;
mod publish;
mod pyarrow;
mod registry;
mod rows;
mod scale;
mod ui;
mod uploads;
mod viewer;
