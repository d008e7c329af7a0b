//! Gradient averaging across data-parallel replicas (`[run] devices`).
//!
//! * Every device CUDA: burn's own collective, `burn::tensor::distributed::all_reduce` with
//!   [`ReduceOperation::Mean`], which cubecl-cuda runs with NCCL between the GPUs of this
//!   process. Each replica's thread submits its gradients, parameter by parameter in the
//!   model's visiting order, and gets back the mean on its own device — no gradient is
//!   gathered on one GPU. The NCCL library is loaded at run time (`libnccl.so.2`, shipped with
//!   the CUDA toolkit's NCCL package or PyTorch's `nvidia-nccl` wheel).
//! * Otherwise (Flex, wgpu, a mix): each replica's gradients are moved to the main device and
//!   averaged there (burn's collective has no transport for those backends).
//!
//! Both give the gradient of the whole micro-batch's mean loss, so the weights equal
//! single-device training (tested on Flex; the NCCL path is run by `scripts/gpu_check.sh` on a
//! machine with several GPUs).

use burn::module::{ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::distributed::{
    DistributedConfig, DistributedContext, ReduceOperation, all_reduce,
};

use crate::device::DeviceName;

/// How the replicas' gradients are averaged.
pub enum Collective {
    /// Moved to the main device and averaged there.
    Gather,
    /// NCCL all-reduce (mean) between CUDA devices; the context keeps the communication
    /// server alive for the run.
    Nccl {
        devices: Vec<Device>,
        _context: DistributedContext,
    },
}

impl Collective {
    /// The collective for replicas named `names` on `devices` (autodiff devices): NCCL when
    /// there are several and all are CUDA, else gathering.
    pub fn for_devices(names: &[DeviceName], devices: &[Device]) -> Collective {
        let all_cuda = names.len() > 1 && names.iter().all(|n| matches!(n, DeviceName::Cuda(_)));
        if !all_cuda {
            return Collective::Gather;
        }
        let context = DistributedContext::init(
            devices.to_vec(),
            DistributedConfig {
                all_reduce_op: ReduceOperation::Mean,
            },
        );
        Collective::Nccl {
            devices: devices.to_vec(),
            _context: context,
        }
    }

    pub fn is_nccl(&self) -> bool {
        matches!(self, Collective::Nccl { .. })
    }
}

/// Replaces each gradient of `module` in `grads` by its mean over `devices` (NCCL
/// all-reduce). Every replica's thread calls it with the same module structure, so the
/// collectives are submitted in the same order on every device.
pub fn all_reduce_mean<M: burn::module::Module>(
    module: &M,
    grads: &mut GradientsParams,
    devices: &[Device],
) {
    struct Reduce<'a> {
        grads: &'a mut GradientsParams,
        devices: &'a [Device],
    }
    impl ModuleVisitor for Reduce<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.remove::<D>(param.id) {
                let mean = all_reduce(g, ReduceOperation::Mean, self.devices.to_vec()).resolve();
                self.grads.register(param.id, mean);
            }
        }
    }
    module.visit(&mut Reduce { grads, devices });
}
