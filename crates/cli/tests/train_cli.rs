//! `cosmotok train | eval | export | finetune` end to end on the bundled real media with a tiny
//! model (the CV8x8x8 structure at 8 channels).

mod common;

use common::*;

use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A tiny recipe: 8-channel CV8x8x8, 9-frame 48×48 clips of the bundled frame folder.
fn recipe(dir: &Path) -> PathBuf {
    let text = format!(
        r#"
[run]
out_dir = "{out}"
iterations = 4
log_every = 2
checkpoint_every = 2
keep_last = 1

[model]
preset = "Cosmos-0.1-Tokenizer-CV8x8x8"
channels = 8

[optim]
lr = 1e-3
warmup = 1

[loss]
perceptual_weight = 0.0
gram_weight = 0.0

[eval]
every = 2
grids = 1
videos = true

[data]
sources = [{{ path = "assets/media/frames/episode_000" }}]
eval_sources = [{{ path = "assets/media/frames/episode_000" }}]
num_frames = 9
buckets = [{{ ratio = "4:3", resize = [64, 48], crop = [48, 48] }}]
batch_size = 1
workers = 0
"#,
        out = dir.join("run").display()
    );
    let path = dir.join("recipe.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn train_eval_export_round_trip() {
    let dir = scratch("train");
    let cfg = recipe(&dir);
    let cfg = cfg.to_str().unwrap();
    let out = ok(&["train", "--config", cfg, "--quiet"]);
    assert!(out.contains("before training: eval"), "{out}");
    assert!(out.contains("after 4 steps: eval"), "{out}");
    let run = dir.join("run");
    let ckpts: Vec<_> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(ckpts, vec!["step_00000004".to_string()], "keep_last = 1");
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let train: Vec<_> = lines.iter().filter(|v| v["kind"] == "train").collect();
    let eval: Vec<_> = lines.iter().filter(|v| v["kind"] == "eval").collect();
    assert_eq!(train.len(), 2, "{metrics}");
    assert!(eval.len() >= 2, "{metrics}");
    for v in &train {
        assert!(v["loss"].as_f64().unwrap().is_finite());
        assert!(v["lr"].as_f64().unwrap() > 0.0);
        // Flex logs the process's resident set: the peak is at least the current size.
        let (rss, peak) = (
            v["rss_mib"].as_f64().unwrap(),
            v["rss_peak_mib"].as_f64().unwrap(),
        );
        assert!(rss > 0.0 && peak >= rss, "{v}");
    }
    assert!(run.join("grids/step_00000004.png").is_file());
    #[cfg(feature = "video")]
    {
        // Side-by-side mp4: input | reconstruction, 9 frames of 2 × 48 pixels.
        let clip = run.join("videos/step_00000004/clip_0.mp4");
        let (frames, h, w, _) = cosmotok_data::probe_video(&clip).unwrap();
        assert_eq!((frames, h, w), (9, 48, 96), "{}", clip.display());
    }
    let grid = image::open(run.join("grids/step_00000004.png")).unwrap();
    assert!(grid.width() > 3 * 48 && grid.height() > 48);

    // Running the finished command again resumes and has nothing left to do.
    let again = ok(&["train", "--config", cfg, "--quiet"]);
    assert!(again.contains("resumed from"), "{again}");

    let ckpt = run.join("checkpoints/step_00000004");
    let ckpt = ckpt.to_str().unwrap();
    let out = ok(&["eval", "--checkpoint", ckpt, "--config", cfg]);
    assert!(out.contains("PSNR"), "{out}");

    let export = dir.join("export");
    let out = ok(&[
        "export",
        "--checkpoint",
        ckpt,
        "--out",
        export.to_str().unwrap(),
        "--latent-stats",
        cfg,
    ]);
    for f in [
        "autoencoder.safetensors",
        "encoder.safetensors",
        "decoder.safetensors",
        "config.json",
        "latent_stats.safetensors",
    ] {
        assert!(export.join(f).is_file(), "{f} missing:\n{out}");
    }
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(export.join("latent_stats.json")).unwrap())
            .unwrap();
    assert_eq!(stats["mean"].as_array().unwrap().len(), 16);
    assert!(
        stats["std"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s.as_f64().unwrap() > 0.0)
    );
    // The exported autoencoder is a normal cosmotok checkpoint: inspect + reconstruct work.
    let ae = export.join("autoencoder.safetensors");
    let out = ok(&["inspect", ae.to_str().unwrap()]);
    assert!(out.contains("CV8x8x8"), "{out}");
    export_round_trips(ckpt, &export, &dir);
}

