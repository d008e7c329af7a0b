//! The VGG-16 weight file contract: key names/shapes of the real network against
//! torchvision's `vgg16(weights=None).features` (committed key list), clear errors for a
//! missing file (naming the converter command) and a wrong-width file, and no weights needed
//! when the perceptual and Gram weights are 0 for the whole run.

mod common;

use std::collections::BTreeMap;

use burn::prelude::*;
use common::*;
use cosmotok_losses::vgg::{VGG16_WIDTHS, expected_keys};
use cosmotok_losses::{LossConfig, LossError, ReconLoss, Schedule, Vgg16};

#[test]
fn real_vgg16_keys_and_shapes_match_torchvision() {
    let text = std::fs::read_to_string(fixture("vgg16_keys.json")).unwrap();
    let want: BTreeMap<String, Vec<usize>> = serde_json::from_str(&text).unwrap();
    let got: BTreeMap<String, Vec<usize>> = expected_keys(VGG16_WIDTHS).into_iter().collect();
    assert_eq!(got.len(), 26);
    assert_eq!(got, want);
}

#[test]
fn missing_weights_file_names_the_converter() {
    let dev = Device::flex();
    let cfg = LossConfig {
        vgg_weights: Some("/nonexistent/vgg16.safetensors".into()),
        ..LossConfig::default()
    };
    let err = ReconLoss::new(&cfg, &dev).err().expect("must fail");
    let msg = err.to_string();
    assert!(matches!(err, LossError::MissingVggWeights { .. }), "{msg}");
    assert!(msg.contains("/nonexistent/vgg16.safetensors"), "{msg}");
    assert!(msg.contains("python3 scripts/convert_vgg16.py"), "{msg}");
    // Not configured at all: same error kind, also naming the converter and the key.
    let err = ReconLoss::new(&LossConfig::default(), &dev).err().unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("convert_vgg16.py") && msg.contains("vgg_weights"),
        "{msg}"
    );
}

#[test]
fn wrong_widths_name_key_and_shapes() {
    let dev = Device::flex();
    let err = Vgg16::load(&fixture("vgg16_tiny.safetensors"), VGG16_WIDTHS, &dev)
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(msg.contains("features.0.weight"), "{msg}");
    assert!(
        msg.contains("[4, 3, 3, 3]") && msg.contains("[64, 3, 3, 3]"),
        "{msg}"
    );
}

#[test]
fn perceptual_off_needs_no_weights() {
    let dev = Device::flex();
    let cfg = LossConfig {
        perceptual_weight: Schedule::Constant(0.0),
        gram_weight: Schedule::Piecewise {
            steps: vec![(0, 0.0)],
        },
        ..LossConfig::default()
    };
    let loss = ReconLoss::new(&cfg, &dev).expect("no VGG needed");
    assert!(loss.vgg().is_none());
    let x = Tensor::<5>::zeros([1, 3, 1, 8, 8], &dev);
    let xh = Tensor::<5>::ones([1, 3, 1, 8, 8], &dev);
    let t = loss.forward(x, xh, 0);
    assert_eq!(t.values(), vec![("pixel".to_string(), 1.0)]);
}
