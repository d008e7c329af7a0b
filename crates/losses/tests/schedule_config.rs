//! Loss-weight schedules and the `[loss]` TOML table: the docs/architecture.md §9.2 defaults, the
//! three TOML forms, validation errors naming the field, and the adversarial start/warm-up factor.

use cosmotok_losses::config::{DiscKind, DiscNorm, GanLoss, PixelKind};
use cosmotok_losses::{LossConfig, Schedule};

#[derive(serde::Deserialize)]
struct Root {
    loss: LossConfig,
}

fn parse(s: &str) -> Result<LossConfig, String> {
    toml::from_str::<Root>(s)
        .map(|r| r.loss)
        .map_err(|e| e.to_string())
}

#[test]
fn spec_defaults() {
    let c = LossConfig::default();
    assert_eq!(c.pixel, PixelKind::L1);
    assert_eq!(c.pixel_weight.at(0), 1.0);
    assert_eq!(c.perceptual_weight.at(0), 0.1);
    assert_eq!(c.perceptual_weight.at(499_999), 0.1);
    assert_eq!(c.perceptual_weight.at(500_000), 0.073);
    assert_eq!(c.gram_weight.at(499_999), 0.0);
    assert_eq!(c.gram_weight.at(500_000), 0.062);
    assert_eq!(c.kl_weight.at(123), 1e-6);
    assert!(!c.adversarial.enabled);
    assert_eq!(c.adversarial.lr, 4e-4);
    assert_eq!(c.adversarial.betas, (0.5, 0.999));
    // An empty table is the default.
    assert_eq!(parse("[loss]\n").unwrap(), c);
}

#[test]
fn toml_forms() {
    let c = parse(
        r#"
[loss]
pixel = "l2"
pixel_weight = 2.0
perceptual_weight = [[0, 0.1], [500000, 0.073]]
gram_weight = { start = 100, end = 200, from = 0.0, to = 0.5 }
vgg_weights = "weights/vgg16.safetensors"
[loss.adversarial]
enabled = true
disc = "patch3d"
norm = "spectral"
loss = "non_saturating"
start_iter = 1000
warmup = 100
weight = 0.5
"#,
    )
    .unwrap();
    assert_eq!(c.pixel, PixelKind::L2);
    assert_eq!(c.pixel_weight, Schedule::Constant(2.0));
    assert_eq!(c.perceptual_weight.at(600_000), 0.073);
    assert_eq!(c.gram_weight.at(0), 0.0);
    assert_eq!(c.gram_weight.at(150), 0.25);
    assert_eq!(c.gram_weight.at(10_000), 0.5);
    let a = &c.adversarial;
    assert_eq!(
        (a.disc, a.norm, a.loss),
        (
            DiscKind::Patch3d,
            DiscNorm::Spectral,
            GanLoss::NonSaturating
        )
    );
    assert_eq!(a.factor(999), 0.0);
    assert_eq!(a.factor(1000), 0.01);
    assert_eq!(a.factor(1049), 0.5);
    assert_eq!(a.factor(5000), 1.0);
    c.validate().unwrap();
    // Round trip through TOML.
    let s = toml::to_string(&c).unwrap();
    let back: LossConfig = toml::from_str(&s).unwrap();
    assert_eq!(back, c);
}

#[test]
fn bad_config_names_the_field() {
    let e = parse("[loss]\nperceptual_wieght = 0.1\n").unwrap_err();
    assert!(e.contains("unknown field"), "{e}");
    let c = parse("[loss]\ngram_weight = [[500000, 0.062], [100, 0.0]]\n").unwrap();
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("gram_weight") && e.contains("increasing"), "{e}");
    let c = parse("[loss]\nperceptual_weight = -0.1\n").unwrap();
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("perceptual_weight") && e.contains("-0.1"), "{e}");
    let c = parse("[loss.adversarial]\nlecam_decay = 1.5\n").unwrap();
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("adversarial.lecam_decay"), "{e}");
}
