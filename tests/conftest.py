import warnings

import numpy as np
import pytest
import torch

# Tolerance table for numerical tests run in both precisions (e3nn habit).
TOL = {torch.float32: 1e-4, torch.float64: 1e-10}


@pytest.fixture(params=[torch.float32, torch.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_configure(config):
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=DeprecationWarning)
