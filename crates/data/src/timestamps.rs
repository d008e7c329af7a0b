//! Clips of variable-frame-rate videos by timestamps: with `data.target_fps` set, a constant
//! frame-rate file is sampled every `round(fps / target_fps)` frames, but a file whose frame
//! intervals vary (phone footage, screen recordings, robot logs with dropped frames) would then
//! mix time scales inside one clip. For those files (detected when probing, see
//! [`is_variable_rate`]) the clip's frames are the ones shown at `t0 + k / target_fps`: for each
//! target time, the last frame whose timestamp is at or before it.

/// Timestamps within this many seconds count as equal (rounding of the stream time base).
const EPS: f64 = 1e-6;

/// Whether frame timestamps (seconds, presentation order) have intervals that vary: some
/// interval differs from the median one by more than 10 %.
pub fn is_variable_rate(times: &[f64]) -> bool {
    let mut d: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    if d.len() < 2 {
        return false;
    }
    d.sort_by(f64::total_cmp);
    let median = d[d.len() / 2];
    median > 0.0 && d.iter().any(|x| (x - median).abs() > 0.1 * median)
}

/// The frames of a clip of `count` frames at `fps` whose first frame is `start`, among the
/// frames `..end` with timestamps `times`; `None` when the clip runs past the last frame's
/// timestamp.
pub fn frames_at_rate(
    times: &[f64],
    start: usize,
    end: usize,
    count: usize,
    fps: f64,
) -> Option<Vec<usize>> {
    let end = end.min(times.len());
    if start >= end {
        return None;
    }
    let t0 = times[start];
    let mut out = Vec::with_capacity(count);
    let mut j = start;
    for k in 0..count {
        let t = t0 + k as f64 / fps;
        if t > times[end - 1] + EPS {
            return None;
        }
        while j + 1 < end && times[j + 1] <= t + EPS {
            j += 1;
        }
        out.push(j);
    }
    Some(out)
}

/// How many first frames in `first..end` leave room for a clip of `count` frames at `fps`
/// (they are the first ones of the range: timestamps increase).
pub fn starts_at_rate(times: &[f64], first: usize, end: usize, count: usize, fps: f64) -> usize {
    let end = end.min(times.len());
    if first >= end {
        return 0;
    }
    let last = times[end - 1];
    let need = (count.max(1) - 1) as f64 / fps;
    times[first..end]
        .iter()
        .take_while(|&&t| t + need <= last + EPS)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_and_variable_rates() {
        let cfr: Vec<f64> = (0..20).map(|i| i as f64 / 30.0).collect();
        assert!(!is_variable_rate(&cfr));
        // 10 fps, then 20 fps.
        let vfr: Vec<f64> = (0..20)
            .map(|i| {
                if i < 10 {
                    i as f64 * 0.1
                } else {
                    1.0 + (i - 10) as f64 * 0.05
                }
            })
            .collect();
        assert!(is_variable_rate(&vfr));
        // At 10 fps from frame 8: 0.8, 0.9, 1.0 (frame 10), 1.1 (frame 12), 1.2 (frame 14).
        assert_eq!(
            frames_at_rate(&vfr, 8, 20, 5, 10.0).unwrap(),
            [8, 9, 10, 12, 14]
        );
        // A constant rate at its own fps is every frame; at a third of it every third.
        assert_eq!(frames_at_rate(&cfr, 2, 20, 3, 30.0).unwrap(), [2, 3, 4]);
        assert_eq!(frames_at_rate(&cfr, 0, 20, 4, 10.0).unwrap(), [0, 3, 6, 9]);
        // Past the end.
        assert!(frames_at_rate(&vfr, 17, 20, 3, 10.0).is_none());
        // Starts with room for 5 frames at 10 fps (0.4 s) before 1.45 s: t <= 1.05.
        assert_eq!(starts_at_rate(&vfr, 0, 20, 5, 10.0), 12);
        assert_eq!(starts_at_rate(&vfr, 0, 20, 1, 10.0), 20);
    }
}
