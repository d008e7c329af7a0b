//! Loss-weight schedules: a weight as a function of the training iteration.
//!
//! TOML forms (untagged): `w = 0.1` (constant), `w = [[0, 0.1], [500000, 0.073]]`
//! (piecewise constant: the value of the last step ≤ iter, 0 before the first step), and
//! `w = { start = 0, end = 1000, from = 0.0, to = 0.1 }` (linear ramp, clamped outside).

use serde::{Deserialize, Serialize};

use crate::error::{LossError, bad_config};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged, from = "ScheduleRepr")]
pub enum Schedule {
    /// The same value at every iteration.
    Constant(f64),
    /// `(step, value)` pairs with strictly increasing steps; value from `iter >= step`.
    Piecewise { steps: Vec<(u64, f64)> },
    /// Linear from `from` at `start` to `to` at `end`; `from` before, `to` after.
    Ramp {
        start: u64,
        end: u64,
        from: f64,
        to: f64,
    },
}

/// The untagged TOML array form `[[step, value], ...]` maps onto `Piecewise`.
#[derive(Deserialize)]
#[serde(untagged)]
enum ScheduleRepr {
    Constant(f64),
    Pairs(Vec<(u64, f64)>),
    Piecewise {
        steps: Vec<(u64, f64)>,
    },
    Ramp {
        start: u64,
        end: u64,
        from: f64,
        to: f64,
    },
}

impl From<ScheduleRepr> for Schedule {
    fn from(r: ScheduleRepr) -> Self {
        match r {
            ScheduleRepr::Constant(v) => Schedule::Constant(v),
            ScheduleRepr::Pairs(steps) | ScheduleRepr::Piecewise { steps } => {
                Schedule::Piecewise { steps }
            }
            ScheduleRepr::Ramp {
                start,
                end,
                from,
                to,
            } => Schedule::Ramp {
                start,
                end,
                from,
                to,
            },
        }
    }
}

impl Schedule {
    /// The weight at iteration `iter`.
    pub fn at(&self, iter: u64) -> f64 {
        match self {
            Schedule::Constant(v) => *v,
            Schedule::Piecewise { steps } => steps
                .iter()
                .take_while(|(s, _)| *s <= iter)
                .last()
                .map_or(0.0, |(_, v)| *v),
            Schedule::Ramp {
                start,
                end,
                from,
                to,
            } => {
                if iter <= *start {
                    *from
                } else if iter >= *end {
                    *to
                } else {
                    let f = (iter - start) as f64 / (end - start) as f64;
                    from + (to - from) * f
                }
            }
        }
    }

    /// True when the weight is 0 at every iteration (the term can be skipped for the run).
    pub fn is_always_zero(&self) -> bool {
        match self {
            Schedule::Constant(v) => *v == 0.0,
            Schedule::Piecewise { steps } => steps.iter().all(|(_, v)| *v == 0.0),
            Schedule::Ramp { from, to, .. } => *from == 0.0 && *to == 0.0,
        }
    }

    /// Checks finiteness, non-negativity and step order; the error names `field`.
    pub fn validate(&self, field: &str) -> Result<(), LossError> {
        let ok = |v: f64| v.is_finite() && v >= 0.0;
        match self {
            Schedule::Constant(v) if !ok(*v) => {
                Err(bad_config(field, v, "a finite non-negative weight"))
            }
            Schedule::Piecewise { steps } => {
                if steps.is_empty() {
                    return Err(bad_config(field, steps, "at least one [step, value] pair"));
                }
                if let Some((_, v)) = steps.iter().find(|(_, v)| !ok(*v)) {
                    return Err(bad_config(field, v, "finite non-negative weights"));
                }
                if steps.windows(2).any(|w| w[0].0 >= w[1].0) {
                    return Err(bad_config(field, steps, "strictly increasing steps"));
                }
                Ok(())
            }
            Schedule::Ramp {
                start,
                end,
                from,
                to,
            } => {
                if end <= start {
                    return Err(bad_config(field, (start, end), "start < end"));
                }
                if !ok(*from) || !ok(*to) {
                    return Err(bad_config(field, (from, to), "finite non-negative weights"));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
