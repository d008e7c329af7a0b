//! A 3-D convolution whose weight gradient is computed as one matrix product per kernel tap,
//! for training on the Flex (CPU) backend.
//!
//! burn's autodiff computes a convolution's weight gradient as another convolution, whose
//! "kernel" is the whole output gradient. On Flex that becomes thin matrix products with as
//! few rows as the kernel has taps — 1 for a pointwise conv, 3 for the causal temporal one —
//! where the GEMM microkernel runs at a fraction of its speed. Here the weight gradient of a
//! stride-1 conv is `Σ_taps dY · X_tapᵀ`: for each kernel tap, the output gradient
//! ([C_out, N·T'·H'·W']) times the correspondingly shifted input ([N·T'·H'·W', C_in]) — one
//! well-shaped GEMM per tap. The forward pass, the input gradient and the bias gradient are
//! burn's own. Registered through burn's backend-extension API (`#[backend_extension]`) with a
//! custom backward step for `Autodiff<Flex>`; other backends keep `Conv3d::forward`.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{ConvOptions, ModuleOps, PadMode};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, TensorMetadata, backend_extension};
use burn::prelude::*;
use burn::tensor::{Shape, Slice};

/// The extension operation: `conv3d` with a bias, differentiated as described above.
#[backend_extension(Flex, Autodiff)]
pub trait GemmGradConv: Backend {
    fn conv3d_gemm_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self>;
}

impl GemmGradConv for Flex {
    fn conv3d_gemm_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        Flex::conv3d(x, weight, Some(bias), options)
    }
}

#[derive(Debug)]
struct GemmGradConvBackward;

impl<B: Backend> Backward<B, 3> for GemmGradConvBackward {
    /// Checkpointed x, weight, bias and the options.
    type State = (NodeId, NodeId, NodeId, ConvOptions<3>);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, bias_state, options) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
        let weight = checkpointer.retrieve_node_output::<FloatTensor<B>>(weight_state);
        let bias = checkpointer.retrieve_node_output::<FloatTensor<B>>(bias_state);
        if let Some(node) = node_x {
            let g = B::conv3d_x_backward(x.clone(), weight.clone(), grad.clone(), options.clone());
            grads.register::<B>(node.id, g);
        }
        if let Some(node) = node_weight {
            let g = weight_grad::<B>(x.clone(), weight, grad.clone(), &options);
            grads.register::<B>(node.id, g);
        }
        if let Some(node) = node_bias {
            grads.register::<B>(node.id, B::conv3d_bias_backward(x, bias, grad));
        }
    }
}

impl<B: Backend + GemmGradConv, C: CheckpointStrategy> GemmGradConv for Autodiff<B, C> {
    fn conv3d_gemm_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        match GemmGradConvBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = (
                    prep.checkpoint(&x),
                    prep.checkpoint(&weight),
                    prep.checkpoint(&bias),
                    options.clone(),
                );
                let out = B::conv3d(
                    x.into_primitive(),
                    weight.into_primitive(),
                    Some(bias.into_primitive()),
                    options,
                );
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv3d(
                x.into_primitive(),
                weight.into_primitive(),
                Some(bias.into_primitive()),
                options,
            )),
        }
    }
}

/// dL/dW of a conv3d: one GEMM per kernel tap for stride 1, dilation 1, one group (burn's
/// convolution-shaped weight gradient otherwise).
fn weight_grad<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    grad: FloatTensor<B>,
    options: &ConvOptions<3>,
) -> FloatTensor<B> {
    if options.stride != [1, 1, 1] || options.dilation != [1, 1, 1] || options.groups != 1 {
        return B::conv3d_weight_backward(x, weight, grad, options.clone());
    }
    let w_shape = weight.shape();
    let [_, _, kt, kh, kw] = w_shape.dims();
    let [n, c_in, _, _, _] = x.shape().dims();
    let [_, c_out, to, ho, wo] = grad.shape().dims();
    let padding: Vec<(usize, usize)> = [(0, 0), (0, 0)]
        .into_iter()
        .chain(options.padding)
        .collect();
    let x = if padding.iter().any(|&(a, b)| a + b > 0) {
        B::float_pad(x, &padding, PadMode::Constant(0.0))
    } else {
        x
    };
    // dY as [N, C_out, L], L = T'·H'·W'.
    let len = to * ho * wo;
    let g = B::float_reshape(grad, Shape::new([n, c_out, len]));
    let mut taps = Vec::with_capacity(kt * kh * kw);
    for dt in 0..kt {
        for dy in 0..kh {
            for dx in 0..kw {
                // The input each output position reads through this tap: [N, C_in, L].
                let xs = B::float_slice(
                    x.clone(),
                    &[
                        Slice::from(0..n),
                        Slice::from(0..c_in),
                        Slice::from(dt..dt + to),
                        Slice::from(dy..dy + ho),
                        Slice::from(dx..dx + wo),
                    ],
                );
                let xs = B::float_reshape(xs, Shape::new([n, c_in, len]));
                // [N, C_out, L] · [N, L, C_in] → [N, C_out, C_in], summed over the batch.
                let p = B::float_matmul(g.clone(), B::float_swap_dims(xs, 1, 2));
                let p = B::float_sum_dim(p, 0);
                taps.push(B::float_reshape(p, Shape::new([c_out, c_in, 1])));
            }
        }
    }
    // [C_out, C_in, kt·kh·kw] → the weight's [C_out, C_in, kt, kh, kw] (taps in that order).
    B::float_reshape(B::float_cat(taps, 2), w_shape)
}

