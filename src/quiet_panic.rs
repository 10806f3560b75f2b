//! Panics caught at the library's edges (the C ABI, the runner thread) are
//! reported through regwatch's own channels, not on the host's stderr.
//!
//! A process-wide panic hook is installed once, the first time a regwatch
//! boundary is entered. It chains the hook that was in place before
//! (`std::panic::take_hook`): on a thread that is inside [`catch`] it only
//! records the message and location, and stays silent; everywhere else it
//! calls the previous hook, so the host's own panics (and anything else
//! in the process) behave exactly as before. Signals are not touched.
//!
//! A hook set by someone else after ours replaces it (that is how Rust's
//! hooks work); the panics are still caught, only their text then goes
//! where that hook sends it.
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// How many [`catch`] frames this thread is inside.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// The last panic the hook silenced on this thread.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

fn install() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // `try_with`: during thread teardown the thread-locals may be
            // gone; that thread is then not inside a regwatch call.
            let quiet = DEPTH.try_with(|d| d.get() > 0).unwrap_or(false);
            if !quiet {
                return previous(info);
            }
            let mut text = payload_text(info.payload());
            if let Some(l) = info.location() {
                text = format!("{text} (at {}:{}:{})", l.file(), l.line(), l.column());
            }
            let _ = CAUGHT.try_with(|c| {
                if let Ok(mut c) = c.try_borrow_mut() {
                    *c = Some(text);
                }
            });
        }));
    });
}

fn payload_text(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_owned()
    }
}

/// Leaves a [`catch`] frame, also when unwinding.
struct Frame;

impl Drop for Frame {
    fn drop(&mut self) {
        let _ = DEPTH.try_with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Runs `f`; a panic inside it is caught without reaching the previous
/// panic hook (stderr, by default) and comes back as its message and
/// location, for the caller to log where its logs go.
///
/// Every thread-local access is a `try_with`: a host may free a handle
/// from a thread-local or pthread-key destructor, after this thread's
/// thread-locals are gone, and a panic there would abort the process.
/// The panic is still caught then; only its text may be the bare payload.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    install();
    let result = {
        let _frame = DEPTH
            .try_with(|d| d.set(d.get() + 1))
            .is_ok()
            .then_some(Frame);
        catch_unwind(AssertUnwindSafe(f))
    };
    // Taken in both cases: a panic caught deeper down (and handled there)
    // leaves nothing behind for a later call.
    let caught = CAUGHT
        .try_with(|c| c.try_borrow_mut().ok().and_then(|mut c| c.take()))
        .ok()
        .flatten();
    result.map_err(|payload| caught.unwrap_or_else(|| payload_text(payload.as_ref())))
}
