"""Drive every tab of a running `rnnkit lab` through gradio_client, with real inputs, and check the outputs make sense.

No --model is given, so each tab also exercises its fallback: a tiny model trained on the app's demo data.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytestmark = pytest.mark.slow

TEXT = ('He said "stay (a while) here" and left.\nShe wrote [one] line;\n'
        'then "another (longer) line" followed, and {more}.\n') * 3


@pytest.fixture(scope="module")
def client(lab_server):
    from gradio_client import Client

    return Client(lab_server.url, verbose=False)


def _rows(table):
    return table["data"]


def test_hidden_state_tab_finds_units_and_draws_every_character(client, lab_server):
    note, table, heat, _, _ = client.predict(TEXT, "", -1, 2, api_name="/hidden_state")
    assert "No textgen model was given" in note, note
    rows = _rows(table)
    features = {row[0] for row in rows}
    assert {"first_half_of_line", "inside_quotes", "inside_brackets"} <= features
    assert all(-1.0 <= row[2] <= 1.0 for row in rows)
    assert max(abs(row[2]) for row in rows) > 0.3  # 128 units over 300 characters: some unit follows some feature
    # one coloured span per character for each unit shown (the best unit of each feature, at most 4)
    spans = heat.count("<span")
    assert spans % len(TEXT) == 0 and 1 <= spans // len(TEXT) <= 4, (spans, len(TEXT))

    note, table, heat, _, _ = client.predict(TEXT, "h0:3, c0:5", 10, 1, api_name="/hidden_state")
    assert heat.count("<b>h0[3]</b>") == 1 and heat.count("<b>c0[5]</b>") == 1
    assert heat.count("<span") == 2 * len(TEXT)


def test_hidden_state_tab_reports_a_bad_unit_clearly(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="the model's states are h0, c0"):
        client.predict(TEXT, "x9:1", -1, 2, api_name="/hidden_state")


def test_generation_tab_cuts_the_distribution_as_asked(client):
    prime = "The value of "
    note, _, text, table = client.predict(prime, 1.0, 3, 1.0, 40, 5, api_name="/generation")
    assert "Kept 3 of" in note
    assert text.startswith(prime) and len(text) == len(prime) + 40
    rows = _rows(table)
    assert len(rows) == 3 and math.isclose(sum(row[3] for row in rows), 1.0, abs_tol=2e-3)
    assert [row[1] for row in rows] == sorted((row[1] for row in rows), reverse=True)

    # a low temperature sharpens: the top character gets more of the mass than at temperature 1
    _, _, _, sharp = client.predict(prime, 0.3, 0, 1.0, 20, 5, api_name="/generation")
    assert _rows(sharp)[0][2] > _rows(sharp)[0][1]
    # top-p keeps the smallest set reaching p: fewer characters at p = 0.5 than at p = 0.99
    note_half, *_ = client.predict(prime, 1.0, 0, 0.5, 20, 5, api_name="/generation")
    note_most, *_ = client.predict(prime, 1.0, 0, 0.99, 20, 5, api_name="/generation")

    def kept(note):
        return int(note.split("Kept ")[1].split(" ")[0])

    assert 1 <= kept(note_half) < kept(note_most)
    # the same seed and knobs give the same text
    again = client.predict(prime, 1.0, 3, 1.0, 40, 5, api_name="/generation")[2]
    assert again == text


def test_gradient_tab_measures_every_cell_and_caps_exploding_gradients(client):
    note, _, table = client.predict(["simple", "lstm", "gru"], 100, 1.0, "tanh", "default", 1.0, 32, "adding",
                                    api_name="/gradients")
    rows = _rows(table)
    assert [row[0] for row in rows] == ["SimpleRNN", "LSTM", "GRU"]
    for _, first, last, orders, weight_norm, clip in rows:
        assert 0 < first < last and orders > 1 and weight_norm > 0 and 0 < clip <= 1
    # an exploding setting: relu with the recurrent weights doubled grows the gradient backwards, clipping caps it
    _, _, table = client.predict(["simple"], 60, 2.0, "relu", "default", 1.0, 32, "adding", api_name="/gradients")
    (_, first, last, orders, weight_norm, clip), = _rows(table)
    assert first > 1e3 * last and orders < -3 and weight_norm > 1e3 and clip * weight_norm == pytest.approx(1.0, rel=1e-2)


def test_race_trains_each_cell_and_measures_it_after_training(client):
    note, _, table, _ = client.predict(["simple", "gru"], "copy", 20, 3, 0.01, 1.0, 16, api_name="/race")
    rows = _rows(table)
    assert [row[0] for row in rows] == ["SimpleRNN", "GRU"]
    for _, steps, seconds, val_loss, vs_baseline, after in rows:
        assert steps > 0 and 2.5 <= seconds < 30 and val_loss > 0 and vs_baseline > 0 and after > 0
    assert "copy task at length 20" in note


def test_sentiment_attention_weights_words(client):
    review = "An absolutely wonderful film with a moving story and brilliant acting."
    note, words_html, table = client.predict(review, api_name="/sentiment_attention")
    assert "P(positive)" in note
    rows = _rows(table)
    assert 1 <= len(rows) <= 8 and all(0.0 <= row[1] <= 1.0 for row in rows)
    assert [row[1] for row in rows] == sorted((row[1] for row in rows), reverse=True)
    assert words_html.count("<span") == len(review.split())


def test_caption_attention_on_an_uploaded_photo(client, tmp_path):
    from gradio_client import handle_file
    from PIL import Image, ImageDraw

    photo = Image.new("RGB", (160, 120), (235, 235, 235))
    ImageDraw.Draw(photo).ellipse((20, 20, 80, 80), fill=(200, 30, 30))
    photo.save(tmp_path / "photo.png")
    note, gallery, table = client.predict(handle_file(str(tmp_path / "photo.png")), 1, api_name="/caption_attention")
    caption = note.split("**")[-2]
    # The fallback model trains for seconds, and some of its runs end at once: the page then says
    # so, and the table still holds the <end> step.
    words = [] if caption == "(empty caption)" else caption.split()
    rows = _rows(table)
    assert rows[-1][0] == "<end>" and [row[0] for row in rows[:-1]] == words
    assert len(gallery) == len(rows)
    assert all(0.0 < row[2] <= 1.0 for row in rows)  # a peak of a softmax over the grid


def test_speech_attention_on_an_uploaded_wav(client, tmp_path):
    from gradio_client import handle_file

    from rnnkit.data.audio import encode_wav

    rate = 16000
    t = np.arange(int(0.6 * rate)) / rate
    sweep = 0.5 * np.sin(2 * np.pi * (300 + 900 * t / t[-1]) * t)
    (tmp_path / "sweep.wav").write_bytes(encode_wav(sweep.astype(np.float32), rate))
    note, _, table = client.predict(handle_file(str(tmp_path / "sweep.wav")), api_name="/speech_attention")
    rows = _rows(table)
    assert len(rows) == 3 and [row[1] for row in rows] == sorted((row[1] for row in rows), reverse=True)
    assert 0.0 < sum(row[1] for row in rows) <= 1.0 + 1e-3
    assert "No speech model was given" in note

    note, _, table = client.predict(None, api_name="/speech_attention")  # no upload: a demo clip
    assert "from the demo set" in note and len(_rows(table)) == 3


def test_forecast_window_moves_with_the_lookback(client):
    from rnnkit.lab.models import installed_apps

    if "forecast" not in installed_apps():
        pytest.skip("the forecast app is not installed")
    note, _, table = client.predict(0.5, 0, api_name="/forecast")
    rows = _rows(table)
    assert "No forecast model was given" in note and "mean absolute error on this window" in note
    assert [row[0] for row in rows] == list(range(1, len(rows) + 1)) and len(rows) == 12
    for _, forecast, low, high, actual in rows:
        assert all(math.isfinite(value) for value in (forecast, low, high, actual))
        assert low <= high
    _, _, short = client.predict(0.5, 8, api_name="/forecast")  # the same window, only the last 8 steps shown
    assert [row[4] for row in _rows(short)] == [row[4] for row in rows]  # what happened is the same
    assert any(abs(a[1] - b[1]) > 1e-6 for a, b in zip(_rows(short), rows, strict=True))  # the forecast moved
