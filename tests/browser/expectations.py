"""What each episode's widgets should do when a learner changes a control, as the notebook says.

The browser test changes one control of every widget and then checks two things: the
figure was redrawn, and the printed summary moved the way the episode's text says it
does (a longer sequence leaves the LSTM's first token less influence; a higher
temperature flattens the weights; ...). Each widget of a course notebook needs an entry
here, in the order the widgets appear; a notebook checked from elsewhere
(BROWSER_NOTEBOOKS) without entries only gets the generic check: the first slider or
dropdown moves and the figure and summary change.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Values = dict[str, Any]


@dataclass(frozen=True)
class Expect:
    """One widget: which control to change, what to read from its summary, what must hold.

    ``control`` is the control's description as the learner reads it beside the slider or
    dropdown. A slider's handle gets one ``key`` press (ArrowRight: one step up, or down
    when it is at its top end; End or Home: to its maximum or minimum); a dropdown gets
    ``option``. ``pattern`` is a regular expression with
    named groups searched in the printed text; numeric groups become floats. ``holds`` gets
    the values read before and after the change; ``says`` is what the notebook says
    happens, for the failure message.
    """

    control: str
    pattern: str
    holds: Callable[[Values, Values], bool]
    says: str
    key: str = "ArrowRight"
    option: str | None = None

    def read(self, text: str) -> Values | None:
        """The named groups of ``pattern`` in ``text`` (numbers as floats), or None if absent.

        Line breaks count as spaces: the summaries are wrapped to fit the output area.
        """
        found = re.search(self.pattern, " ".join(text.split()))
        if found is None:
            return None
        values: Values = {}
        for name, raw in found.groupdict().items():
            try:
                values[name] = float(raw)
            except (TypeError, ValueError):
                values[name] = raw
        return values

    def problem(self, before: str, after: str) -> str | None:
        """Why the summaries before and after the change fail this expectation; None if they pass.

        A summary that does not match ``pattern`` is a problem too (the wording changed).
        """
        read_before, read_after = self.read(before), self.read(after)
        for when, text, values in (("before", before, read_before), ("after", after, read_after)):
            if values is None:
                return (
                    f"its summary {when} the change does not match {self.pattern!r} (update "
                    f"tests/browser/expectations.py if the notebook's wording changed): {text!r}"
                )
        if not self.holds(read_before, read_after):
            return (
                f"the notebook says {self.says}; but the summary went from {before!r} to "
                f"{after!r} (read {read_before} -> {read_after})"
            )
        return None


NUMBER = r"[-+]?[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?"

EXPECTATIONS: dict[str, list[Expect]] = {
    "00_pytorch_primer": [
        Expect(
            control="temperature",
            key="End",
            pattern=r"temperature (?P<temperature>[0-9.]+): '(?P<word>[^']+)' puts .* the row's "
            r"entropy is (?P<entropy>[0-9.]+) nats",
            holds=lambda b, a: (
                a["temperature"] > b["temperature"]
                and a["word"] == b["word"]
                and a["entropy"] > b["entropy"]
            ),
            says="a higher temperature flattens the picked word's row: its entropy grows",
        ),
    ],
    "01_rnn_vs_transformer": [
        Expect(
            control="length T",
            pattern=rf"(?P<model>\w+), T=(?P<T>\d+): the first token moves the last output "
            rf"(?P<ratio>{NUMBER}) times",
            holds=lambda b, a: a["model"] == "LSTM" and a["T"] > b["T"] and a["ratio"] < b["ratio"],
            says="a longer sequence leaves the (untrained) LSTM's first token even less "
            "influence on the last output",
        ),
        Expect(
            control="query",
            pattern=r"query (?P<query>\d+) '.*' puts (?P<weight>[0-9.]+) on key (?P<key>\d+)",
            holds=lambda b, a: a["query"] == b["query"] + 1 and a["key"] <= a["query"],
            says="the query moves one character on, and (causal mask) its strongest key is "
            "never later than the query",
        ),
    ],
    "02_attention_by_hand": [
        Expect(
            control="temperature",
            key="End",
            pattern=r"temperature (?P<temperature>[0-9.]+)\): largest weight (?P<weight>[0-9.]+)"
            r" on '(?P<word>\w+)'",
            holds=lambda b, a: (
                a["temperature"] > b["temperature"]
                and a["weight"] < b["weight"]
                and a["word"] == b["word"]
            ),
            says="a higher temperature flattens the weights: the largest weight shrinks, "
            "on the same word",
        ),
    ],
    "03_multi_head_attention": [
        Expect(
            control="mask",
            option="none",
            pattern=r"head (?P<head>\d+), (?P<mask>[a-z +]+): query .*; (?P<masked>\d+) of \d+ keys"
            r" masked",
            holds=lambda b, a: (
                a["mask"] == "none"
                and a["head"] == b["head"]
                and b["masked"] > 0
                and a["masked"] == 0
            ),
            says="with no mask the same head may read every key: none is masked any more",
        ),
    ],
    "04_positional_encoding": [
        Expect(
            control="position",
            pattern=rf"value (?P<value>{NUMBER}) .*similarity (?P<near>[0-9.]+) to a neighbour, "
            r"(?P<far>[0-9.]+) at distance 10",
            holds=lambda b, a: (
                a["value"] != b["value"] and a["near"] == b["near"] and a["far"] == b["far"]
            ),
            says="the encoding's value changes with the position, but its similarity to a "
            "position a fixed distance away does not: it depends only on the distance",
        ),
        Expect(
            control="string",
            pattern=r"'(?P<letters>[a-z]+)' -> '(?P<answer>[a-z]+)' \((?P<right>\d+)/(?P<n>\d+)"
            r" right\)",
            holds=lambda b, a: a["letters"] != b["letters"] and a["answer"] == a["letters"][::-1],
            says="another string, and the model with learned positions still reverses it exactly",
        ),
    ],
    "05_transformer_block": [
        Expect(
            control="layer",
            pattern=r"layer (?P<layer>\d+), .*; stream size (?P<size>[0-9.]+), ",
            holds=lambda b, a: a["layer"] == b["layer"] + 1 and a["size"] > b["size"],
            says="with residuals the stream grows steadily, because every block adds to it",
        ),
    ],
    "06_gpt_one_piece": [
        Expect(
            control="temperature",
            key="End",
            pattern=r"temperature (?P<temperature>[0-9.]+), .*entropy (?P<entropy>[0-9.]+) nats",
            holds=lambda b, a: a["temperature"] > b["temperature"] and a["entropy"] > b["entropy"],
            says="a higher temperature flattens the next-character distribution: its entropy grows",
        ),
        Expect(
            control="layer",
            key="Home",
            pattern=r"layer (?P<layer>\d+), head (?P<head>\d+): .*looks back (?P<back>[0-9.]+) "
            r"characters",
            holds=lambda b, a: (b["layer"], b["head"], a["layer"], a["head"]) == (2, 0, 0, 0)
            and a["back"] < b["back"] - 2,
            says="the explorer starts at layer 2, head 0, the word-boundary head; layer 0's "
            "head 0 looks about two characters back, several characters less far",
        ),
    ],
    "07_pretrained": [
        Expect(
            control="layer",
            pattern=rf"layer (?P<layer>\d+), head (?P<head>\d+), a string of (?P<L>\d+) tokens "
            rf"repeated: induction score (?P<score>{NUMBER})",
            holds=lambda b, a: (
                (b["layer"], a["layer"], a["head"], a["L"]) == (0, 1, b["head"], b["L"])
                and b["score"] < 0.2
                and a["score"] > 0.5
            ),
            says="layer 1's heads are induction heads and layer 0's are not: from layer 0 to layer "
            "1, the same head number on the same row goes from an induction score below 0.2 to "
            "one above 0.5",
        ),
    ],
}
