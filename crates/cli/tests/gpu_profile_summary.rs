//! `scripts/gpu_profile_summary.py`, the per-kernel profile summary of `scripts/gpu_check.sh`,
//! on recorded profiles (`tests/fixtures/profile/`): cubecl's profiling log of a
//! `cosmotok bench-step --train-only` run on wgpu (Mesa lavapipe, 3 steps) and
//! torch.profiler's table of `scripts/bench_train_step.py --profile` (CPU). Its per-step sums
//! are checked against sums computed here from the same files.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `| 37.3ms | name` → seconds, as cubecl's logger prints a `Duration` (`{:?}`).
fn seconds(d: &str) -> Option<f64> {
    let split = d.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (v, unit) = d.split_at(split);
    let scale = match unit {
        "ns" => 1e-9,
        "µs" | "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        _ => return None,
    };
    Some(v.parse::<f64>().ok()? * scale)
}

/// Per step: every launch but each kernel's first, over `steps − 1` steps.
fn cubecl_per_step(log: &str, steps: usize) -> (f64, usize) {
    let mut seen = HashSet::new();
    let (mut total, mut lines) = (0.0, 0);
    for line in log.lines() {
        let Some(rest) = line.strip_prefix("| ") else {
            continue;
        };
        let Some((dur, name)) = rest.split_once(" | ").or_else(|| rest.split_once("| ")) else {
            continue;
        };
        let Some(s) = seconds(dur.trim()) else {
            continue;
        };
        lines += 1;
        if seen.insert(name.trim().to_string()) {
            continue;
        }
        total += s;
    }
    (total / (steps - 1) as f64, lines)
}

/// The summary's per-step seconds of one side, summed over its kernel families.
fn per_step_total(side: &serde_json::Value) -> f64 {
    side["families"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v["s_per_step"].as_f64().unwrap())
        .sum()
}

#[test]
fn profile_summary_sums_match_the_logs() {
    let fixtures = repo().join("tests/fixtures/profile");
    let log = std::fs::read_to_string(fixtures.join("cubecl_profile.log")).unwrap();
    let torch: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("torch_profile.json")).unwrap(),
    )
    .unwrap();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("profile_summary");
    std::fs::create_dir_all(&out).unwrap();
    let step_c = 0.5;
    let status = Command::new("python3")
        .arg(repo().join("scripts/gpu_profile_summary.py"))
        .args(["--cubecl"])
        .arg(fixtures.join("cubecl_profile.log"))
        .args(["--steps", "3", "--torch"])
        .arg(fixtures.join("torch_profile.json"))
        .args(["--step-cosmotok", &step_c.to_string(), "--md"])
        .arg(out.join("profile.md"))
        .arg("--json")
        .arg(out.join("profile.json"))
        .output()
        .expect("python3 runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("profile.json")).unwrap()).unwrap();
    let md = std::fs::read_to_string(out.join("profile.md")).unwrap();

    // cosmotok: the script's families add up to the log's per-step kernel time.
    let (want, lines) = cubecl_per_step(&log, 3);
    assert!(
        want > 0.0 && lines > 100,
        "fixture too small: {lines} lines"
    );
    let fams = summary["cosmotok"]["families"].as_object().unwrap();
    let got = per_step_total(&summary["cosmotok"]);
    assert!(
        (got - want).abs() <= 1e-9 * want,
        "cosmotok {got} s/step, log {want}"
    );
    assert_eq!(summary["cosmotok"]["launches_logged"], lines);
    // Convolutions are where a tokenizer step's time goes, on any backend.
    let conv: f64 = fams
        .iter()
        .filter(|(k, _)| k.contains("Conv") || k.contains("Matmul"))
        .map(|(_, v)| v["s_per_step"].as_f64().unwrap())
        .sum();
    assert!(conv > 0.0, "no convolution kernels found in {fams:?}");
    assert!(
        md.contains(&format!("| {:.1} |", want * 1e3)),
        "the table shows the per-step total {:.1} ms:\n{md}",
        want * 1e3
    );
    let share = format!("{:.0}%", want / step_c * 100.0);
    assert!(
        md.contains(&share),
        "share of the step {share} missing:\n{md}"
    );

    // PyTorch: the rows' self time over the profiled steps.
    let key = torch["time_key"].as_str().unwrap();
    let steps = torch["steps"].as_f64().unwrap();
    let want_t: f64 = torch["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[key].as_f64().unwrap() * 1e-6)
        .sum::<f64>()
        / steps;
    let got_t = per_step_total(&summary["pytorch"]);
    assert!(
        (got_t - want_t).abs() <= 1e-9 * want_t,
        "pytorch {got_t} s/step, profile {want_t}"
    );
}
