"""Pure-PyTorch Mamba: the selective scan equals the plain recurrence, the chunked scan equals the
sequential one (values and gradients); mamba-ssm names and shapes."""

import pytest
import torch

from models.mamba import (BiMamba, Mamba, MambaConfig, chunked_scan, selective_scan, selective_scan_reference,
                          sequential_scan)


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


def _recurrence_inputs(seed, batch, steps, channels, states):
    """delta * A and delta * B * u as selective_scan forms them: decays in (0, 1], drives of order 0.1."""
    g = torch.Generator().manual_seed(seed)
    delta = torch.nn.functional.softplus(torch.randn(batch, steps, channels, 1, generator=g) - 1)
    log_decay = delta * -torch.rand(channels, states, generator=g) * 8
    drive = delta * torch.randn(batch, steps, channels, states, generator=g)
    C = torch.randn(batch, steps, states, generator=g)
    initial_state = torch.randn(batch, channels, states, generator=g)
    return log_decay, drive, C, initial_state


def _assert_close_relative(actual, expected, rtol=1e-5):
    """Equal to rtol of the largest magnitude, so entries that happen to be near zero do not fail."""
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=rtol * expected.abs().max().item())


@pytest.mark.parametrize("steps", [1, 7, 64, 257])
@pytest.mark.parametrize("batch, states", [(1, 1), (3, 4), (2, 16)])
def test_chunked_scan_equals_sequential_scan_outputs_and_final_state(steps, batch, states):
    log_decay, drive, C, initial_state = _recurrence_inputs(steps, batch, steps, channels=5, states=states)
    for start in (None, initial_state):
        y, final = chunked_scan(log_decay, drive, C, start)
        y_ref, final_ref = sequential_scan(log_decay, drive, C, start)
        assert y.shape == (batch, steps, 5) and final.shape == (batch, 5, states)
        _assert_close_relative(y, y_ref)
        _assert_close_relative(final, final_ref)


@pytest.mark.parametrize("chunk_steps", [1, 2, 5, 16, 30, 31, 40])
def test_chunked_scan_equals_sequential_scan_for_any_chunk_length(chunk_steps):
    log_decay, drive, C, initial_state = _recurrence_inputs(0, batch=2, steps=31, channels=3, states=4)
    y, final = chunked_scan(log_decay, drive, C, initial_state, chunk_steps=chunk_steps)
    y_ref, final_ref = sequential_scan(log_decay, drive, C, initial_state)
    _assert_close_relative(y, y_ref)
    _assert_close_relative(final, final_ref)


@pytest.mark.parametrize("steps", [1, 7, 64, 257])
@pytest.mark.parametrize("drop", [(), ("z", "D")])
def test_chunked_selective_scan_equals_sequential_with_equal_gradients(steps, drop):
    inputs = _scan_inputs(seed=steps, batch=2, channels=4, steps=steps, states=3)
    for name in drop:
        inputs[name] = None
    results = {}
    for scan in ("chunked", "sequential"):
        leaves = {name: value.clone().requires_grad_() for name, value in inputs.items() if value is not None}
        out = selective_scan(**{**inputs, **leaves}, scan=scan)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        results[scan] = out.detach(), {name: leaf.grad for name, leaf in leaves.items()}
    (out, grads), (out_ref, grads_ref) = results["chunked"], results["sequential"]
    _assert_close_relative(out, out_ref)
    assert grads.keys() == grads_ref.keys()
    for name in grads:
        _assert_close_relative(grads[name], grads_ref[name])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_chunked_selective_scan_in_half_precision_is_finite_and_close_to_float32(dtype):
    inputs = {name: value.to(dtype) for name, value in _scan_inputs(seed=3, steps=150).items()}
    out = selective_scan(**inputs)
    reference = selective_scan(**{name: value.float() for name, value in inputs.items()}, scan="sequential")
    assert out.dtype == dtype and torch.isfinite(out).all()
    # Only the float32 result's rounding to the half type differs (the scan itself runs in float32).
    _assert_close_relative(out.float(), reference, rtol=1e-2)


def test_selective_scan_rejects_an_unknown_scan():
    with pytest.raises(ValueError, match="scan must be one of"):
        selective_scan(**_scan_inputs(seed=0), scan="parallel")


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
