"""The child's torch.manual_seed: torch's numbers, without work queued for backends that are absent."""

from __future__ import annotations

import pytest
import torch

from grader.child import seeding

pytestmark = pytest.mark.skipif(
    torch.cuda.is_initialized(), reason="counts what torch queues for a CUDA not started yet"
)


def _draws(seed_with, seed: int) -> list[torch.Tensor]:
    seed_with(seed)
    model = torch.nn.Linear(4, 3)
    return [
        torch.randn(6),
        torch.rand(2, 3),
        torch.randint(0, 10, (5,)),
        model.weight.detach().clone(),
        torch.randperm(7),
    ]


def test_the_same_numbers_as_torchs_own_seeding():
    ours = seeding.manual_seed_for(["cpu", "meta"])
    for seed in (0, 7, 2**40 + 3, -5):
        expected = _draws(torch.manual_seed, seed)
        got = _draws(ours, seed)
        assert all(torch.equal(e, g) for e, g in zip(expected, got, strict=True)), seed
    assert ours(3) is torch.default_generator  # what torch.manual_seed returns
    with pytest.raises(TypeError):
        ours(object())  # a seed that is no integer fails as torch's does


@pytest.fixture
def stacks(monkeypatch) -> list[int]:
    """Counts the stack traces formatted (what torch queues a lazy seed with)."""
    import traceback

    count = [0]
    format_stack = traceback.format_stack

    def counting(*args, **kwargs):
        count[0] += 1
        return format_stack(*args, **kwargs)

    monkeypatch.setattr(traceback, "format_stack", counting)
    return count


def test_nothing_is_queued_for_an_accelerator_this_machine_lacks(stacks):
    seeding.manual_seed_for(["cpu", "meta"])(11)
    assert stacks == [0]
    torch.manual_seed(
        11
    )  # torch's own: a seed for CUDA (and the others it knows), queued with the caller's stack
    assert stacks[0] >= 1


def test_an_accelerator_graded_on_is_seeded_by_its_own_backend(stacks):
    seeding.manual_seed_for(["cpu", "cuda", "meta"])(
        11
    )  # lazily, as torch.cuda.manual_seed_all does
    assert stacks == [1]
    assert torch.cuda._lazy_seed_tracker.get_calls()  # queued for when CUDA starts


def test_install_replaces_torch_manual_seed_in_both_places(monkeypatch, stacks):
    monkeypatch.setattr(torch, "manual_seed", torch.manual_seed)  # restored after the test
    monkeypatch.setattr(torch.random, "manual_seed", torch.random.manual_seed)
    seeding.install(["cpu", "meta"])
    assert torch.manual_seed is torch.random.manual_seed
    torch.manual_seed(5)
    assert stacks == [0]
