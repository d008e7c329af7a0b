//! Video decode / encode through FFmpeg (`video-rs` 0.12, FFmpeg 5.1+). Behind the `video`
//! cargo feature.
//!
//! Frame indexing: frame `N` is the `N`-th frame the decoder outputs when decoding from the start
//! of the file (presentation order). [`read_video`] with `start > 0` seeks to the last keyframe at
//! or before frame `start` and decodes-and-drops up to it; this fast path is only taken for
//! containers with a seek index (MP4/MOV, Matroska/WebM, AVI) and is verified while decoding
//! (first frame after the seek must be a keyframe at or before `start`, timestamps must map to
//! consecutive frame indices at the stream's frame rate). If any check fails, the range is
//! decoded from the start of the file instead, so results never depend on seek accuracy.
//! On the bundled clips (H.264 with B-frames, MPEG-4 AVI) the fast path is taken for every
//! in-range start since frames are decoded with FFmpeg's decoder directly (frame timestamps in
//! the stream time base); earlier, through video-rs's decoder, the check failed on the H.264
//! clips and every offset read fell back to the linear decode. Offset reads are checked against
//! full decodes and, on the H.264 clips, byte for byte against PyAV in `tests/video.rs`.
//! Frames are converted to RGB only when kept.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Result, anyhow, bail};
use image::RgbImage;
use video_rs::Decoder;
use video_rs::ffmpeg::format::Pixel;
use video_rs::frame::RawFrame;
use video_rs::io::Reader;

use crate::frame_count::FewerFrames;
use crate::frame_folder::checked_range;
use crate::{Frames, shown};

/// Initialises FFmpeg once per process (and routes its logs to `tracing`).
fn init() -> Result<()> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| video_rs::init().map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| anyhow!("cannot initialise FFmpeg: {e}"))
}

/// An opened video: demuxer (video-rs `Reader`) + FFmpeg decoder of its best video stream.
///
/// Decoded frames stay in the codec's pixel format; only the frames that are kept are
/// converted to RGB ([`Source::convert_rgb`]), so frames dropped before a clip start cost a decode
/// but no colour conversion.
struct Source {
    decoder: video_rs::ffmpeg::decoder::Video,
    /// YUV → RGB24 converter, created for the first converted frame's format and size.
    scaler: Option<video_rs::ffmpeg::software::scaling::Context>,
    reader: Reader,
    stream: usize,
    draining: bool,
    /// (width, height)
    size: (u32, u32),
}

impl Source {
    fn open(path: &Path) -> Result<Source> {
        init()?;
        if !path.is_file() {
            bail!("{}: no such video file", shown(path));
        }
        let open_err = |e: &dyn std::fmt::Display| {
            anyhow!(
                "{}: cannot open video (expected a readable video file with a video stream): {e}",
                shown(path)
            )
        };
        let decoder = Decoder::new(path).map_err(|e| match missing_decoder(path) {
            Some(hint) => anyhow!("{}: {hint}", shown(path)),
            None => open_err(&e),
        })?;
        let size = decoder.size_out();
        let (_, reader, stream) = decoder.into_parts();
        let params = reader
            .input
            .stream(stream)
            .expect("stream index from the reader")
            .parameters();
        let decoder = video_rs::ffmpeg::codec::context::Context::from_parameters(params)
            .and_then(|c| c.decoder().video())
            .map_err(|e| open_err(&e))?;
        Ok(Source {
            decoder,
            scaler: None,
            reader,
            stream,
            draining: false,
            size,
        })
    }

