//! The README's main job, shortened: the quickstart recipe trains on the bundled real videos
//! and photos and its held-out clip (a frame folder of a scene it never trains on) reconstructs
//! clearly better than with the untrained model.

#![cfg(feature = "video")]

mod common;

use std::sync::atomic::AtomicBool;

use common::*;

#[test]
fn quickstart_improves_held_out_psnr() {
    let dir = scratch("quickstart");
    let recipe = repo().join("configs/recipes/quickstart.toml");
    // Paths in the recipe are relative to the repository root.
    std::env::set_current_dir(repo()).unwrap();
    let cfg = cosmotok_train::config::load(
        &recipe,
        &[
            "run.iterations=80".into(),
            format!("run.out_dir=\"{}\"", dir.display()),
            "eval.every=0".into(),
            "run.checkpoint_every=1000".into(),
        ],
    )
    .unwrap();
    let held_out = &cfg.data.eval_sources;
    assert!(
        cfg.data.sources.iter().all(|s| !held_out.contains(s)),
        "the eval clip must not be a training source"
    );
    let mut t = fresh(cfg);
    let summary = t.run(&AtomicBool::new(false)).unwrap();
    let before = summary.first_eval.unwrap();
    let after = summary.final_eval.unwrap();
    eprintln!(
        "held-out PSNR {:.2} → {:.2} dB, SSIM {:.3} → {:.3}",
        before.psnr, after.psnr, before.ssim, after.ssim
    );
    assert_eq!(summary.steps, 80);
    assert!(
        after.psnr > before.psnr + 2.5,
        "held-out PSNR {:.2} → {:.2} dB: expected a gain of more than 2.5 dB",
        before.psnr,
        after.psnr
    );
    assert!(
        after.ssim > before.ssim + 0.1,
        "SSIM {} → {}",
        before.ssim,
        after.ssim
    );
    assert!(dir.join("grids/step_00000080.png").is_file());
    assert!(dir.join("checkpoints/step_00000080/state.json").is_file());
}
