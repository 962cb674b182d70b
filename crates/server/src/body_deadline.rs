//! A request body must arrive within [`BODY_DEADLINE`] of the handler starting to read it.
//! actix cuts a client that is slow to send its headers (408), but not one that announces a
//! body and then stalls or trickles it: each such connection stayed open for good, and enough
//! of them used up the server's file descriptors, locking every other client out. With the
//! deadline, a stalled body fails the read (the request is answered 400 and the connection
//! closed). Any answer given before the body was read to its end closes the connection too (a
//! chunked body is otherwise waited for). Requests without a body (clicks, pages) are not
//! touched.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{header, ConnectionType};
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
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, Held>>, actix_web::Error> {
    if !has_body(&req) {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let ended = Rc::new(Cell::new(false));
    let inner = Rc::new(RefCell::new(req.take_payload()));
    let timed = Deadline {
        inner: inner.clone(),
        sleep: Box::pin(actix_web::rt::time::sleep(BODY_DEADLINE)),
        ended: ended.clone(),
    };
    req.set_payload(Payload::from(Box::pin(timed) as Pin<Box<dyn Stream<Item = _>>>));
    let mut res = next.call(req).await?;
    // Answered before the body was read to its end (refused, too large, too slow): the
    // connection closes after the answer. The body's stream is kept until the answer is sent:
    // actix reads a dropped chunked body to its end to keep the connection (one that never
    // ends kept it open for good), while an unread one that is still held closes it.
    let unread = !ended.get();
    if unread {
        res.response_mut().head_mut().set_connection_type(ConnectionType::Close);
    }
    let held = unread.then_some(inner);
    Ok(res.map_body(|_, body| EitherBody::right(Held { body: BoxBody::new(body), _payload: held })))
}

/// An answer's body that keeps the request's unread body stream until the answer is sent.
pub struct Held {
    body: BoxBody,
    _payload: Option<Rc<RefCell<Payload>>>,
}

impl MessageBody for Held {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

/// A body is announced by a `Content-Length` other than 0 or by a `Transfer-Encoding` (HTTP/1.1:
/// a request with neither has none, whatever its method).
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).is_some_and(|l| l.trim() != "0")
}

struct Deadline {
    inner: Rc<RefCell<Payload>>,
    sleep: Pin<Box<Sleep>>,
    /// Set when the body was read to its end.
    ended: Rc<Cell<bool>>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut *this.inner.borrow_mut()).poll_next(cx);
        match polled {
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("the request body did not arrive within {} s", BODY_DEADLINE.as_secs()),
                ))))),
                Poll::Pending => Poll::Pending,
            },
            Poll::Ready(None) => {
                this.ended.set(true);
                Poll::Ready(None)
            }
            ready => ready,
        }
    }
}
