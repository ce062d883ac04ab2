//! `stockade exec NAME|JOB [--replica N] [-i] [-t] [--json] -- CMD...`: run a
//! command inside a running box, its stdio streamed over an upgraded
//! connection (`POST /api/exec`, frames of `stockade_proto::exec`).
//!
//! Exit status: the command's own (128 + N for signal N; 127 when the
//! program was not found, 126 when it could not start). With `-t` the local
//! terminal is raw for the session and restored however it ends (error and
//! panic included: [`crate::terminal::RawMode`] restores on drop). Without
//! `-t`, Ctrl-C and SIGTERM are forwarded to the command.

use crate::cli::ExecArgs;
use crate::client::Client;
use crate::exit::{USAGE, fail};
use crate::terminal::{self, RawMode};
use hyper_util::rt::TokioIo;
use std::io::Write;
use std::process::ExitCode;
use stockade_proto::{EXEC_UPGRADE, ExecExit, ExecRequest, ExecTarget, Frame, FrameDecoder, JobId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// The request `args` stand for: a bare number is a job id, anything else a
/// service name (service names are never all digits in practice, and `logs`
/// reads its target the same way).
pub fn request(args: &ExecArgs) -> anyhow::Result<ExecRequest> {
    if args.command.is_empty() {
        return Err(fail(
            USAGE,
            "no command to run",
            Some("put it after `--`: stockade exec web -- sh -c 'ls /'".to_string()),
        ));
    }
    let target = match args.target.parse::<u64>() {
        Ok(id) if args.replica.is_none() => ExecTarget::Job { job: JobId(id) },
        Ok(_) => {
            return Err(fail(
                USAGE,
                format!("`{}` is a job id; --replica is for services", args.target),
                None,
            ));
        }
        Err(_) => {
            let named = crate::target::Target::parse(&args.target)?;
            let replica = match (named.replica, args.replica) {
                (Some(a), Some(b)) if a != b => {
                    return Err(fail(
                        USAGE,
                        format!("`{}` and --replica {b} name different replicas", args.target),
                        Some("give the replica once: `name[N]` or --replica N".to_string()),
                    ));
                }
                (a, b) => a.or(b).unwrap_or(0),
            };
            ExecTarget::Service { service: named.name, replica }
        }
    };
    let mut request = ExecRequest::new(target, args.command.clone());
    request.tty = args.tty;
    if args.tty {
        request.size = terminal::size();
    }
    Ok(request)
}

/// Run it.
pub async fn run(client: Client, args: &ExecArgs) -> anyhow::Result<ExecExit> {
    let request = request(args)?;
    let upgraded = client.upgrade("/api/exec", &request, EXEC_UPGRADE).await?;
    let (mut reader, mut writer) = tokio::io::split(TokioIo::new(upgraded));
    // Raw only once the daemon accepted: an error prints on a sane terminal.
    let _raw = if args.tty { RawMode::enter()? } else { None };

    let (input_tx, mut input) = mpsc::channel::<Option<Vec<u8>>>(8);
    if args.interactive {
        // A plain thread: tokio's stdin would keep the runtime alive at exit
        // while it waits for a line that never comes.
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match std::io::Read::read(&mut stdin, &mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = input_tx.blocking_send(None);
                        return;
                    }
                    Ok(n) => {
                        if input_tx.blocking_send(Some(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    } else {
        drop(input_tx);
        send(&mut writer, Frame::CloseStdin).await;
    }
    let mut winch = signal(SignalKind::window_change())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut decoder = FrameDecoder::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut input_open = args.interactive;
    loop {
        tokio::select! {
            read = reader.read(&mut buf) => {
                let n = read?;
                if n == 0 {
                    return Err(fail(
                        crate::exit::FAILED,
                        "the daemon closed the exec connection before the command ended",
                        Some("is it shutting down? see its log".to_string()),
                    ));
                }
                decoder.push(&buf[..n]);
                while let Some(frame) = decoder.next_frame().map_err(anyhow::Error::msg)? {
                    match frame {
                        Frame::Stdout(bytes) => {
                            let mut out = std::io::stdout().lock();
                            out.write_all(&bytes)?;
                            out.flush()?;
                        }
                        Frame::Stderr(bytes) => std::io::stderr().lock().write_all(&bytes)?,
                        Frame::Exit(exit) => return Ok(exit),
                        _ => {}
                    }
                }
            }
            chunk = input.recv(), if input_open => {
                let frame = match chunk.flatten() {
                    Some(bytes) => Frame::Stdin(bytes),
                    None => {
                        input_open = false;
                        Frame::CloseStdin
                    }
                };
                send(&mut writer, frame).await;
            }
            _ = winch.recv(), if args.tty => {
                if let Some(size) = terminal::size() {
                    send(&mut writer, Frame::Resize(size)).await;
                }
            }
            _ = interrupt.recv() => send(&mut writer, Frame::Signal(libc::SIGINT)).await,
            _ = terminate.recv() => send(&mut writer, Frame::Signal(libc::SIGTERM)).await,
        }
    }
}

/// Send one frame. A failed write is not an error: the daemon closes its end
/// as soon as the command has ended, and the exit frame is still to be read.
async fn send(writer: &mut (impl tokio::io::AsyncWrite + Unpin), frame: Frame) {
    let _ = writer.write_all(&frame.encode()).await;
}

/// Print the exit cause as asked and turn it into the exit status.
pub fn finish(exit: &ExecExit, json: bool) -> ExitCode {
    if json {
        let _ = crate::render::print_json_line(exit);
    } else if let stockade_proto::ExitCause::SpawnFailed { message, hint, .. } = &exit.cause {
        eprintln!("error: {message}\n  hint: {hint}");
    }
    ExitCode::from(exit.status())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(line: &[&str]) -> anyhow::Result<ExecRequest> {
        let cli = crate::cli::Cli::try_parse_from(line).map_err(anyhow::Error::msg)?;
        match cli.command {
            crate::cli::Command::Exec(args) => request(&args),
            other => panic!("not exec: {other:?}"),
        }
    }

    #[test]
    fn a_name_is_a_service_replica_and_a_number_a_job() {
        let r = args(&["stockade", "exec", "web", "--replica", "2", "--", "ls", "-l"]).unwrap();
        assert_eq!(r.target(), Ok(ExecTarget::Service { service: "web".into(), replica: 2 }));
        assert_eq!(r.argv, ["ls", "-l"]);
        assert!(!r.tty);
        let r = args(&["stockade", "exec", "17", "--", "id"]).unwrap();
        assert_eq!(r.target(), Ok(ExecTarget::Job { job: JobId(17) }));
        let r = args(&["stockade", "exec", "-it", "web", "--", "sh"]).unwrap();
        assert!(r.tty);
    }

    #[test]
    fn flags_after_the_double_dash_belong_to_the_command() {
        let r = args(&["stockade", "exec", "web", "--", "ls", "--json", "-t"]).unwrap();
        assert_eq!(r.argv, ["ls", "--json", "-t"]);
        assert!(!r.tty);
    }

    #[test]
    fn a_missing_command_or_a_replica_of_a_job_is_a_usage_error() {
        assert!(args(&["stockade", "exec", "web"]).is_err());
        assert!(args(&["stockade", "exec", "17", "--replica", "1", "--", "id"]).is_err());
    }
}
