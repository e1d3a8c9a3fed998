"""The web studio: a page, served by painterly itself, that paints one picture at a time
for each visitor and shows it emerge (``painterly serve``; needs the ``[web]`` extra).

Built on Gradio, the ML ecosystem's usual web library: it brings uploads, a job queue
with each visitor's place in it, progress bars and cancellation. Uploads are decoded
only by :func:`painterly.images.load_image` (with the CLI's pixel limit). Each visitor's
paintings are kept apart, under their session's secret token, and removed when the page
closes or after ``keep_minutes`` (uploads too); everything goes when the studio stops.
The browser sends names and files, never paths: bundled examples are chosen by name.
"""

from __future__ import annotations

import logging
import os
import queue
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from .allocator import release_freed_memory
from .errors import MemoryRefused, PainterlyError, SettingsError
from .events import Interrupted, Progress, StopRequested
from .images import MAX_INPUT_PIXELS, save_image
from .layers import MIN_SIDE
from .optimizers import OPTIMIZERS
from .recipes import encode, make_recipe
from .schedule import QUALITIES
from .settings import PRESERVE_COLOR, TransferSettings
from .style_targets import STYLE_LOSSES
from .transfer import stylize

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
#: How often the page's picture is refreshed, in iterations.
PREVIEW_EVERY = 5
#: The largest size the page's slider offers.
MAX_SIZE = 2048
#: The page's names for the settings it offers, as its errors name them.
LABELS = {
    "size": "Size", "quality": "Quality", "iterations": "Iterations",
    "style_weight": "Style strength", "style_loss": "Style loss", "masks": "Masks",
    "preserve_color": "Colours", "style_scale": "Style scale", "optimizer": "Optimiser",
    "seed": "Seed", "max_input_pixels": "the studio's pixel limit",
}


@dataclass(frozen=True)
class StudioSettings:
    """Settings of ``painterly serve``; the CLI's options are built from these fields."""

    host: str = field(
        default="127.0.0.1",
        metadata={
            "help": "address to listen on; loopback unless you mean to share (default: 127.0.0.1)"
        },
    )
    port: int = field(default=7860, metadata={"help": "port to listen on"})
    concurrency: int = field(
        default=1, metadata={"help": "paintings made at once; others wait in a queue (default: 1)"}
    )
    max_upload_mb: float = field(default=25.0, metadata={"help": "largest upload, in MB"})
    max_input_pixels: int = field(
        default=MAX_INPUT_PIXELS,
        metadata={"help": "refuse uploads with more pixels than this, before decoding"},
    )
    keep_minutes: float = field(
        default=60.0,
        metadata={"help": "minutes a visitor's uploads and paintings are kept; they also go "
                  "when the page is closed (default: 60)"},
    )

    def __post_init__(self) -> None:
        if not (isinstance(self.keep_minutes, (int, float)) and 0 < self.keep_minutes < 1e6):
            raise SettingsError(
                "keep_minutes", f"must be a number of minutes above 0, got {self.keep_minutes!r}"
            )
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise SettingsError("port", f"must be a port number 0..65535, got {self.port!r}")
        if not isinstance(self.concurrency, int) or self.concurrency < 1:
            raise SettingsError("concurrency", f"must be at least 1, got {self.concurrency!r}")
        if not isinstance(self.max_input_pixels, int) or self.max_input_pixels < 1:
            raise SettingsError(
                "max_input_pixels", f"must be at least 1, got {self.max_input_pixels!r}"
            )
        if not (isinstance(self.max_upload_mb, (int, float)) and 0 < self.max_upload_mb < 1e6):
            raise SettingsError(
                "max_upload_mb", f"must be a number of MB above 0, got {self.max_upload_mb!r}"
            )


def bundled_examples(kind: str) -> dict[str, Path]:
    """Example name -> file, for ``content`` or ``style`` (empty if not installed)."""
    folder = EXAMPLES / kind
    return {p.stem.replace("_", " "): p for p in sorted(folder.glob("*.jpg"))}


@dataclass
class _Job:
    """One painting under way: its stop switch and the updates its thread posts."""

    stop: threading.Event = field(default_factory=threading.Event)
    updates: queue.Queue = field(default_factory=queue.Queue)


