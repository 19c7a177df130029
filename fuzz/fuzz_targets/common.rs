//! The panic policy every target shares.
//!
//! granary-infer runs the arrow and parquet decoders under `catch_unwind` and turns their
//! panics on malformed input into errors (its `guarded`): that is its contract, and what
//! a caller sees is an error. libfuzzer-sys installs a panic hook that aborts on every
//! panic, caught or not, so this hook replaces it:
//! - a panic raised in granary's own source (`granary-infer`, `granary-core`) is a finding
//!   even when something catches it: the process aborts at the panic, with its stack;
//! - a panic raised in a dependency is noted once per source location and left to the
//!   library to catch; if it escapes the call the target made, that is a finding too.
//!
//! `GRANARY_FUZZ_STRICT=1` keeps libfuzzer-sys's hook: every panic anywhere is a finding
//! (to hunt decoder panics that granary only survives).

use std::cell::RefCell;
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, Once};

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Where a panic raised in granary's own code comes from.
const OWN_SOURCES: [&str; 2] = ["granary-infer/src/", "granary-core/src/"];

fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        if std::env::var_os("GRANARY_FUZZ_STRICT").is_some_and(|v| v != "0") {
            return;
        }
        let default = panic::take_hook();
        let seen: Mutex<HashSet<String>> = Mutex::default();
        panic::set_hook(Box::new(move |info| {
            let at = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_default();
            if OWN_SOURCES.iter().any(|s| at.contains(s)) {
                default(info);
                eprintln!("panic in granary's own code");
                std::process::abort();
            }
            let text = format!("{} at {at}", info.payload_as_str().unwrap_or("a panic"));
            if seen.lock().map(|mut s| s.insert(at)).unwrap_or(false) {
                eprintln!("note: a dependency panicked (granary is expected to catch it): {text}");
            }
            LAST_PANIC.with(|l| *l.borrow_mut() = Some(text));
        }));
    });
}

/// Runs one input through `f` under the policy above.
pub fn run(data: &[u8], f: impl FnOnce(&[u8])) {
    install_hook();
    if panic::catch_unwind(AssertUnwindSafe(|| f(data))).is_err() {
        let last = LAST_PANIC.with(|l| l.borrow_mut().take()).unwrap_or_default();
        eprintln!("a panic escaped granary's API: {last}");
        eprintln!("(rerun the input with GRANARY_FUZZ_STRICT=1 for the stack at the panic)");
        std::process::abort();
    }
}