/// `conv3d(x, weight, bias)` with the GEMM weight gradient. `x` must live on Flex (tracked or
/// not): the extension is implemented for Flex only, other backends panic; callers check the
/// device and use burn's `Conv3d::forward` elsewhere.
pub fn conv3d(
    x: Tensor<5>,
    weight: Tensor<5>,
    bias: Tensor<1>,
    options: ConvOptions<3>,
) -> Tensor<5> {
    let out = <burn::backend::Dispatch as GemmGradConv>::conv3d_gemm_grad(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        options,
    );
    Tensor::from_dispatch(out)
}

#[cfg(test)]
mod tests {
    use burn::nn::PaddingConfig3d;
    use burn::nn::conv::Conv3dConfig;
    use burn::tensor::Distribution;

    use super::*;

    /// Input, weight and bias gradients of `conv3d` against burn's own conv3d autodiff, for the
    /// kernels the tokenizer uses (spatial with padding, causal temporal, pointwise) and a
    /// strided one (burn's weight gradient), batch 2.
    #[test]
    fn gradients_equal_burns_conv3d() {
        let dev = Device::flex().autodiff();
        dev.seed(7);
        for (kernel, stride, pad) in [
            ([1, 3, 3], [1, 1, 1], [0, 1, 1]),
            ([3, 1, 1], [1, 1, 1], [0, 0, 0]),
            ([1, 1, 1], [1, 1, 1], [0, 0, 0]),
            ([1, 3, 3], [1, 2, 2], [0, 1, 1]),
        ] {
            let conv = Conv3dConfig::new([5, 6], kernel)
                .with_stride(stride)
                .with_padding(PaddingConfig3d::Explicit(pad[0], pad[1], pad[2]))
                .init(&dev);
            let x = Tensor::<5>::random([2, 5, 4, 7, 6], Distribution::Normal(0.0, 1.0), &dev);
            let target = |y: Tensor<5>| y.clone().mul(y.sin()).sum();
            let run = |ours: bool| {
                let x = x.clone().detach().require_grad();
                let y = if ours {
                    let options = ConvOptions::new(stride, pad, [1, 1, 1], 1);
                    let bias = conv.bias.as_ref().unwrap().val();
                    conv3d(x.clone(), conv.weight.val(), bias, options)
                } else {
                    conv.forward(x.clone())
                };
                let g = target(y.clone()).backward();
                let host = |t: Tensor<5>| t.into_data().try_to_vec::<f32>().unwrap();
                (
                    host(y),
                    host(x.grad(&g).unwrap()),
                    host(conv.weight.val().grad(&g).unwrap()),
                    conv.bias
                        .as_ref()
                        .unwrap()
                        .val()
                        .grad(&g)
                        .unwrap()
                        .into_data(),
                )
            };
            let (y0, gx0, gw0, gb0) = run(false);
            let (y1, gx1, gw1, gb1) = run(true);
            let close = |a: &[f32], b: &[f32], what: &str| {
                let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
                let err = a.iter().zip(b).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
                assert!(
                    scale > 0.0 && err <= 1e-5 * scale,
                    "{kernel:?}/{stride:?} {what}: max |Δ| {err} (max {scale})"
                );
            };
            close(&y1, &y0, "output");
            close(&gx1, &gx0, "input gradient");
            close(&gw1, &gw0, "weight gradient");
            close(
                &gb1.try_to_vec::<f32>().unwrap(),
                &gb0.try_to_vec::<f32>().unwrap(),
                "bias gradient",
            );
        }
    }
}
