r"""Neuron activations over a text, and the neurons that track properties of it.

Karpathy, Johnson & Fei-Fei 2015, "Visualizing and Understanding Recurrent Networks", section 4.2:
a character-level LSTM trained on source code grows cells that are interpretable on their own — one
turns on inside quotes, one counts indentation, one follows the position in the line. Their method
is to look: colour the text by a cell's value. This module does that for any character-level run,
and ranks every neuron against properties computed from the text, so the interpretable ones are
found rather than hunted for.

For a text x_1 … x_T the model reads it as one sequence from a zero state (eval mode: no dropout)
and records, through :meth:`rnnkit.Recurrent.trace`, every layer's h_t (and c_t for the LSTM family)
after reading x_t, together with the model's distribution over x_{t+1}. Each property p_t of the
text (below) is compared with each neuron's activation a_t by Pearson's correlation

    r(a, p) = Σ_t (a_t − ā)(p_t − p̄) / √(Σ_t (a_t − ā)² · Σ_t (p_t − p̄)²),

and the neurons with the largest |r| are listed per property (a neuron that is constant over the
text, or a property that is, has r = 0).

Properties (:func:`text_properties`; a Python-like reading of the characters, computed once):

- ``in_string``: 1 from a string's opening quote to its closing quote, both included (single, double
  and triple quotes of either kind; a backslash escapes the next character; quotes inside a ``#`` comment open nothing), else 0;
- ``bracket_depth``: how many of (, [, { are open after the character (an opener counts itself, a
  closer does not; brackets in strings and comments are ignored; an unmatched closer leaves 0);
- ``indentation``: the width of the leading whitespace of the character's line (a tab moves to the
  next multiple of 8 columns, as Python's tokenizer counts it);
- ``line_position``: the character's column in its line (0 for the first);
- ``end_of_line``: 1 for a newline, else 0.

:func:`span_search` is LSTMVis's pattern search (Strobelt et al. 2018), without its server: for a
span of the text, the neurons whose mean activation inside the span most exceeds their mean outside,
in units of their standard deviation over the text. The HTML page runs the same computation in the
browser when text is selected.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..tasks.language_modeling import load_run

PROPERTIES = ("in_string", "bracket_depth", "indentation", "line_position", "end_of_line")
DEFAULT_LENGTH = 2000          # characters of the text read by default
TOP_PREDICTIONS = 5            # next-character predictions shown on hover
OPENERS, CLOSERS = "([{", ")]}"


@dataclass(frozen=True)
class NeuronConfig:
    run_dir: str                  # a character-level language-model run (`rnnkit train lm`)
    text: str                     # the text file to read
    length: int = DEFAULT_LENGTH  # read at most this many characters of it
    encoding: str = "utf-8"       # the text file's encoding
    top: int = 10                 # neurons listed per property

    def __post_init__(self) -> None:
        if self.length < 2:
            raise ValueError(f"length must be at least 2 characters, got {self.length}")
        if self.top < 1:
            raise ValueError(f"top must be at least 1 neuron, got {self.top}")


@dataclass(frozen=True)
class Tracker:
    """A neuron ranked against a property: its name, index (a column of ``activations``) and r."""

    property: str
    neuron: str
    index: int
    correlation: float


@dataclass
class NeuronActivations:
    config: NeuronConfig
    cell: str
    text: str                     # the characters read (x_1 … x_T)
    names: list[str]              # one per neuron: "L0.h[5]", "L1.c[12]", …
    activations: np.ndarray       # (T, N) float32: column n is neuron names[n] after reading x_t
    predictions: list[list[tuple[str, float]]]   # per step, the TOP_PREDICTIONS most likely next characters
    properties: dict[str, np.ndarray] = field(default_factory=dict)   # name → (T,) values
    trackers: dict[str, list[Tracker]] = field(default_factory=dict)  # property → best neurons by |r|

    def correlation(self, prop: str, neuron: str) -> float:
        return float(correlations(self.activations, self.properties[prop])[self.names.index(neuron)])

    def to_json(self) -> str:
        """The configuration and the ranked trackers of every property (not the activations)."""
        record = {
            "config": self.config.__dict__, "cell": self.cell, "characters": len(self.text),
            "neurons": len(self.names),
            "trackers": {prop: [tracker.__dict__ for tracker in trackers] for prop, trackers in self.trackers.items()},
        }
        return json.dumps(record, indent=2) + "\n"


def text_properties(text: str) -> dict[str, np.ndarray]:
    """The properties of the module docstring, one value per character of ``text``."""
    size = len(text)
    in_string = np.zeros(size)
    depth = np.zeros(size)
    indentation = np.zeros(size)
    position = np.zeros(size)
    end_of_line = np.zeros(size)
    quote: str | None = None          # the delimiter of the open string
    comment = escaped = False
    open_brackets = 0
    i = 0
    while i < size:
        char, width, inside = text[i], 1, quote is not None   # width: characters labelled this step
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif text.startswith(quote, i):
                width, quote = len(quote), None
            elif char == "\n" and len(quote) == 1:        # an unterminated one-line string ends with its line
                quote, inside = None, False
        elif comment:
            comment = char != "\n"
        elif char == "#":
            comment = True
        elif char in "'\"":
            quote = char * 3 if text.startswith(char * 3, i) else char
            width, inside = len(quote), True
        elif char in OPENERS:
            open_brackets += 1
        elif char in CLOSERS:
            open_brackets = max(open_brackets - 1, 0)
        in_string[i: i + width] = inside
        depth[i: i + width] = open_brackets
        i += width
    line_start = 0
    for i, char in enumerate(text):
        if i == line_start:
            indent = _indent_width(text, i)
        indentation[i] = indent
        position[i] = i - line_start
        if char == "\n":
            end_of_line[i] = 1
            line_start = i + 1
    return {"in_string": in_string, "bracket_depth": depth, "indentation": indentation,
            "line_position": position, "end_of_line": end_of_line}


def _indent_width(text: str, start: int) -> int:
    """Columns of leading whitespace of the line that starts at ``start`` (tabs to multiples of 8)."""
    column = 0
    for char in text[start:]:
        if char == " ":
            column += 1
        elif char == "\t":
            column = column // 8 * 8 + 8
        else:
            break
    return column


def correlations(activations: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Pearson's r of each column of ``activations`` (T, N) with ``values`` (T,); 0 where either is constant."""
    a = activations.astype(np.float64) - activations.mean(0, dtype=np.float64)
    p = values.astype(np.float64) - values.mean()
    denominator = np.sqrt((a * a).sum(0) * (p * p).sum())
    numerator = p @ a
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 1e-12)


