//! PLACEHOLDER until the data pipeline lands: a minimal clip loader with the interface the
//! trainer uses (replaced by cosmotok_data's loader).

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    pub sources: Vec<PathBuf>,
    pub num_frames: usize,
    pub crop: [usize; 2],
    pub batch_size: usize,
    pub seed: u64,
    pub eval_sources: Vec<PathBuf>,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            sources: vec![],
            num_frames: 17,
            crop: [64, 64],
            batch_size: 1,
            seed: 0,
            eval_sources: vec![],
        }
    }
}

impl DataConfig {
    pub fn validate(&self, t_comp: usize, spatial: usize, is_video: bool) -> Result<()> {
        if is_video && (self.num_frames - 1) % t_comp != 0 {
            bail!(
                "[data] num_frames = {}: expected 1 + k·{t_comp}",
                self.num_frames
            );
        }
        if self.crop[0] % spatial != 0 || self.crop[1] % spatial != 0 {
            bail!(
                "[data] crop = {:?}: expected multiples of {spatial}",
                self.crop
            );
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct Batch {
    pub data: Vec<f32>,
    pub shape: [usize; 5],
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LoaderPosition {
    pub index: u64,
}

pub struct Loader {
    clips: Vec<cosmotok_data::Frames>,
    cfg: DataConfig,
    pos: u64,
    eval: bool,
}

impl Loader {
    pub fn new(cfg: &DataConfig, eval: bool) -> Result<Loader> {
        let srcs = if eval {
            &cfg.eval_sources
        } else {
            &cfg.sources
        };
        let mut clips = Vec::new();
        for s in srcs {
            clips.push(cosmotok_data::read_any(s, 0, None)?);
        }
        if clips.is_empty() {
            bail!("[data] no sources");
        }
        Ok(Loader {
            clips,
            cfg: cfg.clone(),
            pos: 0,
            eval,
        })
    }

    fn hash(&self, i: u64, k: u64) -> u64 {
        let mut x =
            self.cfg.seed ^ i.wrapping_mul(0x9E3779B97F4A7C15) ^ k.wrapping_mul(0xBF58476D1CE4E5B9);
        x ^= x >> 31;
        x = x.wrapping_mul(0x94D049BB133111EB);
        x ^ (x >> 29)
    }

    pub fn next_batch(&mut self) -> Result<Batch> {
        let [ch, cw] = self.cfg.crop;
        let t = self.cfg.num_frames;
        let b = self.cfg.batch_size;
        let mut data = vec![0f32; b * 3 * t * ch * cw];
        for j in 0..b {
            let i = self.pos * b as u64 + j as u64;
            let clip = &self.clips
                [(if self.eval { j as u64 } else { self.hash(i, 1) } as usize) % self.clips.len()];
            let rnd = |k| {
                if self.eval {
                    0
                } else {
                    self.hash(i, k) as usize
                }
            };
            let t0 = rnd(2) % (clip.frames - t + 1);
            let y0 = if self.eval {
                (clip.height - ch) / 2
            } else {
                rnd(3) % (clip.height - ch + 1)
            };
            let x0 = if self.eval {
                (clip.width - cw) / 2
            } else {
                rnd(4) % (clip.width - cw + 1)
            };
            for c in 0..3 {
                for f in 0..t {
                    for y in 0..ch {
                        for x in 0..cw {
                            data[(((j * 3 + c) * t + f) * ch + y) * cw + x] =
                                clip.data[((c * clip.frames + t0 + f) * clip.height + y0 + y)
                                    * clip.width
                                    + x0
                                    + x];
                        }
                    }
                }
            }
        }
        self.pos += 1;
        Ok(Batch {
            data,
            shape: [b, 3, t, ch, cw],
        })
    }

    pub fn position(&self) -> LoaderPosition {
        LoaderPosition { index: self.pos }
    }

    pub fn seek(&mut self, p: &LoaderPosition) -> Result<()> {
        self.pos = p.index;
        Ok(())
    }

    pub fn eval_batches(cfg: &DataConfig) -> Result<Vec<Batch>> {
        let mut l = Loader::new(
            &DataConfig {
                batch_size: 1,
                ..cfg.clone()
            },
            true,
        )?;
        (0..l.clips.len()).map(|_| l.next_batch()).collect()
    }
}
