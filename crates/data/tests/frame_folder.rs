mod common;

use common::{TempDir, frame_bytes, media};
use cosmotok_data::{
    Frames, list_image_files, read_any, read_frame_folder, read_image, write_any,
    write_frame_folder,
};

fn episode() -> std::path::PathBuf {
    media().join("frames/episode_000")
}

#[test]
fn natural_sort_order() {
    let names: Vec<String> = list_image_files(&episode())
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let expected: Vec<String> = (1..=17).map(|i| format!("frame_{i}.png")).collect();
    assert_eq!(names, expected);

    let all = read_frame_folder(&episode(), 0, None).unwrap();
    assert_eq!(all.shape(), [3, 17, 192, 256]);
    assert_eq!(all.fps, None);
    // Index 9 is frame_10.png (lexicographic order would give frame_17.png there).
    let f10 = read_image(&episode().join("frame_10.png")).unwrap();
    assert_eq!(frame_bytes(&all, 9), frame_bytes(&f10, 0));
    let f2 = read_image(&episode().join("frame_2.png")).unwrap();
    assert_eq!(frame_bytes(&all, 1), frame_bytes(&f2, 0));
    assert_ne!(frame_bytes(&all, 1), frame_bytes(&all, 9));
}

#[test]
fn start_and_count_slicing() {
    let all = read_frame_folder(&episode(), 0, None).unwrap();
    let part = read_frame_folder(&episode(), 9, Some(5)).unwrap();
    assert_eq!(part.shape(), [3, 5, 192, 256]);
    for t in 0..5 {
        assert_eq!(frame_bytes(&part, t), frame_bytes(&all, 9 + t));
    }
    let tail = read_any(&episode(), 15, None).unwrap();
    assert_eq!(tail.frames, 2);
    assert_eq!(frame_bytes(&tail, 1), frame_bytes(&all, 16));

    let err = format!(
        "{:#}",
        read_frame_folder(&episode(), 10, Some(8)).unwrap_err()
    );
    assert!(
        err.contains("episode_000") && err.contains("has 17") && err.contains("10..18"),
        "{err}"
    );
    let err = format!("{:#}", read_frame_folder(&episode(), 17, None).unwrap_err());
    assert!(
        err.contains("episode_000") && err.contains("has 17"),
        "{err}"
    );
    assert!(read_frame_folder(&episode(), 0, Some(0)).is_err());
}

#[test]
fn write_and_read_back_frame_folder() {
    let tmp = TempDir::new("folder");
    let src = read_frame_folder(&episode(), 0, Some(12)).unwrap();
    let out = tmp.path().join("out");
    write_frame_folder(&out, &src).unwrap();
    assert!(out.join("frame_00000.png").is_file() && out.join("frame_00011.png").is_file());
    assert_eq!(read_frame_folder(&out, 0, None).unwrap(), src);
    // write_any without a media extension writes a frame folder.
    let out2 = tmp.path().join("out2");
    write_any(&out2, &src).unwrap();
    assert_eq!(read_any(&out2, 0, None).unwrap(), src);
}

#[test]
fn folder_errors() {
    let tmp = TempDir::new("folderr");
    let err = format!("{:#}", read_frame_folder(tmp.path(), 0, None).unwrap_err());
    assert!(
        err.contains("no image files found") && err.contains(&tmp.path().display().to_string()),
        "{err}"
    );
    // Mixed sizes are rejected, naming the offending file.
    let a = Frames::from_rgb8(&[image::RgbImage::new(4, 2)], None).unwrap();
    let b = Frames::from_rgb8(&[image::RgbImage::new(2, 2)], None).unwrap();
    cosmotok_data::write_image(&tmp.path().join("f1.png"), &a, 0).unwrap();
    cosmotok_data::write_image(&tmp.path().join("f2.png"), &b, 0).unwrap();
    let err = format!("{:#}", read_frame_folder(tmp.path(), 0, None).unwrap_err());
    assert!(err.contains("f2.png") && err.contains("same size"), "{err}");
    let missing = tmp.path().join("nope");
    let err = format!("{:#}", read_any(&missing, 0, None).unwrap_err());
    assert!(err.contains("nope"), "{err}");
}