    fn av_stream(&self) -> video_rs::ffmpeg::format::stream::Stream<'_> {
        self.reader
            .input
            .stream(self.stream)
            .expect("stream index from the reader")
    }

    /// Next decoded frame (codec pixel format) or `None` at the end of the stream.
    fn next_frame(&mut self, path: &Path) -> Result<Option<RawFrame>> {
        use video_rs::ffmpeg::Error as AvError;
        use video_rs::ffmpeg::util::error::EAGAIN;
        let err = |e: &dyn std::fmt::Display| anyhow!("{}: cannot decode video: {e}", shown(path));
        loop {
            let mut frame = RawFrame::empty();
            match self.decoder.receive_frame(&mut frame) {
                Ok(()) => return Ok(Some(frame)),
                Err(AvError::Eof) => return Ok(None),
                Err(AvError::Other { errno }) if errno == EAGAIN => {
                    if self.draining {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(err(&e)),
            }
            match self.reader.read(self.stream) {
                Err(video_rs::Error::ReadExhausted) => {
                    self.decoder.send_eof().map_err(|e| err(&e))?;
                    self.draining = true;
                }
                Err(e) => return Err(err(&e)),
                Ok(packet) => {
                    let (packet, _) = packet.into_inner_parts();
                    self.decoder.send_packet(&packet).map_err(|e| err(&e))?;
                }
            }
        }
    }

    /// Seeks the demuxer so that the next packets start at the last keyframe at or before
    /// `ts_us` (microseconds, `AV_TIME_BASE`), and flushes the decoder.
    fn seek_before(&mut self, ts_us: i64) -> bool {
        let ok = self.reader.input.seek(ts_us, ..ts_us).is_ok();
        self.decoder.flush();
        self.draining = false;
        ok
    }

    /// A decoded frame as an 8-bit RGB image (swscale, `AREA` flags as video-rs uses).
    fn convert_rgb(&mut self, frame: &RawFrame, path: &Path) -> Result<RgbImage> {
        use video_rs::ffmpeg::software::scaling::{Context, Flags};
        let (w, h) = (frame.width(), frame.height());
        let stale = self.scaler.as_ref().is_none_or(|s| {
            s.input().format != frame.format() || s.input().width != w || s.input().height != h
        });
        if stale {
            self.scaler = Some(
                Context::get(frame.format(), w, h, Pixel::RGB24, w, h, Flags::AREA).map_err(
                    |e| anyhow!("{}: cannot convert video frames to RGB: {e}", shown(path)),
                )?,
            );
        }
        let mut rgb = RawFrame::empty();
        self.scaler
            .as_mut()
            .expect("scaler just made")
            .run(frame, &mut rgb)
            .map_err(|e| anyhow!("{}: cannot convert video frames to RGB: {e}", shown(path)))?;
        Ok(rgb_to_image(&rgb))
    }
}

/// When `path`'s video stream is in a codec this FFmpeg build cannot decode: what to install.
fn missing_decoder(path: &Path) -> Option<String> {
    use video_rs::ffmpeg::codec::Id;
    let input = video_rs::ffmpeg::format::input(&path).ok()?;
    let stream = input.streams().best(video_rs::ffmpeg::media::Type::Video)?;
    let id = stream.parameters().id();
    if video_rs::ffmpeg::decoder::find(id).is_some() {
        return None;
    }
    let install = match id {
        Id::AV1 => {
            "an AV1 decoder: Debian's libavcodec59 brings one through libdav1d6 (apt-get install \
             libdav1d6 libavcodec59); a self-built FFmpeg needs --enable-libdav1d"
        }
        Id::HEVC => "an FFmpeg built with its HEVC decoder",
        _ => "an FFmpeg build that includes this decoder",
    };
    Some(format!(
        "this FFmpeg has no decoder for the video codec {id:?} (install {install})"
    ))
}

fn rational(r: video_rs::ffmpeg::Rational) -> Option<f64> {
    (r.numerator() > 0 && r.denominator() > 0)
        .then(|| r.numerator() as f64 / r.denominator() as f64)
}

/// An RGB24 frame (rows possibly padded to `stride`) as an [`RgbImage`].
fn rgb_to_image(frame: &RawFrame) -> RgbImage {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let stride = frame.stride(0);
    let data = frame.data(0);
    let mut raw = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        raw.extend_from_slice(&data[y * stride..y * stride + w * 3]);
    }
    RgbImage::from_raw(w as u32, h as u32, raw).expect("RGB24 frame size")
}

/// Presentation timestamps (seconds from the first frame, increasing) of the first `limit`
/// video packets of `path` (all of them for `None`): read from the container, nothing decoded.
pub fn frame_times(path: &Path, limit: Option<usize>) -> Result<Vec<f64>> {
    let mut src = Source::open(path)?;
    let mut ts = Vec::new();
    read_packets(&mut src, path, limit, &mut ts)?;
    Ok(seconds(&src, ts))
}

