//! A request body that fails when its client stops sending: without it, a client that
//! declares a body and then sends nothing (or a byte a minute) holds a connection, a task
//! and perhaps an upload session for as long as it likes.

use axum::body::Body;
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// Longest wait for the next piece of a request body (60 s).
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Wraps `inner`; yields an error when no frame arrived for [`BODY_IDLE_TIMEOUT`] while the
/// body was being read. Reads that keep coming, however slowly in total, are not limited.
pub struct IdleTimeout {
    inner: Body,
    /// Armed the first time the body has nothing ready (most requests, with empty or
    /// already-buffered bodies, never arm it); pushed back whenever a frame arrives.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl IdleTimeout {
    pub fn new(inner: Body) -> Self {
        IdleTimeout { inner, sleep: None }
    }
}

impl hyper::body::Body for IdleTimeout {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if let Some(sleep) = this.sleep.as_mut() {
                    sleep.as_mut().reset(Instant::now() + BODY_IDLE_TIMEOUT);
                }
                Poll::Ready(frame)
            }
            Poll::Pending => match this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(BODY_IDLE_TIMEOUT)))
                .as_mut()
                .poll(cx)
            {
                Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(format!(
                    "no request body bytes arrived for {} s",
                    BODY_IDLE_TIMEOUT.as_secs()
                ))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
