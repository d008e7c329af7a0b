//! Video decode/encode against the bundled clips (needs `--features video`).
#![cfg(feature = "video")]
mod common;

use common::{TempDir, frame_bytes, media};
use cosmotok_data::{Frames, probe_video, read_any, read_video, write_any, write_video};

fn video(name: &str) -> std::path::PathBuf {
    media().join("videos").join(name)
}

#[test]
fn probe_bundled_clips() {
    for (name, frames, h, w, fps) in [
        ("vtest.mp4", 30, 288, 384, 10.0),
        ("city.mp4", 75, 270, 480, 25.0),
        ("bigbuckbunny.mp4", 75, 270, 480, 25.0),
        ("vtest_short.avi", 10, 288, 384, 10.0),
    ] {
        let (n, ph, pw, pfps) = probe_video(&video(name)).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!((n, ph, pw), (frames, h, w), "{name}");
        assert!((pfps - fps).abs() < 1e-6, "{name}: fps {pfps}");
    }
}

fn max_abs_diff(a: &[u8], b: &[u8]) -> u8 {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

#[test]
fn offset_reads_equal_full_decode() {
    for name in [
        "vtest.mp4",
        "city.mp4",
        "bigbuckbunny.mp4",
        "vtest_short.avi",
    ] {
        let path = video(name);
        let full = read_video(&path, 0, None).unwrap_or_else(|e| panic!("{e:#}"));
        let (n, h, w, fps) = probe_video(&path).unwrap();
        assert_eq!(full.shape(), [3, n, h, w], "{name}");
        assert_eq!(full.fps, Some(fps));
        assert!(full.data.iter().all(|v| (-1.0..=1.0).contains(v)));
        // Starts on, just after, and just before keyframes (GOP 12 for the mp4s, 5 for the avi),
        // plus reads to the end.
        let mut cases: Vec<(usize, Option<usize>)> = vec![
            (1, Some(3)),
            (5, Some(4)),
            (11, Some(3)),
            (12, Some(2)),
            (13, Some(7)),
            (n - 3, Some(3)),
            (n - 4, None),
        ];
        cases.retain(|&(s, c)| s + c.unwrap_or(1) <= n);
        for (start, count) in cases {
            let part = read_video(&path, start, count).unwrap_or_else(|e| panic!("{e:#}"));
            let k = count.unwrap_or(n - start);
            assert_eq!(part.frames, k, "{name} {start} {count:?}");
            for t in 0..k {
                let d = max_abs_diff(&frame_bytes(&part, t), &frame_bytes(&full, start + t));
                assert_eq!(
                    d,
                    0,
                    "{name}: frame {} differs (start {start}) by {d}",
                    start + t
                );
            }
        }
        // read_any dispatches to the same decoder.
        let via_any = read_any(&path, 2, Some(2)).unwrap();
        assert_eq!(frame_bytes(&via_any, 1), frame_bytes(&full, 3));
        // Consecutive frames differ (the clips move).
        assert_ne!(frame_bytes(&full, 0), frame_bytes(&full, n - 1));
    }
}

#[test]
fn out_of_range_errors_name_the_file() {
    let e = format!(
        "{:#}",
        read_video(&video("vtest.mp4"), 25, Some(17)).unwrap_err()
    );
    assert!(
        e.contains("vtest.mp4") && e.contains("has 30 frames") && e.contains("25..42"),
        "{e}"
    );
    let e = format!(
        "{:#}",
        read_video(&video("vtest_short.avi"), 10, None).unwrap_err()
    );
    assert!(
        e.contains("vtest_short.avi") && e.contains("has 10 frames"),
        "{e}"
    );
    assert!(read_video(&video("vtest.mp4"), 0, Some(0)).is_err());
}

fn psnr(a: &Frames, b: &Frames) -> f64 {
    let mut se = 0f64;
    let mut n = 0usize;
    for t in 0..a.frames {
        for (x, y) in frame_bytes(a, t).iter().zip(frame_bytes(b, t)) {
            se += (*x as f64 - y as f64).powi(2);
            n += 1;
        }
    }
    10.0 * (255f64 * 255.0 / (se / n as f64)).log10()
}

#[test]
fn write_then_read_back() {
    let tmp = TempDir::new("vid");
    let src = read_video(&video("bigbuckbunny.mp4"), 10, Some(20)).unwrap();
    let out = tmp.path().join("round.mp4");
    write_video(&out, &src, 25.0).unwrap();
    let (n, h, w, fps) = probe_video(&out).unwrap();
    assert_eq!((n, h, w), (20, 270, 480));
    assert!((fps - 25.0).abs() < 1e-3, "fps {fps}");
    let back = read_video(&out, 0, None).unwrap();
    assert_eq!(back.shape(), src.shape());
    let p = psnr(&src, &back);
    assert!(p > 30.0, "PSNR {p:.2} dB");
    // Offset read of our own output is frame-accurate too.
    let part = read_video(&out, 13, Some(4)).unwrap();
    for t in 0..4 {
        assert_eq!(frame_bytes(&part, t), frame_bytes(&back, 13 + t));
    }

    // write_any on a video extension uses frames.fps (10 fps here).
    let vt = read_video(&video("vtest_short.avi"), 0, None).unwrap();
    let out2 = tmp.path().join("vt.MOV");
    write_any(&out2, &vt).unwrap();
    let (n, _, _, fps) = probe_video(&out2).unwrap();
    assert_eq!(n, 10);
    assert!((fps - 10.0).abs() < 1e-3, "fps {fps}");
    assert!(psnr(&vt, &read_any(&out2, 0, None).unwrap()) > 30.0);

    // Odd sizes are rejected with a clear message.
    let odd = Frames::from_rgb8(&[image::RgbImage::new(5, 4)], None).unwrap();
    let e = format!(
        "{:#}",
        write_video(&tmp.path().join("odd.mp4"), &odd, 10.0).unwrap_err()
    );
    assert!(e.contains("odd.mp4") && e.contains("even"), "{e}");
}

/// Frames from the clip reader (offset reads, the loader's path) equal PyAV's full decode
/// byte for byte (SHA-256 of the RGB24 frames, `scripts/make_pyav_fixture.py`; H.264 files,
/// whose decoding is bit-exact across FFmpeg builds).
#[test]
fn offset_reads_match_pyav() {
    use sha2::{Digest, Sha256};
    let fx =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pyav_frames.json");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx).unwrap()).unwrap();
    let mut checked = 0;
    for (name, frames) in meta["frames"].as_object().unwrap() {
        for (index, hash) in frames.as_object().unwrap() {
            let n: usize = index.parse().unwrap();
            let (imgs, _) = cosmotok_data::read_video_rgb(&video(name), n, Some(1)).unwrap();
            let got: String = Sha256::digest(imgs[0].as_raw())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(got, hash.as_str().unwrap(), "{name} frame {n}");
            checked += 1;
        }
    }
    assert_eq!(checked, 10);
}