/// Reads up to `limit` video packets of `src` (all of them for `None`), appending their
/// timestamps (stream time base) to `ts`; returns how many packets were read.
fn read_packets(
    src: &mut Source,
    path: &Path,
    limit: Option<usize>,
    ts: &mut Vec<i64>,
) -> Result<usize> {
    let mut read = 0;
    while limit.is_none_or(|l| read < l) {
        match src.reader.read(src.stream) {
            Ok(packet) => {
                read += 1;
                let (packet, _) = packet.into_inner_parts();
                if let Some(t) = packet.pts().or(packet.dts()) {
                    ts.push(t);
                }
            }
            Err(video_rs::Error::ReadExhausted) => break,
            Err(e) => bail!("{}: cannot read video packets: {e}", shown(path)),
        }
    }
    Ok(read)
}

/// Packet timestamps as seconds from the first frame, in presentation order.
fn seconds(src: &Source, mut ts: Vec<i64>) -> Vec<f64> {
    let tb = rational(src.av_stream().time_base()).unwrap_or(1.0);
    ts.sort_unstable();
    let t0 = ts.first().copied().unwrap_or(0);
    ts.into_iter().map(|t| (t - t0) as f64 * tb).collect()
}

/// Packets whose timestamps decide [`VideoProbe::variable_rate`] (the first few seconds).
const RATE_PACKETS: usize = 240;

/// Probed facts about the best video stream of a file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoProbe {
    /// The container's frame count when it stores one (MP4/MOV, AVI), otherwise the number of
    /// video packets (MPEG-PS, Matroska, ...).
    pub frames: usize,
    pub height: usize,
    pub width: usize,
    /// The stream's base frame rate (`r_frame_rate`), or the average one when that is unknown.
    pub fps: f64,
    /// Whether the frame intervals of the first packets vary (see
    /// [`crate::timestamps::is_variable_rate`]).
    pub variable_rate: bool,
}

/// [`VideoProbe`] of `path`, from one opening of the file: the header, then the timestamps of
/// the first packets (and, when the header has no frame count, a count of all packets).
pub fn probe_video_stream(path: &Path) -> Result<VideoProbe> {
    let mut src = Source::open(path)?;
    let (w, h) = src.size;
    let st = src.av_stream();
    let fps =
        fps_of(&st).ok_or_else(|| anyhow!("{}: video stream has no frame rate", shown(path)))?;
    let header = st.frames().max(0) as usize;
    let mut ts = Vec::new();
    let mut frames = read_packets(&mut src, path, Some(RATE_PACKETS), &mut ts)?;
    let variable_rate = crate::timestamps::is_variable_rate(&seconds(&src, ts));
    if header > 0 {
        frames = header;
    } else {
        frames += read_packets(&mut src, path, None, &mut Vec::new())?;
    }
    if frames == 0 {
        bail!("{}: video stream has no frames", shown(path));
    }
    Ok(VideoProbe {
        frames,
        height: h as usize,
        width: w as usize,
        fps,
        variable_rate,
    })
}

/// Frame count, height, width and frame rate of the best video stream of `path` (see
/// [`VideoProbe`]).
pub fn probe_video(path: &Path) -> Result<(usize, usize, usize, f64)> {
    let p = probe_video_stream(path)?;
    Ok((p.frames, p.height, p.width, p.fps))
}

/// Decodes frames `[start, start + count)` (`count = None`: to the end) of `path`, frame-accurate
/// (see the module docs), with `fps` filled in.
pub fn read_video(path: &Path, start: usize, count: Option<usize>) -> Result<Frames> {
    if count == Some(0) {
        checked_range(path, usize::MAX, start, count, "frames")?;
    }
    let (images, fps) = read_video_rgb(path, start, count)?;
    Frames::from_rgb8(&images, fps).map_err(|e| anyhow!("{}: {e}", shown(path)))
}

/// [`read_video`] without the conversion to `[-1, 1]`: the frames as 8-bit RGB images and the
/// frame rate (used by the clip loader, which resizes and crops before normalising).
pub fn read_video_rgb(
    path: &Path,
    start: usize,
    count: Option<usize>,
) -> Result<(Vec<RgbImage>, Option<f64>)> {
    if count == Some(0) {
        checked_range(path, usize::MAX, start, count, "frames")?;
    }
    let end = count.map(|c| start.saturating_add(c));
    match decode_seek(path, start, end)? {
        Some(r) => Ok(r),
        None => decode_linear(path, start, end),
    }
}

