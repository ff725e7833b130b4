//! Turns a `SIGBUS` raised while copying to or from a mapping into an error.
//!
//! A mapped file that another process truncates raises `SIGBUS` on the next
//! touch of a page past the new end, which would kill the process. Copies in
//! and out of our mappings run inside [`guarded`]: if the signal arrives while
//! this thread is inside such a copy, the handler maps a zero page over the
//! faulting address (so the copy can finish) and records the fault; the copy
//! then reports `EIO`. A `SIGBUS` anywhere else goes to the previous handler,
//! or kills the process as it would have without us.
//!
//! The handler calls only async-signal-safe functions (`mmap`, `sigaction`,
//! `signal`) and reads only atomics: the page size it needs is read once at
//! install, never with `sysconf` inside the handler.
#![allow(unsafe_code)]

use super::page_size;
use std::{
    io,
    mem::MaybeUninit,
    ptr,
    sync::{
        atomic::{compiler_fence, AtomicBool, AtomicPtr, AtomicUsize, Ordering},
        Once,
    },
};

thread_local! {
    // Const-initialised, no destructor: safe to touch from a signal handler.
    // Atomics (not Cells) so the compiler cannot assume the handler leaves
    // them alone across the copy.
    static IN_COPY: AtomicBool = const { AtomicBool::new(false) };
    static FAULTED: AtomicBool = const { AtomicBool::new(false) };
}

static INSTALL: Once = Once::new();
static PREVIOUS: AtomicPtr<libc::sigaction> = AtomicPtr::new(ptr::null_mut());
/// The page size, stored by `install` before the handler is installed.
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let page = PAGE_SIZE.load(Ordering::Relaxed);
    if page != 0 && IN_COPY.with(|c| c.load(Ordering::SeqCst)) {
        // SAFETY: `info` is the kernel's siginfo for this SIGBUS; `si_addr` is
        // the faulting address. Mapping one anonymous page over it with
        // MAP_FIXED replaces only that page of our own mapping; mmap is
        // async-signal-safe on Linux and the BSDs.
        unsafe {
            let addr = ((*info).si_addr() as usize) & !(page - 1);
            let mapped = libc::mmap(
                addr as *mut libc::c_void,
                page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            );
            if mapped != libc::MAP_FAILED {
                FAULTED.with(|f| f.store(true, Ordering::SeqCst));
                return;
            }
        }
    }
    // Not ours: hand it to whoever had it before, or die as we would have.
    let previous = PREVIOUS.load(Ordering::Acquire);
    // SAFETY: `previous` was filled by `sigaction` in `install` and is never
    // freed. Calling a SA_SIGINFO handler with the kernel's own arguments is
    // what the kernel would have done; otherwise restoring the old action and
    // returning re-raises the fault under it.
    unsafe {
        if !previous.is_null() {
            let old = &*previous;
            if old.sa_flags & libc::SA_SIGINFO != 0 && old.sa_sigaction > libc::SIG_IGN {
                let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    std::mem::transmute(old.sa_sigaction);
                handler(sig, info, ctx);
                return;
            }
            libc::sigaction(sig, previous, ptr::null_mut());
        } else {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
}

fn install() {
    INSTALL.call_once(|| {
        // Read here, outside any signal context, for the handler to use.
        PAGE_SIZE.store(
            usize::try_from(page_size()).unwrap_or(4096),
            Ordering::Relaxed,
        );
        // SAFETY: a zeroed sigaction is a valid "empty" action to fill in;
        // the handler only does async-signal-safe work; the old action is
        // leaked into PREVIOUS so the handler can always reach it.
        unsafe {
            let mut action: libc::sigaction = MaybeUninit::zeroed().assume_init();
            action.sa_sigaction = on_sigbus as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let old = Box::into_raw(Box::new(
                MaybeUninit::<libc::sigaction>::zeroed().assume_init(),
            ));
            if libc::sigaction(libc::SIGBUS, &action, old) == 0 {
                PREVIOUS.store(old, Ordering::Release);
            } else {
                drop(Box::from_raw(old));
            }
        }
    });
}

/// Runs `copy` (a copy to or from a mapping) so that a `SIGBUS` during it
/// becomes `Err(EIO)` instead of killing the process.
pub(crate) fn guarded<T>(copy: impl FnOnce() -> T) -> io::Result<T> {
    install();
    FAULTED.with(|f| f.store(false, Ordering::SeqCst));
    IN_COPY.with(|c| c.store(true, Ordering::SeqCst));
    // The handler runs on this thread between these fences: keep the copy
    // inside them and re-read the flag after it.
    compiler_fence(Ordering::SeqCst);
    let out = copy();
    compiler_fence(Ordering::SeqCst);
    IN_COPY.with(|c| c.store(false, Ordering::SeqCst));
    if FAULTED.with(|f| f.swap(false, Ordering::SeqCst)) {
        // EIO, as a disk error: the bytes behind the mapping are gone.
        return Err(io::Error::from_raw_os_error(libc::EIO));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handler_uses_the_page_size_cached_at_install() {
        guarded(|| ()).unwrap();
        let cached = PAGE_SIZE.load(Ordering::Relaxed);
        assert_ne!(cached, 0, "no page size for the handler after install");
        assert_eq!(cached as u64, page_size());
        // SAFETY: sysconf only reads a constant; compared outside any handler.
        let os = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        assert_eq!(cached as i64, os as i64);
    }
}