/// The three round trips of an export (issue #19): `--config` takes the export's own
/// config.json; the files are created like any new file (0666 less the umask: 0644 under the
/// usual umask 022, 0640 under 027); exporting the same weights again gives the same bytes,
/// in another process (whose hash maps iterate in another order).
fn export_round_trips(ckpt: &str, export: &Path, dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let ae = export.join("autoencoder.safetensors");
    let rec = dir.join("rec.png");
    let out = ok(&[
        "reconstruct",
        "--checkpoint",
        ae.to_str().unwrap(),
        "--config",
        export.join("config.json").to_str().unwrap(),
        "--input",
        &media("frames/episode_000/frame_1.png"),
        "--output",
        rec.to_str().unwrap(),
    ]);
    assert!(out.contains("PSNR") && rec.is_file(), "{out}");

    let files = [
        "autoencoder.safetensors",
        "encoder.safetensors",
        "decoder.safetensors",
        "config.json",
    ];
    for (umask, mode) in [("022", 0o644), ("027", 0o640)] {
        let again = dir.join(format!("export_umask{umask}"));
        let status = std::process::Command::new("sh")
            .args([
                "-c",
                &format!("umask {umask} && exec \"$0\" \"$@\""),
                env!("CARGO_BIN_EXE_cosmotok"),
                "export",
                "--checkpoint",
                ckpt,
                "--out",
                again.to_str().unwrap(),
            ])
            .current_dir(root())
            .output()
            .unwrap();
        assert!(status.status.success(), "{status:?}");
        for f in files {
            let m = std::fs::metadata(again.join(f))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(m, mode, "{f} under umask {umask}: {m:o}");
            assert_eq!(
                std::fs::read(again.join(f)).unwrap(),
                std::fs::read(export.join(f)).unwrap(),
                "{f}: a second export of the same checkpoint differs in bytes"
            );
        }
    }
}

#[test]
fn config_errors_name_the_key() {
    let dir = scratch("errors");
    let cfg = recipe(&dir);
    let cfg = cfg.to_str().unwrap();
    let (success, out) = run(&["train", "--config", cfg, "--set", "optim.learnig_rate=1"]);
    assert!(!success);
    assert!(out.contains("learnig_rate"), "{out}");
    let (success, out) = run(&["train", "--config", cfg, "--set", "data.num_frames=10"]);
    assert!(!success);
    assert!(out.contains("num_frames") && out.contains("10"), "{out}");
    let (success, out) = run(&["train", "--config", "no/such/recipe.toml"]);
    assert!(!success);
    assert!(out.contains("no/such/recipe.toml"), "{out}");
    let (success, out) = run(&[
        "train",
        "--config",
        cfg,
        "--set",
        "loss.perceptual_weight=0.1",
    ]);
    assert!(!success);
    assert!(out.contains("convert_vgg16.py"), "{out}");
}

/// TokenBench's paired mode from the command line: the fixture pairs' PSNR and SSIM as
/// TokenBench's code computes them (tests/fixtures/tokenbench/reference.json), as JSON.
#[test]
fn eval_paired_mode() {
    let dir = scratch("paired");
    let json = dir.join("scores.json");
    let out = ok(&[
        "eval",
        "--videos",
        &fx("tokenbench/videos"),
        "--reconstructions",
        &fx("tokenbench/reconstructions"),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.contains("mean over 2 videos: PSNR 23.09"), "{out}");
    let got: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx("tokenbench/reference.json")).unwrap())
            .unwrap();
    for key in ["mean_psnr", "mean_ssim"] {
        let (g, w) = (got[key].as_f64().unwrap(), want[key].as_f64().unwrap());
        assert!((g - w).abs() < 1e-3, "{key}: {g} vs {w}");
    }
    assert!(got["mean_lpips"].is_null());
    // Neither mode: a clear error.
    let (success, text) = run(&["eval"]);
    assert!(
        !success && text.contains("--videos and --reconstructions"),
        "{text}"
    );
}

