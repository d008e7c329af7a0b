//! One 3×3 convolution (stride 1, padding 1) of the VGG-16 perceptual loss at a given shape on
//! Flex: the no-grad forward, and forward + backward (input and weight gradients). The
//! PyTorch side is `scripts/bench_conv.py`; `scripts/bench_conv.sh` runs both and prints the
//! ratio. Prints one JSON object (median seconds of `--reps` runs after one warm-up).
//!
//! ```text
//! cargo run -p cosmotok-kernels --example bench_conv -- 17 64 64 64 5   # N C_in C_out H(=W) reps
//! ```

use cosmotok_kernels::bench as common;

use anyhow::{Result, bail};
use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

fn main() -> Result<()> {
    let args = common::whole_number_args()?;
    let [n, c_in, c_out, h, reps] = args[..] else {
        bail!("usage: bench_conv N C_IN C_OUT H REPS (got {args:?})");
    };
    let dev = Device::flex();
    let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let x = Tensor::<4>::random([n, c_in, h, h], Distribution::Normal(0.0, 1.0), &dev);
    let w = Tensor::<4>::random([c_out, c_in, 3, 3], Distribution::Normal(0.0, 0.1), &dev);
    let b = Tensor::<1>::zeros([c_out], &dev);
    let forward = common::median_time(
        || {
            let y = conv2d(x.clone(), w.clone(), Some(b.clone()), opts.clone());
            let _ = y.into_data();
        },
        reps,
    );

    let adev = dev.autodiff();
    let xa = Tensor::<4>::from_data(x.to_data(), &adev).require_grad();
    let wa = Param::from_tensor(Tensor::<4>::from_data(w.to_data(), &adev));
    let ba = Param::from_tensor(Tensor::<1>::from_data(b.to_data(), &adev));
    let forward_backward = common::median_time(
        || {
            let y = conv2d(xa.clone(), wa.val(), Some(ba.val()), opts.clone());
            let grads = y.sum().backward();
            let gx = xa.grad(&grads).expect("input gradient");
            let gw = wa.val().grad(&grads).expect("weight gradient");
            let _ = (gx.into_data(), gw.into_data());
        },
        reps,
    );
    println!(
        "{{\"impl\":\"cosmotok\",\"n\":{n},\"c_in\":{c_in},\"c_out\":{c_out},\"h\":{h},\
         \"forward_s\":{forward:.5},\"forward_backward_s\":{forward_backward:.5}}}"
    );
    Ok(())
}
