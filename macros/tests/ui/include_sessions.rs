//! include_spec! of a spec used through sessions (examples/files.cap): the
//! session, its charges and the dispatch that charges them compile and run
//! as the build script's module does.

mod files {
    capc_macros::include_spec!("../../../../examples/files.cap");
}

use files::*;

struct Server;

impl FilesServer for Server {
    fn open(
        &mut self,
        _name: Name,
        _session: &mut FilesSession,
        charge: &mut Option<FilesCharge>,
    ) -> Result<FilesOpenReply, FileError> {
        // Kept with the file; this server has one and never closes it.
        let kept = charge.take().expect("charged");
        Ok(FilesOpenReply {
            fd: 1,
            size: kept.bytes(),
        })
    }

    fn read(
        &mut self,
        _fd: u32,
        _offset: u64,
        pages: u8,
        session: &mut FilesSession,
    ) -> Result<FilesReadReply, FileError> {
        // The buffer is charged while the call runs.
        assert_eq!(
            session.used(),
            FilesSession::KEEPS + 256 + u64::from(pages) * 4096
        );
        Ok(FilesReadReply { read: 0 })
    }

    fn close(&mut self, _fd: u32, _session: &mut FilesSession) -> Result<(), FileError> {
        Err(FileError::BadFile)
    }
}

fn main() {
    let mut session = FilesSession::open(1, Donation::quota(8192)).unwrap();
    let mut msg = [0; target::MESSAGE_WORDS];
    let mut caps = [0; target::CAPS_PER_MESSAGE];
    let info = FilesRequest::Open {
        name: Name::new("a").unwrap(),
    }
    .encode(&mut msg, &mut caps)
    .unwrap();
    let reply = dispatch_files(&mut Server, info, &mut msg, &mut caps, &mut session);
    assert_eq!(reply.label, 0);
    assert_eq!(session.used(), FilesSession::KEEPS + 256);
    let info = FilesRequest::Read {
        fd: 1,
        offset: 0,
        pages: 1,
    }
    .encode(&mut msg, &mut caps)
    .unwrap();
    let reply = dispatch_files(&mut Server, info, &mut msg, &mut caps, &mut session);
    assert_eq!(reply.label, 0);
    assert_eq!(session.used(), FilesSession::KEEPS + 256);
    assert_eq!(FilesSession::read_call_bytes(16), 16 * 4096);
    assert_eq!(session.close(), 8192);
}
