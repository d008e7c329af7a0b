//! `cosmotok`: train, fine-tune, evaluate and run NVIDIA Cosmos tokenizers.

mod codec;
mod config_arg;
mod data_cmd;
mod device;
mod inspect;
mod tensor_io;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "cosmotok",
    version,
    about = "Cosmos causal wavelet tokenizers in Rust (Burn)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Encode an image, video, frame folder or tensor file to latents / FSQ indices.
    Encode(codec::CodecArgs),
    /// Decode latents, codes or FSQ indices (safetensors) to a tensor file or media.
    Decode(codec::CodecArgs),
    /// Encode then decode; prints the PSNR of the reconstruction.
    Reconstruct(codec::CodecArgs),
    /// Show a checkpoint's architecture, preset, parameter count and keys.
    Inspect(inspect::InspectArgs),
    /// List the presets of every released model.
    Presets,
    /// Dataset tools (`data inspect <path|config>`).
    Data(data_cmd::DataArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Encode(a) => codec::encode(a),
        Command::Decode(a) => codec::decode(a),
        Command::Reconstruct(a) => codec::reconstruct(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Data(a) => data_cmd::run(a),
        Command::Presets => {
            for p in cosmotok_model::presets::all() {
                println!("{:<36} {}", p.name, inspect::describe(&p));
            }
            Ok(())
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
