//! A 3-D convolution with its own Flex (CPU) kernels for training: the forward pass, the
//! input gradient (stride 1) and the weight gradient of [`crate::flex_conv`]; the bias
//! gradient, and the input gradient of strided convs, are burn's.
//!
//! burn-flex copies a conv's input to channels-last and adds the bias on the calling thread,
//! and computes the weight gradient as another convolution whose "kernel" is the whole output
//! gradient: thin matrix products with as few rows as the kernel has taps (1 for a pointwise
//! conv, 3 for the causal temporal one), where the GEMM microkernel runs at a fraction of its
//! speed and packs its operands on one thread. Registered through burn's backend-extension API
//! (`#[backend_extension]`) with a custom backward step for `Autodiff<Flex>`; other backends
//! keep `Conv3d::forward`.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{ConvOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, TensorMetadata, backend_extension};

use crate::flex_conv;
use burn::prelude::*;

/// The extension operations: `conv3d` with a bias, differentiated as described above, and the
/// input and weight gradients its backward step uses.
#[backend_extension(Flex, Autodiff)]
pub trait GemmGradConv: Backend {
    fn conv3d_gemm_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self>;

    /// dL/dx; burn's `conv3d_x_backward` unless the backend has its own.
    fn conv3d_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        Self::conv3d_x_backward(x, weight, grad, options)
    }

    /// dL/dweight; burn's `conv3d_weight_backward` unless the backend has its own.
    fn conv3d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        Self::conv3d_weight_backward(x, weight, grad, options)
    }
}

impl GemmGradConv for Flex {
    fn conv3d_gemm_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        flex_conv::forward(x, weight, bias, &options)
    }

    fn conv3d_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        let x_shape = x.shape().dims::<5>().to_vec();
        match flex_conv::input_grad(&x_shape, weight.clone(), grad.clone(), &options) {
            Some(g) => g,
            None => Flex::conv3d_x_backward(x, weight, grad, options),
        }
    }

    fn conv3d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        let w_shape = weight.shape().dims::<5>().to_vec();
        match flex_conv::weight_grad(x.clone(), &w_shape, grad.clone(), &options) {
            Some(g) => g,
            None => Flex::conv3d_weight_backward(x, weight, grad, options),
        }
    }
}

#[derive(Debug)]
struct GemmGradConvBackward;

impl<B: GemmGradConv> Backward<B, 3> for GemmGradConvBackward {
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
            let g = B::conv3d_input_grad(x.clone(), weight.clone(), grad.clone(), options.clone());
            grads.register::<B>(node.id, g);
        }
        if let Some(node) = node_weight {
            let g = B::conv3d_weight_grad(x.clone(), weight, grad.clone(), options.clone());
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
                let out = B::conv3d_gemm_grad(
                    x.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                    options,
                );
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv3d_gemm_grad(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                options,
            )),
        }
    }
}

/// `conv3d(x, weight, bias)` on the Flex kernels. `x` must live on Flex (tracked or not): the
/// extension is implemented for Flex only, other backends panic; callers check the device and
/// use burn's `Conv3d::forward` elsewhere.
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
