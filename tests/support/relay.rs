//! A slow link in front of a node: a TCP relay on loopback that forwards to
//! the node's sshd at a fixed rate, shared by every connection through it
//! (one token bucket per direction), as a Raspberry Pi on a weak Wi-Fi
//! would be. Bytes a sender has queued wait their turn here, as they do in
//! a real link's buffers.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running relay; stops accepting when dropped.
pub struct Relay {
    /// The loopback port to connect to instead of the node's.
    pub port: u16,
    stop: Arc<AtomicBool>,
    buckets: [Arc<Bucket>; 2],
}

/// Bytes per second, shared by whoever takes from it: `(rate, tokens,
/// when last filled)`.
struct Bucket {
    state: Mutex<(f64, f64, Instant)>,
}

impl Bucket {
    fn new(rate: u64) -> Arc<Bucket> {
        Arc::new(Bucket {
            state: Mutex::new((rate as f64, 0.0, Instant::now())),
        })
    }

    /// Waits until `n` bytes may pass.
    fn take(&self, n: usize) {
        loop {
            let wait = {
                let mut s = self.state.lock().unwrap();
                let (rate, now) = (s.0, Instant::now());
                let tokens = (s.1 + now.duration_since(s.2).as_secs_f64() * rate).min(rate / 4.0);
                if tokens >= n as f64 {
                    *s = (rate, tokens - n as f64, now);
                    return;
                }
                *s = (rate, tokens, now);
                (n as f64 - tokens) / rate
            };
            std::thread::sleep(Duration::from_secs_f64(wait.min(0.05)));
        }
    }
}

impl Relay {
    /// Relays loopback port → `target` at `rate` bytes per second each way.
    pub fn start(target: u16, rate: u64) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (up, down) = (Bucket::new(rate), Bucket::new(rate));
        let buckets = [up.clone(), down.clone()];
        let stopping = stop.clone();
        std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                            continue;
                        };
                        pipe(
                            client.try_clone().unwrap(),
                            server.try_clone().unwrap(),
                            up.clone(),
                        );
                        pipe(server, client, down.clone());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Relay {
            port,
            stop,
            buckets,
        }
    }

    /// Changes the rate, for every connection through it.
    pub fn set_rate(&self, rate: u64) {
        for b in &self.buckets {
            b.state.lock().unwrap().0 = rate as f64;
        }
    }
}

/// Copies `from` → `to` through the bucket, small pieces at a time.
fn pipe(mut from: TcpStream, mut to: TcpStream, bucket: Arc<Bucket>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    bucket.take(n);
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
