//! Progress of long work (`push`, `pull`, `inspect`) on stderr, in one display: a status
//! line saying the phase (reading, checking, hashing, uploading, the registry verifying)
//! above a bar per file with bytes, rate and ETA. Where bars cannot be drawn (stderr is not
//! a terminal, `CI` is set) or are not wanted (`--quiet`), the same events are a line each:
//! one per phase, one when a file starts and one when it ends, with its size, time and rate.
//!
//! Rates and ETAs count the bytes moved by this run only: a transfer resumed at an offset
//! starts its clock there (see [`Transfer::start_at`]).

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::output::bytes;

/// In line mode, files smaller than this (bytes) get no lines: they take no noticeable
/// time, and their lines would only bury what matters (an error, the result).
pub const LINE_MIN_BYTES: u64 = 1 << 20;

/// The display of one command's long work.
pub struct Progress {
    lines: bool,
    multi: MultiProgress,
    status: ProgressBar,
}

/// Whether bars may be drawn: stderr is a terminal and `CI` is unset or empty.
fn bars_possible() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("CI").is_none_or(|v| v.is_empty())
}

impl Progress {
    /// Bars unless `quiet`, or stderr is not a terminal, or `CI` is set: lines then.
    pub fn new(quiet: bool) -> Self {
        let lines = quiet || !bars_possible();
        let multi = if lines {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        } else {
            MultiProgress::new()
        };
        let status = if lines {
            ProgressBar::hidden()
        } else {
            let s = multi.add(ProgressBar::new_spinner());
            s.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"));
            s.enable_steady_tick(Duration::from_millis(120));
            s
        };
        Progress { lines, multi, status }
    }

    /// Says what the command does now, a phase of work on `work` bytes: the status line
    /// on a terminal; a line elsewhere when `work` is at least [`LINE_MIN_BYTES`].
    pub fn phase(&self, text: impl Into<String>, work: u64) {
        let text = text.into();
        if self.lines {
            if work < LINE_MIN_BYTES {
                return;
            }
            eprintln!("{text}");
        } else {
            self.status.set_message(text);
        }
    }

    /// Says a short step on the status line of a terminal only (reading a directory,
    /// asking the registry): in line mode it would only add noise before a one-line error.
    pub fn step(&self, text: impl Into<String>) {
        if !self.lines {
            self.status.set_message(text.into());
        }
    }

    /// Prints a line above the bars (or on stderr), never lost under them.
    pub fn say(&self, line: impl Into<String>) {
        let line = line.into();
        if self.lines {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }

    /// Removes the status line; bars that finished stay.
    pub fn done(&self) {
        self.status.finish_and_clear();
    }

    /// A counter for `verb`ing (`"uploading"`, `"downloading"`, `"reading"`, `"hashing"`)
    /// the file `name` of `size` bytes. Its start is said when the first byte moves (after
    /// [`Transfer::start_at`], if the transfer resumes).
    pub fn transfer(&self, verb: &'static str, name: &str, size: u64) -> Transfer {
        let bar = if self.lines {
            ProgressBar::hidden()
        } else {
            let b = self.multi.add(ProgressBar::new(size));
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix:<28!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.set_prefix(format!("{verb} {name}"));
            b
        };
        bar.set_length(size);
        Transfer {
            bar,
            lines: self.lines && size >= LINE_MIN_BYTES,
            verb,
            name: name.into(),
            size,
            clock: Arc::new(Mutex::new(Clock {
                from: 0,
                started: Instant::now(),
                said: false,
                moved: 0,
            })),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.status.finish_and_clear();
    }
}

struct Clock {
    /// The position this run started counting from.
    from: u64,
    started: Instant,
    /// Whether the start line was printed (line mode).
    said: bool,
    /// Bytes moved by this run, over every attempt.
    moved: u64,
}

/// One file's bytes moving. Cheap to clone; clones count into the same bar.
#[derive(Clone)]
pub struct Transfer {
    bar: ProgressBar,
    lines: bool,
    verb: &'static str,
    name: Arc<str>,
    size: u64,
    clock: Arc<Mutex<Clock>>,
}

impl Transfer {
    /// The transfer (re)starts at byte `offset`: what is below it was moved earlier and
    /// counts in no rate or ETA.
    pub fn start_at(&self, offset: u64) {
        self.bar.set_position(offset);
        self.bar.reset_eta();
        let mut c = self.clock.lock().expect("poisoned");
        c.from = offset;
        c.started = Instant::now();
        if self.lines && !c.said {
            c.said = true;
            if offset == 0 {
                eprintln!("{} {} ({})", self.verb, self.name, bytes(self.size));
            } else {
                eprintln!(
                    "{} {} from {} of {}",
                    self.verb,
                    self.name,
                    bytes(offset),
                    bytes(self.size)
                );
            }
        }
    }

    /// The file's name as the dataset knows it (its path in the dataset).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bytes this run moved, over every attempt (bytes sent twice count twice).
    pub fn moved(&self) -> u64 {
        self.clock.lock().expect("poisoned").moved
    }

    /// `n` more bytes moved.
    pub fn inc(&self, n: u64) {
        let mut c = self.clock.lock().expect("poisoned");
        c.moved += n;
        if self.lines && !c.said {
            c.said = true;
            eprintln!("{} {} ({})", self.verb, self.name, bytes(self.size));
        }
        drop(c);
        self.bar.inc(n);
    }

    /// A note on this file: beside its bar on a terminal, a line elsewhere.
    pub fn note(&self, text: impl Into<String>) {
        let text = text.into();
        if self.lines {
            if !text.is_empty() {
                eprintln!("{}: {text}", self.name);
            }
        } else {
            self.bar.set_message(text);
        }
    }

    /// A line above the bars (or on stderr).
    pub fn say(&self, line: impl Into<String>) {
        crate::output::say(&self.bar, line);
    }

    /// The file is done: its bar stays full; in line mode, a line with the bytes this run
    /// moved, the time and the rate.
    pub fn finish(&self) {
        self.bar.set_message("");
        self.bar.finish();
        if self.lines {
            let c = self.clock.lock().expect("poisoned");
            let moved = self.bar.position().saturating_sub(c.from);
            let secs = c.started.elapsed().as_secs_f64();
            let rate = if secs > 0.0 { moved as f64 / secs } else { 0.0 };
            let past = match self.verb {
                "uploading" => "uploaded",
                "downloading" => "downloaded",
                "hashing" => "hashed",
                _ => "read",
            };
            eprintln!(
                "{past} {}: {} in {secs:.1} s ({}/s)",
                self.name,
                bytes(moved),
                bytes(rate as u64)
            );
        }
    }

    /// Removes the bar without a line (the work it stood for did not happen).
    pub fn abandon(&self) {
        self.bar.finish_and_clear();
    }
}
