"""LightningCLI glue shared by the trainable capabilities (conformers, point clouds).

Training infrastructure, not part of the shared numerical layer (``distributions``, ``metrics``):
Lightning is imported only inside the functions, so importing this module costs nothing.

* :class:`CheckpointHooks` -- the mixin both CLIs put before ``LightningCLI``: checks
  ``--ckpt_path`` when the arguments are parsed, settles the checkpoints before each stage and
  refuses a resume whose settings differ from the configured ones.
* :func:`settle_checkpoints` -- one fixed checkpoint folder per run, ``--ckpt_path last`` that
  really resumes (or fails clearly), ``weights_only`` checkpoint loads.
* :func:`check_ckpt_path`, :func:`check_resume` -- the checks behind the mixin.
* :func:`quiet_lightning` -- Lightning's advertising tips and library-internal deprecation
  warnings off, the warnings about the user's own data and settings kept.
* :class:`MissingLastCheckpoint`, :class:`UnusableCheckpoint` -- usage errors (exit status 2);
  :data:`USAGE_ERRORS` is the tuple of both, for the CLIs' ``except``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path


class MissingLastCheckpoint(FileNotFoundError):
    """``--ckpt_path last`` was asked for, but no checkpoint folder of the run holds a ``last*.ckpt``."""


class UnusableCheckpoint(ValueError):
    """A ``--ckpt_path`` that cannot be used: no such file, unreadable, not a checkpoint of the
    model, or (``fit``) a resume whose settings differ from the configured ones."""


#: the usage errors of a LightningCLI stage: one line on stderr and exit status 2
USAGE_ERRORS = (MissingLastCheckpoint, UnusableCheckpoint)

#: ``--ckpt_path`` values that Lightning resolves itself (not file names)
_SPECIAL_CKPT_PATHS = ("last", "best", "hpc")

#: checkpoint entry holding the LightningCLI ``model`` settings of the run that wrote it
SETTINGS_KEY = "geomgen_model_settings"


def read_checkpoint(path: str | os.PathLike, what: str = "--ckpt_path") -> dict:
    """A Lightning checkpoint, read with ``torch.load(weights_only=True, mmap=True)`` (tensors are
    not read into memory). ``what``: the setting that named the file, for the messages.

    Raises:
        UnusableCheckpoint: no such file, not a readable torch file (truncated, another format), or
            no ``state_dict``; the message names the file.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise UnusableCheckpoint(f"{what} {str(path)!r}: {'is a folder' if path.is_dir() else 'no such file'}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:
        first = (str(exc).splitlines() or [""])[0] or type(exc).__name__
        raise UnusableCheckpoint(f"{what} {str(path)!r}: not a readable checkpoint (truncated or another format: {first})") from exc
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise UnusableCheckpoint(f"{what} {str(path)!r}: not a Lightning checkpoint (no 'state_dict')")
    return ckpt


def check_ckpt_path(stage_config, model_class=None) -> None:
    """Check an explicit ``ckpt_path`` file of ``stage_config`` before anything is built: it exists,
    reads as a checkpoint, and passes ``model_class.check_checkpoint(ckpt, path)`` where the model
    class has that hook (it raises ``ValueError`` naming the file). ``last``, ``best``, ``hpc`` and
    ``registry`` values are left to :func:`settle_checkpoints` and Lightning.

    Raises:
        UnusableCheckpoint: naming the file and the reason.
    """
    ckpt_path = stage_config.get("ckpt_path")
    if not ckpt_path or ckpt_path in _SPECIAL_CKPT_PATHS or str(ckpt_path).startswith("registry"):
        return
    ckpt = read_checkpoint(ckpt_path)
    hook = getattr(model_class, "check_checkpoint", None)
    if hook is not None:
        try:
            hook(ckpt, ckpt_path)
        except ValueError as exc:
            raise UnusableCheckpoint(f"--ckpt_path {exc}") from exc


def settle_checkpoints(trainer, stage_config) -> Path | None:
    """Give every ``ModelCheckpoint`` of ``trainer`` without a ``dirpath`` the fixed folder
    ``<default_root_dir>/checkpoints``, and check the ``ckpt_path`` of ``stage_config``.

    Lightning would otherwise put checkpoints under the logger's new ``version_N`` folder, where
    ``--ckpt_path last`` never finds the previous run's ``last.ckpt`` and silently starts over.
    Lightning's own checkpoint loads default to ``weights_only=True`` here.

    Args:
        trainer (lightning.pytorch.Trainer): the trainer LightningCLI built.
        stage_config (jsonargparse.Namespace): the subcommand's arguments (``ckpt_path``, ``weights_only``).

    Returns:
        The checkpoint file the stage will load: the newest ``last*.ckpt`` for ``last``, the file
        itself for a file name, else ``None``.

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
    ckpt_path = stage_config.get("ckpt_path")
    if ckpt_path != "last":
        return Path(ckpt_path) if ckpt_path and Path(ckpt_path).is_file() else None
    pattern = f"{ModelCheckpoint.CHECKPOINT_NAME_LAST}*{ModelCheckpoint.FILE_EXTENSION}"
    found = [path for folder in dict.fromkeys(folders) for path in folder.glob(pattern) if path.is_file()]
    if not found:
        where = ", ".join(str(f) for f in dict.fromkeys(folders)) or "nowhere (no ModelCheckpoint callback)"
        raise MissingLastCheckpoint(
            f"--ckpt_path last: no last checkpoint ({pattern}) in {where}; start the run without --ckpt_path, or pass a checkpoint file"
        )
    return max(found, key=lambda p: p.stat().st_mtime)  # the one Lightning picks


def _plain(value):
    """``value`` as JSON types (tuples become lists, anything else its ``str``)."""
    if hasattr(value, "as_dict"):  # a jsonargparse Namespace
        value = value.as_dict()
    return json.loads(json.dumps(value, default=str))


def _flatten(value, prefix: str) -> dict[str, object]:
    if isinstance(value, dict) and value:
        out = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}"))
        return out
    return {prefix: value}


def model_settings(model_config) -> dict[str, object]:
    """The LightningCLI ``model`` settings (``--model.*``, class paths included) as flat
    ``{"model.loss.class_path": ..., "model.lr": ...}`` of plain types."""
    return _flatten(_plain(model_config) or {}, "model")


def _description(hparams, extras: dict) -> dict[str, object]:
    """Hyper-parameters (without Lightning's private ``_*`` entries) and the extra entries a
    system's ``on_save_checkpoint`` writes (``net_config``, ``loss_name``...), flat."""
    hp = {k: v for k, v in (_plain(dict(hparams or {})) or {}).items() if not str(k).startswith("_")}
    out = _flatten(hp, "hyper_parameters") if hp else {}
    for key, value in extras.items():
        out.update(_flatten(_plain(value), key))
    return out


def _added_with_defaults(model) -> dict[str, object]:
    """The model's constructor arguments with plain defaults, as the keys they have in
    :func:`check_resume`'s comparison (``hyper_parameters.x`` and ``model.x``): a checkpoint
    written before an argument existed was trained with its default, so its absence there is
    no difference when the default is configured."""
    import inspect

    out: dict[str, object] = {}
    for name, par in inspect.signature(type(model).__init__).parameters.items():
        plain = par.default is None or isinstance(par.default, (bool, int, float, str, tuple))
        if par.default is inspect.Parameter.empty or not plain:
            continue
        out[f"hyper_parameters.{name}"] = out[f"model.{name}"] = _plain(par.default)
    return out


def check_resume(path: str | os.PathLike, settings: dict[str, object], model) -> None:
    """Refuse to resume ``fit`` from ``path`` when the run that wrote it was configured otherwise.

    Compared: the LightningCLI ``model`` settings (:func:`model_settings`; recorded in checkpoints
    written through :class:`CheckpointHooks`), the model's hyper-parameters, and the entries its
    ``on_save_checkpoint`` adds (the network's config, the loss's name...). An argument absent from
    the checkpoint and configured at its default is not a difference (the checkpoint predates it).

    Raises:
        UnusableCheckpoint: naming the file and every differing key (the first values too).
    """
    ckpt = read_checkpoint(path)
    extras: dict = {}
    hook = getattr(model, "on_save_checkpoint", None)
    if hook is not None:
        hook(extras)
    configured = _description(getattr(model, "hparams", {}), extras)
    saved = _description(ckpt.get("hyper_parameters"), {k: ckpt.get(k) for k in extras if k in ckpt})
    configured = {k: v for k, v in configured.items() if k.split(".")[0] == "hyper_parameters" or k.split(".")[0] in ckpt}
    if isinstance(ckpt.get(SETTINGS_KEY), dict):
        configured.update(settings)
        saved.update(ckpt[SETTINGS_KEY])
    missing = object()
    added = _added_with_defaults(model)
    differ = sorted(k for k in configured.keys() | saved.keys()
                    if configured.get(k, missing) != saved.get(k, missing)
                    and not (k not in saved and k in added and configured[k] == added[k]))
    if not differ:
        return

    def shown(key: str) -> str:
        then, now = (repr(d[key]) if key in d else "absent" for d in (saved, configured))
        return f"{key}: {then} in the checkpoint, {now} now"

    details = "; ".join(shown(k) for k in differ[:3]) + (f"; and {len(differ) - 3} more" if len(differ) > 3 else "")
    raise UnusableCheckpoint(
        f"--ckpt_path {str(path)!r}: cannot resume: the run was trained with other settings "
        f"(differing: {', '.join(differ)}; {details}); resume with the run's own settings, "
        f"or start a new run (another --trainer.default_root_dir)"
    )


def _settings_recorder(settings: dict[str, object]):
    """A callback writing ``settings`` into every checkpoint as :data:`SETTINGS_KEY`."""
    from lightning.pytorch.callbacks import Callback

    class RecordModelSettings(Callback):
        def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
            checkpoint[SETTINGS_KEY] = dict(settings)

    return RecordModelSettings()


class CheckpointHooks:
    """Mixin for a ``LightningCLI`` subclass (``class MyCLI(CheckpointHooks, LightningCLI)``).

    * after parsing: :func:`check_ckpt_path` (a missing, truncated or foreign ``--ckpt_path``
      file is a usage error before anything is built);
    * before each stage: :func:`settle_checkpoints`; before ``fit``, :func:`check_resume` on the
      checkpoint it resumes from, and every checkpoint written records the ``model`` settings.
    """

    def parse_arguments(self, parser, args) -> None:
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        if subcommand:
            check_ckpt_path(self.config[subcommand], getattr(self, "model_class", None))

    def _settle(self) -> None:
        resumed = settle_checkpoints(self.trainer, self.config_init[self.subcommand])
        if self.subcommand == "fit":
            settings = model_settings(self.config[self.subcommand].get("model"))
            if resumed is not None:
                check_resume(resumed, settings, self.model)
            self.trainer.callbacks.append(_settings_recorder(settings))

    def before_fit(self) -> None:
        self._settle()

    def before_validate(self) -> None:
        self._settle()

    def before_test(self) -> None:
        self._settle()

    def before_predict(self) -> None:
        self._settle()


#: packages whose deprecation warnings about each other are not the user's business
_LIBRARIES = r"(lightning|lightning_fabric|lightning_utilities|pytorch_lightning|torch|torchmetrics|jsonargparse|torch_geometric|e3nn)(\.|$)"


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip:")


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Run a LightningCLI without Lightning's advertising tips ("💡 Tip: ... litlogger /
    litmodels"), without deprecation warnings that one library raises about another (Lightning
    using a deprecated torch API), without the notice that TensorBoard is not installed, and
    without the warning that a CLI passes ``args`` on purpose. Warnings about the user's data and
    settings (too few batches for the logging interval, a checkpoint folder that is not empty...)
    still show.
    """
    tips = _DropTips()
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")]
    with warnings.catch_warnings():
        # we pass `args` on purpose: sys.argv holds the geomgen subcommand, not LightningCLI's
        warnings.filterwarnings("ignore", message=".*args parameter is intended to run from within Python.*")
        warnings.filterwarnings("ignore", message="Starting from v1.9.0, `tensorboardX` has been removed")
        for category in (DeprecationWarning, FutureWarning):
            warnings.filterwarnings("ignore", category=category, module=_LIBRARIES)
        for logger in loggers:
            logger.addFilter(tips)
        try:
            yield
        finally:
            for logger in loggers:
                logger.removeFilter(tips)