def span_search(activations: np.ndarray, start: int, end: int, top: int = 10) -> list[tuple[int, float]]:
    """Neurons on in characters [start, end) and off elsewhere: (column, score), best first.

    score_n = (mean of a_n inside − mean outside) / std of a_n over the whole text (0 for a constant
    neuron). The page's selection search computes the same numbers in JavaScript.
    """
    steps = activations.shape[0]
    if not 0 <= start < end <= steps:
        raise ValueError(f"span [{start}, {end}) must lie within the text's {steps} characters and be non-empty")
    if end - start == steps:
        raise ValueError("the span covers the whole text: there is no 'elsewhere' to compare it with")
    values = activations.astype(np.float64)
    inside = values[start:end].mean(0)
    outside = (values.sum(0) - values[start:end].sum(0)) / (steps - (end - start))
    spread = values.std(0)
    scores = np.divide(inside - outside, spread, out=np.zeros_like(spread), where=spread > 1e-12)
    order = np.argsort(-scores, kind="stable")[:top]
    return [(int(n), float(scores[n])) for n in order]


def neuron_activations(config: NeuronConfig) -> NeuronActivations:
    """Activations, next-character predictions, properties and ranked trackers of a run over a text.

    Raises :class:`rnnkit.training.CheckpointError` for a directory that is not a language-model run,
    and ``ValueError`` for a word-level run or a text of fewer than 2 characters.
    """
    model, tokenizer, _ = load_run(config.run_dir)
    if tokenizer.kind != "char":
        raise ValueError(f"{config.run_dir} is a word-level run; neuron pages colour characters and need a "
                         f"character-level language model (rnnkit train lm --tokens char)")
    path = Path(config.text)
    if not path.is_file():
        raise ValueError(f"text file {path} does not exist" if not path.exists() else f"{path} is not a file")
    text = path.read_text(encoding=config.encoding)[: config.length]
    if len(text) < 2:
        raise ValueError(f"{path} holds {len(text)} character(s); a neuron page needs at least 2")
    device = next(model.parameters()).device
    tokens = torch.as_tensor(tokenizer.encode(text), device=device).unsqueeze(1)          # (T, 1)
    with torch.no_grad():
        x = model.embedding(tokens) if model.embedding is not None else model._embed(tokens)
        trace = model.rnn.trace(x)
        hidden, _ = model.hidden(tokens)
        probabilities = torch.softmax(model.logits(hidden).float(), dim=-1)[:, 0]         # (T, V)
    columns, names = [], []
    for layer, states in enumerate(trace.states):
        for kind in ("h", "c"):
            if kind in states:
                values = states[kind][:, 0].float().cpu()                                   # (T, D·H)
                columns.append(values)
                names += [f"L{layer}.{kind}[{unit}]" for unit in range(values.size(1))]
    activations = torch.cat(columns, dim=1).numpy()
    best = probabilities.topk(min(TOP_PREDICTIONS, probabilities.size(1)), dim=-1)
    predictions = [[(tokenizer.decode([int(index)]), round(float(p), 4)) for p, index in zip(ps, indices)]
                   for ps, indices in zip(best.values.cpu(), best.indices.cpu())]
    result = NeuronActivations(config, model.rnn.cell_name, text, names, activations, predictions)
    result.properties = text_properties(text)
    for prop, values in result.properties.items():
        r = correlations(activations, values)
        order = np.argsort(-np.abs(r), kind="stable")[: config.top]
        result.trackers[prop] = [Tracker(prop, names[n], int(n), float(r[n])) for n in order]
    return result