class Studio:
    """The page and its jobs. ``blocks`` is the Gradio app; ``workdir`` holds uploads
    and results."""

    def __init__(self, settings: StudioSettings, workdir: Path) -> None:
        self.settings = settings
        self.workdir = workdir
        # Each visitor's paintings in a directory named by their session's secret token,
        # which stays on the server (Gradio keeps a State there), so no one else can
        # name, list or fetch them.
        self.results = workdir / "results"
        self.results.mkdir(mode=0o700, exist_ok=True)
        self.jobs: dict[str, _Job] = {}  # session -> its job under way
        self.lock = threading.Lock()
        self.blocks = self._build()

    def _build(self):
        import gradio as gr

        photos, paintings = bundled_examples("content"), bundled_examples("style")
        keep = int(self.settings.keep_minutes * 60)
        # Uploads (Gradio's cache) older than the time kept go too.
        with gr.Blocks(title="painterly studio",
                       delete_cache=(max(60, min(keep, 3600)), keep)) as blocks:
            gr.Markdown(
                "# painterly studio\nPaint a photograph in the style of a painting "
                "(Gatys et al., CVPR 2016). Upload a photo and one or more paintings, "
                "or pick the examples, and press Start."
            )
            with gr.Row():
                with gr.Column():
                    sources = _source_controls(gr, photos, paintings)
                with gr.Column():
                    controls = _settings_controls(gr)
            with gr.Row():
                start = gr.Button("Start", variant="primary", elem_id="start")
                cancel = gr.Button("Cancel", elem_id="cancel")
            status = gr.Markdown("", elem_id="status")
            picture, download, gallery = _result_controls(gr)
            history = gr.State([])
            # One secret token per page: a visitor's Cancel finds their job by it, and their
            # paintings live under it until the page closes or the time is up.
            session = gr.State(new_session, time_to_live=self.settings.keep_minutes * 60,
                               delete_callback=self.end_session)

            # One argument per input component, in the order of `inputs` below.
            def paint(photo_file, style_files, photo_name, style_name, mask_files, size,
                      quality, style_loss, iterations, strength, color, style_scale, optimizer,
                      seed, history, session,
                      progress=gr.Progress()) -> Iterator[tuple]:  # noqa: B008 (how Gradio finds its bar)
                try:
                    photo_path = _chosen(photo_file, photo_name, photos, "a photo")
                    style_paths = _chosen(style_files, style_name, paintings, "a painting")
                    masks = [str(path) for path in _chosen(mask_files, "", {}, "")] \
                        if mask_files else None
                    settings = self._settings(size, quality, style_loss, iterations, strength,
                                              color, style_scale, optimizer, seed, masks)
                except PainterlyError as error:
                    raise gr.Error(studio_message(error), print_exception=False) from None
                style_paths = style_paths if isinstance(style_paths, list) else [style_paths]
                yield from self._paint(photo_path, style_paths, settings, history, session,
                                       progress)

            running = start.click(
                paint, [*sources, *controls, history, session],
                [picture, status, download, gallery, history], concurrency_id="paint",
            )
            cancel.click(self._cancel, session, status, cancels=[running], queue=False)
        blocks.queue(default_concurrency_limit=self.settings.concurrency)
        return blocks

    def _settings(self, size: float, quality: str, style_loss: str, iterations: float,
                  strength: float, color: str, style_scale: float, optimizer: str,
                  seed: float | None, masks: list[str] | None) -> TransferSettings:
        """The page's controls as settings (checked there, like the CLI's); 0 iterations
        means the quality's schedule."""
        return TransferSettings(
            size=int(size), quality=quality, style_loss=style_loss,
            iterations=int(iterations) or None, style_weight=float(strength),
            masks=tuple(masks) if masks else None,
            preserve_color=color, style_scale=float(style_scale), optimizer=optimizer,
            seed=int(seed or 0), max_input_pixels=self.settings.max_input_pixels,
        )

    def _paint(self, photo: Path, paintings: list[Path], settings: TransferSettings,
               history: list, session: str, progress) -> Iterator[tuple]:
        """Paint in a thread and turn its updates into the page's outputs."""
        import gradio as gr

        job = _Job()
        self.jobs[session] = job
        threading.Thread(target=_run, daemon=True, args=(job, photo, paintings, settings)).start()
        began = time.perf_counter()
        plan = ""  # the run's plan, in one line above the progress
        try:
            while True:
                kind, value, image = job.updates.get()
                if kind == "plan":
                    plan = f"Planned: {value}\n\n"
                    yield None, plan + "Starting.", None, history, history
                elif kind == "progress":
                    done, total, share = value.iteration, value.iterations, value.fraction
                    # Weighted by each iteration's pixels: a late, large stage is slower.
                    left = (time.perf_counter() - began) * (1 - share) / max(share, 1e-9)
                    progress(share, desc=f"{value.size} px, about {left:.0f} s left")
                    text = (f"{plan}Iteration {done} of {total} at {value.size} px; style "
                            f"{value.style:.4f}, content {value.content:.3f}; about {left:.0f} s "
                            "left")
                    yield image, text, None, history, history
                elif kind == "done":
                    path = self._save(image, photo, paintings, settings, session)
                    caption = (f"{settings.size} px, style {settings.style_weight:g}, "
                               f"{settings.preserve_color}, scale {settings.style_scale:g}")
                    history = [*history, (str(path), caption)]
                    seconds = time.perf_counter() - began
                    yield (image, f"{plan}Done in {seconds:.0f} s.", str(path), history,
                           history)
                    return
                elif kind == "stopped":
                    yield image, "Cancelled.", None, history, history
                    return
                else:
                    raise gr.Error(value, print_exception=False)
        finally:
            job.stop.set()  # a cancelled or closed page stops the painting too
            self.jobs.pop(session, None)

    def end_session(self, session: str) -> None:
        """The page closed or its time is up: stop its painting and remove its files."""
        self._cancel(session)
        shutil.rmtree(self.results / session, ignore_errors=True)

    def _cancel(self, session: str) -> str:
        job = self.jobs.get(session)
        if job is not None:
            job.stop.set()
        return "Cancelled."

    def _save(self, picture: Image.Image, photo: Path, paintings: list[Path],
              settings: TransferSettings, session: str) -> Path:
        """The painting, numbered in its session's own directory."""
        private = self.results / session
        with self.lock:
            private.mkdir(mode=0o700, exist_ok=True)
            number = len(list(private.glob("painterly_*.png"))) + 1
            path = private / f"painterly_{number:03d}.png"
            path.touch()  # taken: the next painting of this session gets the next number
        inputs = {"content": [photo], "style": paintings, **settings.input_files()}
        recipe = make_recipe("transfer", settings, inputs)
        return save_image(picture, path, encode(recipe))


