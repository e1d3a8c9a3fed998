"""What the terminal shows while a run goes: a progress bar on stderr."""

from __future__ import annotations

import sys

from ..events import Progress


class ProgressBar:
    """A tqdm bar on stderr: iteration, losses, elapsed time and ETA; keeps the history
    of the run's numbers (for --plot)."""

    def __init__(self, enabled: bool, label: str | None = None) -> None:
        self.enabled = enabled
        self.label = label
        self.bar = None
        self.history: list[Progress] = []

    def __enter__(self) -> ProgressBar:
        return self

    def update(self, progress: Progress) -> None:
        self.history.append(progress.numbers())
        if not self.enabled:
            return
        if self.bar is None:  # opened at the first iteration, once the inputs have loaded
            from tqdm import tqdm

            self.bar = tqdm(
                total=progress.iterations, desc=self.label, file=sys.stderr, unit="it",
                dynamic_ncols=True,
            )
        postfix = f"{progress.size}px loss={progress.total:.4g} content={progress.content:.3f} "
        postfix += f"style={progress.style:.4f}"
        if progress.tv:
            postfix += f" tv={progress.tv:.2e}"
        self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(progress.iteration - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __exit__(self, *exc_info: object) -> None:
        self.close()
