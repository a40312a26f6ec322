"""How the scripts end: one exception for problems the user must fix, and the exit codes.

Each script raises `UserError` with one line that names the problem and the fix; its entry point
(`if __name__ == "__main__": run_main(main)`) is the one place that prints it as `error: <message>` on
stderr and exits with `EXIT_USER_ERROR`. argparse's own usage errors keep its exit code 2.
"""

import sys


class UserError(Exception):
    """A problem the user can fix; the message is one line that says what to do."""


EXIT_USER_ERROR = 1
# train.py: another process (named in the message: host and PID) is training the same run.
# sweep.py and the generated scripts report such a run as locked, not as finished or failed.
EXIT_LOCKED = 3
# train.py: stopped by SIGTERM (a Slurm time limit or preemption, `kill`, `docker stop`) after
# saving a checkpoint; the same command resumes it. 75 is EX_TEMPFAIL: "try again later".
EXIT_STOPPED = 75


def run_main(main):
    """A script's entry point: exit with `main()`'s code, or, for a UserError, with one line on
    stderr and its exit code (EXIT_USER_ERROR unless the error carries its own `exit_code`)."""
    try:
        code = main()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        code = getattr(error, "exit_code", EXIT_USER_ERROR)
    sys.exit(code)
