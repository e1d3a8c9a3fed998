"""What the terminal shows while a run goes: a progress bar on stderr."""

from __future__ import annotations

import sys

from ..events import Plan, Progress

#: The bar's length in steps.
WORK_UNITS = 1000


class ProgressBar:
    """A tqdm bar on stderr: the share of the work done, time elapsed and left, the
    iteration and losses; keeps the history of the run's numbers (for --plot)."""

    def __init__(self, enabled: bool, label: str | None = None) -> None:
        self.enabled = enabled
        self.label = label
        self.bar = None
        self.history: list[Progress] = []

    def __enter__(self) -> ProgressBar:
        return self

    def update(self, progress: Progress) -> None:
        self.history.append(progress.numbers())
        postfix = f"it {progress.iteration}/{progress.iterations} {progress.size}px "
        postfix += f"loss={progress.total:.4g} content={progress.content:.3f} "
        postfix += f"style={progress.style:.4f}"
        if progress.tv:
            postfix += f" tv={progress.tv:.2e}"
        self.show(progress.fraction, postfix)

    def show(self, fraction: float, postfix: str) -> None:
        """Move the bar to ``fraction`` of the work, with ``postfix`` after the times."""
        if not self.enabled:
            return
        if self.bar is None:  # opened at the first iteration, once the inputs have loaded
            from tqdm import tqdm

            # Counted in thousandths of the run's work, not iterations: a 2048 px iteration
            # takes 16 times a 512 px one, and the time left should know it.
            self.bar = tqdm(
                total=WORK_UNITS, desc=self.label, file=sys.stderr, dynamic_ncols=True,
                bar_format="{desc}{percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]",
            )
        self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(round(fraction * WORK_UNITS) - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def plan_line(plan: Plan) -> str:
    """The plan's line on the terminal."""
    return f"painterly: {plan.summary()}"
