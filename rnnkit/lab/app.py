"""The lab's page: one Gradio tab per topic, each event also an API endpoint (gradio_client).

`Lab` holds the logic (plain Python in and out, easy to test); `build(lab)` lays out the page
and wires every control to it. Nothing heavy is imported until a tab is used, so the page is up
in a few seconds; a tab without a given model trains its fallback on first use.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time

import numpy as np

from rnnkit.lab import figures
from rnnkit.lab.models import ModelStore, installed_apps

DEFAULT_PASSAGE = (
    'KING HENRY:\nOnce more unto the breach, dear friends, once more;\nOr close the wall up with our English dead.\n\n'
    'The report (a short one) said: "the parser returns a list [of tokens], or None".\n'
    'Call it as f(x, y) and read "the value" back; {keys: values} stay (untouched).\n'
)
USER_ERRORS = (ValueError, FileNotFoundError, KeyError)


def _user_errors(function):
    """Show a user error (bad input, missing file) as a message on the page instead of a traceback."""

    def shown(error):
        import gradio as gr

        return gr.Error(str(error))

    if inspect.isgeneratorfunction(function):  # Gradio streams a generator's outputs; keep it one
        @functools.wraps(function)
        def streaming(*args, **kwargs):
            try:
                yield from function(*args, **kwargs)
            except USER_ERRORS as error:
                raise shown(error) from None

        return streaming

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except USER_ERRORS as error:
            raise shown(error) from None

    return wrapper


def _parse_units(spec: str, state_names: list[str], units: dict[str, int]) -> list[tuple[str, int]]:
    """"h0:12, c1:40" -> [("h0", 12), ("c1", 40)]; a bare number means the first state."""
    chosen = []
    for item in (piece.strip() for piece in spec.replace(";", ",").split(",")):
        if not item:
            continue
        name, _, number = item.rpartition(":")
        name = name.strip() or state_names[0]
        if name not in state_names:
            raise ValueError(f"unit {item!r}: the model's states are {', '.join(state_names)}")
        try:
            index = int(number)
        except ValueError:
            raise ValueError(f"unit {item!r}: write STATE:INDEX, e.g. {state_names[0]}:12") from None
        if not 0 <= index < units[name]:
            raise ValueError(f"unit {item!r}: {name} has units 0..{units[name] - 1}")
        chosen.append((name, index))
    return chosen


class Lab:
    def __init__(self, store: ModelStore):
        self.store = store
        self._text_models: dict = {}
        self._text_lock = threading.Lock()

    # -- textgen ------------------------------------------------------------------------

    def text_model(self):
        from rnnkit.lab.textgen import load_text_model

        ref = self.store.get("textgen")
        with self._text_lock:
            if ref.path not in self._text_models:
                self._text_models[ref.path] = load_text_model(ref)
        return ref, self._text_models[ref.path]

    def default_passage(self) -> str:
        from rnnkit.lab.textgen import sample_passage

        if "textgen" not in self.store.given:
            return DEFAULT_PASSAGE
        return sample_passage(self.store.given["textgen"]) or DEFAULT_PASSAGE

    def hidden_state(self, text: str, units_spec: str = "", position: int = -1, per_feature: int = 3):
        """Table of the units that best track each feature, the heat map of chosen units and a next-char plot."""
        from rnnkit.lab import hidden

        if not text or not text.strip():
            raise ValueError("type or paste some text first")
        ref, model = self.text_model()
        reading = model.read(text)
        features = hidden.text_features(reading.text)
        matches = hidden.top_units(reading.states, features, int(per_feature))
        table = [[match.feature, match.label, round(match.r, 4)] for match in matches]
        sizes = {name: values.shape[1] for name, values in reading.states.items()}
        chosen = _parse_units(units_spec or "", list(reading.states), sizes)
        if not chosen:  # the best unit of each feature
            seen = []
            for match in matches:
                if (match.state, match.unit) not in seen:
                    seen.append((match.state, match.unit))
            chosen = seen[:4]
        rows = [(f"{name}[{unit}]", reading.states[name][:, unit]) for name, unit in chosen]
        position = int(position)
        if not -len(reading.text) <= position < len(reading.text):
            raise ValueError(f"position must be in -{len(reading.text)}..{len(reading.text) - 1}")
        probabilities = reading.probs[position]
        context = reading.text[: position % len(reading.text) + 1]
        surprise = -np.log(np.maximum(reading.probs[np.arange(len(reading.ids) - 1), reading.ids[1:]], 1e-12))
        note = (f"{ref.note()}  \n{model.description}; read {len(reading.text):,} characters, "
                f"mean loss {surprise.mean():.3f} nats/char. Colour: red positive, blue negative.")
        return (note, table, hidden.heat_html(reading.text, rows),
                figures.next_char(model.chars, probabilities, context), figures.unit_traces(reading.text, rows))

    def generation(self, prime: str, temperature: float, top_k: int, top_p: float, length: int, seed: int):
        """The cut distribution after `prime` and a continuation sampled with exactly those knobs."""
        from rnnkit.sampling import filter_logits

        ref, model = self.text_model()
        if not 0.0 < float(top_p) <= 1.0:
            raise ValueError(f"top-p must be in (0, 1], not {top_p}")
        if int(top_k) < 0:
            raise ValueError(f"top-k must be 0 (off) or positive, not {top_k}")
        logits = model.next_logits(prime or "")
        original = _softmax(logits)
        temperature = float(temperature)
        scaled = logits / max(temperature, 1e-6)
        if temperature <= 0:  # greedy: only the most likely character is ever drawn
            kept = np.zeros(len(logits), bool)
            kept[int(np.argmax(logits))] = True
            tempered = original
        else:
            tempered = _softmax(scaled)
            filtered = np.asarray(filter_logits(scaled[None].astype(np.float32), int(top_k), float(top_p)))[0]
            kept = filtered > -1e8
        text = model.generate(prime or "", int(length), temperature, int(top_k), float(top_p), int(seed))
        final = np.where(kept, tempered, 0.0)
        final = final / final.sum()
        entropy = float(-(final[final > 0] * np.log(final[final > 0])).sum())
        order = np.argsort(-final)[:10]
        table = [[figures.show_char(model.chars[index]), round(float(original[index]), 4),
                  round(float(tempered[index]), 4), round(float(final[index]), 4)] for index in order if final[index] > 0]
        note = (f"{ref.note()}  \nKept {int(kept.sum())} of {len(kept)} characters ({tempered[kept].sum():.0%} of the "
                f"tempered probability); entropy of what is sampled {entropy:.2f} nats.")
        return note, figures.cut_distribution(model.chars, original, tempered, kept), (prime or "") + text, table

    # -- gradients (no app needed) ------------------------------------------------------

    def gradients(self, cells, length: int = 100, recurrent_scale: float = 1.0, activation: str = "tanh",
                  gate_init: str = "default", clipnorm: float = 1.0, units: int = 64, task: str = "adding"):
        from rnnkit.lab import gradients

        cells = _cells(cells)
        results = gradients.compare_cells(cells, int(length), task, int(units), activation, float(recurrent_scale),
                                          gate_init, float(clipnorm))
        table = [[figures.NAMES[r.cell], float(f"{r.norms[0]:.3e}"), float(f"{r.norms[-1]:.3e}"),
                  round(r.orders_lost, 2), float(f"{r.parameter_norm:.3e}"), float(f"{r.clip_factor:.3e}")]
                 for r in results]
        title = (f"length {int(length)}, {int(units)} units, {activation}, recurrent weights x{float(recurrent_scale):g}, "
                 f"gates {gate_init}")
        return (_gradient_note(results, int(length), gate_init), figures.gradient_norms(results, float(clipnorm), title),
                table)

    def race(self, cells, task: str = "adding", length: int = 100, seconds: float = 60.0,
             learning_rate: float = 1e-2, clipnorm: float = 1.0, units: int = 64):
        """Train each cell in turn; yields (note, curves, table, gradients-after-training figure) as it goes."""
        from rnnkit.lab import gradients

        cells = _cells(cells)
        if not 1 <= float(seconds) <= 600:
            raise ValueError(f"seconds per network must be in 1..600, not {seconds}")
        baseline = gradients.baseline_loss(task)
        curves, last_draw = [], 0.0
        for curves in gradients.race(cells, task, int(length), float(seconds), units=int(units),
                                     learning_rate=float(learning_rate), clipnorm=float(clipnorm)):
            now = time.perf_counter()
            if now - last_draw > 2.0:
                last_draw = now
                yield (f"training {figures.NAMES[curves[-1].cell]}: {curves[-1].seconds[-1]:.0f} of {float(seconds):.0f} s",
                       figures.race_curves(curves, baseline, task), _race_table(curves, baseline), None)
        after = [gradients.step_gradients(curve.model, task, int(length)) for curve in curves]
        yield (_race_note(curves, baseline, task, int(length)), figures.race_curves(curves, baseline, task),
               _race_table(curves, baseline, after),
               figures.gradient_norms(after, 0.0, f"after training: gradient reaching each step (length {int(length)})"))

    # -- attention --------------------------------------------------------------------------

    def sentiment_attention(self, review: str):
        from rnnkit.lab import attention

        ref = self.store.get("sentiment")
        explained = attention.explain_review(ref, review)
        ranked = sorted(zip(explained.words, explained.weights, strict=True), key=lambda pair: -pair[1])[:8]
        return (f"{ref.note()}  \n**{explained.label}** (P(positive) = {explained.probability:.3f}), "
                f"{len(explained.words)} words", attention.words_html(explained),
                [[word, round(weight, 4)] for word, weight in ranked])

    def caption_attention(self, image_path, beam_width: int = 1):
        from rnnkit.lab import attention

        ref = self.store.get("captioning")
        note = ref.note()
        if not image_path:
            image_path, note = attention.demo_photo(), note + "  \nNo photo uploaded: a picture from the demo set."
        result = attention.caption_attention(ref, image_path, int(beam_width))
        frames = attention.attention_overlays(result)
        peaks = [[word, int(np.argmax(weights)), round(float(np.max(weights)), 4)]
                 for word, weights in zip(result.words, result.weights, strict=False)]
        return f"{note}  \n**{result.caption or '(empty caption)'}**", frames, peaks

    def speech_attention(self, wav_path):
        from rnnkit.lab import attention

        ref = self.store.get("speech")
        note = ref.note()
        if not wav_path:
            wav_path = attention.demo_wavs(1)[0]
            note += f"  \nNo WAV uploaded: `{wav_path.parent.name}/{wav_path.name}` from the demo set."
        result = attention.speech_attention(ref, wav_path)
        order = np.argsort(-result.probabilities)[:3]
        top = [[result.labels[index], round(float(result.probabilities[index]), 4)] for index in order]
        what = "attention over the RNN steps" if result.kind == "attention" else (
            "this stream model has no attention; shown: P(top word) after each step")
        title = f"{result.labels[order[0]]} ({result.probabilities[order[0]]:.2f}); {what}"
        return note, figures.speech(result.spectrogram, result.over_time, result.kind, title), top

    # -- forecast -----------------------------------------------------------------------

    def forecast(self, start: float = 0.8, lookback: int = 0):
        from rnnkit.lab import forecast

        ref = self.store.get("forecast")
        window = forecast.forecast_window(ref, float(start), int(lookback))
        return (f"{ref.note()}  \n{window.summary()}.",
                figures.forecast(window.history, window.future, window.predicted, window.low, window.high, window.title),
                window.table())


def _softmax(logits):
    shifted = np.asarray(logits, np.float64) - np.max(logits)
    weights = np.exp(shifted)
    return weights / weights.sum()


def _cells(cells) -> list[str]:
    from rnnkit.lab.gradients import CELLS

    names = {"simplernn": "simple", "simple": "simple", "lstm": "lstm", "gru": "gru"}
    if isinstance(cells, str):
        cells = [cells]
    chosen = [names.get(str(cell).lower()) for cell in (cells or [])]
    if not chosen or None in chosen:
        raise ValueError(f"choose one or more of {', '.join(CELLS)} (got {cells!r})")
    return chosen


def _gradient_note(results, length: int, gate_init: str) -> str:
    lines = [f"Gradient of the loss (read after step {length}) with respect to each step's input, at initialisation:"]
    for result in results:
        lines.append(f"- **{figures.NAMES[result.cell]}**: {result.norms[0]:.2e} at step 1, {result.norms[-1]:.2e} at "
                     f"step {length}, so {result.orders_lost:.1f} orders of magnitude lost over the sequence"
                     + ("" if result.clip_factor >= 1.0 else f"; clipping scales it by {result.clip_factor:.1e}"))
    if gate_init == "default":
        lines.append("\nWith Keras' default initialisation a gated cell's carry is a gate's value at init (LSTM "
                     "forget gate sigmoid(1) = 0.73, GRU update gate sigmoid(0) = 0.5) raised to the distance, so "
                     "it vanishes too; the orthogonal recurrent kernel keeps the SimpleRNN's at the tanh slope. "
                     "Choose gates = chrono to open the gates, or train them below: learned gates keep the path open.")
    return "\n".join(lines)


def _race_table(curves, baseline: float, after=None):
    rows = []
    for index, curve in enumerate(curves):
        row = [figures.NAMES[curve.cell], curve.steps[-1] if curve.steps else 0, round(curve.seconds[-1], 1),
               round(curve.final, 4), round(curve.final / baseline, 3)]
        row.append(float(f"{after[index].norms[0]:.3e}") if after else None)
        rows.append(row)
    return rows


def _race_note(curves, baseline: float, task: str, length: int) -> str:
    lines = [f"{task} task at length {length}; the no-memory baseline is {baseline:.3g}."]
    for curve in curves:
        verdict = "learned it" if curve.final < 0.2 * baseline else (
            "is learning" if curve.final < 0.8 * baseline else "has not beaten the baseline")
        lines.append(f"- **{figures.NAMES[curve.cell]}** {verdict}: {curve.final:.3g} ({curve.final / baseline:.0%} of "
                     f"the baseline) after {curve.steps[-1]} steps in {curve.seconds[-1]:.0f} s")
    return "\n".join(lines)


# -- the page -------------------------------------------------------------------------------

CSS = """
.unit-block {margin-bottom: 10px}
.unit-text {max-height: 260px; overflow-y: auto; border: 1px solid #ddd; padding: 6px; background: #fff}
"""


def theme():
    import gradio as gr

    # System fonts only: the default theme fetches web fonts, which an offline page cannot load.
    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "SFMono-Regular", "monospace"])


def build(lab: Lab):
    import gradio as gr

    store = lab.store
    apps = installed_apps()

    def note_for(app: str) -> str:
        if app in store.given:
            return store.given[app].note()
        return (f"No {app} model given with --model: the first use of this tab trains a tiny one on the "
                "demo data (a few seconds; cached for later starts).")

    with gr.Blocks(title="rnnkit lab", analytics_enabled=False) as page:
        gr.Markdown("# rnnkit lab\nSee inside recurrent networks: hidden state, gradients, attention, sampling.")
        with gr.Tabs():
            with gr.Tab("Hidden state", id="hidden"):
                hidden_note = gr.Markdown(note_for("textgen"))
                with gr.Row():
                    text = gr.Textbox(lab.default_passage(),
                                      lines=8, label="text (up to 4,000 characters)", scale=3)
                    with gr.Column(scale=1):
                        units_spec = gr.Textbox("", label="units to show", placeholder="e.g. h0:12, c0:40 (empty: the best ones)")
                        position = gr.Number(-1, precision=0, label="next-character distribution at position (-1: the end)")
                        per_feature = gr.Slider(1, 8, 3, step=1, label="units per feature")
                        read = gr.Button("Read the text", variant="primary")
                units_table = gr.Dataframe(headers=["feature", "unit", "r"], label="units that track a feature (Pearson r over the text)")
                heat = gr.HTML(label="activation of each chosen unit over the text")
                with gr.Row():
                    next_plot = gr.Plot(label="next character")
                    trace_plot = gr.Plot(label="chosen units over the text")
                read.click(_user_errors(lab.hidden_state), [text, units_spec, position, per_feature],
                           [hidden_note, units_table, heat, next_plot, trace_plot], api_name="hidden_state")

            with gr.Tab("Vanishing gradients", id="gradients"):
                gr.Markdown("Gradient norm of the loss with respect to every earlier step's input, for fresh networks "
                            "with the settings below; then a short training of each on a long-memory task.")
                with gr.Row():
                    cells = gr.CheckboxGroup([("SimpleRNN", "simple"), ("LSTM", "lstm"), ("GRU", "gru")],
                                             value=["simple", "lstm", "gru"], label="cells")
                    length = gr.Slider(10, 400, 100, step=10, label="sequence length")
                    units = gr.Slider(8, 256, 64, step=8, label="units")
                with gr.Row():
                    scale = gr.Slider(0.25, 3.0, 1.0, step=0.05, label="recurrent weight scale (x the initialiser)")
                    activation = gr.Dropdown(["tanh", "relu", "sigmoid"], value="tanh", label="activation")
                    gate_init = gr.Radio(["default", "chrono"], value="default", label="gate biases",
                                         info="chrono: gates open for ~length steps (Tallec & Ollivier 2018)")
                    clipnorm = gr.Number(1.0, label="clip the gradient at norm (0: off)")
                    task = gr.Radio(["adding", "copy"], value="adding", label="task")
                measure = gr.Button("Measure the gradients", variant="primary")
                gradient_note = gr.Markdown()
                gradient_plot = gr.Plot(label="gradient per step")
                gradient_table = gr.Dataframe(headers=["cell", "|g| step 1", "|g| last step", "log10 last/first",
                                                       "|dL/dweights|", "clip factor"], label="numbers")
                measure.click(_user_errors(lab.gradients), [cells, length, scale, activation, gate_init, clipnorm, units, task],
                              [gradient_note, gradient_plot, gradient_table], api_name="gradients")
                with gr.Row():
                    seconds = gr.Slider(2, 120, 60, step=1, label="seconds of training per network")
                    learning_rate = gr.Number(0.01, label="learning rate (Adam)")
                    train = gr.Button("Train each on the task", variant="primary")
                race_note = gr.Markdown()
                with gr.Row():
                    race_plot = gr.Plot(label="validation loss")
                    after_plot = gr.Plot(label="gradients after training")
                race_table = gr.Dataframe(headers=["cell", "steps", "seconds", "val loss", "vs baseline",
                                                   "|g| step 1 after training"], label="training")
                train.click(_user_errors(lab.race), [cells, task, length, seconds, learning_rate, clipnorm, units],
                            [race_note, race_plot, race_table, after_plot], api_name="race")

            with gr.Tab("Attention", id="attention"):
                with gr.Tabs():
                    with gr.Tab("Sentiment: words", id="attention-sentiment"):
                        sentiment_note = gr.Markdown(note_for("sentiment"))
                        review = gr.Textbox("The acting was wonderful and the story moving, though the ending felt "
                                            "rushed and a little dull.", lines=3, label="review")
                        explain = gr.Button("Where does it look?", variant="primary")
                        words = gr.HTML()
                        top_words = gr.Dataframe(headers=["word", "weight"], label="largest weights")
                        explain.click(_user_errors(lab.sentiment_attention), [review], [sentiment_note, words, top_words],
                                      api_name="sentiment_attention")
                    with gr.Tab("Captioning: photo", id="attention-captioning"):
                        caption_note = gr.Markdown(note_for("captioning"))
                        with gr.Row():
                            photo = gr.Image(type="filepath", label="photo (empty: a demo picture)", sources=["upload"])
                            beam = gr.Slider(1, 5, 1, step=1, label="beam width")
                        caption = gr.Button("Caption it", variant="primary")
                        steps = gr.Gallery(label="attention at each word", columns=5, height="auto")
                        peaks = gr.Dataframe(headers=["word", "grid cell", "peak weight"], label="where each word looks")
                        caption.click(_user_errors(lab.caption_attention), [photo, beam], [caption_note, steps, peaks],
                                      api_name="caption_attention")
                    with gr.Tab("Speech: spectrogram", id="attention-speech"):
                        speech_note = gr.Markdown(note_for("speech"))
                        wav = gr.Audio(type="filepath", sources=["upload"], label="WAV file (empty: a demo clip)")
                        listen = gr.Button("Classify and show attention", variant="primary")
                        speech_plot = gr.Plot(label="spectrogram and attention")
                        speech_top = gr.Dataframe(headers=["word", "probability"], label="top words")
                        listen.click(_user_errors(lab.speech_attention), [wav], [speech_note, speech_plot, speech_top],
                                     api_name="speech_attention")

            with gr.Tab("Generation knobs", id="knobs"):
                knobs_note = gr.Markdown(note_for("textgen"))
                with gr.Row():
                    prime = gr.Textbox("ROMEO:\nBut soft, what light", lines=2, label="prime", scale=2)
                    seed = gr.Number(7, precision=0, label="seed")
                    gen_length = gr.Slider(20, 600, 200, step=10, label="characters")
                with gr.Row():
                    temperature = gr.Slider(0.0, 2.0, 0.8, step=0.05, label="temperature (0: greedy)")
                    top_k = gr.Slider(0, 100, 0, step=1, label="top-k (0: off)")
                    top_p = gr.Slider(0.05, 1.0, 1.0, step=0.01, label="top-p")
                cut_plot = gr.Plot(label="next-character distribution, cut")
                with gr.Row():
                    sampled = gr.Textbox(lines=8, label="sampled text", scale=2)
                    kept_table = gr.Dataframe(headers=["char", "p model", "p tempered", "p sampled"], label="most likely")
                knob_inputs = [prime, temperature, top_k, top_p, gen_length, seed]
                knob_outputs = [knobs_note, cut_plot, sampled, kept_table]
                sample = gr.Button("Sample", variant="primary")
                sample.click(_user_errors(lab.generation), knob_inputs, knob_outputs, api_name="generation")
                for knob in (temperature, top_k, top_p):
                    knob.release(_user_errors(lab.generation), knob_inputs, knob_outputs, api_name=False,
                                 trigger_mode="always_last")

            if "forecast" in apps:
                with gr.Tab("Forecast", id="forecast"):
                    forecast_note = gr.Markdown(note_for("forecast"))
                    with gr.Row():
                        start = gr.Slider(0.0, 1.0, 0.8, step=0.01, label="where the window starts (fraction of the series)")
                        lookback = gr.Slider(0, 720, 0, step=4, label="lookback (0: all the model reads; "
                                             "fewer hides the older steps)")
                    forecast_plot = gr.Plot(label="forecast")
                    forecast_table = gr.Dataframe(headers=["step", "forecast", "low", "high", "actual"],
                                                  label="first steps")
                    forecast_inputs, forecast_outputs = [start, lookback], [forecast_note, forecast_plot, forecast_table]
                    gr.Button("Forecast", variant="primary").click(
                        _user_errors(lab.forecast), forecast_inputs, forecast_outputs, api_name="forecast")
                    for knob in (start, lookback):
                        knob.release(_user_errors(lab.forecast), forecast_inputs, forecast_outputs, api_name=False,
                                     trigger_mode="always_last")
    return page


def launch(store: ModelStore, host: str = "127.0.0.1", port: int = 7860, quiet: bool = False):
    page = build(Lab(store))
    page.queue(default_concurrency_limit=2)
    page.launch(server_name=host, server_port=port, theme=theme(), css=CSS, ssr_mode=False, quiet=quiet,
                footer_links=["api"], show_error=True)
    return page
