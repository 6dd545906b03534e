"""Five-fold benchmarking of nnU-Net trainers: planning, execution, records, report and plots."""


class BenchmarkError(Exception):
    """A user-facing problem (bad argument, environment or data), printed without a trace."""
