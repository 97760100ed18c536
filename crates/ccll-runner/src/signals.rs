//! Acting on a signal from a thread of its own, for the moments when the process's only
//! runtime thread is busy with synchronous work (a worker training, the runner drawing
//! charts) and could not poll a signal future.

use tokio::signal::unix::{signal, SignalKind};

/// Runs `then` on a thread of its own when one of `kinds` arrives; `then` is expected to end
/// the process. The listeners are registered before this returns (inside or outside a
/// runtime), so a signal after the call is never lost. Does nothing if they cannot be set up.
pub fn on_signal(kinds: &[SignalKind], then: impl FnOnce() + Send + 'static) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    else {
        return;
    };
    let listeners: Result<Vec<_>, _> = {
        let _in_rt = rt.enter();
        kinds.iter().map(|&k| signal(k)).collect()
    };
    let Ok(listeners) = listeners else {
        return;
    };
    std::thread::spawn(move || {
        rt.block_on(async move {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
            for mut listener in listeners {
                let tx = tx.clone();
                tokio::spawn(async move {
                    listener.recv().await;
                    let _ = tx.send(()).await;
                });
            }
            rx.recv().await;
        });
        then();
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// What the runner relies on while it draws the report (and the worker while it trains):
    /// a signal that arrives while the calling thread is busy runs the action.
    #[test]
    fn the_action_runs_when_the_signal_arrives_while_the_caller_is_busy() {
        let (tx, rx) = std::sync::mpsc::channel();
        on_signal(&[SignalKind::user_defined1()], move || {
            let _ = tx.send(());
        });
        // SAFETY: raise has no preconditions; SIGUSR1 is handled by the listener above.
        unsafe { libc::raise(libc::SIGUSR1) };
        // Busy, not polling anything, as the runner is while drawing.
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(200) {
            std::hint::spin_loop();
        }
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the action did not run");
    }
}