/// `--dashboard tui`: burn-train's dashboard in a terminal (a pseudo-terminal from `script`,
/// when the machine has it), plain lines when the output is not a terminal.
#[test]
fn dashboard_tui_and_plain_lines() {
    let dir = scratch("dashboard");
    let cfg = recipe(&dir);
    let cfg = cfg.to_str().unwrap();
    // Not a terminal (the test's pipes): one plain line per log step and evaluation.
    let out = ok(&[
        "train",
        "--config",
        cfg,
        "--dashboard",
        "tui",
        "--no-resume",
    ]);
    assert!(
        out.contains("step 2: loss=") && out.contains("step 2: eval on"),
        "{out}"
    );
    let has_script = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        eprintln!("no `script` here: the terminal half of this test is skipped");
        return;
    }
    let typescript = dir.join("typescript");
    let command = format!(
        "stty cols 120 rows 40; {} train --config {cfg} --dashboard tui --no-resume",
        env!("CARGO_BIN_EXE_cosmotok")
    );
    let status = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &command])
        .arg(&typescript)
        .current_dir(root())
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).to_string();
    assert!(status.status.success(), "{status:?}\n{screen}");
    // burn-train's panels, our metrics, and the terminal handed back (alternate screen left).
    for want in [
        "Controls",
        "Metrics",
        "Progress",
        "psnr",
        "grad_norm",
        "\u{1b}[?1049l",
    ] {
        assert!(
            screen.contains(want),
            "{want:?} not in the dashboard output"
        );
    }
    assert!(screen.contains("after 4 steps: eval"), "{screen}");
    assert!(dir.join("run/train.log").is_file());
}

/// SIGTERM (a scheduler's preemption) mid-run: the step under way finishes, a checkpoint of it
/// is written, the process exits with 143 (128 + SIGTERM); the same command with more steps
/// resumes from that checkpoint, and the metrics then hold every step exactly once.
#[test]
fn sigterm_saves_a_checkpoint_and_the_run_resumes() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let dir = scratch("sigterm");
    let cfg = recipe(&dir);
    let cfg = cfg.to_str().unwrap();
    let run_dir = dir.join("run");
    let metrics = run_dir.join("metrics.jsonl");
    let train_steps = || -> Vec<u64> {
        std::fs::read_to_string(&metrics)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["kind"] == "train")
            .map(|v| v["step"].as_u64().unwrap())
            .collect()
    };
    let args = |iterations: &str| {
        vec![
            "train".to_string(),
            "--config".into(),
            cfg.into(),
            "--quiet".into(),
            "--set".into(),
            format!("run.iterations={iterations}"),
            "--set".into(),
            "run.log_every=1".into(),
            "--set".into(),
            "run.checkpoint_every=100000".into(),
            "--set".into(),
            "eval.every=0".into(),
        ]
    };
    let log = dir.join("stderr.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cosmotok"))
        .args(args("100000"))
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while train_steps().len() < 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(300) && child.try_wait().unwrap().is_none(),
            "no two logged steps: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let killed = Command::new("kill")
        .args(["-s", "TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let t1 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t1.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!("still running 300 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert!(
        stderr.contains("SIGTERM: finishing the current step") && stderr.contains("interrupted"),
        "{stderr}"
    );
    let steps = train_steps();
    let last = *steps.last().unwrap();
    assert_eq!(steps, (1..=last).collect::<Vec<_>>(), "one line per step");
    let ckpts: Vec<String> = std::fs::read_dir(run_dir.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        ckpts,
        vec![format!("step_{last:08}")],
        "the step reached is saved"
    );

    let more = (last + 2).to_string();
    let a = args(&more);
    let out = ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.contains("resumed from"), "{out}");
    assert_eq!(train_steps(), (1..=last + 2).collect::<Vec<_>>());
}
