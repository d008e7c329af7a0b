//! Evaluation metrics with the TokenBench formulas (docs/architecture.md §11) and FSQ code
//! statistics.
//!
//! * PSNR: one value per video, MSE over all frames, pixels and channels of the uint8-valued
//!   arrays, `20·log10(255 / (√MSE + eps))`.
//! * SSIM: scikit-image `structural_similarity` per frame (7×7 uniform window, sample
//!   covariance, K1 = 0.01, K2 = 0.03, data range 255, mean over the channels of the SSIM map
//!   cropped by 3 pixels on each side), averaged over frames.
//! * FSQ: codebook usage (fraction of the implicit codebook seen) and perplexity
//!   (`exp` of the entropy of the index histogram).

/// `[-1, 1]` → uint8 level as the Cosmos CLI does (clamp, map to `[0, 255]`, round half up);
/// the same quantisation the media writers use.
pub use cosmotok_data::unit_to_u8 as to_u8;

/// Guards `log10(255 / 0)` for identical inputs: TokenBench's `np.finfo(np.float32).eps`
/// (identical clips score 186.6 dB).
const PSNR_EPS: f64 = f32::EPSILON as f64;

/// PSNR of a whole clip (any layout, same for both) on uint8-quantised values.
pub fn psnr(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "psnr: inputs differ in length");
    let sum: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| {
            let d = to_u8(*x) as f64 - to_u8(*y) as f64;
            d * d
        })
        .sum();
    let mse = sum / a.len() as f64;
    20.0 * (255.0 / (mse.sqrt() + PSNR_EPS)).log10()
}

