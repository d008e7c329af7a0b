//! Honest frame counts: a video container's header may claim more frames than its stream
//! holds (a truncated download, a muxer that wrote the planned length, a damaged tail). The
//! index trusts the header (probing stays fast); when a read reaches the end of the decodable
//! frames first, the reader returns [`FewerFrames`] with the true count, found by decoding
//! from the start of the file. The loader then samples inside the true count, stores it in the
//! index cache and reports the file once (see [`crate::Loader`]), instead of counting it as
//! failed.

use std::path::PathBuf;

/// A video yielded fewer frames than asked for: its decodable frames end at `decoded`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FewerFrames {
    /// The file.
    pub path: PathBuf,
    /// Frames that decode, counted from the start of the file.
    pub decoded: usize,
    /// The first frame asked for.
    pub start: usize,
    /// One past the last frame asked for (`None`: to the end).
    pub end: Option<usize>,
}

impl std::fmt::Display for FewerFrames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let asked = match self.end {
            Some(e) => format!("frames {}..{e}", self.start),
            None => format!("frames {}.. (to the end)", self.start),
        };
        write!(
            f,
            "`{}`: has {} frames, asked for {asked}",
            self.path.display(),
            self.decoded
        )
    }
}

impl std::error::Error for FewerFrames {}

/// The report line of a file whose header overstates its frame count:
/// `fewer frames than its header says (444 → 68)`.
pub fn fewer_frames_reason(claimed: usize, decoded: usize) -> String {
    format!("fewer frames than its header says ({claimed} → {decoded})")
}
