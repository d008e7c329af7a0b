//! Helpers shared by the CLI end-to-end tests: paths of the repository's fixtures and media, a
//! per-test-binary scratch folder, and running the `cosmotok` binary.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The repository root (tests run the binary from there, so recipe paths resolve).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fx(rel: &str) -> String {
    root()
        .join("tests/fixtures")
        .join(rel)
        .display()
        .to_string()
}

pub fn media(rel: &str) -> String {
    root().join("assets/media").join(rel).display().to_string()
}

/// A file in this test binary's scratch folder.
pub fn tmp_path(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "cosmotok-{}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

pub fn tmp(name: &str) -> String {
    tmp_path(name).display().to_string()
}

/// Runs `cosmotok args…` from the repository root: (success, stdout + stderr).
pub fn run(args: &[&str]) -> (bool, String) {
    run_env(args, &[])
}

/// As [`run`], with these environment variables set.
pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cosmotok"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Runs `cosmotok args…` and panics with its output when it fails.
pub fn ok(args: &[&str]) -> String {
    let (success, text) = run(args);
    assert!(success, "cosmotok {args:?} failed:\n{text}");
    text
}
