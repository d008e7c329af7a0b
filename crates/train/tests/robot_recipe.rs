//! The robot fine-tuning recipe (configs/recipes/finetune_robot.toml), shortened: starting from
//! a short quickstart run, it fine-tunes on the bundled LeRobot sample (decoder only, then
//! everything) and the held-out episode (both cameras) reconstructs clearly better.

#![cfg(feature = "video")]

mod common;

use std::sync::atomic::AtomicBool;

use common::*;

#[test]
fn robot_recipe_improves_the_held_out_episode() {
    std::env::set_current_dir(repo()).unwrap();
    // The starting point: the quickstart recipe, shortened.
    let base = scratch("robot_base");
    let cfg = cosmotok_train::config::load(
        &repo().join("configs/recipes/quickstart.toml"),
        &[
            "run.iterations=60".into(),
            format!("run.out_dir=\"{}\"", base.display()),
            "eval.every=0".into(),
        ],
    )
    .unwrap();
    fresh(cfg).run(&AtomicBool::new(false)).unwrap();

    let dir = scratch("robot");
    let cfg = cosmotok_train::config::load(
        &repo().join("configs/recipes/finetune_robot.toml"),
        &[
            "run.iterations=40".into(),
            "finetune.unfreeze_at=20".into(),
            format!("finetune.from=\"{}\"", base.display()),
            format!("run.out_dir=\"{}\"", dir.display()),
            format!("data.index_cache=\"{}\"", dir.join("index.json").display()),
            "eval.every=0".into(),
        ],
    )
    .unwrap();
    let mut t = fresh(cfg);
    assert!(t.finetune_report.as_ref().unwrap().reinitialized.is_empty());
    let summary = t.run(&AtomicBool::new(false)).unwrap();
    let (before, after) = (summary.first_eval.unwrap(), summary.final_eval.unwrap());
    eprintln!(
        "held-out episode PSNR {:.2} → {:.2} dB, SSIM {:.3} → {:.3}",
        before.psnr, after.psnr, before.ssim, after.ssim
    );
    assert_eq!(before.clips, 2, "episode 2, both cameras");
    assert!(
        after.psnr > before.psnr + 2.0,
        "held-out PSNR {:.2} → {:.2} dB: expected a gain of more than 2 dB",
        before.psnr,
        after.psnr
    );
    assert!(dir.join("finetune_from.safetensors").is_file());
}
