"""The MMLGNet prompt dock: edit a prompt set, encode it, and check how distinct the classes are.

Everything the buttons do is a public method taking plain values (paths, names, rows), so tests
and scripts drive the dock without file dialogs. The dock knows nothing about the project; the
controller stores `promptSetChanged` in it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from qgis.core import Qgis, QgsApplication
from qgis.gui import QgsDockWidget
from qgis.PyQt.QtCore import Qt, pyqtSignal, pyqtSlot
from qgis.PyQt.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QPlainTextEdit,
                                 QProgressBar, QPushButton, QSplitter, QVBoxLayout, QWidget)

from ..core.model_file import ModelFileError, read_manifest
from ..core.prompts import DEFAULT_TEMPLATES, ClassPrompt, PromptError, PromptSet, load_prompt_set
from ..core.errors import Cancelled
from .encode_task import EncodeTask, encode_prompt_set
from .dock_layout import polish
from .encoder_picker import EncoderPicker
from .message_label import MessageLabel
from .prompt_table import NEW_CLASS_COLOURS, PromptTable
from .resources import ready_prompt_sets
from .similarity import cosine_matrix
from .similarity_view import SimilarityView

READY_PLACEHOLDER = "Ready set\u2026"
EMPTY_HINT = "No classes yet: pick a ready set, import a JSON file, load a model file or add classes."


class PromptDock(QgsDockWidget):
    promptSetChanged = pyqtSignal(str)   # JSON of the set after each valid change; "" when emptied
    encodingFinished = pyqtSignal(object)  # the (K, K) cosine matrix

    def __init__(self, parent=None):
        super().__init__("MMLGNet class prompts", parent)
        self.setObjectName("MMLGNetPromptDock")  # QGIS saves dock placement by object name
        self.embeddings: np.ndarray | None = None
        self._encoded_json: str | None = None  # the set the current similarity belongs to
        self._task: EncodeTask | None = None
        self._build_ui()
        self._connect()
        polish(self)  # side-dock sizing, shortcuts, tooltips, tab order (dock_layout)
        self.set_prompt_set(None)

    # --- UI --------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.message_label = MessageLabel()

        self.ready_combo = QComboBox()
        self.ready_combo.addItem(READY_PLACEHOLDER)
        self.ready_combo.addItems(list(ready_prompt_sets()))
        self.ready_combo.setToolTip("Load a shipped prompt set for a benchmark scene")
        self.import_button = QPushButton("Import\u2026")
        self.export_button = QPushButton("Export\u2026")
        self.model_button = QPushButton("Model\u2026")
        self.import_button.setToolTip("Import a prompt set from a JSON file")
        self.export_button.setToolTip("Export the prompt set to a JSON file")
        self.model_button.setToolTip("Load the prompts and text encoder stored in an MMLGNet model file")
        file_row = _row(self.ready_combo, self.import_button, self.export_button, self.model_button)

        self.add_button = QPushButton("Add")
        self.remove_button = QPushButton("Remove")
        self.up_button = QPushButton("Up")
        self.down_button = QPushButton("Down")
        self.up_button.setToolTip("Move the selected class up (its id goes down by one)")
        self.down_button.setToolTip("Move the selected class down (its id goes up by one)")
        class_row = _row(self.add_button, self.remove_button, self.up_button, self.down_button)

        self.table = PromptTable()
        self.templates_edit = QPlainTextEdit()
        self.templates_edit.setPlaceholderText("no templates: only the prompts are embedded")
        self.templates_edit.setToolTip("One template per line; {} is replaced by the class name")
        self.templates_edit.setFixedHeight(3 * self.templates_edit.fontMetrics().lineSpacing() + 10)
        self.status_label = MessageLabel()

        editor = QWidget()
        left = QVBoxLayout(editor)
        left.setContentsMargins(0, 0, 4, 0)
        left.addLayout(file_row)
        left.addLayout(class_row)
        left.addWidget(self.table, 1)
        templates_label = QLabel("Templates\none per line,\n{} = class name")
        templates_label.setToolTip(self.templates_edit.toolTip())
        left.addLayout(_row(templates_label, self.templates_edit, stretch=False))
        left.addWidget(self.status_label)

        self.encoder_picker = EncoderPicker()
        self.encode_button = QPushButton("Encode")
        self.encode_button.setToolTip("Embed every class's prompts in the background and compare classes")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        self.similarity_view = SimilarityView()

        checker = QWidget()
        right = QVBoxLayout(checker)
        right.setContentsMargins(4, 0, 0, 0)
        right.addWidget(self.encoder_picker)
        right.addLayout(_row(self.encode_button, self.cancel_button, self.progress_bar, stretch=False))
        right.addWidget(QLabel("Cosine similarity between class embeddings"))
        right.addWidget(self.similarity_view, 1)

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(editor)
        self.splitter.addWidget(checker)
        self.splitter.setStretchFactor(0, 5)
        self.splitter.setStretchFactor(1, 4)

        content = QWidget()
        outer = QVBoxLayout(content)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addWidget(self.message_label)
        outer.addWidget(self.splitter, 1)
        self.setWidget(content)

    def _connect(self) -> None:
        self.table.edited.connect(self._on_edited)
        self.templates_edit.textChanged.connect(self._on_edited)
        self.ready_combo.activated.connect(self._on_ready_chosen)
        self.import_button.clicked.connect(self._choose_import)
        self.export_button.clicked.connect(self._choose_export)
        self.model_button.clicked.connect(self._choose_model)
        self.add_button.clicked.connect(lambda: self.add_class())
        self.remove_button.clicked.connect(lambda: self.remove_classes())
        self.up_button.clicked.connect(lambda: self.move_class(-1))
        self.down_button.clicked.connect(lambda: self.move_class(1))
        self.encode_button.clicked.connect(lambda: self.start_encoding())
        self.cancel_button.clicked.connect(self.cancel_encoding)

    def resizeEvent(self, event):  # noqa: N802 (Qt's name)
        # Side by side when wide (floating or bottom area), stacked in a narrow side dock.
        size = event.size()
        orientation = Qt.Orientation.Horizontal if size.width() > 1.2 * size.height() else Qt.Orientation.Vertical
        if orientation != self.splitter.orientation():
            self.splitter.setOrientation(orientation)
            total = size.width() if orientation == Qt.Orientation.Horizontal else size.height()
            self.splitter.setSizes([int(0.56 * total), int(0.44 * total)])
        super().resizeEvent(event)

    # --- the prompt set --------------------------------------------------------------------
    def set_prompt_set(self, prompt_set: PromptSet | None, notify: bool = True) -> None:
        """Show `prompt_set` (None: empty table, default templates). notify=False when the
        set comes from the project, so loading it does not write it back."""
        classes = [ClassPrompt(i + 1, c.name, c.color, list(c.prompts))
                   for i, c in enumerate(prompt_set.classes)] if prompt_set else []
        templates = list(prompt_set.templates) if prompt_set else list(DEFAULT_TEMPLATES)
        self.table.set_classes(classes)
        self.templates_edit.blockSignals(True)
        self.templates_edit.setPlainText("\n".join(templates))
        self.templates_edit.blockSignals(False)
        self._on_edited(notify=notify)

    def raw_prompt_set(self) -> PromptSet:
        """What the widgets hold, unchecked."""
        templates = [t.strip() for t in self.templates_edit.toPlainText().splitlines() if t.strip()]
        return PromptSet(classes=self.table.classes(), templates=templates)

    def prompt_set(self) -> PromptSet:
        """The checked set; raises PromptError naming the problem."""
        return PromptSet.from_dict(self.raw_prompt_set().to_dict())

    def problems(self) -> tuple[str | None, list[str]]:
        """(error that makes the set unusable or None, warnings such as empty/repeated prompts)."""
        raw = self.raw_prompt_set()
        try:
            return None, PromptSet.from_dict(raw.to_dict()).warnings()
        except PromptError as exc:
            return str(exc), raw.warnings()

    # --- class rows ------------------------------------------------------------------------
    def add_class(self, name: str | None = None, color: str | None = None,
                  prompts: list[str] | tuple = ()) -> int:
        """Append a class (ids stay 1..N); returns its row."""
        classes = self.table.classes()
        taken = {c.name.lower() for c in classes}
        if not name:
            n, name = len(classes) + 1, "New class"
            while name.lower() in taken:
                name, n = f"New class {n}", n + 1
        color = color or NEW_CLASS_COLOURS[len(classes) % len(NEW_CLASS_COLOURS)]
        classes.append(ClassPrompt(len(classes) + 1, name, color, list(prompts)))
        self._replace_classes(classes, select=len(classes) - 1)
        return len(classes) - 1

    def remove_classes(self, rows: list[int] | None = None) -> None:
        """Remove `rows` (default: the selected ones); later classes move up one id."""
        rows = set(self.table.selected_rows() if rows is None else rows)
        if not rows:
            return
        classes = [c for i, c in enumerate(self.table.classes()) if i not in rows]
        self._replace_classes(classes, select=min(min(rows), len(classes) - 1))

    def move_class(self, delta: int, row: int | None = None) -> int:
        """Move one class up (delta -1) or down (+1); returns its new row."""
        row = self.table.currentRow() if row is None else row
        classes = self.table.classes()
        target = row + delta
        if not (0 <= row < len(classes)) or not (0 <= target < len(classes)):
            return row
        classes[row], classes[target] = classes[target], classes[row]
        self._replace_classes(classes, select=target)
        return target

    def _replace_classes(self, classes: list[ClassPrompt], select: int = -1) -> None:
        self.table.set_classes(classes)  # renumbers ids 1..N
        if 0 <= select < len(classes):
            self.table.selectRow(select)
        self._on_edited()

    # --- files -----------------------------------------------------------------------------
    def import_json(self, path: str | Path) -> bool:
        path = Path(path)
        try:
            prompt_set = load_prompt_set(str(path))
        except (PromptError, OSError, UnicodeDecodeError) as exc:
            self.message_label.show_message(f"Could not import {path.name}: {exc}", Qgis.MessageLevel.Critical)
            return False
        self.set_prompt_set(prompt_set)
        self.message_label.show_message(f"Imported {len(prompt_set.classes)} classes from {path.name}.",
                                        Qgis.MessageLevel.Success)
        return True

    def export_json(self, path: str | Path) -> bool:
        path = Path(path)
        try:
            from ..core.atomic_files import write_text_atomic
            write_text_atomic(path, self.prompt_set().to_json() + "\n")
        except (PromptError, OSError) as exc:
            self.message_label.show_message(f"Could not export to {path.name}: {exc}", Qgis.MessageLevel.Critical)
            return False
        self.message_label.show_message(f"Exported the prompt set to {path}.", Qgis.MessageLevel.Success)
        return True

    def load_model_file(self, path: str | Path) -> bool:
        """Prompts (and text encoder) from an MMLGNet model file's manifest."""
        path = Path(path)
        try:
            manifest = read_manifest(path)
            prompt_set = manifest.prompt_set  # older files: class names and colours only
        except (ModelFileError, PromptError, OSError) as exc:
            self.message_label.show_message(f"Could not load prompts from {path.name}: {exc}",
                                            Qgis.MessageLevel.Critical)
            return False
        self.set_prompt_set(prompt_set)
        encoder = manifest.text_encoder
        note = ""
        if encoder.get("kind") in ("minilm", "open_clip"):
            self.encoder_picker.set_spec(encoder)
            note = f" Text encoder set to the model's ({self.encoder_picker.spec()})."
        self.message_label.show_message(
            f"Loaded {len(prompt_set.classes)} classes from model {path.name}.{note}", Qgis.MessageLevel.Success)
        return True

    def load_ready_set(self, name: str) -> bool:
        """A shipped set by label or file stem ("Trento", "muufl")."""
        for label, path in ready_prompt_sets().items():
            if name.lower() in (label.lower(), path.stem.lower()):
                ok = self.import_json(path)
                if ok:
                    self.message_label.show_message(f"Loaded the ready {label} prompt set.", Qgis.MessageLevel.Success)
                return ok
        self.message_label.show_message(f"No ready prompt set called {name!r}.", Qgis.MessageLevel.Warning)
        return False

    def _on_ready_chosen(self, index: int) -> None:
        if index > 0:
            self.load_ready_set(self.ready_combo.itemText(index))
        self.ready_combo.setCurrentIndex(0)

    def _choose_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import prompt set", "", "Prompt sets (*.json)")
        if path:
            self.import_json(path)

    def _choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export prompt set", "prompts.json", "Prompt sets (*.json)")
        if path:
            self.export_json(path if path.lower().endswith(".json") else path + ".json")

    def _choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "MMLGNet model file", "",
                                              "MMLGNet models (*.safetensors *.mmlgnet);;All files (*)")
        if path:
            self.load_model_file(path)

    # --- encoding --------------------------------------------------------------------------
    def _encoding_inputs(self) -> tuple[PromptSet, str] | None:
        try:
            return self.prompt_set(), self.encoder_picker.spec()
        except (PromptError, ValueError) as exc:
            self.message_label.show_message(f"Cannot encode: {exc}", Qgis.MessageLevel.Critical)
            return None

    def start_encoding(self, encoder=None) -> EncodeTask | None:
        """Queue an EncodeTask on QGIS's task manager; the result arrives via encodingFinished.
        `encoder` (an object with .encode) skips building one from the picker (tests)."""
        if self._task is not None:
            self.message_label.show_message("Already encoding; cancel it first.", Qgis.MessageLevel.Warning)
            return None
        inputs = self._encoding_inputs()
        if inputs is None:
            return None
        prompt_set, spec = inputs
        task = EncodeTask(prompt_set, spec, encoder)
        json_text, names = prompt_set.to_json(), prompt_set.names
        task.progressChanged.connect(self._on_progress)
        task.encoded.connect(lambda emb: self._on_encoded(json_text, names, emb))
        task.failed.connect(self._on_encode_failed)
        self._task = task  # keep the Python wrapper alive while the manager runs it
        self._set_busy(True)
        self.message_label.show_message(f"Encoding {len(prompt_set.classes)} classes with {spec}\u2026",
                                        Qgis.MessageLevel.Info)
        QgsApplication.taskManager().addTask(task)
        return task

    def encode_now(self, encoder=None) -> np.ndarray | None:
        """Encode in the calling thread (scripts, tests); returns the (K, K) cosine matrix."""
        inputs = self._encoding_inputs()
        if inputs is None:
            return None
        prompt_set, spec = inputs
        try:
            emb = encode_prompt_set(prompt_set, spec, encoder)
        except Cancelled:
            return None
        except Exception as exc:  # shown in the dock like the task's failures
            self._on_encode_failed(f"Encoding failed: {exc}")
            return None
        return self._on_encoded(prompt_set.to_json(), prompt_set.names, emb)

    def cancel_encoding(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def shutdown(self) -> None:
        """Before the dock goes away: a running task must not call back into it."""
        task, self._task = self._task, None
        if task is not None:
            for signal in (task.encoded, task.failed, task.progressChanged):
                try:
                    signal.disconnect()
                except (TypeError, RuntimeError):
                    pass
            task.cancel()

    @property
    def is_encoding(self) -> bool:
        return self._task is not None

    @property
    def similarity(self) -> np.ndarray | None:
        return self.similarity_view.matrix

    @pyqtSlot(float)
    def _on_progress(self, value: float) -> None:  # queued from the worker thread
        self.progress_bar.setValue(int(value))

    def _on_encoded(self, json_text: str, names: list[str], embeddings) -> np.ndarray:
        self._task = None
        self._set_busy(False)
        self.progress_bar.setValue(100)
        self.embeddings = np.asarray(embeddings, dtype=np.float32)
        sim = cosine_matrix(self.embeddings)
        self.similarity_view.show_similarity(names, sim)
        self._encoded_json = json_text
        self._update_stale()
        self.message_label.show_message(
            f"Encoded {len(names)} classes ({self.embeddings.shape[1]}-d embeddings).",
            Qgis.MessageLevel.Warning if self.similarity_view.pairs else Qgis.MessageLevel.Success)
        self.encodingFinished.emit(sim)
        return sim

    def _on_encode_failed(self, message: str) -> None:
        self._task = None
        self._set_busy(False)
        self.progress_bar.setValue(0)
        self.message_label.show_message(message, Qgis.MessageLevel.Critical)

    def _set_busy(self, busy: bool) -> None:
        self.encode_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        if busy:
            self.progress_bar.setValue(0)

    # --- change handling -------------------------------------------------------------------
    def _on_edited(self, notify: bool = True) -> None:
        error, warnings = self.problems()
        empty = self.table.rowCount() == 0
        if empty:
            self.status_label.show_message(EMPTY_HINT, Qgis.MessageLevel.Info)
        elif error:
            self.status_label.show_message(f"Not usable yet: {error}", Qgis.MessageLevel.Critical)
        elif warnings:
            self.status_label.show_message("\u26a0 " + "\n\u26a0 ".join(warnings), Qgis.MessageLevel.Warning)
        else:
            ps = self.raw_prompt_set()
            n_prompts = sum(len(c.prompts) for c in ps.classes)
            self.status_label.show_message(
                f"{len(ps.classes)} classes, {n_prompts} prompts, {len(ps.templates)} templates.",
                Qgis.MessageLevel.Info)
        self._update_stale()
        if notify and (empty or not error):
            self.promptSetChanged.emit("" if empty else self.prompt_set().to_json())

    def _update_stale(self) -> None:
        if self.similarity_view.matrix is None:
            return
        try:
            current = self.prompt_set().to_json()
        except PromptError:
            current = None
        self.similarity_view.set_stale(current != self._encoded_json)


def _row(*widgets, stretch: bool = True) -> QHBoxLayout:
    row = QHBoxLayout()
    for w in widgets:
        row.addWidget(w)
    if stretch:
        row.addStretch(1)
    return row
