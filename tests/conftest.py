import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

torch.set_default_dtype(torch.float64)
# "ci" (the default) draws the same examples on every run, so CI is reproducible; run with
# HYPOTHESIS_PROFILE=explore to search more, and differently each time
settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
