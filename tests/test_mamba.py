"""Pure-PyTorch Mamba: the selective scan equals the plain recurrence; mamba-ssm names and shapes."""

import pytest
import torch

from models.mamba import BiMamba, Mamba, MambaConfig, selective_scan, selective_scan_reference


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _scan_inputs(seed, batch=2, channels=6, steps=33, states=4):
    g = torch.Generator().manual_seed(seed)
    return dict(u=torch.randn(batch, channels, steps, generator=g),
                delta=torch.randn(batch, channels, steps, generator=g),
                A=-torch.rand(channels, states, generator=g) * 4,
                B=torch.randn(batch, states, steps, generator=g),
                C=torch.randn(batch, states, steps, generator=g),
                D=torch.randn(channels, generator=g),
                z=torch.randn(batch, channels, steps, generator=g),
                delta_bias=torch.randn(channels, generator=g))


@pytest.mark.parametrize("drop", [(), ("z",), ("D",), ("delta_bias",), ("z", "D", "delta_bias")])
def test_selective_scan_matches_reference_recurrence(drop):
    inputs = _scan_inputs(seed=len(drop))
    for name in drop:
        inputs[name] = None
    fast = selective_scan(**inputs)
    slow = selective_scan_reference(**inputs)
    assert fast.shape == inputs["u"].shape and fast.dtype == torch.float32
    torch.testing.assert_close(fast.double(), slow, atol=1e-5, rtol=1e-5)


def test_selective_scan_without_softplus_matches_reference():
    inputs = _scan_inputs(seed=7)
    inputs["delta"] = inputs["delta"].abs()
    torch.testing.assert_close(selective_scan(**inputs, delta_softplus=False).double(),
                               selective_scan_reference(**inputs, delta_softplus=False), atol=1e-5, rtol=1e-5)


def test_mamba_has_mamba_ssm_parameter_names_and_shapes():
    model = Mamba(MambaConfig(d_model=64))
    shapes = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    # d_inner = 2 * 64, dt_rank = ceil(64 / 16) = 4, d_state = 16, d_conv = 4; no in/out bias (mamba-ssm default).
    assert shapes == {"in_proj.weight": (256, 64), "conv1d.weight": (128, 1, 4), "conv1d.bias": (128,),
                      "x_proj.weight": (36, 128), "dt_proj.weight": (128, 4), "dt_proj.bias": (128,),
                      "A_log": (128, 16), "D": (128,), "out_proj.weight": (64, 128)}


def test_mamba_is_causal():
    torch.manual_seed(0)
    model = Mamba(MambaConfig(d_model=16, d_state=4)).eval()
    x = torch.randn(1, 12, 16)
    changed = x.clone()
    changed[:, 8:] += 1.0
    with torch.no_grad():
        torch.testing.assert_close(model(x)[:, :8], model(changed)[:, :8])


def test_bimamba_shape_and_time_reversal_swaps_directions():
    torch.manual_seed(0)
    config = MambaConfig(d_model=16, d_state=4)
    bi = BiMamba(config).eval()
    swapped = BiMamba(config).eval()
    swapped.forward_mamba.load_state_dict(bi.backward_mamba.state_dict())
    swapped.backward_mamba.load_state_dict(bi.forward_mamba.state_dict())
    x = torch.randn(2, 10, 16)
    with torch.no_grad():
        out = bi(x)
        assert out.shape == (2, 10, 16)
        torch.testing.assert_close(swapped(x.flip(1)).flip(1), out, atol=1e-5, rtol=1e-5)


def _mamba_ssm_cuda_available():
    try:
        import mamba_ssm  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.skipif(not _mamba_ssm_cuda_available(),
                    reason="needs the mamba_ssm package and a CUDA GPU to compare its kernels with the torch scan")
def test_mamba_ssm_kernel_matches_pure_torch_scan():
    from mamba_ssm import Mamba as KernelMamba

    torch.manual_seed(0)
    ours = Mamba(MambaConfig(d_model=64)).cuda().eval()
    theirs = KernelMamba(d_model=64, d_state=16, d_conv=4, expand=2).cuda().eval()
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 50, 64, device="cuda")
    with torch.no_grad():
        torch.testing.assert_close(ours(x, use_kernel=False), theirs(x), atol=1e-4, rtol=1e-3)
        torch.testing.assert_close(ours(x, use_kernel=True), ours(x, use_kernel=False), atol=1e-4, rtol=1e-3)
