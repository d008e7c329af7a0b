//! Exact resume, crash safety and the non-finite guard.

mod common;

use common::*;
use cosmotok_train::Resume;
use cosmotok_train::checkpoint::Checkpoints;

/// Kill after step 3 (stop the loop and drop the trainer), resume from the run directory:
/// steps 4..6 have exactly the losses, gradient norms and learning rates of an uninterrupted
/// run, and the final weights (model, EMA, discriminator) are bit-identical. The adversarial
/// stage starts at step 2, so the discriminator, its optimizer and LeCam state are covered.
#[test]
fn resumed_run_repeats_the_uninterrupted_run_exactly() {
    let dir_a = scratch("resume_a");
    let mut a = trainer(tiny_config(&dir_a), Resume::Never);
    let full: Vec<_> = (0..6).map(|_| a.step().unwrap()).collect();

    let dir_b = scratch("resume_b");
    let mut b = trainer(tiny_config(&dir_b), Resume::Never);
    for s in &full[..3] {
        let got = b.step().unwrap();
        assert_eq!(
            got.loss, s.loss,
            "step {}: runs differ before the stop",
            s.step
        );
    }
    b.save_checkpoint().unwrap();
    drop(b);

    let mut c = trainer(tiny_config(&dir_b), Resume::Auto);
    assert_eq!(c.state.step, 3, "auto-resume picks the newest checkpoint");
    for s in &full[3..] {
        let got = c.step().unwrap();
        assert_eq!(got.step, s.step);
        assert_eq!(got.loss, s.loss, "step {}: loss after resume", s.step);
        assert_eq!(got.grad_norm, s.grad_norm, "step {}: grad norm", s.step);
        assert_eq!(got.lr, s.lr, "step {}: learning rate", s.step);
        // The adversarial stage (from step 2) is part of the resumed state.
        assert!(
            s.d_loss.is_some(),
            "step {}: the discriminator trains",
            s.step
        );
        assert_eq!(got.d_loss, s.d_loss, "step {}: discriminator loss", s.step);
        assert_eq!(
            got.adaptive_weight, s.adaptive_weight,
            "step {}: adaptive weight",
            s.step
        );
    }
    let da = cosmotok_model::params::named_params(&a.gan.as_ref().unwrap().disc);
    let dc = cosmotok_model::params::named_params(&c.gan.as_ref().unwrap().disc);
    assert!(!da.is_empty());
    assert_eq!(da, dc, "discriminator weights differ after resume");
    let wa = cosmotok_model::params::named_params(&a.model);
    let wc = cosmotok_model::params::named_params(&c.model);
    assert_eq!(wa.len(), wc.len());
    for (k, v) in &wa {
        assert_eq!(Some(v), wc.get(k), "weight `{k}` differs after resume");
    }
    let ea = cosmotok_model::params::named_params(&a.ema.as_ref().unwrap().model);
    let ec = cosmotok_model::params::named_params(&c.ema.as_ref().unwrap().model);
    for (k, v) in &ea {
        assert_eq!(Some(v), ec.get(k), "EMA weight `{k}` differs after resume");
    }
    // Training did something.
    assert!(
        full[5].loss < full[0].loss,
        "loss {} → {}",
        full[0].loss,
        full[5].loss
    );
}

/// A checkpoint write that fails midway publishes nothing: the previous checkpoint stays the
/// newest and loads; a stale scratch directory (a crash) is ignored.
#[test]
fn interrupted_checkpoint_write_leaves_the_previous_one_loadable() {
    let dir = scratch("crash");
    let mut t = trainer(tiny_config(&dir), Resume::Never);
    t.step().unwrap();
    let good = t.save_checkpoint().unwrap();
    t.step().unwrap();

    let ckpts = Checkpoints::new(&dir);
    let err = ckpts
        .save(2, 5, |d| {
            std::fs::write(d.join("model.bpk"), b"half a model")?;
            anyhow::bail!("disk full (simulated)")
        })
        .unwrap_err();
    assert!(format!("{err:#}").contains("disk full"), "{err:#}");
    // A crash mid-write (scratch dir left behind, no state.json).
    std::fs::create_dir_all(ckpts.dir().join(".tmp-step_00000003")).unwrap();
    std::fs::write(ckpts.dir().join(".tmp-step_00000003/model.bpk"), b"garbage").unwrap();

    let (step, latest) = ckpts.latest().unwrap();
    assert_eq!((step, latest.clone()), (1, good));
    drop(t);
    let resumed = trainer(tiny_config(&dir), Resume::Auto);
    assert_eq!(resumed.state.step, 1);
}

/// N non-finite steps in a row roll back to the last checkpoint and halve the learning rate;
/// the skipped updates leave the weights untouched.
#[test]
fn non_finite_steps_roll_back_and_lower_the_lr() {
    let dir = scratch("nan_guard");
    let mut cfg = tiny_config(&dir);
    cfg.guard.max_bad_steps = 2;
    let mut t = trainer(cfg, Resume::Never);
    t.step().unwrap();
    t.step().unwrap();
    t.save_checkpoint().unwrap();
    let saved = cosmotok_model::params::named_params(&t.model);
    t.step().unwrap();
    assert_eq!(t.state.step, 3);

    t.inject_nonfinite = 2;
    let s = t.step().unwrap();
    assert!(s.skipped && s.loss.is_nan());
    assert_eq!(t.state.step, 3, "a skipped step does not count");
    let s = t.step().unwrap();
    assert!(s.skipped);
    // Rolled back to the checkpoint of step 2, with half the learning rate.
    assert_eq!(t.state.step, 2);
    assert_eq!(t.state.lr_scale, 0.5);
    assert_eq!(t.state.rollbacks, 1);
    assert_eq!(t.state.skipped_steps, 2);
    let now = cosmotok_model::params::named_params(&t.model);
    assert_eq!(saved, now, "roll-back restores the checkpoint's weights");
    let s = t.step().unwrap();
    assert!(!s.skipped && s.loss.is_finite());
    let lr_full = cosmotok_train::lr::learning_rate(&t.cfg.optim, 2, t.cfg.run.iterations);
    assert_eq!(s.lr, lr_full * 0.5);
    let log = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    assert!(log.contains("\"kind\":\"rollback\""), "{log}");
}
