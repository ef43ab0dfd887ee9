"""Initialisation scales (mlp_core.init, derived in notebook 01, section 4): known values and what each keeps."""

import math

import numpy as np
import pytest

from mlp_core.init import glorot_std, he_std, init_std, lecun_std


def test_the_three_initialisation_rules():
    assert lecun_std(784) == pytest.approx(1 / 28)
    assert glorot_std(784, 256) == pytest.approx(math.sqrt(2 / 1040))
    assert glorot_std(100, 100) == pytest.approx(lecun_std(100))  # equal fans: the two conditions agree
    assert he_std(784) == pytest.approx(math.sqrt(2) / 28)
    assert init_std("glorot", 512, 256) == glorot_std(512, 256) and init_std("he", 512, 256) == he_std(512)
    with pytest.raises(ValueError, match="choose one of: lecun, glorot, he"):
        init_std("xavier", 3, 3)
    with pytest.raises(ValueError, match="fan_out must be a whole number >= 1"):
        glorot_std(3, 0)


def test_glorot_keeps_the_harmonic_mean_of_the_forward_and_backward_variances():
    fan_in, fan_out = 784, 256
    assert glorot_std(fan_in, fan_out) ** 2 == pytest.approx(2 / (1 / (1 / fan_in) + 1 / (1 / fan_out)))


def weights(fan_in: int, fan_out: int, std: float, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((fan_in, fan_out)) * std


def test_lecuns_scale_keeps_the_forward_variance_and_glorots_both_on_average():
    x = np.random.default_rng(0).standard_normal((2000, 400))
    assert (x @ weights(400, 300, lecun_std(400))).var() == pytest.approx(x.var(), rel=0.05)
    g = np.random.default_rng(2).standard_normal((2000, 300))
    w = weights(400, 300, glorot_std(400, 300))
    forward, backward = (x @ w).var() / x.var(), (g @ w.T).var() / g.var()
    assert forward == pytest.approx(400 / 350, rel=0.05) and backward == pytest.approx(300 / 350, rel=0.05)


def test_hes_scale_keeps_the_second_moment_through_relu():
    x = np.random.default_rng(0).standard_normal((4000, 500))
    z = x @ weights(500, 500, he_std(500))
    a = np.maximum(z, 0)  # half of a symmetric input is zeroed: E[a^2] = Var(z) / 2
    assert (a @ weights(500, 500, he_std(500), seed=3)).var() == pytest.approx(z.var(), rel=0.05)