fn stream_fps(src: &Source) -> Option<f64> {
    fps_of(&src.av_stream())
}

/// The stream's base frame rate (`r_frame_rate`, what `ffprobe` and `video-rs` report as the
/// frame rate), falling back to the average frame rate. The base rate is preferred because the
/// average is `frames / duration`, which is off when a muxer stores no duration for the last
/// frame (as happens for files written by `video-rs`).
fn fps_of(st: &video_rs::ffmpeg::format::stream::Stream<'_>) -> Option<f64> {
    rational(st.rate()).or_else(|| rational(st.avg_frame_rate()))
}

/// Reference path: decode from the start, count frames, keep `[start, end)`.
fn decode_linear(
    path: &Path,
    start: usize,
    end: Option<usize>,
) -> Result<(Vec<RgbImage>, Option<f64>)> {
    let mut src = Source::open(path)?;
    let fps = stream_fps(&src);
    let mut images = Vec::new();
    let mut index = 0usize;
    while end.is_none_or(|e| index < e) {
        let frame = match src.next_frame(path) {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            // A damaged or cut-off tail after good frames: the frames before it are the ones
            // that decode (FFmpeg reports the damage itself, as a warning).
            Err(e) if index > 0 => {
                tracing::debug!("{e:#}: treating frame {index} as the end of the stream");
                break;
            }
            Err(e) => return Err(e),
        };
        if index >= start {
            images.push(src.convert_rgb(&frame, path)?);
        }
        index += 1;
    }
    if images.is_empty() || end.is_some_and(|e| index < e) {
        return Err(FewerFrames {
            path: path.to_path_buf(),
            decoded: index,
            start,
            end,
        }
        .into());
    }
    Ok((images, fps))
}

/// Fast path: seek to the keyframe before `start`, decode and drop up to it. Returns `None` when
/// the fast path does not apply or its checks fail (the caller then decodes linearly).
fn decode_seek(
    path: &Path,
    start: usize,
    end: Option<usize>,
) -> Result<Option<(Vec<RgbImage>, Option<f64>)>> {
    if start == 0 {
        return Ok(None);
    }
    let mut src = Source::open(path)?;
    let format = src.reader.input.format().name().to_owned();
    let indexed = format.contains("mp4") || format.contains("matroska") || format == "avi";
    let st = src.av_stream();
    let tb = rational(st.time_base());
    let rate = rational(st.rate());
    let fps = stream_fps(&src);
    let (Some(tb), Some(rate), true) = (tb, rate, indexed) else {
        return Ok(None);
    };
    // Timestamp of frame 0.
    let Some(t0) = src.next_frame(path)?.and_then(|f| f.timestamp()) else {
        return Ok(None);
    };
    let index_of = |ts: i64| -> Option<usize> {
        let x = (ts - t0) as f64 * tb * rate;
        let r = x.round();
        (r >= 0.0 && (x - r).abs() <= 0.1).then_some(r as usize)
    };
    // Half a frame before `start`, in microseconds, so rounding cannot skip past it.
    let target_s = t0 as f64 * tb + (start as f64 - 0.5) / rate;
    if !src.seek_before((target_s * 1e6).floor() as i64) {
        return Ok(None);
    }
    let mut images = Vec::new();
    let mut expected: Option<usize> = None;
    while let Some(frame) = src.next_frame(path)? {
        let Some(index) = frame.timestamp().and_then(index_of) else {
            return Ok(None);
        };
        match expected {
            None if index > start || !frame.is_key() => return Ok(None),
            Some(e) if index != e => return Ok(None),
            _ => {}
        }
        expected = Some(index + 1);
        if index >= start {
            images.push(src.convert_rgb(&frame, path)?);
        }
        if end.is_some_and(|e| index + 1 >= e) {
            return Ok(Some((images, fps)));
        }
    }
    // End of stream: fine when reading to the end; otherwise let the reference path produce the
    // authoritative error (or result).
    if end.is_none() && !images.is_empty() {
        return Ok(Some((images, fps)));
    }
    Ok(None)
}

