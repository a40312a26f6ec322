"""One run's files: its two outputs, the per-epoch log, the checkpoint folder and the lock file.

No Keras here: train.py checks the paths before it starts Keras, which takes seconds.
"""

import contextlib
import os
import re
import shutil

from pyimagesearch.errors import UserError
from pyimagesearch.files import ensure_writable, read_json
from pyimagesearch.run_lock import remove_left_behind


def leftover_temporaries(path):
    """Temporary files that files.replaced_atomically made for `path` and a killed process left:
    `.<stem>.<8 random characters>.tmp<extension>`, as `tempfile.mkstemp` names them."""
    folder, name = os.path.split(os.path.abspath(path))
    stem, extension = os.path.splitext(name)
    pattern = re.compile(re.escape(f".{stem}.") + "[a-z0-9_]{8}" + re.escape(f".tmp{extension}"))
    with contextlib.suppress(OSError):
        return [os.path.join(folder, entry) for entry in os.listdir(folder) if pattern.fullmatch(entry)]
    return []


MAX_NAME = 255  # bytes in a file name on Linux's and macOS's file systems
# A run's settings are a few hundred bytes: a larger file is not read.
SETTINGS_LIMIT = 1 << 16


class RunFiles:
    """The paths of one run: `--history` and `--report`, and beside the history its log, its
    checkpoint folder and its lock file."""

    def __init__(self, history, report):
        self.history = history
        self.report = report
        self.log = os.path.splitext(history)[0] + ".csv"
        # The settings that made the run, written with its outputs.
        self.settings = os.path.splitext(history)[0] + ".json"
        # Deleted when the run finishes.
        self.checkpoint_folder = history + ".checkpoint"
        self.lock = history + ".lock"

    def check_paths(self):
        """Raise UserError unless the outputs, the log and the settings are four files apart from the
        run's own."""
        for option, path, example in (("--history", self.history, "pickle"), ("--report", self.report, "txt")):
            if os.path.basename(path) in ("", ".", ".."):  # "", "out/", "out/.": a folder, known only at the end
                raise UserError(f"{option} {path!r} names a folder, not a file; give a file path such as "
                                f"output/resnet_adam_mnist.{example}")
        # files.replaced_atomically writes each beside it first, as ".<stem>.<8 characters>.tmp.<extension>".
        for option, path in (("--history", self.history), ("--report", self.report), ("--history", self.log),
                             ("--history", self.settings)):
            name = os.path.basename(path)
            if len(os.fsencode(name)) > MAX_NAME - 14:
                raise UserError(f"{option}'s file name is too long ({name!r} takes {len(os.fsencode(name))} bytes; "
                                f"the temporary files written beside it allow {MAX_NAME - 14}); give a shorter one")
        outputs = [os.path.realpath(path) for path in (self.history, self.report, self.log, self.settings)]
        inside_checkpoint = os.path.realpath(self.checkpoint_folder) + os.sep
        if (
            len(set(outputs)) < 4
            or os.path.realpath(self.lock) in outputs
            or any(path.startswith(inside_checkpoint) for path in outputs)
        ):
            raise UserError(
                f"--history, --report, the per-epoch log ({self.log}) and the settings ({self.settings}) "
                f"must be four different files, outside the checkpoint folder ({self.checkpoint_folder}) and other than the "
                f"lock file ({self.lock}); choose other paths"
            )

    def check_writable(self):
        """Create the outputs' folders and raise UserError unless the outputs can be written there."""
        for path in (self.history, self.report, self.log, self.settings):
            try:
                ensure_writable(path)
            except OSError as error:
                raise UserError(str(error)) from None

    def finished(self):
        return os.path.isfile(self.history) and os.path.isfile(self.report)

    def remove_temporaries(self):
        """Delete the temporary files that a killed process left where the outputs and the log are written."""
        for path in (self.history, self.report, self.log):
            for temporary in leftover_temporaries(path):
                with contextlib.suppress(OSError):  # gone already, or a folder of that name: left alone
                    os.remove(temporary)

    def remove_checkpoint(self):
        shutil.rmtree(self.checkpoint_folder, ignore_errors=True)

    def recorded_settings(self):
        """The settings written beside a finished run, or None where there are none to read."""
        settings = read_json(self.settings, SETTINGS_LIMIT)
        return settings if isinstance(settings, dict) else None

    def skip(self, settings):
        """Skip a finished run, or raise UserError if its recorded settings are not `settings`."""
        recorded = self.recorded_settings()
        if recorded is not None and recorded != settings:
            differences = ", ".join(
                f"{key} {recorded.get(key)!r} there, {settings.get(key)!r} here"
                for key in sorted(set(recorded) | set(settings)) if recorded.get(key) != settings.get(key)
            )
            raise UserError(
                f"{self.history} was made with other settings ({differences}; see {self.settings}); "
                "give other --history and --report paths, or delete the run's files to train it again"
            )
        remove_left_behind(self.lock)
        print(f"{self.history} and {self.report} exist already: skipping (delete them to train again)")
        self.remove_checkpoint()
        return 0

    @contextlib.contextmanager
    def disk_errors_in_one_line(self):
        """Turn an OSError of writing (a full disk, permissions lost) into a UserError that says what to do."""
        try:
            yield
        except OSError as error:
            folder = os.path.dirname(os.path.abspath(error.filename or self.history))
            raise UserError(
                f"cannot write in {folder} ({error.strerror or error}); free some space or fix its "
                "permissions, then give the same command again to resume from the last checkpoint"
            ) from None
