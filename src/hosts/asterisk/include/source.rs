//! Where the files come from: the [`ConfSource`] trait and what it
//! answers (kind, size, identity of a name), without IO of its own.

/// The identity of a file, to recognise it under another name (a symlink,
/// `./a.conf` and `sub/../a.conf`): device and inode on a real file system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId(pub u64, pub u64);

/// What kind of file a name is, as `stat(2)` says (symlinks followed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file: the only kind that is read.
    Regular,
    /// A directory.
    Directory,
    /// A FIFO (named pipe): reading it may block for ever.
    Fifo,
    /// A character device (`/dev/zero` never ends).
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A Unix socket.
    Socket,
    /// Anything else.
    Other,
}

impl FileKind {
    pub(super) fn words(self) -> &'static str {
        match self {
            FileKind::Regular => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Socket => "a socket",
            FileKind::Other => "not a regular file",
        }
    }
}

/// What [`ConfSource::stat`] tells about a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// The kind of file.
    pub kind: FileKind,
    /// Its size in bytes (regular files).
    pub len: u64,
    /// Its identity.
    pub id: FileId,
}

/// Why a [`ConfSource`] could not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceError {
    /// There is no such file or directory.
    NotFound,
    /// Anything else (permissions, IO error, not a regular file), in words.
    Other(String),
}

/// Where the configuration files come from. Paths are `/`-separated.
pub trait ConfSource {
    /// The kind, size and identity of `path` (symlinks followed), without
    /// opening it.
    fn stat(&mut self, path: &str) -> Result<FileMeta, SourceError>;
    /// At most `cap` bytes of the regular file `path`. An implementation
    /// must refuse anything that is not a regular file once opened (the
    /// name may have changed since [`stat`](ConfSource::stat)) and must
    /// not read more than `cap` bytes, even from a file that grows.
    fn read(&mut self, path: &str, cap: u64) -> Result<Vec<u8>, SourceError>;
    /// At most `limit` names of the entries of directory `dir` (without
    /// `.` and `..`), in any order.
    fn list(&mut self, dir: &str, limit: usize) -> Result<Vec<String>, SourceError>;
}
