"""One process of the two-process sweep test (run by tests/test_sweep.py).

Usage: python _sweep_worker.py PROCESS_ID PORT OUT_DIR
"""

import sys

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.config.update("jax_num_cpu_devices", 2)

process_id, port, out_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
jax.distributed.initialize(
    coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=process_id
)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import solvers  # noqa: E402


def decay_oscillator(t, y, params):
    return jnp.stack([y[1], -params["k"] * y[0] - params["c"] * y[1]])


assert jax.process_count() == 2 and jax.device_count() == 4, jax.devices()
params = {"k": jnp.linspace(1.0, 3.0, 11), "c": jnp.asarray(0.1)}
sols = solvers.sweep(
    decay_oscillator,
    jnp.array([1.0, 0.0]),
    (0.0, 2.0),
    params,
    in_axes=(None, {"k": 0, "c": None}),
    ts=jnp.linspace(0.0, 2.0, 5),
    rtol=1e-10,
    atol=1e-12,
)
np.save(f"{out_dir}/ys_{process_id}.npy", np.asarray(sols.ys))
np.save(f"{out_dir}/status_{process_id}.npy", np.asarray(sols.status))
jax.distributed.shutdown()
