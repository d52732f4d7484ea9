"""The latent codec: unit-variance latents on the training data, and decoding that undoes the scale."""

import pytest
import torch
from torch import nn

from course_lib.autoencoder import AEConfig, Autoencoder
from course_lib.latent import LatentCodec


def _model() -> Autoencoder:
    torch.manual_seed(0)
    return Autoencoder(AEConfig(latent_dim=4))


def test_encoded_training_latents_have_unit_std_and_decode_undoes_the_scale():
    ae = _model()
    x = torch.rand(300, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    codec = LatentCodec(ae)
    scale = codec.fit_scale(x, batch_size=64)
    with torch.no_grad():
        raw = ae.encode(x)
    assert scale == pytest.approx(1 / raw.double().std().item(), rel=1e-6)
    z = codec.encode(x)
    assert z.double().std().item() == pytest.approx(1.0, rel=1e-5)
    with torch.no_grad():
        assert torch.allclose(codec.decode(z), ae.decode(raw), atol=1e-6)  # divided before decoding
        assert not torch.allclose(ae.decode(z), ae.decode(raw), atol=1e-3)  # the classic mistake differs
    assert codec.scale_factor == scale and not any(p.requires_grad for p in codec.parameters())
    assert LatentCodec(ae, scale=scale).encode(x).allclose(z)
    state = codec.state_dict()
    fresh = LatentCodec(_model())
    fresh.load_state_dict(state)
    assert fresh.scale_factor == pytest.approx(scale)


def test_bad_use_gets_a_clear_error():
    with pytest.raises(ValueError, match="encode"):
        LatentCodec(nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="fit_scale"):
        LatentCodec(_model()).encode(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="scale must be"):
        LatentCodec(_model(), scale=0.0)
