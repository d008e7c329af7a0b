//! The `cosmotok` binary end to end: inspect every fixture, reconstruct tensors against the
//! official outputs, encode → decode equals reconstruct, real images and videos.

mod common;

use common::*;

use safetensors::SafeTensors;

fn f32s(path: &str, name: &str) -> (Vec<f32>, Vec<usize>) {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let t = st
        .tensor(name)
        .unwrap_or_else(|_| panic!("{path}: no {name}"));
    (
        t.data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        t.shape().to_vec(),
    )
}

fn i32s(path: &str, name: &str) -> Vec<i32> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor(name).unwrap();
    t.data()
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Writes the fixture's `ref.input` as a tensor file with the name `input`.
fn input_file(name: &str) -> String {
    let src = fx(&format!("parity/{name}.safetensors"));
    let (v, s) = f32s(&src, "ref.input");
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s, &bytes).unwrap();
    let out = tmp(&format!("{name}-input.safetensors"));
    safetensors::serialize_to_file(
        vec![("input".to_string(), view)],
        None,
        std::path::Path::new(&out),
    )
    .unwrap();
    out
}

#[test]
fn inspect_names_every_fixture() {
    for name in [
        "CI8x8",
        "DI8x8",
        "CV4x8x8",
        "CV8x8x8",
        "DV4x8x8",
        "DV8x16x16",
    ] {
        let ckpt = fx(&format!("parity/{name}.safetensors"));
        let cfg = fx(&format!("parity/{name}.json"));
        let video = name.contains('V');
        let text = if video {
            // The fixtures store every sampler conv, so the compression needs the config.
            let (success, text) = run(&["inspect", &ckpt]);
            assert!(success && text.contains("--config"), "{text}");
            ok(&["inspect", &ckpt, "--config", &cfg])
        } else {
            ok(&["inspect", &ckpt])
        };
        let preset_line = text
            .lines()
            .find(|l| l.starts_with("preset:"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(preset_line.contains(name), "{name}: {preset_line}");
        assert!(text.contains("parameters:"), "{text}");
    }
}

#[test]
fn reconstruct_tensors_matches_the_official_outputs() {
    for name in ["CV8x8x8", "DV4x8x8", "DI8x8"] {
        let ckpt = fx(&format!("parity/{name}.safetensors"));
        let out = tmp(&format!("{name}-out.safetensors"));
        ok(&[
            "reconstruct",
            "--checkpoint",
            &ckpt,
            "--config",
            &fx(&format!("parity/{name}.json")),
            "--input",
            &input_file(name),
            "--output",
            &out,
        ]);
        let (rec, shape) = f32s(&out, "reconstruction");
        let (want, want_shape) = f32s(&ckpt, "ref.reconstruction");
        assert_eq!(shape, want_shape);
        assert!(max_diff(&rec, &want) <= 1e-4, "{name}");
        if name.starts_with('D') {
            assert_eq!(i32s(&out, "indices"), i32s(&ckpt, "ref.indices"), "{name}");
            assert!(max_diff(&f32s(&out, "codes").0, &f32s(&ckpt, "ref.codes").0) == 0.0);
        } else {
            assert!(max_diff(&f32s(&out, "latent").0, &f32s(&ckpt, "ref.latent").0) <= 1e-4);
        }
    }
}

#[test]
fn encode_then_decode_equals_reconstruct() {
    for name in ["CV4x8x8", "DV8x16x16"] {
        let ckpt = fx(&format!("parity/{name}.safetensors"));
        let cfg = fx(&format!("parity/{name}.json"));
        let lat = tmp(&format!("{name}-latent.safetensors"));
        let rec = tmp(&format!("{name}-rec.safetensors"));
        ok(&[
            "encode",
            "--checkpoint",
            &ckpt,
            "--config",
            &cfg,
            "--input",
            &input_file(name),
            "--output",
            &lat,
        ]);
        ok(&[
            "decode",
            "--checkpoint",
            &ckpt,
            "--config",
            &cfg,
            "--input",
            &lat,
            "--output",
            &rec,
        ]);
        let (got, _) = f32s(&rec, "reconstruction");
        assert!(
            max_diff(&got, &f32s(&ckpt, "ref.reconstruction").0) <= 1e-4,
            "{name}"
        );
    }
}

#[test]
fn bad_inputs_get_clear_errors() {
    let ckpt = fx("parity/CI8x8.safetensors");
    // A tensor file without `input`.
    let (success, text) = run(&[
        "encode",
        "--checkpoint",
        &ckpt,
        "--input",
        &ckpt,
        "--output",
        &tmp("x.safetensors"),
    ]);
    assert!(
        !success && text.contains("no tensor named `input`"),
        "{text}"
    );
    // A size that breaks the rules, without --pad.
    let (success, text) = run(&[
        "reconstruct",
        "--checkpoint",
        &ckpt,
        "--input",
        &media("images/chelsea.png"),
        "--output",
        &tmp("c.png"),
    ]);
    assert!(
        !success && text.contains("--pad") && text.contains("chelsea.png"),
        "{text}"
    );
    // An unknown preset.
    let (success, text) = run(&["inspect", &ckpt, "--config", "Cosmos-9-Nope"]);
    assert!(!success && text.contains("Cosmos-9-Nope"), "{text}");
}

#[test]
fn reconstruct_a_real_image() {
    let ckpt = fx("parity/CI8x8.safetensors");
    let out = tmp("chelsea-rec.png");
    let text = ok(&[
        "reconstruct",
        "--checkpoint",
        &ckpt,
        "--input",
        &media("images/chelsea.png"),
        "--output",
        &out,
        "--pad",
    ]);
    assert!(text.contains("PSNR"), "{text}");
    let a = image::open(media("images/chelsea.png")).unwrap();
    let b = image::open(&out).unwrap();
    assert_eq!(
        (a.width(), a.height()),
        (b.width(), b.height()),
        "crop back to the input size"
    );
    // An image through a video tokenizer (1-frame clip) and through encode to a tensor.
    let lat = tmp("astronaut-latent.safetensors");
    ok(&[
        "encode",
        "--checkpoint",
        &fx("parity/CV8x8x8.safetensors"),
        "--config",
        &fx("parity/CV8x8x8.json"),
        "--input",
        &media("images/astronaut.png"),
        "--output",
        &lat,
    ]);
    let (_, shape) = f32s(&lat, "latent");
    let img = image::open(media("images/astronaut.png")).unwrap();
    assert_eq!(
        shape,
        vec![
            1,
            16,
            1,
            img.height() as usize / 8,
            img.width() as usize / 8
        ]
    );
}

#[cfg(feature = "video")]
#[test]
fn reconstruct_a_real_video_clip() {
    let ckpt = fx("parity/CV4x8x8.safetensors");
    let cfg = fx("parity/CV4x8x8.json");
    let out = tmp("vtest-rec.mp4");
    let text = ok(&[
        "reconstruct",
        "--checkpoint",
        &ckpt,
        "--config",
        &cfg,
        "--input",
        &media("videos/vtest.mp4"),
        "--frames",
        "17",
        "--output",
        &out,
        "--pad",
    ]);
    assert!(text.contains("PSNR"), "{text}");
    let (frames, _, _, _) = cosmotok_data::probe_video(std::path::Path::new(&out)).unwrap();
    assert_eq!(frames, 17);
    // Frame folders work the same way.
    let lat = tmp("episode-latent.safetensors");
    ok(&[
        "encode",
        "--checkpoint",
        &ckpt,
        "--config",
        &cfg,
        "--input",
        &media("frames/episode_000"),
        "--frames",
        "9",
        "--output",
        &lat,
        "--pad",
    ]);
    let (_, shape) = f32s(&lat, "latent");
    assert_eq!(shape[2], 3, "9 frames -> 1 + 8/4 latent frames");
}

/// `--chunk-frames`: a 17-frame real clip (frame folder) encoded in 4-frame chunks gives the
/// latents and reconstruction of the one-shot encode.
#[test]
fn chunked_reconstruct_equals_one_shot() {
    let ckpt = fx("parity/CV4x8x8.safetensors");
    let cfg = fx("parity/CV4x8x8.json");
    let whole = tmp("episode-whole.safetensors");
    let chunked = tmp("episode-chunked.safetensors");
    let base = [
        "reconstruct",
        "--checkpoint",
        &ckpt,
        "--config",
        &cfg,
        "--input",
        &media("frames/episode_000"),
        "--pad",
    ];
    ok(&[&base[..], &["--output", &whole]].concat());
    ok(&[&base[..], &["--output", &chunked, "--chunk-frames", "4"]].concat());
    for name in ["latent", "reconstruction"] {
        let (a, sa) = f32s(&whole, name);
        let (b, sb) = f32s(&chunked, name);
        assert_eq!(sa, sb, "{name}");
        assert!(max_diff(&a, &b) <= 1e-5, "{name}: {}", max_diff(&a, &b));
    }
    let (success, text) =
        run(&[&base[..], &["--output", &chunked, "--chunk-frames", "6"]].concat());
    assert!(!success && text.contains("chunk_frames"), "{text}");
}

/// `--tile`: a real photo through the image tokenizer in overlapping 64-pixel tiles keeps the
/// input size, and a tile size off the spatial grid is refused.
#[test]
fn tiled_reconstruct_of_a_real_image() {
    let ckpt = fx("parity/CI8x8.safetensors");
    let out = tmp("chelsea-tiled.png");
    let text = ok(&[
        "reconstruct",
        "--checkpoint",
        &ckpt,
        "--input",
        &media("images/chelsea.png"),
        "--output",
        &out,
        "--pad",
        "--tile",
        "64",
        "--tile-overlap",
        "16",
    ]);
    assert!(text.contains("PSNR"), "{text}");
    let a = image::open(media("images/chelsea.png")).unwrap();
    let b = image::open(&out).unwrap();
    assert_eq!((a.width(), a.height()), (b.width(), b.height()));
    let (success, text) = run(&[
        "reconstruct",
        "--checkpoint",
        &ckpt,
        "--input",
        &media("images/chelsea.png"),
        "--output",
        &out,
        "--pad",
        "--tile",
        "60",
    ]);
    assert!(!success && text.contains("tile"), "{text}");
}
