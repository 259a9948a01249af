"""The integration loop and the discrete adjoints: the online thinning of snapshots,
the backward pass's binomial schedule, checkpointed replay against the direct
adjoint, the fixed-step grid, status codes."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import decay, oscillator
from jax import lax

import solvers
from solvers import _adjoint, _loop, _solution
from solvers._control import PIDController, fixed_step_count
from solvers.explicit import Dopri5, Euler, Tsit5


def _config(max_steps, **options):
    return _loop.LoopConfig(
        method=Tsit5(), controller=PIDController(), max_steps=max_steps, **options
    )


@pytest.mark.parametrize("max_steps", [1, 2, 3, 4, 5, 10, 17, 99, 100, 101, 4096, 100_000])
@pytest.mark.parametrize("checkpoints", [2, 4, 64])
def test_backward_stack_covers_max_steps(max_steps, checkpoints):
    # The forward pass's stride doubles from s when the (C s)-th step is accepted.
    stride = _adjoint.max_stride(checkpoints, max_steps)
    assert checkpoints * stride > max_steps
    assert stride == 1 or checkpoints * (stride // 2) <= max_steps
    # The longest segment, in blocks of C steps, is reversed from a stack of S
    # snapshots with r replays of each block besides its own.
    blocks = -(-stride // checkpoints)
    slots = _adjoint.stack_slots(checkpoints, max_steps)
    passes = next(r for r in range(64) if _adjoint.reversible_blocks(slots - 1, r) >= blocks)
    if blocks <= 1:
        assert slots == 1 and passes == 0
    else:
        cap = max(checkpoints // 2, 12)
        assert slots <= cap and (passes == 1 or slots == cap)
    # Few replays: 7 for C = 2 at 10^5 steps (32768 blocks, N(11, 7) = 50388).
    assert passes <= 7


_move = jax.jit(_adjoint._move)


def _schedule(blocks, slots):
    """The backward pass's binomial schedule (its moves, `_adjoint._move`, run in
    blocks of one step): the blocks reversed, in order, and how often each was
    replayed on the way to a later one."""
    table = jnp.asarray(_adjoint._passes_table(slots))
    stack, end, passes, order = [0], blocks, [0] * blocks, []
    while end > 0:
        i = stack[-1]
        steps, push = (int(x) for x in _move(table, end - i, slots - len(stack)))
        for b in range(i, i + steps):
            passes[b] += 1
        if push:
            stack.append(i + steps)
        else:
            order.append(i + steps)
            end = i + steps
            if steps == 0:
                stack.pop()
    return order, max(passes, default=0)


@pytest.mark.parametrize("slots", [1, 2, 3, 5, 12])
def test_binomial_schedule_reverses_every_block_with_the_fewest_replays(slots):
    """N(s, r) = binom(s + r + 1, s + 1) is what r replays reach with s free slots
    (the recursion it solves), and the schedule attains it: every block once, last
    first, none replayed more than the fewest r with N(S - 1, r) >= blocks."""
    N = _adjoint.reversible_blocks
    for s in range(6):
        assert N(s, 0) == 1 and N(0, s) == s + 1
        for r in range(1, 6):
            assert N(s + 1, r) == N(s + 1, r - 1) + N(s, r)
    for blocks in [1, 2, 3, 7, 30, 100, 1000]:
        order, passes = _schedule(blocks, slots)
        assert order == list(range(blocks - 1, -1, -1))
        assert passes == next(r for r in range(2000) if N(slots - 1, r) >= blocks)


@functools.partial(jax.jit, static_argnums=0)
def _simulate_thinning(capacity, accepts):
    """The forward pass's snapshot bookkeeping over a run of accepted/rejected steps;
    each snapshot is its own step number."""

    def body(carry, accept):
        records, step = carry
        step = step + accept.astype(jnp.int32)
        return (records.add(step, step.astype(jnp.float64), accept), step), None

    start = (_adjoint.Thinning.start(capacity, jnp.zeros(())), jnp.zeros((), jnp.int32))
    return lax.scan(body, start, accepts)[0]


@pytest.mark.parametrize("capacity", [2, 4, 8])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_thinning_snapshots_cover_the_run(capacity, seed):
    """The online snapshots of a run of unknown length: the start is always kept,
    each slot holds the state of the step it names, the segments between them tile
    [0, n] and are at most max(1, 2n/C) steps long."""
    rng = np.random.default_rng(seed)
    accepts = rng.random(rng.integers(20, 300)) < 0.8  # rejected steps in between
    records, n = _simulate_thinning(capacity, jnp.asarray(accepts))
    n = int(n)
    steps = np.asarray(records.steps)
    used = steps >= 0
    np.testing.assert_array_equal(np.asarray(records.snapshots)[used], steps[used])
    order, starts, counts, num_used = (np.asarray(x) for x in records.segments(n))
    num_used = int(num_used)
    assert num_used == used.sum()
    assert starts[0] == 0
    np.testing.assert_array_equal(starts[:num_used], np.sort(steps[used]))
    np.testing.assert_array_equal(steps[order[:num_used]], starts[:num_used])
    assert starts[num_used - 1] + counts[num_used - 1] == n
    np.testing.assert_array_equal(
        starts[1:num_used], starts[: num_used - 1] + counts[: num_used - 1]
    )
    assert np.all(counts[:num_used] >= 0)
    assert counts[:num_used].max() <= max(1, 2 * n / capacity)
    assert counts[:num_used].max() <= int(records.stride)


@pytest.mark.parametrize(
    "t0,t1,dt,num",
    [
        (0.0, 1.0, 0.1, 10),
        (0.0, 3.0, 0.3, 10),
        (0.0, 1.0, 0.3, 4),
        (0.0, 1.0, 2.0, 1),
        (0.0, 0.0, 0.1, 1),
        (0.0, 1.0, 1 / 3, 3),
        (0.0, 7.0, 0.7, 10),
    ],
)
def test_fixed_grid(t0, t1, dt, num):
    assert fixed_step_count(t1 - t0, dt) == num
    # The traced count follows the same rule.
    traced = jax.jit(fixed_step_count)(jnp.float64(t1 - t0), jnp.float64(dt))
    assert int(traced) == num


@functools.cache
def _gradient_function(adjoint, max_steps):
    """d/dk of a sum over save points of y' = -k y over [0, 30]: many accepted steps."""
    ts = jnp.array([0.0, 0.0, 1.0, 7.5, 7.5, 20.0, 30.0])

    def loss(k, y0):
        sol = solvers.solve(
            decay,
            y0,
            (0.0, 30.0),
            k,
            ts=ts,
            rtol=1e-12,
            atol=1e-14,
            max_steps=max_steps,
            adjoint=adjoint,
        )
        return jnp.sum(sol.ys), sol.stats["num_accepted"]

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)), ts


