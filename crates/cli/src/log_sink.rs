//! Where `tracing` messages go: stderr, or a file while burn-train's terminal dashboard owns
//! the screen (anything written to the terminal then would garble it).

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

static FILE: Mutex<Option<File>> = Mutex::new(None);

/// Sends the log to `path` (appending) from now on.
pub fn to_file(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    *FILE.lock().unwrap() = Some(f);
    Ok(())
}

/// Sends the log to stderr again.
pub fn to_stderr() {
    *FILE.lock().unwrap() = None;
}

/// The `tracing_subscriber` writer: the file when set, else stderr.
pub struct Sink;

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match FILE.lock().unwrap().as_mut() {
            Some(f) => f.write(buf),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match FILE.lock().unwrap().as_mut() {
            Some(f) => f.flush(),
            None => std::io::stderr().flush(),
        }
    }
}
