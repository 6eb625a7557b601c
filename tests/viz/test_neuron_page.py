"""``rnnkit viz neurons``: the text properties agree with hand labels, the activations with the model run
by hand, the rankings with numpy's correlations, and the page works in a real browser (headless Chromium)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.data import CorpusConfig
from rnnkit.tasks import language_modeling as lm
from rnnkit.training import CheckpointError, TrainConfig
from rnnkit.viz import NeuronConfig, neuron_activations, span_search, text_properties, write_page
from rnnkit.viz.neurons import correlations

TEXT = "".join(f"def f{i % 7}(x):\n    return g(x, '{i % 10}') + [y]  # it's\n" for i in range(60))
ARTEFACTS = Path(os.environ.get("RNNKIT_TEST_ARTEFACTS", Path(__file__).parents[2] / "test-artefacts"))


def labels(text: str, name: str) -> str:
    return "".join(str(int(v)) for v in text_properties(text)[name])


@pytest.mark.parametrize("text, expected", [
    ('a = "x(y"\n', "0000111110"),                       # quotes included; a bracket in a string is not counted
    ("s = 'it\\'s'\n", "000011111110"),                   # an escaped quote does not close the string
    ("# don't\nb = 'q'\n", "0000000000001110"),        # a quote in a comment opens nothing
    ('"""a\nb"""\nc\n', "11111111100" + "0"),            # a triple-quoted string spans lines, delimiters included
    ("x = 'open\ny = 1\n", "00001111100000000"),          # an unterminated one-line string ends with its line
])
def test_in_string_agrees_with_hand_labels(text, expected):
    assert labels(text, "in_string") == expected[:len(text)]


def test_bracket_depth_indentation_position_and_line_ends_agree_with_hand_labels():
    text = "f(a[1], {2})\n\tif x:\n  y = ')'\n"
    assert labels(text, "bracket_depth") == "0112211122100" + "0" * 7 + "0" * 10   # ')' in a string: not counted
    assert labels(text, "indentation") == "0" * 13 + "8" * 7 + "2" * 10
    assert text_properties(text)["line_position"].tolist() == [*range(13), *range(7), *range(10)]
    assert labels(text, "end_of_line") == "0" * 12 + "1" + "0" * 6 + "1" + "0" * 9 + "1"
    assert labels(")))(\n", "bracket_depth") == "00011"     # unmatched closers leave 0


def test_correlations_are_pearsons_r_and_zero_for_constants():
    rng = np.random.default_rng(0)
    activations = rng.normal(size=(50, 4))
    activations[:, 3] = 0.7                               # a constant neuron
    values = activations[:, 0] * 2 + rng.normal(size=50) * 0.1
    r = correlations(activations, values)
    for n in range(3):
        assert r[n] == pytest.approx(np.corrcoef(activations[:, n], values)[0, 1], abs=1e-12)
    assert r[3] == 0.0 and r[0] > 0.99
    assert not correlations(activations, np.ones(50)).any()


def test_span_search_finds_the_neuron_that_is_on_only_in_the_span():
    rng = np.random.default_rng(1)
    activations = rng.normal(size=(40, 6)) * 0.1
    activations[10:14, 4] += 3.0                          # neuron 4 fires in [10, 14) only
    activations[:, 2] += 3.0                              # neuron 2 is on everywhere: not specific
    ranked = span_search(activations, 10, 14, top=3)
    assert ranked[0][0] == 4 and ranked[0][1] > 2
    assert all(score <= ranked[0][1] for _, score in ranked)
    for bad in [(5, 5), (-1, 3), (0, 41), (0, 40)]:
        with pytest.raises(ValueError):
            span_search(activations, *bad)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("neurons")
    (root / "code.py").write_text(TEXT)
    lm.train(root / "run", CorpusConfig(path=str(root / "code.py")),
             {"hidden_size": 8, "num_layers": 2, "cell": "lstm"},
             train_config=TrainConfig(steps=20, batch_size=4, seq_len=16, val_tokens=200))
    return root / "run"


@pytest.fixture(scope="module")
def result(run_dir):
    return neuron_activations(NeuronConfig(str(run_dir), str(run_dir.parent / "code.py"), length=600, top=4))


def test_activations_are_every_layers_h_and_c_of_the_model_run_by_hand(run_dir, result):
    model, tokenizer, _ = lm.load_run(run_dir)
    tokens = torch.as_tensor(tokenizer.encode(TEXT[:600])).unsqueeze(1)
    with torch.no_grad():
        x = model.embedding(tokens)
        layer0 = torch.nn.LSTM(8, 8, num_layers=2)
        layer0.load_state_dict({k: v for k, v in model.rnn.state_dict().items()})
        output, _ = layer0(x)
        logits, _ = model(tokens)
    assert result.activations.shape == (600, 2 * 2 * 8)
    assert result.names[:2] == ["L0.h[0]", "L0.h[1]"] and result.names[-1] == "L1.c[7]"
    top_h = result.activations[:, result.names.index("L1.h[0]"):][:, :8]
    np.testing.assert_allclose(top_h, output[:, 0].numpy(), atol=1e-5)
    # The first prediction is the model's most likely next character, with its probability.
    probabilities = torch.softmax(logits[:, 0], -1)
    for t in (0, 100, 599):
        character, p = result.predictions[t][0]
        assert character == tokenizer.decode([int(probabilities[t].argmax())])
        assert p == pytest.approx(float(probabilities[t].max()), abs=1e-4)


def test_trackers_are_ranked_by_the_absolute_correlation(result):
    assert set(result.trackers) == {"in_string", "bracket_depth", "indentation", "line_position", "end_of_line"}
    for prop, trackers in result.trackers.items():
        assert len(trackers) == 4
        r = [abs(t.correlation) for t in trackers]
        assert r == sorted(r, reverse=True)
        every = np.abs(correlations(result.activations, result.properties[prop]))
        assert r[0] == pytest.approx(every.max())
        assert trackers[0].correlation == pytest.approx(
            np.corrcoef(result.activations[:, trackers[0].index], result.properties[prop])[0, 1])
    assert json.loads(result.to_json())["neurons"] == 32


def test_word_level_and_other_runs_and_bad_texts_are_refused(tmp_path, run_dir):
    (tmp_path / "words.txt").write_text("the cat sat on the mat\n" * 30)
    lm.train(tmp_path / "words", CorpusConfig(path=str(tmp_path / "words.txt"), tokens="word"),
             {"hidden_size": 4}, train_config=TrainConfig(steps=1, batch_size=2, seq_len=4, val_tokens=20))
    with pytest.raises(ValueError, match="word-level"):
        neuron_activations(NeuronConfig(str(tmp_path / "words"), str(tmp_path / "words.txt")))
    with pytest.raises(CheckpointError):
        neuron_activations(NeuronConfig(str(tmp_path), str(tmp_path / "words.txt")))
    with pytest.raises(ValueError, match="does not exist"):
        neuron_activations(NeuronConfig(str(run_dir), str(tmp_path / "missing.txt")))
    (tmp_path / "one.txt").write_text("x")
    with pytest.raises(ValueError, match="at least 2"):
        neuron_activations(NeuronConfig(str(run_dir), str(tmp_path / "one.txt")))
    with pytest.raises(ValueError, match="length"):
        NeuronConfig(str(run_dir), "x", length=1)


def test_the_command_prints_the_trackers_and_writes_the_page(run_dir, tmp_path, capsys):
    page, record = tmp_path / "page.html", tmp_path / "neurons.json"
    code = main(["viz", "neurons", str(run_dir), "--text", str(run_dir.parent / "code.py"), "--length", "300",
                 "--out", str(page), "--json", str(record), "--threads", "1"])
    out = capsys.readouterr().out
    assert code == 0 and page.is_file()
    assert "in_string" in out and "indentation" in out and "r = " in out
    assert json.loads(record.read_text())["characters"] == 300
    assert "<script" in page.read_text() and "http" not in page.read_text().split("<script")[1][:200]
    assert main(["viz", "neurons", str(tmp_path), "--text", str(page)]) == 2
    assert "error" in capsys.readouterr().err


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def test_the_page_works_in_headless_chromium(result, tmp_path):
    browser_path = _browser()
    if browser_path is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium package where it can)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
    page_path = write_page(result, tmp_path / "neurons.html")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto(page_path.as_uri())
            assert page.inner_text("#text").replace("\n", "") == result.text[:600].replace("\n", "")
            # Colours follow the shown neuron: its most and least active characters differ.
            neuron = int(page.input_value("#neuron"))
            column = result.activations[:, neuron]
            high, low = int(column.argmax()), int(column.argmin())
            colour = "(t) => document.querySelectorAll('#text span')[t].style.backgroundColor"
            assert page.evaluate(colour, high) != page.evaluate(colour, low)
            before = page.eval_on_selector_all("#text span", "spans => spans.map(s => s.style.backgroundColor)")
            other = (neuron + 5) % len(result.names)
            page.select_option("#neuron", str(other))
            after = page.eval_on_selector_all("#text span", "spans => spans.map(s => s.style.backgroundColor)")
            assert after != before
            # A span selected with the mouse lists the neurons that span_search ranks first.
            start, end = 40, 60
            page.evaluate("""([start, end]) => {
                const spans = document.querySelectorAll('#text span'), range = document.createRange();
                range.setStart(spans[start].firstChild, 0); range.setEnd(spans[end - 1].firstChild, 1);
                const selection = window.getSelection(); selection.removeAllRanges(); selection.addRange(range);
                document.getElementById('text').dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
            }""", [start, end])
            listed = page.eval_on_selector_all("#span li", "items => items.map(li => Number(li.dataset.neuron))")
            expected = [n for n, _ in span_search(result.activations, start, end, top=10)]
            assert listed[:3] == expected[:3]
            # Clicking a tracker shows its neuron.
            page.click("ol.tracker li >> nth=0")
            assert int(page.input_value("#neuron")) == result.trackers["in_string"][0].index
            page.hover("#text span >> nth=12")
            assert "next:" in page.inner_text("#tip")
            ARTEFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTEFACTS / "neuron-page.png"))
        finally:
            browser.close()
    assert (ARTEFACTS / "neuron-page.png").stat().st_size > 10_000
