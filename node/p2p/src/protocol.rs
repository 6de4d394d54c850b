//! The request-response stream codec: one [`Message`] per frame, each way, on
//! [`PROTOCOL`]. The frame header is checked before the payload is read, so an oversized frame
//! costs the reader five bytes; the payload is decoded on the connection's task.
//!
//! libp2p's request-response drops a request whose `read_request` fails without telling anyone,
//! so an inbound request is read as a `Result`: a frame that is oversized, truncated or does not
//! decode arrives as `Err(reason)` and the event loop scores its sender. A response that fails
//! to decode surfaces as an [`std::io::Error`] of kind `InvalidData` wrapping the crate
//! [`Error`], which [`decode_failure`] recovers.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{StreamProtocol, request_response};

use crate::{
    Error, frame,
    wire::{MAX_MESSAGE, Message},
};

/// Our addressed-message protocol id.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/quorate/wire/1");

/// Reads and writes framed [`Message`]s.
#[derive(Debug, Clone, Copy, Default)]
pub struct WireCodec;

fn invalid(error: Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

/// The crate error inside an I/O error from the codec, if it is one.
pub fn decode_failure(error: &io::Error) -> Option<&Error> {
    error.get_ref().and_then(|inner| inner.downcast_ref::<Error>())
}

/// Reads one framed message; the header's length is checked before the payload is read.
pub(crate) async fn read_message<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Message> {
    let mut header = [0u8; frame::HEADER_LEN];
    io.read_exact(&mut header).await?;
    let len = frame::decode_header(header, MAX_MESSAGE as u32).map_err(invalid)?;
    let mut payload = vec![0u8; len as usize];
    io.read_exact(&mut payload).await?;
    Message::decode(&payload).map_err(invalid)
}

/// Writes one framed message and flushes it, leaving the stream open.
pub(crate) async fn write_frame<T: AsyncWrite + Unpin + Send>(
    io: &mut T,
    message: &Message,
) -> io::Result<()> {
    io.write_all(&message.encode_frame().map_err(invalid)?).await?;
    io.flush().await
}

async fn write_message<T: AsyncWrite + Unpin + Send>(
    io: &mut T,
    message: &Message,
) -> io::Result<()> {
    write_frame(io, message).await?;
    io.close().await
}

impl request_response::Codec for WireCodec {
    type Protocol = StreamProtocol;
    type Request = Result<Message, Error>;
    type Response = Message;

    async fn read_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Result<Message, Error>>
    where
        T: AsyncRead + Unpin + Send,
    {
        match read_message(io).await {
            Ok(message) => Ok(Ok(message)),
            Err(e) => match decode_failure(&e) {
                Some(error) => Ok(Err(error.clone())),
                // The stream ended inside a frame (or before one): a malformed request.
                None if e.kind() == io::ErrorKind::UnexpectedEof => {
                    Ok(Err(Error::Truncated { field: "frame" }))
                }
                None => Err(e),
            },
        }
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Message>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_message(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Result<Message, Error>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, &req.map_err(invalid)?).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Message,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, &res).await
    }
}