def test_discrete_adjoint_over_many_segments():
    """Hundreds of steps through `solve` (which records them all in the checkpoint
    adjoint's head here; the replayed segments are tested below): save points at t0,
    repeated and at t1 enter the gradient, which matches the closed form, and the
    checkpointed and the direct adjoint agree to round-off."""
    k, y0 = 0.1, 2.0
    gradients = {}
    for adjoint in ["checkpoint", "direct"]:
        run, ts = _gradient_function(adjoint, 400)
        (value, accepted), gradients[adjoint] = run(k, y0)
        assert int(accepted) > 2 * _config(400).checkpoints
        ts = np.asarray(ts)
        dk, dy0 = gradients[adjoint]
        np.testing.assert_allclose(value, np.sum(y0 * np.exp(-k * ts)), rtol=1e-10)
        np.testing.assert_allclose(dk, np.sum(-ts * y0 * np.exp(-k * ts)), rtol=1e-8)
        np.testing.assert_allclose(dy0, np.sum(np.exp(-k * ts)), rtol=1e-10)
    np.testing.assert_allclose(gradients["checkpoint"], gradients["direct"], rtol=1e-12)


def _checkpoint_and_direct(cfg, ts, rtol):
    """Gradients of a loss of an oscillator's save points by both discrete adjoints,
    and the number of accepted steps."""
    y0 = jnp.array([1.0, 0.5])

    def field(t, y, args):
        return oscillator(t, y, args[0])

    def loss(adjoint, omega, y0):
        run = _adjoint.make_solver(dataclasses.replace(cfg, adjoint=adjoint), field, ())
        options = _loop.Options(jnp.float64(rtol), jnp.float64(rtol / 100))
        outputs, stats, status = run(
            (omega,), y0, jnp.float64(ts[0]), jnp.float64(ts[-1]), ts, options
        )
        return jnp.sum(jnp.sin(outputs["ys"])), stats["num_accepted"]

    results = {}
    for adjoint in ["checkpoint", "direct"]:
        grad = jax.jit(jax.grad(functools.partial(loss, adjoint), argnums=(0, 1), has_aux=True))
        results[adjoint] = grad(1.3, y0)
    accepted = int(results["direct"][1])
    return results["checkpoint"][0], results["direct"][0], accepted