def _quantised(activations: np.ndarray) -> tuple[str, list[float]]:
    """Each neuron as int8 codes of a / scale_n (scale_n its largest |a|), base64: the page's payload."""
    scale = np.abs(activations).max(0)
    scale = np.where(scale > 0, scale, 1.0)
    codes = np.clip(np.round(activations / scale * 127), -127, 127).astype(np.int8)
    # Neuron-major, so that the page reads one neuron's T codes contiguously.
    return base64.b64encode(np.ascontiguousarray(codes.T).tobytes()).decode("ascii"), scale.astype(float).tolist()


def write_page(result: NeuronActivations, path: str | Path) -> Path:
    """One self-contained HTML page (no network): the text coloured by a chosen neuron, predictions on
    hover, the ranked trackers per property, and the neurons of a selected span."""
    codes, scales = _quantised(result.activations)
    payload = {
        "text": list(result.text), "names": result.names, "codes": codes, "scales": scales,
        "predictions": result.predictions,
        "trackers": {prop: [[t.neuron, t.index, round(t.correlation, 3)] for t in trackers]
                     for prop, trackers in result.trackers.items()},
        "initial": next(iter(result.trackers.values()))[0].index if result.trackers else 0,
    }
    title = f"rnnkit neurons: {result.cell}, {Path(result.config.run_dir).name}"
    page = _PAGE.replace("{{TITLE}}", html.escape(title)).replace(
        "{{DATA}}", json.dumps(payload, separators=(",", ":")).replace("</", "<\\/"))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{TITLE}}</title>
<style>
body { font-family: sans-serif; margin: 1em 2em; color: #222; }
#layout { display: flex; gap: 2em; align-items: flex-start; }
#text { font-family: monospace; white-space: pre-wrap; line-height: 1.45; flex: 3; border: 1px solid #ccc;
        padding: 0.6em; max-height: 80vh; overflow: auto; }
#text span { border-radius: 2px; }
#side { flex: 1; min-width: 18em; font-size: 0.9em; }
#side h3 { margin: 0.8em 0 0.2em; font-size: 1em; }
#side li { cursor: pointer; } #side li:hover { text-decoration: underline; }
#tip { position: fixed; background: #fff; border: 1px solid #888; padding: 0.3em 0.5em; font: 12px monospace;
       display: none; pointer-events: none; white-space: pre; }
