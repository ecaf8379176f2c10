"""A recipe variant that changes only its MMI stage or its tuning grid resumes from the other
recipe's cross-entropy checkpoint; anything that changes cross-entropy training does not."""
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from models.build.__main__ import RECIPES, ROOM, cross_entropy_key, load_checkpoint, save_checkpoint, training_key

JOBS: list = []


def mmi_variant():
    return replace(ROOM, mmi=replace(ROOM.mmi, boost=ROOM.mmi.boost * 2), phrase_costs=(8.0, 12.0),
                   unk_costs=(0.1,), rejection_floor=0.9, dev_competing=False)


def test_only_cross_entropy_training_decides_the_cross_entropy_key() -> None:
    variant = mmi_variant()
    assert training_key(variant, 1, JOBS) != training_key(ROOM, 1, JOBS)
    assert cross_entropy_key(variant, 1, JOBS) == cross_entropy_key(ROOM, 1, JOBS)
    for other in (replace(ROOM, epochs=(2, 2, 5)), replace(ROOM, train=replace(ROOM.train, hidden=256)),
                  replace(ROOM, plan=replace(ROOM.plan, utterances=1000)), RECIPES["16"]):
        assert cross_entropy_key(other, 1, JOBS) != cross_entropy_key(ROOM, 1, JOBS)
    assert cross_entropy_key(ROOM, 2, JOBS) != cross_entropy_key(ROOM, 1, JOBS)


def _model(seed: int):
    torch.manual_seed(seed)
    return torch.nn.Linear(3, 2)


def test_a_variant_resumes_from_the_cross_entropy_stages_but_not_from_the_others_mmi(tmp_path: Path) -> None:
    variant, stages = mmi_variant(), len(ROOM.epochs)
    ce = cross_entropy_key(ROOM, 1, JOBS)
    labels = [np.arange(4)]
    trained = _model(0)
    save_checkpoint(tmp_path, ce, stages, trained, labels, np.random.default_rng(7))

    fresh, rng = _model(1), np.random.default_rng(99)
    done, got = load_checkpoint(tmp_path, training_key(variant, 1, JOBS), fresh, rng, ce, stages)
    assert done == stages and np.array_equal(got[0], labels[0])
    assert torch.equal(fresh.weight, trained.weight)
    assert rng.integers(1 << 30) == np.random.default_rng(7).integers(1 << 30)   # the random stream too

    # ROOM's MMI stage is ROOM's own: its checkpoint (saved under ROOM's full key) is not the variant's
    save_checkpoint(tmp_path, training_key(ROOM, 1, JOBS), stages + 1, trained, labels, np.random.default_rng(7))
    with pytest.raises(SystemExit, match="another recipe, seed or training speech"):
        load_checkpoint(tmp_path, training_key(variant, 1, JOBS), _model(1), rng, ce, stages)
    # nor is a checkpoint past the cross-entropy stages under the cross-entropy key
    save_checkpoint(tmp_path, ce, stages + 1, trained, labels, np.random.default_rng(7))
    with pytest.raises(SystemExit, match="another recipe, seed or training speech"):
        load_checkpoint(tmp_path, training_key(variant, 1, JOBS), _model(1), rng, ce, stages)
    # a recipe that trains differently from the first stage is refused
    other = replace(ROOM, epochs=(2, 2, 5))
    save_checkpoint(tmp_path, ce, 1, trained, labels, np.random.default_rng(7))
    with pytest.raises(SystemExit):
        load_checkpoint(tmp_path, training_key(other, 1, JOBS), _model(1), rng,
                        cross_entropy_key(other, 1, JOBS), len(other.epochs))
