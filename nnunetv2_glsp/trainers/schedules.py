"""Short training schedules, as mixins that go before a trainer class in the bases.

Each sets nnU-Net's schedule attributes (which ``ClassConfiguredTrainer.__init__`` applies) and
``save_every``, so that a killed run loses at most one epoch's work.
"""

from __future__ import annotations


class OneEpochSchedule:
    """1 epoch of 250 iterations."""

    num_epochs = 1
    save_every = 1


class FiveEpochSchedule:
    """5 epochs of 250 iterations."""

    num_epochs = 5
    save_every = 1


class TinySchedule:
    """Smoke tests and CI: 2 epochs of 15 iterations (enough to beat an all-background guess on
    a small synthetic task), 1 validation iteration."""

    num_epochs = 2
    num_iterations_per_epoch = 15
    num_val_iterations_per_epoch = 1
    save_every = 1


class DemoSchedule:
    """The README demo: 250 iterations, enough to learn the synthetic task on a 2-core CPU."""

    num_epochs = 25
    num_iterations_per_epoch = 10
    num_val_iterations_per_epoch = 2
    save_every = 5


class CPUBenchmarkSchedule:
    """The CPU benchmark (docs/results): 500 iterations, 4.75 hours for five folds of four
    trainers on 2 cores at the real-anatomy task's 3 mm. At 200 iterations none of the four had
    left the all-background stage (fold 0: validation Dice <= 0.004)."""

    num_epochs = 25
    num_iterations_per_epoch = 20
    num_val_iterations_per_epoch = 2
    save_every = 1
