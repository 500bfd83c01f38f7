//! Giving freed heap memory back to the operating system.
//!
//! glibc keeps memory a program frees for its own reuse, so a one-off peak (parsing a large `tokenizer.json`
//! builds a JSON tree many times the file's size) would otherwise stay in the process's resident size for as
//! long as it runs.

/// Returns the heap's free pages to the operating system (glibc's `malloc_trim`). Cheap enough for a one-off
/// after start-up work; a no-op where glibc is not the allocator.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only walks glibc's own heap structures and takes no pointer from us; it is
    // thread-safe (it locks each arena it trims).
    unsafe {
        libc::malloc_trim(0);
    }
}