@pytest.mark.parametrize("head,stack", [(0, 0), (1024, 0), (37, 1), (3, 2)])
def test_binomial_checkpoint_adjoint_matches_direct(head, stack):
    """With few slots the checkpoint adjoint's forward pass thins its snapshots and the
    backward pass reverses segments of many blocks from a small stack (12 slots; 1:
    no free slot, replay from the segment's start to each block; 2), after a head of
    recorded steps (none, part of the run, the whole run, in which case nothing is
    replayed; 3, fewer than a block of C = 4): its gradient equals the direct
    adjoint's to round-off, save points included."""
    max_steps, checkpoints = 300, 4
    cfg = _config(max_steps, checkpoints=checkpoints, head=head, stack=stack)
    ts = jnp.array([0.0, 0.3, 0.3, 1.7, 4.0, 9.9, 10.0])
    checkpoint, direct, accepted = _checkpoint_and_direct(cfg, ts, 1e-8)
    blocks = _adjoint.max_stride(checkpoints, max_steps) // checkpoints
    assert _adjoint.stack_slots(checkpoints, max_steps) == 12 < blocks
    assert accepted > checkpoints**3
    # The head takes `head` steps (the whole run for head=1024, capped by max_steps).
    assert cfg.head_length(jnp.zeros(2)) == min(head, max_steps)
    assert (accepted > head + checkpoints**3) == (head < 1024)
    np.testing.assert_allclose(checkpoint[0], direct[0], rtol=1e-12)
    np.testing.assert_allclose(checkpoint[1], direct[1], rtol=1e-12)


def test_binomial_checkpoint_adjoint_under_vmap_matches_direct():
    """Members of a batch with different numbers of steps (so different segments,
    schedules and stack depths, in lockstep; a finished member waits unchanged)."""
    cfg = _config(300, checkpoints=4, head=0)
    ts = jnp.array([0.0, 0.3, 1.7, 4.0, 10.0])
    y0 = jnp.array([1.0, 0.5])

    def field(t, y, args):
        return oscillator(t, y, args[0])

    def loss(adjoint, omega):
        run = _adjoint.make_solver(dataclasses.replace(cfg, adjoint=adjoint), field, ())
        options = _loop.Options(jnp.float64(1e-8), jnp.float64(1e-10))
        outputs, stats, _ = run((omega,), y0, jnp.float64(0.0), jnp.float64(10.0), ts, options)
        return jnp.sum(jnp.sin(outputs["ys"])), stats["num_accepted"]

    omegas = jnp.array([0.3, 1.3, 2.2])
    results = {
        adjoint: jax.jit(jax.vmap(jax.grad(functools.partial(loss, adjoint), has_aux=True)))(omegas)
        for adjoint in ["checkpoint", "direct"]
    }
    accepted = np.asarray(results["direct"][1])
    assert len(set(accepted.tolist())) == 3 and accepted.max() > 4 * accepted.min()
    assert accepted.min() > 4 and accepted.max() > 4**3
    np.testing.assert_allclose(results["checkpoint"][0], results["direct"][0], rtol=1e-12)


