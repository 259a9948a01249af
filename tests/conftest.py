"""Test configuration: float64 everywhere, rank promotion is an error, strict dtype
promotion (as diffrax runs its suite), 8 host devices."""

import os

# Several CPU devices for the multi-device tests; must be set before JAX starts.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")
