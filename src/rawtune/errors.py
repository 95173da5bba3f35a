"""The error tree. Every error a user can cause is a `RawtuneError`: the CLI prints its
one-line message (no traceback) and exits with its `exit_code` (2 for bad input)."""

from __future__ import annotations

from dataclasses import dataclass


class RawtuneError(Exception):
    exit_code = 2

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class ConfigIssue:
    key: str  # dotted path, e.g. "train.lr"
    message: str
    file: str | None = None  # YAML file or "command line"
    line: int | None = None
    hint: str | None = None  # did-you-mean

    def format(self) -> str:
        where = self.file or "config"
        if self.line is not None:
            where = f"{where}:{self.line}"
        text = f"{where}: {self.key}: {self.message}"
        if self.hint:
            text += f" (did you mean '{self.hint}'?)"
        return text


class ConfigError(RawtuneError):
    """One or more config problems, all reported together."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = list(issues)
        lines = [i.format() for i in self.issues]
        head = "invalid config" if len(lines) == 1 else f"invalid config ({len(lines)} problems)"
        super().__init__(f"{head}: " + lines[0] if len(lines) == 1 else head + ":\n  " + "\n  ".join(lines))


class DataError(RawtuneError):
    """Bad user data; names the file and, where known, the line and field."""

    def __init__(
        self, message: str, file: str | None = None, line: int | None = None, field: str | None = None
    ):
        self.file, self.line, self.field, self.detail = file, line, field, message
        where = ""
        if file:
            where = file + (f":{line}" if line is not None else "")
            where += f": {field}" if field else ""
            where += ": "
        super().__init__(where + message)

    def in_file(self, file: str) -> DataError:
        """This error naming `file` (an error found in the data as a whole, such as its label set,
        is raised without one)."""
        return self if self.file else DataError(self.detail, file, self.line, self.field)


class ModelError(RawtuneError):
    """A model or tokenizer could not be resolved or loaded."""


class RunDirError(RawtuneError):
    """The output or run directory cannot be used as asked."""


class StorageError(RawtuneError):
    """A file of a run could not be written: the disk is full, read-only or failing. The message
    names the file; nothing half-written is left where a reader would trust it."""


class CheckpointError(RawtuneError):
    """No usable checkpoint, or one that does not belong to this run."""


class NonFiniteError(RawtuneError):
    """Loss or gradients became NaN/inf; the run stops in that step and writes no checkpoint."""

    exit_code = 3

    def __init__(self, message: str, step: int, samples: list[int]):
        self.step, self.samples = step, samples
        super().__init__(message)


class GateError(RawtuneError):
    """A compressed model missed its accuracy or speed bound; the run is kept, marked "rejected"."""

    exit_code = 4


class MissingExtraError(RawtuneError):
    def __init__(self, module: str, extra: str):
        super().__init__(f"'{module}' is not installed; install it with: pip install 'rawtune[{extra}]'")


class ModelStoreError(RawtuneError):
    """The model store cannot do what was asked (unknown name or version, a bad name, an unreadable
    store file); the message names the file or the model."""


class PromotionRefused(ModelStoreError):
    """A version whose gate failed was not promoted (promote with force to override); the same exit
    code as GateError, since both mean "the gate said no"."""

    exit_code = 4
