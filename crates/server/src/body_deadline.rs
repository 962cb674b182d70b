//! A request body must arrive within [`BODY_DEADLINE`] of the handler starting to read it.
//! actix cuts a client that is slow to send its headers (408), but not one that announces a
//! body and then stalls or trickles it: each such connection stayed open for good, and enough
//! of them used up the server's file descriptors, locking every other client out. With the
//! deadline, a stalled body fails the read (the request is answered 400 and the connection
//! closed). Requests without a body (clicks, pages) are not touched.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::rt::time::Sleep;
use actix_web::web::Bytes;
use actix_web::HttpMessage;
use futures_core::Stream;

/// How long a whole request body may take to arrive (a form or a JSON body of at most 256 KiB,
/// a conversion call's form: seconds even on a poor mobile link).
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);

/// The middleware: gives the body of a request that has one a deadline.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if has_body(&req) {
        let inner = req.take_payload();
        let timed = Deadline { inner, sleep: Box::pin(actix_web::rt::time::sleep(BODY_DEADLINE)) };
        req.set_payload(Payload::from(Box::pin(timed) as Pin<Box<dyn Stream<Item = _>>>));
    }
    next.call(req).await
}

/// A body is announced by a length other than 0 or by chunked transfer encoding; `GET` and
/// `HEAD` requests are read without one.
fn has_body(req: &ServiceRequest) -> bool {
    if matches!(*req.method(), Method::GET | Method::HEAD) && !req.headers().contains_key(header::CONTENT_LENGTH) {
        return req.headers().contains_key(header::TRANSFER_ENCODING);
    }
    let length = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
    length.is_none_or(|l| l.trim() != "0")
}

struct Deadline {
    inner: Payload,
    sleep: Pin<Box<Sleep>>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("the request body did not arrive within {} s", BODY_DEADLINE.as_secs()),
                ))))),
                Poll::Pending => Poll::Pending,
            },
            ready => ready,
        }
    }
}
