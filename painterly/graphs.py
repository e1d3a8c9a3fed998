"""CUDA graphs: a small picture's loss and gradient replayed with one launch.

At 512 px an H100 waits on the host: one evaluation of the objective and its gradient
is ~770 kernel launches of ~6 us each, more than the GPU's own work, and an iteration
took 2.8x the bare network's forward and backward pass (benchmarks/README.md). A stage
evaluates the same computation on the same image buffer, changed in place, at every
iteration: captured once as a CUDA graph, it is replayed without the host's launches.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

#: Pictures up to this many pixels are evaluated by a graph. Above it the GPU's own work
#: hides the launches, and the graph's private memory, which no other allocation may
#: use, would hold a large picture's activations for the whole stage.
MAX_PIXELS = 1 << 20

#: An evaluation of an image buffer the caller changes in place: (loss, gradient).
Evaluation = Callable[[], tuple[torch.Tensor, torch.Tensor]]


def replayed(evaluate: Evaluation, image: torch.Tensor) -> Evaluation:
    """``evaluate`` as a :class:`GraphedEvaluation` where ``image`` (1, 3, H, W), the buffer
    it reads, is on a GPU and at most MAX_PIXELS; else ``evaluate`` itself."""
    if image.device.type != "cuda" or image.shape[-2] * image.shape[-1] > MAX_PIXELS:
        return evaluate
    return GraphedEvaluation(evaluate, image.device)


class GraphedEvaluation:
    """``evaluate`` run on a stream of its own at the first call (loading the stream's
    libraries and kernels outside the capture), captured as a CUDA graph at the second
    and replayed from then on. Each call returns copies of the graph's outputs, which the
    next replay overwrites. Where the capture fails (an operation that reads a value
    back to the host, say), every later call runs ``evaluate`` as it is. ``device``: the
    GPU the evaluation runs on, which need not be the current one (``--device cuda:1``)."""

    def __init__(self, evaluate: Evaluation, device: torch.device) -> None:
        self.evaluate = evaluate
        self.device = device
        self.stream = torch.cuda.Stream(device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.outputs: tuple[torch.Tensor, ...] = ()
        self.calls = 0
        self.eager = False

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        # Streams, captures and replays are the current device's: make it the run's.
        with torch.cuda.device(self.device):
            return self._call()

    def _call(self) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls += 1
        if self.eager:
            return self.evaluate()
        if self.graph is None:
            if self.calls == 1:
                return self._warm_up()
            self._capture()
            if self.graph is None:
                return self.evaluate()
        self.graph.replay()
        loss, gradient = (output.clone() for output in self.outputs)
        return loss, gradient

    def _warm_up(self) -> tuple[torch.Tensor, torch.Tensor]:
        main = torch.cuda.current_stream()
        self.stream.wait_stream(main)
        with torch.cuda.stream(self.stream):
            outputs = self.evaluate()
        main.wait_stream(self.stream)
        for output in outputs:  # made on the side stream, used and freed on the main one
            output.record_stream(main)
        return outputs

    def _capture(self) -> None:
        graph = torch.cuda.CUDAGraph()
        self.stream.wait_stream(torch.cuda.current_stream())
        # Not torch.cuda.graph(), which empties the allocator's cache first: every stage
        # would then allocate its memory afresh.
        try:
            with torch.cuda.stream(self.stream):
                # thread_local: a studio's or a batch's other threads may use CUDA meanwhile.
                graph.capture_begin(capture_error_mode="thread_local")
                try:
                    outputs = self.evaluate()
                finally:
                    graph.capture_end()
        except RuntimeError:
            self.eager = True
            _end_generator_capture(self.stream)
            return
        self.graph, self.outputs = graph, tuple(outputs)


def _end_generator_capture(stream: torch.cuda.Stream) -> None:
    """End the capture state a failed capture left CUDA's random generators in.

    torch ends it only when a capture succeeds; until then every random draw on the GPU
    raises ("Offset increment outside graph capture", seen on an H100 in the tests: a
    noise start or the plan's timing after a painting by regions). One small capture
    that succeeds ends it."""
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.stream(stream):
        graph.capture_begin()
        torch.empty(1, device=stream.device).zero_()  # (an empty graph draws a warning)
        graph.capture_end()
