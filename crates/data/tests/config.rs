//! `DataConfig` as the `[data]` table of a training TOML, defaults and validation.
mod common;

use cosmotok_data::{DataConfig, SourceKind};

#[derive(serde::Deserialize)]
struct Train {
    data: DataConfig,
}

#[test]
fn parses_the_data_table() {
    let t: Train = toml::from_str(
        r#"
        [data]
        num_frames = 33
        resolution = 720
        crop = 256
        batch_size = 4
        seed = 5
        [[data.sources]]
        path = "assets/media/videos"
        kind = "videos"
        [[data.sources]]
        path = "clips.jsonl"
        weight = 2.0
        [[data.buckets]]
        ratio = "16:9"
        resize = [320, 192]
        crop = [256, 144]
        "#,
    )
    .unwrap();
    let d = t.data;
    assert_eq!(d.num_frames, 33);
    assert_eq!(d.sources[0].kind, SourceKind::Videos);
    assert_eq!(d.sources[1].kind, SourceKind::Auto);
    assert_eq!(d.sources[1].weight, 2.0);
    assert_eq!(d.buckets[0].crop, [256, 144]);
    // Unset fields keep the defaults.
    assert_eq!(d.frame_stride, 1);
    assert_eq!(d.crop_only_prob, 0.1);
    d.validate(8, 16).unwrap();
    // Unknown keys are refused by name.
    let e = toml::from_str::<Train>("[data]\nnum_frame = 3\n")
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("num_frame"), "{e}");
}

#[test]
fn validate_against_the_model() {
    let mut d = DataConfig {
        sources: vec![cosmotok_data::SourceConfig::auto("x")],
        ..DataConfig::default()
    };
    d.validate(8, 16).unwrap();
    d.validate(4, 8).unwrap();
    d.num_frames = 16;
    let e = d.validate(8, 16).unwrap_err().to_string();
    assert!(
        e.contains("num_frames = 16") && e.contains("1 + k*8") && e.contains("9 or 17"),
        "{e}"
    );
    d.num_frames = 1;
    d.validate(8, 16).unwrap();
    // crop=256 at resolution 256 gives 144-high crops: fine for 16, not for 32.
    let e = d.validate(8, 32).unwrap_err().to_string();
    assert!(e.contains("256x144") && e.contains("32"), "{e}");
    d.image_ratio = 1.5;
    assert!(
        d.validate(8, 16)
            .unwrap_err()
            .to_string()
            .contains("image_ratio")
    );
}
