"""Checking a checkpoint's weights against the network its configuration describes, before the
network is built for real (shared by the capabilities' checkpoint loaders).

* :func:`expected_shapes` -- the parameter shapes a network constructor would create, computed on
  PyTorch's ``meta`` device (nothing is allocated: a config that asks for a 2.5 GB network costs nothing).
* :func:`check_weights` -- a one-line ``ValueError`` naming the file and the first missing,
  unexpected or mis-shaped weight.
"""

from __future__ import annotations

from collections.abc import Callable


def expected_shapes(build: Callable[[], object]) -> dict[str, tuple[int, ...]]:
    """``{name: shape}`` of the ``state_dict`` of ``build()`` (an ``nn.Module``), built on the meta device."""
    import torch

    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in build().state_dict().items()}


def check_weights(path, expected: dict[str, tuple[int, ...]], weights: dict, what: str, prefix: str = "") -> None:
    """Raise ``ValueError`` unless ``weights`` has exactly the keys of ``expected``, each a tensor of
    the expected shape.

    Args:
        path: the checkpoint (for the message).
        expected: ``{name: shape}``, e.g. from :func:`expected_shapes`.
        weights: ``{name: tensor}`` read from the file (names without ``prefix``).
        what (str): what the weights must match, e.g. ``"net_config {...}"``.
        prefix (str): how the file names the weights before ``name`` (for the message).
    """
    import torch

    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not match {what}: "
                         f"{len(missing)} missing{' (' + prefix + missing[0] + ', ...)' if missing else ''}, "
                         f"{len(unexpected)} unexpected{' (' + prefix + str(unexpected[0]) + ', ...)' if unexpected else ''}")
    for key, shape in expected.items():
        value = weights[key]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"{path}: weights do not match {what}: {prefix}{key} is {got}, the config implies {shape}")
