"""Run the experiments queued with `dvc exp run --queue` to the end, then show their status.

Use it where you would run `dvc queue start`: it starts the workers and stays until every task
has run. If a worker exits with a task still queued (`dvc queue status` shows it `Queued` with
`Worker status: 0 active, 0 idle`), it says so and starts a worker again. Exits 1 if a task failed
(`dvc queue logs <task>` shows why).

    dvc exp run --queue -S 'lora.r=4,8' -S 'lora.alpha=16,32'
    python -m src.queue            # or --jobs 2 for two at once
"""

import logging
import sys

from src.core.cli import command_parser, run_command
from src.search.queue import drain

log = logging.getLogger("queue")


def main(argv=None) -> None:
    parser = command_parser(__doc__)
    parser.add_argument("--jobs", type=int, default=1, help="workers run at once (dvc queue start -j)")
    parser.add_argument("--timeout", type=float, help="give up after this many seconds")

    def run(args):
        done = drain(jobs=args.jobs, timeout_s=args.timeout)
        for task in done.tasks:
            print(f"{task.name:<24} {task.state}")
        failed = [task.name for task in done.tasks if task.state == "Failed"]
        if failed:
            log.error("%d task(s) failed: %s (dvc queue logs <name> says why)", len(failed), ", ".join(failed))
            sys.exit(1)

    run_command(run, parser, argv)


if __name__ == "__main__":
    main()
