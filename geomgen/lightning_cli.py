"""LightningCLI glue shared by the trainable capabilities (conformers, point clouds).

Training infrastructure, not part of the shared numerical layer (``distributions``, ``metrics``):
Lightning is imported only inside the functions, so importing this module costs nothing.

* :func:`settle_checkpoints` -- one fixed checkpoint folder per run, ``--ckpt_path last`` that
  really resumes (or fails clearly), ``weights_only`` checkpoint loads.
* :class:`MissingLastCheckpoint` -- raised when there is nothing to resume.
"""

from __future__ import annotations

import os
from pathlib import Path


class MissingLastCheckpoint(FileNotFoundError):
    """``--ckpt_path last`` was asked for, but no checkpoint folder of the run holds a ``last*.ckpt``."""



def settle_checkpoints(trainer, stage_config) -> None:
    """Give every ``ModelCheckpoint`` of ``trainer`` without a ``dirpath`` the fixed folder
    ``<default_root_dir>/checkpoints``, and check the ``ckpt_path`` of ``stage_config``.

    Lightning would otherwise put checkpoints under the logger's new ``version_N`` folder, where
    ``--ckpt_path last`` never finds the previous run's ``last.ckpt`` and silently starts over.
    Lightning's own checkpoint loads default to ``weights_only=True`` here.

    Args:
        trainer (lightning.pytorch.Trainer): the trainer LightningCLI built.
        stage_config (jsonargparse.Namespace): the subcommand's arguments (``ckpt_path``, ``weights_only``).

    Raises:
        MissingLastCheckpoint: ``ckpt_path`` is ``last`` and no checkpoint folder holds ``last*.ckpt``.
    """
    from lightning.pytorch.callbacks import ModelCheckpoint

    folders = []
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint):
            if callback.dirpath is None:
                callback.dirpath = os.path.realpath(os.path.join(trainer.default_root_dir, "checkpoints"))
            folders.append(Path(callback.dirpath))
    if stage_config.get("weights_only") is None:
        stage_config["weights_only"] = True
    if stage_config.get("ckpt_path") != "last":
        return
    pattern = f"{ModelCheckpoint.CHECKPOINT_NAME_LAST}*{ModelCheckpoint.FILE_EXTENSION}"
    if not any(path.is_file() for folder in folders for path in folder.glob(pattern)):
        where = ", ".join(str(f) for f in dict.fromkeys(folders)) or "nowhere (no ModelCheckpoint callback)"
        raise MissingLastCheckpoint(
            f"--ckpt_path last: no last checkpoint ({pattern}) in {where}; start the run without --ckpt_path, or pass a checkpoint file"
        )
