//! [`serve`]: one exec session — frames from the client to the command's
//! stdin and controls, its output back as frames, then the exit frame.

use super::{ExecChild, ExecError};
use std::time::Duration;
use stockade_proto::{ExecExit, ExitCause, Frame, FrameDecoder};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// After the command exits, how long output still held open by something it
/// left behind may delay the exit frame.
const DRAIN: Duration = Duration::from_secs(2);

/// Bytes read from the command per output frame.
const CHUNK: usize = 32 * 1024;

/// Run the session on `conn` for `child` (or, if it failed to start, send
/// only the exit frame saying why). Returns once the exit frame is sent or
/// the client is gone; a client that goes away kills the command.
pub async fn serve<C>(conn: C, child: Result<ExecChild, ExecError>)
where
    C: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(conn);
    let child = match child {
        Ok(child) => child,
        Err(err) => {
            let exit = Frame::Exit(ExecExit { cause: err.to_cause() });
            let _ = writer.write_all(&exit.encode()).await;
            let _ = writer.shutdown().await;
            return;
        }
    };
    let ExecChild { stdin, stdout, stderr, control, mut exit } = child;
    let (out_tx, mut out_rx) = mpsc::channel::<Frame>(16);
    tokio::spawn(pump(stdout, out_tx.clone(), Frame::Stdout));
    if let Some(stderr) = stderr {
        tokio::spawn(pump(stderr, out_tx.clone(), Frame::Stderr));
    }
    drop(out_tx);
    let mut stdin = stdin;
    let mut decoder = FrameDecoder::default();
    let mut buf = vec![0u8; 16 * 1024];
    let cause = loop {
        tokio::select! {
            cause = &mut exit => break Some(cause),
            Some(frame) = out_rx.recv() => {
                if writer.write_all(&frame.encode()).await.is_err() {
                    break client_gone(&*control, &mut exit).await;
                }
            }
            read = reader.read(&mut buf) => match read {
                Ok(0) | Err(_) => break client_gone(&*control, &mut exit).await,
                Ok(n) => {
                    decoder.push(&buf[..n]);
                    loop {
                        match decoder.next_frame() {
                            Ok(Some(Frame::Stdin(bytes))) => {
                                if let Some(input) = stdin.as_mut()
                                    && input.write_all(&bytes).await.is_err()
                                {
                                    stdin = None;
                                }
                            }
                            Ok(Some(Frame::CloseStdin)) => stdin = None,
                            Ok(Some(Frame::Resize(size))) => {
                                let _ = control.resize(size);
                            }
                            Ok(Some(Frame::Signal(n))) => {
                                let _ = control.signal(n);
                            }
                            Ok(Some(_)) => {}
                            Ok(None) => break,
                            Err(e) => {
                                tracing::warn!(%e, "exec client sent a bad frame; killing the command");
                                let _ = control.kill();
                                break;
                            }
                        }
                    }
                }
            },
        }
    };
    let Some(cause) = cause else { return };
    // The rest of the output, unless something the command left behind
    // holds the streams open.
    let _ = tokio::time::timeout(DRAIN, async {
        while let Some(frame) = out_rx.recv().await {
            if writer.write_all(&frame.encode()).await.is_err() {
                return;
            }
        }
    })
    .await;
    let cause = cause.unwrap_or_else(|e| ExitCause::SpawnFailed {
        error: stockade_proto::SpawnErrorKind::Os,
        errno: e.raw_os_error(),
        message: format!("lost track of the command: {e}"),
        hint: "see the daemon's log".to_owned(),
    });
    let _ = writer.write_all(&Frame::Exit(ExecExit { cause }).encode()).await;
    let _ = writer.shutdown().await;
}

/// The client went away: kill the command and reap it; nothing is sent.
async fn client_gone<F>(
    control: &dyn super::ExecControl,
    exit: &mut std::pin::Pin<Box<F>>,
) -> Option<std::io::Result<ExitCause>>
where
    F: std::future::Future<Output = std::io::Result<ExitCause>> + Send + ?Sized,
{
    let _ = control.kill();
    let _ = exit.await;
    None
}

/// Copy `from` into frames made by `frame` until EOF.
async fn pump(
    mut from: Box<dyn AsyncRead + Send + Unpin>,
    to: mpsc::Sender<Frame>,
    frame: fn(Vec<u8>) -> Frame,
) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.send(frame(buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
        }
    }
}
