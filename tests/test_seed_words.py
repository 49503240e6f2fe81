"""Seeds and indices of 2**32 and more: every ``(seed, index)`` its own stream
(``offbench.families.family.seed_words``), and every stream below 2**32 the one it always was."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from offbench.families import get_family
from offbench.families.family import _NS_INSTANCE, _PART_FRAMES, entropy_words, seed_words

W = 2**32
RANDOM_3_DIGEST = "01bc2c3dcc043c65898b9e3adb3c93696057bda7faa2dae0991ff99b5cc4b9cb"
DAG_4_DIGEST = "9c2e3999436a61a63f1aa35eb82152efec968653c1239312a303eaab4d8d83ea"
TRICKY = (0, 1, 2, 3, W - 1, W, W + 1, 2 * W, 1 + 2 * W, 2 + W, W * W, W * W + 1, 1 + W + W * W)


def test_large_seeds_and_indices_no_longer_alias():
    """seed 2**32 (words 0, 1) with index 2 was seed 0 with index 1 + 2 * 2**32 (words 1, 2)."""
    fam = get_family("capacitated-v1:small")
    a, b = fam.generate(W, 2), fam.generate(0, 1 + 2 * W)
    assert a.digest != b.digest
    assert (a.name, b.name) == ("capacitated-v1:small/s4294967296/2",
                                "capacitated-v1:small/s0/8589934593")


@pytest.mark.parametrize("salt", [5, 2**63 + 12345])  # a salt of one word and one of two
def test_every_pair_has_its_own_words(salt):
    seen = {}
    for seed, index in itertools.product(TRICKY, repeat=2):
        for part, extra in ((1, 0), (2, 7), (3, 0)):
            words = tuple(seed_words(salt, _NS_INSTANCE, seed, index, part, extra).tolist())
            key = (seed, index, part, extra)
            assert seen.setdefault(words, key) == key, (key, seen[words])


def test_below_two_to_the_32_the_words_are_those_of_before():
    """What numpy's SeedSequence makes of the list (so every digest, frozen set and pinned
    fingerprint is unchanged); the digests below were made by the code before the change."""
    rng = np.random.default_rng(1)
    for _ in range(200):
        salt = int(rng.integers(0, 2**63))
        seed, index = (int(v) for v in rng.integers(0, W, 2))
        for s, i in ((seed, index), (W - 1, W - 1), (0, 0)):
            got = seed_words(salt, 1, s, i, 3, 123)
            assert got.dtype == np.uint32
            assert got.tolist() == entropy_words((salt, 1, s, i, 3, 123)).tolist()
            assert (np.random.SeedSequence(got).generate_state(4) ==
                    np.random.SeedSequence([salt, 1, s, i, 3, 123]).generate_state(4)).all()
    pinned = {("capacitated-v1:small", W - 1, W - 1): "4abc74a61cf4e63e6812da0dd88e4bbe",
              ("dmro-v1", 7, W - 1): "e832f3ad7fceb1a6bb27c4e5de9b7d43",
              ("zoo-v2:single", W - 1, 0): "dd29dcf86cf56f3675bae0677bdb3939"}
    for (fid, seed, index), digest in pinned.items():
        assert get_family(fid).generate(seed, index).digest.startswith(digest), (fid, seed, index)


def test_the_batch_path_and_streams_take_the_same_words():
    fam = get_family("capacitated-v1:small")
    for seed, indices in ((W, [2, 3, W + 5]), (0, [1 + 2 * W, 1, W])):
        one = [fam.generate(seed, i) for i in indices]
        many = fam.generate_many(seed, indices)
        assert [x.digest for x in many] == [x.digest for x in one]
        assert [x.name for x in many] == [x.name for x in one]
    assert len({fam.generate(s, i).digest for s, i in itertools.product((0, 1, W, W + 1),
                                                                        (0, 1, W))}) == 12
    dm = get_family("dmro-v1")  # a generator with a batched build of its own
    assert [x.digest for x in dm.generate_many(W, [0, 1, 12])] == \
           [dm.generate(W, i).digest for i in (0, 1, 12)]
    s0, s1 = (list(dm.stream(s, 2)) for s in (0, W))
    assert s0[0].digest != s1[0].digest
    assert [x.digest for x in dm.stream(W, 2)] == [x.digest for x in s1]
    # the frame generator of (W, 2) is not that of (0, 1 + 2 W)
    a = fam._seq(_NS_INSTANCE, W, 2, _PART_FRAMES).random(4)
    b = fam._seq(_NS_INSTANCE, 0, 1 + 2 * W, _PART_FRAMES).random(4)
    assert not np.array_equal(a, b)


def test_frame_seeds_of_large_stream_seeds_no_longer_alias():
    """A stream job's frame seeds (``offbench.tracks.frame_seed``): SeedSequence pads a list
    shorter than its pool with zeros, so seed ``5 + 3 * 2**32`` at frame 0 (words 5, 3, 0) was
    seed 5 at frame 3 (words 5, 3 and the padding), the same frame in two streams."""
    from offbench.tracks import frame_seed

    assert frame_seed(5 + 3 * W, 0) != frame_seed(5, 3)
    seen = {}
    for seed, frame in itertools.product(TRICKY, repeat=2):
        seen.setdefault(frame_seed(seed, frame), []).append((seed, frame))
    assert all(len(v) == 1 for v in seen.values()), [v for v in seen.values() if len(v) > 1]
    # below 2**32 the seeds are those of before: SeedSequence's own words for the pair
    rng = np.random.default_rng(2)
    for seed, frame in [(0, 0), (W - 1, W - 1), (5, 3)] + [tuple(map(int, rng.integers(0, W, 2)))
                                                          for _ in range(100)]:
        assert frame_seed(seed, frame) == int(
            np.random.SeedSequence([seed, frame]).generate_state(1)[0])
    assert frame_seed(5, 3) == 727168946  # made by the code before the change


def test_random_instance_no_longer_draws_a_dag_instances_wiring():
    """``random_dag_instance(s)`` wires its jobs from ``default_rng([s, 15])``, whose words are
    those of ``random_instance(s + 15 * 2**32)``'s ``default_rng(s + 15 * 2**32)``: two instances
    from one stream. A seed of 2**32 or more now has a tagged long form
    (``offbench.generators.seed_stream``); below 2**32 both streams are those of before."""
    from offbench.dag import random_dag_instance
    from offbench.generators import STREAM_WIRING, random_instance, seed_stream

    s = 7
    big = seed_stream(s + 15 * W).integers(0, W, 8)
    assert not np.array_equal(big, seed_stream(s, STREAM_WIRING).integers(0, W, 8))
    firsts = {}
    for seed, stream in itertools.product(TRICKY, (0, STREAM_WIRING)):
        firsts.setdefault(tuple(seed_stream(seed, stream).integers(0, W, 4)), []).append((seed, stream))
    assert all(len(v) == 1 for v in firsts.values()), [v for v in firsts.values() if len(v) > 1]
    for seed in (0, 5, W - 1, 123456789):
        assert np.array_equal(seed_stream(seed).integers(0, W, 8),
                              np.random.default_rng(seed).integers(0, W, 8))
        assert np.array_equal(seed_stream(seed, STREAM_WIRING).integers(0, W, 8),
                              np.random.default_rng([seed, 15]).integers(0, W, 8))
    # the instances below 2**32, pinned by digests made by the code before the change
    assert random_instance(3, capacities=True, deadlines=True).digest == RANDOM_3_DIGEST
    assert random_dag_instance(4, n_jobs=3, nodes=(3, 6)).digest == DAG_4_DIGEST
    with pytest.raises(ValueError):
        random_instance(-1)
