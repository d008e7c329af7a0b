//! `cosmotok data inspect` on the bundled media: the report and the contact sheet.

mod common;

use common::*;

#[test]
fn data_inspect_reports_and_writes_a_contact_sheet() {
    let media = root().join("assets/media");
    let sheet = tmp_path("sheet.png");
    let (ok, text) = run(&[
        "data",
        "inspect",
        media.to_str().unwrap(),
        "--batches",
        "3",
        "--batch-size",
        "2",
        "--num-frames",
        "9",
        "--tile",
        "32",
        "--frames-per-clip",
        "3",
        "--out",
        sheet.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let videos = if cfg!(feature = "video") { 4 } else { 0 };
    assert!(
        text.contains("12 clip sources") || !cfg!(feature = "video"),
        "{text}"
    );
    assert!(
        text.contains(&format!("7 images, {videos} videos, 1 frame folders")),
        "{text}"
    );
    // Spec 256 table, crop 256: 1:1 holds 3 images (astronaut, camera, hubble).
    assert!(text.contains("1:1  256x256 : 3"), "{text}");
    assert!(text.contains("batches drawn: 3"), "{text}");
    assert_eq!(text.matches("  #").count(), 3, "{text}");
    // Contact sheet: 3 batches x 2 clips = 6 rows, 3 columns of 32 px tiles, 4 px gaps.
    let img = image::open(&sheet).unwrap();
    assert_eq!((img.width(), img.height()), (3 * 36 + 4, 6 * 36 + 4));
    assert!(
        text.contains(&format!("({}x{})", 3 * 36 + 4, 6 * 36 + 4)),
        "{text}"
    );
    // Not a blank sheet: tiles hold the media.
    let rgb = img.to_rgb8();
    let distinct: std::collections::HashSet<_> = rgb.pixels().map(|p| p.0).collect();
    assert!(distinct.len() > 100, "{} colours", distinct.len());
}

#[test]
fn data_inspect_reads_a_toml_config_and_reports_bad_paths() {
    let cfg = tmp_path("train.toml");
    let images = root().join("assets/media/images");
    std::fs::write(
        &cfg,
        format!(
            "[model]\nname = \"ignored here\"\n\n[data]\nnum_frames = 1\nbatch_size = 3\n\
             resolution = 360\ncrop = 0\n[[data.sources]]\npath = \"{}\"\nkind = \"images\"\n",
            images.display()
        ),
    )
    .unwrap();
    let sheet = tmp_path("sheet2.png");
    let (ok, text) = run(&[
        "data",
        "inspect",
        cfg.to_str().unwrap(),
        "--batches",
        "2",
        "--eval",
        "--out",
        sheet.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    // 360 key, crop 0: 1:1 resize 320² → 320x320 crop; 4:3 416x320 → 416x320.
    assert!(text.contains("1:1  320x320 : 3"), "{text}");
    assert!(text.contains("4:3  416x320 : 4"), "{text}");
    assert!(text.contains("shape [3, 3, 1, 320, 320]"), "{text}");
    let (ok, text) = run(&["data", "inspect", "/nonexistent/dataset"]);
    assert!(!ok);
    assert!(
        text.contains("/nonexistent/dataset") && text.contains("no such file"),
        "{text}"
    );
}