.legend { font-size: 0.85em; color: #555; }
</style></head><body>
<h2>{{TITLE}}</h2>
<p>Neuron <select id="neuron"></select> <span id="value"></span>
<span class="legend">blue: negative, red: positive; hover a character for the next-character predictions;
select some text to find the neurons that are on there and off elsewhere.</span></p>
<div id="layout"><div id="text"></div>
<div id="side"><h3>Selected span</h3><ol id="span"><li>select text on the left</li></ol>
<div id="trackers"></div></div></div>
<div id="tip"></div>
<script id="data" type="application/json">{{DATA}}</script>
<script>
const D = JSON.parse(document.getElementById("data").textContent);
const T = D.text.length, N = D.names.length;
const raw = Uint8Array.from(atob(D.codes), c => c.charCodeAt(0));
const codes = new Int8Array(raw.buffer);
function value(n, t) { return codes[n * T + t] / 127 * D.scales[n]; }
const select = document.getElementById("neuron"), box = document.getElementById("text");
D.names.forEach((name, n) => { const o = document.createElement("option"); o.value = n; o.textContent = name;
  select.appendChild(o); });
const spans = D.text.map((ch, t) => { const s = document.createElement("span"); s.dataset.t = t;
  s.textContent = ch; box.appendChild(s); return s; });
function colour(v) {      // v in [-1, 1]: white at 0, red for positive, blue for negative
  const a = Math.min(Math.abs(v), 1), c = Math.round(255 * (1 - a));
  return v >= 0 ? `rgb(255, ${c}, ${c})` : `rgb(${c}, ${c}, 255)`;
}
function show(n) {
  select.value = n;
  for (let t = 0; t < T; t++) spans[t].style.backgroundColor = colour(codes[n * T + t] / 127);
  document.getElementById("value").textContent = `(largest |value| ${D.scales[n].toFixed(3)})`;
}
select.addEventListener("change", () => show(Number(select.value)));
function item(list, label, n) { const li = document.createElement("li"); li.textContent = label;
  li.dataset.neuron = n; li.addEventListener("click", () => show(n)); list.appendChild(li); }
const trackers = document.getElementById("trackers");
for (const [prop, rows] of Object.entries(D.trackers)) {
  const h = document.createElement("h3"); h.textContent = `tracks ${prop.replace(/_/g, " ")} (Pearson r)`;
  trackers.appendChild(h); const ol = document.createElement("ol"); ol.className = "tracker";
  ol.dataset.property = prop; trackers.appendChild(ol);
  rows.forEach(([name, n, r]) => item(ol, `${name}  r = ${r.toFixed(3)}`, n));
}
function spanSearch(start, end, top) {      // as rnnkit.viz.neurons.span_search
  const results = [];
  for (let n = 0; n < N; n++) {
    let sum = 0, sq = 0, inside = 0;
    for (let t = 0; t < T; t++) { const v = value(n, t); sum += v; sq += v * v; if (t >= start && t < end) inside += v; }
    const mean = sum / T, std = Math.sqrt(Math.max(sq / T - mean * mean, 0));
    const out = (sum - inside) / (T - (end - start));
    results.push([n, std > 1e-12 ? (inside / (end - start) - out) / std : 0]);
  }
  results.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  return results.slice(0, top);
}
function selected() {
  const sel = window.getSelection(); if (!sel.rangeCount || sel.isCollapsed) return null;
  const ts = spans.filter(s => sel.containsNode(s, true)).map(s => Number(s.dataset.t));
  return ts.length ? [Math.min(...ts), Math.max(...ts) + 1] : null;
}
box.addEventListener("mouseup", () => {
  const range = selected(); if (!range || range[1] - range[0] >= T) return;
  const list = document.getElementById("span"); list.innerHTML = "";
  list.dataset.start = range[0]; list.dataset.end = range[1];
  spanSearch(range[0], range[1], 10).forEach(([n, score]) => item(list, `${D.names[n]}  ${score.toFixed(2)} σ`, n));
});
const tip = document.getElementById("tip");
box.addEventListener("mousemove", e => {
  const t = e.target.dataset ? e.target.dataset.t : undefined; if (t === undefined) { tip.style.display = "none"; return; }
  const n = Number(select.value);
  tip.textContent = `${D.names[n]} = ${value(n, Number(t)).toFixed(3)}\\nnext:\\n` +
    D.predictions[t].map(([ch, p]) => `${JSON.stringify(ch)}  ${(100 * p).toFixed(1)}%`).join("\\n");
  tip.style.left = (e.clientX + 14) + "px"; tip.style.top = (e.clientY + 14) + "px"; tip.style.display = "block";
});
box.addEventListener("mouseleave", () => { tip.style.display = "none"; });
show(D.initial);
</script></body></html>
"""
