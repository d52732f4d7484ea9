"""Lesson 01's checks against the classic mistakes: every wrong answer listed here must fail, with a message
that points at the mistake. A check is only as good as the wrong answers it fails."""

import torch
import torch.nn.functional as F
from mistakes import lesson_tests

from course_lib import autoencoder as ae


def _randn(x, generator):
    return torch.randn(x.shape, generator=generator)


class NoSigmoid(ae.Autoencoder):
    def decode(self, z):
        return self.decoder(z).view(z.shape[0], *self.config.image_shape)


class SigmoidAlways(ae.Autoencoder):  # squashes the linear autoencoder too: it is no longer PCA
    def decode(self, z):
        return torch.sigmoid(self.decoder(z)).view(z.shape[0], *self.config.image_shape)


class NoReshape(ae.Autoencoder):
    def decode(self, z):
        return torch.sigmoid(self.decoder(z)) if not self.config.linear else self.decoder(z)


MISTAKES = [
    # (exercise, the mistake, the wrong answer, words its verdict must contain)
    ("01.reconstruction_loss", "mean over pixels too (F.mse_loss)",
     lambda x, y: F.mse_loss(y, x), "expected the loss = 64, got 1"),
    ("01.reconstruction_loss", "summed over the batch, not averaged", lambda x, y: ((x - y) ** 2).sum(), "got 256"),
    ("01.reconstruction_loss", "a Python float: no gradient",
     lambda x, y: float(((x - y) ** 2).sum() / x.shape[0]), "torch.Tensor"),
    ("01.reconstruction_loss", "the norm, not its square",
     lambda x, y: (x - y).reshape(len(x), -1).norm(dim=1).mean(), "expected the loss = 64, got 8"),
    ("01.reconstruction_loss", "absolute error",
     lambda x, y: (x - y).abs().reshape(len(x), -1).sum(1).mean(), "expected the loss"),
    ("01.Autoencoder", "no sigmoid on the decoder's output", NoSigmoid, "decode(z) differs"),
    ("01.Autoencoder", "a sigmoid on the linear autoencoder", SigmoidAlways, "linear autoencoder"),
    ("01.Autoencoder", "decode returns flat vectors", NoReshape, "shape"),
    ("01.gaussian_corruption", "ignores the generator",
     lambda x, s, generator=None: x + s * torch.randn_like(x), "use the generator argument"),
    ("01.gaussian_corruption", "uniform noise",
     lambda x, s, generator=None: x + s * torch.rand(x.shape, generator=generator), "mean 0"),
    ("01.gaussian_corruption", "changes x in place", lambda x, s, generator=None: x.add_(s * _randn(x, generator)), "in place"),
    ("01.gaussian_corruption", "variance sigma, not sigma^2",
     lambda x, s, generator=None: x + s**0.5 * _randn(x, generator), "standard deviation sigma"),
    ("01.gaussian_corruption", "one noise value per image",
     lambda x, s, generator=None: x + s * torch.randn((x.shape[0],) + (1,) * (x.ndim - 1), generator=generator),
     "all the pixels of an image get the same"),
    ("01.gaussian_corruption", "one noise image for the whole batch",
     lambda x, s, generator=None: x + s * torch.randn((1,) + tuple(x.shape[1:]), generator=generator),
     "every image of the batch gets the same noise"),
    ("01.masking_corruption", "dropout's rescaling by 1 / (1 - p)",
     lambda x, p, generator=None: x * (torch.rand(x.shape, generator=generator) >= p) / (1 - p + 1e-12), "neither kept"),
    ("01.masking_corruption", "keeps with probability p instead of dropping",
     lambda x, p, generator=None: x * (torch.rand(x.shape, generator=generator) < p), "p = 0 keeps"),
    ("01.masking_corruption", "one mask value per image",
     lambda x, p, generator=None: x * (torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), generator=generator) >= p),
     "all the pixels of an image get the same"),
    ("01.masking_corruption", "one mask for the whole batch",
     lambda x, p, generator=None: x * (torch.rand((1,) + tuple(x.shape[1:]), generator=generator) >= p),
     "every image of the batch gets the same mask"),
    ("01.masking_corruption", "changes x in place",
     lambda x, p, generator=None: x.mul_(torch.rand(x.shape, generator=generator) >= p), "in place"),
]


(
    test_each_classic_mistake_fails_with_a_message_that_names_it,
    test_every_exercise_has_mistakes_listed,
    test_a_copy_of_the_reference_passes_and_a_stub_is_not_attempted,
) = lesson_tests("01", MISTAKES)
