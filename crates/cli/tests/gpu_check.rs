//! `scripts/gpu_check.sh --device flex`: the GPU machine's one-call check, dry-run on the CPU at
//! tiny shapes with the `cosmotok` binary of this build — every part runs and reports.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn gpu_check_dry_run_on_flex() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gpu_check");
    let _ = std::fs::remove_dir_all(&out);
    let status = Command::new("bash")
        .arg(repo.join("scripts/gpu_check.sh"))
        .args([
            "--device",
            "flex",
            "--skip-torch",
            "--bin",
            env!("CARGO_BIN_EXE_cosmotok"),
        ])
        .arg("--out")
        .arg(&out)
        // Its own scratch: a manual run's target/gpu_check_work is left alone.
        .arg("--work")
        .arg(out.join("work"))
        .current_dir(&repo)
        .status()
        .expect("bash runs");
    let md = std::fs::read_to_string(out.join("gpu_check.md")).unwrap_or_default();
    let log = std::fs::read_to_string(out.join("gpu_check.log")).unwrap_or_default();
    assert!(
        status.success(),
        "gpu_check failed:\n{md}\n--- log tail ---\n{}",
        tail(&log)
    );
    let recs: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("gpu_check.json")).unwrap())
            .unwrap();
    let part = |p: &'static str| recs.iter().filter(move |r| r["part"] == p);
    assert_eq!(part("check-device").count(), 1, "{md}");
    let qs = part("quickstart").next().expect("quickstart part");
    assert_eq!(qs["ok"], true, "{qs}");
    assert_eq!(qs["resumed_at_20"], true, "{qs}");
    assert_eq!(qs["steps"], 30, "{qs}");
    assert!(
        qs["loss_last5"].as_f64() < qs["loss_first5"].as_f64(),
        "{qs}"
    );
    // Four benchmark rows: f32 and bf16-mixed, with and without checkpointing.
    let bench: Vec<_> = part("bench").collect();
    assert_eq!(bench.len(), 4, "{md}");
    for b in &bench {
        assert_eq!(b["ok"], true, "{b}");
        assert_eq!(b["impl"], "cosmotok");
        assert!(b["step_median_s"].as_f64().unwrap() > 0.0);
        assert!(
            b["losses"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l.as_f64().unwrap().is_finite())
        );
    }
    let mixed: Vec<_> = bench
        .iter()
        .filter(|b| b["precision"] == "bf16-mixed")
        .collect();
    assert_eq!(mixed.len(), 2);
    assert!(md.contains("All parts passed"), "{md}");
    assert_eq!(part("wgpu").count(), 1, "{md}");
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
