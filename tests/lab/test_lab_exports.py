"""The lab reads an exported textgen model (its TFLite step model) exactly as it reads the run it came from."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_export_and_run_give_the_same_states_and_distributions(lab_server, tmp_path):
    from apps.textgen.export import export
    from rnnkit.lab.models import ModelStore, classify
    from rnnkit.lab.textgen import load_text_model

    run = ModelStore([], lab_server.cache).get("textgen")  # the fallback the server trained (or trains it)
    written = export(run.path, tmp_path, verify_steps=20)
    exported = classify(written["saved_model"])
    assert (exported.app, exported.kind) == ("textgen", "export")
    text = 'The "list" (of items) is\nreturned.\n'
    from_run, from_export = load_text_model(run).read(text), load_text_model(exported).read(text)
    assert from_run.text == from_export.text == text
    assert set(from_run.states) == set(from_export.states) == {"h0", "c0"}
    for name in from_run.states:
        np.testing.assert_allclose(from_export.states[name], from_run.states[name], atol=1e-4)
    np.testing.assert_allclose(from_export.probs, from_run.probs, atol=1e-4)
    # generation through the export's own serving signature: the prime plus exactly `length` characters
    continuation = load_text_model(exported).generate("The ", 30, 0.8, 5, 0.9, 3)
    assert len(continuation) == 30 and set(continuation) <= set(load_text_model(exported).chars)
