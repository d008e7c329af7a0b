mod common;

use common::{TempDir, media};
use cosmotok_data::{Frames, read_any, read_image, write_any, write_image};

const IMAGES: &[(&str, usize, usize)] = &[
    ("astronaut.png", 512, 512),
    ("chelsea.png", 300, 451),
    ("coffee.png", 341, 512),
    ("motorcycle_left.png", 345, 512),
    ("camera.png", 512, 512),
    ("rocket.jpg", 342, 512),
    ("hubble_deep_field.webp", 335, 384),
];

#[test]
fn bundled_images_read_with_expected_shape_and_range() {
    for &(name, h, w) in IMAGES {
        let path = media().join("images").join(name);
        let f = read_image(&path).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(f.shape(), [3, 1, h, w], "{name}");
        assert_eq!(f.data.len(), 3 * h * w);
        assert!(
            f.data.iter().all(|v| (-1.0..=1.0).contains(v)),
            "{name}: values out of [-1, 1]"
        );
        assert_eq!(f.fps, None);
        // Not a constant image.
        let (lo, hi) = f
            .data
            .iter()
            .fold((1f32, -1f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        assert!(hi - lo > 0.5, "{name}: suspiciously flat ({lo}..{hi})");
        // read_any dispatches to the same reader.
        assert_eq!(read_any(&path, 0, None).unwrap(), f);
        assert_eq!(read_any(&path, 0, Some(1)).unwrap(), f);
    }
}

#[test]
fn grayscale_becomes_three_equal_channels() {
    let f = read_image(&media().join("images/camera.png")).unwrap();
    let plane = f.height * f.width;
    assert_eq!(&f.data[..plane], &f.data[plane..2 * plane]);
    assert_eq!(&f.data[..plane], &f.data[2 * plane..]);
    // A colour image does not have equal channels.
    let c = read_image(&media().join("images/chelsea.png")).unwrap();
    let plane = c.height * c.width;
    assert_ne!(&c.data[..plane], &c.data[plane..2 * plane]);
}

#[test]
fn png_round_trip_is_exact() {
    let tmp = TempDir::new("png");
    for name in ["chelsea.png", "rocket.jpg", "camera.png"] {
        let f = read_image(&media().join("images").join(name)).unwrap();
        let out = tmp.path().join(format!("{name}.png"));
        write_image(&out, &f, 0).unwrap();
        let back = read_image(&out).unwrap();
        assert_eq!(back, f, "{name}: PNG round trip changed values");
        // Via write_any too.
        let out2 = tmp.path().join(format!("{name}.any.PNG"));
        write_any(&out2, &f).unwrap();
        assert_eq!(read_image(&out2).unwrap(), f);
    }
}

#[test]
fn to_rgb8_rounds_like_the_official_cli() {
    // Values between u8 levels: (v + 1) / 2 * 255 + 0.5, truncated; out-of-range values clamp.
    let f = Frames {
        data: vec![
            -2.0, -1.0, 0.0, 1.0, 3.0, 0.002, 0.006, -0.5, 0.5, 1.0, 1.0, 1.0,
        ],
        frames: 1,
        height: 1,
        width: 4,
        fps: None,
    };
    let img = f.to_rgb8(0);
    let r: Vec<u8> = img.pixels().map(|p| p[0]).collect();
    assert_eq!(r, [0, 0, 128, 255]);
    let g: Vec<u8> = img.pixels().map(|p| p[1]).collect();
    assert_eq!(g, [255, 128, 128, 64]);
}

#[test]
fn write_errors_name_the_file() {
    let tmp = TempDir::new("imgerr");
    let f = read_image(&media().join("images/chelsea.png")).unwrap();
    let two = Frames::from_rgb8(&[f.to_rgb8(0), f.to_rgb8(0)], None).unwrap();
    let out = tmp.path().join("two.png");
    let err = format!("{:#}", write_any(&out, &two).unwrap_err());
    assert!(err.contains("two.png") && err.contains("2 frames"), "{err}");
    let err = format!("{:#}", write_image(&out, &f, 3).unwrap_err());
    assert!(err.contains("two.png") && err.contains("frame 3"), "{err}");
    let err = format!(
        "{:#}",
        read_any(&media().join("images/chelsea.png"), 1, None).unwrap_err()
    );
    assert!(err.contains("chelsea.png"), "{err}");
}
