//! `cosmotok fetch`: conversion, checksum and placement on local files (`--from-file`), and the
//! download itself against a local stand-in for the Hugging Face Hub (`HF_ENDPOINT`), since
//! tests have no network.

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
    let sha = sha256_hex(&std::fs::read(&src).unwrap());
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

/// A stand-in for the Hugging Face Hub's file endpoint, `/{repo}/resolve/{revision}/{file}`, as
/// the `hf-hub` client reads it: the `bytes=0-0` probe answered with `X-Repo-Commit`, `ETag`
/// (the file's SHA-256 for LFS files) and `Content-Range`, then `Range: bytes=N-` for the body.
/// Every request is logged.
mod mock_hub {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};

    pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    pub struct File {
        pub bytes: Vec<u8>,
        pub etag: String,
        /// The first body response is cut off after this many bytes (a dropped connection).
        pub cut_first_at: Option<usize>,
    }

    #[derive(Debug, Clone)]
    pub struct Request {
        pub path: String,
        pub range: Option<String>,
        pub auth: Option<String>,
    }

    pub struct Hub {
        pub endpoint: String,
        pub files: Arc<Mutex<HashMap<String, File>>>,
        pub log: Arc<Mutex<Vec<Request>>>,
    }

    pub fn start() -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let hub = Hub {
            endpoint,
            files: Arc::default(),
            log: Arc::default(),
        };
        let (files, log) = (hub.files.clone(), hub.log.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                serve(stream, &files, &log);
            }
        });
        hub
    }

    fn serve(
        mut stream: TcpStream,
        files: &Mutex<HashMap<String, File>>,
        log: &Mutex<Vec<Request>>,
    ) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let (mut range, mut auth) = (None, None);
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.to_ascii_lowercase().as_str() {
                    "range" => range = Some(v.trim().to_string()),
                    "authorization" => auth = Some(v.trim().to_string()),
                    _ => {}
                }
            }
        }
        log.lock().unwrap().push(Request {
            path: path.clone(),
            range: range.clone(),
            auth,
        });
        let mut files = files.lock().unwrap();
        let Some(file) = files.get_mut(&path) else {
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        };
        let size = file.bytes.len();
        let (start, end) = match range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
            Some(r) => {
                let (a, b) = r.split_once('-').unwrap();
                let a: usize = a.parse().unwrap();
                let b = b.parse::<usize>().map_or(size - 1, |b| b.min(size - 1));
                (a, b)
            }
            None => (0, size - 1),
        };
        let body = &file.bytes[start..=end];
        let head = format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes \
             {start}-{end}/{size}\r\nETag: \"{}\"\r\nX-Repo-Commit: {COMMIT}\r\n\
             Connection: close\r\n\r\n",
            body.len(),
            file.etag
        );
        let cut = if body.len() > 1 {
            file.cut_first_at.take()
        } else {
            None
        };
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(cut.map_or(body, |n| &body[..n]));
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `fetch <model>` without `--from-file`: the archive is downloaded (with the token, resumed
/// after a dropped connection from the byte it had reached), checked against the SHA-256 the
/// Hub states, converted and placed exactly as from a local file; a second fetch is served by
/// the cache without a request. A file that does not match the Hub's checksum is refused and
/// dropped from the cache, so the next run downloads it anew; a missing file names the URL.
#[test]
fn a_released_model_is_downloaded_checked_and_resumed() {
    let dir = out_dir("fetch-hub");
    let name = "Cosmos-0.1-Tokenizer-CV8x8x8";
    let jit = fx("jit/CV8x8x8_autoencoder_bf16.jit");
    let bytes = std::fs::read(&jit).unwrap();
    let sha = sha256_hex(&bytes);
    let url_path = format!("/nvidia/{name}/resolve/main/autoencoder.jit");
    let hub = mock_hub::start();
    let hf_home = dir.join("hf");
    let env = [
        ("HF_ENDPOINT", hub.endpoint.as_str()),
        ("HF_HOME", hf_home.to_str().unwrap()),
        ("HF_TOKEN", "hf_test_token"),
    ];
    let config = fx("parity/CV8x8x8.json");
    let fetch = |out: &str| {
        run_env(
            &["fetch", name, "--config", &config, "--out-dir", out],
            &env,
        )
    };
    let downloaded = dir.join("downloaded");
    let placed = downloaded.join(name).join("autoencoder.safetensors");
    let requests = || hub.log.lock().unwrap().clone();

    // 1. A checksum that is not the file's: refused, and the blob leaves the cache.
    let cut = bytes.len() / 3;
    hub.files.lock().unwrap().insert(
        url_path.clone(),
        mock_hub::File {
            bytes: bytes.clone(),
            etag: sha256_hex(b"another file"),
            cut_first_at: None,
        },
    );
    let (success, text) = fetch(downloaded.to_str().unwrap());
    assert!(!success, "{text}");
    assert!(
        text.contains("SHA-256") && text.contains("removed from the cache"),
        "{text}"
    );
    assert!(!placed.exists());
    let blobs = hf_home.join(format!("hub/models--nvidia--{name}/blobs"));
    // (hf-hub's lock files stay.)
    let left: Vec<_> = std::fs::read_dir(&blobs)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // 2. The right checksum, and a connection dropped a third of the way through the body.
    {
        let mut files = hub.files.lock().unwrap();
        let f = files.get_mut(&url_path).unwrap();
        f.etag = sha.clone();
        f.cut_first_at = Some(cut);
    }
    hub.log.lock().unwrap().clear();
    let (success, text) = fetch(downloaded.to_str().unwrap());
    assert!(success, "{text}");
    let log = requests();
    assert!(log.iter().all(|r| r.path == url_path), "{log:?}");
    assert!(
        log.iter()
            .all(|r| r.auth.as_deref() == Some("Bearer hf_test_token")),
        "the token goes with every request: {log:?}"
    );
    let ranges: Vec<&str> = log.iter().filter_map(|r| r.range.as_deref()).collect();
    assert_eq!(ranges.first(), Some(&"bytes=0-0"), "{log:?}");
    assert!(ranges.contains(&"bytes=0-"), "{log:?}");
    assert!(
        ranges.contains(&format!("bytes={cut}-").as_str()),
        "resumed from byte {cut}: {log:?}"
    );
    assert_eq!(
        std::fs::read(blobs.join(&sha)).unwrap(),
        bytes,
        "the cached blob is the served file"
    );

    // The same tensors as a fetch of the local file (the metadata names the source file).
    let local = dir.join("local");
    ok(&[
        "fetch",
        name,
        "--from-file",
        &jit,
        "--config",
        &config,
        "--out-dir",
        local.to_str().unwrap(),
    ]);
    let want = std::fs::read(local.join(name).join("autoencoder.safetensors")).unwrap();
    let same_tensors = |got: &[u8]| {
        let (a, b) = (
            safetensors::SafeTensors::deserialize(got).unwrap(),
            safetensors::SafeTensors::deserialize(&want).unwrap(),
        );
        let mut names = a.names();
        names.sort();
        let mut want_names = b.names();
        want_names.sort();
        assert_eq!(names, want_names);
        for k in names {
            let (x, y) = (a.tensor(k).unwrap(), b.tensor(k).unwrap());
            assert!(
                x.dtype() == y.dtype() && x.shape() == y.shape() && x.data() == y.data(),
                "`{k}` differs"
            );
        }
    };
    same_tensors(&std::fs::read(&placed).unwrap());

    // 3. Cached: no request at all.
    hub.log.lock().unwrap().clear();
    std::fs::remove_dir_all(&downloaded).unwrap();
    let (success, text) = fetch(downloaded.to_str().unwrap());
    assert!(success, "{text}");
    assert!(requests().is_empty(), "{:?}", requests());
    same_tensors(&std::fs::read(&placed).unwrap());

    // 4. A file the Hub does not have: the error names the URL.
    let (success, text) = run_env(
        &[
            "fetch",
            "Cosmos-0.1-Tokenizer-CV4x8x8",
            "--out-dir",
            downloaded.to_str().unwrap(),
        ],
        &env,
    );
    let url = format!(
        "{}/nvidia/Cosmos-0.1-Tokenizer-CV4x8x8/resolve/main/autoencoder.jit",
        hub.endpoint
    );
    assert!(
        !success && text.contains(&url) && text.contains("HF_TOKEN"),
        "{text}"
    );
}