def _result_controls(gr) -> tuple:
    """The painting as it is painted, its download, and the session's gallery."""
    with gr.Row():
        picture = gr.Image(label="Painting", type="pil", format="png", interactive=False,
                           elem_id="picture")
        with gr.Column():
            download = gr.File(label="Download (PNG with its recipe)", interactive=False,
                               elem_id="download")
            gallery = gr.Gallery(label="This session's paintings", columns=3, elem_id="gallery")
    return picture, download, gallery


def _source_controls(gr, photos: dict, paintings: dict) -> list:
    """The photo and the paintings: uploads, or the bundled examples by name."""
    photo = gr.File(label="Photo", file_types=["image"], elem_id="photo")
    photo_example = gr.Dropdown(["(upload)", *photos], value="(upload)",
                                label="or an example photo", elem_id="photo-example")
    styles = gr.File(label="Painting(s)", file_count="multiple", file_types=["image"],
                     elem_id="paintings")
    style_example = gr.Dropdown(["(upload)", *paintings], value="(upload)",
                                label="or an example painting", elem_id="painting-example")
    masks = gr.File(label="Masks (optional): one per painting, white where it applies",
                    file_count="multiple", file_types=["image"], elem_id="masks")
    # In the order paint takes them.
    return [photo, styles, photo_example, style_example, masks]


