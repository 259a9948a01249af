"""solvers.sweep: equality with single solves, in_axes, padding, chunks, devices, errors.

conftest.py gives the process 8 CPU host devices. Most tests share one vector field,
one set of solve options and the chunk sizes below, so the compiled sweep programs
are reused between tests.
"""

import ast
import importlib
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import oscillator, pendulum, subprocess_env

import solvers

OPTIONS = {"ts": jnp.linspace(0.0, 2.0, 5), "rtol": 1e-9, "atol": 1e-12}
OMEGAS = jnp.linspace(0.5, 3.0, 11)  # 11: never divides the device count
Y0S = jnp.stack([jnp.linspace(-1.0, 1.0, 11), jnp.linspace(0.5, -0.5, 11)], axis=1)
Y0 = jnp.array([1.0, 0.0])


def _single(y0, omega):
    return solvers.solve(oscillator, y0, (0.0, 2.0), omega, **OPTIONS)


def _assert_members_equal(sols, y0s, omegas):
    """Every member equals its own single solve (to 1e-12; usually bit for bit)."""
    for i, (y0, omega) in enumerate(zip(y0s, omegas, strict=True)):
        alone = _single(y0, omega)
        np.testing.assert_allclose(sols.ys[i], alone.ys, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(sols.ts[i], alone.ts)
        for key in alone.stats:
            assert int(sols.stats[key][i]) == int(alone.stats[key]), key
        assert int(sols.status[i]) == 0


def test_eight_host_devices_available():
    assert jax.device_count() == 8


@pytest.mark.parametrize("num_devices", [1, 3, 8])
def test_params_batch_equals_single_solves_and_pads(num_devices):
    sols = solvers.sweep(
        oscillator, Y0, (0.0, 2.0), OMEGAS, devices=jax.devices()[:num_devices], **OPTIONS
    )
    assert sols.ys.shape == (11, 5, 2)
    assert sols.status.shape == (11,)
    _assert_members_equal(sols, [Y0] * 11, OMEGAS)


def test_y0_batch_and_both_batched():
    by_y0 = solvers.sweep(oscillator, Y0S, (0.0, 2.0), 1.5, in_axes=(0, None), **OPTIONS)
    _assert_members_equal(by_y0, Y0S, [1.5] * 11)
    both = solvers.sweep(oscillator, Y0S, (0.0, 2.0), OMEGAS, in_axes=(0, 0), **OPTIONS)
    _assert_members_equal(both, Y0S, OMEGAS)


def test_pytree_in_axes_and_nonleading_axis():
    params = {"g": jnp.linspace(5.0, 15.0, 6), "c": jnp.asarray(0.3), "A": 1.2, "w": 2.0}
    y0s = jnp.stack([jnp.linspace(0.1, 2.5, 6), jnp.zeros(6)], axis=0)  # batch on axis 1
    sols = solvers.sweep(
        pendulum,
        y0s,
        (0.0, 1.0),
        params,
        in_axes=(1, {"g": 0, "c": None, "A": None, "w": None}),
        rtol=1e-9,
        atol=1e-12,
    )
    for i in range(6):
        member = {**params, "g": params["g"][i]}
        alone = solvers.solve(pendulum, y0s[:, i], (0.0, 1.0), member, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(sols.ys[i], alone.ys, rtol=0, atol=1e-12)


def test_dict_state_batched():
    def field(t, y, omega):
        return {"q": y["p"], "p": -(omega**2) * y["q"]}

    y0 = {"q": jnp.linspace(0.0, 1.0, 5), "p": jnp.asarray(1.0)}
    sols = solvers.sweep(field, y0, (0.0, 1.0), 2.0, in_axes=({"q": 0, "p": None}, None))
    assert sols.ys["q"].shape == (5, 1)
    for i in range(5):
        alone = solvers.solve(field, {"q": y0["q"][i], "p": y0["p"]}, (0.0, 1.0), 2.0)
        np.testing.assert_allclose(sols.ys["q"][i], alone.ys["q"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("chunk_size", [3, 8])
def test_chunks_give_the_same_members(chunk_size):
    whole = solvers.sweep(oscillator, Y0, (0.0, 2.0), OMEGAS, **OPTIONS)
    chunked = solvers.sweep(
        oscillator,
        Y0,
        (0.0, 2.0),
        OMEGAS,
        chunk_size=chunk_size,
        devices=jax.devices()[:2],
        **OPTIONS,
    )
    np.testing.assert_allclose(chunked.ys, whole.ys, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(chunked.stats["num_steps"], whole.stats["num_steps"])


def test_balance_keeps_the_original_order():
    whole = solvers.sweep(oscillator, Y0, (0.0, 2.0), OMEGAS, **OPTIONS)
    # Reverse order of cost: the sorted batch is the reverse of the given one.
    costs = -np.arange(11.0)
    given = solvers.sweep(
        oscillator, Y0, (0.0, 2.0), OMEGAS, balance=costs, chunk_size=3, **OPTIONS
    )
    np.testing.assert_allclose(given.ys, whole.ys, rtol=0, atol=1e-12)
    piloted = solvers.sweep(oscillator, Y0, (0.0, 2.0), OMEGAS, balance=True, **OPTIONS)
    np.testing.assert_allclose(piloted.ys, whole.ys, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        solvers.sweep(oscillator, Y0, (0.0, 2.0), OMEGAS, balance=np.ones(3), **OPTIONS)


def _van_der_pol(t, y, mu):
    return jnp.stack([y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]])


def test_balance_reduces_lockstep_cost(monkeypatch):
    # Van der Pol: the step count grows with mu, and the shuffled batch mixes cheap and
    # costly members in every chunk of 8, so the caller's order wastes lockstep steps.
    mus = jnp.asarray(np.random.default_rng(0).permutation(np.geomspace(0.5, 100.0, 64)))

    def run(**options):
        # One device and chunks of 8 throughout (the pilot too): one compiled program.
        return solvers.sweep(
            _van_der_pol,
            jnp.array([2.0, 0.0]),
            (0.0, 10.0),
            mus,
            rtol=1e-6,
            atol=1e-8,
            devices=jax.devices()[:1],
            chunk_size=8,
            **options,
        )

    plain = run()
    steps = np.asarray(plain.stats["num_steps"])

    # Record the members in the order balance=True actually feeds them to its program
    # (the pilot solve's inputs are left out).
    module = importlib.import_module("solvers.sweep")
    real_sharded, real_pilot = module._sharded, module._pilot_cost
    fed, in_pilot = [], []

    def sharded(array, mesh):
        if not in_pilot:
            fed.append(np.array(array))
        return real_sharded(array, mesh)

    def pilot_cost(*args, **kwargs):
        in_pilot.append(True)
        try:
            return real_pilot(*args, **kwargs)
        finally:
            in_pilot.pop()

    monkeypatch.setattr(module, "_sharded", sharded)
    monkeypatch.setattr(module, "_pilot_cost", pilot_cost)
    balanced = run(balance=True)

    position = {float(mu): i for i, mu in enumerate(np.asarray(mus))}
    order = np.array([position[float(mu)] for mu in np.concatenate(fed)[: mus.shape[0]]])
    np.testing.assert_array_equal(np.sort(order), np.arange(mus.shape[0]))
    given = solvers.lockstep_cost(steps, chunk_size=8)
    used = solvers.lockstep_cost(steps[order], chunk_size=8)
    assert used["own"] == given["own"] == steps.sum()
    assert used["used"] < 0.6 * given["used"], (used, given)
    # Results come back in the caller's order.
    np.testing.assert_array_equal(balanced.stats["num_steps"], steps)
    np.testing.assert_allclose(balanced.ys, plain.ys, rtol=0, atol=1e-12)


def test_lockstep_cost_arithmetic():
    cost = solvers.lockstep_cost([1, 5, 2, 2, 3], chunk_size=2, num_devices=1)
    # chunks [1, 5], [2, 2], [3, pad 3]: 2*5 + 2*2 + 2*3
    assert cost == {"used": 20, "own": 13, "efficiency": 13 / 20}
    across = solvers.lockstep_cost([1, 5, 2, 2], num_devices=2)
    assert across["used"] == 2 * 5 + 2 * 2


def test_progress_bar(capsys):
    solvers.sweep(oscillator, Y0, (0.0, 2.0), OMEGAS, chunk_size=3, progress=True, **OPTIONS)
    err = capsys.readouterr().err
    assert "sweep [" in err and "11/11 members" in err
    solvers.sweep(oscillator, Y0, (0.0, 2.0), OMEGAS, chunk_size=3, **OPTIONS)
    assert capsys.readouterr().err == ""


def test_fixed_step_method():
    sols = solvers.sweep(oscillator, Y0, (0.0, 2.0), OMEGAS, method="rk4", dt=0.01)
    for i in range(0, 11, 5):
        alone = solvers.solve(oscillator, Y0, (0.0, 2.0), OMEGAS[i], method="rk4", dt=0.01)
        np.testing.assert_allclose(sols.ys[i], alone.ys, rtol=0, atol=1e-12)


def test_failed_member_raises_with_its_index_or_reports_status():
    def blow_up(t, y, k):
        return k * y**2

    ks = jnp.array([0.1, 0.2, 5.0, 0.3])  # member 2 blows up before t = 1
    with pytest.raises(solvers.SolveError, match=r"1 of 4 members failed: 2 \(status"):
        solvers.sweep(blow_up, jnp.array(1.0), (0.0, 1.0), ks, max_steps=200)
    sols = solvers.sweep(blow_up, jnp.array(1.0), (0.0, 1.0), ks, max_steps=200, throw=False)
    assert [int(s) != 0 for s in sols.status] == [False, False, True, False]
    alone = solvers.solve(blow_up, jnp.array(1.0), (0.0, 1.0), ks[3], max_steps=200)
    np.testing.assert_allclose(sols.ys[3], alone.ys, rtol=0, atol=1e-12)

    # Inside a user's jit on one device the failure raises (through equinox.error_if);
    # across devices a device cannot raise alone, so the failed member becomes NaN.
    def traced(num_devices):
        return jax.jit(
            lambda k: (
                solvers.sweep(
                    blow_up, jnp.array(1.0), (0.0, 1.0), k, devices=jax.devices()[:num_devices]
                ).ys
            )
        )

    with pytest.raises(Exception, match="solvers.solve failed in solvers.sweep"):
        jax.block_until_ready(traced(1)(ks))
    ys = traced(2)(ks)
    ys = np.asarray(ys)
    assert np.isnan(ys[2]).all() and np.isfinite(ys[[0, 1, 3]]).all()


def test_bad_input():
    with pytest.raises(ValueError, match="different batch sizes"):
        solvers.sweep(oscillator, Y0S[:5], (0.0, 1.0), OMEGAS, in_axes=(0, 0))
    with pytest.raises(ValueError, match="maps no argument"):
        solvers.sweep(oscillator, Y0, (0.0, 1.0), 1.0, in_axes=(None, None))
    with pytest.raises(ValueError, match="chunk_size"):
        solvers.sweep(oscillator, Y0, (0.0, 1.0), OMEGAS, chunk_size=0)
    with pytest.raises(ValueError, match="out of range"):
        solvers.sweep(oscillator, Y0, (0.0, 1.0), OMEGAS, in_axes=(None, 1))
    with pytest.raises(ValueError, match="in_axes must be a pair"):
        solvers.sweep(oscillator, Y0, (0.0, 1.0), OMEGAS, in_axes=0)
    with pytest.raises(ValueError, match="constant t_span"):
        jax.jit(lambda t1: solvers.sweep(oscillator, Y0, (0.0, t1), OMEGAS).ys)(1.0)
    with pytest.raises(TypeError, match="unknown solve options"):
        solvers.sweep(oscillator, Y0, (0.0, 1.0), OMEGAS, rtoll=1e-3)


def _decay(t, y, p):
    return -p["a"] * p["b"] * y


def test_scalar_params_leaf_error_names_the_leaf_and_a_working_in_axes():
    params = {"a": 1.0, "b": jnp.linspace(0.0, 1.0, 8)}
    with pytest.raises(ValueError) as info:
        solvers.sweep(_decay, jnp.asarray(1.0), (0.0, 1.0), params)  # default in_axes
    message = str(info.value)
    assert "params['a']" in message and "shape ()" in message, message
    shown = re.search(r"in_axes=(\(.*\))\.$", message)
    assert shown and shown.group(1) == "(None, {'a': None, 'b': 0})", message
    # The in_axes the message shows works.
    sols = solvers.sweep(
        _decay,
        jnp.asarray(1.0),
        (0.0, 1.0),
        params,
        in_axes=ast.literal_eval(shown.group(1)),
        devices=jax.devices()[:1],
        ts=jnp.array([1.0]),
    )
    np.testing.assert_allclose(sols.ys[:, 0], np.exp(-params["b"]), rtol=1e-5)

    # Nested leaves are named by their path, and the rest of in_axes is kept.
    y0 = {"q": jnp.ones(8), "p": 1.0}
    with pytest.raises(ValueError, match=re.escape("y0['p'] of shape ()")) as info:
        solvers.sweep(_decay, y0, (0.0, 1.0), params, in_axes=(0, {"a": None, "b": 0}))
    assert str(info.value).endswith("in_axes=({'p': None, 'q': 0}, {'a': None, 'b': 0}).")


def test_inside_jit_and_grad():
    def total(omegas):
        sols = solvers.sweep(
            oscillator,
            Y0,
            (0.0, 2.0),
            omegas,
            chunk_size=4,
            devices=jax.devices()[:2],
            **OPTIONS,
        )
        return jnp.sum(sols.ys[:, -1, 0] ** 2)

    eager = solvers.sweep(oscillator, Y0, (0.0, 2.0), OMEGAS, **OPTIONS)
    np.testing.assert_allclose(jax.jit(total)(OMEGAS), jnp.sum(eager.ys[:, -1, 0] ** 2), 1e-12)
    grad = jax.jit(jax.grad(total))(OMEGAS)

    def single(omega):
        return _single(Y0, omega).ys[-1, 0] ** 2

    expected = jax.vmap(jax.grad(single))(OMEGAS)
    np.testing.assert_allclose(grad, expected, rtol=1e-10, atol=1e-12)


def test_classic_pmap_idiom():
    # The seed's idiom: reshape the batch to (devices, per_device) and pmap a vmap.
    omegas = jnp.linspace(0.5, 3.0, 16)

    def one(omega):
        return solvers.solve(oscillator, Y0, (0.0, 2.0), omega, **OPTIONS).ys

    ys = jax.pmap(jax.vmap(one))(omegas.reshape(8, 2)).reshape(16, 5, 2)
    for i in (0, 7, 15):
        np.testing.assert_allclose(ys[i], _single(Y0, omegas[i]).ys, rtol=0, atol=1e-12)


def test_use_host_devices_after_start():
    solvers.use_host_devices(8)  # already 8: accepted
    with pytest.raises(RuntimeError, match="right after `import jax`"):
        solvers.use_host_devices(3)
    with pytest.raises(ValueError, match="positive int"):
        solvers.use_host_devices(0)


def _reserve_port() -> socket.socket:
    """A socket bound to a free port on every address, to hold while the workers run.

    Choosing a port by binding and releasing it races: between the release and the
    coordinator's bind, anyone (another xdist worker, an outgoing connection) may take
    it. The held socket (bound, never listening) keeps the kernel from handing the port
    to anyone else; SO_REUSEPORT lets the coordinator's gRPC server, which sets that
    option too, bind it all the same.
    """
    family, host = (socket.AF_INET6, "::") if socket.has_ipv6 else (socket.AF_INET, "")
    sock = socket.socket(family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, 0))
    return sock


def _run_processes(commands, logs, env=None, timeout=240.0):
    """Run the commands together; kill every one still running when this returns.

    Returns once all have exited, one has failed (its peer would wait for it until
    jax.distributed times out) or ``timeout`` seconds have passed, as
    ``(processes, outputs, timed_out)``; no process outlives the call.
    """
    processes = []
    timed_out = False
    try:
        for command, log in zip(commands, logs, strict=True):
            with open(log, "wb") as out:
                processes.append(
                    subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
                )
        deadline = time.monotonic() + timeout
        while any(p.poll() is None for p in processes):
            if any(p.returncode not in (None, 0) for p in processes):
                break
            if time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(0.05)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
            p.wait()
    outputs = [Path(log).read_text(errors="replace") for log in logs]
    return processes, outputs, timed_out


def test_run_processes_kills_every_child(tmp_path):
    sleep = [sys.executable, "-c", "import time; time.sleep(120)"]
    fail = [sys.executable, "-c", "raise SystemExit(3)"]
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    start = time.monotonic()
    processes, _, timed_out = _run_processes([sleep, sleep], logs, timeout=1.0)
    assert timed_out and all(p.poll() is not None for p in processes)
    # One failure ends the run at once: its peer is killed, not waited for.
    processes, _, timed_out = _run_processes([fail, sleep], logs, timeout=60.0)
    assert not timed_out and processes[0].returncode == 3
    assert processes[1].poll() is not None
    assert time.monotonic() - start < 30.0


def test_reserved_port_is_held():
    with _reserve_port() as reservation:
        port = reservation.getsockname()[1]
        for host in ("127.0.0.1", ""):
            with socket.socket() as other, pytest.raises(OSError):
                other.bind((host, port))


# The coordinator (process 0) says this, and crashes, when it cannot bind its port.
_BIND_FAILED = "Failed to add port to server"


def _decay_oscillator(t, y, p):
    return jnp.stack([y[1], -p["k"] * y[0] - p["c"] * y[1]])


def test_two_processes_with_jax_distributed(tmp_path):
    worker = Path(__file__).with_name("_sweep_worker.py")
    env = subprocess_env()
    for attempt in range(3):  # a new port if the coordinator could not bind its own
        with _reserve_port() as reservation:
            port = str(reservation.getsockname()[1])
            commands = [[sys.executable, str(worker), str(i), port, str(tmp_path)] for i in (0, 1)]
            logs = [tmp_path / f"worker_{i}_attempt_{attempt}.log" for i in (0, 1)]
            processes, outputs, timed_out = _run_processes(commands, logs, env=env)
        if _BIND_FAILED not in outputs[0]:
            break
    for p, out in zip(processes, outputs, strict=True):
        assert not timed_out and p.returncode == 0, out[-3000:]
    params = {"k": jnp.linspace(1.0, 3.0, 11), "c": jnp.asarray(0.1)}
    expected = {
        member: solvers.solve(
            _decay_oscillator,
            jnp.array([1.0, 0.0]),
            (0.0, 2.0),
            {"k": params["k"][member], "c": params["c"]},
            ts=jnp.linspace(0.0, 2.0, 5),
            rtol=1e-10,
            atol=1e-12,
        ).ys
        for member in (0, 5, 10)
    }
    for i in range(2):
        ys = np.load(tmp_path / f"ys_{i}.npy")
        assert ys.shape == (11, 5, 2)
        np.testing.assert_array_equal(np.load(tmp_path / f"status_{i}.npy"), 0)
        for member, alone in expected.items():
            np.testing.assert_allclose(ys[member], alone, rtol=0, atol=1e-12)
