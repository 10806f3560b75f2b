//! `#include` and `#tryinclude` as Asterisk's configuration loader
//! (`main/config.c`) follows them, without IO: the files come from a
//! [`ConfSource`] (the real file system in the `regwatch` command, a
//! [`MemSource`] in tests and fuzzing).
//!
//! What Asterisk does, and what [`expand_includes`] does with it:
//!
//! * A directive is a line that starts with `#` once comments are removed:
//!   `#include NAME`, `#tryinclude NAME` (a missing file is no error) and
//!   `#exec CMD`, case-insensitive. `"NAME"` and `<NAME>` are unquoted.
//! * A relative NAME is taken from the configuration directory
//!   (`astetcdir`, `/etc/asterisk`), not from the including file's
//!   directory, also for a file included from a subdirectory. The caller
//!   says which directory that is. An absolute NAME is followed, with an
//!   information note (it is read from the machine running the check).
//! * NAME is a glob(3) pattern with braces (`pjsip.d/*.conf`,
//!   `{a,b}.conf`); matches are read in sorted order. A NAME without
//!   wildcards stands for itself. A name that is not a regular file (a
//!   directory, a FIFO, a device, a socket) is skipped, never opened.
//! * An `#include` that ends up reading no file makes Asterisk refuse the
//!   whole file (error note); a `#tryinclude` is skipped (information).
//! * Asterisk follows 10 levels of nested includes (`MAX_INCLUDE_LEVEL`);
//!   it has no cycle check and loops until that limit. Here a file that
//!   includes itself or any file that (transitively) includes it is not
//!   followed, with a note; a file included twice elsewhere (a diamond) is
//!   read twice, as Asterisk does, with a warning.
//! * The whole expansion is bounded ([`IncludeLimits`]): files read, bytes
//!   read, directory entries listed, brace alternatives, notes. Past a
//!   limit the rest is not read and one note says so.
//!
//! `#exec` is never run. Every directive that is not followed leaves a
//! note: nothing is skipped silently.
mod expand;
mod glob;
mod mem;
mod source;

pub use expand::{expand_includes, Expansion, IncludeLimits, ASTERISK_MAX_INCLUDE_LEVEL};
pub use mem::MemSource;
pub use source::{ConfSource, FileId, FileKind, FileMeta, SourceError};

#[cfg(test)]
mod tests;