def _settings_controls(gr) -> list:
    """The settings the page offers, at the CLI's defaults; ids for the browser test."""
    defaults = TransferSettings()
    return [
        gr.Slider(MIN_SIDE, MAX_SIZE, value=defaults.size, step=16,
                  label="Size (long side, px)", elem_id="size"),
        gr.Radio(list(QUALITIES), value=defaults.quality, elem_id="quality",
                 label="Quality (draft: a quick preview; fine: slower, closer to both)"),
        gr.Radio(list(STYLE_LOSSES), value=defaults.style_loss, elem_id="style-loss",
                 label="Style loss (swd: the painting's whole distribution; gram: Gatys; "
                 "w2: means and covariances)"),
        gr.Slider(0, 1000, value=0, step=1, elem_id="iterations",
                  label="Iterations at each scale (0: as the quality has them)"),
        gr.Number(value=defaults.style_weight, elem_id="strength",
                  label="Style strength (style weight; content weight is 1)"),
        gr.Radio(list(PRESERVE_COLOR), value=defaults.preserve_color, label="Colours",
                 elem_id="color"),
        gr.Slider(0.25, 4, value=defaults.style_scale, step=0.05,
                  label="Style scale (>1: bigger strokes)", elem_id="style-scale"),
        gr.Dropdown(list(OPTIMIZERS), value=defaults.optimizer, label="Optimiser",
                    elem_id="optimizer"),
        gr.Number(value=defaults.seed, precision=0, label="Seed", elem_id="seed"),
    ]


def _chosen(upload, example: str, examples: dict[str, Path], what: str):
    """The uploaded file(s), else the named example; never a path from the browser."""
    if upload:
        if isinstance(upload, list):
            return [Path(getattr(item, "name", item)) for item in upload]
        return Path(getattr(upload, "name", upload))
    if example in examples:
        return examples[example]
    raise PainterlyError(f"give {what}: upload one or pick an example")


def new_session() -> str:
    """A session's token: secret, and unguessable (144 random bits)."""
    return secrets.token_urlsafe(18)


def studio_message(error: PainterlyError) -> str:
    """An error in the page's words: its settings by their labels, not as options."""
    if isinstance(error, MemoryRefused):
        fits = (f"a size of {error.largest_size} px or less fits" if error.largest_size
                else "no size fits")
        return (f"this painting needs about {error.needed / 1024**3:.1f} GB of memory but the "
                f"machine has {error.limit / 1024**3:.1f} GB free; {fits}")
    if isinstance(error, SettingsError):
        return f"{LABELS.get(error.field, error.field)}: {error.problem}"
    if error.setting in LABELS:
        return f"{error} ({LABELS[error.setting]})"
    return str(error)


def _run(job: _Job, photo: Path, paintings: list[Path], settings: TransferSettings) -> None:
    """Paint in a thread, posting (kind, value, image) updates to the job's queue."""

    def follow(progress: Progress) -> None:
        if job.stop.is_set():
            raise StopRequested
        last = progress.iteration == progress.iterations
        if progress.picture is not None and (progress.iteration % PREVIEW_EVERY == 0 or last):
            job.updates.put(("progress", progress.numbers(), progress.picture()))

    try:  # stylize decodes each upload with load_image and the settings' pixel limit
        picture = stylize(photo, paintings, settings, callback=follow,
                          on_plan=lambda plan: job.updates.put(("plan", plan.summary(), None)))
        job.updates.put(("done", None, picture))
    except Interrupted as stopped:
        job.updates.put(("stopped", None, stopped.picture))
    except PainterlyError as error:
        message = studio_message(error)
        for path in [photo, *paintings]:  # uploads by their own name, not the server's path
            message = message.replace(str(path), path.name)
        job.updates.put(("error", message, None))
    except Exception as error:  # a thread that dies would leave its page waiting forever
        if not isinstance(error, (MemoryError, RuntimeError)):  # a bug: the operator's log
            logging.getLogger(__name__).exception("a painting failed")
        job.updates.put(("error", f"the painting failed: {error}", None))
    finally:  # the command line keeps freed memory for speed; a server between jobs need not
        release_freed_memory()


def serve(settings: StudioSettings, ready: Callable[[str, Path], None] | None = None) -> None:
    """Run the studio until interrupted; ``ready(url, workdir)`` is called once it
    listens. The temporary directory with the uploads and results, ``workdir``, is
    removed on the way out."""
    workdir = Path(tempfile.mkdtemp(prefix="painterly-studio-"))
    os.environ["GRADIO_TEMP_DIR"] = str(workdir / "uploads")  # where Gradio keeps them
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        studio = Studio(settings, workdir)
        _, url, _ = studio.blocks.launch(
            server_name=settings.host,
            server_port=settings.port,
            share=False,
            max_file_size=int(settings.max_upload_mb * 1024**2),
            prevent_thread_lock=True,
            quiet=True,
            allowed_paths=[str(workdir / "results")],
        )
        if ready is not None:
            ready(url, workdir)
        try:
            while True:
                time.sleep(0.5)
        finally:
            studio.blocks.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
