//! The transport: `Content-Length`-framed JSON-RPC on stdin and stdout,
//! with a bound on the size of a message.

use super::MAX_MESSAGE_BYTES;
use lsp_server::Message;

/// Reads `Content-Length`-framed messages from stdin into `to_server`
/// until stdin ends; a header without a length, a length past
/// [`MAX_MESSAGE_BYTES`], or a body that is not a JSON-RPC message is an
/// error (the server then stops).
pub(super) fn read_messages(to_server: crossbeam_channel::Sender<Message>) -> Result<(), String> {
    use std::io::{BufRead, Read};
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    loop {
        let mut length = None;
        loop {
            let mut line = String::new();
            let n = input
                .read_line(&mut line)
                .map_err(|e| format!("reading stdin: {e}"))?;
            if n == 0 {
                return Ok(()); // the client closed stdin
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                let value = value.trim();
                let bytes: usize = value
                    .parse()
                    .map_err(|_| format!("`Content-Length: {value}` is not a length"))?;
                if bytes > MAX_MESSAGE_BYTES {
                    return Err(format!(
                        "a message of {bytes} bytes (`Content-Length`) is more than the {} MiB a message may have",
                        MAX_MESSAGE_BYTES >> 20
                    ));
                }
                length = Some(bytes);
            }
        }
        let length = length.ok_or("a message header without `Content-Length`")?;
        let mut body = vec![0; length];
        input
            .read_exact(&mut body)
            .map_err(|e| format!("reading a message body of {length} bytes: {e}"))?;
        let message: Message = serde_json::from_slice(&body)
            .map_err(|e| format!("a message that is not JSON-RPC: {e}"))?;
        let exit = matches!(&message, Message::Notification(n) if n.method == "exit");
        if to_server.send(message).is_err() || exit {
            return Ok(());
        }
    }
}

/// Writes what the server sends to stdout, `Content-Length`-framed.
pub(super) fn write_messages(
    from_server: crossbeam_channel::Receiver<Message>,
) -> Result<(), String> {
    use std::io::Write;
    let stdout = std::io::stdout();
    for message in from_server {
        let body = serde_json::to_string(&message).map_err(|e| e.to_string())?;
        let mut out = stdout.lock();
        write!(out, "Content-Length: {}\r\n\r\n{body}", body.len())
            .and_then(|()| out.flush())
            .map_err(|e| format!("writing stdout: {e}"))?;
    }
    Ok(())
}
