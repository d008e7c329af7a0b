#!/usr/bin/env python3
"""Convert torchvision's pretrained VGG-16 (IMAGENET1K_V1) to the safetensors file that
cosmotok-losses loads for the perceptual and Gram losses.

Run once in an environment with internet access (torchvision downloads the weights):

    python3 scripts/convert_vgg16.py --out weights/vgg16.safetensors

Only the conv layers of `features` are kept (features.N.weight / features.N.bias, f32, the
torchvision key names); the classifier is dropped. Point `[loss] vgg_weights` at the output.
"""
import argparse
import os

import torch
import torchvision
from safetensors.torch import save_file


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="weights/vgg16.safetensors", help="output safetensors path")
    args = ap.parse_args()
    model = torchvision.models.vgg16(weights=torchvision.models.VGG16_Weights.IMAGENET1K_V1)
    sd = {
        k: v.detach().to(torch.float32).contiguous()
        for k, v in model.features.state_dict().items()
    }
    sd = {f"features.{k}": v for k, v in sd.items()}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_file(sd, args.out, metadata={"source": "torchvision vgg16 IMAGENET1K_V1 features"})
    print(f"wrote {len(sd)} tensors to {args.out}")


if __name__ == "__main__":
    main()