def test_default_checkpoint_adjoint_past_its_head_matches_direct():
    """The default configuration (1024 recorded steps, C = 64, a stack of 7 snapshots)
    on a run long enough that segments after the head are longer than C and get
    split: equal to the direct adjoint to round-off."""
    cfg = _config(20_000)
    ts = jnp.linspace(0.0, 100.0, 41)
    checkpoint, direct, accepted = _checkpoint_and_direct(cfg, ts, 1e-11)
    head, (capacity, lean) = cfg.head_length(jnp.zeros(2)), cfg.slots(jnp.zeros(2))
    assert (head, capacity, lean, _adjoint.stack_slots(capacity, 20_000)) == (1024, 64, False, 7)
    # The thinned stride exceeds C (segments are split) once the tail passes C^2 / 2.
    assert accepted > head + capacity**2 // 2, accepted
    np.testing.assert_allclose(checkpoint[0], direct[0], rtol=1e-12)
    np.testing.assert_allclose(checkpoint[1], direct[1], rtol=1e-12)


def test_static_and_traced_fixed_grids_take_the_same_steps_and_evaluations():
    """One rule for fixed steps: a concrete grid and a traced one (same t_span, dt) take
    the same steps, count the same evaluations and give the same answer."""
    ts = jnp.array([0.0, 0.25, 0.61, 1.0])
    y0 = jnp.array([1.0, 0.0])
    static = solvers.solve(oscillator, y0, (0.0, 1.0), 1.3, method="rk4", dt=0.1, ts=ts)
    traced = jax.jit(
        lambda t1: solvers.solve(oscillator, y0, (0.0, t1), 1.3, method="rk4", dt=0.1, ts=ts)
    )(1.0)
    assert int(static.stats["num_steps"]) == int(traced.stats["num_steps"]) == 10
    # f(t0, y0) once, 4 stages a step, and the end slope of the Hermite interpolant in
    # the 2 steps that hold a save point inside (t = 1 is a step's end: its y1, no
    # interpolant).
    assert int(static.stats["num_fevals"]) == int(traced.stats["num_fevals"]) == 1 + 40 + 2
    np.testing.assert_allclose(static.ys, traced.ys, rtol=1e-12, atol=1e-14)


def test_long_fixed_step_run_on_a_concrete_grid_ignores_max_steps_and_stores_nothing():
    """120,000 RK4 steps (6,000 periods at dt = P/20) with the default max_steps, in
    memory that does not grow with the number of steps."""
    period = 2 * np.pi

    def run(steps_per_period, periods):
        return solvers.solve(
            oscillator,
            jnp.array([1.0, 0.0]),
            (0.0, periods * period),
            1.0,
            method="rk4",
            dt=period / steps_per_period,
            throw=False,
        )

    sol = run(20, 6000)
    assert int(sol.status) == 0 and int(sol.stats["num_steps"]) == 120_000
    # RK4's map for u = q + i v (u' = -i u) is u -> R(-i h) u with R its stability
    # polynomial: the exact result of 120,000 steps, damping and phase error included.
    z = -1j * period / 20
    amplification = 1 + z + z**2 / 2 + z**3 / 6 + z**4 / 24
    u = amplification**120_000
    np.testing.assert_allclose(sol.ys[-1], [u.real, u.imag], atol=1e-8)

    def scratch(periods):
        return (
            jax.jit(lambda: run(20, periods).ys)
            .lower()
            .compile()
            .memory_analysis()
            .temp_size_in_bytes
        )

    assert scratch(6000) == scratch(60)


def test_non_finite_step_stops_fixed_and_adaptive_loops():
    def blows_up(t, y, p):
        return jnp.where(t > 0.5, jnp.nan, -y)

    for method, dt in [(Euler(), 0.1), (Dopri5(), None)]:
        sol = solvers.solve(
            blows_up, jnp.ones(1), (0.0, 1.0), method=method, dt=dt, throw=False, max_steps=1000
        )
        assert int(sol.status) == _solution.NONFINITE
        assert int(sol.stats["num_steps"]) < 1000
        assert np.all(np.isnan(np.asarray(sol.ys)))


def test_status_codes_are_distinct_and_documented():
    codes = [
        _solution.SUCCESS,
        _solution.MAX_STEPS_REACHED,
        _solution.STEP_SIZE_UNDERFLOW,
        _solution.NONFINITE,
        _solution.NEWTON_DIVERGENCE,
        _solution.INVALID_INPUT,
    ]
    assert codes == [0, 1, 2, 3, 4, 5]
    for code in codes:
        assert solvers.status_message(code) != f"unknown status {code}"
    assert "unknown" in solvers.status_message(42)
