//! Accepting TCP connections on the public and internal listeners. An accept that fails (out
//! of file descriptors, mostly) is retried after a pause rather than at once: the connection
//! waits in the listen queue either way, and retrying at once would spin a core until a
//! descriptor frees. The first failure of a run is logged, and the recovery.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// The pause after a failed accept.
const PAUSE: Duration = Duration::from_millis(50);

/// The next connection, with TCP_NODELAY set (without it small replies wait for the peer's
/// delayed ACK, ~40 ms).
pub async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    let mut failures = 0u64;
    loop {
        match listener.accept().await {
            Ok((tcp, remote)) => {
                if failures > 0 {
                    tracing::warn!(failures, "accepting connections again");
                }
                let _ = tcp.set_nodelay(true);
                return (tcp, remote);
            }
            Err(e) => {
                if failures == 0 {
                    tracing::warn!(error = %e, "accept failed; retrying every 50 ms until it works");
                }
                failures += 1;
                tokio::time::sleep(PAUSE).await;
            }
        }
    }
}

/// Plain connections as tonic's server takes them.
pub fn incoming(
    listener: TcpListener,
) -> impl futures::Stream<Item = std::io::Result<TcpStream>> + Send + 'static {
    futures::stream::unfold(listener, |listener| async move {
        let (tcp, _) = accept(&listener).await;
        Some((Ok(tcp), listener))
    })
}
