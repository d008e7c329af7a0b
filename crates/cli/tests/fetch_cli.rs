//! `cosmotok fetch`: conversion, checksum and placement on local files (`--from-file`; the
//! download itself needs the network, which tests do not have).

mod common;

use common::*;

fn out_dir(name: &str) -> std::path::PathBuf {
    let d = tmp_path(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn lpips_heads_are_placed_and_checked() {
    let dir = out_dir("fetch-lpips");
    let out = ok(&["fetch", "lpips", "--out-dir", dir.to_str().unwrap()]);
    let placed = dir.join("lpips_vgg_lin.safetensors");
    assert!(out.contains("lpips_vgg_lin.safetensors"), "{out}");
    assert_eq!(
        std::fs::read(&placed).unwrap(),
        std::fs::read(fx("tokenbench/lpips_vgg_lin.safetensors")).unwrap()
    );
    // A file that is not the one expected is refused, naming the checksums.
    let corrupt = dir.join("corrupt.safetensors");
    let mut bytes = std::fs::read(&placed).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    std::fs::write(&corrupt, &bytes).unwrap();
    let (success, text) = run(&[
        "fetch",
        "lpips",
        "--from-file",
        corrupt.to_str().unwrap(),
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(!success && text.contains("SHA-256"), "{text}");
}

#[test]
fn vgg16_keeps_the_features_of_a_timm_file() {
    use safetensors::tensor::TensorView;
    // A file laid out like timm's vgg16.tv_in1k: torchvision's features.* plus timm's head.
    let dir = out_dir("fetch-vgg");
    std::fs::create_dir_all(&dir).unwrap();
    let keys = cosmotok_losses::vgg::expected_keys(cosmotok_losses::vgg::VGG16_WIDTHS);
    let mut data: Vec<(String, Vec<usize>, Vec<u8>)> = keys
        .iter()
        .enumerate()
        .map(|(i, (k, shape))| {
            let n: usize = shape.iter().product();
            let bytes = (0..n)
                .flat_map(|j| (((i * 7 + j) % 13) as f32 * 0.01).to_le_bytes())
                .collect();
            (k.clone(), shape.clone(), bytes)
        })
        .collect();
    data.push(("pre_logits.fc1.weight".into(), vec![8, 4], vec![0; 128]));
    data.push(("head.fc.weight".into(), vec![10, 8], vec![0; 320]));
    let views: Vec<(String, TensorView<'_>)> = data
        .iter()
        .map(|(k, s, b)| {
            (
                k.clone(),
                TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let src = dir.join("model.safetensors");
    std::fs::write(&src, safetensors::serialize(views, None).unwrap()).unwrap();
    let sha = {
        use sha2::Digest;
        sha2::Sha256::digest(std::fs::read(&src).unwrap())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let args = |sha: &str| {
        vec![
            "fetch".to_string(),
            "vgg16".into(),
            "--from-file".into(),
            src.display().to_string(),
            "--sha256".into(),
            sha.to_string(),
            "--out-dir".into(),
            dir.join("weights").display().to_string(),
        ]
    };
    let a = args(&sha);
    ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let out = std::fs::read(dir.join("weights/vgg16.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&out).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    names.sort();
    let mut want: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
    want.sort();
    assert_eq!(names, want, "exactly torchvision's features.*");
    for (k, _, b) in data.iter().take(keys.len()) {
        assert_eq!(st.tensor(k).unwrap().data(), &b[..], "{k}");
    }
    let a = args(&"0".repeat(64));
    let (success, text) = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!success && text.contains("SHA-256"), "{text}");
}

#[test]
fn a_released_model_is_converted_and_placed() {
    let dir = out_dir("fetch-model");
    let name = "Cosmos-0.1-Tokenizer-CV8x8x8";
    let jit = fx("jit/CV8x8x8_autoencoder_bf16.jit");
    // The fixture archive is a narrow CV8x8x8: it does not load as the released preset...
    let (success, text) = run(&[
        "fetch",
        name,
        "--from-file",
        &jit,
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(!success && text.contains("does not load as"), "{text}");
    // ... but does as its own architecture.
    let out = ok(&[
        "fetch",
        name,
        "--from-file",
        &jit,
        "--config",
        &fx("parity/CV8x8x8.json"),
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    let placed = dir.join(name).join("autoencoder.safetensors");
    assert!(out.contains(&placed.display().to_string()), "{out}");
    let bytes = std::fs::read(&placed).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let reference = std::fs::read(fx("parity/CV8x8x8.safetensors")).unwrap();
    let reference = safetensors::SafeTensors::deserialize(&reference).unwrap();
    // Learned weights, sorted (no ignored buffers, no reference tensors of the fixture).
    let learned = |st: &safetensors::SafeTensors<'_>| {
        let mut v: Vec<String> = st
            .names()
            .into_iter()
            .filter(|k| {
                !cosmotok_model::weights::is_ignored_buffer(k)
                    && !cosmotok_model::weights::is_reference(k)
            })
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    let (got, want) = (learned(&st), learned(&reference));
    assert_eq!(got, want);
    // The archive is bf16; the placed weights are f32 (what training loads).
    let bf16: Vec<String> = st
        .tensors()
        .into_iter()
        .filter(|(_, t)| {
            matches!(
                t.dtype(),
                safetensors::Dtype::BF16 | safetensors::Dtype::F16
            )
        })
        .map(|(k, _)| k)
        .collect();
    assert!(bf16.is_empty(), "{bf16:?}");
    assert_eq!(
        st.tensor("quant_conv.conv3d.weight").unwrap().dtype(),
        safetensors::Dtype::F32
    );
}
