//! Data parallelism on one node: two replicas (two Flex devices, one thread each) with the
//! same global batch give the weights of single-device training.

mod common;

use common::*;
use cosmotok_model::params::named_params;
use cosmotok_train::Trainer;

fn trainer(name: &str, devices: &[&str]) -> Trainer {
    let dir = scratch(name);
    let mut cfg = tiny_config(&dir);
    cfg.loss.adversarial.enabled = false;
    cfg.data.batch_size = 2;
    cfg.run.devices = devices.iter().map(|d| d.to_string()).collect();
    cfg.validate().unwrap();
    fresh(cfg)
}

#[test]
fn two_replicas_match_one_device_with_the_same_global_batch() {
    let mut one = trainer("dp_one", &[]);
    let mut two = trainer("dp_two", &["flex", "flex"]);
    for _ in 0..3 {
        let a = one.step().unwrap();
        let b = two.step().unwrap();
        assert!(
            (a.loss - b.loss).abs() <= 1e-4 * a.loss.abs().max(1.0),
            "step {}: loss {} vs {}",
            a.step,
            a.loss,
            b.loss
        );
        let (ga, gb) = (a.grad_norm.unwrap(), b.grad_norm.unwrap());
        assert!((ga - gb).abs() <= 1e-5 * ga, "grad norm {ga} vs {gb}");
    }
    let wa = named_params(&one.model);
    let wb = named_params(&two.model);
    let mut worst = 0f32;
    for (k, a) in &wa {
        let a = a.try_to_vec::<f32>().unwrap();
        let b = wb[k].try_to_vec::<f32>().unwrap();
        for (x, y) in a.iter().zip(&b) {
            worst = worst.max((x - y).abs());
        }
    }
    assert!(worst <= 1e-5, "weights differ by {worst:e} after 3 steps");
}

#[test]
fn uneven_split_is_a_clear_error() {
    let dir = scratch("dp_err");
    let mut cfg = tiny_config(&dir);
    cfg.loss.adversarial.enabled = false;
    cfg.data.batch_size = 3;
    cfg.run.devices = vec!["flex".into(), "flex".into()];
    let err = format!("{:#}", cfg.validate().unwrap_err());
    assert!(err.contains("batch_size") && err.contains('3'), "{err}");
}
