//! The group commit (DESIGN.md, "Click path"): handlers hand a job to one writer thread over a
//! bounded channel and await its answer; the writer takes everything queued (up to a batch
//! limit), writes it in one transaction, commits, then answers all. Under load batches grow and
//! so does throughput; an idle writer commits a single job at once; a full queue makes senders
//! wait (back-pressure), it never drops a job.

use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

/// Writes one batch in one transaction and gives one answer per job, in order.
pub trait BatchWriter: Send + 'static {
    type Job: Send + 'static;
    type Answer: Send + 'static;
    fn write(&mut self, jobs: Vec<Self::Job>) -> Vec<Self::Answer>;
}

type Envelope<W> = (<W as BatchWriter>::Job, oneshot::Sender<<W as BatchWriter>::Answer>);

/// The sending side, cheap to clone into every handler.
pub struct GroupCommit<W: BatchWriter> {
    tx: mpsc::Sender<Envelope<W>>,
}

impl<W: BatchWriter> Clone for GroupCommit<W> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone() }
    }
}

/// The writer stopped (its thread panicked or the server is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the writer is not running")]
pub struct WriterGone;

impl<W: BatchWriter> GroupCommit<W> {
    /// Starts the writer thread. `queue` bounds the jobs waiting; `max_batch` bounds one
    /// transaction. The thread ends when every `GroupCommit` clone is dropped, after writing
    /// what was queued.
    pub fn start(name: &str, writer: W, queue: usize, max_batch: usize) -> std::io::Result<(Self, JoinHandle<()>)> {
        let (gc, mut handles) = Self::start_many(name, vec![writer], queue, max_batch)?;
        match handles.pop() {
            Some(h) => Ok((gc, h)),
            None => Err(std::io::Error::other("no writer")),
        }
    }

    /// Like [`GroupCommit::start`] with several writers (each with its own connection) taking
    /// batches from one queue: while one commits, the next batch is already being written.
    /// Worth it where the database runs transactions in parallel (PostgreSQL).
    pub fn start_many(
        name: &str,
        writers: Vec<W>,
        queue: usize,
        max_batch: usize,
    ) -> std::io::Result<(Self, Vec<JoinHandle<()>>)> {
        let (tx, rx) = mpsc::channel::<Envelope<W>>(queue.max(1));
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let max_batch = max_batch.max(1);
        let mut handles = Vec::with_capacity(writers.len());
        for (i, mut writer) in writers.into_iter().enumerate() {
            let rx = rx.clone();
            let handle = std::thread::Builder::new().name(format!("{name}-{i}")).spawn(move || {
                let mut jobs = Vec::with_capacity(max_batch);
                let mut replies = Vec::with_capacity(max_batch);
                loop {
                    {
                        let Ok(mut rx) = rx.lock() else { return };
                        let Some((job, reply)) = rx.blocking_recv() else { return };
                        jobs.push(job);
                        replies.push(reply);
                        while jobs.len() < max_batch {
                            match rx.try_recv() {
                                Ok((job, reply)) => {
                                    jobs.push(job);
                                    replies.push(reply);
                                }
                                Err(_) => break,
                            }
                        }
                    }
                    let batch = std::mem::take(&mut jobs);
                    // A panic must not end the writer: the batch's requesters get "writer gone"
                    // (503, nothing acknowledged), and the next batch is written as usual.
                    let answers = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| writer.write(batch))) {
                        Ok(answers) => answers,
                        Err(_) => {
                            tracing::error!(writer = i, "writer panicked on a batch; its requests were answered 503");
                            replies.clear();
                            continue;
                        }
                    };
                    for (reply, answer) in replies.drain(..).zip(answers) {
                        // The requester may have gone (client disconnected): the job is written
                        // anyway.
                        let _ = reply.send(answer);
                    }
                }
            })?;
            handles.push(handle);
        }
        Ok((Self { tx }, handles))
    }

    /// Queues `job` (waiting while the queue is full) and waits for its answer.
    pub async fn submit(&self, job: W::Job) -> Result<W::Answer, WriterGone> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((job, reply)).await.map_err(|_| WriterGone)?;
        answer.await.map_err(|_| WriterGone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Doubler(Arc<Mutex<Vec<usize>>>);

    impl BatchWriter for Doubler {
        type Job = u32;
        type Answer = u32;
        fn write(&mut self, jobs: Vec<u32>) -> Vec<u32> {
            self.0.lock().unwrap().push(jobs.len());
            std::thread::sleep(std::time::Duration::from_millis(5));
            jobs.into_iter().map(|j| j * 2).collect()
        }
    }

    #[test]
    fn answers_every_job_and_batches_under_load() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let (gc, handle) = GroupCommit::start("test-writer", Doubler(sizes.clone()), 1000, 64).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let answers = rt.block_on(async {
            let tasks: Vec<_> = (0..200u32)
                .map(|i| {
                    let gc = gc.clone();
                    async move { gc.submit(i).await.unwrap() }
                })
                .collect();
            futures_join_all(tasks).await
        });
        assert_eq!(answers, (0..200u32).map(|i| i * 2).collect::<Vec<_>>());
        drop(gc);
        handle.join().unwrap();
        let sizes = sizes.lock().unwrap();
        assert_eq!(sizes.iter().sum::<usize>(), 200);
        assert!(sizes.iter().all(|s| *s <= 64));
        assert!(sizes.len() < 200, "jobs queued together were written together: {sizes:?}");
    }

    async fn futures_join_all<F: std::future::Future + 'static>(fs: Vec<F>) -> Vec<F::Output>
    where
        F::Output: 'static,
    {
        let mut handles = Vec::new();
        let local = tokio::task::LocalSet::new();
        let mut out = Vec::new();
        local
            .run_until(async {
                for f in fs {
                    handles.push(tokio::task::spawn_local(f));
                }
                for h in handles {
                    out.push(h.await.unwrap());
                }
            })
            .await;
        out
    }
}