/// Mean SSIM of one channel plane (uint8 levels), skimage defaults with `data_range = 255`.
pub fn ssim_plane(x: &[u8], y: &[u8], h: usize, w: usize) -> f64 {
    const WIN: usize = 7;
    assert!(
        h >= WIN && w >= WIN,
        "SSIM needs frames of at least 7×7 pixels, got {w}×{h}"
    );
    let np = (WIN * WIN) as f64;
    let cov_norm = np / (np - 1.0);
    let c1 = (0.01f64 * 255.0).powi(2);
    let c2 = (0.03f64 * 255.0).powi(2);
    // Integral images of x, y, x², y², xy (f64, one extra row/column of zeros).
    let stride = w + 1;
    let mut ix = vec![0f64; (h + 1) * stride];
    let mut iy = ix.clone();
    let mut ixx = ix.clone();
    let mut iyy = ix.clone();
    let mut ixy = ix.clone();
    for r in 0..h {
        let (mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for c in 0..w {
            let a = x[r * w + c] as f64;
            let b = y[r * w + c] as f64;
            sx += a;
            sy += b;
            sxx += a * a;
            syy += b * b;
            sxy += a * b;
            let i = (r + 1) * stride + c + 1;
            let up = r * stride + c + 1;
            ix[i] = ix[up] + sx;
            iy[i] = iy[up] + sy;
            ixx[i] = ixx[up] + sxx;
            iyy[i] = iyy[up] + syy;
            ixy[i] = ixy[up] + sxy;
        }
    }
    let boxsum = |t: &[f64], r0: usize, c0: usize| {
        let r1 = r0 + WIN;
        let c1 = c0 + WIN;
        t[r1 * stride + c1] - t[r0 * stride + c1] - t[r1 * stride + c0] + t[r0 * stride + c0]
    };
    // Only windows fully inside the frame survive skimage's crop of (7 − 1) / 2 pixels per side.
    let mut total = 0.0;
    let mut count = 0usize;
    for r0 in 0..=(h - WIN) {
        for c0 in 0..=(w - WIN) {
            let ux = boxsum(&ix, r0, c0) / np;
            let uy = boxsum(&iy, r0, c0) / np;
            let uxx = boxsum(&ixx, r0, c0) / np;
            let uyy = boxsum(&iyy, r0, c0) / np;
            let uxy = boxsum(&ixy, r0, c0) / np;
            let vx = cov_norm * (uxx - ux * ux);
            let vy = cov_norm * (uyy - uy * uy);
            let vxy = cov_norm * (uxy - ux * uy);
            let s = ((2.0 * ux * uy + c1) * (2.0 * vxy + c2))
                / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
            total += s;
            count += 1;
        }
    }
    total / count as f64
}

/// SSIM of a clip laid out `[3, T, H, W]` in `[-1, 1]`: per frame (mean over channels), then
/// averaged over frames.
pub fn ssim(a: &[f32], b: &[f32], t: usize, h: usize, w: usize) -> f64 {
    ssim_per_frame(a, b, t, h, w).iter().sum::<f64>() / t as f64
}

/// SSIM of each frame (mean over channels) of a clip laid out `[3, T, H, W]` in `[-1, 1]`.
pub fn ssim_per_frame(a: &[f32], b: &[f32], t: usize, h: usize, w: usize) -> Vec<f64> {
    assert_eq!(
        a.len(),
        3 * t * h * w,
        "ssim: `a` is not [3, {t}, {h}, {w}]"
    );
    assert_eq!(b.len(), a.len(), "ssim: inputs differ in length");
    let plane = h * w;
    (0..t)
        .map(|f| {
            let mut chans = 0.0;
            for c in 0..3 {
                let off = (c * t + f) * plane;
                let x: Vec<u8> = a[off..off + plane].iter().map(|v| to_u8(*v)).collect();
                let y: Vec<u8> = b[off..off + plane].iter().map(|v| to_u8(*v)).collect();
                chans += ssim_plane(&x, &y, h, w);
            }
            chans / 3.0
        })
        .collect()
}

/// Histogram of FSQ indices over an evaluation, for codebook usage and perplexity.
#[derive(Clone, Debug)]
pub struct CodeStats {
    counts: Vec<u64>,
    total: u64,
}

impl CodeStats {
    pub fn new(codebook_size: usize) -> CodeStats {
        CodeStats {
            counts: vec![0; codebook_size],
            total: 0,
        }
    }

    pub fn add(&mut self, indices: &[i64]) {
        for &i in indices {
            let i = usize::try_from(i).expect("FSQ indices are non-negative");
            self.counts[i] += 1;
            self.total += 1;
        }
    }

    /// Fraction of codebook entries used at least once.
    pub fn usage(&self) -> f64 {
        self.counts.iter().filter(|c| **c > 0).count() as f64 / self.counts.len() as f64
    }

    /// `exp(−Σ p log p)` of the index distribution (1 = a single code, N = uniform over N).
    pub fn perplexity(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let n = self.total as f64;
        let h: f64 = self
            .counts
            .iter()
            .filter(|c| **c > 0)
            .map(|c| {
                let p = *c as f64 / n;
                -p * p.ln()
            })
            .sum();
        h.exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_of_one_level_everywhere_is_48_13_db() {
        // MSE 1 → 20·log10(255 / (1 + ε)) = 48.1308026 dB with TokenBench's ε = 2⁻²³
        // (20·log10(255) = 48.1308036 without it).
        let a = vec![-1.0f32; 300];
        let b = vec![-1.0 + 2.0 / 255.0; 300];
        assert!(
            (psnr(&a, &b) - 48.130802573).abs() < 1e-8,
            "{}",
            psnr(&a, &b)
        );
    }

    #[test]
    fn ssim_of_identical_frames_is_one() {
        let a: Vec<f32> = (0..3 * 2 * 9 * 10)
            .map(|i| ((i * 37) % 200) as f32 / 100.0 - 1.0)
            .collect();
        assert!((ssim(&a, &a, 2, 9, 10) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn code_stats_uniform_and_single() {
        let mut s = CodeStats::new(8);
        s.add(&[0, 1, 2, 3]);
        assert!((s.perplexity() - 4.0).abs() < 1e-12);
        assert!((s.usage() - 0.5).abs() < 1e-12);
        let mut one = CodeStats::new(8);
        one.add(&[5, 5, 5]);
        assert!((one.perplexity() - 1.0).abs() < 1e-12);
    }
}
