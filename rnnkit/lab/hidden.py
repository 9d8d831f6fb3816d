"""Hidden units that track something in the text (after Karpathy, Johnson & Fei-Fei 2015).

Each character position gets simple features of the text read so far (inside quotes, inside
brackets, in the first half of its line, position in the line, inside a word); each hidden unit's
activation over the positions is correlated (Pearson r) with each feature, and the units with the
largest |r| are the candidates for "the quote unit", "the line-position unit", and so on.

    python -m rnnkit.lab.hidden --model runs/shakespeare --data ../shared/data/tinyshakespeare/input.txt
"""

from __future__ import annotations

import argparse
import html
import sys
from dataclasses import dataclass

import numpy as np

FEATURES = {
    "first_half_of_line": "the character is in the first half of its line",
    "position_in_line": "characters since the last newline",
    "inside_quotes": 'between an opening and a closing double quote (")',
    "inside_brackets": "inside ( ), [ ] or { }",
    "inside_word": "the character is a letter",
}
OPENING, CLOSING = "([{", ")]}"


def text_features(text: str) -> dict[str, np.ndarray]:
    """Feature value per character position (float [n] each); a newline belongs to the line it ends."""
    n = len(text)
    column = np.zeros(n, np.float64)
    line_length = np.zeros(n, np.float64)
    quotes = np.zeros(n, np.float64)
    brackets = np.zeros(n, np.float64)
    words = np.zeros(n, np.float64)
    start, inside, depth = 0, False, 0
    for position, char in enumerate(text):
        column[position] = position - start
        if char == '"':
            inside = not inside
            quotes[position] = 1.0  # both quote marks count as inside
        else:
            quotes[position] = float(inside)
        if char in OPENING:
            depth += 1
        brackets[position] = float(depth > 0)
        if char in CLOSING:
            depth = max(0, depth - 1)
        words[position] = float(char.isalpha())
        if char == "\n":
            line_length[start: position + 1] = position - start
            start = position + 1
    line_length[start:] = n - start
    return {
        "first_half_of_line": (column < line_length / 2.0).astype(np.float64),
        "position_in_line": column,
        "inside_quotes": quotes,
        "inside_brackets": brackets,
        "inside_word": words,
    }


def correlations(activations: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """Pearson r of every unit (activations [n, units]) with the feature [n]; 0 where either is constant."""
    activations = np.asarray(activations, np.float64)
    feature = np.asarray(feature, np.float64)
    a = activations - activations.mean(axis=0)
    f = feature - feature.mean()
    denominator = np.sqrt((a ** 2).sum(axis=0) * (f ** 2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * f[:, None]).sum(axis=0) / denominator
    return np.nan_to_num(r, nan=0.0)


@dataclass
class UnitMatch:
    feature: str
    state: str  # "h0", "c1", ...
    unit: int
    r: float

    @property
    def label(self) -> str:
        return f"{self.state}[{self.unit}]"


def top_units(states: dict[str, np.ndarray], features: dict[str, np.ndarray], per_feature: int = 3) -> list[UnitMatch]:
    """For each feature that varies in the text, the `per_feature` units with the largest |r| over all states."""
    matches = []
    for feature_name, values in features.items():
        if np.ptp(values) == 0:
            continue
        found = []
        for state_name, activations in states.items():
            r = correlations(activations, values)
            for unit in np.argsort(-np.abs(r))[:per_feature]:
                found.append(UnitMatch(feature_name, state_name, int(unit), float(r[unit])))
        matches += sorted(found, key=lambda match: -abs(match.r))[:per_feature]
    return matches


def _colour(value: float) -> str:
    """-1 blue, 0 white, +1 red (the paper's palette)."""
    value = float(np.clip(value, -1.0, 1.0))
    if value >= 0:
        return f"rgb(255,{int(255 * (1 - value))},{int(255 * (1 - value))})"
    return f"rgb({int(255 * (1 + value))},{int(255 * (1 + value))},255)"


def heat_html(text: str, rows: list[tuple[str, np.ndarray]]) -> str:
    """One block of the text per unit, every character on a background coloured by the unit's activation.

    rows: (label, activations [n]) each; activations are shown as tanh(value / max|value|*2) for cell
    states, which are unbounded, and as they are for values already in [-1, 1]."""
    blocks = []
    for label, values in rows:
        values = np.asarray(values, np.float64)
        peak = float(np.max(np.abs(values))) if values.size else 1.0
        shown = values if peak <= 1.0 else np.tanh(2.0 * values / peak)
        spans = []
        for char, value in zip(text, shown, strict=False):
            glyph = "&#8629;<br>" if char == "\n" else html.escape(char).replace(" ", "&nbsp;")
            spans.append(f'<span style="background:{_colour(value)}" title="{value:+.2f}">{glyph}</span>')
        blocks.append(f'<div class="unit-block"><div class="unit-label"><b>{html.escape(label)}</b></div>'
                      f'<div class="unit-text" style="font-family:monospace;line-height:1.5;color:#111">{"".join(spans)}</div></div>')
    return "\n".join(blocks)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rnnkit.lab.hidden", description=(
        "Correlate every hidden unit of a textgen model with simple features of a text and print the top units."))
    parser.add_argument("--model", required=True, help="a textgen run folder or export folder")
    parser.add_argument("--data", required=True, help="a UTF-8 text file")
    parser.add_argument("--start", type=float, default=0.9, help="where in the file to begin, as a fraction (default: 0.9, the validation part)")
    parser.add_argument("--chars", type=int, default=4000, help="characters to read (default: 4000)")
    parser.add_argument("--top", type=int, default=3, help="units per feature (default: 3)")
    args = parser.parse_args(argv)

    from pathlib import Path

    from rnnkit.lab import textgen
    from rnnkit.lab.models import classify

    path = Path(args.data)
    if not path.is_file():
        raise SystemExit(f"--data {path}: no such file")
    text = path.read_text(encoding="utf-8")
    begin = int(len(text) * args.start)
    text = text[begin: begin + args.chars]
    model = textgen.load_text_model(classify(args.model))
    reading = model.read(text, limit=args.chars)
    features = text_features(reading.text)
    print(f"{args.model}: {model.description}; {len(reading.text):,} characters of {path} from {args.start:.0%}")
    print("null: the largest |r| of any unit with the feature shifted by half the text (same statistics, wrong place)")
    print(f"{'feature':<20} {'unit':<10} {'r':>7}  {'null':>6}  share of positions with the feature")
    nulls = {}
    for match in top_units(reading.states, features, args.top):
        values = features[match.feature]
        if match.feature not in nulls:
            shifted = np.roll(values, len(values) // 2)
            nulls[match.feature] = max(float(np.max(np.abs(correlations(activations, shifted))))
                                       for activations in reading.states.values())
        share = f"{values.mean():.2f}" if set(np.unique(values)) <= {0.0, 1.0} else "-"
        print(f"{match.feature:<20} {match.label:<10} {match.r:+7.3f}  {nulls[match.feature]:6.3f}  {share}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
