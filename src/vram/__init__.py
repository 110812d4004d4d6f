"""vram: how much GPU memory a model needs.

The library API is the pure core: build a :class:`~vram.model.ModelSpec` with
:func:`~vram.architectures.spec_from_config`, describe a :class:`~vram.workload.Workload`, and call
:func:`~vram.estimate.estimate`.
"""

__version__ = "0.1.0"
