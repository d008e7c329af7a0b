//! Broken or mislabelled files give a clear `Err` naming the file, never a panic.
mod common;

use common::TempDir;
use cosmotok_data::{read_any, read_frame_folder, read_image};

fn err_text(r: anyhow::Result<cosmotok_data::Frames>) -> String {
    format!("{:#}", r.expect_err("expected an error"))
}

#[test]
fn zero_byte_and_truncated_images() {
    let tmp = TempDir::new("bad");
    let empty = tmp.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    let e = err_text(read_image(&empty));
    assert!(
        e.contains("empty.png") && e.contains("cannot decode image"),
        "{e}"
    );
    let e = err_text(read_any(&empty, 0, None));
    assert!(e.contains("empty.png"), "{e}");

    let png = std::fs::read(common::media().join("images/chelsea.png")).unwrap();
    let truncated = tmp.path().join("truncated.png");
    std::fs::write(&truncated, &png[..png.len() / 3]).unwrap();
    let e = err_text(read_image(&truncated));
    assert!(
        e.contains("truncated.png") && e.contains("cannot decode image"),
        "{e}"
    );

    let text = tmp.path().join("notes.jpg");
    std::fs::write(&text, b"this is not an image\n").unwrap();
    let e = err_text(read_image(&text));
    assert!(e.contains("notes.jpg"), "{e}");

    // A frame folder containing a broken frame names that frame.
    let folder = tmp.path().join("episode");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(
        common::media().join("images/chelsea.png"),
        folder.join("frame_1.png"),
    )
    .unwrap();
    std::fs::write(folder.join("frame_2.png"), &png[..100]).unwrap();
    let e = err_text(read_frame_folder(&folder, 0, None));
    assert!(e.contains("frame_2.png"), "{e}");
}

#[test]
fn text_file_renamed_mp4() {
    let tmp = TempDir::new("badvid");
    let fake = tmp.path().join("fake.mp4");
    std::fs::write(&fake, b"definitely not a video\n".repeat(50)).unwrap();
    let e = err_text(read_any(&fake, 0, None));
    assert!(e.contains("fake.mp4"), "{e}");
    #[cfg(not(feature = "video"))]
    assert!(e.contains("`video` cargo feature"), "{e}");

    let zero = tmp.path().join("zero.mp4");
    std::fs::write(&zero, b"").unwrap();
    let e = err_text(read_any(&zero, 0, None));
    assert!(e.contains("zero.mp4"), "{e}");

    let unknown = tmp.path().join("data.xyz");
    std::fs::write(&unknown, b"x").unwrap();
    let e = err_text(read_any(&unknown, 0, None));
    assert!(
        e.contains("data.xyz") && e.contains("unknown media type"),
        "{e}"
    );
}

#[cfg(feature = "video")]
#[test]
fn broken_videos_error_cleanly() {
    use cosmotok_data::{probe_video, read_video};
    let tmp = TempDir::new("badvid2");
    let fake = tmp.path().join("fake.mp4");
    std::fs::write(&fake, b"definitely not a video\n".repeat(50)).unwrap();
    let e = format!("{:#}", probe_video(&fake).unwrap_err());
    assert!(e.contains("fake.mp4"), "{e}");
    let e = err_text(read_video(&fake, 3, Some(2)));
    assert!(e.contains("fake.mp4"), "{e}");

    // Truncated mp4 (faststart: moov first, then cut in the middle of the media data).
    let mp4 = std::fs::read(common::media().join("videos/vtest.mp4")).unwrap();
    let cut = tmp.path().join("cut.mp4");
    std::fs::write(&cut, &mp4[..1000]).unwrap();
    match read_video(&cut, 0, None) {
        Ok(f) => assert!(f.frames < 30),
        Err(e) => assert!(format!("{e:#}").contains("cut.mp4"), "{e:#}"),
    }
    // An image is not a video.
    let png = tmp.path().join("image.mkv");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n").unwrap();
    let e = err_text(read_video(&png, 0, None));
    assert!(e.contains("image.mkv"), "{e}");
}
