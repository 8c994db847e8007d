import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

torch.set_default_dtype(torch.float64)
settings.register_profile("ci", max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