/// Writes `frames` as an H.264 (libx264 when available) yuv420p video at `fps`; the container
/// follows the extension (`.mp4` recommended; `.mov` and `.mkv` work too). `H` and `W` must be
/// even. Quality: x264 `preset=medium`, `crf=18`.
///
/// Implemented on `video_rs::ffmpeg` (ffmpeg-next) directly rather than `video_rs::Encoder`,
/// because the latter leaves packet durations unset, so MP4 edit lists drop the last frame.
pub fn write_video(path: &Path, frames: &Frames, fps: f64) -> Result<()> {
    init()?;
    frames
        .check_consistent()
        .map_err(|e| anyhow!("{}: {e}", shown(path)))?;
    let (h, w) = (frames.height, frames.width);
    if h % 2 != 0 || w % 2 != 0 {
        bail!(
            "{}: H.264 yuv420p needs an even height and width, got {h}x{w} (HxW)",
            shown(path)
        );
    }
    if !(fps.is_finite() && fps > 0.0) {
        bail!(
            "{}: invalid frame rate {fps} (expected a positive number)",
            shown(path)
        );
    }
    crate::ensure_parent_dir(path)?;
    encode_h264(path, frames, fps)
        .map_err(|e| anyhow!("{}: cannot write H.264 video: {e}", shown(path)))
}

fn encode_h264(path: &Path, frames: &Frames, fps: f64) -> Result<()> {
    use video_rs::ffmpeg as ff;
    let (h, w) = (frames.height as u32, frames.width as u32);
    let mut octx = ff::format::output(path)?;
    let codec = ff::encoder::find_by_name("libx264")
        .or_else(|| ff::encoder::find(ff::codec::Id::H264))
        .ok_or_else(|| anyhow!("FFmpeg has no H.264 encoder"))?;
    let global_header = octx
        .format()
        .flags()
        .contains(ff::format::flag::Flags::GLOBAL_HEADER);
    let stream_index = octx.add_stream(codec)?.index();

    let rate = ff::Rational::from(fps);
    let enc_tb = rate.invert();
    let mut enc = ff::codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()?;
    enc.set_width(w);
    enc.set_height(h);
    enc.set_format(Pixel::YUV420P);
    enc.set_frame_rate(Some(rate));
    enc.set_time_base(enc_tb);
    if global_header {
        enc.set_flags(ff::codec::flag::Flags::GLOBAL_HEADER);
    }
    let mut opts = ff::Dictionary::new();
    opts.set("preset", "medium");
    opts.set("crf", "18");
    let mut encoder = enc.open_with(opts)?;
    {
        let mut ost = octx.stream_mut(stream_index).expect("stream just added");
        ost.set_parameters(&encoder);
        ost.set_time_base(enc_tb);
        ost.set_avg_frame_rate(rate);
    }
    octx.write_header()?;
    let ost_tb = octx
        .stream(stream_index)
        .expect("stream just added")
        .time_base();

    let mut scaler = ff::software::scaling::Context::get(
        Pixel::RGB24,
        w,
        h,
        Pixel::YUV420P,
        w,
        h,
        ff::software::scaling::Flags::BILINEAR,
    )?;
    let write_packets =
        |encoder: &mut ff::encoder::Video, octx: &mut ff::format::context::Output| -> Result<()> {
            let mut packet = ff::Packet::empty();
            while encoder.receive_packet(&mut packet).is_ok() {
                packet.set_stream(stream_index);
                if packet.duration() <= 0 {
                    packet.set_duration(1);
                }
                packet.rescale_ts(enc_tb, ost_tb);
                packet.write_interleaved(octx)?;
            }
            Ok(())
        };
    let mut rgb = RawFrame::new(Pixel::RGB24, w, h);
    let mut yuv = RawFrame::empty();
    for t in 0..frames.frames {
        let img = frames.to_rgb8(t);
        let stride = rgb.stride(0);
        let data = rgb.data_mut(0);
        for (y, row) in img.as_raw().chunks_exact(w as usize * 3).enumerate() {
            data[y * stride..y * stride + row.len()].copy_from_slice(row);
        }
        scaler.run(&rgb, &mut yuv)?;
        yuv.set_pts(Some(t as i64));
        encoder.send_frame(&yuv)?;
        write_packets(&mut encoder, &mut octx)?;
    }
    encoder.send_eof()?;
    write_packets(&mut encoder, &mut octx)?;
    octx.write_trailer()?;
    Ok(())
}
