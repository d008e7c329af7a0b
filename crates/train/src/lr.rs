//! Learning rate as a pure function of the iteration: linear warm-up from 0, then constant or
//! cosine decay to `min_lr` (docs/architecture.md §9.2: 5k warm-up; constant by default, cosine
//! over 1M steps as the alternative). A pure function needs no scheduler state, so resuming is
//! exact.

use crate::config::{LrSchedule, OptimConfig};

/// The learning rate of optimizer step `step` (0-based) in a run of `iterations` steps.
pub fn learning_rate(cfg: &OptimConfig, step: u64, iterations: u64) -> f64 {
    let base = cfg.lr;
    if cfg.warmup > 0 && step < cfg.warmup {
        // Step 0 gets lr/warmup (not 0) so the first update is not wasted.
        return base * (step + 1) as f64 / cfg.warmup as f64;
    }
    match cfg.schedule {
        LrSchedule::Constant => base,
        LrSchedule::Cosine => {
            let decay = cfg
                .decay_steps
                .unwrap_or_else(|| iterations.saturating_sub(cfg.warmup))
                .max(1);
            let t = ((step - cfg.warmup) as f64 / decay as f64).min(1.0);
            cfg.min_lr + 0.5 * (base - cfg.min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(schedule: LrSchedule) -> OptimConfig {
        OptimConfig {
            lr: 1e-3,
            warmup: 10,
            schedule,
            min_lr: 1e-5,
            ..OptimConfig::default()
        }
    }

    #[test]
    fn warmup_is_linear_then_constant() {
        let c = cfg(LrSchedule::Constant);
        assert!((learning_rate(&c, 0, 100) - 1e-4).abs() < 1e-15);
        assert!((learning_rate(&c, 4, 100) - 5e-4).abs() < 1e-15);
        assert_eq!(learning_rate(&c, 10, 100), 1e-3);
        assert_eq!(learning_rate(&c, 99, 100), 1e-3);
    }

    #[test]
    fn cosine_goes_from_lr_to_min_lr() {
        let c = cfg(LrSchedule::Cosine);
        assert!((learning_rate(&c, 10, 110) - 1e-3).abs() < 1e-15);
        // Halfway through the decay: the midpoint of lr and min_lr.
        let mid = learning_rate(&c, 60, 110);
        assert!((mid - (1e-3 + 1e-5) / 2.0).abs() < 1e-12, "{mid}");
        assert!((learning_rate(&c, 110, 110) - 1e-5).abs() < 1e-15);
        assert!((learning_rate(&c, 500, 110) - 1e-5).abs() < 1e-15);
    }
}
